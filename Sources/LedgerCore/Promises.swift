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
        case let .unallotted(_, _, channel, _):
            pair.fences.removeValue(forKey: channel)
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
    /// A channel's reservation takes from the pool no more than the channel's share of what is left
    /// (§1b: shares throttle what a channel sees); lines of the order being received are exempt, as
    /// those units were promised to them. `pair` is the pair as the event leaves it before any fill.
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
        let defaults = pair.fences.isEmpty && pair.channelRules.isEmpty ? nil : state.pair(PairKey.configuration)
        forEachWaiting(pair, state) { reservation in
            guard reservation.id != excluding else { return true }
            for line in latestFirst(reservation.lines) where free > 0 {
                let already = line.backing == receivedOrder.map(Backing.order) ? filledFromOrder[reservation.id] ?? 0 : 0
                let allowed = reservation.channel.map { pair.softShare($0, of: free, defaults: defaults ?? state.pair(PairKey.configuration)) }
                let take = min(free, line.quantity - already, allowed ?? Int64.max)
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
            var lineCount = reservation.lines.count
            func move(_ quantity: Int64, _ target: LineMove.Target) {
                moves.append(LineMove(reservation: reservation.id, from: line.backing, to: target, quantity: quantity))
                left -= quantity
            }
            // A backing the reservation has no line on takes one more line, unless the move empties
            // the cancelled line, whose place it then takes.
            func fits(_ backing: Backing, _ take: Int64) -> Bool {
                let adds = reservation.line(backing) == nil
                guard !adds || take == left || lineCount < Limits.awaitingLinesMax else { return false }
                lineCount += (adds ? 1 : 0) - (take == left ? 1 : 0)
                return true
            }
            for index in others.indices where left > 0 && others[index].unpromised > 0 {
                let backing = Backing.order(others[index].purchaseOrder)
                let take = min(left, others[index].unpromised)
                guard fits(backing, take) else { continue }
                others[index].promised += take
                move(take, .line(backing, date: others[index].eta.adding(seconds: pair.padSeconds)))
            }
            if left > 0, reservation.backorder == .cap, capRoom > 0, fits(.cap, min(left, capRoom)) {
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

extension Ledger {
    /// Every broken holding or promise invariant of a whole state (one with no source), in words;
    /// empty when all hold. `stockctl verify` runs it on the replayed state; the property tests
    /// after every event. Per pair: held units (`reserved`) are the open reservations' `held` and
    /// no more than on hand; `promised`, `preordered` and `unbacked` are the sums of the open
    /// reservations' order, cap and none lines; each open order's `promised` is its lines' sum and
    /// at most its remainder; `waiting` is exactly the open reservations with lines, in fill order.
    /// Per reservation: at most `Limits.awaitingLinesMax` lines, one per backing, none empty, each
    /// order line on an open order of its own pair; a closed one holds and awaits nothing.
    public static func promiseProblems(in state: LedgerState) -> [String] {
        var problems: [String] = []
        struct Sums { var held: Int64 = 0, cap: Int64 = 0, none: Int64 = 0, orders: [String: Int64] = [:],
                      waiting: [WaitingEntry] = [] }
        var sums: [PairKey: Sums] = [:]
        for reservation in state.reservations.values.sorted(by: { $0.id < $1.id }) {
            let name = "reservation \(reservation.id)"
            guard reservation.status == .open else {
                if reservation.held != 0 || !reservation.lines.isEmpty {
                    problems.append("\(name) is \(reservation.status.name) but holds \(reservation.held) and awaits \(reservation.awaiting)")
                }
                continue
            }
            if reservation.held < 0 || (reservation.held == 0 && reservation.lines.isEmpty) {
                problems.append("open \(name) holds \(reservation.held) and awaits nothing")
            }
            if reservation.lines.count > Limits.awaitingLinesMax {
                problems.append("\(name) has \(reservation.lines.count) lines, more than \(Limits.awaitingLinesMax)")
            }
            if Set(reservation.lines.map(\.backing)).count != reservation.lines.count {
                problems.append("\(name) has two lines on one backing: \(reservation.lines)")
            }
            var pair = sums[reservation.pair, default: Sums()]
            pair.held += reservation.held
            if !reservation.lines.isEmpty { pair.waiting.append(reservation.waitingEntry) }
            for line in reservation.lines {
                if line.quantity <= 0 { problems.append("\(name) has a line of \(line.quantity) on \(line.backing.name)") }
                switch line.backing {
                case .order(let po):
                    pair.orders[po, default: 0] += line.quantity
                    if state.pairs[reservation.pair]?.openOrders.contains(where: { $0.purchaseOrder == po }) != true {
                        problems.append("\(name) awaits \(line.quantity) on \(po), which is not open for \(reservation.sku)/\(reservation.wh)")
                    }
                case .cap: pair.cap += line.quantity
                case .none: pair.none += line.quantity
                }
            }
            sums[reservation.pair] = pair
        }
        for key in Set(sums.keys).subtracting(state.pairs.keys).sorted() {
            problems.append("\(key.sku)/\(key.wh) has open reservations but no pair")
        }
        for (key, pair) in state.pairs.sorted(by: { $0.key < $1.key }) {
            let name = "\(key.sku)/\(key.wh)"
            let expected = sums[key] ?? Sums()
            if pair.onHand < 0 || pair.reserved < 0 || pair.promised < 0 || pair.preordered < 0 || pair.unbacked < 0 {
                problems.append("\(name) has a negative bucket: on_hand=\(pair.onHand) reserved=\(pair.reserved) "
                                + "promised=\(pair.promised) preordered=\(pair.preordered) unbacked=\(pair.unbacked)")
            }
            if pair.reserved > pair.onHand { problems.append("\(name) holds \(pair.reserved), more than on_hand \(pair.onHand)") }
            if pair.fenced > max(0, pair.available) || pair.fences.values.contains(where: { $0 < 0 }) {
                problems.append("\(name) fences \(pair.fences) more than its \(pair.available) available")
            }
            if pair.reserved != expected.held {
                problems.append("\(name) reserved \(pair.reserved) but its open reservations hold \(expected.held)")
            }
            let lineSum = expected.orders.values.reduce(0, +)
            let orderSum = pair.openOrders.reduce(Int64(0)) { $0 + $1.promised }
            if pair.promised != lineSum || pair.promised != orderSum {
                problems.append("\(name) promised \(pair.promised) but its order lines sum to \(lineSum) and its orders to \(orderSum)")
            }
            for order in pair.openOrders {
                let bound = expected.orders[order.purchaseOrder] ?? 0
                if order.promised != bound {
                    problems.append("\(name) order \(order.purchaseOrder) promised \(order.promised) but its lines sum to \(bound)")
                }
                if order.promised > order.remaining {
                    problems.append("\(name) order \(order.purchaseOrder) promised \(order.promised), more than its \(order.remaining) remaining")
                }
            }
            if pair.preordered != expected.cap {
                problems.append("\(name) preordered \(pair.preordered) but its cap lines sum to \(expected.cap)")
            }
            if pair.unbacked != expected.none {
                problems.append("\(name) unbacked \(pair.unbacked) but its none lines sum to \(expected.none)")
            }
            if pair.waiting != expected.waiting.sorted() {
                problems.append("\(name) waiting list \(pair.waiting.map(\.reservation)) is not its reservations with lines "
                                + "in fill order \(expected.waiting.sorted().map(\.reservation))")
            }
        }
        return problems
    }
}
