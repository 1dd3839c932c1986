import LedgerCore

/// Answers about the past by folding the events of one sku, found through the per-sku index, with
/// the same `Ledger.apply` as live state. No full replay: only that sku's events are read.
public struct PointInTime {
    let reader: StoreReader
    /// The events after the checkpoint, which the stored per-sku index does not hold yet.
    let tail: UnindexedTail

    public init(reader: StoreReader, tail: UnindexedTail) {
        self.reader = reader
        self.tail = tail
    }

    /// The log position a point stands for: `seq:N` itself, or the last event recorded at or before
    /// the time (the writer records times in seq order, so a binary search over the log is exact).
    public func seq(_ point: LogPoint) throws -> UInt64 {
        switch point {
        case .seq(let seq): return min(seq, tail.lastSeq)
        case .time(let time):
            var low: UInt64 = 0, high = tail.lastSeq
            while low < high {
                let middle = low + (high - low + 1) / 2
                guard let event = try reader.event(middle) else { throw CorruptRecord(reason: "log has no event \(middle)") }
                if event.recordedAt <= time { low = middle } else { high = middle - 1 }
            }
            return low
        }
    }

    /// The state of one sku's pairs right after event `seq`, sorted by warehouse.
    public func pairs(sku: String, upTo seq: UInt64) throws -> [(PairKey, PairState)] {
        try state(sku: sku, upTo: seq).pairs.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Everything about one sku right after event `seq`: its fold, from which later events of the
    /// sku can be folded on.
    public func state(sku: String, upTo seq: UInt64) throws -> LedgerState {
        var state = LedgerState()
        try reader.forEachEvent(sku: sku, from: 1, tail: tail) { event in
            guard event.seq <= seq else { return false }
            Ledger.apply(event, to: &state)
            return true
        }
        return state
    }

    /// Does this event change the buckets of warehouse `wh` (or ship from or to it)?
    public static func touches(_ body: EventBody, wh: String) -> Bool {
        switch body {
        case let .transferArrived(_, _, from, to, _, _), let .transferLost(_, _, from, to, _):
            return from == wh || to == wh
        default:
            return body.warehouses.contains(wh)
        }
    }

    /// Past and open breach intervals, found by folding the events of one sku (or of every sku when
    /// none is given) and watching each pair's breach start and end.
    public func breachIntervals(sku: String?, wh: String?, from: Timestamp?, to: Timestamp?,
                                now: Timestamp) throws -> [BreachInterval] {
        var state = LedgerState()
        var intervals: [BreachInterval] = []
        func visit(_ event: Event) -> Bool {
            let before = event.body.warehouses.map { key in (key, state.pairs[PairKey(sku: event.sku, wh: key)]) }
            Ledger.apply(event, to: &state)
            for (warehouse, old) in before {
                let key = PairKey(sku: event.sku, wh: warehouse)
                guard let new = state.pairs[key], let since = old?.breachSince, new.breachSince != since else { continue }
                intervals.append(BreachInterval(pair: key, start: since, end: event.recordedAt, lowest: old!.breachLowest))
            }
            return true
        }
        if let sku {
            try reader.forEachEvent(sku: sku, from: 1, tail: tail, visit)
        } else {
            try reader.forEachEvent(from: 1) { event in event.seq <= tail.lastSeq && visit(event) }
        }
        for (key, pair) in state.pairs {
            if let since = pair.breachSince { intervals.append(BreachInterval(pair: key, start: since, end: nil, lowest: pair.breachLowest, now: now)) }
        }
        return intervals
            .filter { wh == nil || $0.pair.wh == wh }
            .filter { interval in from.map { (interval.end ?? now) >= $0 } ?? true }
            .filter { interval in to.map { interval.start <= $0 } ?? true }
            .sorted { ($0.start, $0.pair) < ($1.start, $1.pair) }
    }
}


extension StoreReader {
    /// What STOCK answers from the log: the pairs of `sku` (only `wh` when given) as they stood at
    /// `point` (at the end of the log when nil), and the log position that answer reflects. The
    /// daemon (for `at=`) and `stockctl stock` share it; the daemon answers the present from memory.
    public func stock(sku: String, wh: String?, at point: LogPoint?,
                      tail: UnindexedTail) throws -> (pairs: [(PairKey, PairState)], seq: UInt64) {
        let past = PointInTime(reader: self, tail: tail)
        let seq = try point.map { try past.seq($0) } ?? tail.lastSeq
        // The sku's any-warehouse waitlist is not a warehouse.
        var pairs = try past.pairs(sku: sku, upTo: seq).filter { !$0.0.isAnyWarehouse }
        if let wh { pairs = pairs.filter { $0.0.wh == wh } }
        return (pairs, seq)
    }
}
