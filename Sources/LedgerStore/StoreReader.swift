import LedgerCore

/// What a read transaction can see: the log, the projections and the indexes, as Swift values.
/// Valid only inside the `LedgerStore.read` or `write` call that made it.
///
/// A record or page that cannot be read is a damaged store. The throwing reads (the log, the
/// indexes, the projections in bulk) throw `StoreDamage` naming the file and the seq, so the daemon
/// answers `ERR UNAVAILABLE` and stockctl reports it; the non-throwing ones (the `LedgerSource`
/// lookups of the writer) stop the process with the same diagnosis, since a writer must not decide
/// on a guess (see STYLE: broken invariants crash, the log is the recovery).
public class StoreReader: LedgerSource {
    let txn: LMDBTransaction
    let databases: LedgerStore.Databases
    /// The data file, named by every `StoreDamage`.
    let path: String

    init(txn: LMDBTransaction, databases: LedgerStore.Databases, path: String) {
        self.txn = txn
        self.databases = databases
        self.path = path
    }

    /// Runs `body`, turning what only a damaged file causes (an undecodable record, a damaged page)
    /// into `StoreDamage` at `seq` (read when the damage is met) in `part` of the store (the log
    /// when nil).
    public func damage<T>(at seq: @autoclosure () -> UInt64?, in part: String? = nil, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as CorruptRecord {
            throw StoreDamage(path: path, seq: seq(), (part.map { $0 + ": " } ?? "") + error.reason)
        } catch let error as LMDBError where error.meansDamage {
            throw StoreDamage(path: path, seq: seq(), (part.map { $0 + ": " } ?? "") + "a damaged page (LMDB: \(error))")
        }
    }

    func decodeOrCrash<T>(_ what: String, _ body: () throws -> T) -> T {
        do { return try body() } catch { preconditionFailure("\(what): \(error)") }
    }

    /// The checkpoint: the seq the stored projections, the per-sku index, the expiry index and the
    /// idempotency records are complete up to (0 for an empty store). The log may go further; the
    /// events after it are the tail that a start-up folds (stored as `last_seq`, its name before
    /// checkpoints existed, when every commit kept it equal to the end of the log).
    public func checkpoint() throws -> UInt64 {
        try damage(at: nil, in: "meta last_seq") {
            try txn.get(databases.meta, key: MetaKey.lastSeq) { value in
                guard value.count == 8 else { throw CorruptRecord(reason: "meta last_seq is \(value.count) bytes, not 8") }
                return try StoreKey.seq(from: value)
            } ?? 0
        }
    }

    /// `checkpoint()`, for callers that checked the store at open (`checkLogEnds`).
    public var checkpointSeq: UInt64 { decodeOrCrash("meta last_seq") { try checkpoint() } }

    /// The seq of the last event in the log (at or after the checkpoint).
    public func logEnd() throws -> UInt64 {
        try damage(at: nil) { try txn.cursor(databases.log).last().map { try logSeq($0.key) } ?? 0 }
    }

    /// `logEnd()`, for callers that checked the store at open (`checkLogEnds`).
    public var lastLogSeq: UInt64 { decodeOrCrash("log") { try logEnd() } }

    /// The seq of a log key, which is exactly 8 bytes.
    private func logSeq(_ key: UnsafeRawBufferPointer) throws -> UInt64 {
        guard key.count == 8 else { throw CorruptRecord(reason: "a log key of \(key.count) bytes, not 8") }
        return try StoreKey.seq(from: key)
    }

    /// Checks what a start relies on, all of it cheap: the log's first and last keys and its entry
    /// count agree (gapless from 1), and the checkpoint is not past the end of the log. Throws
    /// `StoreDamage` saying which does not hold.
    public func checkLogEnds() throws {
        let checkpoint = try checkpoint(), end = try logEnd()
        let (first, count) = try damage(at: 1) {
            (try txn.cursor(databases.log).first().map { try logSeq($0.key) }, try txn.entryCount(databases.log))
        }
        guard first == (end == 0 ? nil : 1), UInt64(count) == end else {
            throw StoreDamage(path: path, seq: first ?? 0,
                              "the log holds \(count) events but its keys run from seq \(first ?? 0) to \(end)")
        }
        guard checkpoint <= end else {
            throw StoreDamage(path: path, seq: end, "the checkpoint is at seq \(checkpoint) but the log ends at \(end)")
        }
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
    public func pairs(sku: String) throws -> [(PairKey, PairState)] {
        var result: [(PairKey, PairState)] = []
        try forEachPair(startingWith: StoreKey.skuPrefix(sku)) { result.append(($0, $1)); return true }
        return result
    }

    /// Visits pairs in (sku, wh) order, optionally only those whose key starts with `prefix`, until
    /// `visit` returns false.
    public func forEachPair(startingWith prefix: [UInt8] = [], _ visit: (PairKey, PairState) -> Bool) throws {
        try damage(at: nil, in: "pairs") {
            let cursor = try txn.cursor(databases.pairs)
            var entry = prefix.isEmpty ? try cursor.first() : try cursor.seek(atLeast: prefix)
            while let (key, value) = entry, key.starts(with: prefix) {
                guard visit(StoreKey.pair(from: key), try ProjectionCodec.decodePair(value)) else { return }
                entry = try cursor.next()
            }
        }
    }

    public func forEachReservation(_ visit: (Reservation) -> Bool) throws {
        try damage(at: nil, in: "reservations") {
            let cursor = try txn.cursor(databases.reservations)
            var entry = try cursor.first()
            while let (key, value) = entry {
                let id = String(decoding: key, as: UTF8.self)
                guard visit(try ProjectionCodec.decodeReservation(id: id, value)) else { return }
                entry = try cursor.next()
            }
        }
    }

    public func forEachTransfer(_ visit: (Transfer) -> Bool) throws {
        try damage(at: nil, in: "transfers") {
            let cursor = try txn.cursor(databases.transfers)
            var entry = try cursor.first()
            while let (key, value) = entry {
                let id = String(decoding: key, as: UTF8.self)
                guard visit(try ProjectionCodec.decodeTransfer(id: id, value)) else { return }
                entry = try cursor.next()
            }
        }
    }

    public func forEachPurchaseOrder(_ visit: (PurchaseOrder) -> Bool) throws {
        try damage(at: nil, in: "orders") {
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
    public func loadState() throws -> LedgerState {
        var state = LedgerState()
        try forEachPair { state.pairs[$0] = $1; return true }
        try forEachReservation { state.reservations[$0.id] = $0; return true }
        try forEachTransfer { state.transfers[$0.id] = $0; return true }
        try forEachPurchaseOrder { state.purchaseOrders[$0.id] = $0; return true }
        state.lastSeq = try checkpoint()
        return state
    }

    /// The checkpoint as the daemon holds it in memory: every pair, and the reservations, transfers
    /// and purchase orders that are still open (closed ones stay on disk, where `LedgerState`'s
    /// source finds them when a refusal needs to name their state). Open reservations are found
    /// through the expiry index, which holds exactly those.
    public func loadCheckpoint() throws -> LedgerState {
        var state = LedgerState()
        try forEachPair { state.pairs[$0] = $1; return true }
        for id in try dueReservations(atOrBefore: Timestamp(microseconds: Int64.max), limit: Int.max) {
            let reservation = try damage(at: nil, in: "reservations") {
                try txn.get(databases.reservations, key: Array(id.utf8)) { try ProjectionCodec.decodeReservation(id: id, $0) }
            }
            if let reservation, reservation.status == .open { state.reservations[id] = reservation }
        }
        try forEachTransfer { transfer in
            if transfer.isOpen { state.transfers[transfer.id] = transfer }
            return true
        }
        try forEachPurchaseOrder { order in
            if order.isOpen { state.purchaseOrders[order.id] = order }
            return true
        }
        state.lastSeq = try checkpoint()
        return state
    }

    /// The event at `seq`, or nil when the log does not hold it.
    public func event(_ seq: UInt64) throws -> Event? {
        try damage(at: seq) { try txn.get(databases.log, key: StoreKey.seq(seq)) { try EventCodec.decode(seq: seq, $0) } }
    }

    /// Visits events in log order from `seq` (inclusive) until `visit` returns false. A damaged
    /// record, page or gap is thrown as `StoreDamage` at the seq where it was met.
    public func forEachEvent(from seq: UInt64, _ visit: (Event) throws -> Bool) throws {
        try forEachRawEvent(from: seq) { seq, bytes in
            try visit(try damage(at: seq) { try EventCodec.decode(seq: seq, bytes) })
        }
    }

    /// Visits the raw stored bytes of events in log order from `seq` (inclusive), checking that the
    /// keys are gapless (for replay, which decodes on its own). Damage is thrown as for `forEachEvent`.
    public func forEachRawEvent(from seq: UInt64, _ visit: (UInt64, UnsafeRawBufferPointer) throws -> Bool) throws {
        var expected = Swift.max(seq, 1)
        try damage(at: expected) {
            let cursor = try txn.cursor(databases.log)
            var entry = try cursor.seek(atLeast: StoreKey.seq(expected))
            while let (key, value) = entry {
                let found = try logSeq(key)
                guard found == expected else {
                    throw CorruptRecord(reason: "the log has a gap: expected seq \(expected), found \(found)")
                }
                guard try visit(found, value) else { return }
                expected += 1
                entry = try cursor.next()
            }
        }
    }

    /// Reads the log from `seq` to its end, decoding every record, and calls `report` with each
    /// damaged record or gap, going on after each until `report` returns false. `position` is kept
    /// at the next seq expected, so a caller can resume after a damaged page stops the cursor
    /// (which is thrown). For `LedgerStore.logDamage`.
    func scanLog(from seq: UInt64, position: inout UInt64, report: (StoreDamage) -> Bool) throws {
        position = seq
        let cursor = try txn.cursor(databases.log)
        var entry = try cursor.seek(atLeast: StoreKey.seq(seq))
        while let (key, value) = entry {
            do {
                // A key that is not a seq holds no event: the next one is still expected at `position`.
                guard let found = try? logSeq(key) else {
                    guard report(StoreDamage(path: path, seq: position, "a damaged log record (a key of \(key.count) bytes)"))
                    else { return }
                    entry = try cursor.next()
                    continue
                }
                if found < position {
                    guard report(StoreDamage(path: path, seq: position, "seq \(found) is out of order after seq \(position &- 1)"))
                    else { return }
                    entry = try cursor.next()
                    continue
                }
                if found > position {
                    guard report(StoreDamage(path: path, seq: position, "seqs \(position)...\(found - 1) are missing from the log"))
                    else { return }
                    position = found
                }
                _ = try damage(at: found) { try EventCodec.decode(seq: found, value) }
            } catch let damage as StoreDamage {
                guard report(damage) else { return }
            }
            // Wrapping: a damaged key can be the largest seq there is, and nothing follows it.
            position &+= 1
            entry = try cursor.next()
        }
    }

    /// The first seq at or after `seq` the log's cursor can reach, or nil past the end.
    func firstSeq(atOrAfter seq: UInt64) throws -> UInt64? {
        try damage(at: seq) { try txn.cursor(databases.log).seek(atLeast: StoreKey.seq(seq)).map { try logSeq($0.key) } }
    }

    /// Visits the events of one sku in log order, from `seq` (inclusive): those the stored per-sku
    /// index holds (up to `tail.indexedThrough`), then the tail's, which are not indexed on disk yet.
    public func forEachEvent(sku: String, from seq: UInt64, tail: UnindexedTail,
                             _ visit: (Event) throws -> Bool) throws {
        func load(_ eventSeq: UInt64) throws -> Event {
            guard let event = try event(eventSeq) else {
                throw StoreDamage(path: path, seq: eventSeq, "the sku index names event \(eventSeq), which is not in the log")
            }
            return event
        }
        let prefix = StoreKey.skuPrefix(sku)
        func isThisSku(_ key: UnsafeRawBufferPointer) -> Bool { key.count == prefix.count + 8 && key.starts(with: prefix) }
        // The seq the index was read at, for the damage report.
        var position = seq
        try damage(at: position, in: "sku_index of \(sku)") {
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
                position = try StoreKey.seq(from: key)
                for eventSeq in try SkuIndexChunk.seqs(first: position, value) where eventSeq >= seq {
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
    }

    /// How many seqs the per-sku index holds, chunks unpacked (`stockctl verify`).
    public func indexedSeqCount() throws -> Int {
        var position: UInt64? = nil
        return try damage(at: position, in: "sku_index") {
            let cursor = try txn.cursor(databases.skuIndex)
            var count = 0
            var entry = try cursor.first()
            while let (key, value) = entry {
                position = try StoreKey.seq(from: key)
                count += try SkuIndexChunk.seqs(first: position!, value).count
                entry = try cursor.next()
            }
            return count
        }
    }

    /// The per-sku seqs of the events after the checkpoint, read from the log: what a process that
    /// does not hold the daemon's memory (stockctl) uses for `tail` above.
    public func unindexedTail() throws -> UnindexedTail {
        var tail = UnindexedTail(indexedThrough: try checkpoint())
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
        decodeOrCrash("expiry index") { try dueReservations(atOrBefore: time, limit: limit) }
    }

    func dueReservations(atOrBefore time: Timestamp, limit: Int) throws -> [String] {
        try damage(at: nil, in: "expiry") {
            var due: [String] = []
            let cursor = try txn.cursor(databases.expiry)
            var entry = try cursor.first()
            while let (key, _) = entry, due.count < limit {
                guard try StoreReader.expiryDue(key) <= UInt64(max(0, time.microseconds)) else { break }
                due.append(String(decoding: UnsafeRawBufferPointer(rebasing: key[8...]), as: UTF8.self))
                entry = try cursor.next()
            }
            return due
        }
    }

    /// The due time of an expiry key (its first 8 bytes), as stored.
    private static func expiryDue(_ key: UnsafeRawBufferPointer) throws -> UInt64 {
        try StoreKey.seq(from: UnsafeRawBufferPointer(rebasing: key.prefix(8)))
    }

    /// The earliest time any open reservation is due, if any.
    public var nextExpiry: Timestamp? {
        decodeOrCrash("expiry index") {
            try txn.cursor(databases.expiry).first().map { Timestamp(microseconds: Int64(bitPattern: try StoreReader.expiryDue($0.key))) }
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
            // An expiry that moved (EXTEND, a slipped promise) leaves its old index entry behind.
            let stored = try txn.get(databases.reservations, key: Array(id.utf8)) { try ProjectionCodec.decodeReservation(id: id, $0) }
            if let stored, stored.expiresAt != reservation.expiresAt {
                _ = try txn.delete(databases.expiry, key: StoreKey.expiry(stored.expiresAt, id))
            }
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
