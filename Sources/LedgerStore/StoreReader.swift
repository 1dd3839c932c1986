import LedgerCore

/// What a read transaction can see: the log, the projections and the indexes, as Swift values.
/// Valid only inside the `LedgerStore.read` or `write` call that made it.
///
/// A record that cannot be decoded is a damaged store: the reader stops the process rather than
/// answer from it (see STYLE: broken invariants crash, the log is the recovery).
public class StoreReader: LedgerSource {
    let txn: LMDBTransaction
    let databases: LedgerStore.Databases

    init(txn: LMDBTransaction, databases: LedgerStore.Databases) {
        self.txn = txn
        self.databases = databases
    }

    func decodeOrCrash<T>(_ what: String, _ body: () throws -> T) -> T {
        do { return try body() } catch { preconditionFailure("\(what): \(error)") }
    }

    /// The checkpoint: the seq the stored projections, the per-sku index, the expiry index and the
    /// idempotency records are complete up to (0 for an empty store). The log may go further; the
    /// events after it are the tail that a start-up folds (stored as `last_seq`, its name before
    /// checkpoints existed, when every commit kept it equal to the end of the log).
    public var checkpointSeq: UInt64 {
        decodeOrCrash("meta last_seq") { try txn.get(databases.meta, key: MetaKey.lastSeq) { StoreKey.seq(from: $0) } ?? 0 }
    }

    /// The seq of the last event in the log (at or after `checkpointSeq`).
    public var lastLogSeq: UInt64 {
        decodeOrCrash("log") { try txn.cursor(databases.log).last().map { StoreKey.seq(from: $0.key) } ?? 0 }
    }

    public func pair(_ key: PairKey) -> PairState? {
        decodeOrCrash("pair \(key.sku)/\(key.wh)") {
            try txn.get(databases.pairs, key: StoreKey.pair(key)) { try ProjectionCodec.decodePair($0) }
        }
    }

    public func reservation(_ id: String) -> Reservation? {
        decodeOrCrash("reservation \(id)") {
            try txn.get(databases.reservations, key: Array(id.utf8)) { try ProjectionCodec.decodeReservation(id: id, $0) }
        }
    }

    public func transfer(_ id: String) -> Transfer? {
        decodeOrCrash("transfer \(id)") {
            try txn.get(databases.transfers, key: Array(id.utf8)) { try ProjectionCodec.decodeTransfer(id: id, $0) }
        }
    }

    public func purchaseOrder(_ id: String) -> PurchaseOrder? {
        decodeOrCrash("purchase order \(id)") {
            try txn.get(databases.orders, key: Array(id.utf8)) { try ProjectionCodec.decodePurchaseOrder(id: id, $0) }
        }
    }

    /// The pairs of one sku, sorted by warehouse.
    public func pairs(sku: String) -> [(PairKey, PairState)] {
        var result: [(PairKey, PairState)] = []
        forEachPair(startingWith: StoreKey.skuPrefix(sku)) { result.append(($0, $1)); return true }
        return result
    }

    /// Visits pairs in (sku, wh) order, optionally only those whose key starts with `prefix`, until
    /// `visit` returns false.
    public func forEachPair(startingWith prefix: [UInt8] = [], _ visit: (PairKey, PairState) -> Bool) {
        decodeOrCrash("pairs") {
            let cursor = try txn.cursor(databases.pairs)
            var entry = prefix.isEmpty ? try cursor.first() : try cursor.seek(atLeast: prefix)
            while let (key, value) = entry, key.starts(with: prefix) {
                guard visit(StoreKey.pair(from: key), try ProjectionCodec.decodePair(value)) else { return }
                entry = try cursor.next()
            }
        }
    }

    public func forEachReservation(_ visit: (Reservation) -> Bool) {
        decodeOrCrash("reservations") {
            let cursor = try txn.cursor(databases.reservations)
            var entry = try cursor.first()
            while let (key, value) = entry {
                let id = String(decoding: key, as: UTF8.self)
                guard visit(try ProjectionCodec.decodeReservation(id: id, value)) else { return }
                entry = try cursor.next()
            }
        }
    }

    public func forEachTransfer(_ visit: (Transfer) -> Bool) {
        decodeOrCrash("transfers") {
            let cursor = try txn.cursor(databases.transfers)
            var entry = try cursor.first()
            while let (key, value) = entry {
                let id = String(decoding: key, as: UTF8.self)
                guard visit(try ProjectionCodec.decodeTransfer(id: id, value)) else { return }
                entry = try cursor.next()
            }
        }
    }

    public func forEachPurchaseOrder(_ visit: (PurchaseOrder) -> Bool) {
        decodeOrCrash("purchase orders") {
            let cursor = try txn.cursor(databases.orders)
            var entry = try cursor.first()
            while let (key, value) = entry {
                let id = String(decoding: key, as: UTF8.self)
                guard visit(try ProjectionCodec.decodePurchaseOrder(id: id, value)) else { return }
                entry = try cursor.next()
            }
        }
    }

    /// The whole stored projection as one state, for comparison with a replay.
    public func loadState() -> LedgerState {
        var state = LedgerState()
        forEachPair { state.pairs[$0] = $1; return true }
        forEachReservation { state.reservations[$0.id] = $0; return true }
        forEachTransfer { state.transfers[$0.id] = $0; return true }
        forEachPurchaseOrder { state.purchaseOrders[$0.id] = $0; return true }
        state.lastSeq = checkpointSeq
        return state
    }

    /// The checkpoint as the daemon holds it in memory: every pair, and the reservations, transfers
    /// and purchase orders that are still open (closed ones stay on disk, where `LedgerState`'s
    /// source finds them when a refusal needs to name their state). Open reservations are found
    /// through the expiry index, which holds exactly those.
    public func loadCheckpoint() -> LedgerState {
        var state = LedgerState()
        forEachPair { state.pairs[$0] = $1; return true }
        for id in reservationsDue(atOrBefore: Timestamp(microseconds: Int64.max), limit: Int.max) {
            if let reservation = reservation(id), reservation.status == .open { state.reservations[id] = reservation }
        }
        forEachTransfer { transfer in
            if transfer.isOpen { state.transfers[transfer.id] = transfer }
            return true
        }
        forEachPurchaseOrder { order in
            if order.isOpen { state.purchaseOrders[order.id] = order }
            return true
        }
        state.lastSeq = checkpointSeq
        return state
    }

    public func event(_ seq: UInt64) throws -> Event? {
        try txn.get(databases.log, key: StoreKey.seq(seq)) { try EventCodec.decode(seq: seq, $0) }
    }

    /// Visits events in log order from `seq` (inclusive) until `visit` returns false.
    /// Decoding errors are thrown, not crashed on, so `stockctl` can report a damaged log.
    public func forEachEvent(from seq: UInt64, _ visit: (Event) throws -> Bool) throws {
        let cursor = try txn.cursor(databases.log)
        var entry = try cursor.seek(atLeast: StoreKey.seq(seq))
        while let (key, value) = entry {
            let event = try EventCodec.decode(seq: StoreKey.seq(from: key), value)
            guard try visit(event) else { return }
            entry = try cursor.next()
        }
    }

    /// Visits the raw stored bytes of events in log order (for tools that measure decoding).
    public func forEachRawEvent(from seq: UInt64, _ visit: (UInt64, UnsafeRawBufferPointer) throws -> Bool) throws {
        let cursor = try txn.cursor(databases.log)
        var entry = try cursor.seek(atLeast: StoreKey.seq(seq))
        while let (key, value) = entry {
            guard try visit(StoreKey.seq(from: key), value) else { return }
            entry = try cursor.next()
        }
    }

    /// Visits the events of one sku in log order, from `seq` (inclusive): those the stored per-sku
    /// index holds (up to `tail.indexedThrough`), then the tail's, which are not indexed on disk yet.
    public func forEachEvent(sku: String, from seq: UInt64, tail: UnindexedTail,
                             _ visit: (Event) throws -> Bool) throws {
        func load(_ eventSeq: UInt64) throws -> Event {
            guard let event = try event(eventSeq) else {
                throw CorruptRecord(reason: "sku index names event \(eventSeq), which is not in the log")
            }
            return event
        }
        let prefix = StoreKey.skuPrefix(sku)
        func isThisSku(_ key: UnsafeRawBufferPointer) -> Bool { key.count == prefix.count + 8 && key.starts(with: prefix) }
        let cursor = try txn.cursor(databases.skuIndex)
        let start = StoreKey.skuIndex(sku, seq)
        var entry = try cursor.seek(atLeast: start)
        // A chunk that begins before `seq` may still hold it: then start from that chunk.
        if let (key, value) = try (entry == nil ? cursor.last() : cursor.previous()), isThisSku(key), !value.isEmpty {
            entry = (key, value)
        } else {
            entry = try cursor.seek(atLeast: start)
        }
        indexed: while let (key, value) = entry, isThisSku(key) {
            let seqs = try SkuIndexChunk.seqs(first: StoreKey.seq(from: key), value)
            for eventSeq in seqs where eventSeq >= seq {
                // A checkpoint that committed after the tail was taken may index seqs the tail also has.
                guard eventSeq <= tail.indexedThrough else { break indexed }
                guard try visit(try load(eventSeq)) else { return }
            }
            entry = try cursor.next()
        }
        for eventSeq in tail.seqs(of: sku) where eventSeq >= seq {
            guard try visit(try load(eventSeq)) else { return }
        }
    }

    /// How many seqs the per-sku index holds, chunks unpacked (`stockctl verify`).
    public func indexedSeqCount() throws -> Int {
        let cursor = try txn.cursor(databases.skuIndex)
        var count = 0
        var entry = try cursor.first()
        while let (key, value) = entry {
            count += try SkuIndexChunk.seqs(first: StoreKey.seq(from: key), value).count
            entry = try cursor.next()
        }
        return count
    }

    /// The per-sku seqs of the events after the checkpoint, read from the log: what a process that
    /// does not hold the daemon's memory (stockctl) uses for `tail` above.
    public func unindexedTail() throws -> UnindexedTail {
        var tail = UnindexedTail(indexedThrough: checkpointSeq)
        try forEachEvent(from: tail.indexedThrough + 1) { event in
            tail.append(event.seq, sku: event.sku)
            return true
        }
        return tail
    }

    /// The stored idempotency record for `key`, if that key has succeeded before.
    public func idempotencyRecord(_ key: String) -> IdempotencyRecord? {
        decodeOrCrash("idempotency \(key)") {
            try txn.get(databases.idempotency, key: Array(key.utf8)) { buffer in
                var reader = ByteReader(buffer)
                return IdempotencyRecord(fingerprint: try reader.string(), reply: try reader.string(),
                                         recordedAt: Timestamp(microseconds: try reader.signed()))
            }
        }
    }

    /// Open reservations due at or before `time`, earliest first, at most `limit`.
    public func reservationsDue(atOrBefore time: Timestamp, limit: Int) -> [String] {
        decodeOrCrash("expiry index") {
            var due: [String] = []
            let cursor = try txn.cursor(databases.expiry)
            var entry = try cursor.first()
            while let (key, _) = entry, due.count < limit {
                guard StoreKey.seq(from: UnsafeRawBufferPointer(rebasing: key[0..<8])) <= UInt64(max(0, time.microseconds))
                else { break }
                due.append(String(decoding: UnsafeRawBufferPointer(rebasing: key[8...]), as: UTF8.self))
                entry = try cursor.next()
            }
            return due
        }
    }

    /// The earliest time any open reservation is due, if any.
    public var nextExpiry: Timestamp? {
        decodeOrCrash("expiry index") {
            try txn.cursor(databases.expiry).first().map {
                Timestamp(microseconds: Int64(bitPattern: StoreKey.seq(from: UnsafeRawBufferPointer(rebasing: $0.key[0..<8]))))
            }
        }
    }

    /// Entry counts of every database, by name.
    public func entryCounts() throws -> [(String, Int)] {
        [("log", try txn.entryCount(databases.log)), ("pairs", try txn.entryCount(databases.pairs)),
         ("reservations", try txn.entryCount(databases.reservations)),
         ("transfers", try txn.entryCount(databases.transfers)), ("orders", try txn.entryCount(databases.orders)),
         ("idempotency", try txn.entryCount(databases.idempotency)),
         ("sku_index", try txn.entryCount(databases.skuIndex)), ("expiry", try txn.entryCount(databases.expiry))]
    }
}

/// What the store remembers of a write that succeeded with an idempotency key.
public struct IdempotencyRecord: Equatable, Sendable {
    /// The fingerprint of keys loaded by `stockctl import`: any retry with such a key is a duplicate.
    public static let importedFingerprint = "imported"

    /// The request's arguments in canonical form: the same key with other arguments is a conflict.
    public var fingerprint: String
    /// The original reply, sent again (with `dup=yes`) on a retry.
    public var reply: String
    public var recordedAt: Timestamp

    public init(fingerprint: String, reply: String, recordedAt: Timestamp) {
        self.fingerprint = fingerprint
        self.reply = reply
        self.recordedAt = recordedAt
    }
}

/// The write side of the one write transaction. Only the writer thread has one.
public final class StoreWriter: StoreReader {
    /// Appends `event` to the log only: the daemon's group commit, which writes nothing else (the
    /// index and projections follow in a later checkpoint). Seqs must come gapless in order:
    /// MDB_APPEND fails on a key that is not past the last one, which would be a broken invariant.
    public func appendToLog(_ event: Event) throws {
        try txn.put(databases.log, key: StoreKey.seq(event.seq), value: EventCodec.encode(event), append: true)
    }

    /// Appends `event` to the log and indexes it by sku at once: for tools that write a store and
    /// its projections in one transaction (import, the offline fill, tests).
    public func append(_ event: Event) throws {
        try appendToLog(event)
        try index(sku: event.sku, seqs: [event.seq])
    }

    /// Adds one sku's seqs (ascending, all after any it already has) to the per-sku index as one
    /// entry: a checkpoint writes one chunk per sku it touched, so its index pages grow with the
    /// skus, not with the events.
    public func index(sku: String, seqs: [UInt64]) throws {
        guard let first = seqs.first else { return }
        try txn.put(databases.skuIndex, key: StoreKey.skuIndex(sku, first), value: SkuIndexChunk.encode(seqs))
    }

    /// Writes every entity held in `state` (the ones events since the last checkpoint touched) and
    /// moves the checkpoint to `state.lastSeq`.
    public func persist(_ state: LedgerState) throws {
        for (key, pair) in state.pairs {
            try txn.put(databases.pairs, key: StoreKey.pair(key), value: ProjectionCodec.encode(pair))
        }
        for (id, reservation) in state.reservations {
            try txn.put(databases.reservations, key: Array(id.utf8), value: ProjectionCodec.encode(reservation))
            let expiryKey = StoreKey.expiry(reservation.expiresAt, id)
            if reservation.status == .open { try txn.put(databases.expiry, key: expiryKey, value: []) }
            else { try txn.delete(databases.expiry, key: expiryKey) }
        }
        for (id, transfer) in state.transfers {
            try txn.put(databases.transfers, key: Array(id.utf8), value: ProjectionCodec.encode(transfer))
        }
        for (id, order) in state.purchaseOrders {
            try txn.put(databases.orders, key: Array(id.utf8), value: ProjectionCodec.encode(order))
        }
        try txn.put(databases.meta, key: MetaKey.lastSeq, value: StoreKey.seq(state.lastSeq))
    }

    public func putIdempotencyRecord(_ key: String, _ record: IdempotencyRecord) throws {
        var writer = ByteWriter(capacity: 128)
        writer.string(record.fingerprint)
        writer.string(record.reply)
        writer.signed(record.recordedAt.microseconds)
        try txn.put(databases.idempotency, key: Array(key.utf8), value: writer.bytes)
    }
}
