import HeapModule
import LedgerCore
import LedgerProtocol
import LedgerStore

/// The writer's ledger in memory: the whole current state, and what is not checkpointed yet.
///
/// Only the writer thread touches it. It holds every pair, every open reservation, transfer and
/// purchase order, and the closed ones that changed since the last checkpoint; closed entities
/// already checkpointed are found on disk through `state.source`. Beside the state it keeps what
/// the next checkpoint writes: the entities changed since the last one, the idempotency records
/// made since, and the per-sku seqs of the events since (`tail`). The log is the truth: all of this
/// is rebuilt at start from the checkpoint plus the events after it, with the same `Ledger.apply`.
final class LiveLedger: LedgerSource {
    private(set) var state: LedgerState
    private(set) var dirtyPairs: Set<PairKey> = []
    private(set) var dirtyReservations: Set<String> = []
    private(set) var dirtyTransfers: Set<String> = []
    private(set) var dirtyOrders: Set<String> = []
    private(set) var idempotency: [String: IdempotencyRecord] = [:]
    private(set) var tail: UnindexedTail
    /// Pairs with units promised to open purchase orders: where `overdue` is looked for.
    private(set) var promising: Set<PairKey> = []
    private var expiries = Heap<Expiry>()
    private let store: LedgerStore

    /// When an open reservation is due. Entries are not removed when a reservation closes early:
    /// a popped entry whose reservation is no longer open at that time is skipped.
    /// When a fence lapses (`ALLOT until=`); stale entries are skipped like reservations'.
    struct FenceDeadline: Comparable {
        var due: Timestamp
        var key: PairKey
        var channel: String
        static func < (lhs: FenceDeadline, rhs: FenceDeadline) -> Bool {
            (lhs.due, lhs.key, lhs.channel) < (rhs.due, rhs.key, rhs.channel)
        }
    }
    private var fenceDeadlines = Heap<FenceDeadline>()

    struct Expiry: Comparable {
        var due: Timestamp
        var reservationID: String
        static func < (lhs: Expiry, rhs: Expiry) -> Bool {
            lhs.due != rhs.due ? lhs.due < rhs.due : lhs.reservationID.utf8.lexicographicallyPrecedes(rhs.reservationID.utf8)
        }
    }

    /// Loads the checkpoint and folds the log after it. The events of the tail were acknowledged
    /// (or at least committed) before the daemon stopped; their idempotency records are rebuilt
    /// from the fingerprint each keyed event carries and the reply the same fold gives again.
    init(store: LedgerStore) throws {
        self.store = store
        (state, tail) = try store.read { reader in
            let checkpoint = reader.checkpointSeq
            let logEnd = reader.lastLogSeq
            guard checkpoint <= logEnd else {
                throw CorruptRecord(reason: "the checkpoint is at seq \(checkpoint) but the log ends at \(logEnd)")
            }
            var state = try reader.loadCheckpoint()
            state.source = StoredEntities(store: store)
            return (state, UnindexedTail(indexedThrough: checkpoint))
        }
        var folded = LedgerState(source: self)
        folded.lastSeq = state.lastSeq
        var events: [Event] = []
        var records: [String: IdempotencyRecord] = [:]
        try store.read { reader in
            try reader.forEachEvent(from: state.lastSeq + 1) { event in
                let before = Rows.promisesBefore(event) { folded.reservation($0) }
                Ledger.apply(event, to: &folded)
                if let key = event.idempotencyKey {
                    // A write whose fills went on into `filled` events is answered again with the
                    // fills of its own event only (its OK line says how many units those filled).
                    let reply = Rows.writeReply(event, pairs: { folded.pair($0) ?? PairState() },
                                                reservations: { folded.reservation($0) }, before: before)
                    records[key] = IdempotencyRecord(fingerprint: event.requestFingerprint ?? IdempotencyRecord.importedFingerprint,
                                                     reply: reply.joined(separator: "\n"), recordedAt: event.recordedAt)
                }
                events.append(event)
                return true
            }
        }
        absorb(folded, events: events, idempotency: records)
        // One pass over the checkpoint's pairs (the tail's were taken in by `absorb`).
        for (key, pair) in state.pairs where pair.hasExtras {
            if pair.promised > 0 { promising.insert(key) }
            if !pair.fenceUntil.isEmpty { scheduleFences(key, pair, before: nil) }
        }
        for reservation in state.reservations.values where reservation.status == .open {
            expiries.insert(Expiry(due: reservation.expiresAt, reservationID: reservation.id))
        }
    }

    // MARK: LedgerSource (a group's scratch state reads through this)

    func pair(_ key: PairKey) -> PairState? { state.pairs[key] }
    func reservation(_ id: String) -> Reservation? { state.reservation(id) }
    func transfer(_ id: String) -> Transfer? { state.transfer(id) }
    func purchaseOrder(_ id: String) -> PurchaseOrder? { state.purchaseOrder(id) }

    /// The record of an idempotency key: made since the checkpoint, or stored.
    func idempotencyRecord(_ key: String) -> IdempotencyRecord? {
        if let record = idempotency[key] { return record }
        return StoredEntities.orCrash("idempotency \(key)") { try store.read { $0.idempotencyRecord(key) } }
    }

    var lastSeq: UInt64 { state.lastSeq }
    var pendingEvents: Int { tail.count }
    /// The next reservation expiry or fence deadline.
    var nextExpiry: Timestamp? {
        [expiries.min?.due, fenceDeadlines.min?.due].compactMap { $0 }.min()
    }

    /// Takes the fences whose `until` is at or before `time`.
    func takeDueFences(atOrBefore time: Timestamp, limit: Int) -> [FenceDeadline] {
        var due: [FenceDeadline] = []
        while due.count < limit, let first = fenceDeadlines.min, first.due <= time {
            let entry = fenceDeadlines.removeMin()
            if state.pairs[entry.key]?.fenceUntil[entry.channel] == entry.due { due.append(entry) }
        }
        return due
    }

    func reschedule(_ entries: [FenceDeadline]) {
        for entry in entries { fenceDeadlines.insert(entry) }
    }

    private func scheduleFences(_ key: PairKey, _ pair: PairState, before: PairState?) {
        for (channel, until) in pair.fenceUntil where before?.fenceUntil[channel] != until {
            fenceDeadlines.insert(FenceDeadline(due: until, key: key, channel: channel))
        }
    }

    /// Takes up to `limit` reservations due at or before `time`, earliest first. They leave the
    /// schedule: a caller that cannot expire them gives them back with `reschedule`.
    func takeDue(atOrBefore time: Timestamp, limit: Int) -> [Expiry] {
        var due: [Expiry] = []
        while due.count < limit, let first = expiries.min, first.due <= time {
            let entry = expiries.removeMin()
            if let reservation = state.reservations[entry.reservationID], reservation.status == .open,
               reservation.expiresAt == entry.due {
                due.append(entry)
            }
        }
        return due
    }

    func reschedule(_ entries: [Expiry]) {
        for entry in entries { expiries.insert(entry) }
    }

    /// Takes in what a committed group (or the start-up tail) changed: its entities become the live
    /// ones and are marked for the next checkpoint.
    func absorb(_ changed: LedgerState, events: [Event], idempotency records: [String: IdempotencyRecord]) {
        for (key, pair) in changed.pairs {
            if !pair.fenceUntil.isEmpty { scheduleFences(key, pair, before: state.pairs[key]) }
            state.pairs[key] = pair
            dirtyPairs.insert(key)
            if pair.promised > 0 { promising.insert(key) } else if !promising.isEmpty { promising.remove(key) }
        }
        for (id, reservation) in changed.reservations {
            // A new reservation, or one whose expiry moved (EXTEND; the old entry is skipped when due).
            if reservation.status == .open && state.reservations[id]?.expiresAt != reservation.expiresAt {
                expiries.insert(Expiry(due: reservation.expiresAt, reservationID: id))
            }
            state.reservations[id] = reservation
            dirtyReservations.insert(id)
        }
        for (id, transfer) in changed.transfers {
            state.transfers[id] = transfer
            dirtyTransfers.insert(id)
        }
        for (id, order) in changed.purchaseOrders {
            state.purchaseOrders[id] = order
            dirtyOrders.insert(id)
        }
        for event in events { tail.append(event.seq, sku: event.sku) }
        idempotency.merge(records) { _, new in new }
        state.lastSeq = changed.lastSeq
    }

    /// Everything the next checkpoint writes, as of `lastSeq`.
    func checkpointContents() -> LedgerState {
        var dirty = LedgerState()
        for key in dirtyPairs { dirty.pairs[key] = state.pairs[key] }
        for id in dirtyReservations { dirty.reservations[id] = state.reservations[id] }
        for id in dirtyTransfers { dirty.transfers[id] = state.transfers[id] }
        for id in dirtyOrders { dirty.purchaseOrders[id] = state.purchaseOrders[id] }
        dirty.lastSeq = state.lastSeq
        return dirty
    }

    /// The checkpoint holding everything up to `lastSeq` is durable: forget what it wrote, and
    /// drop closed entities from memory (the store answers for them from now on).
    func checkpointed() {
        for id in dirtyReservations where state.reservations[id]?.status != .open { state.reservations.removeValue(forKey: id) }
        for id in dirtyTransfers where state.transfers[id]?.isOpen != true { state.transfers.removeValue(forKey: id) }
        for id in dirtyOrders where state.purchaseOrders[id]?.isOpen != true { state.purchaseOrders.removeValue(forKey: id) }
        dirtyPairs.removeAll(keepingCapacity: true)
        dirtyReservations.removeAll(keepingCapacity: true)
        dirtyTransfers.removeAll(keepingCapacity: true)
        dirtyOrders.removeAll(keepingCapacity: true)
        idempotency.removeAll(keepingCapacity: true)
        tail = UnindexedTail(indexedThrough: state.lastSeq)
        // Reservations sold or released early leave their entry in the schedule until it is due;
        // rebuild it once those are the majority, so it stays within twice the open reservations.
        if expiries.count > 2 * state.reservations.count + LiveLedger.expiryScheduleSlack {
            expiries = Heap(state.reservations.values.filter { $0.status == .open }.map {
                Expiry(due: $0.expiresAt, reservationID: $0.id)
            })
        }
    }

    /// Stale schedule entries tolerated before a rebuild, so a small ledger does not rebuild often.
    static let expiryScheduleSlack = 1_024
    var scheduledExpiries: Int { expiries.count }

    /// The read side's first contents.
    func viewContents() -> LiveView.Contents {
        var contents = LiveView.Contents()
        for (key, pair) in state.pairs { contents.setPair(key, pair) }
        for reservation in state.reservations.values { contents.setReservation(reservation) }
        for transfer in state.transfers.values { contents.setTransfer(transfer) }
        contents.lastSeq = state.lastSeq
        contents.tail = tail
        return contents
    }
}

/// The checkpointed entities on disk, for what memory no longer holds: closed reservations,
/// transfers and purchase orders (a refusal names their state; a new id must not reuse theirs).
/// Every pair is in memory, so a pair it does not have does not exist.
final class StoredEntities: LedgerSource {
    let store: LedgerStore
    init(store: LedgerStore) { self.store = store }

    func pair(_ key: PairKey) -> PairState? { nil }
    func reservation(_ id: String) -> Reservation? { StoredEntities.orCrash("reservation \(id)") { try store.read { $0.reservation(id) } } }
    func transfer(_ id: String) -> Transfer? { StoredEntities.orCrash("transfer \(id)") { try store.read { $0.transfer(id) } } }
    func purchaseOrder(_ id: String) -> PurchaseOrder? {
        StoredEntities.orCrash("purchase order \(id)") { try store.read { $0.purchaseOrder(id) } }
    }

    /// A read transaction that cannot begin means the environment is broken: answering "not found"
    /// instead would be a wrong answer, so stop (STYLE: crash, restart, recover from the log).
    static func orCrash<T>(_ what: String, _ body: () throws -> T) -> T {
        do { return try body() } catch { preconditionFailure("cannot read \(what) from the store: \(error)") }
    }
}
