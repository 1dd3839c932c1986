extension Ledger {
    /// Checks `request` against `state` and returns the one event it becomes, or why it is refused.
    /// A write whose fills do not fit one event becomes several: use `decideEvents` to get them all.
    ///
    /// Guarantees: an event returned here can be folded into `state` without breaking any invariant;
    /// in particular available never goes below 0 and no bucket leaves its range.
    public static func decide(_ request: WriteRequest, in state: LedgerState,
                              context: DecisionContext) -> Result<Event, Refusal> {
        decideEvents(request, in: state, context: context).map { $0[0] }
    }

    /// The events one write becomes: its own, then `filled` events (same time, next seqs) carrying
    /// the fills beyond `Limits.fillsPerEventMax` reservations. They are folded in order.
    public static func decideEvents(_ request: WriteRequest, in state: LedgerState,
                                    context: DecisionContext) -> Result<[Event], Refusal> {
        do {
            if case let .releaseAllocation(alloc) = request.command {
                return .success(try releaseAllocation(alloc, request, state: state, context: context))
            }
            let (body, decisions) = try decideBody(request, state: state, context: context)
            guard decisions.moves.count > Limits.fillsPerEventMax,
                  Set(decisions.moves.lazy.filter { $0.to == .held }.map(\.reservation)).count > Limits.fillsPerEventMax else {
                return .success([Event(seq: context.seq, recordedAt: context.now, actor: context.actor, body: body, ref: request.ref,
                                       note: request.note, idempotencyKey: request.idempotencyKey, decisions: decisions)])
            }
            let chunks = splitFills(decisions)
            return .success(chunks.enumerated().map { index, decisions in
                if index == 0 {
                    return Event(seq: context.seq, recordedAt: context.now, actor: context.actor, body: body,
                                 ref: request.ref, note: request.note, idempotencyKey: request.idempotencyKey,
                                 decisions: decisions)
                }
                let wh = body.fillWarehouse
                return Event(seq: context.seq + UInt64(index), recordedAt: context.now, actor: context.actor,
                             body: .filled(sku: body.sku, wh: wh), ref: request.ref, decisions: decisions)
            })
        } catch let refusal as Refusal {
            return .failure(refusal)
        } catch {
            preconditionFailure("decide threw a non-refusal: \(error)")
        }
    }

    /// RELEASE alloc=: one `released` event per open line (each decided after the ones before it,
    /// with its own fence returns and fills), all in the same commit.
    private static func releaseAllocation(_ alloc: String, _ request: WriteRequest, state: LedgerState,
                                          context: DecisionContext) throws -> [Event] {
        // Only reservations the allocation made: a RESERVE may have named one `<alloc>.<n>` too.
        let lines = (1...Limits.allocationLinesMax).map { "\(alloc).\($0)" }.filter { state.reservation($0)?.alloc == alloc }
        guard !lines.isEmpty else { throw Refusal.notFound(.alloc, alloc) }
        let open = lines.filter { state.reservation($0)?.status == .open }
        guard !open.isEmpty else { throw Refusal.state("allocation \(alloc) has no open line") }
        var local = state
        var events: [Event] = []
        for (index, id) in open.enumerated() {
            var step = context
            step.seq = context.seq + UInt64(index)
            let (body, decisions) = try decideBody(WriteRequest(command: .release(reservation: id, quantity: nil)), state: local, context: step)
            let event = Event(seq: step.seq, recordedAt: context.now, actor: context.actor, body: body, ref: request.ref,
                              note: request.note, idempotencyKey: index == 0 ? request.idempotencyKey : nil, decisions: decisions)
            apply(event, to: &local)
            events.append(event)
        }
        return events
    }

    /// Keeps every move but the fills in the first event, with the fills of the first reservations;
    /// the other fills go, `Limits.fillsPerEventMax` reservations at a time, into the next ones.
    static func splitFills(_ decisions: Decisions) -> [Decisions] {
        var first = decisions
        first.moves = []
        var chunks: [Decisions] = []
        var seen: Set<String> = [], current = Decisions()
        for move in decisions.moves {
            guard move.to == .held else { first.moves.append(move); continue }
            if !seen.contains(move.reservation) {
                if seen.count == Limits.fillsPerEventMax {
                    chunks.append(current)
                    current = Decisions()
                    seen = []
                }
                seen.insert(move.reservation)
            }
            current.moves.append(move)
        }
        chunks.append(current)
        first.moves += chunks[0].moves
        return [first] + chunks.dropFirst()
    }

    private static func decideBody(_ request: WriteRequest, state: LedgerState,
                                   context: DecisionContext) throws -> (EventBody, Decisions) {
        switch request.command {
        case let .receive(sku, wh, quantity, po):
            let key = PairKey(sku: sku, wh: wh)
            var pair = state.pair(key) ?? PairState()
            try ensureRoom(pair.onHand, adding: quantity, bucket: "on_hand")
            pair.onHand += quantity
            var received: String?
            if let po, let line = pair.openOrders.firstIndex(where: { $0.purchaseOrder == po }) {
                received = po
                pair.openOrders[line].remaining -= min(quantity, pair.openOrders[line].remaining)
            }
            return (.received(sku: sku, wh: wh, quantity: quantity, purchaseOrder: po),
                    Decisions(moves: fills(pair, key, state, receivedOrder: received)))

        case let .sell(sku, wh, quantity, channel):
            let fence = try draw(PairKey(sku: sku, wh: wh), quantity, channel: channel, state)
            return (.sold(sku: sku, wh: wh, quantity: quantity, reservation: nil), drawn(channel, fence))

        case let .sellReserved(reservationID, quantity):
            let reservation = try openReservation(reservationID, state)
            let awaiting = reservation.awaiting
            // Without qty a sale takes the whole reservation: refused while some of it still awaits.
            if awaiting > 0, (quantity ?? reservation.held + awaiting) > reservation.held {
                throw Refusal.awaiting(reservation: reservationID, held: reservation.held, awaiting: awaiting)
            }
            let taken = try portion(quantity, of: reservation.held, what: "reservation \(reservationID)")
            return (.sold(sku: reservation.sku, wh: reservation.wh, quantity: taken, reservation: reservationID), Decisions())

        case let .reserve(sku, wh, quantity, reservationID, ttlSeconds, terms):
            let id = try newIdentifier(reservationID, prefix: "r", seq: context.seq) { state.reservation($0) != nil }
            let key = PairKey(sku: sku, wh: wh)
            guard terms.backorder != .no else {
                let fence = try draw(key, quantity, channel: terms.channel, state)
                var decisions = drawn(terms.channel, fence)
                if let priority = terms.priority, priority != Reservation.defaultPriority { decisions.priority = priority }
                let ttl = ttlSeconds ?? Limits.reservationTTLDefaultSeconds
                return (.reserved(reservation: id, sku: sku, wh: wh, quantity: quantity,
                                  expiresAt: context.clock.adding(seconds: ttl)), decisions)
            }
            let pair = state.pair(key) ?? PairState()
            let held = max(0, min(quantity, pair.view(terms.channel, defaults: state.pair(PairKey.configuration))))
            var decisions = drawn(terms.channel, min(held, terms.channel.flatMap { pair.fences[$0] } ?? 0))
            if let priority = terms.priority, priority != Reservation.defaultPriority { decisions.priority = priority }
            decisions.backorder = terms.backorder
            var lines: [AwaitingLine] = []
            var rest = quantity - held
            var promisable: Int64 = 0
            let orders: [OpenOrder]
            if let po = terms.purchaseOrder {
                guard let order = state.purchaseOrder(po) else { throw Refusal.notFound(.purchaseOrder, po) }
                guard order.pair == key else { throw Refusal.argument("po: \(po) is for \(order.sku)/\(order.wh)") }
                guard order.isOpen, let open = pair.openOrders.first(where: { $0.purchaseOrder == po }) else {
                    throw Refusal.closed(.purchaseOrder, po, status: "closed")
                }
                orders = [open]
            } else {
                orders = pair.ordersByETA
            }
            for order in orders where order.unpromised > 0 {
                promisable += order.unpromised
                let take = min(rest, order.unpromised)
                if take > 0 && lines.count < Limits.awaitingLinesMax {
                    lines.append(AwaitingLine(backing: .order(order.purchaseOrder), quantity: take,
                                              date: order.eta.adding(seconds: pair.padSeconds)))
                    rest -= take
                }
            }
            let preorderLeft = terms.backorder == .cap ? pair.preorderLeft(at: context.clock) : 0
            if rest > 0 && terms.backorder == .cap {
                if pair.preorder > 0, let until = pair.preorderUntil, context.clock >= until {
                    throw Refusal.state("preorder closed since \(until.rfc3339)")
                }
                let take = min(rest, preorderLeft)
                if take > 0 && lines.count < Limits.awaitingLinesMax {
                    lines.append(AwaitingLine(backing: .cap, quantity: take,
                                              date: pair.preorderETA.map { $0.adding(seconds: pair.padSeconds) }))
                    rest -= take
                }
            }
            guard rest == 0 else {
                throw Refusal.unpromisable(available: pair.available, promisable: promisable,
                                           preorderLeft: preorderLeft, requested: quantity)
            }
            var reservation = Reservation(id: id, sku: sku, wh: wh, held: held, expiresAt: context.clock, ref: nil, status: .open)
            reservation.lines = lines
            let expiresAt = try backorderExpiry(reservation.promise, ttlSeconds: ttlSeconds, clock: context.clock)
            decisions.moves = lines.map { LineMove(reservation: id, from: nil, to: .line($0.backing, date: $0.date), quantity: $0.quantity) }
            return (.reserved(reservation: id, sku: sku, wh: wh, quantity: held, expiresAt: expiresAt), decisions)

        case let .release(reservationID, quantity):
            let reservation = try openReservation(reservationID, state)
            let total = try portion(quantity, of: reservation.held + reservation.awaiting, what: "reservation \(reservationID)")
            // Awaiting units go first, latest line first: what the customer holds stays theirs.
            var moves: [LineMove] = []
            var left = total
            for line in latestFirst(reservation.lines) where left > 0 {
                let take = min(left, line.quantity)
                moves.append(LineMove(reservation: reservationID, from: line.backing, to: .released, quantity: take))
                left -= take
            }
            let body = EventBody.released(reservation: reservationID, sku: reservation.sku, wh: reservation.wh, quantity: left)
            var decisions = fenceBack(reservation, releasing: left, state)
            decisions.moves = moves + freedBy(body, releasing: reservationID, fenceBack: decisions.fenceBack, state)
            return (body, decisions)

        case let .expire(reservationID):
            let reservation = try openReservation(reservationID, state)
            let moves = reservation.lines.map {
                LineMove(reservation: reservationID, from: $0.backing, to: .released, quantity: $0.quantity)
            }
            let body = EventBody.expired(reservation: reservationID, sku: reservation.sku, wh: reservation.wh, quantity: reservation.held)
            var decisions = fenceBack(reservation, releasing: reservation.held, state)
            decisions.moves = moves + freedBy(body, releasing: reservationID, fenceBack: decisions.fenceBack, state)
            return (body, decisions)

        case let .extend(reservationID, ttlSeconds):
            let reservation = try openReservation(reservationID, state)
            let expiresAt = context.clock.adding(seconds: ttlSeconds)
            try ensureReachesPromise(expiresAt, reservation.promise, clock: context.clock)
            return (.extended(reservation: reservationID, sku: reservation.sku, wh: reservation.wh, expiresAt: expiresAt), Decisions())

        case let .transfer(sku, from, to, quantity, transferID, eta, channel):
            guard from != to else { throw Refusal.argument("to: must differ from from") }
            let id = try newIdentifier(transferID, prefix: "x", seq: context.seq) { state.transfer($0) != nil }
            let fence = try draw(PairKey(sku: sku, wh: from), quantity, channel: channel, state)
            let destination = state.pair(PairKey(sku: sku, wh: to)) ?? PairState()
            try ensureRoom(destination.inbound, adding: quantity, bucket: "inbound")
            return (.transferShipped(transfer: id, sku: sku, from: from, to: to, quantity: quantity, eta: eta), drawn(channel, fence))

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
                return (.transferLost(transfer: transferID, sku: transfer.sku, from: transfer.from, to: transfer.to, lost: lostUnits),
                        Decisions())
            }
            let destination = state.pair(PairKey(sku: transfer.sku, wh: transfer.to)) ?? PairState()
            try ensureRoom(destination.onHand, adding: arrived, bucket: "on_hand")
            let body = EventBody.transferArrived(transfer: transferID, sku: transfer.sku, from: transfer.from, to: transfer.to,
                                                 quantity: arrived, lost: lostUnits)
            return (body, Decisions(moves: freedBy(body, releasing: nil, state)))

        case let .adjust(sku, wh, delta, reason):
            try ensureCorrection(PairKey(sku: sku, wh: wh), delta: delta, state)
            let body = EventBody.adjusted(sku: sku, wh: wh, delta: delta, reason: reason)
            var decisions = Decisions(moves: freedBy(body, releasing: nil, state))
            decisions.fenceCuts = fenceCuts(PairKey(sku: sku, wh: wh), delta: delta, state)
            return (body, decisions)

        case let .count(sku, wh, quantity, reason):
            let pair = state.pair(PairKey(sku: sku, wh: wh)) ?? PairState()
            let delta = quantity - pair.onHand
            try ensureCorrection(PairKey(sku: sku, wh: wh), delta: delta, state)
            let body = EventBody.counted(sku: sku, wh: wh, quantity: quantity, delta: delta, reason: reason)
            var decisions = Decisions(moves: freedBy(body, releasing: nil, state))
            decisions.fenceCuts = fenceCuts(PairKey(sku: sku, wh: wh), delta: delta, state)
            return (body, decisions)

        case let .returnGoods(sku, wh, quantity):
            let pair = state.pair(PairKey(sku: sku, wh: wh)) ?? PairState()
            try ensureRoom(pair.onHand, adding: quantity, bucket: "on_hand")
            let body = EventBody.returned(sku: sku, wh: wh, quantity: quantity)
            return (body, Decisions(moves: freedBy(body, releasing: nil, state)))

        case let .expect(sku, wh, quantity, eta, po, bind):
            if state.purchaseOrder(po) != nil { throw Refusal.state("purchase order \(po) already exists") }
            let key = PairKey(sku: sku, wh: wh)
            let pair = state.pair(key) ?? PairState()
            try ensureRoom(pair.incoming, adding: quantity, bucket: "incoming")
            let moves = bind ? binds(pair, state, to: po, quantity: quantity, date: eta.adding(seconds: pair.padSeconds)) : []
            var decisions = Decisions(moves: moves)
            decisions.expiries = slipExpiries(moves, state, clock: context.clock)
            return (.expected(purchaseOrder: po, sku: sku, wh: wh, quantity: quantity, eta: eta), decisions)

        case let .cancel(po, releaseOrphans):
            let order = try openOrder(po, state)
            let pair = state.pair(order.pair) ?? PairState()
            let remaining = pair.openOrders.first { $0.purchaseOrder == po }?.remaining ?? 0
            let moves = rebinds(pair, state, leaving: po, releaseOrphans: releaseOrphans, clock: context.clock)
            var decisions = Decisions(moves: moves)
            decisions.expiries = slipExpiries(moves, state, clock: context.clock)
            return (.cancelled(purchaseOrder: po, sku: order.sku, wh: order.wh, quantity: remaining), decisions)

        case let .reschedule(po, eta, _):
            let order = try openOrder(po, state)
            guard eta != order.eta else { throw Refusal.argument("eta: unchanged") }
            let pair = state.pair(order.pair) ?? PairState()
            let date = eta.adding(seconds: pair.padSeconds)
            var moves: [LineMove] = []
            forEachWaiting(pair, state) { reservation in
                if let line = reservation.line(.order(po)) {
                    moves.append(LineMove(reservation: reservation.id, from: line.backing,
                                          to: .line(line.backing, date: date), quantity: line.quantity))
                }
                return true
            }
            var decisions = Decisions(moves: moves, padSeconds: pair.padSeconds)
            decisions.expiries = slipExpiries(moves, state, clock: context.clock)
            return (.rescheduled(purchaseOrder: po, sku: order.sku, wh: order.wh, eta: eta, previous: order.eta), decisions)

        case let .wait(sku, wh, subscriber, quantity, channel):
            let pair = state.pair(PairKey(sku: sku, wh: wh ?? PairKey.anyWarehouse)) ?? PairState()
            if pair.waitlist.contains(where: { $0.ref == subscriber }) {
                throw Refusal.state("\(subscriber) already waits for \(sku)/\(wh ?? PairKey.anyWarehouse)")
            }
            guard pair.waitlist.count < Limits.waitlistPerPairMax else {
                throw Refusal.limit("waitlist: \(Limits.waitlistPerPairMax) entries for \(sku)/\(wh ?? PairKey.anyWarehouse)")
            }
            return (.waitlisted(sku: sku, wh: wh, subscriber: subscriber, quantity: quantity, channel: channel), Decisions())

        case let .unwait(sku, wh, subscriber, reason):
            let pair = state.pair(PairKey(sku: sku, wh: wh ?? PairKey.anyWarehouse)) ?? PairState()
            guard pair.waitlist.contains(where: { $0.ref == subscriber }) else { throw Refusal.notFound(.waiter, subscriber) }
            return (.unwaitlisted(sku: sku, wh: wh, subscriber: subscriber, reason: reason), Decisions())

        case let .policy(sku, wh, safety, reorder, max, promises, channel):
            guard safety != nil || reorder != nil || max != nil || !(promises?.isEmpty ?? true) || channel != nil else {
                throw Refusal.argument("safety, reorder or max: at least one is required")
            }
            if let channel {
                try ensureChannelRoom(channel.channel, PairKey(sku: sku, wh: wh), state)
                guard channel.inherit || !channel.rules.isEmpty else {
                    throw Refusal.argument("share, buffer, max, low or inherit: one is required with channel")
                }
                try ensureRules(channel.rules)
            }
            return (.policySet(sku: sku, wh: wh, safety: safety, reorder: reorder, max: max,
                               promises: promises?.isEmpty == true ? nil : promises, channel: channel), Decisions())

        case let .allot(sku, wh, channel, quantity, until):
            let key = PairKey(sku: sku, wh: wh)
            try ensureChannelRoom(channel, key, state)
            let pair = state.pair(key) ?? PairState()
            let raise = quantity - (pair.fences[channel] ?? 0)
            guard raise <= pair.free else { throw Refusal.insufficientFree(free: pair.free, requested: raise) }
            let body = EventBody.allotted(sku: sku, wh: wh, channel: channel, quantity: quantity, until: until)
            return (body, Decisions(moves: freedBy(body, releasing: nil, state)))

        case let .unallot(sku, wh, channel):
            guard let fence = state.pair(PairKey(sku: sku, wh: wh))?.fences[channel] else {
                throw Refusal.state("no fence for \(channel) in \(sku)/\(wh)")
            }
            let body = EventBody.unallotted(sku: sku, wh: wh, channel: channel, quantity: fence)
            return (body, Decisions(moves: freedBy(body, releasing: nil, state)))

        case let .channel(channel, rules):
            guard !rules.isEmpty else { throw Refusal.argument("share, buffer, max or low: at least one is required") }
            try ensureRules(rules)
            let defaults = state.pair(PairKey.configuration) ?? PairState()
            guard defaults.channelRules[channel] != nil || defaults.channelRules.count < Limits.channelsMax else {
                throw Refusal.limit("channels: at most \(Limits.channelsMax)")
            }
            return (.channelSet(channel: channel, rules: rules), Decisions())

        case let .route(region, warehouses):
            try ensureDistinct(warehouses, key: "wh")
            if warehouses.isEmpty, state.pair(PairKey.configuration)?.routes[region] == nil {
                throw Refusal.notFound(.region, region)
            }
            return (.routeSet(region: region, warehouses: warehouses), Decisions())

        case let .allocate(request):
            return try allocate(request, state: state, context: context)

        case .releaseAllocation:
            preconditionFailure("RELEASE alloc= is decided by decideEvents, one released event per line")
        }
    }

    /// Units a write takes from a pair's view: with a channel, what that channel may take (its fence
    /// first, then its share of the free pool); without, the free pool (= available with no fences).
    /// Returns how many came from the fence.
    static func draw(_ key: PairKey, _ quantity: Int64, channel: String?, _ state: LedgerState) throws -> Int64 {
        let pair = state.pair(key) ?? PairState()
        // The defaults are looked up only for a channel: the plain sale stays one lookup.
        let view = channel == nil ? pair.free : pair.view(channel, defaults: state.pair(PairKey.configuration))
        guard quantity <= view else {
            throw Refusal.insufficient(available: max(0, view), requested: quantity, sku: key.sku, wh: key.wh)
        }
        return channel.map { min(quantity, pair.fences[$0] ?? 0) } ?? 0
    }

    /// The channel decisions of a write that drew on `channel` (none without one: P4).
    static func drawn(_ channel: String?, _ fence: Int64) -> Decisions {
        var decisions = Decisions()
        decisions.channel = channel
        if channel != nil { decisions.fence = fence }
        return decisions
    }

    /// A channel reservation giving up `held` units returns them to its fence, up to what it drew,
    /// while the fence exists.
    private static func fenceBack(_ reservation: Reservation, releasing held: Int64, _ state: LedgerState) -> Decisions {
        var decisions = Decisions()
        guard let channel = reservation.channel else { return decisions }
        decisions.channel = channel
        if state.pair(reservation.pair)?.fences[channel] != nil {
            let back = min(held, reservation.fence)
            if back > 0 { decisions.fenceBack = back }
        }
        return decisions
    }

    /// A negative correction takes from the free pool first; what it takes beyond cuts fences,
    /// largest first (ties: channel name).
    private static func fenceCuts(_ key: PairKey, delta: Int64, _ state: LedgerState) -> [FenceCut] {
        guard delta < 0, let pair = state.pair(key), !pair.fences.isEmpty else { return [] }
        var over = pair.fenced - (pair.available + delta)
        var cuts: [FenceCut] = []
        for (channel, fence) in pair.fences.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key })
        where over > 0 && fence > 0 {
            let cut = min(over, fence)
            cuts.append(FenceCut(channel: channel, quantity: cut))
            over -= cut
        }
        return cuts
    }

    /// A share is a whole percent 0–100 and the other levels are not negative (else a channel could
    /// see units the pool does not hold, or a negative view); the request parser says so too, and
    /// an import is decided here.
    private static func ensureRules(_ rules: ChannelRules) throws {
        if let share = rules.share, !(0...100).contains(share) { throw Refusal.argument("share: a whole percent from 0 to 100") }
        for (name, level) in [("buffer", rules.buffer), ("max", rules.max), ("low", rules.low)] where (level ?? 0) < 0 {
            throw Refusal.argument("\(name): must not be negative")
        }
    }

    /// At most `Limits.channelsMax` channel names known to a pair (its fences and overrides, and
    /// the defaults).
    private static func ensureChannelRoom(_ channel: String, _ key: PairKey, _ state: LedgerState) throws {
        let pair = state.pair(key) ?? PairState()
        var names = Set(pair.fences.keys).union(pair.channelRules.keys)
        names.formUnion((state.pair(PairKey.configuration)?.channelRules.keys).map(Array.init) ?? [])
        guard names.contains(channel) || names.count < Limits.channelsMax else {
            throw Refusal.limit("channels: at most \(Limits.channelsMax)")
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

    private static func openOrder(_ po: String, _ state: LedgerState) throws -> PurchaseOrder {
        guard let order = state.purchaseOrder(po) else { throw Refusal.notFound(.purchaseOrder, po) }
        guard order.isOpen else { throw Refusal.closed(.purchaseOrder, po, status: "closed") }
        return order
    }

    /// A ttl may not end before the promise, unless the promise is further away than the longest
    /// ttl (90 days): then the reservation runs as long as it may (the longest ttl), and is
    /// extended later.
    private static func ensureReachesPromise(_ expiresAt: Timestamp, _ promise: Promise, clock: Timestamp) throws {
        guard case .date(let date) = promise,
              expiresAt < min(date, clock.adding(seconds: Limits.reservationTTLMaxSeconds)) else { return }
        throw Refusal.argument("ttl: ends \(expiresAt.rfc3339) before promise \(date.rfc3339)")
    }

    /// A backorder runs until its promise plus 7 days (30 days from now when the promise is unknown),
    /// at most 90 days; an explicit ttl may not end before the promise.
    static func backorderExpiry(_ promise: Promise, ttlSeconds: Int64?, clock: Timestamp) throws -> Timestamp {
        if let ttlSeconds {
            let expiresAt = clock.adding(seconds: ttlSeconds)
            try ensureReachesPromise(expiresAt, promise, clock: clock)
            return expiresAt
        }
        return backorderDefaultExpiry(promise, clock: clock)
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
