import LedgerCore
import Testing

/// A fixed-seed random walk like `InvariantTests.randomWalkKeepsEveryInvariant`, through the promise
/// commands as well: backorders against orders and the cap, receipts with and without `po=`,
/// RESCHEDULE, CANCEL, EXTEND, partial releases, SELL res=, expiry and every promise policy. After
/// every step it checks the invariants, that `Ledger.check` accepts each event against the state
/// before it, and that a group of writes decided and folded over a partial state (as the writer
/// does) gives the same events and state; at the end, that one sku's events alone fold to that
/// sku's state at every seq, and that a full replay gives the live state.
@Suite struct PromiseWalkTests {
    typealias LCG = InvariantTests.LCG

    /// Two skus in two warehouses: few pairs, so reservations, orders and fills meet often.
    static let skus = ["A", "B"]
    static let warehouses = ["PAR", "LYS"]

    /// One random command, drawn with the ids the ledger knows (sorted, so the walk is the same on
    /// every run) and some it does not. Dates are drawn from `now`, so ETAs and windows pass.
    static func randomCommand(_ random: inout LCG, _ state: LedgerState, step: Int, now: Timestamp) -> Command {
        let sku = random.pick(skus), wh = random.pick(warehouses)
        let open = state.reservations.values.filter { $0.status == .open }.map(\.id).sorted()
        let awaiting = state.reservations.values.filter { $0.status == .open && !$0.lines.isEmpty }.map(\.id).sorted()
        let all = state.reservations.keys.sorted() + ["r-missing"]
        let reservation = random.chance(40) && !awaiting.isEmpty ? random.pick(awaiting)
            : random.chance(85) && !open.isEmpty ? random.pick(open) : random.pick(all)
        let pairOrders = state.pair(PairKey(sku: sku, wh: wh))?.openOrders.map(\.purchaseOrder) ?? []
        let orders = state.purchaseOrders.keys.sorted() + ["PO-missing"]
        let order = random.chance(75) && !pairOrders.isEmpty ? random.pick(pairOrders) : random.pick(orders)
        func maybe<T>(_ value: T) -> T? { random.chance(50) ? value : nil }
        func later(_ days: ClosedRange<Int64>) -> Timestamp {
            now.adding(seconds: random.int(days) * 86_400 + random.int(0...86_399))
        }
        switch random.next() % 20 {
        case 0, 1:
            return .receive(sku: sku, wh: wh, quantity: random.int(1...8), purchaseOrder: random.chance(55) ? order : nil)
        case 2: return .sell(sku: sku, wh: wh, quantity: random.int(1...8))
        case 3: return .sellReserved(reservation: reservation, quantity: maybe(random.int(1...6)))
        case 4, 5, 6, 16:
            let backorder = random.pick([Backorder.no, .order, .order, .cap, .cap])
            // `po=` only with backorder=po, as the protocol allows.
            let po = backorder == .order && random.chance(30) ? order : nil
            let priority = random.chance(40) ? UInt8(random.int(1...9)) : nil
            // Some ttls end before any promise, some after.
            let ttl = random.chance(25) ? random.int(60...(90 * 86_400)) : nil
            return .reserve(sku: sku, wh: wh, quantity: random.int(1...15), reservation: random.chance(5) ? random.pick(all) : nil,
                            ttlSeconds: ttl, terms: ReserveTerms(backorder: backorder, purchaseOrder: po, priority: priority))
        case 7: return .release(reservation: reservation, quantity: maybe(random.int(1...8)))
        case 8: return .expire(reservation: reservation)
        case 9: return .extend(reservation: reservation, ttlSeconds: random.int(60...(90 * 86_400)))
        case 10:
            return .transfer(sku: sku, from: wh, to: random.pick(warehouses), quantity: random.int(1...6), transfer: nil,
                             eta: maybe(later(1...10)))
        case 11:
            let transfers = state.transfers.values.filter(\.isOpen).map(\.id).sorted() + ["x-missing"]
            return .arrive(transfer: random.pick(transfers), quantity: random.chance(20) ? 0 : maybe(random.int(1...6)),
                           lost: maybe(random.int(0...2)))
        case 12:
            var delta = random.int(-6...3)
            if delta >= 0 { delta += 1 }
            return .adjust(sku: sku, wh: wh, delta: delta, reason: "walk")
        case 13: return .count(sku: sku, wh: wh, quantity: random.int(0...12), reason: nil)
        case 14: return .returnGoods(sku: sku, wh: wh, quantity: random.int(1...3))
        case 15:
            // ETAs up to 120 days out: beyond the 90-day longest hold too.
            return .expect(sku: sku, wh: wh, quantity: random.int(1...15), eta: later(1...120),
                           purchaseOrder: random.chance(8) ? order : "PO-\(step)", bind: random.chance(80))
        case 17:
            // Mostly orders that carry promises, whose lines must go somewhere.
            let promised = state.pairs.keys.sorted().flatMap { state.pairs[$0]!.openOrders.filter { $0.promised > 0 }.map(\.purchaseOrder) }
            return .cancel(purchaseOrder: random.chance(60) && !promised.isEmpty ? random.pick(promised) : order,
                           releaseOrphans: random.chance(50))
        case 18:
            let same = random.chance(15) ? state.purchaseOrder(order)?.eta : nil
            return .reschedule(purchaseOrder: order, eta: same ?? later(1...120), reason: nil)
        default:
            let until: Timestamp?? = random.chance(35) ? .some(random.chance(30) ? nil : later(-1...30)) : nil
            let eta: Timestamp?? = random.chance(35) ? .some(random.chance(30) ? nil : later(5...60)) : nil
            let promises = PromisePolicy(preorder: random.chance(60) ? random.int(0...20) : nil, preorderUntil: until, preorderETA: eta,
                                         padSeconds: maybe(random.int(0...4) * 86_400),
                                         fillByOrder: random.chance(15) ? random.chance(50) : nil)
            return .policy(sku: sku, wh: wh, safety: random.chance(25) ? random.int(0...8) : nil,
                           reorder: random.chance(25) ? random.int(0...10) : nil, max: nil, promises: promises)
        }
    }

    /// Checks each event of a write against the state before it, folds it into that replay and into
    /// the writer-style group, keeps the state after it and counts its kind: the step both walks share.
    static func checkAndFold(_ events: [Event], from before: LedgerState, group: inout LedgerState,
                             states: inout [UInt64: LedgerState], kinds: inout [EventKind: Int]) -> [String] {
        var found: [String] = []
        var replay = before
        for event in events {
            kinds[event.body.kind, default: 0] += 1
            if let refusal = Ledger.check(event, in: replay), !isKnownCheckGap(event) {
                found.append("check refuses \(event): \(refusal)")
            }
            Ledger.apply(event, to: &replay)
            Ledger.apply(event, to: &group)
            states[event.seq] = replay
        }
        return found
    }

    /// The refusal's case, and for the promise refusals that share a case, which one.
    static func refusalName(_ refusal: Refusal) -> String {
        switch refusal {
        case .insufficient, .insufficientFree, .unallocatable: "insufficient"
        case .unpromisable: "unpromisable"
        case .awaiting: "awaiting"
        case .notFound: "notFound"
        case .closed: "closed"
        case .limit: "limit"
        case .state(let text): text.hasPrefix("preorder closed since") ? "state preorder closed" : "state"
        case .argument(let text):
            ["ttl: ends", "eta: unchanged", "po: "].first { text.hasPrefix($0) }.map { "argument \($0)" } ?? "argument"
        }
    }

    /// The stored projections a group of writes reads through, as `LiveLedger` is for the writer.
    struct Projections: LedgerSource {
        let state: LedgerState
        func pair(_ key: PairKey) -> PairState? { state.pairs[key] }
        func reservation(_ id: String) -> Reservation? { state.reservations[id] }
        func transfer(_ id: String) -> Transfer? { state.transfers[id] }
        func purchaseOrder(_ id: String) -> PurchaseOrder? { state.purchaseOrders[id] }
    }

    /// What a group changed, written over the state it started from (`LiveLedger.absorb`).
    static func absorb(_ group: LedgerState, into base: LedgerState) -> LedgerState {
        var merged = base
        merged.pairs.merge(group.pairs) { _, new in new }
        merged.reservations.merge(group.reservations) { _, new in new }
        merged.transfers.merge(group.transfers) { _, new in new }
        merged.purchaseOrders.merge(group.purchaseOrders) { _, new in new }
        merged.lastSeq = group.lastSeq
        return merged
    }

    /// Events `Ledger.check` refuses although `decide` wrote them: gaps in check for promise events
    /// (PromiseTests pins each as a known issue; Check.swift is not this suite's to change). A
    /// `released` event whose reservation also gave up awaiting units is re-decided as a RELEASE of
    /// its held units only, which gives up awaiting units first; an `extended` event is re-decided
    /// from one second before its expiry, which refuses the longest ttl toward a promise beyond it.
    static func isKnownCheckGap(_ event: Event) -> Bool {
        switch event.body {
        case .released: event.decisions.moves.contains { $0.to == .released }
        case let .extended(_, _, _, expiresAt): expiresAt == event.recordedAt.adding(seconds: Limits.reservationTTLMaxSeconds)
        default: false
        }
    }

    @Test(arguments: [UInt64(7), 1_234, 99_991])
    func randomWalkKeepsEveryPromiseInvariant(seed: UInt64) {
        var random = LCG(state: seed)
        var ledger = LedgerHarness()
        var kinds: [EventKind: Int] = [:]
        var refusals: [String: Int] = [:]
        /// The live state after each seq, for the per-sku folds at the end.
        var states: [UInt64: LedgerState] = [0: LedgerState()]
        /// Pairs that were ever `fill=po`: they may keep free units while reservations wait.
        var everByOrder: Set<PairKey> = []
        var group = LedgerState()
        var groupBase = LedgerState()
        let steps = 1_500
        for step in 1...steps {
            if step % 25 == 1 {
                // A new group of writes: decided and folded over the projections as they stand.
                groupBase = ledger.state
                group = LedgerState(source: Projections(state: groupBase))
                group.lastSeq = groupBase.lastSeq
            }
            ledger.advance(seconds: random.int(0...14_400))
            let command = PromiseWalkTests.randomCommand(&random, ledger.state, step: step, now: ledger.now)
            let before = ledger.state
            let request = WriteRequest(command: command)
            let inGroup = Ledger.decideEvents(request, in: group, context: ledger.context())
            let result = ledger.runAll(command)
            guard inGroup == result else {
                Issue.record("seed \(seed) step \(step) \(command): over projections \(inGroup), over the whole state \(result)")
                return
            }
            switch result {
            case .success(let events):
                var found: [String] = []
                found += PromiseWalkTests.checkAndFold(events, from: before, group: &group, states: &states, kinds: &kinds)
                if events.count == 1 {
                    found += InvariantTests.breachProblems(events[0], before: before.pairs, after: ledger.state)
                }
                // InvariantTests' "open reservation holds 0" no longer holds: a backorder may only
                // await. promiseProblems states what does.
                found += InvariantTests.problems(in: ledger.state).filter { !$0.hasPrefix("open reservation") }
                found += Ledger.promiseProblems(in: ledger.state)
                if case let .policy(sku, wh, _, _, _, promises, _) = command, promises?.fillByOrder == true {
                    everByOrder.insert(PairKey(sku: sku, wh: wh))
                }
                found += PromiseWalkTests.fifoProblems(events[0], ledger.state, everByOrder: everByOrder)
                if step % 25 == 0 || step == steps {
                    let merged = PromiseWalkTests.absorb(group, into: groupBase)
                    if !merged.sameEntities(as: ledger.state) { found.append("the group folded over projections differs from the live state") }
                }
                guard found.isEmpty else {
                    Issue.record("seed \(seed) step \(step) after \(command) -> \(events.map(\.body)): \(found)")
                    return
                }
            case .failure(let refusal):
                refusals[PromiseWalkTests.refusalName(refusal), default: 0] += 1
                #expect(ledger.state.sameEntities(as: before), "a refusal changed the state")
            }
        }
        // The walk is only worth something if it went everywhere. `filled` needs more than 1,000
        // waiting reservations: PromiseTests makes that on purpose. Waitlists (§1f) are not walked.
        // Channels and allocation (§1b, §1c) are walked by ChannelWalkTests.
        let walked = Set(EventKind.allCases).subtracting([.filled, .waitlisted, .unwaitlisted, .allotted, .unallotted, .channelSet,
                                                          .routeSet, .allocated])
        #expect(Set(kinds.keys) == walked, "kinds never written: \(walked.subtracting(kinds.keys))")
        let expectedRefusals: Set = ["insufficient", "unpromisable", "awaiting", "notFound", "closed", "state",
                                     "state preorder closed", "argument", "argument ttl: ends", "argument eta: unchanged",
                                     "argument po: "]
        #expect(Set(refusals.keys) == expectedRefusals, "refusals never met: \(expectedRefusals.subtracting(refusals.keys))")
        #expect(ledger.events.count == Int(ledger.state.lastSeq))
        #expect(ledger.events.count > steps / 3)
        // Every bucket the walk is about was exercised.
        let everything = ledger.events.flatMap(\.decisions.moves)
        #expect(everything.contains { $0.to == .held } && everything.contains { $0.to == .released })
        #expect(everything.contains { if case .line(.cap, _) = $0.to { true } else { false } })
        #expect(everything.contains { if case .line(.none, _) = $0.to { true } else { false } })
        #expect(ledger.state.reservations.values.contains { $0.priority != Reservation.defaultPriority })
        // Slipped promises moved expiries.
        #expect(ledger.events.contains { !$0.decisions.expiries.isEmpty })

        // A full replay gives the live state; one sku's events alone give that sku's state at every seq.
        var replayed = LedgerState()
        for event in ledger.events { Ledger.apply(event, to: &replayed) }
        #expect(replayed.sameEntities(as: ledger.state))
        for sku in PromiseWalkTests.skus {
            var alone = LedgerState()
            for event in ledger.events where event.sku == sku {
                Ledger.apply(event, to: &alone)
                let live = states[event.seq]!
                guard alone.pairs == live.pairs.filter({ $0.key.sku == sku })
                        && alone.reservations == live.reservations.filter({ $0.value.sku == sku })
                        && alone.transfers == live.transfers.filter({ $0.value.sku == sku })
                        && alone.purchaseOrders == live.purchaseOrders.filter({ $0.value.sku == sku }) else {
                    Issue.record("seed \(seed): sku \(sku) folded alone differs from the live state at seq \(event.seq)")
                    return
                }
            }
        }
    }

    /// With `fill=fifo`, free units never sit while reservations of the pair wait: every event
    /// that frees units fills them. A pair switched back from `fill=po` may keep free units that
    /// waited under it until the next event frees units there.
    static func fifoProblems(_ event: Event, _ state: LedgerState, everByOrder: Set<PairKey>) -> [String] {
        var problems: [String] = []
        let frees: Bool
        switch event.body {
        case .received, .returned, .transferArrived, .released, .expired: frees = true
        case let .adjusted(_, _, delta, _), let .counted(_, _, _, delta, _): frees = delta > 0
        default: frees = false
        }
        for (key, pair) in state.pairs where !pair.fillByOrder && !pair.waiting.isEmpty && pair.available > 0 {
            let freedHere = frees && key == PairKey(sku: event.sku, wh: event.body.warehouses.last!)
            if freedHere || !everByOrder.contains(key) {
                problems.append("\(key.sku)/\(key.wh) has \(pair.available) free units while \(pair.waiting.count) reservations wait")
            }
        }
        return problems
    }
}
