import Benchmark
import LedgerCore
import LedgerProtocol
import LedgerStore

// Micro-benchmarks of the code every request runs through. Thresholds (Thresholds/) hold the
// allocation counts measured on the reference machine (allocations are exact on every machine; wall
// clock is shown but not checked, since these VMs are noisy and have no instruction counters):
// `swift package benchmark thresholds check` fails when a change allocates more than the tolerance.
// Names have no spaces: the tool writes threshold files with spaces replaced but reads them without.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        maxDuration: .seconds(2),
        thresholds: [.mallocCountTotal: .init(relative: [.p50: 5], absolute: [:])]
    )

    let sellLine = Array("SELL sku=TSHIRT-M wh=PAR qty=3 id=order-1001:sell ref=ORDER-1001".utf8)
    Benchmark("parse_SELL_line") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? RequestParser.parse(sellLine))
        }
    }

    let stockLine = Array("STOCK sku=TSHIRT-M".utf8)
    Benchmark("parse_STOCK_line") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? RequestParser.parse(stockLine))
        }
    }

    // A state with 1,000 skus x 4 warehouses, then one sell folded per iteration.
    var seeded = LedgerState()
    var seq: UInt64 = 0
    for sku in 0..<1_000 {
        for wh in 0..<4 {
            seq += 1
            Ledger.apply(Event(seq: seq, recordedAt: Timestamp(seconds: 1_800_000_000), actor: 1000,
                               body: .received(sku: "SKU-\(sku)", wh: "WH\(wh)", quantity: 1_000_000_000, purchaseOrder: nil)),
                         to: &seeded)
        }
    }
    let startSeq = seq
    let firstKey = PairKey(sku: "SKU-0", wh: "WH0")
    // 1,000 events per measured iteration, after the state copy is made: the figure is per 1,000 folds.
    Benchmark("fold_1000_sold_events", configuration: .init(scalingFactor: .kilo)) { benchmark in
        var state = seeded
        state.pairs[firstKey]?.onHand += 0  // make the copy before measuring
        var next = startSeq
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            next += 1
            Ledger.apply(Event(seq: next, recordedAt: Timestamp(seconds: 1_800_000_001), actor: 1000,
                               body: .sold(sku: "SKU-\(index % 1_000)", wh: "WH\(index % 4)", quantity: 1, reservation: nil)),
                         to: &state)
        }
        blackHole(state.lastSeq)
    }

    Benchmark("decide_and_fold_1000_SELLs", configuration: .init(scalingFactor: .kilo)) { benchmark in
        var state = seeded
        state.pairs[firstKey]?.onHand += 0
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            let request = WriteRequest(command: .sell(sku: "SKU-\(index % 1_000)", wh: "WH\(index % 4)", quantity: 1))
            let context = DecisionContext(now: Timestamp(seconds: 1_800_000_001), seq: state.lastSeq + 1, actor: 1000)
            if case .success(let event) = Ledger.decide(request, in: state, context: context) {
                Ledger.apply(event, to: &state)
            }
        }
        blackHole(state.lastSeq)
    }

    let event = Event(seq: 42, recordedAt: Timestamp(seconds: 1_800_000_000), actor: 1000,
                      body: .reserved(reservation: "r42", sku: "TSHIRT-M", wh: "PAR", quantity: 3,
                                      expiresAt: Timestamp(seconds: 1_800_000_900)),
                      ref: "ORDER-1001", note: nil, idempotencyKey: "order-1001:reserve")
    Benchmark("encode_event") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(EventCodec.encode(event)) }
    }

    let encoded = EventCodec.encode(event)
    Benchmark("decode_event") { benchmark in
        for _ in benchmark.scaledIterations {
            encoded.withUnsafeBytes { blackHole(try? EventCodec.decode(seq: 42, $0)) }
        }
    }

    let pair = PairState()
    Benchmark("stock_row") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(Rows.stock(PairKey(sku: "TSHIRT-M", wh: "PAR"), pair)) }
    }
}
