import LedgerCore
import LedgerProtocol
import Testing

/// `Rows`: the reply rows and write `OK` lines, checked against the examples of PROTOCOL.md.
@Suite struct RowsTests {
    static let start = Timestamp(seconds: 1_795_334_400)  // 2026-11-22T08:00:00Z

    /// Decides and folds `commands` from an empty ledger, one second apart; returns the events and state.
    func run(_ commands: [WriteRequest]) throws -> ([Event], LedgerState) {
        var state = LedgerState()
        var events: [Event] = []
        for (index, request) in commands.enumerated() {
            let context = DecisionContext(now: RowsTests.start.adding(seconds: Int64(index)), seq: UInt64(index + 1), actor: 1_000)
            let event = try Ledger.decide(request, in: state, context: context).get()
            Ledger.apply(event, to: &state)
            events.append(event)
        }
        return (events, state)
    }

    func lookup(_ state: LedgerState) -> (PairKey) -> PairState { { state.pair($0) ?? PairState() } }

    @Test func receiveReplyMatchesTheProtocolExample() throws {
        let (events, state) = try run([
            WriteRequest(command: .receive(sku: "TSHIRT-M", wh: "PAR", quantity: 40, purchaseOrder: "PO-77"), ref: "ASN-9"),
        ])
        #expect(Rows.writeReply(events[0], pairs: lookup(state))
                == ["OK seq=1 sku=TSHIRT-M wh=PAR on_hand=40 reserved=0 available=40 breach=no"])
    }

    @Test func reserveReplyMatchesTheProtocolExample() throws {
        var (events, state) = try run([
            WriteRequest(command: .receive(sku: "TSHIRT-M", wh: "PAR", quantity: 40, purchaseOrder: "PO-77"), ref: "ASN-9"),
        ])
        // The example's reservation is written at 08:00:00 with ttl=15m.
        let event = try Ledger.decide(
            WriteRequest(command: .reserve(sku: "TSHIRT-M", wh: "PAR", quantity: 3, reservation: nil, ttlSeconds: 900),
                         ref: "ORDER-1001"),
            in: state, context: DecisionContext(now: RowsTests.start, seq: 2, actor: 1_000)).get()
        Ledger.apply(event, to: &state)
        events.append(event)
        #expect(Rows.writeReply(event, pairs: lookup(state))
                == ["OK seq=2 res=r2 expires=2026-11-22T08:15:00Z sku=TSHIRT-M wh=PAR on_hand=40 reserved=3 available=37 breach=no"])
    }

    @Test func writeRepliesNameWhatTheWriteMadeOrTouched() throws {
        let eta = Timestamp(seconds: 1_796_083_200)  // 2026-12-01T00:00:00Z
        let (events, state) = try run([
            WriteRequest(command: .receive(sku: "A", wh: "PAR", quantity: 10, purchaseOrder: nil)),
            WriteRequest(command: .reserve(sku: "A", wh: "PAR", quantity: 4, reservation: "R", ttlSeconds: nil)),
            WriteRequest(command: .sellReserved(reservation: "R", quantity: 1)),
            WriteRequest(command: .release(reservation: "R", quantity: 1)),
            WriteRequest(command: .expire(reservation: "R")),
            WriteRequest(command: .count(sku: "A", wh: "PAR", quantity: 7, reason: nil)),
            WriteRequest(command: .expect(sku: "A", wh: "PAR", quantity: 5, eta: eta, purchaseOrder: "PO-1")),
            WriteRequest(command: .cancel(purchaseOrder: "PO-1")),
            WriteRequest(command: .sell(sku: "A", wh: "PAR", quantity: 1)),
            WriteRequest(command: .policy(sku: "A", wh: "PAR", safety: 10, reorder: nil, max: nil)),
        ])
        let pairs = lookup(state)
        let okLines = events.map { Rows.writeReply($0, pairs: pairs) }
        let tail = "sku=A wh=PAR on_hand=6 reserved=0 available=6 breach=yes"
        #expect(okLines == [
            ["OK seq=1 " + tail], ["OK seq=2 res=R " + "expires=2026-11-22T08:15:01Z " + tail],
            ["OK seq=3 res=R " + tail], ["OK seq=4 res=R " + tail], ["OK seq=5 res=R " + tail],
            ["OK seq=6 delta=-2 " + tail], ["OK seq=7 po=PO-1 " + tail], ["OK seq=8 po=PO-1 " + tail],
            ["OK seq=9 " + tail], ["OK seq=10 " + tail],
        ])
    }

    @Test func transferRepliesWithOneStockRowPerPair() throws {
        let (events, state) = try run([
            WriteRequest(command: .receive(sku: "A", wh: "PAR", quantity: 10, purchaseOrder: nil)),
            WriteRequest(command: .transfer(sku: "A", from: "PAR", to: "LYS", quantity: 4, transfer: nil, eta: nil)),
        ])
        #expect(Rows.writeReply(events[1], pairs: lookup(state)) == [
            "stock sku=A wh=PAR on_hand=6 reserved=0 available=6 inbound=0 incoming=0 safety=0 reorder=0 max=0 breach=no projected=6",
            "stock sku=A wh=LYS on_hand=0 reserved=0 available=0 inbound=4 incoming=0 safety=0 reorder=0 max=0 breach=no projected=4",
            "OK seq=2 xfer=x2",
        ])
    }

    @Test func arriveAndLostRepliesCarryArrivedAndLost() throws {
        let (events, state) = try run([
            WriteRequest(command: .receive(sku: "A", wh: "PAR", quantity: 10, purchaseOrder: nil)),
            WriteRequest(command: .transfer(sku: "A", from: "PAR", to: "LYS", quantity: 4, transfer: "T", eta: nil)),
            WriteRequest(command: .arrive(transfer: "T", quantity: 2, lost: 1)),
            WriteRequest(command: .arrive(transfer: "T", quantity: nil, lost: 1)),
        ])
        let pairs = lookup(state)
        let tail = "sku=A wh=LYS on_hand=2 reserved=0 available=2 breach=no"
        #expect(Rows.writeReply(events[2], pairs: pairs) == ["OK seq=3 xfer=T arrived=2 lost=1 " + tail])
        #expect(Rows.writeReply(events[3], pairs: pairs) == ["OK seq=4 xfer=T arrived=0 lost=1 " + tail])
    }

    @Test func stockAndTotalRowsMatchTheProtocolExample() {
        var lys = PairState()
        lys.onHand = 5; lys.inbound = 10; lys.safety = 8; lys.reorder = 12; lys.max = 40
        var par = PairState()
        par.onHand = 30; par.reserved = 3; par.safety = 10; par.reorder = 15; par.max = 60
        par.openOrders = [OpenOrder(purchaseOrder: "PO-9", remaining: 20, eta: Timestamp(seconds: 1_796_083_200))]
        let lysKey = PairKey(sku: "TSHIRT-M", wh: "LYS"), parKey = PairKey(sku: "TSHIRT-M", wh: "PAR")
        #expect(Rows.stock(lysKey, lys) == "stock sku=TSHIRT-M wh=LYS on_hand=5 reserved=0 available=5 inbound=10 incoming=0 safety=8 reorder=12 max=40 breach=yes projected=15")
        #expect(Rows.stock(parKey, par) == "stock sku=TSHIRT-M wh=PAR on_hand=30 reserved=3 available=27 inbound=0 incoming=20 next_eta=2026-12-01T00:00:00Z safety=10 reorder=15 max=60 breach=no projected=47")
        #expect(Rows.total(sku: "TSHIRT-M", [(lysKey, lys), (parKey, par)])
                == "total sku=TSHIRT-M on_hand=35 reserved=3 available=32 inbound=10 incoming=20 projected=62 warehouses=2 breaches=1")
    }

    @Test func stockRowShowsWhenABreachBegan() {
        var pair = PairState()
        pair.onHand = 2; pair.safety = 5; pair.breachSince = RowsTests.start; pair.breachLowest = 1
        let key = PairKey(sku: "A", wh: "W")
        #expect(Rows.stock(key, pair).contains(" breach=yes breach_since=2026-11-22T08:00:00Z projected=2"))
        #expect(Rows.breach(key, pair) == "breach sku=A wh=W available=2 safety=5 short=3 since=2026-11-22T08:00:00Z lowest=1")
    }

    @Test func eventRowsCarryKindActorAndFields() throws {
        let (events, _) = try run([
            WriteRequest(command: .receive(sku: "TSHIRT-M", wh: "PAR", quantity: 40, purchaseOrder: "PO-77"),
                         ref: "ASN-9", note: "left dock", idempotencyKey: "k1"),
            WriteRequest(command: .adjust(sku: "TSHIRT-M", wh: "PAR", delta: -2, reason: "broken pallet")),
        ])
        #expect(Rows.event(events[0]) == #"event seq=1 at=2026-11-22T08:00:00Z kind=received actor=1000 sku=TSHIRT-M wh=PAR qty=40 po=PO-77 ref=ASN-9 id=k1 note="left dock""#)
        #expect(Rows.event(events[1], word: "done")
                == #"done seq=2 at=2026-11-22T08:00:01Z kind=adjusted actor=1000 sku=TSHIRT-M wh=PAR delta=-2 reason="broken pallet""#)
    }

    @Test func reservationTransferAndReorderRows() {
        let reservation = Reservation(id: "r2", sku: "A", wh: "W", held: 3, expiresAt: RowsTests.start, ref: "ORDER-1", status: .open)
        #expect(Rows.reservation(reservation) == "reservation res=r2 sku=A wh=W qty=3 expires=2026-11-22T08:00:00Z ref=ORDER-1")
        let transfer = Transfer(id: "x2", sku: "A", from: "PAR", to: "LYS", shipped: 10, arrived: 4, lost: 1, eta: nil)
        #expect(Rows.transfer(transfer) == "transfer xfer=x2 sku=A from=PAR to=LYS qty=5 shipped=10 arrived=4 lost=1")
        var pair = PairState()
        pair.onHand = 5; pair.reorder = 12; pair.max = 40
        #expect(Rows.reorder(PairKey(sku: "A", wh: "W"), pair, suggest: 35)
                == "reorder sku=A wh=W projected=5 reorder=12 max=40 suggest=35")
    }
}
