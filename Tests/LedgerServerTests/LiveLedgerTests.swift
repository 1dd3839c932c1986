import Foundation
import LedgerCore
import LedgerStore
import Logging
import Testing
@testable import LedgerServer

/// The live ledger in memory against the log: after any stream of writes, with checkpoints taken
/// at arbitrary points, what reads see == checkpoint + tail folded at a start == a full replay.
@Suite struct LiveLedgerTests {
    /// A small world so that streams collide: few skus, warehouses, ids; keys reused on purpose.
    struct Stream {
        var random: SplitMix64
        let skus = ["A", "B", "C"], warehouses = ["PAR", "LYS"]
        var reservations: [String] = [], transfers: [String] = [], orders: [String] = []
        var counter = 0

        mutating func pick<T>(_ values: [T]) -> T { values[Int(random.next() % UInt64(values.count))] }
        mutating func quantity() -> Int64 { Int64(random.next() % 6) + 1 }

        mutating func next() -> WriteRequest {
            counter += 1
            let sku = pick(skus), wh = pick(warehouses)
            let command: Command
            switch random.next() % 14 {
            case 0, 1: command = .receive(sku: sku, wh: wh, quantity: quantity() * 3, purchaseOrder: orders.isEmpty ? nil : pick(orders))
            case 2, 3: command = .sell(sku: sku, wh: wh, quantity: quantity())
            case 4:
                let id = "r\(counter)"
                reservations.append(id)
                command = .reserve(sku: sku, wh: wh, quantity: quantity(), reservation: id, ttlSeconds: 3_600)
            case 5: command = .release(reservation: reservations.isEmpty ? "none" : pick(reservations), quantity: random.next() % 2 == 0 ? nil : 1)
            case 6: command = .sellReserved(reservation: reservations.isEmpty ? "none" : pick(reservations), quantity: nil)
            case 7:
                let id = "x\(counter)"
                transfers.append(id)
                command = .transfer(sku: sku, from: wh, to: wh == "PAR" ? "LYS" : "PAR", quantity: quantity(), transfer: id, eta: nil)
            case 8: command = .arrive(transfer: transfers.isEmpty ? "none" : pick(transfers), quantity: nil, lost: random.next() % 3 == 0 ? 1 : nil)
            case 9: command = .adjust(sku: sku, wh: wh, delta: Int64(random.next() % 5) - 2, reason: "damaged")
            case 10: command = .count(sku: sku, wh: wh, quantity: quantity() * 2, reason: nil)
            case 11:
                let id = "p\(counter)"
                orders.append(id)
                command = .expect(sku: sku, wh: wh, quantity: quantity() * 2, eta: Timestamp(microseconds: 1_900_000_000_000_000), purchaseOrder: id)
            case 12: command = .cancel(purchaseOrder: orders.isEmpty ? "none" : pick(orders))
            default: command = .policy(sku: sku, wh: wh, safety: quantity(), reorder: quantity() * 2, max: nil)
            }
            // One write in five carries a key from a small set: retries, duplicates and conflicts.
            let key = random.next() % 5 == 0 ? "k\(random.next() % 20)" : nil
            return WriteRequest(command: command, ref: random.next() % 4 == 0 ? "REF-\(counter % 7)" : nil, idempotencyKey: key)
        }
    }

    func fullReplay(_ store: LedgerStore) throws -> LedgerState {
        var state = LedgerState()
        try store.read { reader in
            try reader.forEachEvent(from: 1) { Ledger.apply($0, to: &state); return true }
        }
        return state
    }

    @Test("live == checkpoint + tail == full replay, with checkpoints at arbitrary points", arguments: [1, 2, 3, 4, 5])
    func liveEqualsCheckpointPlusTailEqualsReplay(seed: UInt64) throws {
        var policy = LedgerWriter.CheckpointPolicy()
        // A checkpoint every few events (and on every idle wake): they land between arbitrary groups.
        policy.eventsMax = Int(seed) * 3 + 1
        policy.intervalMicroseconds = seed % 2 == 0 ? 1_000 : 3_600_000_000
        let ledger = try TestLedger(policy: policy)
        defer { ledger.close() }
        let store = ledger.store, writer = ledger.writer
        var stream = Stream(random: SplitMix64(seed: seed))
        var index = 0
        while index < 300 {
            // Singles, several works in one submission, and batches (all or nothing).
            let size = Int(stream.random.next() % 4) + 1
            var works: [LedgerWriter.Work] = []
            for _ in 0..<size {
                if stream.random.next() % 6 == 0 { works.append(.batch((0..<3).map { _ in stream.next() })) }
                else { works.append(.single(stream.next())) }
            }
            index += size
            _ = ledger.submit(works)
        }
        let replayed = try fullReplay(store)
        #expect(replayed.lastSeq > 50, "the stream should have written events")

        // What reads see.
        let (pairs, reservations, transfers, seq) = writer.view.withContents { contents in
            var pairs: [PairKey: PairState] = [:]
            for (sku, entry) in contents.skus {
                for (wh, pair) in zip(entry.warehouses, entry.pairs) { pairs[PairKey(sku: sku, wh: wh)] = pair }
            }
            return (pairs, contents.reservations, contents.transfers, contents.lastSeq)
        }
        #expect(seq == replayed.lastSeq)
        #expect(pairs == replayed.pairs)
        #expect(reservations == replayed.reservations.filter { $0.value.status == .open })
        #expect(transfers == replayed.transfers.filter { $0.value.isOpen })

        // What a start would fold: the checkpoint on disk plus the log after it.
        writer.shutdown()
        let restarted = try LiveLedger(store: store)
        #expect(restarted.lastSeq == replayed.lastSeq)
        #expect(restarted.state.pairs == replayed.pairs)
        for (id, reservation) in replayed.reservations { #expect(restarted.reservation(id) == reservation, "\(id)") }
        for (id, transfer) in replayed.transfers { #expect(restarted.transfer(id) == transfer, "\(id)") }
        for (id, order) in replayed.purchaseOrders { #expect(restarted.purchaseOrder(id) == order, "\(id)") }
        // Closed entities that were checkpointed are not held in memory.
        #expect(restarted.state.reservations.values.allSatisfy { $0.status == .open || restarted.dirtyReservations.contains($0.id) })
    }

    @Test("a checkpoint moves the stored projections, index and keys to the live state's seq, then memory lets go")
    func checkpointWritesWhatChanged() throws {
        var policy = LedgerWriter.CheckpointPolicy()
        policy.intervalMicroseconds = 3_600_000_000
        policy.eventsMax = 1_000_000
        let ledger = try TestLedger(policy: policy)
        defer { ledger.close() }
        let store = ledger.store, writer = ledger.writer
        let requests: [WriteRequest] = [
            WriteRequest(command: .receive(sku: "A", wh: "PAR", quantity: 10, purchaseOrder: nil)),
            WriteRequest(command: .reserve(sku: "A", wh: "PAR", quantity: 2, reservation: "r", ttlSeconds: 600)),
            WriteRequest(command: .sellReserved(reservation: "r", quantity: nil), idempotencyKey: "k"),
        ]
        for request in requests { _ = ledger.submit([.single(request)]) }
        try store.read { reader in
            #expect(reader.checkpointSeq == 0)
            #expect(reader.lastLogSeq == 3)
            #expect(reader.pair(PairKey(sku: "A", wh: "PAR")) == nil, "a group commit writes only the log")
            #expect(reader.idempotencyRecord("k") == nil)
        }
        // The stop checkpoints everything.
        writer.shutdown()
        try store.read { reader throws in
            #expect(reader.checkpointSeq == 3)
            #expect(reader.pair(PairKey(sku: "A", wh: "PAR"))?.onHand == 8)
            #expect(reader.reservation("r")?.status == .sold)
            #expect(reader.idempotencyRecord("k")?.reply.hasPrefix("OK seq=3 res=r") == true)
            #expect(try reader.indexedSeqCount() == 3)
            #expect(try reader.entryCounts().first { $0.0 == "sku_index" }?.1 == 1, "one chunk per sku per checkpoint")
            #expect(reader.nextExpiry == nil, "the sold reservation left the expiry index")
        }
        let restarted = try LiveLedger(store: store)
        #expect(restarted.state.reservations.isEmpty, "closed and checkpointed: found on disk, not held in memory")
        #expect(restarted.reservation("r")?.status == .sold)
        #expect(restarted.idempotencyRecord("k") != nil)
    }
}

extension LiveLedgerTests {
    @Test("reads of the log stop at the last published seq: a committed group waiting for its sync is not shown")
    func logReadsStopAtPublished() throws {
        let ledger = try TestLedger()
        defer { ledger.close() }
        let store = ledger.store
        _ = ledger.submit([.single(WriteRequest(command: .receive(sku: "A", wh: "W", quantity: 5, purchaseOrder: nil)))])
        // An event in the log that the writer has not published (as between a commit and its sync).
        try store.write { writer in
            try writer.appendToLog(Event(seq: 2, recordedAt: Timestamp(microseconds: Int64.max / 2), actor: 0,
                                         body: .sold(sku: "A", wh: "W", quantity: 5, reservation: nil)))
        }
        let reads = ledger.reads()
        let events = reads.answer(.events(from: 1, limit: 10))
        #expect(events.count == 2 && events.last == "OK rows=1 seq=1", "\(events)")
        let past = reads.answer(.stock(sku: "A", wh: nil, at: .seq(2)))
        #expect(past.first?.contains("on_hand=5") == true && past.last == "OK rows=2 seq=1", "\(past)")
        let later = reads.answer(.stock(sku: "A", wh: nil, at: .time(Timestamp(microseconds: Int64.max / 2))))
        #expect(later.last == "OK rows=2 seq=1", "\(later)")
        #expect(try reads.events(after: 0, limit: 10).map(\.seq) == [1])
        #expect(reads.answer(.history(sku: "A", wh: nil, from: 1, limit: 10)).count == 2)
    }
}

extension LiveLedgerTests {
    @Test("the expiry schedule stays within twice the open reservations when most close before they are due")
    func expiryScheduleIsCompacted() throws {
        var policy = LedgerWriter.CheckpointPolicy()
        policy.eventsMax = 500
        let ledger = try TestLedger(policy: policy)
        defer { ledger.close() }
        let writer = ledger.writer
        _ = ledger.submit([.single(WriteRequest(command: .receive(sku: "A", wh: "W", quantity: 1_000_000, purchaseOrder: nil)))])
        for index in 0..<3_000 {
            let id = "r\(index)"
            _ = ledger.submit([
                .single(WriteRequest(command: .reserve(sku: "A", wh: "W", quantity: 1, reservation: id, ttlSeconds: 3_600))),
                .single(WriteRequest(command: index % 10 == 0 ? .sellReserved(reservation: id, quantity: nil)
                                                              : .release(reservation: id, quantity: nil))),
            ])
        }
        writer.shutdown()
        #expect(writer.live.scheduledExpiries <= LiveLedger.expiryScheduleSlack + 2 * writer.live.state.reservations.count,
                "\(writer.live.scheduledExpiries) entries for \(writer.live.state.reservations.count) reservations in memory")
        #expect(writer.live.state.reservations.isEmpty, "all closed and checkpointed")
    }
}

