extension Ledger {
    /// Would `decide` have written `event` against `state`? Nil when it would have, or why not.
    ///
    /// For events that already exist (an import, a migration): the event is turned back into the
    /// command that writes it and decided again with the event's own seq, time and actor, so the
    /// rules of a live write are stated once, in `decide`. The event is accepted only when decide
    /// gives back exactly its body. Guarantees, as `decide` does, that an accepted event can be
    /// folded into `state` without breaking any invariant.
    public static func check(_ event: Event, in state: LedgerState) -> Refusal? {
        var context = DecisionContext(now: event.recordedAt, seq: event.seq, actor: event.actor)
        let command: Command
        switch event.body {
        case let .received(sku, wh, quantity, po):
            command = .receive(sku: sku, wh: wh, quantity: quantity, purchaseOrder: po)
        case let .sold(_, _, quantity, reservation?):
            command = .sellReserved(reservation: reservation, quantity: quantity)
        case let .sold(sku, wh, quantity, nil):
            command = .sell(sku: sku, wh: wh, quantity: quantity)
        case let .reserved(reservation, sku, wh, quantity, expiresAt):
            // The wall clock the daemon read is not in the event (it may differ from the event's time
            // while that is held after the clock was set back): any expiry is one that some clock and
            // a ttl give, so decide is asked with the clock one second before it.
            context.clock = expiresAt.adding(seconds: -1)
            command = .reserve(sku: sku, wh: wh, quantity: quantity, reservation: reservation, ttlSeconds: 1)
        case let .released(reservation, _, _, quantity):
            command = .release(reservation: reservation, quantity: quantity)
        case let .expired(reservation, _, _, _):
            command = .expire(reservation: reservation)
        case let .transferShipped(transfer, sku, from, to, quantity, eta):
            command = .transfer(sku: sku, from: from, to: to, quantity: quantity, transfer: transfer, eta: eta)
        case let .transferArrived(transfer, _, _, _, quantity, lost):
            command = .arrive(transfer: transfer, quantity: quantity, lost: lost)
        case let .transferLost(transfer, _, _, _, lost):
            command = .arrive(transfer: transfer, quantity: 0, lost: lost)
        case let .adjusted(sku, wh, delta, reason):
            command = .adjust(sku: sku, wh: wh, delta: delta, reason: reason)
        case let .counted(sku, wh, quantity, _, reason):
            command = .count(sku: sku, wh: wh, quantity: quantity, reason: reason)
        case let .returned(sku, wh, quantity):
            command = .returnGoods(sku: sku, wh: wh, quantity: quantity)
        case let .expected(po, sku, wh, quantity, eta):
            command = .expect(sku: sku, wh: wh, quantity: quantity, eta: eta, purchaseOrder: po)
        case let .cancelled(po, _, _, _):
            command = .cancel(purchaseOrder: po)
        case let .policySet(sku, wh, safety, reorder, max):
            command = .policy(sku: sku, wh: wh, safety: safety, reorder: reorder, max: max)
        }
        switch decide(WriteRequest(command: command), in: state, context: context) {
        case .failure(let refusal):
            return refusal
        case .success(let decided) where decided.body != event.body:
            return .state("the ledger as it stands records this as \(decided.body), not \(event.body)")
        case .success:
            return nil
        }
    }
}
