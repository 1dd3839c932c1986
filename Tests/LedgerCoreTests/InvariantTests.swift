import LedgerCore
import Testing

/// A fixed-seed pseudo-random walk through every command, checking after each step the invariants
/// that `decide` promises to keep and the fold relies on.
@Suite struct InvariantTests {
    /// Knuth's MMIX linear congruential generator; the high bits are the good ones.
    struct LCG {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        mutating func int(_ range: ClosedRange<Int64>) -> Int64 {
            range.lowerBound + Int64(next() % UInt64(range.upperBound - range.lowerBound + 1))
        }
        mutating func chance(_ percent: UInt64) -> Bool { next() % 100 < percent }
        mutating func pick<T>(_ items: [T]) -> T { items[Int(next() % UInt64(items.count))] }
    }

    static let skus = ["A", "B"]
    static let warehouses = ["PAR", "LYS", "BER"]

    /// One random command, drawn with the ids the ledger knows (sorted, so the walk is the same on
    /// every run) and some it does not.
    static func randomCommand(_ random: inout LCG, _ state: LedgerState, step: Int) -> Command {
        let sku = random.pick(skus), wh = random.pick(warehouses)
        let reservations = state.reservations.keys.sorted() + ["r-missing"]
        let transfers = state.transfers.keys.sorted() + ["x-missing"]
        let orders = state.purchaseOrders.keys.sorted() + ["PO-missing"]
        func maybe(_ value: Int64) -> Int64? { random.chance(50) ? value : nil }
        switch random.next() % 14 {
        case 0:
            return .receive(sku: sku, wh: wh, quantity: random.int(1...30),
                            purchaseOrder: random.chance(50) ? random.pick(orders) : nil)
        case 1: return .sell(sku: sku, wh: wh, quantity: random.int(1...15))
        case 2: return .sellReserved(reservation: random.pick(reservations), quantity: maybe(random.int(1...6)))
        case 3:
            return .reserve(sku: sku, wh: wh, quantity: random.int(1...10),
                            reservation: random.chance(15) ? random.pick(reservations) : nil,
                            ttlSeconds: maybe(random.int(1...3_600)))
        case 4: return .release(reservation: random.pick(reservations), quantity: maybe(random.int(1...6)))
        case 5: return .expire(reservation: random.pick(reservations))
        case 6:
            return .transfer(sku: sku, from: wh, to: random.pick(warehouses), quantity: random.int(1...10),
                             transfer: random.chance(15) ? random.pick(transfers) : nil,
                             eta: random.chance(50) ? Timestamp(seconds: random.int(1_800_000_000...1_900_000_000)) : nil)
        case 7:
            // qty=0 with lost writes units off without any arriving (a transfer_lost event).
            return .arrive(transfer: random.pick(transfers), quantity: random.chance(30) ? 0 : maybe(random.int(1...6)),
                           lost: maybe(random.int(0...4)))
        case 8:
            var delta = random.int(-10...9)
            if delta >= 0 { delta += 1 }
            return .adjust(sku: sku, wh: wh, delta: delta, reason: "walk")
        case 9: return .count(sku: sku, wh: wh, quantity: random.int(0...30), reason: nil)
        case 10: return .returnGoods(sku: sku, wh: wh, quantity: random.int(1...5))
        case 11:
            return .expect(sku: sku, wh: wh, quantity: random.int(1...20),
                           eta: Timestamp(seconds: random.int(1_800_000_000...1_900_000_000)),
                           purchaseOrder: random.chance(20) ? random.pick(orders) : "PO-\(step)")
        case 12: return .cancel(purchaseOrder: random.pick(orders))
        default:
            return .policy(sku: sku, wh: wh, safety: maybe(random.int(0...15)), reorder: maybe(random.int(0...20)),
                           max: maybe(random.int(0...40)))
        }
    }

    /// Every broken invariant of `state`, in words; empty when all hold.
    static func problems(in state: LedgerState) -> [String] {
        var problems: [String] = []
        var reservedByPair: [PairKey: Int64] = [:]
        for reservation in state.reservations.values {
            if reservation.status == .open {
                reservedByPair[reservation.pair, default: 0] += reservation.held
                if reservation.held <= 0 { problems.append("open reservation \(reservation.id) holds \(reservation.held)") }
            } else if reservation.held != 0 {
                problems.append("\(reservation.status.name) reservation \(reservation.id) still holds \(reservation.held)")
            }
        }
        var inboundByPair: [PairKey: Int64] = [:]
        for transfer in state.transfers.values {
            if transfer.inTransit < 0 { problems.append("transfer \(transfer.id) has \(transfer.inTransit) in transit") }
            if transfer.isOpen { inboundByPair[PairKey(sku: transfer.sku, wh: transfer.to), default: 0] += transfer.inTransit }
        }
        for order in state.purchaseOrders.values where order.isOpen {
            let lines = state.pairs[order.pair]?.openOrders.filter { $0.purchaseOrder == order.id } ?? []
            if lines.count != 1 { problems.append("open order \(order.id) has \(lines.count) lines in its pair") }
        }
        for key in Set(reservedByPair.keys).union(inboundByPair.keys) where state.pairs[key] == nil {
            problems.append("\(key.sku)/\(key.wh) has reservations or inbound but no pair")
        }
        for (key, pair) in state.pairs {
            let name = "\(key.sku)/\(key.wh)"
            if pair.onHand < 0 || pair.reserved < 0 || pair.inbound < 0 {
                problems.append("\(name) has a negative bucket: \(pair)")
            }
            if pair.available < 0 { problems.append("\(name) available \(pair.available)") }
            if pair.reserved != reservedByPair[key, default: 0] {
                problems.append("\(name) reserved \(pair.reserved) but open reservations hold \(reservedByPair[key, default: 0])")
            }
            if pair.inbound != inboundByPair[key, default: 0] {
                problems.append("\(name) inbound \(pair.inbound) but open transfers carry \(inboundByPair[key, default: 0])")
            }
            if pair.isBreached != (pair.breachSince != nil) {
                problems.append("\(name) breached=\(pair.isBreached) but since=\(String(describing: pair.breachSince))")
            }
            if pair.isBreached, pair.breachLowest > pair.available {
                problems.append("\(name) lowest \(pair.breachLowest) above available \(pair.available)")
            }
            for line in pair.openOrders {
                let order = state.purchaseOrders[line.purchaseOrder]
                if order?.isOpen != true || order?.pair != key || line.remaining <= 0 {
                    problems.append("\(name) lists order \(line.purchaseOrder) (\(line.remaining) left) that is not open here")
                }
            }
        }
        return problems
    }

    /// How an event moved the breach of each pair it touched.
    static func breachProblems(_ event: Event, before: [PairKey: PairState], after state: LedgerState) -> [String] {
        var problems: [String] = []
        for wh in event.body.warehouses {
            let key = PairKey(sku: event.sku, wh: wh)
            guard let new = state.pairs[key] else { problems.append("\(event.body.kind.name) left no pair \(wh)"); continue }
            let old = before[key]
            switch (old?.breachSince, new.breachSince) {
            case (nil, let since?) where since != event.recordedAt:
                problems.append("breach of \(wh) began at \(since), not at the event's \(event.recordedAt)")
            case (nil, _?) where new.breachLowest != new.available:
                problems.append("breach of \(wh) began with lowest \(new.breachLowest), available \(new.available)")
            case (let was?, let since?) where was != since:
                problems.append("breach of \(wh) moved its start from \(was) to \(since)")
            case (_?, _?) where new.breachLowest != min(old!.breachLowest, new.available):
                problems.append("breach of \(wh) lowest \(new.breachLowest), expected \(min(old!.breachLowest, new.available))")
            default: break
            }
        }
        return problems
    }

    static func refusalName(_ refusal: Refusal) -> String {
        switch refusal {
        case .insufficient, .unpromisable, .insufficientFree, .unallocatable: "insufficient"
        case .notFound: "notFound"
        case .state, .closed, .awaiting: "state"
        case .limit: "limit"
        case .argument: "argument"
        }
    }

    @Test(arguments: [UInt64(1), 42, 2_026])
    func randomWalkKeepsEveryInvariant(seed: UInt64) {
        var random = LCG(state: seed)
        var ledger = LedgerHarness()
        var kinds: [EventKind: Int] = [:]
        var refusals: [String: Int] = [:]
        let steps = 800
        for step in 1...steps {
            ledger.advance(seconds: random.int(0...120))
            let command = InvariantTests.randomCommand(&random, ledger.state, step: step)
            let before = ledger.state.pairs
            switch ledger.run(command) {
            case .success(let event):
                kinds[event.body.kind, default: 0] += 1
                let found = InvariantTests.breachProblems(event, before: before, after: ledger.state)
                    + InvariantTests.problems(in: ledger.state)
                guard found.isEmpty else {
                    Issue.record("seed \(seed) step \(step) after \(command): \(found)")
                    return
                }
            case .failure(let refusal):
                refusals[InvariantTests.refusalName(refusal), default: 0] += 1
                #expect(ledger.state.pairs == before, "a refusal changed the state")
            }
        }
        // The walk is only worth something if it went everywhere.
        // This walk covers the kinds before promises; PromiseWalkTests walks those.
        let walked = Set(EventKind.allCases.filter { $0.rawValue < EventKind.rescheduled.rawValue })
        #expect(Set(kinds.keys) == walked, "kinds never written: \(walked.subtracting(kinds.keys))")
        #expect(Set(refusals.keys) == ["insufficient", "notFound", "state", "argument"])
        #expect(ledger.events.count == Int(ledger.state.lastSeq))
        #expect(ledger.events.count > steps / 4)

        // Each event names every field the fold needs: folding one sku's events alone gives that
        // sku's entities exactly (what point-in-time answers rely on).
        for sku in InvariantTests.skus {
            var alone = LedgerState()
            for event in ledger.events where event.sku == sku { Ledger.apply(event, to: &alone) }
            #expect(alone.pairs == ledger.state.pairs.filter { $0.key.sku == sku })
            #expect(alone.reservations == ledger.state.reservations.filter { $0.value.sku == sku })
            #expect(alone.transfers == ledger.state.transfers.filter { $0.value.sku == sku })
            #expect(alone.purchaseOrders == ledger.state.purchaseOrders.filter { $0.value.sku == sku })
        }
    }
}
