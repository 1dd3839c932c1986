/// A (sku, warehouse) pair: the unit that stock buckets are kept for.
public struct PairKey: Hashable, Comparable, Sendable {
    public var sku: String
    public var wh: String
    public init(sku: String, wh: String) { self.sku = sku; self.wh = wh }
    public static func < (lhs: PairKey, rhs: PairKey) -> Bool {
        lhs.sku != rhs.sku ? lhs.sku.utf8.lexicographicallyPrecedes(rhs.sku.utf8)
                           : lhs.wh.utf8.lexicographicallyPrecedes(rhs.wh.utf8)
    }
}

/// The buckets of one (sku, wh), as folded from events.
public struct PairState: Equatable, Sendable {
    public var onHand: Int64 = 0
    public var reserved: Int64 = 0
    public var inbound: Int64 = 0
    public var safety: Int64 = 0
    public var reorder: Int64 = 0
    public var max: Int64 = 0
    /// When the pair entered its current breach (nil when not in breach).
    public var breachSince: Timestamp?
    /// Lowest available seen during the current breach.
    public var breachLowest: Int64 = 0
    /// Open purchase orders for this pair, in the order they were expected.
    public var openOrders: [OpenOrder] = []

    public init() {}

    public var available: Int64 { onHand - reserved }
    public var incoming: Int64 { openOrders.reduce(0) { $0 + $1.remaining } }
    public var nextETA: Timestamp? { openOrders.map(\.eta).min() }
    public var projected: Int64 { available + inbound + incoming }
    /// In breach when a safety level is set and available stock is below it.
    public var isBreached: Bool { safety > 0 && available < safety }
    /// Reorder is suggested when a reorder level is set and projected stock is below it.
    public var reorderSuggestion: Int64? {
        guard reorder > 0, projected < reorder else { return nil }
        return Swift.max(max, reorder) - projected
    }
}

/// One open purchase order line inside a pair: what is still expected, and when.
public struct OpenOrder: Equatable, Sendable {
    public var purchaseOrder: String
    public var remaining: Int64
    public var eta: Timestamp
    public init(purchaseOrder: String, remaining: Int64, eta: Timestamp) {
        self.purchaseOrder = purchaseOrder
        self.remaining = remaining
        self.eta = eta
    }
}

/// A hold on available stock that the daemon expires at `expiresAt`.
public struct Reservation: Equatable, Sendable {
    public enum Status: UInt8, Sendable { case open = 0, released, sold, expired }
    public var id: String
    public var sku: String
    public var wh: String
    /// Units still held.
    public var held: Int64
    public var expiresAt: Timestamp
    public var ref: String?
    public var status: Status

    public init(id: String, sku: String, wh: String, held: Int64, expiresAt: Timestamp, ref: String?, status: Status) {
        self.id = id; self.sku = sku; self.wh = wh; self.held = held
        self.expiresAt = expiresAt; self.ref = ref; self.status = status
    }

    public var pair: PairKey { PairKey(sku: sku, wh: wh) }
}

/// Goods shipped from one warehouse to another; open while anything is still in transit.
public struct Transfer: Equatable, Sendable {
    public var id: String
    public var sku: String
    public var from: String
    public var to: String
    public var shipped: Int64
    public var arrived: Int64
    public var lost: Int64
    public var eta: Timestamp?

    public init(id: String, sku: String, from: String, to: String, shipped: Int64, arrived: Int64, lost: Int64, eta: Timestamp?) {
        self.id = id; self.sku = sku; self.from = from; self.to = to
        self.shipped = shipped; self.arrived = arrived; self.lost = lost; self.eta = eta
    }

    public var inTransit: Int64 { shipped - arrived - lost }
    public var isOpen: Bool { inTransit > 0 }
}

/// An expected purchase order. Its open remainder lives in its pair's `openOrders`.
public struct PurchaseOrder: Equatable, Sendable {
    public var id: String
    public var sku: String
    public var wh: String
    public var ordered: Int64
    public var eta: Timestamp
    public var isOpen: Bool

    public init(id: String, sku: String, wh: String, ordered: Int64, eta: Timestamp, isOpen: Bool) {
        self.id = id; self.sku = sku; self.wh = wh; self.ordered = ordered; self.eta = eta; self.isOpen = isOpen
    }

    public var pair: PairKey { PairKey(sku: sku, wh: wh) }
}

/// One stretch of time a pair spent below its safety level.
public struct BreachInterval: Equatable, Sendable {
    public var pair: PairKey
    public var start: Timestamp
    /// nil while the breach is still open.
    public var end: Timestamp?
    public var lowest: Int64
    var now: Timestamp?

    public init(pair: PairKey, start: Timestamp, end: Timestamp?, lowest: Int64, now: Timestamp? = nil) {
        self.pair = pair; self.start = start; self.end = end; self.lowest = lowest; self.now = now
    }

    /// Never negative: an open breach started at a held event time may be later than the clock.
    public var seconds: Int64 { max(0, ((end ?? now ?? start).microseconds - start.microseconds) / 1_000_000) }
}

/// A point in the log: a time (the state as of then) or a seq (the state right after that event).
public enum LogPoint: Equatable, Sendable {
    case time(Timestamp)
    case seq(UInt64)
}
