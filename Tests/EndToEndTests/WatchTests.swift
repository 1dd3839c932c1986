import Foundation
import LedgerClient
import Testing

/// WATCH streams against a real stockd: every watcher that keeps up sees every event once, in order;
/// one that does not is cut off without slowing writers.
@Suite("watch end to end", .serialized)
struct WatchTests {
    @Test("WATCH events stock=yes: the stock rows before each event are the buckets STOCK at=seq:N gives, from history and live")
    func eventsWithStock() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let writes = [
            "RECEIVE sku=S wh=A qty=20", "RECEIVE sku=T wh=B qty=5", "RESERVE sku=S wh=A qty=4 res=r1",
            "TRANSFER sku=S from=A to=B qty=6", "EXPECT sku=T wh=B qty=9 eta=2099-01-01T00:00:00Z po=P1",
            "CHANNEL channel=web share=50", "SELL res=r1 qty=2", "POLICY sku=S wh=B safety=10",
        ]
        let live = [
            "ARRIVE xfer=x4", "ADJUST sku=T wh=B delta=-2 reason=damaged", "RELEASE res=r1",
            "RECEIVE sku=T wh=B qty=3 po=P1", "COUNT sku=S wh=A qty=7",
        ]
        let client = try daemon.client()
        for line in writes { #expect(try client.request(line).status.hasPrefix("OK"), "\(line)") }
        let watcher = try daemon.client()
        #expect(try watcher.request("WATCH events from=1 stock=yes") == ["OK watching=events"])
        // Half of the history is read before the live writes, which arrive as commits.
        var lines: [String] = []
        for _ in 0..<4 { lines.append(try #require(try watcher.readLine())) }
        for line in live { #expect(try client.request(line).status.hasPrefix("OK"), "\(line)") }
        let last = Int64(writes.count + live.count)
        while number("seq", lines.last ?? "") != last || !(lines.last ?? "").hasPrefix("event ") {
            lines.append(try #require(try watcher.readLine()))
        }
        var pending: [String] = []
        var events = 0
        for line in lines {
            guard line.hasPrefix("event ") else {
                #expect(line.hasPrefix("stock seq="), "\(line)")
                pending.append(line)
                continue
            }
            let seq = try #require(number("seq", line))
            events += 1
            #expect(seq == Int64(events), "events in order, each once: \(line)")
            // Every real pair the event touched, and only those: none for the channel defaults.
            let touched = Set(pending.map { field("wh", $0) ?? "" })
            let expected: Set<String> = switch field("kind", line) {
            case "channel_set": []
            case "transfer_shipped": ["A", "B"]
            case "transfer_arrived": ["B"]
            default: [try #require(field("wh", line))]
            }
            #expect(touched == expected, "\(line): \(pending)")
            for row in pending {
                #expect(number("seq", row) == seq)
                let sku = try #require(field("sku", row)), wh = try #require(field("wh", row))
                let past = try client.request("STOCK sku=\(sku) wh=\(wh) at=seq:\(seq)")
                #expect(past.first == row.replacingOccurrences(of: " seq=\(seq)", with: ""), "at seq \(seq)")
            }
            pending = []
        }
        #expect(events == Int(last))
        // Live: a commit's rows are the buckets its write reply names.
        let reply = try client.request("SELL sku=T wh=B qty=1")
        let row = try #require(try watcher.readLine())
        #expect(row.hasPrefix("stock seq=\(last + 1) sku=T wh=B "))
        for key in ["on_hand", "reserved", "available"] { #expect(number(key, row) == number(key, reply.status), "\(key)") }
        #expect(field("kind", try #require(try watcher.readLine())) == "sold")
    }

    @Test("100 watchers during a write load each see every event once, in order")
    func hundredWatchers() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        _ = try daemon.request("RECEIVE sku=W wh=A qty=1000000")
        var watchers: [LineClient] = []
        for _ in 0..<100 {
            let watcher = try daemon.client()
            try watcher.watch("events")
            watchers.append(watcher)
        }
        let group = DispatchGroup()
        let socketPath = daemon.socketPath  // a String crosses threads; the process object stays here
        for _ in 0..<4 {
            DispatchQueue.global().async(group: group) {
                guard let c = try? LineClient(path: socketPath) else { return }
                for _ in 0..<250 { _ = try? c.request("SELL sku=W wh=A qty=1") }
            }
        }
        group.wait()
        let last = try #require(number("seq", try daemon.request("INFO")[0]))
        #expect(last == 1_001)
        let results = WatchResults()
        for (index, client) in watchers.enumerated() {
            // Each client is handed to exactly one task and used by it alone.
            nonisolated(unsafe) let watcher = client
            DispatchQueue.global().async(group: group) {
                var expected: Int64 = 2
                var ok = true
                while expected <= last, let line = try? watcher.readLine() {
                    if number("seq", line) != expected || field("kind", line) != "sold" { ok = false; break }
                    expected += 1
                }
                results.record(index, ok && expected == last + 1)
            }
        }
        group.wait()
        #expect(results.failures.isEmpty, "watchers that missed or reordered events: \(results.failures)")
    }

    @Test("WATCH events from=N replays history, then streams live")
    func replayThenLive() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        for index in 1...30 { _ = try daemon.request("RECEIVE sku=H wh=A qty=\(index)") }
        let watcher = try daemon.client()
        #expect(try watcher.request("WATCH events from=11") == ["OK watching=events"])
        for seq in 11...30 { #expect(number("seq", try watcher.readLine() ?? "") == Int64(seq)) }
        _ = try daemon.request("RECEIVE sku=H wh=A qty=1")
        #expect(number("seq", try watcher.readLine() ?? "") == 31)
        #expect(try watcher.request("STOCK sku=H").status.hasPrefix("ERR STATE"))
        #expect(try watcher.request("UNWATCH") == ["OK"])
        #expect(try watcher.request("PING") == ["OK pong"])
    }

    @Test("WATCH breaches pushes breach, stockout, instock and recovered, filtered by sku")
    func breaches() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let watcher = try daemon.client()
        try watcher.watch("breaches sku=B")
        let c = try daemon.client()
        _ = try c.request("RECEIVE sku=B wh=A qty=5")
        _ = try c.request("RECEIVE sku=OTHER wh=A qty=5")
        _ = try c.request("POLICY sku=B wh=A safety=3")
        _ = try c.request("SELL sku=B wh=A qty=3")
        _ = try c.request("SELL sku=B wh=A qty=2")
        _ = try c.request("RECEIVE sku=B wh=A qty=10")
        var words: [String] = []
        for _ in 0..<5 { words.append(String((try watcher.readLine() ?? "").prefix { $0 != " " })) }
        #expect(words == ["instock", "breach", "stockout", "recovered", "instock"])
        let history = try c.request("BREACHES history=yes sku=B")
        #expect(history.count == 2 && history[0].hasPrefix("interval sku=B wh=A ") && number("lowest", history[0]) == 0)
        #expect(field("end", history[0]) != nil)
    }

    /// What the cut-off guarantees: the lines pushed are the log from the watch on, in order and
    /// without a gap, then `ERR LIMIT watcher too slow`, then the close. The ERR line waits behind the
    /// queued events; a watcher that does not read them within the 10 s grace after the cut-off is
    /// closed without it (the queued data dropped, the last line possibly cut short). So the line is
    /// asserted whenever the close came less than 10 s after the writes began, which on a busy
    /// machine may not be the case; everything else is asserted always.
    @Test("a watcher that does not read is cut off with ERR LIMIT, and writers are not held up")
    func slowWatcher() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let slow = try daemon.client()
        try slow.watch("events")
        let writer = try daemon.client()
        let note = String(repeating: "s", count: 250)
        var lines = ""
        for _ in 0..<1_000 { lines += "RECEIVE sku=S wh=A qty=1 note=\(note)\n" }
        let bytes = Array(lines.utf8)
        // 20,000 events of ~330 bytes are 6.6 MB of pushes: more than the 4 MiB a watcher may have
        // waiting plus what the socket buffers hold, so the watcher is cut off before the last one.
        let writes = 20_000
        let writesBegan = Date()
        var acknowledged = 0
        for _ in 0..<writes / 1_000 {
            try writer.sendRaw(bytes)
            for _ in 0..<1_000 { if try writer.readReply().status.hasPrefix("OK") { acknowledged += 1 } }
        }
        #expect(acknowledged == writes)
        var pushed: [String] = []
        while let line = try slow.readLine() { pushed.append(line) }
        let closedWithinGrace = Date().timeIntervalSince(writesBegan) < 10
        let sawCutOff = pushed.last == "ERR LIMIT watcher too slow"
        if sawCutOff { pushed.removeLast() } else if let last = pushed.last, number("seq", last) == nil || !last.hasSuffix(note) {
            pushed.removeLast()  // cut short by the close after the grace
        }
        let gap = pushed.indices.first { number("seq", pushed[$0]) != Int64($0 + 1) || !pushed[$0].hasPrefix("event ") }
        #expect(gap == nil, "pushed line \(gap.map { $0 + 1 } ?? 0) is not event seq \(gap.map { $0 + 1 } ?? 0): \(gap.map { pushed[$0].prefix(60) } ?? "")")
        #expect(pushed.count < writes, "a watcher that never read was sent every event")
        #expect(sawCutOff || !closedWithinGrace, "closed before the grace ran out, without ERR LIMIT watcher too slow")
    }

    @Test("HELLO format=json answers one JSON object per line, pushes included")
    func json() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let c = try daemon.client()
        let hello = try #require(try c.readingJSON("HELLO format=json").last)
        #expect(hello["ok"] as? Bool == true && hello["proto"] as? Int == 1 && hello["role"] as? String == "writer")
        let ok = try #require(try c.readingJSON("RECEIVE sku=J wh=A qty=4 note=\"two words\"").last)
        #expect(ok["on_hand"] as? Int == 4 && ok["breach"] as? Bool == false && ok["sku"] as? String == "J")
        let refused = try #require(try c.readingJSON("SELL sku=J wh=A qty=9").last)
        #expect(refused["err"] as? String == "INSUFFICIENT" && refused["available"] as? Int == 4)
        let stock = try c.readingJSON("STOCK sku=J")
        #expect(stock.count == 3 && stock[0]["row"] as? String == "stock" && stock[1]["row"] as? String == "total")
        let events = try c.readingJSON("EVENTS")
        #expect(events[0]["note"] as? String == "two words")
    }
}

extension LineClient {
    /// WATCH: stockd subscribes the stream to commits before it answers `OK watching=`, so once the
    /// OK is read, every later commit is pushed to this watcher.
    func watch(_ topic: String) throws {
        let name = String(topic.prefix { $0 != " " })
        #expect(try request("WATCH " + topic) == ["OK watching=\(name)"])
    }

    /// Sends a line and reads a JSON reply: objects until one with "ok" or "err".
    func readingJSON(_ line: String) throws -> [[String: Any]] {
        try send(line)
        var objects: [[String: Any]] = []
        while let text = try readLine() {
            let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
            objects.append(object)
            if object["ok"] != nil || object["err"] != nil { break }
        }
        return objects
    }
}

// Shared across threads safely: its stored state is touched only with `lock` held.
final class WatchResults: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var failures: [Int] = []
    func record(_ index: Int, _ ok: Bool) { lock.lock(); if !ok { failures.append(index) }; lock.unlock() }
}
