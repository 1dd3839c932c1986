import Foundation
import LedgerCore
import LedgerStore
import Testing

/// The per-sku index's chunks: one entry per sku per checkpoint, read back from any seq.
@Suite struct SkuIndexChunkTests {
    @Test(arguments: [[UInt64(7)], [7, 8], [1, 5, 300, 301, 70_000, 70_001, 9_000_000_000]])
    func chunksRoundTrip(seqs: [UInt64]) throws {
        let bytes = SkuIndexChunk.encode(seqs)
        #expect(bytes.isEmpty == (seqs.count == 1), "a single seq keeps the old empty-value form")
        #expect(try bytes.withUnsafeBytes { try SkuIndexChunk.seqs(first: seqs[0], $0) } == seqs)
    }

    @Test func damagedChunksAreReportedNotTrusted() throws {
        for bad: [UInt8] in [[0], [5, 0, 1], [2, 0, 1, 9], [2, 1, 1], [1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]] {
            #expect(throws: CorruptRecord.self, "\(bad)") { try bad.withUnsafeBytes { try SkuIndexChunk.seqs(first: 10, $0) } }
        }
    }

    /// Old single entries, then chunks from two checkpoints, for two skus side by side: every `from`
    /// finds exactly the seqs at or after it, including inside a chunk that begins before it.
    @Test func eventsOfOneSkuFromAnySeq() throws {
        try withTemporaryDirectory { directory in
            let store = try LedgerStore(directory: directory + "/data", mapSizeBytes: 16 << 20)
            defer { store.close() }
            var events: [Event] = []
            let at = Timestamp(microseconds: 1_800_000_000_000_000)
            for seq in UInt64(1)...40 {
                let sku = seq % 3 == 0 ? "B" : "A"
                events.append(Event(seq: seq, recordedAt: at, actor: 0,
                                    body: .received(sku: sku, wh: "W", quantity: 1, purchaseOrder: nil)))
            }
            try store.write { writer in
                for event in events.prefix(10) { try writer.append(event) }        // the old layout: one entry each
                for event in events.dropFirst(10) { try writer.appendToLog(event) }
                for range in [10..<25, 25..<33] {                                   // two checkpoints' chunks
                    for sku in ["A", "B"] {
                        try writer.index(sku: sku, seqs: events[range].filter { $0.sku == sku }.map(\.seq))
                    }
                }
            }
            try store.read { reader throws in
                #expect(try reader.indexedSeqCount() == 33)
                var tail = UnindexedTail(indexedThrough: 33)
                for event in events.dropFirst(33) { tail.append(event.seq, sku: event.sku) }
                for sku in ["A", "B"] {
                    for from in UInt64(1)...41 {
                        var seen: [UInt64] = []
                        try reader.forEachEvent(sku: sku, from: from, tail: tail) { seen.append($0.seq); return true }
                        #expect(seen == events.filter { $0.sku == sku && $0.seq >= from }.map(\.seq), "\(sku) from \(from)")
                    }
                }
                // An index that got ahead of the tail's view (a checkpoint committed after the tail
                // was copied) is not read twice.
                var stale = UnindexedTail(indexedThrough: 24)
                for event in events.dropFirst(24) { stale.append(event.seq, sku: event.sku) }
                var seen: [UInt64] = []
                try reader.forEachEvent(sku: "A", from: 1, tail: stale) { seen.append($0.seq); return true }
                #expect(seen == events.filter { $0.sku == "A" }.map(\.seq))
            }
        }
    }
}
