extension Ledger {
    /// Checks `request` against `state` and returns the one event it becomes, or why it is refused.
    ///
    /// Guarantees: an event returned here can be folded into `state` without breaking any invariant;
    /// in particular available never goes below 0 and no bucket leaves its range.
    public static func decide(_ request: WriteRequest, in state: LedgerState,
                              context: DecisionContext) -> Result<Event, Refusal> {
        do {
            let body = try decideBody(request, state: state, context: context)
            return .success(Event(seq: context.seq, recordedAt: context.now, actor: context.actor, body: body,
                                  ref: request.ref, note: request.note, idempotencyKey: request.idempotencyKey))
        } catch let refusal as Refusal {
            return .failure(refusal)
        } catch {
            preconditionFailure("decide threw a non-refusal: \(error)")
        }
    }

    private static func decideBody(_ request: WriteRequest, state: LedgerState, context: DecisionContext) throws -> EventBody {
        switch request.command {
        case let .receive(sku, wh, quantity, po):
            let pair = state.pair(PairKey(sku: sku, wh: wh)) ?? PairState()
            try ensureRoom(pair.onHand, adding: quantity, bucket: "on_hand")
            return .received(sku: sku, wh: wh, quantity: quantity, purchaseOrder: po)

        case let .sell(sku, wh, quantity):
            try ensureAvailable(PairKey(sku: sku, wh: wh), quantity, state)
            return .sold(sku: sku, wh: wh, quantity: quantity, reservation: nil)

        case let .sellReserved(reservationID, quantity):
            let reservation = try openReservation(reservationID, state)
            let taken = try portion(quantity, of: reservation.held, what: "reservation \(reservationID)")
            return .sold(sku: reservation.sku, wh: reservation.wh, quantity: taken, reservation: reservationID)

        case let .reserve(sku, wh, quantity, reservationID, ttlSeconds):
            let id = try newIdentifier(reservationID, prefix: "r", seq: context.seq) { state.reservation($0) != nil }
            try ensureAvailable(PairKey(sku: sku, wh: wh), quantity, state)
            let ttl = ttlSeconds ?? Limits.reservationTTLDefaultSeconds
            return .reserved(reservation: id, sku: sku, wh: wh, quantity: quantity, expiresAt: context.clock.adding(seconds: ttl))

        case let .release(reservationID, quantity):
            let reservation = try openReservation(reservationID, state)
            let released = try portion(quantity, of: reservation.held, what: "reservation \(reservationID)")
            return .released(reservation: reservationID, sku: reservation.sku, wh: reservation.wh, quantity: released)

        case let .expire(reservationID):
            let reservation = try openReservation(reservationID, state)
            return .expired(reservation: reservationID, sku: reservation.sku, wh: reservation.wh, quantity: reservation.held)

        case let .transfer(sku, from, to, quantity, transferID, eta):
            guard from != to else { throw Refusal.argument("to: must differ from from") }
            let id = try newIdentifier(transferID, prefix: "x", seq: context.seq) { state.transfer($0) != nil }
            try ensureAvailable(PairKey(sku: sku, wh: from), quantity, state)
            let destination = state.pair(PairKey(sku: sku, wh: to)) ?? PairState()
            try ensureRoom(destination.inbound, adding: quantity, bucket: "inbound")
            return .transferShipped(transfer: id, sku: sku, from: from, to: to, quantity: quantity, eta: eta)

        case let .arrive(transferID, quantity, lost):
            guard let transfer = state.transfer(transferID) else { throw Refusal.notFound(.transfer, transferID) }
            guard transfer.isOpen else { throw Refusal.closed(.transfer, transferID, status: "closed") }
            let lostUnits = lost ?? 0
            guard lostUnits <= transfer.inTransit else {
                throw Refusal.argument("lost: \(lostUnits) is more than the \(transfer.inTransit) in transit")
            }
            let arrived = quantity ?? (transfer.inTransit - lostUnits)
            guard arrived + lostUnits <= transfer.inTransit else {
                throw Refusal.argument("qty: \(arrived) plus lost \(lostUnits) is more than the \(transfer.inTransit) in transit")
            }
            guard arrived + lostUnits > 0 else { throw Refusal.argument("qty: nothing arrives and nothing is lost") }
            if arrived == 0 {
                return .transferLost(transfer: transferID, sku: transfer.sku, from: transfer.from, to: transfer.to, lost: lostUnits)
            }
            let destination = state.pair(PairKey(sku: transfer.sku, wh: transfer.to)) ?? PairState()
            try ensureRoom(destination.onHand, adding: arrived, bucket: "on_hand")
            return .transferArrived(transfer: transferID, sku: transfer.sku, from: transfer.from, to: transfer.to,
                                    quantity: arrived, lost: lostUnits)

        case let .adjust(sku, wh, delta, reason):
            try ensureCorrection(PairKey(sku: sku, wh: wh), delta: delta, state)
            return .adjusted(sku: sku, wh: wh, delta: delta, reason: reason)

        case let .count(sku, wh, quantity, reason):
            let pair = state.pair(PairKey(sku: sku, wh: wh)) ?? PairState()
            let delta = quantity - pair.onHand
            try ensureCorrection(PairKey(sku: sku, wh: wh), delta: delta, state)
            return .counted(sku: sku, wh: wh, quantity: quantity, delta: delta, reason: reason)

        case let .returnGoods(sku, wh, quantity):
            let pair = state.pair(PairKey(sku: sku, wh: wh)) ?? PairState()
            try ensureRoom(pair.onHand, adding: quantity, bucket: "on_hand")
            return .returned(sku: sku, wh: wh, quantity: quantity)

        case let .expect(sku, wh, quantity, eta, po):
            if state.purchaseOrder(po) != nil { throw Refusal.state("purchase order \(po) already exists") }
            let pair = state.pair(PairKey(sku: sku, wh: wh)) ?? PairState()
            try ensureRoom(pair.incoming, adding: quantity, bucket: "incoming")
            return .expected(purchaseOrder: po, sku: sku, wh: wh, quantity: quantity, eta: eta)

        case let .cancel(po):
            guard let order = state.purchaseOrder(po) else { throw Refusal.notFound(.purchaseOrder, po) }
            guard order.isOpen else { throw Refusal.closed(.purchaseOrder, po, status: "closed") }
            let remaining = state.pair(order.pair)?.openOrders.first { $0.purchaseOrder == po }?.remaining ?? 0
            return .cancelled(purchaseOrder: po, sku: order.sku, wh: order.wh, quantity: remaining)

        case let .policy(sku, wh, safety, reorder, max):
            guard safety != nil || reorder != nil || max != nil else {
                throw Refusal.argument("safety, reorder or max: at least one is required")
            }
            return .policySet(sku: sku, wh: wh, safety: safety, reorder: reorder, max: max)
        }
    }

    private static func ensureAvailable(_ key: PairKey, _ quantity: Int64, _ state: LedgerState) throws {
        let available = state.pair(key)?.available ?? 0
        guard quantity <= available else {
            throw Refusal.insufficient(available: available, requested: quantity, sku: key.sku, wh: key.wh)
        }
    }

    /// A correction may not leave on_hand below what is reserved (nor below 0).
    private static func ensureCorrection(_ key: PairKey, delta: Int64, _ state: LedgerState) throws {
        let pair = state.pair(key) ?? PairState()
        try ensureRoom(pair.onHand, adding: delta, bucket: "on_hand")
        guard pair.onHand + delta >= pair.reserved else {
            throw Refusal.insufficient(available: pair.available, requested: -delta, sku: key.sku, wh: key.wh)
        }
    }

    private static func ensureRoom(_ bucket: Int64, adding quantity: Int64, bucket name: String) throws {
        guard bucket + quantity <= Limits.bucketQuantityMax else {
            throw Refusal.argument("qty: \(name) would exceed \(Limits.bucketQuantityMax)")
        }
    }

    private static func openReservation(_ id: String, _ state: LedgerState) throws -> Reservation {
        guard let reservation = state.reservation(id) else { throw Refusal.notFound(.reservation, id) }
        guard reservation.status == .open else {
            throw Refusal.closed(.reservation, id, status: reservation.status.name)
        }
        return reservation
    }

    private static func portion(_ quantity: Int64?, of held: Int64, what: String) throws -> Int64 {
        guard let quantity else { return held }
        guard quantity <= held else { throw Refusal.argument("qty: \(quantity) is more than the \(held) \(what) holds") }
        return quantity
    }

    /// Uses the caller's identifier when given (refusing one already in use), or makes one from the
    /// event's seq, which is unique and the same on replay because it is written into the event.
    private static func newIdentifier(_ given: String?, prefix: String, seq: UInt64,
                                      exists: (String) -> Bool) throws -> String {
        if let given {
            if exists(given) { throw Refusal.state("\(given) already exists") }
            return given
        }
        var candidate = "\(prefix)\(seq)"
        var suffix = 1
        while exists(candidate) {
            candidate = "\(prefix)\(seq)-\(suffix)"
            suffix += 1
        }
        return candidate
    }
}

extension Reservation.Status {
    public var name: String {
        switch self {
        case .open: "open"
        case .released: "released"
        case .sold: "sold"
        case .expired: "expired"
        }
    }
}
