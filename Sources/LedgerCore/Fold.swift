/// The fold: the one place where events become state.
///
/// Live state (the writer), full replay (`stockctl replay`) and point-in-time answers all call
/// `apply(_:to:)`. Nothing computes a bucket a second way.
public enum Ledger {
    /// Folds one event into `state`. Events in the log were validated when written, so an event that
    /// does not fit the state it is folded into is a broken invariant and stops the process.
    public static func apply(_ event: Event, to state: inout LedgerState) {
        precondition(event.seq > state.lastSeq,
                     "events must be folded in log order (got \(event.seq) after \(state.lastSeq))")
        let at = event.recordedAt
        // Fills take units the event itself freed: the pair's breach is judged once, on the pair as
        // the whole event leaves it, not on what was free between the event's body and its fills.
        let filledPair = event.hasDecisions && event.decisions.moves.contains { $0.to == .held }
            ? PairKey(sku: event.sku, wh: event.body.fillWarehouse) : nil
        let breachBefore = filledPair.map { key in state.pair(key).map { ($0.breachSince, $0.breachLowest) } ?? (nil, 0) }
        switch event.body {
        case let .received(sku, wh, quantity, purchaseOrder):
            // A receipt against an open order for the same pair lowers what that order still expects.
            var closedOrder: PurchaseOrder?
            if let po = purchaseOrder, let order = state.purchaseOrder(po), order.isOpen, order.sku == sku, order.wh == wh {
                closedOrder = order
            }
            var closes = false
            updatePair(sku, wh, in: &state, time: at, mustExist: false) { pair in
                pair.onHand += quantity
                if let po = closedOrder?.id, let line = pair.openOrders.firstIndex(where: { $0.purchaseOrder == po }) {
                    pair.openOrders[line].remaining -= min(quantity, pair.openOrders[line].remaining)
                    if pair.openOrders[line].remaining == 0 {
                        pair.openOrders.remove(at: line)
                        closes = true
                    }
                }
            }
            if closes, var order = closedOrder {
                order.isOpen = false
                state.purchaseOrders[order.id] = order
            }

        case let .sold(sku, wh, quantity, reservationID):
            if let reservationID {
                var reservation = existingReservation(reservationID, state)
                precondition(reservation.held >= quantity, "sold more than reservation \(reservationID) holds")
                reservation.held -= quantity
                // Fenced units are sold first: what stays held came from the free pool last.
                reservation.fence -= min(reservation.fence, quantity)
                if reservation.held == 0 && reservation.lines.isEmpty { reservation.status = .sold }
                state.reservations[reservationID] = reservation
            }
            updatePair(sku, wh, in: &state, time: at, mustExist: true) { pair in
                if reservationID != nil { pair.reserved -= quantity }
                pair.onHand -= quantity
                if event.hasDecisions { pair.takeFence(event.decisions) }
            }

        case let .reserved(reservationID, sku, wh, quantity, expiresAt):
            var reservation = Reservation(
                id: reservationID, sku: sku, wh: wh, held: quantity, expiresAt: expiresAt, ref: event.ref, status: .open)
            reservation.priority = event.decisions.priority ?? Reservation.defaultPriority
            reservation.backorder = event.decisions.backorder ?? .no
            reservation.seq = event.seq
            reservation.channel = event.decisions.channel
            reservation.fence = event.decisions.fence ?? 0
            state.reservations[reservationID] = reservation
            updatePair(sku, wh, in: &state, time: at, mustExist: false) { pair in
                pair.reserved += quantity
                if event.hasDecisions { pair.takeFence(event.decisions) }
            }

        case let .released(reservationID, sku, wh, quantity), let .expired(reservationID, sku, wh, quantity):
            var reservation = existingReservation(reservationID, state)
            precondition(reservation.held >= quantity, "released more than reservation \(reservationID) holds")
            reservation.held -= quantity
            reservation.fence -= min(reservation.fence, quantity)
            // Awaiting units leave through the event's moves, which close the reservation then.
            if reservation.held == 0 && reservation.lines.isEmpty {
                if case .expired = event.body { reservation.status = .expired } else { reservation.status = .released }
            }
            state.reservations[reservationID] = reservation
            updatePair(sku, wh, in: &state, time: at, mustExist: true) { pair in
                pair.reserved -= quantity
                if let back = event.decisions.fenceBack, let channel = reservation.channel { pair.fences[channel, default: 0] += back }
            }

        case let .transferShipped(transferID, sku, from, to, quantity, eta):
            updatePair(sku, from, in: &state, time: at, mustExist: true) { pair in
                pair.onHand -= quantity
                if event.hasDecisions { pair.takeFence(event.decisions) }
            }
            updatePair(sku, to, in: &state, time: at, mustExist: false) { $0.inbound += quantity }
            state.transfers[transferID] = Transfer(
                id: transferID, sku: sku, from: from, to: to, shipped: quantity, arrived: 0, lost: 0, eta: eta)

        case let .transferArrived(transferID, sku, _, to, quantity, lost):
            land(transferID, sku: sku, to: to, arrived: quantity, lost: lost, time: at, in: &state)

        case let .transferLost(transferID, sku, _, to, lost):
            land(transferID, sku: sku, to: to, arrived: 0, lost: lost, time: at, in: &state)

        case let .adjusted(sku, wh, delta, _), let .counted(sku, wh, _, delta, _):
            updatePair(sku, wh, in: &state, time: at, mustExist: false) { pair in
                pair.onHand += delta
                for cut in event.decisions.fenceCuts { pair.fences[cut.channel, default: 0] -= cut.quantity }
            }

        case let .returned(sku, wh, quantity):
            updatePair(sku, wh, in: &state, time: at, mustExist: false) { $0.onHand += quantity }

        case let .expected(po, sku, wh, quantity, eta):
            state.purchaseOrders[po] = PurchaseOrder(id: po, sku: sku, wh: wh, ordered: quantity, eta: eta, isOpen: true)
            updatePair(sku, wh, in: &state, time: at, mustExist: false) {
                $0.openOrders.append(OpenOrder(purchaseOrder: po, remaining: quantity, eta: eta))
            }

        case let .cancelled(po, sku, wh, _):
            guard var order = state.purchaseOrder(po) else { preconditionFailure("cancelled unknown purchase order \(po)") }
            order.isOpen = false
            state.purchaseOrders[po] = order
            updatePair(sku, wh, in: &state, time: at, mustExist: true) { $0.openOrders.removeAll { $0.purchaseOrder == po } }

        case let .policySet(sku, wh, safety, reorder, max, promises, channel):
            updatePair(sku, wh, in: &state, time: at, mustExist: false) { pair in
                if let safety { pair.safety = safety }
                if let reorder { pair.reorder = reorder }
                if let max { pair.max = max }
                if let promises {
                    if let preorder = promises.preorder { pair.preorder = preorder }
                    if let until = promises.preorderUntil { pair.preorderUntil = until }
                    if let eta = promises.preorderETA { pair.preorderETA = eta }
                    if let pad = promises.padSeconds { pair.padSeconds = pad }
                    if let byOrder = promises.fillByOrder { pair.fillByOrder = byOrder }
                    if let bin = promises.bin { pair.bin = bin }
                    if let cards = promises.cards { pair.cards = cards }
                    if let lead = promises.leadSeconds { pair.leadSeconds = lead }
                    if promises.setsPromiseLevels { pair.usesPromises = true }
                }
                if let channel {
                    pair.channelRules[channel.channel] = channel.inherit ? nil : channel.rules.merged(over: pair.channelRules[channel.channel])
                    pair.usesChannels = true
                }
            }

        case let .allotted(sku, wh, channel, quantity, until):
            updatePair(sku, wh, in: &state, time: at, mustExist: false) { pair in
                if quantity == 0 { pair.fences.removeValue(forKey: channel) } else { pair.fences[channel] = quantity }
                pair.fenceUntil[channel] = quantity == 0 ? nil : until
                pair.usesChannels = true
            }

        case let .unallotted(sku, wh, channel, _):
            updatePair(sku, wh, in: &state, time: at, mustExist: true) { pair in
                pair.fences.removeValue(forKey: channel)
                pair.fenceUntil.removeValue(forKey: channel)
            }

        case let .channelSet(channel, rules):
            let key = PairKey.configuration
            updatePair(key.sku, key.wh, in: &state, time: at, mustExist: false) { pair in
                pair.channelRules[channel] = rules.merged(over: pair.channelRules[channel])
            }

        case let .routeSet(region, warehouses):
            let key = PairKey.configuration
            updatePair(key.sku, key.wh, in: &state, time: at, mustExist: false) { pair in
                pair.routes[region] = warehouses.isEmpty ? nil : warehouses
            }

        case let .allocated(alloc, sku, lines, expiresAt, _, _):
            for line in lines {
                var reservation = Reservation(id: line.reservation, sku: sku, wh: line.wh, held: line.quantity, expiresAt: expiresAt,
                                              ref: event.ref, status: .open)
                reservation.priority = event.decisions.priority ?? Reservation.defaultPriority
                reservation.backorder = event.decisions.backorder ?? .no
                reservation.seq = event.seq
                reservation.channel = event.decisions.channel
                reservation.fence = line.fence
                reservation.alloc = alloc
                state.reservations[line.reservation] = reservation
                updatePair(sku, line.wh, in: &state, time: at, mustExist: false) { pair in
                    pair.reserved += line.quantity
                    if let channel = event.decisions.channel, line.fence > 0 { pair.fences[channel, default: 0] -= line.fence }
                }
            }

        case let .rescheduled(po, sku, wh, eta, _):
            guard var order = state.purchaseOrder(po) else { preconditionFailure("rescheduled unknown purchase order \(po)") }
            order.eta = eta
            state.purchaseOrders[po] = order
            updatePair(sku, wh, in: &state, time: at, mustExist: true) { pair in
                if let line = pair.openOrders.firstIndex(where: { $0.purchaseOrder == po }) { pair.openOrders[line].eta = eta }
            }

        case let .extended(reservationID, _, _, expiresAt):
            var reservation = existingReservation(reservationID, state)
            reservation.expiresAt = expiresAt
            state.reservations[reservationID] = reservation

        case .filled:
            break

        case let .waitlisted(sku, wh, subscriber, quantity, channel):
            updatePair(sku, wh ?? PairKey.anyWarehouse, in: &state, time: at, mustExist: false) { pair in
                pair.waitlist.append(Waiter(ref: subscriber, quantity: quantity, since: at, channel: channel))
                pair.usesPromises = true
            }

        case let .unwaitlisted(sku, wh, subscriber, _):
            updatePair(sku, wh ?? PairKey.anyWarehouse, in: &state, time: at, mustExist: true) { pair in
                pair.waitlist.removeAll { $0.ref == subscriber }
            }
        }
        if event.hasDecisions && !event.decisions.moves.isEmpty { applyMoves(event, to: &state) }
        if let key = filledPair, let (since, lowest) = breachBefore {
            updatePair(key.sku, key.wh, in: &state, time: at, mustExist: true) { pair in
                pair.breachSince = since
                pair.breachLowest = lowest
            }
        }
        state.lastSeq = event.seq
    }

    /// Applies an event's line moves: awaiting units leave one line and become held, join another
    /// line, or are given up. Buckets and each order's `promised` follow; a reservation left with
    /// nothing closes the way its event says.
    private static func applyMoves(_ event: Event, to state: inout LedgerState) {
        var touched: [String] = [], seen: Set<String> = []
        for move in event.decisions.moves {
            var reservation = existingReservation(move.reservation, state)
            precondition(reservation.status == .open, "line move for reservation \(move.reservation), which is not open")
            if seen.insert(move.reservation).inserted { touched.append(move.reservation) }
            let quantity = move.quantity
            reservation.apply(move)
            state.reservations[move.reservation] = reservation
            updatePair(reservation.sku, reservation.wh, in: &state, time: event.recordedAt, mustExist: true) { pair in
                if let from = move.from { pair.bind(from, -quantity) }
                switch move.to {
                case .held: pair.reserved += quantity
                case let .line(backing, _): pair.bind(backing, quantity)
                case .released: break
                }
                pair.usesPromises = true
            }
        }
        for change in event.decisions.expiries {
            var reservation = existingReservation(change.reservation, state)
            reservation.expiresAt = change.expiresAt
            state.reservations[change.reservation] = reservation
        }
        // Waiting lists change once per pair: one pass removes, inserts go where they sort.
        var leaving: [PairKey: Set<String>] = [:], joining: [PairKey: [WaitingEntry]] = [:]
        for id in touched {
            var reservation = existingReservation(id, state)
            if reservation.held == 0 && reservation.lines.isEmpty {
                switch event.body {
                case .expired: reservation.status = .expired
                case .sold: reservation.status = .sold
                default: reservation.status = .released
                }
            }
            state.reservations[id] = reservation
            if reservation.status == .open && !reservation.lines.isEmpty {
                joining[reservation.pair, default: []].append(reservation.waitingEntry)
            } else {
                leaving[reservation.pair, default: []].insert(id)
            }
        }
        for key in Set(leaving.keys).union(joining.keys) {
            updatePair(key.sku, key.wh, in: &state, time: event.recordedAt, mustExist: true) { pair in
                if let gone = leaving[key] { pair.waiting.removeAll { gone.contains($0.reservation) } }
                for entry in joining[key] ?? [] {
                    let index = pair.waiting.partitioningIndex { !($0 < entry) }
                    if index == pair.waiting.endIndex || pair.waiting[index] != entry { pair.waiting.insert(entry, at: index) }
                }
            }
        }
    }

    private static func land(_ transferID: String, sku: String, to: String, arrived: Int64, lost: Int64,
                             time: Timestamp, in state: inout LedgerState) {
        guard var transfer = state.transfer(transferID) else { preconditionFailure("arrival for unknown transfer \(transferID)") }
        precondition(arrived + lost <= transfer.inTransit, "transfer \(transferID) landed more than it carried")
        transfer.arrived += arrived
        transfer.lost += lost
        state.transfers[transferID] = transfer
        updatePair(sku, to, in: &state, time: time, mustExist: true) { destination in
            destination.inbound -= arrived + lost
            destination.onHand += arrived
        }
    }

    private static func existingReservation(_ id: String, _ state: LedgerState) -> Reservation {
        guard let reservation = state.reservation(id) else { preconditionFailure("event for unknown reservation \(id)") }
        return reservation
    }

    /// Changes one pair in place (one hash lookup when the state already holds it: replay folds
    /// millions of events through here), then brings its breach tracking up to date: a breach starts
    /// at the time of the event that caused it and remembers the lowest available seen while it lasts.
    private static func updatePair(_ sku: String, _ wh: String, in state: inout LedgerState, time: Timestamp,
                                   mustExist: Bool, _ change: (inout PairState) -> Void) {
        let key = PairKey(sku: sku, wh: wh)
        var index = state.pairs.index(forKey: key)
        if index == nil {
            let initial = state.source?.pair(key) ?? (mustExist ? nil : PairState())
            guard let initial else { preconditionFailure("event for unknown pair \(sku)/\(wh)") }
            state.pairs[key] = initial
            index = state.pairs.index(forKey: key)
        }
        change(&state.pairs.values[index!])
        settle(&state.pairs.values[index!], key: key, time: time)
    }

    private static func settle(_ pair: inout PairState, key: PairKey, time: Timestamp) {
        precondition(pair.onHand >= 0 && pair.reserved >= 0 && pair.inbound >= 0 && pair.available >= 0
                        && pair.promised >= 0 && pair.preordered >= 0 && pair.unbacked >= 0
                        && pair.fenced <= pair.available && pair.fences.values.allSatisfy { $0 >= 0 },
                     "buckets of \(key.sku)/\(key.wh) went negative")
        if pair.isBreached {
            if pair.breachSince == nil {
                pair.breachSince = time
                pair.breachLowest = pair.available
            } else {
                pair.breachLowest = min(pair.breachLowest, pair.available)
            }
        } else if pair.breachSince != nil {
            pair.breachSince = nil
            pair.breachLowest = 0
        }
    }
}

extension PairState {
    /// Counts `quantity` awaiting units more (or fewer) against `backing`. An order that already
    /// closed or was cancelled is no longer in `openOrders`: its lines are leaving it.
    mutating func bind(_ backing: Backing, _ quantity: Int64) {
        switch backing {
        case .order(let po):
            promised += quantity
            if let index = openOrders.firstIndex(where: { $0.purchaseOrder == po }) { openOrders[index].promised += quantity }
        case .cap: preordered += quantity
        case .none: unbacked += quantity
        }
    }
}

extension Reservation {
    /// Moves a line move's units between this reservation's lines and its held units.
    mutating func apply(_ move: LineMove) {
        let quantity = move.quantity
        if let from = move.from {
            guard let index = lines.firstIndex(where: { $0.backing == from }), lines[index].quantity >= quantity else {
                preconditionFailure("reservation \(id) has fewer than \(quantity) units on \(from.name)")
            }
            lines[index].quantity -= quantity
            if lines[index].quantity == 0 { lines.remove(at: index) }
        }
        switch move.to {
        case .held:
            held += quantity
        case let .line(backing, date):
            if let index = lines.firstIndex(where: { $0.backing == backing }) {
                let old = lines[index].date
                lines[index].quantity += quantity
                // One line per backing: its date is the later of the two (unknown stays unknown).
                lines[index].date = old.flatMap { old in date.map { Swift.max(old, $0) } }
            } else {
                lines.append(AwaitingLine(backing: backing, quantity: quantity, date: date))
            }
        case .released:
            break
        }
    }
}

extension PairState {
    /// A sale, hold or shipment for a channel takes what it drew from that channel's fence.
    mutating func takeFence(_ decisions: Decisions) {
        if let channel = decisions.channel, let fence = decisions.fence, fence > 0 { fences[channel, default: 0] -= fence }
    }
}

extension Array where Element == WaitingEntry {
    /// The first index whose element satisfies `belongs`, which holds for a suffix (binary search).
    func partitioningIndex(where belongs: (WaitingEntry) -> Bool) -> Int {
        var low = 0, high = count
        while low < high {
            let middle = (low + high) / 2
            if belongs(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
