/// Where a partial `LedgerState` finds the entities it does not hold yet.
///
/// The writer folds a group of writes into a small state backed by the stored projections: the
/// state's dictionaries then hold exactly the entities the group changed. Replay and point-in-time
/// answers fold into a state with no source at all.
public protocol LedgerSource {
    func pair(_ key: PairKey) -> PairState?
    func reservation(_ id: String) -> Reservation?
    func transfer(_ id: String) -> Transfer?
    func purchaseOrder(_ id: String) -> PurchaseOrder?
}

/// The folded state of the ledger (or of the part of it a fold touched).
///
/// Guarantees: it changes only through `Ledger.apply(_:to:)`; `lastSeq` is the seq of the last event
/// folded into it.
public struct LedgerState: Sendable {
    public var pairs: [PairKey: PairState] = [:]
    public var reservations: [String: Reservation] = [:]
    public var transfers: [String: Transfer] = [:]
    public var purchaseOrders: [String: PurchaseOrder] = [:]
    public var lastSeq: UInt64 = 0

    /// Consulted when a dictionary misses; nil for a state that holds everything.
    public nonisolated(unsafe) var source: (any LedgerSource)?

    public init(source: (any LedgerSource)? = nil) { self.source = source }

    public func pair(_ key: PairKey) -> PairState? { pairs[key] ?? source?.pair(key) }
    public func reservation(_ id: String) -> Reservation? { reservations[id] ?? source?.reservation(id) }
    public func transfer(_ id: String) -> Transfer? { transfers[id] ?? source?.transfer(id) }
    public func purchaseOrder(_ id: String) -> PurchaseOrder? { purchaseOrders[id] ?? source?.purchaseOrder(id) }

    /// True when this state holds the same entities as `other` (the sources are not compared).
    public func sameEntities(as other: LedgerState) -> Bool {
        pairs == other.pairs && reservations == other.reservations && transfers == other.transfers
            && purchaseOrders == other.purchaseOrders && lastSeq == other.lastSeq
    }
}
