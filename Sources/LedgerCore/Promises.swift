/// The promise rules of FEATURES.md §1a that `decide` applies: which awaiting lines freed units
/// fill, which lines a new purchase order takes over, where the lines of a cancelled one go. Each
/// returns line moves for the event; the fold only copies them (P1).
extension Ledger {
    /// The moves of an event that frees units in a pair: `body` as it will be folded, and the
    /// reservation it releases (whose own lines are gone by then, so it is never filled).
    /// `fenceBack`: units of the released ones that go back to the reservation's channel fence.
    static func freedBy(_ body: EventBody, releasing: String?, fenceBack: Int64? = nil, _ state: LedgerState) -> [LineMove] {
        let wh = body.warehouses.last!
        let key = PairKey(sku: body.sku, wh: wh)
        guard var pair = state.pair(key), !pair.waiting.isEmpty else { return [] }
        switch body {
        case let .released(id, _, _, quantity), let .expired(id, _, _, quantity):
            pair.reserved -= quantity
            if let fenceBack, let channel = state.reservation(id)?.channel { pair.fences[channel, default: 0] += fenceBack }
        case let .allotted(_, _, channel, quantity, _):
            if quantity == 0 { pair.fences.removeValue(forKey: channel) } else { pair.fences[channel] = quantity }
        case let .transferArrived(_, _, _, _, quantity, _), let .returned(_, _, quantity):
            pair.onHand += quantity
        case let .adjusted(_, _, delta, _), let .counted(_, _, _, delta, _):
            guard delta > 0 else { return [] }
            pair.onHand += delta
        default:
            return []
        }
        return fills(pair, key, state, receivedOrder: nil, excluding: releasing)
    }

    /// Fills awaiting units with the pair's free units, in order of (priority, seq): a receipt
    /// against an order fills that order's lines first; inside a reservation the latest line is
    /// filled first. With `fill=po`, only a receipt against an order fills, and only its lines.
    /// `pair` is the pair as the event leaves it before any fill.
    static func fills(_ pair: PairState, _ key: PairKey, _ state: LedgerState, receivedOrder: String?,
                      excluding: String? = nil) -> [LineMove] {
        var free = pair.free
        guard free > 0, !pair.waiting.isEmpty else { return [] }
        if pair.fillByOrder && receivedOrder == nil { return [] }
        var moves: [LineMove] = []
        var filledFromOrder: [String: Int64] = [:]
        if let po = receivedOrder {
            forEachWaiting(pair, state) { reservation in
                guard reservation.id != excluding, let line = reservation.line(.order(po)) else { return true }
                let take = min(free, line.quantity)
                moves.append(LineMove(reservation: reservation.id, from: line.backing, to: .held, quantity: take))
                filledFromOrder[reservation.id] = take
                free -= take
                return free > 0
            }
            if pair.fillByOrder { return moves }
        }
        forEachWaiting(pair, state) { reservation in
            guard reservation.id != excluding else { return true }
            for line in latestFirst(reservation.lines) where free > 0 {
                let already = line.backing == receivedOrder.map(Backing.order) ? filledFromOrder[reservation.id] ?? 0 : 0
                let take = min(free, line.quantity - already)
                guard take > 0 else { continue }
                moves.append(LineMove(reservation: reservation.id, from: line.backing, to: .held, quantity: take))
                free -= take
            }
            return free > 0
        }
        return moves
    }

    /// A new order `po` of `quantity` units takes over waiting lines: first unbacked ones, then cap
    /// ones, each in fill order.
    static func binds(_ pair: PairState, _ state: LedgerState, to po: String, quantity: Int64, date: Timestamp) -> [LineMove] {
        var left = quantity
        var moves: [LineMove] = []
        for backing in [Backing.none, .cap] {
            forEachWaiting(pair, state) { reservation in
                guard let line = reservation.line(backing) else { return true }
                let take = min(left, line.quantity)
                if take < line.quantity && !canAddLine(reservation, .order(po)) { return true }
                moves.append(LineMove(reservation: reservation.id, from: backing, to: .line(.order(po), date: date), quantity: take))
                left -= take
                return left > 0
            }
            if left == 0 { break }
        }
        return moves
    }

    /// Where the lines of cancelled order `po` go: to the pair's other open orders with unpromised
    /// units (ETA order), then to the cap when the reservation was made with `backorder=cap` and the
    /// window has room, else to `none` (or released with `orphans=release`).
    static func rebinds(_ pair: PairState, _ state: LedgerState, leaving po: String, releaseOrphans: Bool,
                        clock: Timestamp) -> [LineMove] {
        var others = pair.ordersByETA.filter { $0.purchaseOrder != po }
        var capRoom = pair.preorderLeft(at: clock)
        let capDate = pair.preorderETA.map { $0.adding(seconds: pair.padSeconds) }
        var moves: [LineMove] = []
        forEachWaiting(pair, state) { reservation in
            guard let line = reservation.line(.order(po)) else { return true }
            var left = line.quantity
            func move(_ quantity: Int64, _ target: LineMove.Target) {
                moves.append(LineMove(reservation: reservation.id, from: line.backing, to: target, quantity: quantity))
                left -= quantity
            }
            for index in others.indices where left > 0 && others[index].unpromised > 0 {
                let backing = Backing.order(others[index].purchaseOrder)
                // The cancelled line's place frees one line when it moves whole.
                guard canAddLine(reservation, backing) || left == line.quantity else { continue }
                let take = min(left, others[index].unpromised)
                others[index].promised += take
                move(take, .line(backing, date: others[index].eta.adding(seconds: pair.padSeconds)))
            }
            if left > 0, reservation.backorder == .cap, capRoom > 0 {
                let take = min(left, capRoom)
                capRoom -= take
                move(take, .line(.cap, date: capDate))
            }
            if left > 0 { move(left, releaseOrphans ? .released : .line(.none, date: nil)) }
            return true
        }
        return moves
    }

    /// The expiries a set of moves pushes later: a reservation whose promise moves keeps at least
    /// its backorder margin after the new promise (never shortened, at most 90 days from now).
    static func slipExpiries(_ moves: [LineMove], _ state: LedgerState, clock: Timestamp) -> [ExpiryChange] {
        var after: [String: Reservation] = [:]
        var order: [String] = []
        for move in moves {
            guard var reservation = after[move.reservation] ?? state.reservation(move.reservation) else { continue }
            if after[move.reservation] == nil { order.append(move.reservation) }
            reservation.apply(move)
            after[move.reservation] = reservation
        }
        return order.compactMap { id in
            let reservation = after[id]!
            guard !reservation.lines.isEmpty else { return nil }
            let needed = backorderDefaultExpiry(reservation.promise, clock: clock)
            return needed > reservation.expiresAt ? ExpiryChange(reservation: id, expiresAt: needed) : nil
        }
    }

    /// A backorder's default expiry: its promise plus 7 days, or 30 days from now when the promise is
    /// unknown, at most 90 days from now.
    static func backorderDefaultExpiry(_ promise: Promise, clock: Timestamp) -> Timestamp {
        let latest = clock.adding(seconds: Limits.reservationTTLMaxSeconds)
        switch promise {
        case .now: return clock.adding(seconds: Limits.reservationTTLDefaultSeconds)
        case .unknown: return min(latest, clock.adding(seconds: Limits.backorderTTLUnknownSeconds))
        case .date(let date): return min(latest, max(clock, date).adding(seconds: Limits.backorderTTLAfterPromiseSeconds))
        }
    }

    /// Calls `body` with each reservation waiting in `pair`, in fill order, while it returns true.
    static func forEachWaiting(_ pair: PairState, _ state: LedgerState, _ body: (Reservation) -> Bool) {
        for entry in pair.waiting {
            guard let reservation = state.reservation(entry.reservation) else {
                preconditionFailure("waiting reservation \(entry.reservation) is unknown")
            }
            if !body(reservation) { return }
        }
    }

    /// A reservation's lines in the order they are filled and given up: unbacked, then cap, then
    /// orders latest date first.
    static func latestFirst(_ lines: [AwaitingLine]) -> [AwaitingLine] {
        lines.sorted { a, b in
            if a.backing.fillRank != b.backing.fillRank { return a.backing.fillRank < b.backing.fillRank }
            switch (a.date, b.date) {
            case let (x?, y?): return x > y
            case (nil, _?): return true
            default: return false
            }
        }
    }

    private static func canAddLine(_ reservation: Reservation, _ backing: Backing) -> Bool {
        reservation.line(backing) != nil || reservation.lines.count < Limits.awaitingLinesMax
    }
}

extension EventBody {
    /// The warehouse whose units an event's fills use (`filled` events continue it).
    public var fillWarehouse: String { warehouses.last! }
}
