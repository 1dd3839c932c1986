/// One fact in the ledger's append-only log.
///
/// Events are never changed or deleted. Each carries every field the fold needs (an `expired` event
/// names its sku, wh and quantity, not only the reservation), so that folding the events of one sku
/// alone reproduces that sku's state exactly: that is what point-in-time answers rely on.
public struct Event: Equatable, Sendable {
    /// Log position, gapless from 1.
    public var seq: UInt64
    /// When the daemon recorded it (UTC).
    public var recordedAt: Timestamp
    /// The Unix uid of the peer that wrote it (the daemon's own uid for expiries).
    public var actor: UInt32
    public var body: EventBody
    /// The caller's reference (order, ASN, ticket).
    public var ref: String?
    public var note: String?
    /// The idempotency key the write was sent with.
    public var idempotencyKey: String?
    /// With an idempotency key: the request's arguments in canonical form. A retry with the same key
    /// and other arguments is a conflict; keeping this in the event lets a restart rebuild the
    /// idempotency records of events not yet checkpointed from the log alone.
    public var requestFingerprint: String?
    /// What the daemon decided while writing it (P1 of FEATURES.md): the fold applies these and
    /// never decides again. Empty for most events, which then carry no box for them.
    public var decisions: Decisions {
        get { decisionsBox?.value ?? Decisions.none }
        _modify {
            if decisionsBox == nil { decisionsBox = CowBox(Decisions.none) }
            else if !isKnownUniquelyReferenced(&decisionsBox!) { decisionsBox = CowBox(decisionsBox!.value) }
            yield &decisionsBox!.value
        }
    }
    private var decisionsBox: CowBox<Decisions>?
    /// Whether the event carries decisions: hot paths ask this before copying them.
    public var hasDecisions: Bool { decisionsBox != nil }

    public static func == (lhs: Event, rhs: Event) -> Bool {
        lhs.seq == rhs.seq && lhs.recordedAt == rhs.recordedAt && lhs.actor == rhs.actor && lhs.body == rhs.body
            && lhs.ref == rhs.ref && lhs.note == rhs.note && lhs.idempotencyKey == rhs.idempotencyKey
            && lhs.requestFingerprint == rhs.requestFingerprint && lhs.decisions == rhs.decisions
    }

    public init(seq: UInt64, recordedAt: Timestamp, actor: UInt32, body: EventBody,
                ref: String? = nil, note: String? = nil, idempotencyKey: String? = nil,
                requestFingerprint: String? = nil, decisions: Decisions = Decisions()) {
        if !decisions.isEmpty { decisionsBox = CowBox(decisions) }
        self.seq = seq
        self.recordedAt = recordedAt
        self.actor = actor
        self.body = body
        self.ref = ref
        self.note = note
        self.idempotencyKey = idempotencyKey
        self.requestFingerprint = requestFingerprint
    }

    /// The sku every event concerns. Every kind names exactly one sku.
    public var sku: String { body.sku }
}

/// What happened, with its own fields. Kinds are past tense; see `EventKind` for their wire names.
public enum EventBody: Equatable, Sendable {
    case received(sku: String, wh: String, quantity: Int64, purchaseOrder: String?)
    case sold(sku: String, wh: String, quantity: Int64, reservation: String?)
    case reserved(reservation: String, sku: String, wh: String, quantity: Int64, expiresAt: Timestamp)
    case released(reservation: String, sku: String, wh: String, quantity: Int64)
    case expired(reservation: String, sku: String, wh: String, quantity: Int64)
    case transferShipped(transfer: String, sku: String, from: String, to: String, quantity: Int64, eta: Timestamp?)
    case transferArrived(transfer: String, sku: String, from: String, to: String, quantity: Int64, lost: Int64)
    case transferLost(transfer: String, sku: String, from: String, to: String, lost: Int64)
    case adjusted(sku: String, wh: String, delta: Int64, reason: String)
    case counted(sku: String, wh: String, quantity: Int64, delta: Int64, reason: String?)
    case returned(sku: String, wh: String, quantity: Int64)
    case expected(purchaseOrder: String, sku: String, wh: String, quantity: Int64, eta: Timestamp)
    case cancelled(purchaseOrder: String, sku: String, wh: String, quantity: Int64)
    // Indirect: the largest payloads are kept out of line, so every event stays as small to copy as before.
    indirect case policySet(sku: String, wh: String, safety: Int64?, reorder: Int64?, max: Int64?, promises: PromisePolicy? = nil,
                            channel: ChannelPolicy? = nil)
    /// A purchase order's ETA moved (from `previous`); the lines bound to it move in `decisions`.
    case rescheduled(purchaseOrder: String, sku: String, wh: String, eta: Timestamp, previous: Timestamp)
    /// A reservation's expiry moved.
    case extended(reservation: String, sku: String, wh: String, expiresAt: Timestamp)
    /// Fills beyond what one event carries, continuing the event before it in the same commit.
    case filled(sku: String, wh: String)
    /// A channel's fence in a pair is set to `quantity` (0 removes it); `until` when it lapses.
    case allotted(sku: String, wh: String, channel: String, quantity: Int64, until: Timestamp?)
    /// A fence lapsed at its `until`: its units go back to the free pool.
    case unallotted(sku: String, wh: String, channel: String, quantity: Int64)
    /// Defaults of a channel for every pair (sku `*`).
    case channelSet(channel: String, rules: ChannelRules)
    /// A region's warehouses in rank order, or none to delete it (sku `*`).
    case routeSet(region: String, warehouses: [String])
    /// An ALLOCATE: one reservation per line, all expiring together.
    indirect case allocated(alloc: String, sku: String, lines: [AllocationLine], expiresAt: Timestamp, requested: Int64, strategy: String)
    /// A subscriber waits for the pair (`wh` nil: any warehouse of the sku) to be back.
    case waitlisted(sku: String, wh: String?, subscriber: String, quantity: Int64, channel: String?)
    /// A subscriber leaves the waitlist (`reason`: notified or cancelled).
    case unwaitlisted(sku: String, wh: String?, subscriber: String, reason: String?)

    public var kind: EventKind {
        switch self {
        case .received: .received
        case .sold: .sold
        case .reserved: .reserved
        case .released: .released
        case .expired: .expired
        case .transferShipped: .transferShipped
        case .transferArrived: .transferArrived
        case .transferLost: .transferLost
        case .adjusted: .adjusted
        case .counted: .counted
        case .returned: .returned
        case .expected: .expected
        case .cancelled: .cancelled
        case .policySet: .policySet
        case .rescheduled: .rescheduled
        case .extended: .extended
        case .filled: .filled
        case .waitlisted: .waitlisted
        case .unwaitlisted: .unwaitlisted
        case .allotted: .allotted
        case .unallotted: .unallotted
        case .channelSet: .channelSet
        case .routeSet: .routeSet
        case .allocated: .allocated
        }
    }

    public var sku: String {
        switch self {
        case .received(let sku, _, _, _), .sold(let sku, _, _, _), .reserved(_, let sku, _, _, _),
             .released(_, let sku, _, _), .expired(_, let sku, _, _),
             .transferShipped(_, let sku, _, _, _, _), .transferArrived(_, let sku, _, _, _, _),
             .transferLost(_, let sku, _, _, _), .adjusted(let sku, _, _, _), .counted(let sku, _, _, _, _),
             .returned(let sku, _, _), .expected(_, let sku, _, _, _), .cancelled(_, let sku, _, _),
             .policySet(let sku, _, _, _, _, _, _), .rescheduled(_, let sku, _, _, _), .extended(_, let sku, _, _),
             .filled(let sku, _), .waitlisted(let sku, _, _, _, _), .unwaitlisted(let sku, _, _, _),
             .allotted(let sku, _, _, _, _), .unallotted(let sku, _, _, _), .allocated(_, let sku, _, _, _, _):
            return sku
        case .channelSet, .routeSet:
            return PairKey.configuration.sku
        }
    }

    /// The warehouses whose buckets this event changes (two for transfers: from, then to).
    public var warehouses: [String] {
        switch self {
        case .received(_, let wh, _, _), .sold(_, let wh, _, _), .reserved(_, _, let wh, _, _),
             .released(_, _, let wh, _), .expired(_, _, let wh, _), .adjusted(_, let wh, _, _),
             .counted(_, let wh, _, _, _), .returned(_, let wh, _), .expected(_, _, let wh, _, _),
             .cancelled(_, _, let wh, _), .policySet(_, let wh, _, _, _, _, _), .rescheduled(_, _, let wh, _, _),
             .allotted(_, let wh, _, _, _), .unallotted(_, let wh, _, _),
             .extended(_, _, let wh, _), .filled(_, let wh):
            return [wh]
        case .waitlisted(_, let wh, _, _, _), .unwaitlisted(_, let wh, _, _):
            return [wh ?? PairKey.anyWarehouse]
        case .channelSet, .routeSet:
            return [PairKey.configuration.wh]
        case let .allocated(_, _, lines, _, _, _):
            var warehouses: [String] = []
            for line in lines where !warehouses.contains(line.wh) { warehouses.append(line.wh) }
            return warehouses
        case .transferShipped(_, _, let from, let to, _, _):
            return [from, to]
        case .transferArrived(_, _, _, let to, _, _), .transferLost(_, _, _, let to, _):
            return [to]
        }
    }
}

/// The stable names of event kinds, as they appear in `event` rows and in the binary log.
/// The raw values are written to disk: never renumber them.
public enum EventKind: UInt8, CaseIterable, Sendable {
    case received = 1, sold, reserved, released, expired, transferShipped, transferArrived, transferLost
    case adjusted, counted, returned, expected, cancelled, policySet
    // Format version 2 (FEATURES.md §0: raw values continue from 15).
    case rescheduled, extended, filled
    // FEATURES.md §0 numbers these.
    case allotted = 18, unallotted, allocated, routeSet, channelSet, waitlisted, unwaitlisted

    public var name: String {
        switch self {
        case .received: "received"
        case .sold: "sold"
        case .reserved: "reserved"
        case .released: "released"
        case .expired: "expired"
        case .transferShipped: "transfer_shipped"
        case .transferArrived: "transfer_arrived"
        case .transferLost: "transfer_lost"
        case .adjusted: "adjusted"
        case .counted: "counted"
        case .returned: "returned"
        case .expected: "expected"
        case .cancelled: "cancelled"
        case .policySet: "policy_set"
        case .rescheduled: "rescheduled"
        case .extended: "extended"
        case .filled: "filled"
        case .allotted: "allotted"
        case .unallotted: "unallotted"
        case .allocated: "allocated"
        case .routeSet: "route_set"
        case .channelSet: "channel_set"
        case .waitlisted: "waitlisted"
        case .unwaitlisted: "unwaitlisted"
        }
    }
}

/// The promise levels of `POLICY` (FEATURES.md §1a), and the planning levels (§1e: `bin`, `cards`,
/// `lead`); nil fields are left as they were.
public struct PromisePolicy: Equatable, Sendable {
    public var preorder: Int64?
    /// The window's end; `.some(nil)` clears it.
    public var preorderUntil: Timestamp??
    public var preorderETA: Timestamp??
    public var padSeconds: Int64?
    public var fillByOrder: Bool?
    /// Units per Kanban bin, bins in the loop, and the lead time typed in (seconds); 0 unsets each.
    public var bin: Int64?
    public var cards: Int64?
    public var leadSeconds: Int64?
    public init(preorder: Int64? = nil, preorderUntil: Timestamp?? = nil, preorderETA: Timestamp?? = nil,
                padSeconds: Int64? = nil, fillByOrder: Bool? = nil, bin: Int64? = nil, cards: Int64? = nil,
                leadSeconds: Int64? = nil) {
        self.preorder = preorder; self.preorderUntil = preorderUntil; self.preorderETA = preorderETA
        self.padSeconds = padSeconds; self.fillByOrder = fillByOrder
        self.bin = bin; self.cards = cards; self.leadSeconds = leadSeconds
    }
    public var isEmpty: Bool { self == PromisePolicy() }
    /// Whether it sets a promise level, which makes the pair show its promise buckets from then on
    /// (planning levels alone leave its rows as they were).
    public var setsPromiseLevels: Bool { PromisePolicy(preorder: preorder, preorderUntil: preorderUntil, preorderETA: preorderETA,
                                                       padSeconds: padSeconds, fillByOrder: fillByOrder) != PromisePolicy() }
}

/// POLICY's per-channel override for one pair: rules, or `inherit` to drop the override.
public struct ChannelPolicy: Equatable, Sendable {
    public var channel: String
    public var rules: ChannelRules
    public var inherit: Bool
    public init(channel: String, rules: ChannelRules, inherit: Bool) {
        self.channel = channel; self.rules = rules; self.inherit = inherit
    }
}

/// One line of an allocation: a reservation of `quantity` held units in `wh` (its awaiting units,
/// with `backorder=po`, are moves of the event); `fence` of them from the channel's fence.
public struct AllocationLine: Equatable, Sendable {
    public var reservation: String
    public var wh: String
    public var quantity: Int64
    public var fence: Int64
    public var belowSafety: Bool
    public init(reservation: String, wh: String, quantity: Int64, fence: Int64, belowSafety: Bool) {
        self.reservation = reservation; self.wh = wh; self.quantity = quantity; self.fence = fence; self.belowSafety = belowSafety
    }
}

/// Units a negative count took from a channel's fence.
public struct FenceCut: Equatable, Sendable {
    public var channel: String
    public var quantity: Int64
    public init(channel: String, quantity: Int64) { self.channel = channel; self.quantity = quantity }
}

/// Awaiting units moving inside a reservation: filled (to held), bound, rebound, released.
public struct LineMove: Equatable, Sendable {
    public enum Target: Equatable, Sendable {
        case held
        case line(Backing, date: Timestamp?)
        case released
    }
    public var reservation: String
    /// The line the units leave; nil for the new awaiting units of a RESERVE.
    public var from: Backing?
    public var to: Target
    public var quantity: Int64
    public init(reservation: String, from: Backing?, to: Target, quantity: Int64) {
        self.reservation = reservation; self.from = from; self.to = to; self.quantity = quantity
    }
}

/// A reservation's expiry moved by a decision: a slipped promise never lets a backorder expire
/// before its new promise plus the backorder margin.
public struct ExpiryChange: Equatable, Sendable {
    public var reservation: String
    public var expiresAt: Timestamp
    public init(reservation: String, expiresAt: Timestamp) { self.reservation = reservation; self.expiresAt = expiresAt }
}

/// The decision fields an event carries beside its body.
public struct Decisions: Equatable, Sendable {
    public var moves: [LineMove] = []
    public var expiries: [ExpiryChange] = []
    /// `reserved`: the priority when not the default, and how the reservation may wait.
    public var priority: UInt8?
    public var backorder: Backorder?
    /// `rescheduled`: the pad in force, which the new line dates include.
    public var padSeconds: Int64?
    /// The channel a write drew on, and the units it took from (or, released, gave back to) its fence.
    public var channel: String?
    public var fence: Int64?
    public var fenceBack: Int64?
    /// Fences a negative count cut, largest first.
    public var fenceCuts: [FenceCut] = []
    public init(moves: [LineMove] = [], expiries: [ExpiryChange] = [], priority: UInt8? = nil, backorder: Backorder? = nil,
                padSeconds: Int64? = nil, fenceCuts: [FenceCut] = []) {
        self.moves = moves; self.expiries = expiries; self.priority = priority; self.backorder = backorder; self.padSeconds = padSeconds
        self.fenceCuts = fenceCuts
    }
    public var isEmpty: Bool { self == Decisions.none }
    static let none = Decisions()
    /// Units that became held, per reservation, in the order first filled.
    public var fills: [(String, Int64)] { sums { $0.to == .held } }
    public func sums(_ include: (LineMove) -> Bool) -> [(String, Int64)] {
        var order: [String] = [], totals: [String: Int64] = [:]
        for move in moves where include(move) {
            if totals[move.reservation] == nil { order.append(move.reservation) }
            totals[move.reservation, default: 0] += move.quantity
        }
        return order.map { ($0, totals[$0]!) }
    }
}
