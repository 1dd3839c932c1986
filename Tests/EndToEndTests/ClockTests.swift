import Foundation
import LedgerClient
import LedgerCore
import Testing

/// A real stockd whose log was written under a clock ten days ahead, restarted on the right clock
/// (the daemon's hidden, test-only `--test-clock-offset-seconds` shifts its clock).
@Suite("clock set back", .serialized)
struct ClockTests {
    static func wallClock() -> Timestamp { Timestamp(microseconds: Int64(Date().timeIntervalSince1970 * 1e6)) }

    @Test("finding 7: after the clock goes back ten days, reservations expire on time and at=<now> answers the present")
    func finding7ExpiryFollowsTheRealClockAfterARestart() throws {
        let tenDays: Int64 = 10 * 86_400
        let daemon = try StockdProcess()
        defer { daemon.removeFiles() }
        daemon.extraArguments = ["--test-clock-offset-seconds", "\(tenDays)"]
        try daemon.start()
        #expect(try daemon.request("RECEIVE sku=CLK wh=PAR qty=10").status.hasPrefix("OK seq=1 "))
        #expect(try daemon.request("RESERVE sku=CLK wh=PAR qty=1 res=ahead ttl=60").status.hasPrefix("OK seq=2 "))
        #expect(daemon.stop() == 0)

        daemon.extraArguments = []
        try daemon.start()
        let log = (try? String(contentsOfFile: daemon.logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("the clock is behind the newest event"), "\(log)")
        let c = try daemon.client()
        let sent = ClockTests.wallClock()
        let short = try c.request("RESERVE sku=CLK wh=PAR qty=1 res=short ttl=1").status
        let expires = field("expires", short).flatMap { Timestamp(rfc3339: Substring($0)) }
        // The deadline is a second after the request by the wall clock, not ten days later.
        #expect(expires.map { $0 > sent && $0 <= sent.adding(seconds: 5) } == true, "\(short)")
        #expect(try c.request("RESERVE sku=CLK wh=PAR qty=1 res=long ttl=1h").status.hasPrefix("OK seq=4 "))

        func open() throws -> [String] { try c.request("RESERVATIONS sku=CLK").dropLast() }
        let deadline = Date().addingTimeInterval(20)
        while try open().contains(where: { $0.contains("res=short ") }), Date() < deadline { usleep(50_000) }
        let stillOpen = try open()
        #expect(!stillOpen.contains { $0.contains("res=short ") }, "res=short did not expire: \(stillOpen)")
        #expect(stillOpen.count == 2, "\(stillOpen)")

        // The expiry came after the other events, at their held time: the log's times never go back.
        let events = try c.request("EVENTS").dropLast()
        #expect(events.count == 5 && events.last?.contains("kind=expired") == true, "\(events)")
        let times = events.compactMap { field("at", $0).flatMap { Timestamp(rfc3339: Substring($0)) } }
        #expect(times.count == 5 && zip(times, times.dropFirst()).allSatisfy { $0 <= $1 })

        // at=<now> is the present, whatever the times the events carry.
        #expect(try c.request("STOCK sku=CLK at=\(ClockTests.wallClock().rfc3339)").status == "OK rows=2 seq=5")
        let info = try c.request("INFO")[0]
        let behind = number("clock_behind_s", info) ?? 0
        #expect(behind > tenDays - 600 && behind <= tenDays, "\(info)")
        #expect(daemon.stop() == 0)
    }
}
