import Foundation
import LedgerClient
import LedgerCore
import Testing

/// Planning (FEATURES.md §1e) against a real stockd: SUGGEST on a history loaded with `stockctl import`
/// (times in the past, so that whole days can be counted), KANBAN and WATCH kanban, WATCH demand.
@Suite(.serialized) struct PlanningTests {
    /// 2025-01-06T00:00:00Z, the first day of the window SUGGEST reads.
    static let windowStart = Timestamp(seconds: 1_736_121_600)

    static func at(_ days: Double) -> String {
        windowStart.adding(seconds: Int64((days * 86_400).rounded())).rfc3339
    }

    /// The log of LedgerCoreTests' PlanningTests, as JSON lines: three purchase orders of LAMP/PAR before
    /// the window (leads 5.5, 8 and 6.5 days; late 0.5, 2 and −0.5 against their ETA), then a week of
    /// sales with one stockout day (day 3), waiters on that day, a return, a transfer to LYS, a policy.
    static let history: String = {
        let hour = 1.0 / 24
        let rows: [(Double, String)] = [
            (-30, #""kind":"received","sku":"LAMP","wh":"PAR","qty":100"#),
            (-30, #""kind":"expected","sku":"LAMP","wh":"PAR","qty":40,"po":"PO-1","eta":"\#(at(-25))""#),
            (-26, #""kind":"received","sku":"LAMP","wh":"PAR","qty":10,"po":"PO-1""#),
            (-24, #""kind":"received","sku":"LAMP","wh":"PAR","qty":30,"po":"PO-1""#),
            (-20, #""kind":"expected","sku":"LAMP","wh":"PAR","qty":20,"po":"PO-2","eta":"\#(at(-14))""#),
            (-12, #""kind":"received","sku":"LAMP","wh":"PAR","qty":20,"po":"PO-2""#),
            (-10, #""kind":"expected","sku":"LAMP","wh":"PAR","qty":50,"po":"PO-3","eta":"\#(at(-3))""#),
            (-3.5, #""kind":"received","sku":"LAMP","wh":"PAR","qty":50,"po":"PO-3""#),
            (10 * hour, #""kind":"sold","sku":"LAMP","wh":"PAR","qty":5"#),
            (1 + 23 * hour, #""kind":"sold","sku":"LAMP","wh":"PAR","qty":7"#),
            (2 + 10 * hour, #""kind":"sold","sku":"LAMP","wh":"PAR","qty":3"#),
            (3 + 1 * hour, #""kind":"sold","sku":"LAMP","wh":"PAR","qty":195"#),
            (3 + 5 * hour, #""kind":"waitlisted","sku":"LAMP","wh":"PAR","qty":4,"ref":"sub-1""#),
            (3 + 6 * hour, #""kind":"waitlisted","sku":"LAMP","wh":"*","qty":2,"ref":"sub-2""#),
            (3 + 20 * hour, #""kind":"received","sku":"LAMP","wh":"PAR","qty":20"#),
            (4 + 2 * hour, #""kind":"sold","sku":"LAMP","wh":"PAR","qty":20"#),
            (4 + 8 * hour, #""kind":"received","sku":"LAMP","wh":"PAR","qty":50"#),
            (5 + 10 * hour, #""kind":"sold","sku":"LAMP","wh":"PAR","qty":4"#),
            (5 + 11 * hour, #""kind":"returned","sku":"LAMP","wh":"PAR","qty":2"#),
            (6 + 10 * hour, #""kind":"sold","sku":"LAMP","wh":"PAR","qty":6"#),
            (6 + 11 * hour, #""kind":"transfer_shipped","sku":"LAMP","qty":3,"xfer":"x1","from":"PAR","to":"LYS""#),
            (6 + 12 * hour, #""kind":"policy_set","sku":"LAMP","wh":"PAR","safety":10,"reorder":20,"max":60"#),
            (7 + 1 * hour, #""kind":"sold","sku":"LAMP","wh":"PAR","qty":1"#),
        ]
        return rows.enumerated().map { index, row in
            #"{"seq":\#(index + 1),"at":"\#(at(row.0))","actor":0,\#(row.1)}"#
        }.joined(separator: "\n") + "\n"
    }()

    /// A daemon on a store imported from `history` (23 events).
    static func importedDaemon() throws -> StockdProcess {
        let daemon = try StockdProcess()
        let file = daemon.directory + "/history.jsonl"
        try history.write(toFile: file, atomically: true, encoding: .utf8)
        let load = try run("stockctl", ["import", file, "--data", daemon.dataDirectory])
        #expect(load.status == 0, "\(load.output)")
        return try daemon.start()
    }

    static let week = "days=7 at=\(at(7 + 10.0 / 24))"
    static let par = "suggest sku=LAMP wh=PAR days=7 counted=6 stockout_days=1 lost=6 mean=7.5 sd=6.2849 lead=6.6667 lead_sd=1.2583 "
        + "lead_n=3 lead_source=pair late_p80=2 service=0.95 z=1.6449 safety=31 safety_basic=27 reorder=81 max=134 "
        + "current_safety=10 current_reorder=20 current_max=60 confidence=low"
    static let lys = "suggest sku=LAMP wh=LYS days=7 counted=0 stockout_days=7 lost=2 mean=0 sd=0 lead=6.6667 lead_sd=1.2583 "
        + "lead_n=3 lead_source=sku late_p80=2 service=0.95 z=1.6449 safety=0 safety_basic=0 reorder=0 max=0 "
        + "current_safety=0 current_reorder=0 current_max=0 confidence=low"

    @Test("SUGGEST answers the hand-computed levels; at= gives the same answer after later writes")
    func suggest() throws {
        let daemon = try PlanningTests.importedDaemon()
        defer { daemon.removeFiles() }
        let c = try daemon.client()
        let answer = try c.request("SUGGEST sku=LAMP \(PlanningTests.week)")
        #expect(answer == [PlanningTests.lys, PlanningTests.par, "OK rows=2 seq=23"])
        // Reads never change policy (P3), and the answer as of a point stays what it was.
        #expect(try c.request("STOCK sku=LAMP wh=PAR").first?.contains(" safety=10 reorder=20 max=60 ") == true)
        #expect(try c.request("POLICY sku=LAMP wh=PAR bin=24 cards=5").status.hasPrefix("OK seq=24 "))
        #expect(try c.request("SELL sku=LAMP wh=PAR qty=1").status.hasPrefix("OK seq=25 "))
        #expect(try c.request("SUGGEST sku=LAMP \(PlanningTests.week)") == answer)
        #expect(try c.request("SUGGEST sku=LAMP wh=PAR days=7 at=seq:23") == [PlanningTests.par, "OK rows=1 seq=23"])
        // Now: the window is last week, when nothing was sold; the Kanban loop gives cards.
        let now = try c.request("SUGGEST sku=LAMP wh=PAR days=7")
        #expect(now.count == 2 && now[1] == "OK rows=1 seq=25")
        #expect(field("counted", now[0]) == "7" && field("mean", now[0]) == "0" && number("cards", now[0]) == 1)
        #expect(field("lead_source", now[0]) == "pair" && number("current_safety", now[0]) == 10)
        // A time to come is now: its days have no sales yet.
        #expect(try c.request("SUGGEST sku=LAMP wh=PAR days=7 at=2099-01-01T00:00:00Z") == now)
    }

    @Test("SUGGEST options: tz=, lead=, net=, transfers=, factor=, service=, review=, channel=")
    func options() throws {
        let daemon = try PlanningTests.importedDaemon()
        defer { daemon.removeFiles() }
        let c = try daemon.client()
        func row(_ options: String) throws -> String {
            let answer = try c.request("SUGGEST sku=LAMP wh=PAR \(PlanningTests.week) \(options)")
            #expect(answer.count == 2 && answer[1] == "OK rows=1 seq=23", "\(answer)")
            return answer[0]
        }
        // tz=+02:00: the sale of day 1 at 23:00 UTC falls on day 2.
        let local = try row("tz=+02:00")
        #expect(field("mean", local) == "7.5" && field("sd", local) == "6.921" && number("safety", local) == 34)
        #expect(number("safety_basic", local) == 30 && number("reorder", local) == 84 && number("max", local) == 137)
        let given = try row("lead=3")
        #expect(given.contains(" lead=3 lead_sd=0 lead_n=0 lead_source=request service=0.95 z=1.6449 safety=18 safety_basic=18 reorder=41 max=94 "))
        #expect(field("late_p80", given) == nil)
        #expect(field("mean", try row("net=yes")) == "7.1667")
        #expect(field("mean", try row("transfers=yes")) == "8")
        let doubled = try row("factor=2")
        #expect(field("mean", doubled) == "15" && number("reorder", doubled) == 162)
        let strict = try row("service=0.99 review=14")
        #expect(field("z", strict) == "2.3263" && field("service", strict) == "0.99")
        #expect(number("max", strict)! - number("reorder", strict)! == 105)
        let channel = try row("channel=web")
        #expect(field("mean", channel) == "0" && number("counted", channel) == 6)
    }

    @Test("SUGGEST without lead time, with POLICY lead=, and refusals")
    func leadAndRefusals() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let c = try daemon.client()
        _ = try c.request("RECEIVE sku=NEW wh=A qty=5")
        let none = try c.request("SUGGEST sku=NEW")
        #expect(none.count == 2 && none[1] == "OK rows=1 seq=1")
        #expect(none[0].hasPrefix("suggest sku=NEW wh=A days=56 counted=0 stockout_days=56 lost=0 mean=0 sd=0 lead_n=0 lead_source=none "))
        #expect(none[0].hasSuffix(#" current_max=0 confidence=low reason="no EXPECT→RECEIVE history; set POLICY lead=""#))
        #expect(field("safety", none[0]) == nil && field("reorder", none[0]) == nil)
        #expect(try c.request("POLICY sku=NEW wh=A lead=2.5").status.hasPrefix("OK seq=2 "))
        #expect(try c.request("HISTORY sku=NEW from=2").first?.hasSuffix(" kind=policy_set actor=\(getuid()) sku=NEW wh=A lead=2.5") == true)
        let policy = try c.request("SUGGEST sku=NEW wh=A")
        #expect(policy[0].contains(" lead=2.5 lead_sd=0 lead_n=0 lead_source=policy service=0.95 "))
        #expect(try c.request("SUGGEST sku=UNKNOWN") == ["OK rows=0 seq=2"])
        for (request, refusal) in [
            ("SUGGEST sku=NEW service=1", "ERR ARG service: 0.50 to 0.9999"),
            ("SUGGEST sku=NEW service=0.4", "ERR ARG service: 0.50 to 0.9999"),
            ("SUGGEST sku=NEW days=0", "ERR ARG days: 1 to 730"),
            ("SUGGEST sku=NEW days=731", "ERR ARG days: 1 to 730"),
            ("SUGGEST sku=NEW review=0", "ERR ARG review: 1 to 730"),
            ("SUGGEST sku=NEW factor=0", "ERR ARG factor: 0.1 to 20"),
            ("SUGGEST sku=NEW factor=1e3", "ERR ARG factor: 0.1 to 20"),
            ("SUGGEST sku=NEW tz=+15:00", "ERR ARG tz: expected ±hh:mm from -14:00 to +14:00"),
            ("SUGGEST sku=NEW tz=2", "ERR ARG tz: expected ±hh:mm from -14:00 to +14:00"),
            ("SUGGEST sku=NEW net=maybe", "ERR ARG net: expected yes or no"),
            ("SUGGEST wh=A", "ERR ARG missing key: sku"),
            ("POLICY sku=NEW wh=A lead=1.234", "ERR ARG lead: 0 to 730 days, at most 2 decimals"),
            ("POLICY sku=NEW wh=A bin=-1", "ERR ARG bin: expected a whole number from 0 to 1000000000000"),
            ("WATCH demand ratio=0.5", "ERR ARG ratio: 1 to 100"),
        ] {
            #expect(try c.request(request) == [refusal], "\(request)")
        }
    }

    @Test("KANBAN rows, WATCH kanban cards when a bin is emptied, and the loop survives a restart")
    func kanban() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let watcher = try daemon.client()
        try watcher.watch("kanban sku=K")
        let c = try daemon.client()
        _ = try c.request("RECEIVE sku=K wh=W qty=100")
        _ = try c.request("RECEIVE sku=OTHER wh=W qty=100")
        #expect(try c.request("POLICY sku=K wh=W bin=24 cards=5").status.hasPrefix("OK seq=3 "))
        _ = try c.request("POLICY sku=OTHER wh=W bin=10 cards=2")
        #expect(try c.request("KANBAN sku=K") == ["kanban sku=K wh=W bin=24 cards=5 on_hand_bins=5 replenishing=0 signal=0", "OK rows=1 seq=4"])
        _ = try c.request("SELL sku=K wh=W qty=30")      // 100 → 70: 5 bins → 3
        _ = try c.request("SELL sku=OTHER wh=W qty=95")  // another sku: not this watcher's
        _ = try c.request("SELL sku=K wh=W qty=1")       // 70 → 69: still 3 bins
        _ = try c.request("EXPECT sku=K wh=W qty=24 eta=2030-01-01T00:00:00Z po=PO-K")
        _ = try c.request("SELL sku=K wh=W qty=21")      // 69 → 48: 2 bins
        let first = try #require(try watcher.readLine())
        #expect(first.hasPrefix("card seq=5 at=") && first.hasSuffix(" sku=K wh=W emptied=2 on_hand_bins=3 replenishing=0 signal=2"))
        let second = try #require(try watcher.readLine())
        #expect(second.hasPrefix("card seq=9 at=") && second.hasSuffix(" sku=K wh=W emptied=1 on_hand_bins=2 replenishing=1 signal=2"))
        let rows = ["kanban sku=K wh=W bin=24 cards=5 on_hand_bins=2 replenishing=1 signal=2",
                    "kanban sku=OTHER wh=W bin=10 cards=2 on_hand_bins=1 replenishing=0 signal=1"]
        #expect(try c.request("KANBAN") == rows + ["OK rows=2 seq=9"])
        #expect(try c.request("KANBAN wh=ELSEWHERE") == ["OK rows=0 seq=9"])
        // Planning levels alone leave the stock row as it was (no promise buckets).
        #expect(try c.request("STOCK sku=K").first?.hasSuffix(" breach=no projected=72") == true)
        #expect(try c.request("HISTORY sku=K from=3 limit=1").first?.hasSuffix(" kind=policy_set actor=\(getuid()) sku=K wh=W bin=24 cards=5") == true)
        // The levels are in the log and in the stored pairs: a restart (checkpoint, then replay of the tail) keeps them.
        daemon.stop()
        try daemon.start()
        #expect(try daemon.request("KANBAN") == rows + ["OK rows=2 seq=9"])
        let verify = try run("stockctl", ["verify", "--data", daemon.dataDirectory])
        #expect(verify.status == 0, "\(verify.output)")
    }

    /// 1,344 units of H/W sold over the last 24 days (672 sales of 2, the last 17 hours ago), imported;
    /// then live sales. The baseline is 1,344 units / 672 h = 2 (a little more once live sales are read
    /// into it), so with ratio=2 the 4th unit of the hour is not a spike and the 5th is.
    @Test("WATCH demand pushes a spike when the hour's units reach ratio × the baseline, once")
    func demand() throws {
        let daemon = try StockdProcess()
        defer { daemon.removeFiles() }
        let now = Int64(Date().timeIntervalSince1970)
        var lines = [#"{"seq":1,"at":"\#(Timestamp(seconds: now - 28 * 86_400).rfc3339)","kind":"received","actor":0,"sku":"H","wh":"W","qty":5000}"#]
        for sale in 0..<672 {
            let at = Timestamp(seconds: now - 24 * 86_400 + Int64(sale) * 3_000).rfc3339
            lines.append(#"{"seq":\#(sale + 2),"at":"\#(at)","kind":"sold","actor":0,"sku":"H","wh":"W","qty":2}"#)
        }
        let file = daemon.directory + "/history.jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try run("stockctl", ["import", file, "--data", daemon.dataDirectory]).status == 0)
        try daemon.start()
        let hourly = try daemon.client(), fresh = try daemon.client(), web = try daemon.client()
        try hourly.watch("demand sku=H ratio=2")
        try fresh.watch("demand")
        try web.watch("demand channel=web")
        let c = try daemon.client()
        _ = try c.request("RECEIVE sku=D wh=W qty=10")
        for _ in 0..<3 { _ = try c.request("SELL sku=D wh=W qty=1") }
        // D sold nothing before: from the 3rd unit of the hour on, any rate is a spike (once).
        let spike = try #require(try fresh.readLine())
        #expect(spike.hasPrefix("spike seq=") && spike.contains(" sku=D wh=W channel=- rate_1h=3 baseline_1h="), "\(spike)")
        // A 4th unit of D is the same spike: nothing is pushed before E's (pushes keep their order).
        _ = try c.request("SELL sku=D wh=W qty=1")
        _ = try c.request("RECEIVE sku=E wh=W qty=10")
        _ = try c.request("SELL sku=E wh=W qty=3")
        let next = try #require(try fresh.readLine())
        #expect(next.contains(" sku=E wh=W channel=- rate_1h=3 "), "\(next)")
        for _ in 0..<4 { _ = try c.request("SELL sku=H wh=W qty=1") }
        let last = try c.request("SELL sku=H wh=W qty=1")
        let seq = try #require(number("seq", last.status))
        let pushed = try #require(try hourly.readLine())
        #expect(pushed.hasPrefix("spike seq=\(seq) at=") && pushed.contains(" sku=H wh=W channel=- rate_1h=5 baseline_1h=2"), "\(pushed)")
        #expect(field("ratio", pushed).flatMap(Double.init).map { $0 >= 2 && $0 < 2.5 } == true, "\(pushed)")
        // A channel's counters: 2 units of a web reservation sold, then 1 sold on web directly. The web
        // watcher heard nothing of the sales above (no channel), and hears this one; so does the
        // pair's watcher, as channel=-.
        _ = try c.request("RECEIVE sku=G wh=W qty=10")
        _ = try c.request("RESERVE sku=G wh=W qty=2 channel=web res=g1")
        _ = try c.request("SELL res=g1")
        let third = try c.request("SELL sku=G wh=W qty=1 channel=web")
        let webSpike = try #require(try web.readLine())
        #expect(webSpike.hasPrefix("spike seq=\(try #require(number("seq", third.status))) at=")
                && webSpike.contains(" sku=G wh=W channel=web rate_1h=3 "), "\(webSpike)")
        let gSpike = try #require(try fresh.readLine())
        #expect(gSpike.contains(" sku=G wh=W channel=- rate_1h=3 "), "\(gSpike)")
        // H at 5 units an hour is no spike at ratio 5.
        #expect(try fresh.request("PING") == ["OK pong"])
        #expect(try web.request("PING") == ["OK pong"])
        #expect(try hourly.request("UNWATCH") == ["OK"])
    }

    @Test("the new rows in JSON")
    func json() throws {
        let daemon = try PlanningTests.importedDaemon()
        defer { daemon.removeFiles() }
        let c = try daemon.client()
        _ = try c.readingJSON("HELLO format=json")
        _ = try c.readingJSON("POLICY sku=LAMP wh=PAR bin=24 cards=5")
        let suggest = try c.readingJSON("SUGGEST sku=LAMP wh=PAR \(PlanningTests.week)")
        #expect(suggest.count == 2 && suggest[0]["row"] as? String == "suggest" && suggest[0]["lead_source"] as? String == "pair")
        #expect(suggest[0]["safety"] as? Int == 31 && suggest[0]["confidence"] as? String == "low" && suggest[1]["seq"] as? Int == 23)
        let kanban = try c.readingJSON("KANBAN")
        #expect(kanban.count == 2 && kanban[0]["row"] as? String == "kanban" && kanban[0]["sku"] as? String == "LAMP")
    }
}
