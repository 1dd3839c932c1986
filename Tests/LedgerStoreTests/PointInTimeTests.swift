import LedgerCore
import LedgerStore
import Testing

/// `PointInTime`: answers about the past, folded from one sku's events through the per-sku index.
@Suite struct PointInTimeTests {
    /// Event N is recorded at `Recorder.time(ofSeq: N)`, one second after event N-1.
    func history() throws -> Recorder {
        var recorder = Recorder()
        try recorder.accept(.receive(sku: "A", wh: "PAR", quantity: 10, purchaseOrder: nil))    // 1
        try recorder.accept(.policy(sku: "A", wh: "PAR", safety: 8, reorder: nil, max: nil))    // 2: 10 >= 8
        try recorder.accept(.sell(sku: "A", wh: "PAR", quantity: 4))                           // 3: 6, breach
        try recorder.accept(.sell(sku: "A", wh: "PAR", quantity: 2))                           // 4: 4, lowest
        try recorder.accept(.receive(sku: "B", wh: "PAR", quantity: 1, purchaseOrder: nil))     // 5: other sku
        try recorder.accept(.receive(sku: "A", wh: "PAR", quantity: 10, purchaseOrder: nil))    // 6: 14, recovered
        try recorder.accept(.policy(sku: "A", wh: "LYS", safety: 1, reorder: nil, max: nil))    // 7: LYS breach
        try recorder.accept(.sell(sku: "A", wh: "PAR", quantity: 7))                           // 8: 7, breach
        return recorder
    }

    /// The first `checkpointed` events are indexed and checkpointed; the rest are in the log only
    /// (the daemon's tail), so every answer must combine the stored index with the tail.
    static let checkpoints = [8, 5, 0]

    func withStore<R>(_ recorder: Recorder, checkpointed: Int, _ body: (StoreReader) throws -> R) throws -> R {
        try withTemporaryDirectory { path in
            let store = try LedgerStore(directory: path, mapSizeBytes: 16 << 20)
            defer { store.close() }
            try store.write { writer in
                var checkpoint = LedgerState()
                for event in recorder.events.prefix(checkpointed) {
                    try writer.append(event)
                    Ledger.apply(event, to: &checkpoint)
                }
                try writer.persist(checkpoint)
                for event in recorder.events.dropFirst(checkpointed) { try writer.appendToLog(event) }
            }
            return try store.read(body)
        }
    }

    @Test(arguments: PointInTimeTests.checkpoints) func aTimeStandsForTheLastEventRecordedAtOrBeforeIt(checkpointed: Int) throws {
        let recorder = try history()
        try withStore(recorder, checkpointed: checkpointed) { reader throws in
            let past = PointInTime(reader: reader, tail: try reader.unindexedTail())
            #expect(try past.seq(.time(Recorder.start)) == 0)
            #expect(try past.seq(.time(Recorder.time(ofSeq: 1))) == 1)
            #expect(try past.seq(.time(Recorder.time(ofSeq: 4))) == 4)
            #expect(try past.seq(.time(Recorder.time(ofSeq: 4).advanced(microseconds: 999_999))) == 4)
            #expect(try past.seq(.time(Recorder.time(ofSeq: 8))) == 8)
            #expect(try past.seq(.time(Recorder.time(ofSeq: 1_000))) == 8)
            #expect(try past.seq(.seq(3)) == 3)
            #expect(try past.seq(.seq(99)) == 8)
        }
    }

    @Test(arguments: PointInTimeTests.checkpoints) func pairsAsTheyWereRightAfterAnEvent(checkpointed: Int) throws {
        let recorder = try history()
        try withStore(recorder, checkpointed: checkpointed) { reader throws in
            let past = PointInTime(reader: reader, tail: try reader.unindexedTail())
            for seq in UInt64(0)...8 {
                var expected = LedgerState()
                for event in recorder.events where event.seq <= seq && event.sku == "A" { Ledger.apply(event, to: &expected) }
                let pairs = try past.pairs(sku: "A", upTo: seq)
                #expect(pairs.map(\.0) == expected.pairs.keys.sorted(), "after \(seq)")
                #expect(pairs.map(\.1) == expected.pairs.keys.sorted().map { expected.pairs[$0]! }, "after \(seq)")
            }
            let after4 = try past.pairs(sku: "A", upTo: 4)
            #expect(after4.count == 1)
            #expect(after4.first?.1.onHand == 4)
            #expect(after4.first?.1.breachSince == Recorder.time(ofSeq: 3))
            let now = try past.pairs(sku: "A", upTo: 8)
            #expect(now.map(\.0) == [PairKey(sku: "A", wh: "LYS"), PairKey(sku: "A", wh: "PAR")])
            #expect(now.map(\.1) == [recorder.state.pairs[PairKey(sku: "A", wh: "LYS")]!,
                                     recorder.state.pairs[PairKey(sku: "A", wh: "PAR")]!])
            #expect(try past.pairs(sku: "B", upTo: 4).isEmpty)
        }
    }

    @Test(arguments: PointInTimeTests.checkpoints) func breachIntervalsPastAndOpen(checkpointed: Int) throws {
        let recorder = try history()
        let now = Recorder.time(ofSeq: 8).adding(seconds: 100)
        let par = PairKey(sku: "A", wh: "PAR"), lys = PairKey(sku: "A", wh: "LYS")
        try withStore(recorder, checkpointed: checkpointed) { reader throws in
            let past = PointInTime(reader: reader, tail: try reader.unindexedTail())
            let all = try past.breachIntervals(sku: "A", wh: nil, from: nil, to: nil, now: now)
            #expect(all.map(\.pair) == [par, lys, par])
            #expect(all.map(\.start) == [Recorder.time(ofSeq: 3), Recorder.time(ofSeq: 7), Recorder.time(ofSeq: 8)])
            #expect(all.map(\.end) == [Recorder.time(ofSeq: 6), nil, nil])
            #expect(all.map(\.lowest) == [4, 0, 7])
            #expect(all.map(\.seconds) == [3, 101, 100])

            #expect(try past.breachIntervals(sku: nil, wh: nil, from: nil, to: nil, now: now) == all)
            #expect(try past.breachIntervals(sku: "B", wh: nil, from: nil, to: nil, now: now).isEmpty)
            #expect(try past.breachIntervals(sku: "A", wh: "LYS", from: nil, to: nil, now: now).map(\.pair) == [lys])
            let fromSeven = try past.breachIntervals(sku: "A", wh: nil, from: Recorder.time(ofSeq: 7), to: nil, now: now)
            #expect(fromSeven.map(\.start) == [Recorder.time(ofSeq: 7), Recorder.time(ofSeq: 8)])
            let toFive = try past.breachIntervals(sku: "A", wh: nil, from: nil, to: Recorder.time(ofSeq: 5), now: now)
            #expect(toFive.map(\.start) == [Recorder.time(ofSeq: 3)])
        }
    }

    @Test func touchesTheWarehousesAnEventChangesOrShipsBetween() {
        let shipped = EventBody.transferShipped(transfer: "x", sku: "A", from: "PAR", to: "LYS", quantity: 1, eta: nil)
        let arrived = EventBody.transferArrived(transfer: "x", sku: "A", from: "PAR", to: "LYS", quantity: 1, lost: 0)
        let lost = EventBody.transferLost(transfer: "x", sku: "A", from: "PAR", to: "LYS", lost: 1)
        for body in [shipped, arrived, lost] {
            #expect(PointInTime.touches(body, wh: "PAR"))
            #expect(PointInTime.touches(body, wh: "LYS"))
            #expect(!PointInTime.touches(body, wh: "BER"))
        }
        #expect(PointInTime.touches(.returned(sku: "A", wh: "PAR", quantity: 1), wh: "PAR"))
        #expect(!PointInTime.touches(.returned(sku: "A", wh: "PAR", quantity: 1), wh: "LYS"))
    }
}

extension Timestamp {
    func advanced(microseconds: Int64) -> Timestamp { Timestamp(microseconds: self.microseconds + microseconds) }
}
