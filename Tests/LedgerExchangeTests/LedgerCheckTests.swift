import LedgerCore
import LedgerExchange
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

    @Test("allocations written by decide (fence parts, a dip below safety, awaiting units) leave as JSON and come back equal, and pass check")
    func allocationsImport() throws {
        let t = LedgerCheckTests.time
        let requests: [Command] = [
            .receive(sku: "A", wh: "PAR", quantity: 6, purchaseOrder: nil),
            .receive(sku: "A", wh: "LIL", quantity: 4, purchaseOrder: nil),
            .policy(sku: "A", wh: "LIL", safety: 3, reorder: nil, max: nil),
            .allot(sku: "A", wh: "PAR", channel: "b2b", quantity: 4, until: nil),
            .route(region: "FR", warehouses: ["PAR", "LIL"]),
            .expect(sku: "A", wh: "PAR", quantity: 9, eta: t.adding(seconds: 10 * 86_400), purchaseOrder: "P1"),
            .allocate(AllocateRequest(sku: "A", quantity: 5, region: "FR", strategy: .rank, alloc: "B",
                                      terms: ReserveTerms(channel: "b2b"))),
            .allocate(AllocateRequest(sku: "A", quantity: 9, region: "FR", strategy: .surplus, alloc: "W",
                                      terms: ReserveTerms(backorder: .order))),
        ]
        var state = LedgerState()
        var allocations: [Event] = []
        for (index, command) in requests.enumerated() {
            let context = DecisionContext(now: t.adding(seconds: Int64(index)), seq: state.lastSeq + 1, actor: 0)
            let event = try Ledger.decide(WriteRequest(command: command), in: state, context: context).get()
            let back = try JSONLine.parse(Array(JSONLine.event(event).utf8))
            #expect(back == event, "\(JSONLine.event(event))")
            #expect(Ledger.check(back, in: state) == nil, "\(command)")
            if case .allocated = event.body { allocations.append(event) }
            Ledger.apply(back, to: &state)
        }
        // The story has what the event row alone would lose: a fence part, a line below safety, awaiting units.
        let lines = allocations.flatMap { event -> [AllocationLine] in
            if case let .allocated(_, _, lines, _, _, _) = event.body { return lines } else { return [] }
        }
        #expect(lines.contains { $0.fence > 0 } && lines.contains { $0.belowSafety })
        #expect(allocations.contains { !$0.decisions.moves.isEmpty })
    }

    @Test("a promise story written by decide passes check, event by event, and a changed decision does not")
    func promiseHistoryPasses() throws {
        let t = LedgerCheckTests.time
        let requests: [Command] = [
            .receive(sku: "A", wh: "W", quantity: 2, purchaseOrder: nil),
            .policy(sku: "A", wh: "W", safety: nil, reorder: nil, max: nil,
                    promises: PromisePolicy(preorder: 5, preorderETA: t.adding(seconds: 60 * 86_400), padSeconds: 86_400)),
            .expect(sku: "A", wh: "W", quantity: 4, eta: t.adding(seconds: 10 * 86_400), purchaseOrder: "P1"),
            .reserve(sku: "A", wh: "W", quantity: 5, reservation: "r1", ttlSeconds: nil, terms: ReserveTerms(backorder: .order)),
            .reserve(sku: "A", wh: "W", quantity: 4, reservation: "r2", ttlSeconds: 200 * 86_400 / 3,
                     terms: ReserveTerms(backorder: .cap, priority: 2)),
            .reschedule(purchaseOrder: "P1", eta: t.adding(seconds: 20 * 86_400), reason: nil),
            .wait(sku: "A", wh: nil, subscriber: "s1", quantity: 2, channel: nil),
            .expect(sku: "A", wh: "W", quantity: 3, eta: t.adding(seconds: 30 * 86_400), purchaseOrder: "P2"),
            .cancel(purchaseOrder: "P1"),
            .receive(sku: "A", wh: "W", quantity: 5, purchaseOrder: "P2"),
            .extend(reservation: "r2", ttlSeconds: 80 * 86_400),
            .release(reservation: "r2", quantity: 1),
            .unwait(sku: "A", wh: nil, subscriber: "s1", reason: "notified"),
        ]
        var state = LedgerState()
        for (index, command) in requests.enumerated() {
            let context = DecisionContext(now: t.adding(seconds: Int64(index)), seq: state.lastSeq + 1, actor: 0)
            let event = try Ledger.decide(WriteRequest(command: command), in: state, context: context).get()
            #expect(Ledger.check(event, in: state) == nil, "\(command)")
            if !event.decisions.moves.isEmpty {
                // A decision decide would not have taken (another reservation) is refused.
                var changed = event
                changed.decisions.moves[0].reservation = "r-other"
                #expect(Ledger.check(changed, in: state) != nil, "a changed decision of \(command) passed")
            }
            Ledger.apply(event, to: &state)
        }
        let pair = try #require(state.pair(PairKey(sku: "A", wh: "W")))
        #expect(pair.onHand == 7 && pair.promised == 0 && pair.waiting.isEmpty == (pair.awaiting == 0))
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
