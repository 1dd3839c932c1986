import Foundation
import LedgerClient
import LedgerCore
import LedgerStore
import Testing

/// Finding 6 of issue 8: a damaged `data.mdb` is reported, not crashed on. Each test damages a copy
/// of a real store the way the red team did (truncated, a page overwritten with random bytes, empty,
/// foreign) and checks that stockd and stockctl say so in one line and exit 3, never die of a
/// signal, and that the recovery steps of docs/operating.md work on the damaged copy.
@Suite("finding 6: a damaged data.mdb is reported, not crashed on", .serialized)
struct DamageTests {
    /// Enough events, with notes, to fill a log of a few hundred pages (each holds about 30).
    static let eventCount = 3_000
    /// The exit code of a refused start and of stockctl on damage (docs/operating.md, "Exit codes").
    static let damagedExitCode: Int32 = 3

    /// A stopped daemon whose store holds `eventCount` RECEIVE events.
    static func filledStore() throws -> StockdProcess {
        let daemon = try StockdProcess().start()
        let client = try daemon.client()
        let note = String(repeating: "n", count: 80)
        for batch in 0..<(eventCount / 1_000) {
            #expect(try client.request("BEGIN").status == "OK")
            for index in 0..<1_000 {
                let reply = try client.request("RECEIVE sku=D\(index % 10) wh=W qty=1 note=\(note)-\(batch)-\(index)")
                #expect(reply.status.hasPrefix("OK queued="), "\(reply)")
            }
            #expect(try client.request("COMMIT").status == "OK count=1000")
        }
        #expect(daemon.stop() == 0)
        return daemon
    }

    /// The data file of a daemon's folder.
    static func dataFile(_ daemon: StockdProcess) -> String { daemon.dataDirectory + "/data.mdb" }

    /// Starts stockd and waits (at most 20 s) for it to exit on its own; nil when it is still
    /// running, serving a store it should have refused (then it is killed).
    static func exitStatusOfStart(_ daemon: StockdProcess) throws -> Int32? {
        let process = try daemon.launch()
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        guard !process.isRunning else { daemon.stop(signal: SIGKILL); return nil }
        // A death by signal (SIGBUS, SIGILL) is not an exit status.
        return process.terminationReason == .exit ? process.terminationStatus : -process.terminationStatus
    }

    static func log(_ daemon: StockdProcess) -> String { (try? String(contentsOfFile: daemon.logPath, encoding: .utf8)) ?? "" }

    /// The page of `data.mdb` that holds event `seq`, found through LMDB: the page number its leaf
    /// page records in its own header (the first 8 bytes of the page its bytes lie in).
    static func page(holding seq: UInt64, in directory: String) throws -> (page: Int, pageBytes: Int) {
        let store = try LedgerStore(directory: directory, create: false, readOnly: true)
        defer { store.close() }
        let pageBytes = store.environment.pageSizeBytes
        let page = try store.read { reader in
            var page = -1
            try reader.forEachRawEvent(from: seq) { _, bytes in
                let address = UInt(bitPattern: bytes.baseAddress)
                let start = UnsafeRawPointer(bitPattern: address - address % UInt(pageBytes))!
                page = Int(start.loadUnaligned(as: UInt64.self))
                return false
            }
            return page
        }
        return (page, pageBytes)
    }

    /// Overwrites page `page` of `file` with bytes from a seeded generator.
    static func overwrite(page: Int, pageBytes: Int, of file: String, seed: UInt64) throws {
        var generator = SplitMix64(seed: seed)
        let bytes = (0..<pageBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        try handle.seek(toOffset: UInt64(page * pageBytes))
        try handle.write(contentsOf: bytes)
        try handle.close()
    }

    /// A stopped daemon whose store has the log page holding seq 1,500 overwritten with random bytes.
    static func storeWithDamagedLogPage() throws -> (daemon: StockdProcess, page: Int) {
        let daemon = try filledStore()
        let (page, pageBytes) = try DamageTests.page(holding: 1_500, in: daemon.dataDirectory)
        #expect(page > 1, "the log's pages come after the two meta pages")
        try overwrite(page: page, pageBytes: pageBytes, of: dataFile(daemon), seed: UInt64(page))
        return (daemon, page)
    }

    /// The seqs named by `store damaged at seq N` and `seqs A...B` in stockctl's output.
    static func namedSeqs(_ output: String) -> [Int] {
        var seqs: [Int] = []
        for pattern in ["at seq ([0-9]+)", "seqs ([0-9]+)\\.\\.\\.([0-9]+)"] {
            let expression = try! NSRegularExpression(pattern: pattern)
            for match in expression.matches(in: output, range: NSRange(output.startIndex..., in: output)) {
                for group in 1..<match.numberOfRanges {
                    if let range = Range(match.range(at: group), in: output), let seq = Int(output[range]) { seqs.append(seq) }
                }
            }
        }
        return seqs
    }

    @Test("finding 6: data.mdb truncated to half: stockd refuses to start and verify reports it, exit 3, no SIGBUS")
    func finding6TruncatedDataFileIsRefused() throws {
        let daemon = try DamageTests.filledStore()
        defer { daemon.removeFiles() }
        let stat = try run("stockctl", ["stat", "--data", daemon.dataDirectory])
        let usedLine = stat.output.split(separator: "\n").first { $0.hasPrefix("used_bytes ") }
        let usedBytes = Int(usedLine?.split(separator: " ").last ?? "") ?? 0
        #expect(usedBytes > 100 * 4_096, "\(stat.output)")
        #expect(truncate(DamageTests.dataFile(daemon), off_t(usedBytes / 2)) == 0)

        let status = try DamageTests.exitStatusOfStart(daemon)
        #expect(status == DamageTests.damagedExitCode, "\(DamageTests.log(daemon))")
        let log = DamageTests.log(daemon)
        #expect(log.contains("store damaged: \(DamageTests.dataFile(daemon)): the file is \(usedBytes / 2) bytes"), "\(log)")
        #expect(log.contains("it was truncated"))

        let verify = try run("stockctl", ["verify", "--data", daemon.dataDirectory])
        #expect(verify.status == DamageTests.damagedExitCode, "\(verify.output)")
        #expect(verify.output.contains("it was truncated"), "\(verify.output)")
    }

    @Test("finding 6: a 0-byte data.mdb is refused, not started as an empty ledger, and stays as it was")
    func finding6EmptyDataFileIsRefused() throws {
        let daemon = try StockdProcess()
        defer { daemon.removeFiles() }
        try FileManager.default.createDirectory(atPath: daemon.dataDirectory, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: DamageTests.dataFile(daemon), contents: Data()))

        let status = try DamageTests.exitStatusOfStart(daemon)
        #expect(status == DamageTests.damagedExitCode, "\(DamageTests.log(daemon))")
        #expect(DamageTests.log(daemon).contains("store damaged: \(DamageTests.dataFile(daemon)): the file is empty (0 bytes)"))
        let size = try FileManager.default.attributesOfItem(atPath: DamageTests.dataFile(daemon))[.size] as? Int
        #expect(size == 0, "the refused file is left untouched")

        let verify = try run("stockctl", ["verify", "--data", daemon.dataDirectory])
        #expect(verify.status == DamageTests.damagedExitCode && verify.output.contains("the file is empty"), "\(verify.output)")
    }

    @Test("finding 6: a data.mdb that is not an LMDB file is refused as foreign")
    func finding6ForeignDataFileIsRefused() throws {
        let daemon = try StockdProcess()
        defer { daemon.removeFiles() }
        try FileManager.default.createDirectory(atPath: daemon.dataDirectory, withIntermediateDirectories: true)
        let text = String(repeating: "this is not a stock ledger\n", count: 4_096)
        try text.write(toFile: DamageTests.dataFile(daemon), atomically: false, encoding: .utf8)

        let status = try DamageTests.exitStatusOfStart(daemon)
        #expect(status == DamageTests.damagedExitCode, "\(DamageTests.log(daemon))")
        #expect(DamageTests.log(daemon).contains("store damaged: \(DamageTests.dataFile(daemon)): not an LMDB file"))

        let verify = try run("stockctl", ["verify", "--data", daemon.dataDirectory])
        #expect(verify.status == DamageTests.damagedExitCode && verify.output.contains("not an LMDB file"), "\(verify.output)")
    }

    @Test("finding 6: a log page overwritten with random bytes: reads that meet it answer ERR UNAVAILABLE store damaged, logged once; stockd keeps serving; verify reports the seqs")
    func finding6DamagedLogPageAnswersStoreDamaged() throws {
        let (daemon, page) = try DamageTests.storeWithDamagedLogPage()
        defer { daemon.removeFiles() }
        // The damage is inside the log, not at its ends: the start's checks pass and stockd serves.
        try daemon.start()
        let client = try daemon.client()
        let events = try client.request("EVENTS from=1 limit=\(DamageTests.eventCount)")
        #expect(events.status.hasPrefix("ERR UNAVAILABLE store damaged at seq "), "\(events.status)")
        let damagedSeq = Int(events.status.split(separator: " ").last ?? "") ?? 0
        #expect((1_400...1_500).contains(damagedSeq), "the page holding seq 1500 (page \(page)) starts at most a page before it")
        #expect(try client.request("PING") == ["OK pong"], "the daemon still answers after meeting damage")
        #expect(try client.request("EVENTS from=1 limit=\(DamageTests.eventCount)").status == events.status)
        // The part of the log before the damage still reads, and so do the present and writes.
        #expect(try client.request("EVENTS from=1 limit=10").status == "OK rows=10 seq=\(DamageTests.eventCount)")
        #expect(try client.request("STOCK sku=D0 wh=W").first.flatMap { number("on_hand", $0) } == Int64(DamageTests.eventCount / 10))
        // Every sku has events on the damaged page: HISTORY reads them through the sku index.
        let history = try client.request("HISTORY sku=D0 limit=\(DamageTests.eventCount)")
        #expect(history.status.hasPrefix("ERR UNAVAILABLE store damaged at seq "), "\(history.status)")
        #expect(try client.request("PING") == ["OK pong"])
        #expect(daemon.stop() == 0, "a clean stop after serving damaged reads")
        let logged = DamageTests.log(daemon).split(separator: "\n").filter { $0.contains("store damaged at seq") }
        #expect(logged.count == 1, "logged once, not per request: \(logged)")
        #expect(logged.first?.contains(DamageTests.dataFile(daemon)) == true)

        let verify = try run("stockctl", ["verify", "--data", daemon.dataDirectory])
        #expect(verify.status == DamageTests.damagedExitCode, "\(verify.output)")
        #expect(DamageTests.namedSeqs(verify.output).contains(damagedSeq), "\(verify.output)")
        #expect(verify.output.contains(DamageTests.dataFile(daemon)))
    }

    /// Puts `value` under `key` in database `name` of a stopped daemon's store, as damage would.
    static func overwriteRecord(in directory: String, database name: String, key: [UInt8], value: [UInt8]) throws {
        let environment = try LMDBEnvironment(path: directory, mapSizeBytes: 1 << 30, databasesMax: 16, readersMax: 8, flags: [])
        defer { environment.close() }
        let txn = try LMDBTransaction(environment: environment, readOnly: false)
        try txn.put(try txn.openDatabase(name, create: false), key: key, value: value)
        try txn.commit()
    }

    @Test("finding 6: the start's fold meets a damaged record in the log after the checkpoint, or a damaged projection: stockd does not start, exit 3, naming it",
          arguments: ["log tail", "projection"])
    func finding6DamageMetByTheStartFailsTheStart(part: String) throws {
        let daemon = try StockdProcess()
        defer { daemon.removeFiles() }
        // No checkpoint while it runs: killed, its events are the tail the next start folds.
        daemon.extraArguments = ["--checkpoint-interval-ms", "3600000", "--checkpoint-events", "1000000"]
        try daemon.start()
        for index in 0..<10 {
            #expect(try daemon.request("RECEIVE sku=T wh=W\(index % 2) qty=5").status.hasPrefix("OK seq=\(index + 1) "))
        }
        if part == "log tail" {
            daemon.stop(signal: SIGKILL)
            try DamageTests.overwriteRecord(in: daemon.dataDirectory, database: "log", key: StoreKey.seq(5), value: [0x01, 0xEE])
        } else {
            #expect(daemon.stop() == 0, "a clean stop writes the checkpoint")
            try DamageTests.overwriteRecord(in: daemon.dataDirectory, database: "pairs",
                                            key: StoreKey.pair(PairKey(sku: "T", wh: "W1")), value: [0x01, 0xFF])
        }
        let status = try DamageTests.exitStatusOfStart(daemon)
        #expect(status == DamageTests.damagedExitCode, "\(DamageTests.log(daemon))")
        let expected = part == "log tail" ? "store damaged at seq 5: \(DamageTests.dataFile(daemon)): event 5 has an unknown kind"
                                          : "store damaged: \(DamageTests.dataFile(daemon)): pairs: "
        #expect(DamageTests.log(daemon).contains(expected), "\(DamageTests.log(daemon))")
    }

    @Test("finding 6: the recovery procedure on a damaged copy: verify names the seqs, export saves what is readable, import rebuilds from it, a backup restores and replays equal")
    func finding6RecoveryStepsWorkOnADamagedCopy() throws {
        let daemon = try DamageTests.filledStore()
        defer { daemon.removeFiles() }
        let work = daemon.directory
        // The backup taken before the damage, as the operator's routine makes it.
        let backup = try run("stockctl", ["backup", work + "/backup", "--data", daemon.dataDirectory])
        #expect(backup.status == 0, "\(backup.output)")
        let (page, pageBytes) = try DamageTests.page(holding: 1_500, in: daemon.dataDirectory)
        try DamageTests.overwrite(page: page, pageBytes: pageBytes, of: DamageTests.dataFile(daemon), seed: UInt64(page))

        // 1. verify names the damaged seqs.
        let verify = try run("stockctl", ["verify", "--data", daemon.dataDirectory])
        #expect(verify.status == DamageTests.damagedExitCode, "\(verify.output)")
        let named = DamageTests.namedSeqs(verify.output)
        let firstDamaged = named.min() ?? 0, lastDamaged = named.max() ?? 0
        #expect(firstDamaged > 1 && lastDamaged < DamageTests.eventCount, "\(verify.output)")

        // 2. A full export stops at the damage, exit 3, and leaves no file that looks complete.
        let full = try run("stockctl", ["export", "--data", daemon.dataDirectory, "--format", "jsonl", "--output", work + "/all.jsonl"])
        #expect(full.status == DamageTests.damagedExitCode && full.output.contains("store damaged at seq"), "\(full.output)")
        #expect(!FileManager.default.fileExists(atPath: work + "/all.jsonl"))

        // 3. Export what is readable: the prefix before the damage, and the events after it.
        let prefix = try run("stockctl", ["export", "--data", daemon.dataDirectory, "--format", "jsonl",
                                          "--to", String(firstDamaged - 1), "--output", work + "/prefix.jsonl"])
        #expect(prefix.status == 0, "\(prefix.output)")
        let after = try run("stockctl", ["export", "--data", daemon.dataDirectory, "--format", "jsonl",
                                         "--from", String(lastDamaged + 1), "--output", work + "/after.jsonl"])
        #expect(after.status == 0, "\(after.output)")
        let afterLines = try String(contentsOfFile: work + "/after.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(afterLines.count == DamageTests.eventCount - lastDamaged)

        // 4. Import the readable prefix into a new folder: a store of its own, verified, that serves.
        let rebuilt = try StockdProcess()
        defer { rebuilt.removeFiles() }
        let imported = try run("stockctl", ["import", work + "/prefix.jsonl", "--data", rebuilt.dataDirectory])
        #expect(imported.status == 0 && imported.output.contains("verify: ok: \(firstDamaged - 1) events"), "\(imported.output)")
        try rebuilt.start()
        #expect(number("seq", try rebuilt.request("INFO")[0]) == Int64(firstDamaged - 1))
        rebuilt.stop()

        // 5. Restore the backup in place of the damaged folder: it verifies, replays equal and serves.
        try FileManager.default.moveItem(atPath: daemon.dataDirectory, toPath: work + "/damaged")
        try FileManager.default.createDirectory(atPath: daemon.dataDirectory, withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: work + "/backup/data.mdb", toPath: DamageTests.dataFile(daemon))
        let restoredVerify = try run("stockctl", ["verify", "--data", daemon.dataDirectory])
        #expect(restoredVerify.status == 0 && restoredVerify.output.hasPrefix("ok: \(DamageTests.eventCount) events"), "\(restoredVerify.output)")
        let replay = try run("stockctl", ["replay", "--data", daemon.dataDirectory])
        #expect(replay.status == 0 && replay.output.contains("no difference"), "\(replay.output)")
        try daemon.start()
        #expect(try daemon.request("EVENTS from=1 limit=\(DamageTests.eventCount)").status == "OK rows=\(DamageTests.eventCount) seq=\(DamageTests.eventCount)")
    }
}

