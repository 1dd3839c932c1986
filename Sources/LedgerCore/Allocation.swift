/// ALLOCATE (FEATURES.md §1c): one request picks warehouses for a sku and reserves a line in each,
/// all or nothing unless `partial=yes`. The lines it chose are written into the `allocated` event,
/// so replay never runs the strategy again and a later route change does not alter it.
extension Ledger {
    static func allocate(_ request: AllocateRequest, state: LedgerState,
                         context: DecisionContext) throws -> (EventBody, Decisions) {
        let configuration = state.pair(PairKey.configuration)
        var candidates: [String]
        if let region = request.region {
            guard let route = configuration?.routes[region] else { throw Refusal.notFound(.region, region) }
            candidates = route
        } else {
            candidates = request.warehouses ?? []
            try ensureDistinct(candidates, key: "wh")
        }
        candidates.removeAll { request.exclude.contains($0) }
        // Line ids are `<alloc>.<n>`: none may be a reservation already (a RESERVE may have named one so).
        func lineTaken(_ alloc: String, _ count: Int) -> Bool { (1...count).contains { state.reservation("\(alloc).\($0)") != nil } }
        var alloc = request.alloc ?? "a\(context.seq)"
        if request.alloc == nil {
            var suffix = 1
            while lineTaken(alloc, Limits.allocationLinesMax) {
                alloc = "a\(context.seq)-\(suffix)"
                suffix += 1
            }
        }
        if lineTaken(alloc, 1) { throw Refusal.state("alloc=\(alloc) exists") }
        let channel = request.terms.channel
        func pair(_ wh: String) -> PairState { state.pair(PairKey(sku: request.sku, wh: wh)) ?? PairState() }
        let capacity = Dictionary(candidates.map { ($0, max(0, pair($0).view(channel, defaults: configuration))) },
                                  uniquingKeysWith: { first, _ in first })
        let picks = pick(request, candidates: candidates, capacity: capacity) { pair($0) }
        let covered = picks.reduce(0) { $0 + $1.quantity }
        var short = request.quantity - covered
        var decisions = drawn(channel, 0)
        decisions.fence = nil
        if let priority = request.terms.priority, priority != Reservation.defaultPriority { decisions.priority = priority }
        var lines = picks.enumerated().map { index, pick in
            AllocationLine(reservation: "\(alloc).\(index + 1)", wh: pick.wh, quantity: pick.quantity,
                           fence: channel.map { min(pick.quantity, pair(pick.wh).fences[$0] ?? 0) } ?? 0,
                           belowSafety: pick.belowSafety)
        }
        if short > 0 && request.terms.backorder == .order {
            // Awaiting units go to the candidate with the earliest promise: chosen lines first, then rank.
            let order = lines.map(\.wh) + candidates.filter { wh in !lines.contains { $0.wh == wh } }
            // The promise is the order's ETA plus the warehouse's pad.
            let best = order.compactMap { wh in
                pair(wh).ordersByETA.first { $0.unpromised > 0 }.map { (wh, $0.eta.adding(seconds: pair(wh).padSeconds)) }
            }.min { $0.1 < $1.1 }
            if let (wh, _) = best, lines.count < request.split || lines.contains(where: { $0.wh == wh }) {
                var index = lines.firstIndex { $0.wh == wh }
                if index == nil {
                    lines.append(AllocationLine(reservation: "\(alloc).\(lines.count + 1)", wh: wh, quantity: 0, fence: 0, belowSafety: false))
                    index = lines.count - 1
                }
                let target = pair(wh)
                var bound = 0
                for order in target.ordersByETA where order.unpromised > 0 && short > 0 && bound < Limits.awaitingLinesMax {
                    bound += 1
                    let take = min(short, order.unpromised)
                    decisions.moves.append(LineMove(reservation: lines[index!].reservation, from: nil,
                                                    to: .line(.order(order.purchaseOrder), date: order.eta.adding(seconds: target.padSeconds)),
                                                    quantity: take))
                    short -= take
                }
                decisions.backorder = .order
            }
        }
        if short > 0 && !request.partial {
            throw Refusal.unallocatable(available: covered, requested: request.quantity,
                                        byWarehouse: candidates.map { ($0, capacity[$0] ?? 0) })
        }
        guard !lines.isEmpty else {
            throw Refusal.unallocatable(available: 0, requested: request.quantity,
                                        byWarehouse: candidates.map { ($0, capacity[$0] ?? 0) })
        }
        if lineTaken(alloc, lines.count) {
            throw Refusal.state("alloc=\(alloc): \(lines.first { state.reservation($0.reservation) != nil }!.reservation) already exists")
        }
        let expiresAt: Timestamp
        if decisions.moves.isEmpty {
            expiresAt = context.clock.adding(seconds: request.ttlSeconds ?? Limits.reservationTTLDefaultSeconds)
        } else {
            var latest = Reservation(id: "", sku: request.sku, wh: "", held: 0, expiresAt: context.clock, ref: nil, status: .open)
            for move in decisions.moves { latest.apply(move) }
            expiresAt = try backorderExpiry(latest.promise, ttlSeconds: request.ttlSeconds, clock: context.clock)
        }
        return (.allocated(alloc: alloc, sku: request.sku, lines: lines, expiresAt: expiresAt, requested: request.quantity,
                           strategy: request.strategy.rawValue), decisions)
    }

    /// A warehouse list names each warehouse once (twice would count its stock twice).
    static func ensureDistinct(_ warehouses: [String], key: String) throws {
        var seen: Set<String> = []
        for wh in warehouses where !seen.insert(wh).inserted { throw Refusal.argument("\(key): \(wh) twice") }
    }

    /// The warehouses a strategy takes from, in the order it fills them, and how much from each.
    static func pick(_ request: AllocateRequest, candidates: [String], capacity: [String: Int64],
                     pair: (String) -> PairState) -> [(wh: String, quantity: Int64, belowSafety: Bool)] {
        let quantity = request.quantity, split = max(1, request.split)
        func take(_ order: [String], limit: (String) -> Int64) -> [(wh: String, quantity: Int64, belowSafety: Bool)] {
            var left = quantity
            var picks: [(wh: String, quantity: Int64, belowSafety: Bool)] = []
            for wh in order where left > 0 && picks.count < split {
                let amount = min(left, limit(wh))
                guard amount > 0 else { continue }
                picks.append((wh, amount, false))
                left -= amount
            }
            return picks
        }
        let rank = Dictionary(candidates.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        func cap(_ wh: String) -> Int64 { capacity[wh] ?? 0 }
        switch request.strategy {
        case .rank:
            return take(candidates, limit: cap)
        case .stock:
            return take(candidates.sorted { cap($0) != cap($1) ? cap($0) > cap($1) : rank[$0]! < rank[$1]! }, limit: cap)
        case .fewest:
            // The smallest k whose k largest capacities cover the request; then, in rank order, keep
            // each warehouse while a cover of k stays possible.
            let largest = candidates.map(cap).sorted(by: >)
            var k = 1, sum: Int64 = 0
            for value in largest.prefix(split) {
                sum += value
                if sum >= quantity { break }
                k += 1
            }
            // No cover within the split: the `split` largest (ties: rank) hold the most, filled in rank order.
            guard sum >= quantity, k <= split else {
                let largest = Set(candidates.sorted { cap($0) != cap($1) ? cap($0) > cap($1) : rank[$0]! < rank[$1]! }.prefix(split))
                return take(candidates.filter(largest.contains), limit: cap)
            }
            var chosen: [String] = [], chosenSum: Int64 = 0
            for (index, wh) in candidates.enumerated() where chosen.count < k && cap(wh) > 0 {
                let slots = k - chosen.count - 1
                let rest = candidates[(index + 1)...].map(cap).sorted(by: >).prefix(slots).reduce(0, +)
                if chosenSum + cap(wh) + rest >= quantity {
                    chosen.append(wh)
                    chosenSum += cap(wh)
                }
            }
            return take(chosen, limit: cap)
        case .surplus:
            // Surplus over safety first (largest first, ties rank), then dip into safety if still short.
            func surplus(_ wh: String) -> Int64 { max(0, min(cap(wh), cap(wh) - pair(wh).safety)) }
            let bySurplus = candidates.sorted { surplus($0) != surplus($1) ? surplus($0) > surplus($1) : rank[$0]! < rank[$1]! }
            var picks = take(bySurplus, limit: surplus)
            var left = quantity - picks.reduce(0) { $0 + $1.quantity }
            for wh in candidates where left > 0 {
                let extra = min(left, cap(wh) - surplus(wh))
                guard extra > 0 else { continue }
                if let index = picks.firstIndex(where: { $0.wh == wh }) {
                    picks[index].quantity += extra
                    picks[index].belowSafety = true
                } else if picks.count < split {
                    picks.append((wh, extra, true))
                } else {
                    continue
                }
                left -= extra
            }
            return picks
        }
    }
}
