import Foundation
import LedgerClient
import Testing

/// Restarts, crashes, replay, a full disk and a full map: nothing acknowledged is ever lost.
@Suite("durability end to end", .serialized)
struct DurabilityTests {
    /// A scripted run touching every write verb, used by the restart and replay tests.
    static let script = [
        "RECEIVE sku=S1 wh=PAR qty=100 ref=ASN-1", "RECEIVE sku=S1 wh=LYS qty=20",
        "RESERVE sku=S1 wh=PAR qty=5 res=k1 ttl=1h", "RESERVE sku=S1 wh=PAR qty=5 res=k2 ttl=1h",
        "SELL res=k1 qty=2", "RELEASE res=k2", "SELL sku=S1 wh=PAR qty=3 id=o-1",
        "TRANSFER sku=S1 from=PAR to=LYS qty=10 xfer=t1", "ARRIVE xfer=t1 qty=6 lost=1",
        "ADJUST sku=S1 wh=LYS delta=-2 reason=damaged", "COUNT sku=S1 wh=PAR qty=70",
        "RETURN sku=S1 wh=LYS qty=1", "EXPECT sku=S1 wh=PAR qty=50 eta=2026-12-24T00:00:00Z po=P1",
        "RECEIVE sku=S1 wh=PAR qty=20 po=P1", "EXPECT sku=S2 wh=PAR qty=5 eta=2026-12-25T00:00:00Z po=P2",
        "CANCEL po=P2", "POLICY sku=S1 wh=LYS safety=30 reorder=40 max=80",
    ]

    @Test("a restart keeps every event and every bucket")
    func restartKeepsEverything() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let c = try daemon.client()
        for line in DurabilityTests.script { #expect(try c.request(line).status.hasPrefix("OK"), "\(line)") }
        let stock = try c.request("STOCK sku=S1")
        let events = try c.request("EVENTS")
        let reservations = try c.request("RESERVATIONS")
        #expect(daemon.stop() == 0)
        try daemon.start()
        let again = try daemon.client()
        #expect(try again.request("STOCK sku=S1") == stock)
        #expect(try again.request("EVENTS") == events)
        #expect(try again.request("RESERVATIONS") == reservations)
        #expect(try again.request("SELL sku=S1 wh=PAR qty=3 id=o-1").status.hasSuffix("dup=yes"))
    }

    @Test("stockctl replay after a scripted run reports no difference")
    func replayMatches() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let c = try daemon.client()
        for line in DurabilityTests.script { _ = try c.request(line) }
        let live = try run("stockctl", ["replay", "--data", daemon.dataDirectory])
        #expect(live.status == 0, "\(live.output)")
        #expect(live.output.contains("no difference"))
        daemon.stop()
        let verify = try run("stockctl", ["verify", "--data", daemon.dataDirectory])
        #expect(verify.status == 0 && verify.output.hasPrefix("ok: 17 events"), "\(verify.output)")
        let partial = try run("stockctl", ["replay", "--data", daemon.dataDirectory, "--to", "5"])
        #expect(partial.status == 0 && partial.output.contains("to seq 5"))
        let notStore = try run("stockctl", ["stat", "--data", daemon.directory])
        #expect(notStore.status != 0 && notStore.output.contains("is not a stockd store"))
    }

    /// Rounds 1-3 checkpoint at the default pace; rounds 4-6 checkpoint after almost every group,
    /// so the kill lands in or between checkpoints as well as in group commits.
    @Test("SIGKILL during concurrent writes and checkpoints loses no acknowledged write and duplicates none",
          arguments: 1...6)
    func crashRound(round: Int) throws {
        let daemon = try StockdProcess()
        if round > 3 { daemon.extraArguments = ["--checkpoint-interval-ms", "1", "--checkpoint-events", "50"] }
        try daemon.start()
        defer { daemon.removeFiles() }
        _ = try daemon.request("RECEIVE sku=C wh=W qty=1000000")
        let acknowledged = AcknowledgedWrites()
        let writers = 8
        let group = DispatchGroup()
        let socketPath = daemon.socketPath  // a String crosses threads; the process object stays here
        for writer in 0..<writers {
            DispatchQueue.global().async(group: group) {
                guard let c = try? LineClient(path: socketPath) else { return }
                var index = 0
                while true {
                    index += 1
                    let id = "r\(round)-w\(writer)-\(index)"
                    guard let reply = try? c.request("SELL sku=C wh=W qty=1 id=\(id)"), reply.status.hasPrefix("OK") else { return }
                    acknowledged.add(id)
                }
            }
        }
        // Kill once writes are flowing (a busy CI machine may take a while to get there), at a
        // point that differs from round to round.
        let deadline = Date().addingTimeInterval(30)
        while acknowledged.count < 100 * round, Date() < deadline { usleep(10_000) }
        usleep(useconds_t(round * 50_000))
        daemon.stop(signal: SIGKILL)
        group.wait()
        #expect(acknowledged.count > 0)
        // The folder as the crash left it (a checkpoint and a tail after it) is consistent.
        let crashed = try run("stockctl", ["verify", "--data", daemon.dataDirectory])
        #expect(crashed.status == 0, "\(crashed.output)")

        try daemon.start()
        let c = try daemon.client()
        var seen: [String: Int] = [:]
        var from = 1
        while true {
            let page = try c.request("EVENTS from=\(from) limit=100000")
            for row in page.dropLast() { if let id = field("id", row) { seen[id, default: 0] += 1 } }
            if page.count - 1 < 100_000 { break }
            from += 100_000
        }
        let missing = acknowledged.all.filter { seen[$0] == nil }
        #expect(missing.isEmpty, "\(missing.count) acknowledged writes missing, e.g. \(missing.prefix(3))")
        #expect(seen.values.allSatisfy { $0 == 1 }, "an id appears twice")
        let stock = try c.request("STOCK sku=C wh=W")
        #expect(number("on_hand", stock[0]) == 1_000_000 - Int64(seen.count))
        // Retries of acknowledged writes are duplicates, whether their key was checkpointed or is
        // rebuilt from the tail.
        for id in acknowledged.all.suffix(100) {
            #expect(try c.request("SELL sku=C wh=W qty=1 id=\(id)").status.hasSuffix("dup=yes"), "\(id)")
        }
        daemon.stop()
        let verify = try run("stockctl", ["verify", "--data", daemon.dataDirectory])
        #expect(verify.status == 0, "\(verify.output)")
    }

    @Test("SIGTERM during concurrent pipelined writes: a clean exit, late writes refused, every acknowledged one kept")
    func stopUnderLoad() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        _ = try daemon.request("RECEIVE sku=Q wh=W qty=10000000")
        let acknowledged = AcknowledgedWrites()
        let group = DispatchGroup()
        let socketPath = daemon.socketPath  // a String crosses threads; the process object stays here
        for writer in 0..<16 {
            DispatchQueue.global().async(group: group) {
                guard let c = try? LineClient(path: socketPath) else { return }
                var index = 0
                while true {
                    // Pipelined bursts: replies of a burst come back together, refusals included.
                    let ids = (0..<8).map { _ -> String in index += 1; return "t-w\(writer)-\(index)" }
                    guard (try? c.sendRaw(Array(ids.map { "SELL sku=Q wh=W qty=1 id=\($0)\n" }.joined().utf8))) != nil else { return }
                    for id in ids {
                        guard let reply = try? c.readReply() else { return }
                        if reply.status.hasPrefix("OK") { acknowledged.add(id) }
                    }
                }
            }
        }
        let deadline = Date().addingTimeInterval(30)
        while acknowledged.count < 2_000, Date() < deadline { usleep(10_000) }
        #expect(daemon.stop() == 0, "stockd must exit cleanly when stopped under load")
        group.wait()
        try daemon.start()
        let c = try daemon.client()
        var seen = Set<String>()
        var from = 1
        while true {
            let page = try c.request("EVENTS from=\(from) limit=100000")
            for row in page.dropLast() { if let id = field("id", row) { seen.insert(id) } }
            if page.count - 1 < 100_000 { break }
            from += 100_000
        }
        let missing = acknowledged.all.filter { !seen.contains($0) }
        #expect(missing.isEmpty, "\(missing.count) acknowledged writes missing")
        daemon.stop()
        let verify = try run("stockctl", ["verify", "--data", daemon.dataDirectory])
        #expect(verify.status == 0, "\(verify.output)")
    }

    @Test("SIGKILL during the start-up's tail fold: the next start serves every acknowledged write once")
    func crashDuringStartup() throws {
        let daemon = try StockdProcess()
        // No checkpoint during the run: everything written is tail for the next start to fold.
        daemon.extraArguments = ["--checkpoint-interval-ms", "3600000", "--checkpoint-events", "100000000"]
        try daemon.start()
        defer { daemon.removeFiles() }
        let c = try daemon.client()
        _ = try c.request("RECEIVE sku=T wh=W qty=1000000")
        let writes = 20_000, burst = 1_000
        // Pipelined in bursts, each read back before the next: the test never relies on socket
        // buffers holding a whole run's requests and replies at once.
        for start in stride(from: 0, to: writes, by: burst) {
            let lines = (start..<start + burst).map { "SELL sku=T wh=W qty=1 id=s\($0)\n" }.joined()
            try c.sendRaw(Array(lines.utf8))
            for _ in 0..<burst { #expect(try c.readReply().status.hasPrefix("OK seq=")) }
        }
        daemon.stop(signal: SIGKILL)
        let stat = try run("stockctl", ["stat", "--data", daemon.dataDirectory])
        #expect(stat.output.contains("checkpoint_seq 0"), "\(stat.output)")
        // Kill each start at a different point of its fold; none of them may change the folder.
        for delayMicroseconds in [0, 2_000, 5_000, 10_000, 20_000, 40_000] {
            let process = try daemon.launch()
            usleep(useconds_t(delayMicroseconds))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            // Two daemons must never share the folder: wait until this one is really gone.
            let gone = Date().addingTimeInterval(10)
            while kill(process.processIdentifier, 0) == 0, Date() < gone { usleep(1_000) }
        }
        try daemon.start()
        let again = try daemon.client()
        let stock = try again.request("STOCK sku=T wh=W")
        #expect(number("on_hand", stock[0]) == 1_000_000 - Int64(writes))
        #expect(number("seq", try again.request("INFO")[0]) == Int64(writes + 1))
        for index in stride(from: 0, to: writes, by: 997) {
            #expect(try again.request("SELL sku=T wh=W qty=1 id=s\(index)").status.hasSuffix("dup=yes"))
        }
        #expect(daemon.stop() == 0)
        let verify = try run("stockctl", ["verify", "--data", daemon.dataDirectory])
        #expect(verify.status == 0 && verify.output.hasPrefix("ok: \(writes + 1) events"), "\(verify.output)")
        let stopped = try run("stockctl", ["stat", "--data", daemon.dataDirectory])
        #expect(stopped.output.contains("checkpoint_seq \(writes + 1)"), "a clean stop checkpoints: \(stopped.output)")
    }

    @Test("a full map grows and the writes go on")
    func mapGrows() throws {
        let daemon = try StockdProcess()
        daemon.extraArguments = ["--map-size", "\(256 * 1024)"]
        try daemon.start()
        defer { daemon.removeFiles() }
        let c = try daemon.client()
        let note = String(repeating: "n", count: 200)
        var lines = ""
        for index in 0..<3_000 { lines += "RECEIVE sku=M\(index % 300) wh=W qty=1 note=\(note)\n" }
        try c.sendRaw(Array(lines.utf8))
        for _ in 0..<3_000 { #expect(try c.readReply().status.hasPrefix("OK seq=")) }
        let info = try c.request("INFO")[0]
        #expect((number("map_bytes", info) ?? 0) > 256 * 1024)
        #expect(number("seq", info) == 3_000)
    }

    @Test("a full disk refuses writes with ERR UNAVAILABLE, keeps reads, and recovers when space returns")
    func diskFull() throws {
        guard getuid() == 0 else {
            print("skipped: mounting a small tmpfs needs root")
            return
        }
        let daemon = try StockdProcess()
        let mountPoint = daemon.directory + "/small"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mounted = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint])
        guard mounted.status == 0 else {
            print("skipped: cannot mount tmpfs here: \(mounted.output)")
            return
        }
        defer {
            daemon.stop(signal: SIGKILL)
            _ = try? run("/bin/umount", [mountPoint])
            daemon.removeFiles()
        }
        let dataDaemon = try StockdProcess(directory: mountPoint)
        dataDaemon.extraArguments = ["--map-size", "\(64 << 20)"]
        try dataDaemon.start()
        let c = try dataDaemon.client()
        let note = String(repeating: "d", count: 250)
        var acknowledged = 0
        var refused = ""
        for index in 0..<20_000 {
            let reply = try c.request("RECEIVE sku=D\(index) wh=W qty=1 note=\(note)")
            if reply.status.hasPrefix("OK") { acknowledged += 1 } else { refused = reply.status; break }
        }
        #expect(refused.hasPrefix("ERR UNAVAILABLE"), "expected the disk to fill, got \(refused)")
        #expect(try c.request("STOCK sku=D0")[0].hasPrefix("stock sku=D0 wh=W on_hand=1"))
        #expect(try c.request("PING") == ["OK pong"])
        let grown = try run("/bin/mount", ["-o", "remount,size=64m", mountPoint])
        #expect(grown.status == 0)
        #expect(try c.request("RECEIVE sku=after wh=W qty=1").status.hasPrefix("OK seq=\(acknowledged + 1) "))
        dataDaemon.stop()
        try dataDaemon.start()
        #expect(number("seq", try dataDaemon.request("INFO")[0]) == Int64(acknowledged + 1))
        dataDaemon.stop()
        let verify = try run("stockctl", ["verify", "--data", dataDaemon.dataDirectory])
        #expect(verify.status == 0, "\(verify.output)")
    }
}

/// Ids of writes the daemon acknowledged, collected from several threads.
// Shared across threads safely: its stored state is touched only with `lock` held.
final class AcknowledgedWrites: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: [String] = []
    func add(_ id: String) { lock.lock(); ids.append(id); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return ids }
    var count: Int { all.count }
}
