import LedgerCore
import Testing
@testable import LedgerServer

/// The folds a `WATCH events stock=yes` catch-up keeps: each sku folded once while they fit; when full,
/// the half used longest ago goes, and a sku that keeps coming up stays.
@Suite struct StockFoldsTests {
    static let time = Timestamp(seconds: 1_800_000_000)

    static func receipt(_ seq: UInt64, _ sku: String) -> Event {
        Event(seq: seq, recordedAt: time, actor: 0, body: .received(sku: sku, wh: "W", quantity: 1, purchaseOrder: nil))
    }

    @Test func aSkuInUseOutlivesTheOldHalf() {
        var folds = StockFolds()
        var seeded: [String] = []
        func fold(_ seq: UInt64, _ sku: String) -> Int64? {
            folds.fold(StockFoldsTests.receipt(seq, sku)) { sku in
                seeded.append(sku)
                return LedgerState()
            }.pair(PairKey(sku: sku, wh: "W"))?.onHand
        }
        var seq: UInt64 = 0, receiptsOfS0: Int64 = 0
        for index in 0..<Limits.watcherStockSkusMax {
            seq += 1
            _ = fold(seq, "S\(index)")
            if index == 0 { receiptsOfS0 += 1 }
            // S0 sells all along: it is always among the most recently used.
            if index % 100 == 0 { seq += 1; _ = fold(seq, "S0"); receiptsOfS0 += 1 }
        }
        #expect(seeded.count == Limits.watcherStockSkusMax)
        seq += 1
        #expect(fold(seq, "NEW") == 1)
        // Full: the half used longest ago went, S0 did not (its fold went on counting), S1 did.
        seq += 1
        #expect(fold(seq, "S0") == receiptsOfS0 + 1)
        #expect(seeded.count == Limits.watcherStockSkusMax + 1)
        seq += 1
        #expect(fold(seq, "S1") == 1 && seeded.last == "S1")
        seq += 1
        #expect(fold(seq, "S\(Limits.watcherStockSkusMax - 1)") == 2, "the newest half stays")
    }
}
