import LedgerCore

/// The reply rows and `OK` lines of PROTOCOL.md, built from ledger values. One function per row word,
/// so every verb that shows a pair shows it the same way.
public enum Rows {
    /// A `stock` row: every bucket of one (sku, wh).
    public static func stock(_ key: PairKey, _ pair: PairState) -> String { stockLine(key, pair).text }

    /// The `stock` row as bytes (the daemon copies them straight into the reply).
    public static func stockLine(_ key: PairKey, _ pair: PairState) -> ReplyLine {
        var line = ReplyLine("stock")
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
        return line
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
    public static func addBuckets(_ key: PairKey, _ pair: PairState, to line: inout ReplyLine) {
        line.add("sku", key.sku)
        line.add("wh", key.wh)
        line.add("on_hand", pair.onHand)
        line.add("reserved", pair.reserved)
        line.add("available", pair.available)
        line.add("breach", pair.isBreached)
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

    public static func reservation(_ reservation: Reservation) -> String {
        var line = ReplyLine("reservation")
        line.add("res", reservation.id)
        line.add("sku", reservation.sku)
        line.add("wh", reservation.wh)
        line.add("qty", reservation.held)
        line.add("expires", reservation.expiresAt)
        line.addIfPresent("ref", reservation.ref)
        return line.text
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

    /// An `event` row: seq, time, kind, actor, then the event's own fields.
    public static func event(_ event: Event, word: String = "event") -> String {
        var line = ReplyLine(word)
        line.add("seq", event.seq)
        line.add("at", event.recordedAt)
        line.add("kind", event.body.kind.name)
        line.add("actor", Int64(event.actor))
        for (key, value) in fields(of: event.body) { line.add(key, value) }
        line.addIfPresent("ref", event.ref)
        line.addIfPresent("id", event.idempotencyKey)
        line.addIfPresent("note", event.note)
        return line.text
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
        case let .policySet(sku, wh, safety, reorder, max):
            return [("sku", sku), ("wh", wh)] + (safety.map { [("safety", n($0))] } ?? [])
                + (reorder.map { [("reorder", n($0))] } ?? []) + (max.map { [("max", n($0))] } ?? [])
        }
    }

    /// The reply to a write that was applied: rows (one `stock` row per pair for a transfer), then the
    /// `OK` line with `seq=`, the identifiers the write made or touched, and the pair's buckets.
    public static func writeReply(_ event: Event, pairs: (PairKey) -> PairState) -> [String] {
        var line = ReplyLine("OK")
        line.add("seq", event.seq)
        let sku = event.sku
        switch event.body {
        case let .transferShipped(transfer, _, from, to, _, _):
            line.add("xfer", transfer)
            let origin = PairKey(sku: sku, wh: from), destination = PairKey(sku: sku, wh: to)
            return [stock(origin, pairs(origin)), stock(destination, pairs(destination)), line.text]
        case let .reserved(reservation, _, _, _, expiresAt):
            line.add("res", reservation)
            line.add("expires", expiresAt)
        case let .sold(_, _, _, reservation?), let .released(reservation, _, _, _), let .expired(reservation, _, _, _):
            line.add("res", reservation)
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
        case let .expected(po, _, _, _, _), let .cancelled(po, _, _, _):
            line.add("po", po)
        default:
            break
        }
        let key = PairKey(sku: sku, wh: event.body.warehouses[0])
        addBuckets(key, pairs(key), to: &line)
        return [line.text]
    }
}
