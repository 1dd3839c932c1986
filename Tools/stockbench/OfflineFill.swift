import LedgerCore
import LedgerStore
#if canImport(Glibc)
import Glibc
#endif

/// Builds a large log quickly for the replay, start-up and memory figures: receipts and sells over
/// skus x warehouses, decided and folded by LedgerCore exactly as the daemon does, written straight
/// into a new store in large transactions (no socket, no per-request sync).
struct OfflineFill {
    let directory: String
    let skus: Int
    let warehouses: Int
    let seed: UInt64
    /// Events per write transaction: large enough that syncs do not dominate, small enough to keep
    /// the transaction's dirty pages bounded.
    static let eventsPerTransaction = 50_000

    func run(events: Int) throws {
        if access(directory + "/data.mdb", F_OK) == 0 { throw StoreError.notAStore("\(directory) already holds a store; ") }
        let store = try LedgerStore(directory: directory, bulkLoad: true)
        defer { store.close() }
        var random = SplitMix64(state: seed)
        var state = LedgerState()
        state.lastSeq = try store.read { $0.checkpointSeq }
        // Events carry times one millisecond apart, ending now, so `at=` queries have a spread to aim at.
        var now = Timestamp(microseconds: Int64(Date.nowSeconds() * 1e6) - Int64(events) * 1_000)
        let start = monotonicNow()
        var written = 0
        var lastReport = start
        while written < events {
            let count = min(OfflineFill.eventsPerTransaction, events - written)
            var chunk: [Event] = []
            chunk.reserveCapacity(count)
            var touched = Set<PairKey>()
            while chunk.count < count {
                let sku = "SKU-\(random.below(skus))", wh = "WH\(random.below(warehouses))"
                let command: Command = random.below(3) == 0
                    ? .sell(sku: sku, wh: wh, quantity: 1) : .receive(sku: sku, wh: wh, quantity: 2, purchaseOrder: nil)
                now = Timestamp(microseconds: now.microseconds + 1_000)
                let context = DecisionContext(now: now, seq: state.lastSeq + 1, actor: 0)
                guard case .success(let event) = Ledger.decide(WriteRequest(command: command), in: state, context: context)
                else { continue }
                Ledger.apply(event, to: &state)
                touched.insert(PairKey(sku: sku, wh: wh))
                chunk.append(event)
            }
            var changed = LedgerState()
            changed.lastSeq = state.lastSeq
            for key in touched { changed.pairs[key] = state.pairs[key] }
            try store.write { writer in
                for event in chunk { try writer.append(event) }
                try writer.persist(changed)
            }
            written += count
            let clock = monotonicNow()
            if clock - lastReport >= 1 {
                lastReport = clock
                let progress = Array("  \(written)/\(events) events, \(Int(Double(written) / (clock - start))) events/s\n".utf8)
                _ = progress.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
            }
        }
        try store.syncToDisk()
        let elapsed = monotonicNow() - start
        print("wrote \(events) events over \(state.pairs.count) pairs into \(directory) in \(String(format: elapsed)) s "
              + "(\(Int(Double(events) / elapsed)) events/s), last seq \(state.lastSeq)")
    }
}

enum Date {
    static func nowSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
