import LedgerCore
import Testing

/// `Ledger.check` against `decide`: what decide writes passes; anything else is refused.
@Suite("Ledger.check")
struct LedgerCheckTests {
    static let time = Timestamp(rfc3339: "2026-11-22T08:00:00Z")!

    static func event(_ seq: UInt64, _ body: EventBody) -> Event {
        Event(seq: seq, recordedAt: time, actor: 0, body: body)
    }

    static func state(_ bodies: [EventBody]) -> LedgerState {
        var state = LedgerState()
        for (index, body) in bodies.enumerated() {
            let event = event(UInt64(index + 1), body)
            #expect(Ledger.check(event, in: state) == nil, "\(body)")
            Ledger.apply(event, to: &state)
        }
        return state
    }

    @Test("a history written by decide passes, event by event, every kind")
    func historyPasses() {
        let state = LedgerCheckTests.state([
            .received(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil),
            .reserved(reservation: "r1", sku: "A", wh: "W", quantity: 3, expiresAt: LedgerCheckTests.time.adding(seconds: 60)),
            .sold(sku: "A", wh: "W", quantity: 1, reservation: "r1"),
            .released(reservation: "r1", sku: "A", wh: "W", quantity: 1),
            .expired(reservation: "r1", sku: "A", wh: "W", quantity: 1),
            .sold(sku: "A", wh: "W", quantity: 2, reservation: nil),
            .transferShipped(transfer: "x1", sku: "A", from: "W", to: "V", quantity: 4, eta: nil),
            .transferArrived(transfer: "x1", sku: "A", from: "W", to: "V", quantity: 2, lost: 1),
            .transferLost(transfer: "x1", sku: "A", from: "W", to: "V", lost: 1),
            .adjusted(sku: "A", wh: "W", delta: -1, reason: "broken"),
            .counted(sku: "A", wh: "W", quantity: 5, delta: 3, reason: nil),
            .returned(sku: "A", wh: "V", quantity: 1),
            .expected(purchaseOrder: "P1", sku: "A", wh: "W", quantity: 5, eta: LedgerCheckTests.time),
            .cancelled(purchaseOrder: "P1", sku: "A", wh: "W", quantity: 5),
            .policySet(sku: "A", wh: "W", safety: 1, reorder: nil, max: nil),
        ])
        #expect(state.pair(PairKey(sku: "A", wh: "W"))?.onHand == 5)
    }

    @Test("what decide would not write is refused", arguments: [
        (EventBody.sold(sku: "A", wh: "W", quantity: 6, reservation: nil),
         Refusal.insufficient(available: 5, requested: 6, sku: "A", wh: "W")),
        (.released(reservation: "r9", sku: "A", wh: "W", quantity: 1), .notFound(.reservation, "r9")),
        (.counted(sku: "A", wh: "W", quantity: 7, delta: 1, reason: nil),
         .state("the ledger as it stands records this as counted(sku: \"A\", wh: \"W\", quantity: 7, delta: 2, reason: nil), "
                + "not counted(sku: \"A\", wh: \"W\", quantity: 7, delta: 1, reason: nil)")),
    ])
    func refusals(body: EventBody, refusal: Refusal) {
        let state = LedgerCheckTests.state([.received(sku: "A", wh: "W", quantity: 5, purchaseOrder: nil)])
        #expect(Ledger.check(LedgerCheckTests.event(2, body), in: state) == refusal)
    }

    @Test("a sale names the reservation's own sku and warehouse")
    func reservationElsewhere() {
        let state = LedgerCheckTests.state([
            .received(sku: "A", wh: "W", quantity: 5, purchaseOrder: nil),
            .reserved(reservation: "r1", sku: "A", wh: "W", quantity: 3, expiresAt: LedgerCheckTests.time.adding(seconds: 60)),
        ])
        #expect(Ledger.check(LedgerCheckTests.event(3, .sold(sku: "A", wh: "V", quantity: 1, reservation: "r1")), in: state) != nil)
    }
}
