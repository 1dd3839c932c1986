import LedgerCore
import LedgerStore
import NIOCore
import Synchronization

/// What reads see: the committed ledger in memory, shaped for the read verbs.
///
/// The writer publishes each group's changes here after the group's commit is durable and before
/// any write of it is acknowledged, so a read sees every write acknowledged before it. Readers and
/// the writer meet only in short critical sections: a reader copies out the few values it needs
/// (one sku's pairs, a handful of rows) and formats its reply after the lock is released; the
/// writer applies what one group changed.
///
/// Guarantees: `lastSeq` is the last committed seq, and every pair, open reservation and open
/// transfer here is as the fold left it at `lastSeq`.
final class LiveView: Sendable {
    /// The pairs of one sku, sorted by warehouse (STOCK answers in that order).
    struct SkuPairs: Sendable {
        var warehouses: [String] = []
        var pairs: [PairState] = []
        /// Counts changes, so a reader that rendered the rows outside the lock stores them only
        /// if nothing changed meanwhile.
        var version: UInt64 = 0
        /// The `stock` rows and the `total` row of every warehouse, as STOCK sends them: rendered
        /// by the first reader after a change, then copied by every reader until the next change.
        var rendered: ByteBuffer?

        mutating func set(_ wh: String, _ pair: PairState) {
            version &+= 1
            rendered = nil
            var low = 0, high = warehouses.count
            while low < high {
                let middle = (low + high) / 2
                if warehouses[middle].utf8.lexicographicallyPrecedes(wh.utf8) { low = middle + 1 } else { high = middle }
            }
            if low < warehouses.count && warehouses[low] == wh {
                pairs[low] = pair
            } else {
                warehouses.insert(wh, at: low)
                pairs.insert(pair, at: low)
            }
        }
    }

    struct Contents: Sendable {
        var skus: [String: SkuPairs] = [:]
        /// Pairs below their safety level, and pairs with a reorder suggestion: BREACHES and
        /// REORDER read these instead of every pair.
        var breached: Set<PairKey> = []
        /// Each sku's any-warehouse waitlist (the pseudo-pair `*`).
        var anyWarehouse: [String: PairState] = [:]
        var reorderable: Set<PairKey> = []
        var reservations: [String: Reservation] = [:]
        var transfers: [String: Transfer] = [:]
        var lastSeq: UInt64 = 0
        /// Seqs of committed events the stored per-sku index does not hold yet.
        var tail = UnindexedTail(indexedThrough: 0)
        /// The log's seq by the clock while the clock is behind the newest event time, for `at=`.
        var clockMarks = ClockMarks()

        func pair(_ key: PairKey) -> PairState? {
            if key.isAnyWarehouse { return anyWarehouse[key.sku] }
            guard let sku = skus[key.sku], let index = sku.warehouses.firstIndex(of: key.wh) else { return nil }
            return sku.pairs[index]
        }

        mutating func setPair(_ key: PairKey, _ pair: PairState) {
            // A sku's waitlist for any warehouse is not a warehouse: stock reads never list it.
            if key.isAnyWarehouse { anyWarehouse[key.sku] = pair; return }
            skus[key.sku, default: SkuPairs()].set(key.wh, pair)
            if pair.isBreached { breached.insert(key) } else { breached.remove(key) }
            if pair.reorderSuggestion != nil { reorderable.insert(key) } else { reorderable.remove(key) }
        }

        mutating func setReservation(_ reservation: Reservation) {
            if reservation.status == .open { reservations[reservation.id] = reservation }
            else { reservations.removeValue(forKey: reservation.id) }
        }

        mutating func setTransfer(_ transfer: Transfer) {
            if transfer.isOpen { transfers[transfer.id] = transfer } else { transfers.removeValue(forKey: transfer.id) }
        }
    }

    private let contents: Mutex<Contents>

    init(_ contents: Contents) { self.contents = Mutex(contents) }

    func withContents<R>(_ body: (borrowing Contents) throws -> R) rethrows -> R {
        try contents.withLock { try body($0) }
    }

    func update(_ body: (inout Contents) -> Void) {
        contents.withLock { body(&$0) }
    }

    var lastSeq: UInt64 { contents.withLock { $0.lastSeq } }

    /// Keeps the rows a reader rendered for `sku`, unless the sku changed since it read `version`.
    func keepRendered(_ rows: ByteBuffer, sku: String, version: UInt64) {
        contents.withLock { contents in
            guard contents.skus[sku]?.version == version else { return }
            contents.skus[sku]?.rendered = rows
        }
    }
}
