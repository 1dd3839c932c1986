import Foundation
import LedgerClient
import Testing

/// Every verb of PROTOCOL.md against a real stockd, as a client would speak it.
@Suite("verbs end to end")
struct VerbTests {
    @Test("every write and read verb answers as the protocol says")
    func everyVerb() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let c = try daemon.client()

        #expect(try c.request("HELLO") == ["OK server=stockd version=0.1.0 proto=1 role=writer"])
        #expect(try c.request("ping") == ["OK pong"])

        var r = try c.request("RECEIVE sku=TSHIRT-M wh=PAR qty=40 po=PO-77 ref=ASN-9")
        #expect(r == ["OK seq=1 sku=TSHIRT-M wh=PAR on_hand=40 reserved=0 available=40 breach=no"])

        r = try c.request("RESERVE sku=TSHIRT-M wh=PAR qty=3 ttl=15m ref=ORDER-1001")
        #expect(field("res", r.status) == "r2")
        #expect(number("reserved", r.status) == 3 && number("available", r.status) == 37)

        r = try c.request("SELL sku=TSHIRT-M wh=PAR qty=50")
        #expect(r == ["ERR INSUFFICIENT available=37 requested=50 sku=TSHIRT-M wh=PAR"])

        r = try c.request("SELL res=r2 qty=1")
        #expect(number("on_hand", r.status) == 39 && number("reserved", r.status) == 2)
        r = try c.request("RELEASE res=r2")
        #expect(number("reserved", r.status) == 0 && number("available", r.status) == 39)
        #expect(try c.request("RELEASE res=r2") == ["ERR STATE res=r2 state=released reservation r2 is released"])
        #expect(try c.request("SELL res=r404") == ["ERR NOTFOUND res=r404 no such reservation r404"])

        r = try c.request("RESERVE sku=TSHIRT-M wh=PAR qty=4 res=cart-9")
        #expect(field("res", r.status) == "cart-9")
        #expect(try c.request("RELEASE res=cart-9 qty=5").status.hasPrefix("ERR ARG"))
        r = try c.request("SELL res=cart-9")
        #expect(number("on_hand", r.status) == 35 && number("reserved", r.status) == 0)

        r = try c.request("TRANSFER sku=TSHIRT-M from=PAR to=LYS qty=10 eta=2026-12-01T00:00:00Z")
        #expect(r.count == 3)
        #expect(r[0].hasPrefix("stock sku=TSHIRT-M wh=PAR on_hand=25"))
        #expect(r[1].hasPrefix("stock sku=TSHIRT-M wh=LYS on_hand=0") && number("inbound", r[1]) == 10)
        let transfer = try #require(field("xfer", r.status))

        r = try c.request("TRANSFERS wh=LYS")
        #expect(r.count == 2 && field("xfer", r[0]) == transfer && number("qty", r[0]) == 10)

        r = try c.request("ARRIVE xfer=\(transfer) qty=7 lost=1")
        #expect(number("on_hand", r.status) == 7 && number("arrived", r.status) == 7)
        #expect(try c.request("ARRIVE xfer=\(transfer) qty=5").status.hasPrefix("ERR ARG"))
        r = try c.request("ARRIVE xfer=\(transfer)")
        #expect(number("on_hand", r.status) == 9)
        #expect(try c.request("ARRIVE xfer=\(transfer)").status.hasPrefix("ERR STATE"))
        #expect(try c.request("TRANSFERS").status == "OK rows=0 seq=9")

        r = try c.request("ADJUST sku=TSHIRT-M wh=PAR delta=-5 reason=\"broken pallet\"")
        #expect(number("on_hand", r.status) == 20)
        r = try c.request("COUNT sku=TSHIRT-M wh=PAR qty=18 reason=cycle")
        #expect(number("on_hand", r.status) == 18 && number("delta", r.status) == -2)
        r = try c.request("RETURN sku=TSHIRT-M wh=PAR qty=2")
        #expect(number("on_hand", r.status) == 20)

        r = try c.request("EXPECT sku=TSHIRT-M wh=PAR qty=30 eta=2026-12-05T00:00:00Z po=PO-1")
        #expect(r.status.hasPrefix("OK seq=13 po=PO-1"))
        r = try c.request("RECEIVE sku=TSHIRT-M wh=PAR qty=10 po=PO-1")
        #expect(number("on_hand", r.status) == 30)
        r = try c.request("STOCK sku=TSHIRT-M wh=PAR")
        #expect(number("incoming", r[0]) == 20 && field("next_eta", r[0]) == "2026-12-05T00:00:00Z")
        r = try c.request("CANCEL po=PO-1")
        #expect(r.status.hasPrefix("OK seq=15 po=PO-1"))
        #expect(try c.request("CANCEL po=PO-1").status.hasPrefix("ERR STATE"))
        #expect(try c.request("CANCEL po=PO-404").status.hasPrefix("ERR NOTFOUND"))

        r = try c.request("POLICY sku=TSHIRT-M wh=LYS safety=12 reorder=15 max=40")
        #expect(field("breach", r.status) == "yes")
        r = try c.request("POLICY sku=TSHIRT-M wh=LYS reorder=16")
        r = try c.request("STOCK sku=TSHIRT-M")
        #expect(r.count == 4 && r.status == "OK rows=3 seq=17")
        #expect(number("safety", r[0]) == 12 && number("reorder", r[0]) == 16 && number("max", r[0]) == 40)
        #expect(r[2].hasPrefix("total sku=TSHIRT-M on_hand=39") && number("breaches", r[2]) == 1)

        r = try c.request("BREACHES")
        #expect(r.count == 2 && r[0].hasPrefix("breach sku=TSHIRT-M wh=LYS available=9 safety=12"))
        r = try c.request("REORDER wh=LYS")
        #expect(r.count == 2 && number("suggest", r[0]) == 31)
        r = try c.request("RESERVATIONS")
        #expect(r == ["OK rows=0 seq=17"])
        r = try c.request("HISTORY sku=TSHIRT-M wh=LYS")
        #expect(r.status == "OK rows=5 seq=17")
        r = try c.request("EVENTS from=16 limit=1")
        #expect(r.count == 2 && r[0].hasPrefix("event seq=16 ") && field("kind", r[0]) == "policy_set")
        r = try c.request("INFO")
        #expect(number("seq", r[0]) == 17 && number("events", r[0]) == 17)
        #expect(try c.request("QUIT") == ["OK bye"])
        #expect(try c.readLine() == nil)
    }

    @Test("idempotency keys answer the original reply with dup=yes, and conflict on other arguments")
    func idempotency() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let c = try daemon.client()
        _ = try c.request("RECEIVE sku=A wh=W qty=10")
        let first = try c.request("SELL sku=A wh=W qty=2 id=order-1")
        let again = try c.request("SELL sku=A wh=W qty=2 id=order-1")
        #expect(again == [first.status + " dup=yes"])
        #expect(try c.request("SELL sku=A wh=W qty=3 id=order-1").status.hasPrefix("ERR CONFLICT"))
        #expect(number("on_hand", try c.request("STOCK sku=A")[0]) == 8)
    }

    @Test("batches apply all or nothing, in order")
    func batches() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let c = try daemon.client()
        _ = try c.request("RECEIVE sku=A wh=W qty=5")
        #expect(try c.request("BEGIN") == ["OK"])
        #expect(try c.request("SELL sku=A wh=W qty=3") == ["OK queued=1"])
        #expect(try c.request("STOCK sku=A").status.hasPrefix("ERR STATE"))
        #expect(try c.request("SELL sku=A wh=W qty=3") == ["OK queued=2"])
        let failed = try c.request("COMMIT")
        #expect(failed == ["ERR INSUFFICIENT index=2 available=2 requested=3 sku=A wh=W"])
        #expect(number("on_hand", try c.request("STOCK sku=A")[0]) == 5)

        _ = try c.request("BEGIN")
        _ = try c.request("RECEIVE sku=A wh=W qty=1")
        _ = try c.request("SELL sku=A wh=W qty=6")
        let done = try c.request("COMMIT")
        #expect(done.count == 3 && done[0].hasPrefix("done seq=2 ") && done[1].hasPrefix("done seq=3 "))
        #expect(done.status == "OK count=2")
        #expect(number("on_hand", try c.request("STOCK sku=A")[0]) == 0)

        _ = try c.request("BEGIN")
        _ = try c.request("RECEIVE sku=A wh=W qty=1")
        #expect(try c.request("ABORT") == ["OK"])
        #expect(try c.request("COMMIT").status.hasPrefix("ERR STATE"))
        #expect(try c.request("EVENTS").status == "OK rows=3 seq=3")
    }

    @Test("1,000 pipelined lines are answered in order")
    func pipelining() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let c = try daemon.client()
        var lines = "RECEIVE sku=P wh=W qty=1000\n"
        for index in 1..<1000 {
            lines += index % 10 == 0 ? "STOCK sku=P\n" : "SELL sku=P wh=W qty=1\n"
        }
        try c.sendRaw(Array(lines.utf8))
        var expectedOnHand: Int64 = 1000
        #expect(number("on_hand", try c.readReply().status) == 1000)
        for index in 1..<1000 {
            let reply = try c.readReply()
            if index % 10 == 0 {
                #expect(number("on_hand", reply[0]) == expectedOnHand)
            } else {
                expectedOnHand -= 1
                #expect(number("on_hand", reply.status) == expectedOnHand)
            }
        }
        #expect(expectedOnHand == 1000 - 900)
    }

    @Test("a reservation expires by itself, through an expired event")
    func expiry() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let c = try daemon.client()
        // The daemon's own `expired` event is what to wait for: a watcher is pushed it when it commits.
        let watcher = try daemon.client()
        #expect(try watcher.request("WATCH events") == ["OK watching=events"])
        _ = try c.request("RECEIVE sku=E wh=W qty=5")
        let reserved = try c.request("RESERVE sku=E wh=W qty=2 ttl=1s")
        #expect(number("available", reserved.status) == 3)
        var pushed: [String] = []
        while pushed.count < 3, let line = try watcher.readLine() { pushed.append(line) }
        #expect(pushed.map { field("kind", $0) } == ["received", "reserved", "expired"])
        #expect(try c.request("RESERVATIONS sku=E") == ["OK rows=0 seq=3"])
        let events = try c.request("EVENTS from=3")
        #expect(field("kind", events[0]) == "expired" && number("qty", events[0]) == 2)
        #expect(number("available", try c.request("STOCK sku=E")[0]) == 5)
        #expect(try c.request("SELL res=\(field("res", reserved.status)!)").status.hasPrefix("ERR STATE"))
    }

    @Test("STOCK at= answers as of a past seq or time")
    func pointInTime() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let c = try daemon.client()
        _ = try c.request("RECEIVE sku=T wh=A qty=10")
        _ = try c.request("SELL sku=T wh=A qty=4")
        let at = try #require(field("at", try c.request("EVENTS from=2")[0]))
        usleep(5_000)
        _ = try c.request("SELL sku=T wh=A qty=1")
        #expect(number("on_hand", try c.request("STOCK sku=T at=seq:1")[0]) == 10)
        let byTime = try c.request("STOCK sku=T at=\(at)")
        #expect(number("on_hand", byTime[0]) == 6 && byTime.status == "OK rows=2 seq=2")
        #expect(number("on_hand", try c.request("STOCK sku=T")[0]) == 5)
    }
}
