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
            command = .sell(sku: sku, wh: wh, quantity: quantity, channel: event.decisions.channel)
        case let .reserved(reservation, sku, wh, _, expiresAt):
            // The wall clock the daemon read is not in the event (it may differ from the event's time
            // while that is held after the clock was set back): any expiry is one that some clock and
            // a ttl give, so decide is asked with the clock one second before it. A backorder's
            // clock is the event's time, with the ttl that gives its expiry.
            let decisions = event.decisions
            let awaiting = decisions.moves.reduce(Int64(0)) { $0 + $1.quantity }
            let quantity = event.body.reservedQuantity + awaiting
            var terms = ReserveTerms(backorder: decisions.backorder ?? .no, priority: decisions.priority, channel: decisions.channel)
            var ttl: Int64? = 1
            if terms.backorder == .no {
                context.clock = expiresAt.adding(seconds: -1)
            } else {
                // The default expiry follows from the promise; any other came from a ttl in seconds.
                var made = Reservation(id: reservation, sku: sku, wh: wh, held: 0, expiresAt: expiresAt, ref: nil, status: .open)
                for move in decisions.moves { made.apply(move) }
                let seconds = (expiresAt.microseconds - event.recordedAt.microseconds) / 1_000_000
                ttl = expiresAt == backorderDefaultExpiry(made.promise, clock: event.recordedAt) ? nil : max(1, seconds)
                let orders = Set(decisions.moves.compactMap { if case .line(.order(let po), _) = $0.to { po } else { nil } })
                if orders.count == 1, decisions.moves.count == 1 { terms.purchaseOrder = orders.first }
            }
            command = .reserve(sku: sku, wh: wh, quantity: quantity, reservation: reservation, ttlSeconds: ttl, terms: terms)
        case let .released(reservation, _, _, quantity):
            // A RELEASE gives up awaiting units first: the request covered those as well.
            let awaiting = event.decisions.moves.reduce(Int64(0)) {
                $0 + ($1.reservation == reservation && $1.from != nil && $1.to == .released ? $1.quantity : 0)
            }
            command = .release(reservation: reservation, quantity: quantity + awaiting)
        case let .expired(reservation, _, _, _):
            command = .expire(reservation: reservation)
        case let .transferShipped(transfer, sku, from, to, quantity, eta):
            command = .transfer(sku: sku, from: from, to: to, quantity: quantity, transfer: transfer, eta: eta,
                                channel: event.decisions.channel)
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
            command = .expect(sku: sku, wh: wh, quantity: quantity, eta: eta, purchaseOrder: po, bind: !event.decisions.moves.isEmpty)
        case let .cancelled(po, _, _, _):
            command = .cancel(purchaseOrder: po, releaseOrphans: event.decisions.moves.contains { $0.to == .released })
        case let .policySet(sku, wh, safety, reorder, max, promises, channel):
            command = .policy(sku: sku, wh: wh, safety: safety, reorder: reorder, max: max, promises: promises, channel: channel)
        case let .allotted(sku, wh, channel, quantity, until):
            command = .allot(sku: sku, wh: wh, channel: channel, quantity: quantity, until: until)
        case let .unallotted(sku, wh, channel, _):
            command = .unallot(sku: sku, wh: wh, channel: channel)
        case let .channelSet(channel, rules):
            command = .channel(channel: channel, rules: rules)
        case let .routeSet(region, warehouses):
            command = .route(region: region, warehouses: warehouses)
        case .allocated:
            return allocationFits(event, in: state)
        case let .rescheduled(po, _, _, eta, _):
            command = .reschedule(purchaseOrder: po, eta: eta, reason: nil)
        case let .extended(reservation, _, _, expiresAt):
            // The ttl in whole seconds from the event's time, with the clock that gives exactly its expiry.
            let ttl = max(1, (expiresAt.microseconds - event.recordedAt.microseconds + 500_000) / 1_000_000)
            context.clock = expiresAt.adding(seconds: -ttl)
            command = .extend(reservation: reservation, ttlSeconds: ttl)
        case let .waitlisted(sku, wh, subscriber, quantity, channel):
            command = .wait(sku: sku, wh: wh, subscriber: subscriber, quantity: quantity, channel: channel)
        case let .unwaitlisted(sku, wh, subscriber, reason):
            command = .unwait(sku: sku, wh: wh, subscriber: subscriber, reason: reason)
        case .filled:
            // Continues the event before it: decided with it, and checked here only for fitting.
            return filledFits(event, in: state)
        }
        switch decide(WriteRequest(command: command), in: state, context: context) {
        case .failure(let refusal):
            return refusal
        case .success(let decided) where decided.body != event.body || !sameDecisions(decided.decisions, event.decisions):
            // Name the part that differs: the body, or (with the same body) the decisions.
            guard decided.body == event.body else {
                return .state("the ledger as it stands records this as \(decided.body), not \(event.body)")
            }
            return .state("the ledger as it stands decides \(decided.body) with \(decided.decisions), not \(event.decisions)")
        case .success:
            return nil
        }
    }
}

extension Ledger {
    /// A decided event keeps the fills of its first `Limits.fillsPerEventMax` reservations; the
    /// stored one may hold those same moves.
    private static func sameDecisions(_ decided: Decisions, _ stored: Decisions) -> Bool {
        // Only the split decide itself makes: the first `Limits.fillsPerEventMax` reservations' fills.
        decided == stored || splitFills(decided).first == stored
    }

    /// A `filled` event fits when each of its fills takes units its reservation awaits and the pair
    /// has free units for them all.
    private static func filledFits(_ event: Event, in state: LedgerState) -> Refusal? {
        guard case let .filled(sku, wh) = event.body else { return .state("not a filled event") }
        guard onlyMoves(event.decisions) else { return .state("filled event \(event.seq) carries decisions other than fills") }
        var free = state.pair(PairKey(sku: sku, wh: wh))?.free ?? 0
        var lines: [String: [Backing: Int64]] = [:]
        for move in event.decisions.moves {
            guard move.to == .held, let from = move.from, let reservation = state.reservation(move.reservation),
                  reservation.status == .open, reservation.pair == PairKey(sku: sku, wh: wh) else {
                return .state("filled event \(event.seq) moves units it cannot")
            }
            let left = lines[move.reservation, default: [:]][from] ?? reservation.line(from)?.quantity ?? 0
            guard move.quantity > 0, move.quantity <= left, move.quantity <= free else {
                return .state("filled event \(event.seq) fills more than is free or awaited")
            }
            lines[move.reservation, default: [:]][from] = left - move.quantity
            free -= move.quantity
        }
        return nil
    }
}

extension Ledger {
    /// An `allocated` event fits when its ids are new, each line takes no more than its pair's view
    /// for the channel (its fence part no more than the fence), and its awaiting units are bound to
    /// open orders of the line's pair with room for them. Which warehouses a strategy would pick
    /// is not checked: the event records the choice (P1).
    static func allocationFits(_ event: Event, in state: LedgerState) -> Refusal? {
        guard case let .allocated(alloc, sku, lines, _, _, _) = event.body, !lines.isEmpty else { return .state("not an allocation") }
        let channel = event.decisions.channel
        var rest = event.decisions
        rest.channel = nil
        rest.priority = nil
        rest.backorder = nil
        guard onlyMoves(rest) else { return .state("allocation \(alloc) carries decisions an allocation does not take") }
        var taken: [String: (units: Int64, fence: Int64)] = [:]
        for (index, line) in lines.enumerated() {
            guard line.reservation == "\(alloc).\(index + 1)", state.reservation(line.reservation) == nil else {
                return .state("allocation \(alloc) line \(index + 1) is not new or not named \(alloc).\(index + 1)")
            }
            let pair = state.pair(PairKey(sku: sku, wh: line.wh)) ?? PairState()
            let sofar = taken[line.wh] ?? (0, 0)
            let fence = channel.map { pair.fences[$0] ?? 0 } ?? 0
            // The fence is drawn first, as decide draws it.
            guard line.quantity >= 0, line.fence == min(line.quantity, fence - sofar.fence),
                  sofar.units + line.quantity <= pair.view(channel, defaults: state.pair(PairKey.configuration)),
                  channel != nil || line.fence == 0 else {
                return .insufficient(available: pair.available, requested: line.quantity, sku: sku, wh: line.wh)
            }
            taken[line.wh] = (sofar.units + line.quantity, sofar.fence + line.fence)
        }
        var promised: [String: Int64] = [:], awaited: [String: Set<String>] = [:]
        var total = lines.reduce(Int64(0)) { $0 + $1.quantity }
        for move in event.decisions.moves {
            guard move.from == nil, case let .line(.order(po), _) = move.to, move.quantity > 0,
                  let line = lines.first(where: { $0.reservation == move.reservation }),
                  let order = state.pair(PairKey(sku: sku, wh: line.wh))?.openOrders.first(where: { $0.purchaseOrder == po }),
                  promised[po, default: 0] + move.quantity <= order.unpromised else {
                return .state("allocation \(alloc) binds units no open order of its warehouse has room for")
            }
            promised[po, default: 0] += move.quantity
            awaited[move.reservation, default: []].insert(po)
            total += move.quantity
        }
        guard lines.allSatisfy({ $0.quantity > 0 || awaited[$0.reservation] != nil }),
              awaited.values.allSatisfy({ $0.count <= Limits.awaitingLinesMax }),
              case let .allocated(_, _, _, _, requested, _) = event.body, total <= requested else {
            return .state("allocation \(alloc) has a line with nothing, too many orders, or more than was asked")
        }
        return nil
    }
}

extension Ledger {
    /// Decisions holding line moves and nothing else.
    static func onlyMoves(_ decisions: Decisions) -> Bool {
        var rest = decisions
        rest.moves = []
        return rest.isEmpty
    }
}

extension EventBody {
    /// The held units of a `reserved` event (0 for other kinds).
    var reservedQuantity: Int64 {
        if case let .reserved(_, _, _, quantity, _) = self { return quantity }
        return 0
    }
}
