/// Complete event groups, in log order, ready to be written in one PostgreSQL transaction.
///
/// Columns rather than rows: each array is bound as one PostgreSQL array parameter and unnested by the
/// server, so a batch of thousands of events is one statement and one round trip.
struct Batch: Equatable, Sendable {
    var seqs: [Int64] = []
    var recordedAts: [String] = []
    var kinds: [String] = []
    /// "" for an event without a sku; the statement turns it into SQL null (no identifier is empty).
    var skus: [String] = []
    var whs: [String] = []
    var fieldsJSON: [String] = []

    /// The latest buckets per (sku, wh) in this batch: one row per pair, because one statement may not
    /// upsert the same row twice, and only the latest matters.
    var stock: [PairKey: WatchLine.StockRow] = [:]

    struct PairKey: Hashable, Sendable {
        var sku: String
        var wh: String
    }

    var eventCount: Int { seqs.count }
    var isEmpty: Bool { seqs.isEmpty }
    var firstSeq: Int64? { seqs.first }
    var lastSeq: Int64? { seqs.last }
    var lastRecordedAt: String? { recordedAts.last }

    mutating func append(_ event: WatchLine.EventRow, stock rows: [WatchLine.StockRow]) {
        seqs.append(event.seq)
        recordedAts.append(event.at)
        kinds.append(event.kind)
        skus.append(event.sku ?? "")
        whs.append(event.wh ?? "")
        fieldsJSON.append(event.fieldsJSON)
        for row in rows {
            stock[PairKey(sku: row.sku, wh: row.wh)] = row
        }
    }
}

/// Turns the pushed rows of `WATCH events stock=yes` into batches of complete groups, checking that
/// the log arrives whole.
///
/// A group is the `stock` rows of one event followed by its `event` row, which closes it. Every group
/// must carry exactly the next seq: a gap, a repeat or a stock row of another seq is an error, and the
/// caller starts again from what PostgreSQL holds. Stock rows whose event row has not arrived yet stay
/// pending and are never put in a batch, so a connection cut in the middle of a group loses nothing
/// that was committed and commits nothing half-read.
struct BatchAssembler {
    /// The seq the next group must carry.
    private(set) var nextSeq: Int64
    /// The seq of the group already in PostgreSQL that stockd is asked to send again, to check that
    /// this is still the same log (`overlap` below); nil when starting from an empty site.
    let overlapSeq: Int64?
    /// That group's event once it arrived; it goes into no batch.
    private(set) var overlap: WatchLine.EventRow?
    private var pendingStock: [WatchLine.StockRow] = []
    private(set) var batch = Batch()

    struct SequenceError: Error, Equatable, CustomStringConvertible {
        var description: String
    }

    /// - Parameters:
    ///   - lastRelayedSeq: the site's `last_seq` in PostgreSQL. The stream must start at
    ///     `lastRelayedSeq` (the overlap) when it is above 0, at 1 otherwise.
    init(lastRelayedSeq: Int64) {
        precondition(lastRelayedSeq >= 0, "a log position is never negative")
        self.overlapSeq = lastRelayedSeq > 0 ? lastRelayedSeq : nil
        self.nextSeq = lastRelayedSeq > 0 ? lastRelayedSeq : 1
    }

    /// The seq to ask stockd to start from (`WATCH events from=`).
    var watchFromSeq: Int64 { overlapSeq ?? 1 }

    /// Whether stock rows of an event not yet closed are waiting.
    var hasPendingStock: Bool { !pendingStock.isEmpty }

    mutating func accept(_ row: WatchLine.StockRow) throws(SequenceError) {
        guard row.seq == nextSeq else {
            throw SequenceError(description: "stock row for seq \(row.seq) where seq \(nextSeq) was due")
        }
        pendingStock.append(row)
    }

    mutating func accept(_ event: WatchLine.EventRow) throws(SequenceError) {
        guard event.seq == nextSeq else {
            let what = event.seq < nextSeq ? "a repeat" : "a gap"
            throw SequenceError(description: "event seq \(event.seq) where seq \(nextSeq) was due (\(what))")
        }
        if event.seq == overlapSeq {
            overlap = event
        } else {
            batch.append(event, stock: pendingStock)
        }
        pendingStock.removeAll(keepingCapacity: true)
        nextSeq += 1
    }

    /// The complete groups read so far, leaving pending stock rows in place.
    mutating func takeBatch() -> Batch? {
        guard !batch.isEmpty else { return nil }
        defer { batch = Batch() }
        return batch
    }
}
