import LedgerCore

/// The reply rows and `OK` lines of PROTOCOL.md, built from ledger values. One function per row word,
/// so every verb that shows a pair shows it the same way.
public enum Rows {
    /// A `stock` row: every bucket of one (sku, wh).
    /// `at` is the time the pre-order window is judged at (the read's time, or its `at=`).
    public static func stock(_ key: PairKey, _ pair: PairState, at: Timestamp? = nil) -> String { stockLine(key, pair, at: at).text }

    /// The `stock` row as bytes (the daemon copies them straight into the reply). With `seq`, the row
    /// says which event it follows (`WATCH events stock=yes`).
    public static func stockLine(_ key: PairKey, _ pair: PairState, at: Timestamp? = nil, seq: UInt64? = nil) -> ReplyLine {
        var line = ReplyLine("stock")
        if let seq { line.add("seq", seq) }
        line.add("sku", key.sku)
        line.add("wh", key.wh)
        line.add("on_hand", pair.onHand)
        line.add("reserved", pair.reserved)
        line.add("available", pair.available)
        line.add("inbound", pair.inbound)
        line.add("incoming", pair.incoming)
        line.addIfPresent("next_eta", pair.nextETA)
        line.add("safety", pair.safety)
        line.add("reorder", pair.reorder)
        line.add("max", pair.max)
        line.add("breach", pair.isBreached)
        line.addIfPresent("breach_since", pair.breachSince)
        line.add("projected", pair.projected)
        // Promise buckets only for pairs that use promises, so other replies stay as they were (P4).
        if pair.usesPromises {
            line.add("promised", pair.promised)
            line.add("preordered", pair.preordered)
            line.add("unbacked", pair.unbacked)
            line.add("atp", pair.atp)
            line.add("preorder_left", at.map { pair.preorderLeft(at: $0) } ?? (pair.preorderUntil == nil ? max(0, pair.preorder - pair.preordered) : 0))
            line.addIfPresent("restock_eta", pair.restockETA)
            line.add("waiting", pair.waitingUnits)
        }
        if pair.usesChannels {
            line.add("fenced", pair.fenced)
            line.add("free", pair.free)
        }
        return line
    }

    /// A `stock` row with a channel's `view=` and `fence=` after the buckets (`STOCK channel=`).
    public static func stock(_ key: PairKey, _ pair: PairState, at: Timestamp?, channel: String, defaults: PairState?) -> String {
        var line = stockLine(key, pair, at: at)
        line.add("view", max(0, pair.view(channel, defaults: defaults)))
        line.add("fence", pair.fences[channel] ?? 0)
        return line.text
    }

    /// A `channel` row of CHANNELS: one channel in one pair.
    public static func channel(_ key: PairKey, _ pair: PairState, channel: String, defaults: PairState?, held: Int64,
                               sold7d: Int64) -> String {
        let rules = pair.channelRules[channel].merged(over: defaults?.channelRules[channel])
        var line = ReplyLine("channel")
        line.add("sku", key.sku)
        line.add("wh", key.wh)
        line.add("channel", channel)
        line.add("fence", pair.fences[channel] ?? 0)
        line.add("share", rules.share ?? 100)
        line.add("buffer", rules.buffer ?? 0)
        line.add("max", rules.max.map(String.init) ?? "none")
        line.add("low", rules.low ?? 0)
        line.add("view", max(0, pair.view(channel, defaults: defaults)))
        line.add("held", held)
        line.add("sold_7d", sold7d)
        return line.text
    }

    /// The `total` row: sums across the warehouses of one sku.
    public static func total(sku: String, _ pairs: [(PairKey, PairState)]) -> String { totalLine(sku: sku, pairs).text }

    public static func totalLine(sku: String, _ pairs: [(PairKey, PairState)]) -> ReplyLine {
        var onHand: Int64 = 0, reserved: Int64 = 0, inbound: Int64 = 0, incoming: Int64 = 0, breaches = 0
        for (_, pair) in pairs {
            onHand += pair.onHand
            reserved += pair.reserved
            inbound += pair.inbound
            incoming += pair.incoming
            if pair.isBreached { breaches += 1 }
        }
        var line = ReplyLine("total")
        line.add("sku", sku)
        line.add("on_hand", onHand)
        line.add("reserved", reserved)
        line.add("available", onHand - reserved)
        line.add("inbound", inbound)
        line.add("incoming", incoming)
        line.add("projected", onHand - reserved + inbound + incoming)
        line.add("warehouses", pairs.count)
        line.add("breaches", breaches)
        return line
    }

    /// The short form of a pair that goes on a write's `OK` line.
    /// `unbackedNamed`: the line already says `unbacked=` (a CANCEL's count), so the bucket is left out.
    public static func addBuckets(_ key: PairKey, _ pair: PairState, to line: inout ReplyLine, unbackedNamed: Bool = false) {
        line.add("sku", key.sku)
        line.add("wh", key.wh)
        line.add("on_hand", pair.onHand)
        line.add("reserved", pair.reserved)
        line.add("available", pair.available)
        line.add("breach", pair.isBreached)
        if pair.usesPromises {
            line.add("promised", pair.promised)
            if pair.preorder > 0 || pair.preordered > 0 { line.add("preordered", pair.preordered) }
            if pair.unbacked > 0 && !unbackedNamed { line.add("unbacked", pair.unbacked) }
        }
    }

    public static func breach(_ key: PairKey, _ pair: PairState) -> String {
        var line = ReplyLine("breach")
        line.add("sku", key.sku)
        line.add("wh", key.wh)
        line.add("available", pair.available)
        line.add("safety", pair.safety)
        line.add("short", pair.safety - pair.available)
        line.addIfPresent("since", pair.breachSince)
        line.add("lowest", pair.breachLowest)
        return line.text
    }

    public static func interval(_ interval: BreachInterval) -> String {
        var line = ReplyLine("interval")
        line.add("sku", interval.pair.sku)
        line.add("wh", interval.pair.wh)
        line.add("start", interval.start)
        if let end = interval.end { line.add("end", end) } else { line.add("open", true) }
        line.add("seconds", interval.seconds)
        line.add("lowest", interval.lowest)
        return line.text
    }

    public static func reorder(_ key: PairKey, _ pair: PairState, suggest: Int64) -> String {
        var line = ReplyLine("reorder")
        line.add("sku", key.sku)
        line.add("wh", key.wh)
        line.add("projected", pair.projected)
        line.add("reorder", pair.reorder)
        line.add("max", pair.max)
        line.add("suggest", suggest)
        return line.text
    }

    /// `late`: whether an order it waits on is past its ETA (nil: not judged).
    public static func reservation(_ reservation: Reservation, late: Bool? = nil) -> String {
        var line = ReplyLine("reservation")
        line.add("res", reservation.id)
        line.add("sku", reservation.sku)
        line.add("wh", reservation.wh)
        line.add("qty", reservation.held + reservation.awaiting)
        line.add("expires", reservation.expiresAt)
        line.addIfPresent("ref", reservation.ref)
        if reservation.backorder != .no || !reservation.lines.isEmpty || reservation.priority != Reservation.defaultPriority {
            line.add("held", reservation.held)
            line.add("awaiting", reservation.awaiting)
            line.add("lines", lines(reservation.lines))
            line.add("promise", reservation.promise.text)
            line.add("late", late ?? false)
            line.add("priority", Int64(reservation.priority))
        }
        line.addIfPresent("channel", reservation.channel)
        line.addIfPresent("alloc", reservation.alloc)
        return line.text
    }

    /// `PO-9:3,cap:2` (`-` for none).
    public static func lines(_ lines: [AwaitingLine]) -> String {
        lines.isEmpty ? "-" : lines.map { "\($0.backing.name):\($0.quantity)" }.joined(separator: ",")
    }

    /// The supply a promise may draw on in a pair, earliest first: free units now, each open order's
    /// unpromised units at ETA + pad, then (with `backorder=cap`) the pre-order cap's room.
    public static func supply(_ pair: PairState, backorder: Backorder, at time: Timestamp) -> [(source: String, quantity: Int64, date: Timestamp?)] {
        var supply: [(source: String, quantity: Int64, date: Timestamp?)] = []
        for order in pair.ordersByETA where order.unpromised > 0 {
            supply.append((order.purchaseOrder, order.unpromised, order.eta.adding(seconds: pair.padSeconds)))
        }
        if backorder == .cap, pair.preorderLeft(at: time) > 0 {
            supply.append(("cap", pair.preorderLeft(at: time), pair.preorderETA.map { $0.adding(seconds: pair.padSeconds) }))
        }
        return supply
    }

    /// A `promise` row of PROMISE: what a RESERVE of `quantity` with this backorder would get now.
    public static func promise(_ key: PairKey, _ pair: PairState, quantity: Int64, backorder: Backorder, at time: Timestamp) -> String {
        let now = max(0, min(quantity, pair.available))
        var rest = quantity - now
        var lines: [AwaitingLine] = []
        for source in supply(pair, backorder: backorder, at: time) where rest > 0 && lines.count < Limits.awaitingLinesMax {
            let take = min(rest, source.quantity)
            lines.append(AwaitingLine(backing: source.source == "cap" ? .cap : .order(source.source), quantity: take, date: source.date))
            rest -= take
        }
        var probe = Reservation(id: "", sku: key.sku, wh: key.wh, held: now, expiresAt: time, ref: nil, status: .open)
        probe.lines = lines
        var line = ReplyLine("promise")
        line.add("wh", key.wh)
        line.add("now", now)
        line.add("lines", lines.isEmpty ? "-" : lines.map { "\($0.backing.name):\($0.quantity)@\($0.date?.rfc3339 ?? "unknown")" }.joined(separator: ","))
        line.add("date", rest > 0 ? "none" : probe.promise.text)
        line.add("short", rest)
        return line.text
    }

    /// PROMISE without a quantity: the ATP timeline of a pair, `atp wh= date=now qty=N`, then one row
    /// per supply (`date=<eta+pad> qty=+30 po=PO-9`, the cap last with `cap=yes`).
    public static func atpTimeline(_ key: PairKey, _ pair: PairState, at time: Timestamp) -> [String] {
        var rows: [String] = []
        var line = ReplyLine("atp")
        line.add("wh", key.wh)
        line.add("date", "now")
        line.add("qty", max(0, pair.available))
        rows.append(line.text)
        for source in supply(pair, backorder: .cap, at: time) {
            var line = ReplyLine("atp")
            line.add("wh", key.wh)
            line.add("date", source.date?.rfc3339 ?? "unknown")
            line.add("qty", "+\(source.quantity)")
            if source.source == "cap" { line.add("cap", true) } else { line.add("po", source.source) }
            rows.append(line.text)
        }
        return rows
    }

    /// A `fill` row: awaiting units of a reservation became held.
    public static func fill(_ reservation: Reservation, quantity: Int64) -> String {
        var line = ReplyLine("fill")
        line.add("res", reservation.id)
        line.add("qty", quantity)
        line.add("held", reservation.held)
        line.add("awaiting", reservation.awaiting)
        return line.text
    }

    /// A `promise` row: a reservation's promise moved (RESCHEDULE, CANCEL).
    /// `released`: units of it the write gave up (`orphans=release`); a reservation left with
    /// nothing reads `new=released`.
    public static func promise(_ reservation: Reservation, old: Promise, released: Int64 = 0) -> String {
        var line = ReplyLine("promise")
        line.add("res", reservation.id)
        line.add("old", old.text)
        line.add("new", reservation.status == .open ? reservation.promise.text : reservation.status.name)
        if released > 0 { line.add("released", released) }
        line.add("expires", reservation.expiresAt)
        line.addIfPresent("ref", reservation.ref)
        return line.text
    }

    /// What `WATCH promises` pushes for one event: `filled` (awaiting units became held: the order
    /// can be picked), `slipped` (a promise moved later, or became unknown), `unbacked` (units left
    /// with no supply). `before` are the promises as they were; `reservations` answers after it.
    public static func promisePushes(_ event: Event, before: [String: Promise],
                                     reservations: (String) -> Reservation?) -> [String] {
        guard event.hasDecisions, !event.decisions.moves.isEmpty else { return [] }
        var lines: [String] = []
        func line(_ word: String, _ reservation: Reservation) -> ReplyLine {
            var line = ReplyLine(word)
            line.add("seq", event.seq)
            line.add("at", event.recordedAt)
            line.add("res", reservation.id)
            line.add("sku", reservation.sku)
            line.add("wh", reservation.wh)
            return line
        }
        for (id, quantity) in event.decisions.fills {
            guard let reservation = reservations(id) else { continue }
            var row = line("filled", reservation)
            row.add("qty", quantity)
            row.add("held", reservation.held)
            row.add("awaiting", reservation.awaiting)
            row.add("promise", reservation.promise.text)
            row.addIfPresent("ref", reservation.ref)
            lines.append(row.text)
        }
        for (id, old) in before.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            guard let reservation = reservations(id), reservation.status == .open, reservation.promise.isLater(than: old) else { continue }
            var row = line("slipped", reservation)
            row.add("from", old.text)
            row.add("to", reservation.promise.text)
            let left = event.decisions.moves.first { $0.reservation == id && $0.from != nil }?.from
            if case .order(let po)? = left { row.add("po", po) }
            row.addIfPresent("ref", reservation.ref)
            lines.append(row.text)
        }
        for (id, quantity) in event.decisions.sums({ $0.from != nil && $0.to == .line(.none, date: nil) }) {
            guard let reservation = reservations(id) else { continue }
            var row = line("unbacked", reservation)
            row.add("qty", quantity)
            row.addIfPresent("ref", reservation.ref)
            lines.append(row.text)
        }
        return lines
    }

    /// A `restock` row of RESTOCK: a pair with nothing to sell, who waits for it, and when it is
    /// honestly back (`source` the purchase order or transfer that date comes from); `since` is when
    /// the oldest waiter joined.
    public static func restock(_ key: PairKey, _ pair: PairState, source: (name: String, eta: Timestamp?)?) -> String {
        var line = ReplyLine("restock")
        line.add("sku", key.sku)
        line.add("wh", key.wh)
        line.add("waiting", pair.waitlist.count)
        line.add("waiting_qty", pair.waitingUnits)
        line.add("restock_eta", source?.eta?.rfc3339 ?? "none")
        line.add("source", source?.name ?? "none")
        line.addIfPresent("since", pair.waitlist.first?.since)
        return line.text
    }

    /// The `restock` push: stock reached `view` where people wait; `notify` names the oldest of them
    /// whose quantities the stock can serve (at most `Limits.restockNotifyMax`).
    public static func restockPush(seq: UInt64, _ key: PairKey, view: Int64, waiters: [Waiter]) -> String {
        var notify: [String] = [], covered: Int64 = 0
        for waiter in waiters {
            guard notify.count < Limits.restockNotifyMax, covered + waiter.quantity <= view else { break }
            notify.append(waiter.ref)
            covered += waiter.quantity
        }
        var line = ReplyLine("restock")
        line.add("seq", seq)
        line.add("sku", key.sku)
        line.add("wh", key.wh)
        line.add("view", view)
        line.add("waiting", waiters.count)
        line.add("notify", notify.isEmpty ? "-" : notify.joined(separator: ","))
        return line.text
    }

    /// The `eta` push: the restock date of a pair people wait for moved.
    public static func etaPush(seq: UInt64, _ key: PairKey, _ pair: PairState) -> String {
        var line = ReplyLine("eta")
        line.add("seq", seq)
        line.add("sku", key.sku)
        line.add("wh", key.wh)
        line.add("restock_eta", pair.restockETA?.rfc3339 ?? "none")
        return line.text
    }

    /// The `fence_cut` push: a negative count took units from a channel's fence.
    public static func fenceCut(_ event: Event, _ cut: FenceCut) -> String {
        var line = ReplyLine("fence_cut")
        line.add("seq", event.seq)
        line.add("sku", event.sku)
        line.add("wh", event.body.warehouses[0])
        line.add("channel", cut.channel)
        line.add("qty", cut.quantity)
        return line.text
    }

    /// The `overdue` push: an open purchase order with promises bound to it reached its ETA.
    public static func overdue(_ key: PairKey, _ order: OpenOrder, at time: Timestamp) -> String {
        var line = ReplyLine("overdue")
        line.add("at", time)
        line.add("po", order.purchaseOrder)
        line.add("sku", key.sku)
        line.add("wh", key.wh)
        line.add("eta", order.eta)
        line.add("remaining", order.remaining)
        line.add("promised", order.promised)
        return line.text
    }

    /// The promises of the reservations an event's moves touch, taken before it is folded: the
    /// `old=` of `promise` rows.
    public static func promisesBefore(_ event: Event, reservations: (String) -> Reservation?) -> [String: Promise] {
        guard event.hasDecisions, !event.decisions.moves.isEmpty else { return [:] }
        var promises: [String: Promise] = [:]
        for move in event.decisions.moves where promises[move.reservation] == nil {
            if let reservation = reservations(move.reservation) { promises[move.reservation] = reservation.promise }
        }
        return promises
    }

    public static func transfer(_ transfer: Transfer) -> String {
        var line = ReplyLine("transfer")
        line.add("xfer", transfer.id)
        line.add("sku", transfer.sku)
        line.add("from", transfer.from)
        line.add("to", transfer.to)
        line.add("qty", transfer.inTransit)
        line.add("shipped", transfer.shipped)
        line.add("arrived", transfer.arrived)
        line.add("lost", transfer.lost)
        line.addIfPresent("eta", transfer.eta)
        return line.text
    }

    /// The pairs `WATCH events stock=yes` shows after an event: the real ones it touched, not the
    /// any-warehouse waitlist nor the channel defaults (`*`).
    public static func stockedPairs(of event: Event) -> [PairKey] {
        guard event.sku != PairKey.configuration.sku else { return [] }
        var keys: [PairKey] = []
        for wh in event.body.warehouses where wh != PairKey.anyWarehouse && !keys.contains(where: { $0.wh == wh }) {
            keys.append(PairKey(sku: event.sku, wh: wh))
        }
        return keys
    }

    /// An event as `WATCH events stock=yes` pushes it: a `stock seq=` row per pair it touched, with the
    /// buckets right after it (`pair` answers them), then the `event` row, which closes the group.
    public static func eventWithStock(_ event: Event, pair: (PairKey) -> PairState) -> [String] {
        stockedPairs(of: event).map { stockLine($0, pair($0), at: event.recordedAt, seq: event.seq).text } + [Rows.event(event)]
    }

    /// An `event` row: seq, time, kind, actor, then the event's own fields.
    public static func event(_ event: Event, word: String = "event") -> String {
        var line = ReplyLine(word)
        line.add("seq", event.seq)
        line.add("at", event.recordedAt)
        line.add("kind", event.body.kind.name)
        line.add("actor", Int64(event.actor))
        for (key, value) in fields(of: event.body) { line.add(key, value) }
        for (key, value) in decisionFields(of: event) { line.add(key, value) }
        line.addIfPresent("ref", event.ref)
        line.addIfPresent("id", event.idempotencyKey)
        line.addIfPresent("note", event.note)
        return line.text
    }

    static func ruleFields(_ rules: ChannelRules) -> [(String, String)] {
        var fields: [(String, String)] = []
        if let share = rules.share { fields.append(("share", String(share))) }
        if let buffer = rules.buffer { fields.append(("buffer", String(buffer))) }
        if let max = rules.max { fields.append(("max", String(max))) }
        if let low = rules.low { fields.append(("low", String(low))) }
        return fields
    }

    /// `ORD-9.1@LIL:5,ORD-9.2@PAR:2`: an allocation's lines, as batch `done` rows and `event` rows show them.
    public static func allocationLines(_ lines: [AllocationLine]) -> String {
        lines.map { "\($0.reservation)@\($0.wh):\($0.quantity)" }.joined(separator: ",")
    }

    /// The decisions of an event as `event` rows show them: `backorder= priority= lines=` of a
    /// reservation, `fills=r11:3,r14:2`, `binds=` (EXPECT), `rebind=r12:3>PO-10,r15:2>cap` (CANCEL),
    /// `moved=` (RESCHEDULE, with `pad=`), `gave_up=` (awaiting units a RELEASE or expiry gave up).
    public static func decisionFields(of event: Event) -> [(String, String)] {
        let decisions = event.decisions
        guard !decisions.isEmpty else { return [] }
        var fields: [(String, String)] = []
        if let backorder = decisions.backorder { fields.append(("backorder", backorder.name)) }
        if let priority = decisions.priority { fields.append(("priority", String(priority))) }
        if let channel = decisions.channel {
            fields.append(("channel", channel))
            if let fence = decisions.fence { fields.append(("fence", String(fence))) }
            if let back = decisions.fenceBack { fields.append(("fence_back", String(back))) }
        }
        if !decisions.fenceCuts.isEmpty {
            fields.append(("fence_cut", decisions.fenceCuts.map { "\($0.channel):\($0.quantity)" }.joined(separator: ",")))
        }
        let created = decisions.moves.filter { $0.from == nil }
        if !created.isEmpty {
            // An allocation names its lines already: its awaiting units are `awaiting=`.
            let key: String
            if case .allocated = event.body { key = "awaiting" } else { key = "lines" }
            fields.append((key, created.map { move -> String in
                guard case let .line(backing, _) = move.to else { return "" }
                return "\(backing.name):\(move.quantity)"
            }.joined(separator: ",")))
        }
        func join(_ sums: [(String, Int64)]) -> String { sums.map { "\($0.0):\($0.1)" }.joined(separator: ",") }
        let moved = decisions.moves.filter { $0.from != nil && $0.to != .held }
        switch event.body {
        case .cancelled:
            if !moved.isEmpty {
                fields.append(("rebind", moved.map { move -> String in
                    let target: String
                    switch move.to {
                    case let .line(backing, _): target = backing.name
                    case .released: target = "released"
                    case .held: target = "held"
                    }
                    return "\(move.reservation):\(move.quantity)>\(target)"
                }.joined(separator: ",")))
            }
        case .rescheduled:
            let moved = decisions.sums { $0.from != nil && $0.to != .held }
            if !moved.isEmpty { fields.append(("moved", join(moved))) }
            fields.append(("pad", String(decisions.padSeconds ?? 0)))
        case .expected:
            if !moved.isEmpty { fields.append(("binds", join(decisions.sums { $0.from != nil && $0.to != .held }))) }
        default:
            if !moved.isEmpty { fields.append(("gave_up", join(decisions.sums { $0.from != nil && $0.to == .released }))) }
        }
        let fills = decisions.fills
        if !fills.isEmpty { fields.append(("fills", join(fills))) }
        if !decisions.expiries.isEmpty {
            fields.append(("expiries", decisions.expiries.map { "\($0.reservation):\($0.expiresAt.rfc3339)" }.joined(separator: ",")))
        }
        return fields
    }

    /// An event's own fields in the protocol's order (sku wh qty res xfer from to po delta reason ...).
    public static func fields(of body: EventBody) -> [(String, String)] {
        func n(_ value: Int64) -> String { String(value) }
        switch body {
        case let .received(sku, wh, quantity, po):
            return [("sku", sku), ("wh", wh), ("qty", n(quantity))] + (po.map { [("po", $0)] } ?? [])
        case let .sold(sku, wh, quantity, reservation):
            return [("sku", sku), ("wh", wh), ("qty", n(quantity))] + (reservation.map { [("res", $0)] } ?? [])
        case let .reserved(reservation, sku, wh, quantity, expiresAt):
            return [("sku", sku), ("wh", wh), ("qty", n(quantity)), ("res", reservation), ("expires", expiresAt.rfc3339)]
        case let .released(reservation, sku, wh, quantity), let .expired(reservation, sku, wh, quantity):
            return [("sku", sku), ("wh", wh), ("qty", n(quantity)), ("res", reservation)]
        case let .transferShipped(transfer, sku, from, to, quantity, eta):
            return [("sku", sku), ("qty", n(quantity)), ("xfer", transfer), ("from", from), ("to", to)]
                + (eta.map { [("eta", $0.rfc3339)] } ?? [])
        case let .transferArrived(transfer, sku, from, to, quantity, lost):
            return [("sku", sku), ("wh", to), ("qty", n(quantity)), ("xfer", transfer), ("from", from), ("to", to),
                    ("lost", n(lost))]
        case let .transferLost(transfer, sku, from, to, lost):
            return [("sku", sku), ("wh", to), ("xfer", transfer), ("from", from), ("to", to), ("lost", n(lost))]
        case let .adjusted(sku, wh, delta, reason):
            return [("sku", sku), ("wh", wh), ("delta", n(delta)), ("reason", reason)]
        case let .counted(sku, wh, quantity, delta, reason):
            return [("sku", sku), ("wh", wh), ("qty", n(quantity)), ("delta", n(delta))] + (reason.map { [("reason", $0)] } ?? [])
        case let .returned(sku, wh, quantity):
            return [("sku", sku), ("wh", wh), ("qty", n(quantity))]
        case let .expected(po, sku, wh, quantity, eta):
            return [("sku", sku), ("wh", wh), ("qty", n(quantity)), ("po", po), ("eta", eta.rfc3339)]
        case let .cancelled(po, sku, wh, quantity):
            return [("sku", sku), ("wh", wh), ("qty", n(quantity)), ("po", po)]
        case let .policySet(sku, wh, safety, reorder, max, promises, channel):
            var fields: [(String, String)] = [("sku", sku), ("wh", wh)]
            if let safety { fields.append(("safety", n(safety))) }
            if let reorder { fields.append(("reorder", n(reorder))) }
            if let channel {
                // With a channel, max= is that channel's: the pair's levels are not set in the same request.
                fields.append(("channel", channel.channel))
                fields += ruleFields(channel.rules)
                if channel.inherit { fields.append(("inherit", "yes")) }
            } else if let max {
                fields.append(("max", n(max)))
            }
            if let promises {
                if let preorder = promises.preorder { fields.append(("preorder", n(preorder))) }
                if let until = promises.preorderUntil { fields.append(("preorder_until", until?.rfc3339 ?? "-")) }
                if let eta = promises.preorderETA { fields.append(("preorder_eta", eta?.rfc3339 ?? "-")) }
                if let pad = promises.padSeconds { fields.append(("pad", n(pad))) }
                if let byOrder = promises.fillByOrder { fields.append(("fill", byOrder ? "po" : "fifo")) }
                if let bin = promises.bin { fields.append(("bin", n(bin))) }
                if let cards = promises.cards { fields.append(("cards", n(cards))) }
                if let lead = promises.leadSeconds { fields.append(("lead", decimal(Double(lead) / 86_400))) }
            }
            return fields
        case let .rescheduled(po, sku, wh, eta, previous):
            return [("sku", sku), ("wh", wh), ("po", po), ("eta", eta.rfc3339), ("previous", previous.rfc3339)]
        case let .extended(reservation, sku, wh, expiresAt):
            return [("sku", sku), ("wh", wh), ("res", reservation), ("expires", expiresAt.rfc3339)]
        case let .filled(sku, wh):
            return [("sku", sku), ("wh", wh)]
        case let .waitlisted(sku, wh, subscriber, quantity, channel):
            return [("sku", sku), ("wh", wh ?? PairKey.anyWarehouse), ("qty", n(quantity)), ("ref", subscriber)]
                + (channel.map { [("channel", $0)] } ?? [])
        case let .unwaitlisted(sku, wh, subscriber, reason):
            return [("sku", sku), ("wh", wh ?? PairKey.anyWarehouse), ("ref", subscriber)] + (reason.map { [("reason", $0)] } ?? [])
        case let .allotted(sku, wh, channel, quantity, until):
            return [("sku", sku), ("wh", wh), ("channel", channel), ("qty", n(quantity))] + (until.map { [("until", $0.rfc3339)] } ?? [])
        case let .unallotted(sku, wh, channel, quantity):
            return [("sku", sku), ("wh", wh), ("channel", channel), ("qty", n(quantity))]
        case let .channelSet(channel, rules):
            return [("channel", channel)] + ruleFields(rules)
        case let .routeSet(region, warehouses):
            return [("region", region), ("wh", warehouses.isEmpty ? "-" : warehouses.joined(separator: ","))]
        case let .allocated(alloc, sku, lines, expiresAt, requested, strategy):
            return [("sku", sku), ("alloc", alloc), ("lines", allocationLines(lines)), ("expires", expiresAt.rfc3339),
                    ("requested", n(requested)), ("strategy", strategy)]
        }
    }

    /// The reply to a write that was applied: rows (one `stock` row per pair for a transfer; `fill`
    /// and `promise` rows for promises), then the `OK` line with `seq=`, the identifiers the write
    /// made or touched, and the pair's buckets. `continuation` are the `filled` events that carried
    /// the rest of its fills; `before` the promises its moves changed, as they were.
    public static func writeReply(_ event: Event, pairs: (PairKey) -> PairState,
                                  reservations: (String) -> Reservation? = { _ in nil },
                                  before: [String: Promise] = [:], continuation: [Event] = []) -> [String] {
        var line = ReplyLine("OK")
        var unbackedNamed = false
        line.add("seq", event.seq)
        let sku = event.sku
        var rows: [String] = []
        // Most writes move no awaiting units: they pay nothing here.
        var filled: Int64 = 0
        if (event.hasDecisions && !event.decisions.moves.isEmpty) || !continuation.isEmpty {
            for part in [event] + continuation {
                for (id, quantity) in part.decisions.fills {
                    if let reservation = reservations(id) { rows.append(fill(reservation, quantity: quantity)) }
                    filled += quantity
                }
            }
        }
        func promiseRows(_ include: (LineMove) -> Bool) -> Int {
            let moved = event.decisions.sums { $0.from != nil && include($0) }
            let released = Dictionary(uniqueKeysWithValues: event.decisions.sums { $0.from != nil && $0.to == .released })
            for (id, _) in moved.prefix(Limits.promiseRowsMax) {
                if let reservation = reservations(id), let old = before[id] {
                    rows.append(promise(reservation, old: old, released: released[id] ?? 0))
                }
            }
            return moved.count
        }
        switch event.body {
        case let .transferShipped(transfer, _, from, to, _, _):
            line.add("xfer", transfer)
            let origin = PairKey(sku: sku, wh: from), destination = PairKey(sku: sku, wh: to)
            return [stock(origin, pairs(origin)), stock(destination, pairs(destination)), line.text]
        case let .reserved(reservation, _, _, _, expiresAt):
            line.add("res", reservation)
            line.add("expires", expiresAt)
            if event.decisions.backorder != nil, let made = reservations(reservation) {
                line.add("held", made.held)
                line.add("awaiting", made.awaiting)
                line.add("lines", lines(made.lines))
                line.add("promise", made.promise.text)
            }
        case let .sold(_, _, _, reservation?), let .released(reservation, _, _, _), let .expired(reservation, _, _, _):
            line.add("res", reservation)
            // A sale of the held units of a reservation that still awaits more says so.
            if case .sold = event.body, let left = reservations(reservation), left.status == .open, left.awaiting > 0 {
                line.add("held", left.held)
                line.add("awaiting", left.awaiting)
            }
        case let .extended(reservation, _, _, expiresAt):
            line.add("res", reservation)
            line.add("expires", expiresAt)
        case let .transferArrived(transfer, _, _, _, quantity, lost):
            line.add("xfer", transfer)
            line.add("arrived", quantity)
            line.add("lost", lost)
        case let .transferLost(transfer, _, _, _, lost):
            line.add("xfer", transfer)
            line.add("arrived", Int64(0))
            line.add("lost", lost)
        case let .counted(_, _, _, delta, _):
            line.add("delta", delta)
        case let .expected(po, _, _, _, _):
            line.add("po", po)
            // Waiting lines this order took over: their promises now have its date.
            if promiseRows({ _ in true }) > 0 {
                line.add("bound", event.decisions.moves.reduce(Int64(0)) { $0 + $1.quantity })
            }
        case let .cancelled(po, _, wh, _):
            line.add("po", po)
            let count = promiseRows { _ in true }
            if count > 0 || pairs(PairKey(sku: sku, wh: wh)).usesPromises {
                let moves = event.decisions.moves
                func units(_ include: (LineMove.Target) -> Bool) -> Int64 {
                    moves.reduce(0) { $0 + (include($1.to) ? $1.quantity : 0) }
                }
                line.add("rebound", units { if case .line(let backing, _) = $0 { backing != .none } else { false } })
                line.add("unbacked", units { $0 == .line(.none, date: nil) })
                unbackedNamed = true
                line.add("released", units { $0 == .released })
                if count > Limits.promiseRowsMax { line.add("more", count - Limits.promiseRowsMax) }
            }
        case .channelSet, .routeSet:
            // Configuration changes no pair: the reply repeats what was set.
            for (key, value) in fields(of: event.body) { line.add(key, value) }
            return [line.text]
        case let .allocated(alloc, _, lines, expiresAt, requested, strategy):
            // One `line` row per reservation it made, then the allocation; no pair buckets (several pairs).
            var allocated: Int64 = 0
            for allocation in lines {
                guard let made = reservations(allocation.reservation) else { continue }
                var row = ReplyLine("line")
                row.add("res", made.id)
                row.add("wh", made.wh)
                row.add("qty", made.held + made.awaiting)
                row.add("held", made.held)
                row.add("awaiting", made.awaiting)
                row.add("promise", made.promise.text)
                if allocation.belowSafety { row.add("below_safety", true) }
                rows.append(row.text)
                allocated += made.held + made.awaiting
            }
            line.add("alloc", alloc)
            line.add("sku", sku)
            line.add("qty", allocated)
            line.add("lines", lines.count)
            line.add("short", requested - allocated)
            line.add("strategy", strategy)
            line.add("expires", expiresAt)
            return rows + [line.text]
        case let .waitlisted(_, wh, subscriber, _, _), let .unwaitlisted(_, wh, subscriber, _):
            // A waitlist write changes no bucket: its reply says where the subscriber stands.
            let key = PairKey(sku: sku, wh: wh ?? PairKey.anyWarehouse)
            let pair = pairs(key)
            line.add("sku", sku)
            line.add("wh", key.wh)
            line.add("ref", subscriber)
            if let position = pair.waitlist.firstIndex(where: { $0.ref == subscriber }) { line.add("position", position + 1) }
            line.add("waiting", pair.waitlist.count)
            line.add("waiting_qty", pair.waitingUnits)
            return [line.text]
        case let .rescheduled(po, _, _, eta, _):
            line.add("po", po)
            line.add("eta", eta)
            let count = promiseRows { _ in true }
            line.add("moved", count)
            if count > Limits.promiseRowsMax { line.add("more", count - Limits.promiseRowsMax) }
        default:
            break
        }
        if filled > 0 { line.add("filled", filled) }
        let key = PairKey(sku: sku, wh: event.body.warehouses.last!)
        addBuckets(key, pairs(key), to: &line, unbackedNamed: unbackedNamed)
        return rows + [line.text]
    }
}

// MARK: planning (FEATURES.md §1e)

extension Rows {
    /// A decimal as rows show it: rounded to 4 decimals, trailing zeros dropped (`1.6449`, `2.5`, `3`).
    public static func decimal(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let scaled = Int64((value * 10_000).rounded())
        let whole = scaled.magnitude / 10_000
        var fraction = scaled.magnitude % 10_000
        var text = (scaled < 0 ? "-" : "") + String(whole)
        guard fraction > 0 else { return text }
        var digits = 4
        while fraction % 10 == 0 { fraction /= 10; digits -= 1 }
        let shown = String(fraction)
        text += "." + String(repeating: "0", count: digits - shown.count) + shown
        return text
    }

    /// A `suggest` row: the demand, the lead time, the levels they give, and the pair's levels now.
    public static func suggest(_ suggestion: Suggestion) -> String {
        var line = ReplyLine("suggest")
        line.add("sku", suggestion.key.sku)
        line.add("wh", suggestion.key.wh)
        line.add("days", suggestion.days)
        line.add("counted", suggestion.counted)
        line.add("stockout_days", suggestion.stockoutDays)
        line.add("lost", suggestion.lost)
        line.add("mean", decimal(suggestion.mean))
        line.add("sd", decimal(suggestion.sd))
        if let lead = suggestion.lead {
            line.add("lead", decimal(lead.days))
            line.add("lead_sd", decimal(lead.sd))
            line.add("lead_n", lead.count)
            line.add("lead_source", lead.source.rawValue)
            if let late = lead.lateP80 { line.add("late_p80", decimal(late)) }
        } else {
            line.add("lead_n", 0)
            line.add("lead_source", "none")
        }
        line.add("service", decimal(suggestion.service))
        line.add("z", decimal(suggestion.z))
        if let levels = suggestion.levels {
            line.add("safety", levels.safety)
            line.add("safety_basic", levels.safetyBasic)
            line.add("reorder", levels.reorder)
            line.add("max", levels.max)
            if let cards = levels.cards { line.add("cards", cards) }
        }
        line.add("current_safety", suggestion.current.safety)
        line.add("current_reorder", suggestion.current.reorder)
        line.add("current_max", suggestion.current.max)
        line.add("confidence", suggestion.confident ? "ok" : "low")
        if suggestion.lead == nil { line.add("reason", "no EXPECT→RECEIVE history; set POLICY lead=") }
        return line.text
    }

    /// A `kanban` row: the loop of one pair and the bins to order now (`signal`).
    public static func kanban(_ key: PairKey, _ pair: PairState) -> String {
        var line = ReplyLine("kanban")
        line.add("sku", key.sku)
        line.add("wh", key.wh)
        line.add("bin", pair.bin)
        line.add("cards", pair.cards)
        line.add("on_hand_bins", pair.onHandBins)
        line.add("replenishing", pair.replenishingBins)
        line.add("signal", pair.kanbanSignal)
        return line.text
    }

    /// The `card` WATCH kanban pushes when an event empties `emptied` bins of a pair.
    public static func card(seq: UInt64, at: Timestamp, _ key: PairKey, _ pair: PairState, emptied: Int64) -> String {
        var line = ReplyLine("card")
        line.add("seq", seq)
        line.add("at", at)
        line.add("sku", key.sku)
        line.add("wh", key.wh)
        line.add("emptied", emptied)
        line.add("on_hand_bins", pair.onHandBins)
        line.add("replenishing", pair.replenishingBins)
        line.add("signal", pair.kanbanSignal)
        return line.text
    }

    /// The `spike` WATCH demand pushes: units sold in the last hour against the mean hourly demand of
    /// the last 28 days (`ratio=-` when that mean is 0). `channel=-`: the counters do not split by channel yet.
    public static func spike(seq: UInt64, at: Timestamp, _ key: PairKey, channel: String?, rate: Int64, baseline: Double) -> String {
        var line = ReplyLine("spike")
        line.add("seq", seq)
        line.add("at", at)
        line.add("sku", key.sku)
        line.add("wh", key.wh)
        line.add("channel", channel ?? "-")
        line.add("rate_1h", rate)
        line.add("baseline_1h", decimal(baseline))
        line.add("ratio", baseline > 0 ? decimal(Double(rate) / baseline) : "-")
        return line.text
    }
}
