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

    public init(seq: UInt64, recordedAt: Timestamp, actor: UInt32, body: EventBody,
                ref: String? = nil, note: String? = nil, idempotencyKey: String? = nil,
                requestFingerprint: String? = nil) {
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
    case policySet(sku: String, wh: String, safety: Int64?, reorder: Int64?, max: Int64?)

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
        }
    }

    public var sku: String {
        switch self {
        case .received(let sku, _, _, _), .sold(let sku, _, _, _), .reserved(_, let sku, _, _, _),
             .released(_, let sku, _, _), .expired(_, let sku, _, _),
             .transferShipped(_, let sku, _, _, _, _), .transferArrived(_, let sku, _, _, _, _),
             .transferLost(_, let sku, _, _, _), .adjusted(let sku, _, _, _), .counted(let sku, _, _, _, _),
             .returned(let sku, _, _), .expected(_, let sku, _, _, _), .cancelled(_, let sku, _, _),
             .policySet(let sku, _, _, _, _):
            return sku
        }
    }

    /// The warehouses whose buckets this event changes (two for transfers: from, then to).
    public var warehouses: [String] {
        switch self {
        case .received(_, let wh, _, _), .sold(_, let wh, _, _), .reserved(_, _, let wh, _, _),
             .released(_, _, let wh, _), .expired(_, _, let wh, _), .adjusted(_, let wh, _, _),
             .counted(_, let wh, _, _, _), .returned(_, let wh, _), .expected(_, _, let wh, _, _),
             .cancelled(_, _, let wh, _), .policySet(_, let wh, _, _, _):
            return [wh]
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
        }
    }
}
