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
        switch event.body {
        case let .received(sku, wh, quantity, purchaseOrder):
            var pair = state.pair(PairKey(sku: sku, wh: wh)) ?? PairState()
            pair.onHand += quantity
            if let po = purchaseOrder, var order = state.purchaseOrder(po), order.isOpen, order.sku == sku, order.wh == wh,
               let line = pair.openOrders.firstIndex(where: { $0.purchaseOrder == po }) {
                pair.openOrders[line].remaining -= min(quantity, pair.openOrders[line].remaining)
                if pair.openOrders[line].remaining == 0 {
                    pair.openOrders.remove(at: line)
                    order.isOpen = false
                    state.purchaseOrders[po] = order
                }
            }
            store(pair, at: PairKey(sku: sku, wh: wh), time: at, in: &state)

        case let .sold(sku, wh, quantity, reservationID):
            var pair = existingPair(sku, wh, state)
            if let reservationID {
                var reservation = existingReservation(reservationID, state)
                precondition(reservation.held >= quantity, "sold more than reservation \(reservationID) holds")
                reservation.held -= quantity
                if reservation.held == 0 { reservation.status = .sold }
                state.reservations[reservationID] = reservation
                pair.reserved -= quantity
            }
            pair.onHand -= quantity
            store(pair, at: PairKey(sku: sku, wh: wh), time: at, in: &state)

        case let .reserved(reservationID, sku, wh, quantity, expiresAt):
            var pair = state.pair(PairKey(sku: sku, wh: wh)) ?? PairState()
            pair.reserved += quantity
            state.reservations[reservationID] = Reservation(
                id: reservationID, sku: sku, wh: wh, held: quantity, expiresAt: expiresAt, ref: event.ref, status: .open)
            store(pair, at: PairKey(sku: sku, wh: wh), time: at, in: &state)

        case let .released(reservationID, sku, wh, quantity), let .expired(reservationID, sku, wh, quantity):
            var pair = existingPair(sku, wh, state)
            var reservation = existingReservation(reservationID, state)
            precondition(reservation.held >= quantity, "released more than reservation \(reservationID) holds")
            reservation.held -= quantity
            if case .expired = event.body { reservation.status = .expired }
            else if reservation.held == 0 { reservation.status = .released }
            pair.reserved -= quantity
            state.reservations[reservationID] = reservation
            store(pair, at: PairKey(sku: sku, wh: wh), time: at, in: &state)

        case let .transferShipped(transferID, sku, from, to, quantity, eta):
            var origin = existingPair(sku, from, state)
            origin.onHand -= quantity
            store(origin, at: PairKey(sku: sku, wh: from), time: at, in: &state)
            var destination = state.pair(PairKey(sku: sku, wh: to)) ?? PairState()
            destination.inbound += quantity
            store(destination, at: PairKey(sku: sku, wh: to), time: at, in: &state)
            state.transfers[transferID] = Transfer(
                id: transferID, sku: sku, from: from, to: to, shipped: quantity, arrived: 0, lost: 0, eta: eta)

        case let .transferArrived(transferID, sku, _, to, quantity, lost):
            land(transferID, sku: sku, to: to, arrived: quantity, lost: lost, time: at, in: &state)

        case let .transferLost(transferID, sku, _, to, lost):
            land(transferID, sku: sku, to: to, arrived: 0, lost: lost, time: at, in: &state)

        case let .adjusted(sku, wh, delta, _), let .counted(sku, wh, _, delta, _):
            var pair = state.pair(PairKey(sku: sku, wh: wh)) ?? PairState()
            pair.onHand += delta
            store(pair, at: PairKey(sku: sku, wh: wh), time: at, in: &state)

        case let .returned(sku, wh, quantity):
            var pair = state.pair(PairKey(sku: sku, wh: wh)) ?? PairState()
            pair.onHand += quantity
            store(pair, at: PairKey(sku: sku, wh: wh), time: at, in: &state)

        case let .expected(po, sku, wh, quantity, eta):
            var pair = state.pair(PairKey(sku: sku, wh: wh)) ?? PairState()
            pair.openOrders.append(OpenOrder(purchaseOrder: po, remaining: quantity, eta: eta))
            state.purchaseOrders[po] = PurchaseOrder(id: po, sku: sku, wh: wh, ordered: quantity, eta: eta, isOpen: true)
            store(pair, at: PairKey(sku: sku, wh: wh), time: at, in: &state)

        case let .cancelled(po, sku, wh, _):
            var pair = existingPair(sku, wh, state)
            guard var order = state.purchaseOrder(po) else { preconditionFailure("cancelled unknown purchase order \(po)") }
            pair.openOrders.removeAll { $0.purchaseOrder == po }
            order.isOpen = false
            state.purchaseOrders[po] = order
            store(pair, at: PairKey(sku: sku, wh: wh), time: at, in: &state)

        case let .policySet(sku, wh, safety, reorder, max):
            var pair = state.pair(PairKey(sku: sku, wh: wh)) ?? PairState()
            if let safety { pair.safety = safety }
            if let reorder { pair.reorder = reorder }
            if let max { pair.max = max }
            store(pair, at: PairKey(sku: sku, wh: wh), time: at, in: &state)
        }
        state.lastSeq = event.seq
    }

    private static func land(_ transferID: String, sku: String, to: String, arrived: Int64, lost: Int64,
                             time: Timestamp, in state: inout LedgerState) {
        guard var transfer = state.transfer(transferID) else { preconditionFailure("arrival for unknown transfer \(transferID)") }
        precondition(arrived + lost <= transfer.inTransit, "transfer \(transferID) landed more than it carried")
        transfer.arrived += arrived
        transfer.lost += lost
        state.transfers[transferID] = transfer
        var destination = existingPair(sku, to, state)
        destination.inbound -= arrived + lost
        destination.onHand += arrived
        store(destination, at: PairKey(sku: sku, wh: to), time: time, in: &state)
    }

    private static func existingPair(_ sku: String, _ wh: String, _ state: LedgerState) -> PairState {
        guard let pair = state.pair(PairKey(sku: sku, wh: wh)) else { preconditionFailure("event for unknown pair \(sku)/\(wh)") }
        return pair
    }

    private static func existingReservation(_ id: String, _ state: LedgerState) -> Reservation {
        guard let reservation = state.reservation(id) else { preconditionFailure("event for unknown reservation \(id)") }
        return reservation
    }

    /// Stores a changed pair and brings its breach tracking up to date: a breach starts at the time
    /// of the event that caused it and remembers the lowest available seen while it lasts.
    private static func store(_ pair: PairState, at key: PairKey, time: Timestamp, in state: inout LedgerState) {
        var pair = pair
        precondition(pair.onHand >= 0 && pair.reserved >= 0 && pair.inbound >= 0 && pair.available >= 0,
                     "buckets of \(key.sku)/\(key.wh) went negative")
        if pair.isBreached {
            if pair.breachSince == nil {
                pair.breachSince = time
                pair.breachLowest = pair.available
            } else {
                pair.breachLowest = min(pair.breachLowest, pair.available)
            }
        } else {
            pair.breachSince = nil
            pair.breachLowest = 0
        }
        state.pairs[key] = pair
    }
}
