import Foundation
import LedgerClient
import Testing

/// The operator commands of stockctl (backup, export, import, stock) against stores written by a
/// real stockd, checked with stockctl's own verify and replay and with a stockd started on the result.
@Suite("stockctl end to end", .serialized)
struct StockctlTests {
    /// Every write verb, plus values that need quoting in CSV and JSON (a comma, quotes, non-ASCII),
    /// an open reservation (expiry index) and an open transfer (inbound).
    static let script = [
        "RECEIVE sku=S1 wh=PAR qty=100 ref=ASN-1", "RECEIVE sku=S1 wh=LYS qty=20",
        "RESERVE sku=S1 wh=PAR qty=5 res=k1 ttl=1h", "RESERVE sku=S1 wh=PAR qty=5 res=k2 ttl=1h",
        "SELL res=k1 qty=2", "RELEASE res=k2", "SELL sku=S1 wh=PAR qty=3 id=o-1",
        "TRANSFER sku=S1 from=PAR to=LYS qty=10 xfer=t1", "ARRIVE xfer=t1 qty=6 lost=1",
        "TRANSFER sku=S1 from=LYS to=PAR qty=1 xfer=t2", "ARRIVE xfer=t2 qty=0 lost=1",
        "ADJUST sku=S1 wh=LYS delta=-2 reason=damaged", "COUNT sku=S1 wh=PAR qty=70",
        "RETURN sku=S1 wh=LYS qty=1", "EXPECT sku=S1 wh=PAR qty=50 eta=2026-12-24T00:00:00Z po=P1",
        "RECEIVE sku=S1 wh=PAR qty=20 po=P1", "EXPECT sku=S2 wh=PAR qty=5 eta=2026-12-25T00:00:00Z po=P2",
        "CANCEL po=P2", "POLICY sku=S1 wh=LYS safety=30 reorder=40 max=80",
        #"ADJUST sku=S1 wh=PAR delta=1 reason="broken, \"pallet\"" note="naïve ü, ok""#,
        "RECEIVE sku=S3 wh=X qty=9 ref=ASN/7#b",
        "RESERVE sku=S1 wh=PAR qty=4 res=open-1 ttl=2h ref=ORDER-9",
        "TRANSFER sku=S1 from=PAR to=LYS qty=2 xfer=open-x eta=2026-12-30T10:00:00.5Z",
        "SELL sku=S3 wh=X qty=2 id=retry-me",
        // Last, so that the daemon's own `expired` event comes after every scripted one.
        "RESERVE sku=S1 wh=LYS qty=1 res=short ttl=1s",
    ]
    /// The script's events plus the expiry the daemon writes for `short`: all fourteen kinds.
    static let eventCount = script.count + 1

    /// Runs the script against a fresh daemon and returns it.
    static func scriptedDaemon() throws -> StockdProcess {
        let daemon = try StockdProcess().start()
        let client = try daemon.client()
        for line in script {
            let reply = try client.request(line)
            #expect(reply.status.hasPrefix("OK"), "\(line) -> \(reply)")
        }
        let deadline = Date().addingTimeInterval(10)
        while number("seq", try client.request("INFO")[0]) != Int64(eventCount) && Date() < deadline { usleep(50_000) }
        #expect(try client.request("EVENTS from=\(eventCount)")[0].contains(" kind=expired "), "the reservation did not expire")
        return daemon
    }

    static func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

    @Test("backup while a writer writes: the copy verifies, replays equal, and a stockd on it answers at its last seq")
    func backupWhileWriting() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let restored = try StockdProcess()
        defer { restored.removeFiles() }
        let writer = BackgroundWriter(socketPath: daemon.socketPath, line: "RECEIVE sku=B wh=W qty=1")
        writer.start()
        let deadline = Date().addingTimeInterval(20)
        while writer.acknowledged < 200 && Date() < deadline { usleep(10_000) }
        #expect(writer.acknowledged >= 200, "the writer did not get going")

        let backup = try run("stockctl", ["backup", restored.dataDirectory, "--data", daemon.dataDirectory])
        // Some writes after the backup, so the live store is ahead of the copy.
        let afterBackup = writer.acknowledged
        while writer.acknowledged < afterBackup + 50 && Date() < deadline.addingTimeInterval(20) { usleep(10_000) }
        writer.stop()
        #expect(backup.status == 0, "\(backup.output)")
        let copiedSeq = StockctlTests.lastSeq(inBackupOutput: backup.output)
        #expect(copiedSeq >= 200, "\(backup.output)")
        #expect(backup.output.contains("backup \(restored.dataDirectory): \(copiedSeq) events, last seq \(copiedSeq), "))
        let liveSeq = number("seq", try daemon.request("INFO")[0]) ?? 0
        #expect(liveSeq > copiedSeq, "the writer went on after the backup, so the live store must be ahead")

        let verify = try run("stockctl", ["verify", "--data", restored.dataDirectory])
        #expect(verify.status == 0 && verify.output.hasPrefix("ok: \(copiedSeq) events, seq \(copiedSeq)"), "\(verify.output)")
        let replay = try run("stockctl", ["replay", "--data", restored.dataDirectory])
        #expect(replay.status == 0 && replay.output.contains("no difference"), "\(replay.output)")

        let again = try run("stockctl", ["backup", restored.dataDirectory, "--data", daemon.dataDirectory])
        #expect(again.status != 0 && again.output.contains("is not empty"), "\(again.output)")

        try restored.start()
        let stock = try restored.request("STOCK sku=B wh=W")
        #expect(stock.status == "OK rows=2 seq=\(copiedSeq)")
        // Every event is a RECEIVE of one unit, so on_hand counts the events in the copy.
        #expect(number("on_hand", stock[0]) == copiedSeq)
    }

    static func lastSeq(inBackupOutput output: String) -> Int64 {
        guard let range = output.range(of: "last seq ") else { return -1 }
        return Int64(output[range.upperBound...].prefix { $0.isNumber }) ?? -1
    }

    @Test("export then import into a new folder gives the same log, verified", arguments: ["jsonl", "csv"])
    func exportImportRoundTrip(format: String) throws {
        let daemon = try StockctlTests.scriptedDaemon()
        defer { daemon.removeFiles() }
        let target = try StockdProcess()
        defer { target.removeFiles() }
        let count = StockctlTests.eventCount
        let file = daemon.directory + "/events." + format

        let export = try run("stockctl", ["export", "--data", daemon.dataDirectory, "--format", format, "--output", file])
        #expect(export.status == 0 && export.output.contains("exported \(count) events (seq 1...\(count))"), "\(export.output)")
        let exported = StockctlTests.lines(try String(contentsOfFile: file, encoding: .utf8))
        if format == "csv" {
            #expect(exported.first == "seq,at,kind,actor,sku,wh,qty,res,xfer,from,to,po,delta,lost,eta,expires,safety,reorder,max,reason,ref,id,note,"
                    + "previous,preorder,preorder_until,preorder_eta,pad,fill,channel,priority,backorder,moves,expiries,"
                    + "until,share,buffer,low,inherit,region,alloc,lines,requested,strategy,fence,fence_back,fence_cut,bin,cards,lead")
            #expect(exported.count == count + 1)
            // The 27 promise, channel, allocation and planning columns come last, empty here.
            let promiseColumns = String(repeating: ",", count: 27)
            #expect(exported.contains { $0.hasSuffix(#","broken, ""pallet""",,,"naïve ü, ok""# + promiseColumns) })
            #expect(exported.contains { $0.hasSuffix(",ASN/7#b,," + promiseColumns) }, "absent fields are empty")
        } else {
            #expect(exported.count == count)
            #expect(exported.contains { $0.contains(#""reason":"broken, \"pallet\"","note":"naïve ü, ok""#) })
        }
        #expect(!FileManager.default.fileExists(atPath: file + ".partial"))

        let load = try run("stockctl", ["import", file, "--data", target.dataDirectory])
        #expect(load.status == 0, "\(load.output)")
        #expect(load.output.contains("imported \(count) events"), "\(load.output)")
        #expect(load.output.contains("verify: ok: \(count) events, seq \(count)"), "\(load.output)")
        let verify = try run("stockctl", ["verify", "--data", target.dataDirectory])
        #expect(verify.status == 0, "\(verify.output)")

        let original = try run("stockctl", ["events", "--data", daemon.dataDirectory, "--limit", "100000"])
        let copy = try run("stockctl", ["events", "--data", target.dataDirectory, "--limit", "100000"])
        #expect(StockctlTests.lines(original.output).count == count)
        #expect(copy.output == original.output)
        for sku in ["S1", "S2", "S3"] {
            let live = try daemon.request("STOCK sku=\(sku)")
            let offline = try run("stockctl", ["stock", "--data", target.dataDirectory, "--sku", sku])
            #expect(StockctlTests.lines(offline.output) == live, "\(sku)")
        }

        // A stockd on the imported store knows the imported idempotency keys: a retry is not applied.
        daemon.stop()
        try target.start()
        let before = try target.request("STOCK sku=S3 wh=X")
        let retry = try target.request("SELL sku=S3 wh=X qty=2 id=retry-me")
        #expect(retry.status.hasSuffix("imported=yes dup=yes"), "\(retry)")
        #expect(try target.request("STOCK sku=S3 wh=X") == before)
        #expect(try target.request("RESERVATIONS res=open-1").first?.hasPrefix("reservation res=open-1 ") == true)
    }

    @Test("export --from --to writes exactly that range")
    func exportRange() throws {
        let daemon = try StockctlTests.scriptedDaemon()
        defer { daemon.removeFiles() }
        let file = daemon.directory + "/range.jsonl"
        let export = try run("stockctl", ["export", "--data", daemon.dataDirectory, "--format", "jsonl",
                                          "--from", "5", "--to", "9", "--output", file])
        #expect(export.status == 0, "\(export.output)")
        let lines = StockctlTests.lines(try String(contentsOfFile: file, encoding: .utf8))
        #expect(lines.map { String($0.prefix(9)) } == (5...9).map { #"{"seq":\#($0),"# })
        #expect(lines == StockctlTests.lines(try run("stockctl", ["events", "--data", daemon.dataDirectory, "--json",
                                                                   "--from", "5", "--limit", "5"]).output))
    }

    /// Files that must not load, the line the refusal must name, and why.
    static let badFiles: [(name: String, content: String, expected: [String])] = [
        ("gap.jsonl", """
            {"seq":1,"at":"2026-01-01T00:00:00Z","kind":"received","actor":0,"sku":"A","wh":"W","qty":5}
            {"seq":2,"at":"2026-01-01T00:00:01Z","kind":"received","actor":0,"sku":"A","wh":"W","qty":5}

            {"seq":4,"at":"2026-01-01T00:00:02Z","kind":"received","actor":0,"sku":"A","wh":"W","qty":5}
            """, ["gap.jsonl line 4, seq 4:", "gap", "expected seq 3"]),
        ("oversell.csv", """
            seq,at,kind,actor,sku,wh,qty,res
            1,2026-01-01T00:00:00Z,received,0,A,W,5,
            2,2026-01-01T00:00:01Z,sold,0,A,W,6,
            """, ["oversell.csv line 3, seq 2:", "sold 6 of A/W but only 5 available"]),
        ("unknown-reservation.jsonl", """
            {"seq":1,"at":"2026-01-01T00:00:00Z","kind":"received","actor":0,"sku":"A","wh":"W","qty":5}
            {"seq":2,"at":"2026-01-01T00:00:01Z","kind":"released","actor":0,"sku":"A","wh":"W","qty":1,"res":"r9"}
            """, ["line 2, seq 2:", "reservation r9 does not exist"]),
        ("time-back.csv", """
            seq,at,kind,actor,sku,wh,qty
            1,2026-01-01T00:00:05Z,received,0,A,W,5
            2,2026-01-01T00:00:01Z,received,0,A,W,5
            """, ["line 3, seq 2:", "before the previous event"]),
        ("bad-field.jsonl", """
            {"seq":1,"at":"2026-01-01T00:00:00Z","kind":"received","actor":0,"sku":"A B","wh":"W","qty":5}
            """, ["bad-field.jsonl line 1: sku: only A-Z"]),
    ]

    @Test("import refuses a bad file with its line number and leaves no store", arguments: 0..<badFiles.count)
    func importRefuses(index: Int) throws {
        let (name, content, expected) = StockctlTests.badFiles[index]
        let folder = try StockdProcess()
        defer { folder.removeFiles() }
        let file = folder.directory + "/" + name
        try content.write(toFile: file, atomically: true, encoding: .utf8)
        let load = try run("stockctl", ["import", file, "--data", folder.dataDirectory])
        #expect(load.status == 1, "\(load.output)")
        for fragment in expected { #expect(load.output.contains(fragment), "\(load.output)") }
        #expect(StockctlTests.lines(load.output).count == 1, "one line: \(load.output)")
        #expect(!FileManager.default.fileExists(atPath: folder.dataDirectory + "/data.mdb"))
    }

    @Test("import refuses a folder that already holds a store")
    func importRefusesExistingStore() throws {
        let daemon = try StockctlTests.scriptedDaemon()
        defer { daemon.removeFiles() }
        let file = daemon.directory + "/events.jsonl"
        #expect(try run("stockctl", ["export", "--data", daemon.dataDirectory, "--format", "jsonl", "--output", file]).status == 0)
        let eventsBefore = try run("stockctl", ["events", "--data", daemon.dataDirectory]).output
        let load = try run("stockctl", ["import", file, "--data", daemon.dataDirectory])
        #expect(load.status == 1 && load.output.contains("already holds a store"), "\(load.output)")
        #expect(try run("stockctl", ["events", "--data", daemon.dataDirectory]).output == eventsBefore)
    }

    @Test("stockctl stock equals the daemon's STOCK, now, at every seq:N and at a time")
    func stockMatchesDaemon() throws {
        let daemon = try StockctlTests.scriptedDaemon()
        defer { daemon.removeFiles() }
        let data = daemon.dataDirectory
        func offline(_ arguments: [String]) throws -> [String] {
            let result = try run("stockctl", ["stock", "--data", data] + arguments)
            #expect(result.status == 0, "\(result.output)")
            return StockctlTests.lines(result.output)
        }
        #expect(try offline(["--sku", "S1"]) == daemon.request("STOCK sku=S1"))
        #expect(try offline(["--sku", "S1", "--wh", "LYS"]) == daemon.request("STOCK sku=S1 wh=LYS"))
        for seq in 1...StockctlTests.eventCount {
            let live = try daemon.request("STOCK sku=S1 at=seq:\(seq)")
            #expect(live.status == "OK rows=\(live.count - 1) seq=\(seq)")
            #expect(try offline(["--sku", "S1", "--at", "seq:\(seq)"]) == live, "seq:\(seq)")
        }
        let ninth = try daemon.request("EVENTS from=9 limit=1")[0]
        let time = try #require(field("at", ninth))
        #expect(try offline(["--sku", "S1", "--at", time]) == daemon.request("STOCK sku=S1 at=\(time)"))
        #expect(try offline(["--sku", "NOPE"]) == daemon.request("STOCK sku=NOPE"))
    }

    /// Every store command, with `DIR` standing for the folder under test.
    static let storeCommands: [[String]] = [
        ["backup", "DIR/copy", "--data", "DIR"], ["export", "--data", "DIR", "--format", "jsonl"],
        ["export", "--data", "DIR", "--format", "csv", "--output", "DIR/out.csv"], ["stock", "--data", "DIR", "--sku", "S1"],
        ["stat", "--data", "DIR"], ["verify", "--data", "DIR"], ["replay", "--data", "DIR"], ["events", "--data", "DIR"],
    ]

    @Test("every store command refuses a folder that is not a store, in one line",
          arguments: storeCommands.indices, ["plain folder", "garbage data.mdb"])
    func refusesNonStore(index: Int, kind: String) throws {
        let folder = try StockdProcess()
        defer { folder.removeFiles() }
        try "not a ledger".write(toFile: folder.directory + "/notes.txt", atomically: true, encoding: .utf8)
        if kind == "garbage data.mdb" {
            try Data(repeating: 0x5A, count: 64 * 1024).write(to: URL(fileURLWithPath: folder.directory + "/data.mdb"))
        }
        let arguments = StockctlTests.storeCommands[index].map { $0.replacingOccurrences(of: "DIR", with: folder.directory) }
        let result = try run("stockctl", arguments)
        // A garbage data.mdb is a damaged (foreign) store: exit 3, as for any damage (finding 6).
        #expect(result.status == (kind == "plain folder" ? 1 : 3), "\(arguments): \(result.output)")
        let expected = kind == "plain folder" ? "Error: \(folder.directory) is not a stockd store"
                                              : "Error: store damaged: \(folder.directory)/data.mdb: not an LMDB file"
        let lines = StockctlTests.lines(result.output)
        #expect(lines.count == 1, "one line: \(result.output)")
        #expect(lines.first?.hasPrefix(expected) == true, "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: folder.directory + "/copy"), "backup made a folder anyway")
        #expect(!FileManager.default.fileExists(atPath: folder.directory + "/out.csv.partial"))
    }

    @Test("finding 13: a store the user may not read is refused for that reason, with the path",
          arguments: storeCommands.indices)
    func finding13PermissionDeniedSaysSo(index: Int) throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        _ = try daemon.request("RECEIVE sku=S1 wh=A qty=1")
        daemon.stop()
        chmod(daemon.directory, 0o755)
        chmod(daemon.dataDirectory, 0o700)
        let arguments = StockctlTests.storeCommands[index].map { $0.replacingOccurrences(of: "DIR", with: daemon.dataDirectory) }
        let result = try run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
                                                 StockdProcess.binDirectory + "/stockctl"] + arguments)
        #expect(result.status == 1, "\(arguments): \(result.output)")
        #expect(StockctlTests.lines(result.output) == ["Error: cannot read \(daemon.dataDirectory)/data.mdb: Permission denied"],
                "\(arguments): \(result.output)")
    }
}

/// Sends the same write over and over on its own thread until stopped, counting acknowledgements.
// Shared across threads safely: its stored state is touched only with `lock` held.
final class BackgroundWriter: @unchecked Sendable {
    private let lock = NSLock()
    private var acknowledgedCount = 0
    private var stopping = false
    private let done = DispatchSemaphore(value: 0)
    let socketPath: String
    let line: String

    init(socketPath: String, line: String) {
        self.socketPath = socketPath
        self.line = line
    }

    var acknowledged: Int { lock.lock(); defer { lock.unlock() }; return acknowledgedCount }

    func start() {
        Thread.detachNewThread { [self] in
            defer { done.signal() }
            guard let client = try? LineClient(path: socketPath) else { return }
            while true {
                lock.lock()
                let stop = stopping
                lock.unlock()
                if stop { return }
                guard let reply = try? client.request(line), reply.status.hasPrefix("OK") else { return }
                lock.lock()
                acknowledgedCount += 1
                lock.unlock()
            }
        }
    }

    func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
        done.wait()
    }
}
