import Foundation
import LedgerClient
import Testing

/// WATCH promises and WATCH restock against a real stockd: an order service and a back-in-stock
/// notifier see the right pushes, in order, and nothing for pairs they did not ask about.
@Suite("promise and restock watchers end to end", .serialized)
struct PromiseWatchTests {
    static func word(_ line: String) -> String { String(line.prefix { $0 != " " }) }

    @Test("WATCH promises pushes filled, slipped, unbacked in order, then overdue when an ETA with promises passes")
    func promisesWatcher() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let watcher = try daemon.client()
        try watcher.watch("promises sku=LAMP")
        let c = try daemon.client()
        _ = try c.request("RECEIVE sku=LAMP wh=PAR qty=2")
        _ = try c.request("EXPECT sku=LAMP wh=PAR qty=50 eta=2026-12-01T00:00:00Z po=PO-9")
        _ = try c.request("EXPECT sku=LAMP wh=PAR qty=10 eta=2026-12-20T00:00:00Z po=PO-10")
        _ = try c.request("RESERVE sku=LAMP wh=PAR qty=5 backorder=po res=ORDER-7")
        _ = try c.request("RESERVE sku=LAMP wh=PAR qty=55 backorder=po res=ORDER-8")
        _ = try c.request("RECEIVE sku=OTHER wh=PAR qty=5")  // another sku: nothing pushed
        _ = try c.request("RECEIVE sku=LAMP wh=PAR qty=3 po=PO-9")
        _ = try c.request("RESCHEDULE po=PO-10 eta=2027-01-05T00:00:00Z")
        _ = try c.request("CANCEL po=PO-10")
        var lines: [String] = []
        for _ in 0..<4 { lines.append(try watcher.readLine() ?? "") }
        #expect(lines.map(PromiseWatchTests.word) == ["filled", "slipped", "slipped", "unbacked"], "\(lines)")
        #expect(field("res", lines[0]) == "ORDER-7" && number("qty", lines[0]) == 3 && number("awaiting", lines[0]) == 0)
        #expect(field("from", lines[1]) == "2026-12-20T00:00:00Z" && field("to", lines[1]) == "2027-01-05T00:00:00Z")
        #expect(field("po", lines[1]) == "PO-10")
        #expect(field("to", lines[2]) == "unknown" && field("res", lines[3]) == "ORDER-8" && number("qty", lines[3]) == 8)

        // An order with promises whose ETA passes while the daemon runs: `overdue`, once.
        let eta = Date().addingTimeInterval(2)
        let formatter = ISO8601DateFormatter()
        _ = try c.request("EXPECT sku=LAMP wh=PAR qty=5 eta=\(formatter.string(from: eta)) po=PO-11")
        // It takes over 5 of ORDER-8's unbacked units (the promise stays unknown: 3 are still unbacked).
        var overdue = try watcher.readLine() ?? ""
        while PromiseWatchTests.word(overdue) != "overdue", let next = try watcher.readLine() { overdue = next }
        #expect(field("po", overdue) == "PO-11" && number("promised", overdue) == 5, "\(overdue)")
        let late = try c.request("RESERVATIONS late=yes")
        #expect(late.count == 2 && field("res", late[0]) == "ORDER-8" && field("late", late[0]) == "yes", "\(late)")
    }

    @Test("WATCH restock names only the waiters the stock can serve, oldest first, and pushes eta when the date moves")
    func restockWatcher() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let watcher = try daemon.client()
        try watcher.watch("restock sku=MUG")
        let c = try daemon.client()
        #expect(try c.request("WAIT sku=MUG wh=PAR ref=sub-1 qty=2").status.hasPrefix("OK seq=1 sku=MUG wh=PAR ref=sub-1 position=1"))
        _ = try c.request("WAIT sku=MUG ref=sub-2")
        _ = try c.request("WAIT sku=MUG wh=PAR ref=sub-3 qty=5")
        _ = try c.request("WAIT sku=MUG wh=PAR ref=sub-4")
        #expect(try c.request("WAIT sku=MUG wh=PAR ref=sub-1").status.hasPrefix("ERR STATE"))
        #expect(try c.request("UNWAIT sku=MUG ref=nobody").status.hasPrefix("ERR NOTFOUND ref=nobody"))
        _ = try c.request("EXPECT sku=MUG wh=PAR qty=10 eta=2026-12-24T00:00:00Z po=PO-1")
        let restock = try c.request("RESTOCK sku=MUG")
        #expect(restock.count == 3, "\(restock)")
        #expect(field("wh", restock[0]) == "PAR" && number("waiting_qty", restock[0]) == 8
                && field("restock_eta", restock[0]) == "2026-12-24T00:00:00Z" && field("source", restock[0]) == "PO-1")
        #expect(field("wh", restock[1]) == "*" && number("waiting", restock[1]) == 1)
        _ = try c.request("RECEIVE sku=MUG wh=PAR qty=4")
        let eta = try watcher.readLine() ?? ""
        #expect(PromiseWatchTests.word(eta) == "eta" && field("restock_eta", eta) == "2026-12-24T00:00:00Z", "\(eta)")
        let push = try watcher.readLine() ?? ""
        // sub-1 (2) and sub-2 (1, any warehouse) fit in 4; sub-3 (5) does not, and the list stops there.
        #expect(PromiseWatchTests.word(push) == "restock" && number("view", push) == 4 && field("notify", push) == "sub-1,sub-2", "\(push)")
        _ = try c.request("UNWAIT sku=MUG wh=PAR ref=sub-1 reason=notified")
        let stock = try c.request("STOCK sku=MUG wh=PAR")
        #expect(number("waiting", stock[0]) == 6, "\(stock)")
    }
}
