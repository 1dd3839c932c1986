import LedgerCore
import Testing

/// A fixed-seed random walk like `PromiseWalkTests`, through the channel and allocation commands:
/// fences (ALLOT, lapses), CHANNEL defaults, POLICY overrides, sales, holds and transfers drawn on
/// channel views, negative corrections that cut fences, routes, ALLOCATE with every strategy and
/// option, RELEASE alloc=, mixed with receipts, orders and backorders. After every step it checks
/// the invariants (fenced ≤ available, no fence and no view negative, each allocation's lines make
/// exactly the reservations it says), that `Ledger.check` accepts each event against the state
/// before it, and that a group of writes over partial state gives the same events and state; at
/// the end, that a full replay gives the live state and that one sku's events merged with the `*`
/// configuration events in seq order (what `STOCK at=` folds) give that sku's state at every seq.
@Suite struct ChannelWalkTests {
    typealias LCG = InvariantTests.LCG

    static let skus = ["A", "B"]
    /// Four warehouses, so an allocation has somewhere to choose.
    static let warehouses = ["PAR", "LIL", "LYS", "BER"]
    static let channels = ["web", "mkp", "b2b", "store"]
    static let regions = ["FR-N", "FR-S"]

    /// Channel names a pair knows: its fences and overrides, the defaults, and the walk's own.
    static func knownChannels(_ pair: PairState, _ state: LedgerState) -> Set<String> {
        Set(pair.fences.keys).union(pair.channelRules.keys).union(channels)
            .union(state.pair(PairKey.configuration)?.channelRules.keys.map { $0 } ?? [])
    }

    static func randomCommand(_ random: inout LCG, _ state: LedgerState, step: Int, now: Timestamp) -> Command {
        let sku = random.pick(skus), wh = random.pick(warehouses)
        let channel: String? = random.chance(65) ? random.pick(channels) : nil
        let open = state.reservations.values.filter { $0.status == .open }.map(\.id).sorted()
        let all = state.reservations.keys.sorted() + ["r-missing"]
        let reservation = random.chance(85) && !open.isEmpty ? random.pick(open) : random.pick(all)
        let allocs = Set(state.reservations.values.compactMap(\.alloc)).sorted() + ["a-missing"]
        let orders = state.purchaseOrders.keys.sorted() + ["PO-missing"]
        let pair = state.pair(PairKey(sku: sku, wh: wh)) ?? PairState()
        func maybe<T>(_ value: T) -> T? { random.chance(50) ? value : nil }
        func rules() -> ChannelRules {
            ChannelRules(share: random.chance(60) ? (random.chance(5) ? 101 : random.int(0...100)) : nil,
                         buffer: random.chance(40) ? random.int(0...6) : nil, max: random.chance(30) ? random.int(0...15) : nil,
                         low: random.chance(20) ? random.int(0...5) : nil)
        }
        func warehouseList() -> [String] {
            var list = warehouses.filter { _ in random.chance(60) }
            if list.isEmpty { list = [random.pick(warehouses)] }
            // Shuffled, so rank orders differ; now and then one twice (refused).
            for index in list.indices.reversed() { list.swapAt(index, Int(random.next() % UInt64(index + 1))) }
            if random.chance(3) { list.append(list[0]) }
            return list
        }
        switch random.next() % 24 {
        case 0, 1:
            return .receive(sku: sku, wh: wh, quantity: random.int(1...12), purchaseOrder: random.chance(30) ? random.pick(orders) : nil)
        case 2, 3: return .sell(sku: sku, wh: wh, quantity: random.int(1...8), channel: channel)
        case 4: return .sellReserved(reservation: reservation, quantity: maybe(random.int(1...6)))
        case 5, 6:
            return .reserve(sku: sku, wh: wh, quantity: random.int(1...10), reservation: random.chance(4) ? random.pick(all) : nil,
                            ttlSeconds: maybe(random.int(60...86_400)),
                            terms: ReserveTerms(backorder: random.chance(25) ? .order : .no, channel: channel))
        case 7: return .release(reservation: reservation, quantity: maybe(random.int(1...6)))
        case 8: return .expire(reservation: reservation)
        case 9:
            return .transfer(sku: sku, from: wh, to: random.pick(warehouses), quantity: random.int(1...6), transfer: nil, eta: nil,
                             channel: channel)
        case 10:
            let transfers = state.transfers.values.filter(\.isOpen).map(\.id).sorted() + ["x-missing"]
            return .arrive(transfer: random.pick(transfers), quantity: nil, lost: maybe(random.int(0...1)))
        case 11:
            // Mostly losses, which cut fences once the free pool is gone.
            var delta = random.int(-8...2)
            if delta >= 0 { delta += 1 }
            return .adjust(sku: sku, wh: wh, delta: delta, reason: "walk")
        case 12: return .count(sku: sku, wh: wh, quantity: random.int(0...max(0, pair.onHand - 1)), reason: nil)
        case 13:
            return .expect(sku: sku, wh: wh, quantity: random.int(1...10), eta: now.adding(seconds: random.int(1...60) * 86_400),
                           purchaseOrder: "PO-\(step)")
        case 14, 15:
            // Absolute fences: some beyond free (refused), some 0 (removed).
            let known = pair.fences.keys.sorted()
            let name = random.chance(40) && !known.isEmpty ? random.pick(known) : random.pick(channels)
            let quantity = random.chance(20) ? 0 : random.int(1...max(1, pair.free + (pair.fences[name] ?? 0) + 3))
            return .allot(sku: sku, wh: wh, channel: name, quantity: quantity, until: nil)
        case 16:
            // The daemon's own lapse of a fence (ALLOT until=).
            let known = pair.fences.keys.sorted()
            return .unallot(sku: sku, wh: wh, channel: known.isEmpty ? random.pick(channels) : random.pick(known))
        case 17: return .channel(channel: random.pick(channels), rules: rules())
        case 18:
            let inherit = random.chance(25)
            return .policy(sku: sku, wh: wh, safety: nil, reorder: nil, max: nil,
                           channel: ChannelPolicy(channel: random.pick(channels), rules: inherit ? ChannelRules() : rules(), inherit: inherit))
        case 19:
            return .route(region: random.pick(regions) + (random.chance(5) ? "-Z" : ""), warehouses: random.chance(10) ? [] : warehouseList())
        case 20, 21, 22:
            let byRegion = random.chance(60)
            let split = random.chance(50) ? Limits.allocationLinesMax : Int(random.int(1...3))
            let request = AllocateRequest(
                sku: sku, quantity: random.int(1...20), region: byRegion ? random.pick(regions) + (random.chance(5) ? "-Z" : "") : nil,
                warehouses: byRegion ? nil : warehouseList(), strategy: random.pick(AllocationStrategy.allCases), split: split,
                partial: random.chance(40), exclude: random.chance(20) ? [random.pick(warehouses)] : [],
                alloc: random.chance(10) ? random.pick(allocs) : nil, ttlSeconds: maybe(random.int(60...86_400)),
                terms: ReserveTerms(backorder: random.chance(25) ? .order : .no, priority: random.chance(20) ? UInt8(random.int(1...9)) : nil,
                                    channel: channel))
            return .allocate(request)
        default:
            if random.chance(50) { return .releaseAllocation(alloc: random.pick(allocs)) }
            return .policy(sku: sku, wh: wh, safety: random.int(0...8), reorder: nil, max: nil)
        }
    }

    /// Channel invariants of a state, in words: none when all hold.
    static func channelProblems(in state: LedgerState) -> [String] {
        var problems: [String] = []
        let defaults = state.pair(PairKey.configuration)
        for (key, pair) in state.pairs.sorted(by: { "\($0.key.sku)/\($0.key.wh)" < "\($1.key.sku)/\($1.key.wh)" }) {
            let name = "\(key.sku)/\(key.wh)"
            if pair.fenced > pair.available { problems.append("\(name) fences \(pair.fenced) of \(pair.available) available") }
            for (channel, fence) in pair.fences where fence < 0 { problems.append("\(name) fence \(channel) is \(fence)") }
            for channel in knownChannels(pair, state).sorted() where pair.view(channel, defaults: defaults) < 0 {
                problems.append("\(name) view of \(channel) is \(pair.view(channel, defaults: defaults))")
            }
            if pair.view(nil, defaults: defaults) != pair.free { problems.append("\(name) view with no channel is not free") }
        }
        for reservation in state.reservations.values where reservation.fence < 0 || reservation.fence > reservation.held {
            problems.append("reservation \(reservation.id) drew \(reservation.fence) from its fence but holds \(reservation.held)")
        }
        for reservation in state.reservations.values where reservation.fence > 0 && reservation.channel == nil {
            problems.append("reservation \(reservation.id) drew on a fence with no channel")
        }
        return problems
    }

    /// What an `allocated` event promised against what the fold made of it: each line a new
    /// reservation holding its units (its fence part taken from the fence) and awaiting its moves;
    /// every pair's reserved up by its lines; all of the request unless partial; within split.
    static func allocationProblems(_ event: Event, _ request: AllocateRequest, before: LedgerState, after: LedgerState) -> [String] {
        guard case let .allocated(alloc, sku, lines, expiresAt, requested, strategy) = event.body else { return ["not allocated"] }
        var problems: [String] = []
        var held: [String: Int64] = [:], fenced: [String: Int64] = [:]
        var total: Int64 = 0
        for line in lines {
            let awaiting = event.decisions.moves.filter { $0.reservation == line.reservation }.reduce(Int64(0)) { $0 + $1.quantity }
            total += line.quantity + awaiting
            held[line.wh, default: 0] += line.quantity
            fenced[line.wh, default: 0] += line.fence
            guard let made = after.reservation(line.reservation), before.reservation(line.reservation) == nil else {
                problems.append("line \(line.reservation) is not a new reservation")
                continue
            }
            if made.held != line.quantity || made.awaiting != awaiting || made.fence != line.fence || made.alloc != alloc
                || made.wh != line.wh || made.expiresAt != expiresAt || made.channel != request.terms.channel {
                problems.append("line \(line.reservation) made \(made)")
            }
        }
        if Set(lines.map(\.wh)).count != lines.count { problems.append("a warehouse has two lines: \(lines)") }
        if lines.count > request.split { problems.append("\(lines.count) lines, split \(request.split)") }
        if total > requested || (!request.partial && total != requested) || requested != request.quantity {
            problems.append("lines and awaiting units sum to \(total) of \(requested) (partial \(request.partial))")
        }
        if strategy != request.strategy.rawValue { problems.append("strategy \(strategy)") }
        for (wh, units) in held {
            let key = PairKey(sku: sku, wh: wh)
            let was = before.pair(key) ?? PairState(), now = after.pair(key) ?? PairState()
            if now.reserved - was.reserved != units { problems.append("\(wh) reserved +\(now.reserved - was.reserved), its lines hold \(units)") }
            if let channel = request.terms.channel, (was.fences[channel] ?? 0) - (now.fences[channel] ?? 0) != fenced[wh] {
                problems.append("\(wh) fence \(channel) went from \(was.fences[channel] ?? 0) to \(now.fences[channel] ?? 0), lines drew \(fenced[wh]!)")
            }
            if request.exclude.contains(wh) { problems.append("\(wh) was excluded") }
        }
        return problems
    }

    /// With `fill=fifo` (the walk never sets fill=po), free units never sit while a reservation of
    /// no channel waits in the pair. Fenced units are not free: they do not fill. A channel's
    /// backorder holds only its view and may leave free units while it waits (until the next event
    /// that frees units fills it from the whole pool: `ChannelTests.aFillIgnoresTheChannelsShare`).
    static func fifoProblems(_ state: LedgerState) -> [String] {
        state.pairs.filter { key, pair in
            pair.free > 0 && pair.waiting.contains { state.reservation($0.reservation)?.channel == nil }
        }.map { key, pair in
            "\(key.sku)/\(key.wh) has \(pair.free) free units while \(pair.waiting.count) reservations wait"
        }
    }

    static func refusalName(_ refusal: Refusal) -> String {
        switch refusal {
        case .insufficient: "insufficient"
        case .insufficientFree: "insufficient free"
        case .unallocatable: "unallocatable"
        case .unpromisable: "unpromisable"
        case .notFound(let entity, _): "notFound \(entity.rawValue)"
        case .closed: "closed"
        case .limit: "limit"
        case .awaiting: "awaiting"
        case .state(let text): text.hasPrefix("alloc=") ? "state alloc" : "state"
        case .argument(let text): ["share:", "wh:"].first { text.hasPrefix($0) }.map { "argument \($0)" } ?? "argument"
        }
    }

    @Test(arguments: [UInt64(11), 4_242, 77_777])
    func randomWalkKeepsEveryChannelInvariant(seed: UInt64) {
        var random = LCG(state: seed)
        var ledger = LedgerHarness()
        var kinds: [EventKind: Int] = [:]
        var refusals: [String: Int] = [:]
        var states: [UInt64: LedgerState] = [0: LedgerState()]
        var group = LedgerState(), groupBase = LedgerState()
        let steps = 2_000
        for step in 1...steps {
            if step % 25 == 1 {
                groupBase = ledger.state
                group = LedgerState(source: PromiseWalkTests.Projections(state: groupBase))
                group.lastSeq = groupBase.lastSeq
            }
            ledger.advance(seconds: random.int(0...3_600))
            let command = ChannelWalkTests.randomCommand(&random, ledger.state, step: step, now: ledger.now)
            let before = ledger.state
            let inGroup = Ledger.decideEvents(WriteRequest(command: command), in: group, context: ledger.context())
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
                if case let .allocate(request) = command {
                    found += ChannelWalkTests.allocationProblems(events[0], request, before: before, after: ledger.state)
                }
                if case .releaseAllocation = command {
                    if !events.allSatisfy({ if case .released = $0.body { true } else { false } }) { found.append("RELEASE alloc= wrote \(events)") }
                    let alloc = ledger.state.reservation(events[0].body.reservationID ?? "")?.alloc
                    let stillOpen = ledger.state.reservations.values.filter { $0.alloc == alloc && $0.status == .open }
                    if alloc == nil || !stillOpen.isEmpty { found.append("RELEASE alloc= left \(stillOpen.map(\.id)) open") }
                }
                found += InvariantTests.problems(in: ledger.state).filter { !$0.hasPrefix("open reservation") }
                found += Ledger.promiseProblems(in: ledger.state)
                found += ChannelWalkTests.channelProblems(in: ledger.state)
                found += ChannelWalkTests.fifoProblems(ledger.state)
                if step % 25 == 0 || step == steps {
                    let merged = PromiseWalkTests.absorb(group, into: groupBase)
                    if !merged.sameEntities(as: ledger.state) { found.append("the group folded over projections differs from the live state") }
                }
                guard found.isEmpty else {
                    Issue.record("seed \(seed) step \(step) after \(command) -> \(events.map(\.body)): \(found)")
                    return
                }
            case .failure(let refusal):
                refusals[ChannelWalkTests.refusalName(refusal), default: 0] += 1
                #expect(ledger.state.sameEntities(as: before), "a refusal changed the state")
            }
        }
        // The walk went everywhere it is about.
        let channelKinds: Set<EventKind> = [.allotted, .unallotted, .channelSet, .routeSet, .allocated, .released, .expired,
                                            .sold, .reserved, .adjusted, .counted, .transferShipped, .policySet]
        #expect(channelKinds.isSubset(of: kinds.keys), "kinds never written: \(channelKinds.subtracting(kinds.keys))")
        let expectedRefusals: Set = ["insufficient", "insufficient free", "unallocatable", "notFound region", "notFound alloc",
                                     "state alloc", "argument share:", "argument wh:"]
        #expect(expectedRefusals.isSubset(of: refusals.keys), "refusals never met: \(expectedRefusals.subtracting(refusals.keys))")
        let decisions = ledger.events.map(\.decisions)
        #expect(decisions.contains { !$0.fenceCuts.isEmpty }, "no fence was ever cut")
        #expect(decisions.contains { ($0.fenceBack ?? 0) > 0 }, "no fence got units back")
        #expect(decisions.contains { ($0.fence ?? 0) > 0 }, "nothing drew on a fence")
        let allocations = ledger.events.filter { $0.body.kind == .allocated }
        #expect(allocations.contains { $0.allocationText.count > 1 }, "no allocation split")
        #expect(allocations.contains { $0.allocationText.contains { $0.hasSuffix("!") } }, "no allocation dipped below safety")
        #expect(allocations.contains { !$0.decisions.moves.isEmpty }, "no allocation awaited an order")
        #expect(allocations.contains { $0.allocationText.contains { $0.contains("+f") } }, "no allocation drew on a fence")

        // A full replay gives the live state; one sku's events merged with the `*` events give, at
        // every seq, that sku's pairs, reservations, transfers and orders, and the configuration:
        // what `STOCK at= channel=` folds, so its views are those of then.
        var replayed = LedgerState()
        for event in ledger.events { Ledger.apply(event, to: &replayed) }
        #expect(replayed.sameEntities(as: ledger.state))
        for sku in ChannelWalkTests.skus {
            var alone = LedgerState()
            for event in ledger.events where event.sku == sku || event.sku == PairKey.configuration.sku {
                Ledger.apply(event, to: &alone)
                let live = states[event.seq]!
                let mine = live.pairs.filter { $0.key.sku == sku || $0.key == PairKey.configuration }
                guard alone.pairs == mine
                        && alone.reservations == live.reservations.filter({ $0.value.sku == sku })
                        && alone.transfers == live.transfers.filter({ $0.value.sku == sku })
                        && alone.purchaseOrders == live.purchaseOrders.filter({ $0.value.sku == sku }) else {
                    Issue.record("seed \(seed): sku \(sku) folded with the * events differs from the live state at seq \(event.seq)")
                    return
                }
            }
        }
    }
}

extension EventBody {
    /// The reservation a `released` or `expired` event names.
    var reservationID: String? {
        switch self {
        case let .released(id, _, _, _), let .expired(id, _, _, _): id
        default: nil
        }
    }
}
