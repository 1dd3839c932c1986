import LedgerCore

/// One event of every kind, with values that need care in CSV and JSON (commas, quotes, line-free
/// non-ASCII, identifiers that start like spreadsheet formulas, a negative delta).
enum Samples {
    static let time = Timestamp(rfc3339: "2026-11-22T08:00:00.25Z")!
    static let later = Timestamp(rfc3339: "2026-11-22T09:00:00Z")!

    static let bodies: [EventBody] = [
        .received(sku: "-1+2", wh: "PAR", quantity: 5, purchaseOrder: "P/1#a"),
        .sold(sku: "S1", wh: "PAR", quantity: 2, reservation: "@r1"),
        .reserved(reservation: "r1", sku: "S1", wh: "PAR", quantity: 3, expiresAt: later),
        .released(reservation: "r1", sku: "S1", wh: "PAR", quantity: 1),
        .expired(reservation: "r2", sku: "S1", wh: "PAR", quantity: 4),
        .transferShipped(transfer: "+x1", sku: "S1", from: "PAR", to: "LYS", quantity: 10, eta: later),
        .transferArrived(transfer: "x1", sku: "S1", from: "PAR", to: "LYS", quantity: 6, lost: 1),
        .transferLost(transfer: "x2", sku: "S1", from: "LYS", to: "PAR", lost: 1),
        .adjusted(sku: "S1", wh: "LYS", delta: -2, reason: #"=HYPERLINK("http://x","broken, ""pallet""")"#),
        .counted(sku: "S1", wh: "PAR", quantity: 70, delta: -5, reason: "-\tcounted twice"),
        .returned(sku: "S1", wh: "LYS", quantity: 1),
        .expected(purchaseOrder: "P1", sku: "S1", wh: "PAR", quantity: 50, eta: later),
        .cancelled(purchaseOrder: "P2", sku: "S2", wh: "PAR", quantity: 0),
        .policySet(sku: "S1", wh: "LYS", safety: 30, reorder: nil, max: 80),
        // Promises (format version 2), with decisions below.
        .policySet(sku: "S1", wh: "PAR", safety: nil, reorder: nil, max: nil,
                   promises: PromisePolicy(preorder: 20, preorderUntil: .some(nil), preorderETA: later, padSeconds: 86_400, fillByOrder: true)),
        .reserved(reservation: "r9", sku: "S1", wh: "PAR", quantity: 2, expiresAt: later),
        .rescheduled(purchaseOrder: "P1", sku: "S1", wh: "PAR", eta: later, previous: time),
        .extended(reservation: "r9", sku: "S1", wh: "PAR", expiresAt: later),
        .filled(sku: "S1", wh: "PAR"),
        .waitlisted(sku: "S1", wh: "PAR", subscriber: "+sub-1", quantity: 2, channel: "web"),
        .waitlisted(sku: "S1", wh: nil, subscriber: "sub-2", quantity: 1, channel: nil),
        .unwaitlisted(sku: "S1", wh: nil, subscriber: "sub-2", reason: "notified"),
        // Channels and allocation.
        .allotted(sku: "S1", wh: "PAR", channel: "b2b", quantity: 40, until: later),
        .unallotted(sku: "S1", wh: "PAR", channel: "b2b", quantity: 40),
        .channelSet(channel: "mkp", rules: ChannelRules(share: 50, buffer: 5)),
        .routeSet(region: "FR-N", warehouses: ["PAR", "LIL"]),
        .routeSet(region: "FR-S", warehouses: []),
        .policySet(sku: "S1", wh: "PAR", safety: nil, reorder: nil, max: nil, promises: nil,
                   channel: ChannelPolicy(channel: "mkp", rules: ChannelRules(share: 20, max: 9), inherit: false)),
        .sold(sku: "S1", wh: "PAR", quantity: 3, reservation: nil),
        .allocated(alloc: "ORD-9", sku: "S1", lines: [
            AllocationLine(reservation: "ORD-9.1", wh: "PAR", quantity: 5, fence: 2, belowSafety: false),
            AllocationLine(reservation: "ORD-9.2", wh: "LIL", quantity: 1, fence: 0, belowSafety: true),
        ], expiresAt: later, requested: 8, strategy: "fewest"),
    ]

    /// Decisions of every shape, on the promise samples.
    static let decisions: [EventKind: Decisions] = [
        .reserved: Decisions(moves: [LineMove(reservation: "r9", from: nil, to: .line(.order("P/1#a"), date: later), quantity: 3),
                                     LineMove(reservation: "r9", from: nil, to: .line(.cap, date: nil), quantity: 1)],
                             priority: 2, backorder: .cap),
        .rescheduled: Decisions(moves: [LineMove(reservation: "r9", from: .order("P1"), to: .line(.order("P1"), date: later), quantity: 3)],
                                expiries: [ExpiryChange(reservation: "r9", expiresAt: later)], padSeconds: 0),
        .filled: Decisions(moves: [LineMove(reservation: "r9", from: .cap, to: .held, quantity: 1),
                                   LineMove(reservation: "r8", from: Backing.none, to: .released, quantity: 2)]),
        .allocated: Decisions(moves: [LineMove(reservation: "ORD-9.2", from: nil, to: .line(.order("P1"), date: later), quantity: 2)],
                              backorder: .order),
        .adjusted: Decisions(fenceCuts: [FenceCut(channel: "b2b", quantity: 2), FenceCut(channel: "mkp", quantity: 1)]),
    ]

    /// A sale drawn on a channel's fence.
    static var channelSale: Decisions {
        var decisions = Decisions()
        decisions.channel = "b2b"
        decisions.fence = 2
        return decisions
    }

    static let events: [Event] = bodies.enumerated().map { index, body in
        let waits = body.kind == .waitlisted || body.kind == .unwaitlisted
        let promises = body.kind == .reserved && index > 2
        return Event(seq: UInt64(index + 1), recordedAt: time, actor: 1000, body: body,
                     ref: index % 2 == 0 && !waits ? "ORDER-\(index)" : nil, note: index % 3 == 0 ? "naïve ü, 'quoted' \"ok\"" : nil,
                     idempotencyKey: index % 4 == 0 ? "@id-\(index)" : nil,
                     decisions: body.kind == .reserved && !promises ? Decisions()
                        : body.kind == .sold && index > 20 ? channelSale : decisions[body.kind] ?? Decisions())
    }
}
