/// The part of the per-sku index that is not on disk yet: the seqs of the events after the last
/// checkpoint, per sku. The daemon keeps it in memory and a checkpoint writes it out; stockctl
/// rebuilds it from the log (`StoreReader.unindexedTail()`).
///
/// It also bounds what a reader may see of the log: `lastSeq`, the last event it covers. The daemon's
/// is the last seq published to readers, so a read of the log never shows a committed event whose
/// sync has not yet made it durable (and acknowledged).
///
/// Guarantees: every event with a seq in `indexedThrough + 1 ... lastSeq` appears under its sku, in
/// seq order, and the stored index holds every event at or before `indexedThrough`.
public struct UnindexedTail: Sendable {
    public var indexedThrough: UInt64
    public private(set) var lastSeq: UInt64
    public private(set) var seqsBySku: [String: [UInt64]] = [:]
    public private(set) var count = 0

    public init(indexedThrough: UInt64) {
        self.indexedThrough = indexedThrough
        lastSeq = indexedThrough
    }

    public mutating func append(_ seq: UInt64, sku: String) {
        precondition(seq > lastSeq, "seq \(seq) is not after \(lastSeq)")
        seqsBySku[sku, default: []].append(seq)
        count += 1
        lastSeq = seq
    }

    public func seqs(of sku: String) -> [UInt64] { seqsBySku[sku] ?? [] }

    /// Only one sku's part, for a reader that needs no more (cheap to copy out of a lock).
    public func only(_ sku: String) -> UnindexedTail {
        var tail = UnindexedTail(indexedThrough: indexedThrough)
        if let seqs = seqsBySku[sku] { tail.seqsBySku[sku] = seqs; tail.count = seqs.count }
        tail.lastSeq = lastSeq
        return tail
    }
}
