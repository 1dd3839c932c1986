import Foundation
import LedgerCore
import LedgerStore
import Testing

/// `LedgerStore` on a real LMDB environment in a temporary folder.
@Suite struct LedgerStoreTests {
    static let mapSizeBytes = 16 << 20

    struct Deliberate: Error {}

    func open(_ path: String, readOnly: Bool = false) throws -> LedgerStore {
        try LedgerStore(directory: path, readOnly: readOnly, mapSizeBytes: LedgerStoreTests.mapSizeBytes)
    }

    func seqs(_ store: LedgerStore, sku: String, from: UInt64) throws -> [UInt64] {
        try store.read { reader throws in
            var seqs: [UInt64] = []
            try reader.forEachEvent(sku: sku, from: from, tail: UnindexedTail(indexedThrough: reader.checkpointSeq)) { seqs.append($0.seq); return true }
            return seqs
        }
    }

    /// Writes a small history in two groups, the second decided against the store itself (as the
    /// writer does), closing and reopening in between; then checks every way of reading it back.
    @Test func eventsProjectionsAndIndexesSurviveReopening() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/data"
            var recorder = Recorder()
            let idempotency = IdempotencyRecord(fingerprint: "RECEIVE po=PO-77 qty=40 sku=TSHIRT-M wh=PAR",
                                                reply: "OK seq=1 sku=TSHIRT-M wh=PAR on_hand=40 reserved=0 available=40 breach=no",
                                                recordedAt: Recorder.time(ofSeq: 1))

            // Group 1: folded in memory, written in one transaction.
            try recorder.accept(.receive(sku: "TSHIRT-M", wh: "PAR", quantity: 40, purchaseOrder: "PO-77"), ref: "ASN-9", id: "k1")
            try recorder.accept(.reserve(sku: "TSHIRT-M", wh: "PAR", quantity: 3, reservation: nil, ttlSeconds: 900), ref: "ORDER-1001")
            try recorder.accept(.receive(sku: "MUG", wh: "PAR", quantity: 10, purchaseOrder: nil))
            try recorder.accept(.reserve(sku: "MUG", wh: "PAR", quantity: 2, reservation: nil, ttlSeconds: 60))
            try recorder.accept(.receive(sku: "MUG-XL", wh: "PAR", quantity: 1, purchaseOrder: nil))
            try recorder.accept(.expect(sku: "TSHIRT-M", wh: "PAR", quantity: 20, eta: Recorder.time(ofSeq: 86_400), purchaseOrder: "PO-1"))
            try recorder.accept(.transfer(sku: "TSHIRT-M", from: "PAR", to: "LYS", quantity: 5, transfer: nil, eta: nil))
            try recorder.accept(.policy(sku: "TSHIRT-M", wh: "LYS", safety: 8, reorder: nil, max: nil))
            let firstGroup = recorder.events
            let store = try open(path)
            try store.write { writer in
                for event in firstGroup { try writer.append(event) }
                try writer.persist(recorder.state)
                try writer.putIdempotencyRecord("k1", idempotency)
            }
            try store.read { reader throws in
                #expect(reader.checkpointSeq == 8)
                #expect(reader.lastLogSeq == 8)
            }
            #expect(store.dataFileBytes > 0)
            store.close()

            // Group 2: decided against a partial state backed by the reopened store.
            let reopened = try open(path)
            let secondGroup: [Event] = try reopened.write { writer in
                var partial = LedgerState(source: writer)
                partial.lastSeq = writer.checkpointSeq
                var events: [Event] = []
                for command: Command in [
                    .reserve(sku: "TSHIRT-M", wh: "PAR", quantity: 1, reservation: nil, ttlSeconds: 30),
                    .release(reservation: "r9", quantity: nil),
                    .receive(sku: "TSHIRT-M", wh: "PAR", quantity: 5, purchaseOrder: "PO-1"),
                    .sell(sku: "MUG", wh: "PAR", quantity: 1),
                    .arrive(transfer: "x7", quantity: 2, lost: nil),
                ] {
                    let event = try Recorder.accept(WriteRequest(command: command), into: &partial)
                    try writer.append(event)
                    events.append(event)
                }
                try writer.persist(partial)
                return events
            }
            recorder.mirror(secondGroup)
            reopened.close()

            // Read it all back through a read-only open.
            let store3 = try open(path, readOnly: true)
            defer { store3.close() }
            try store3.read { reader in
                #expect(reader.checkpointSeq == 13)
                #expect(reader.lastLogSeq == 13)
                #expect(try reader.loadState().sameEntities(as: recorder.state))

                let parKey = PairKey(sku: "TSHIRT-M", wh: "PAR"), lysKey = PairKey(sku: "TSHIRT-M", wh: "LYS")
                let par = try #require(reader.pair(parKey))
                #expect(par == recorder.state.pairs[parKey])
                #expect([par.onHand, par.reserved, par.available, par.incoming] == [40, 3, 37, 15])
                let lys = try #require(reader.pair(lysKey))
                #expect([lys.onHand, lys.inbound] == [2, 3])
                #expect(lys.breachSince == Recorder.time(ofSeq: 8))
                #expect(lys.breachLowest == 0)
                #expect(reader.pair(PairKey(sku: "TSHIRT-M", wh: "BER")) == nil)
                #expect(try reader.pairs(sku: "TSHIRT-M").map(\.0) == [lysKey, parKey])
                #expect(try reader.pairs(sku: "MUG").map(\.0) == [PairKey(sku: "MUG", wh: "PAR")])

                #expect(reader.reservation("r2")?.status == .open)
                #expect(reader.reservation("r2")?.ref == "ORDER-1001")
                #expect(reader.reservation("r9")?.status == .released)
                #expect(reader.reservation("r404") == nil)
                #expect(reader.transfer("x7")?.inTransit == 3)
                #expect(reader.purchaseOrder("PO-1")?.isOpen == true)
                #expect(reader.purchaseOrder("PO-77") == nil)

                var all: [Event] = []
                try reader.forEachEvent(from: 1) { all.append($0); return true }
                #expect(all == recorder.events)
                var fromSix: [UInt64] = []
                try reader.forEachEvent(from: 6) { fromSix.append($0.seq); return true }
                #expect(fromSix == Array(6...13))
                var firstTwo: [UInt64] = []
                try reader.forEachEvent(from: 3) { firstTwo.append($0.seq); return firstTwo.count < 2 }
                #expect(firstTwo == [3, 4])
                var pastTheEnd = 0
                try reader.forEachEvent(from: 14) { _ in pastTheEnd += 1; return true }
                #expect(pastTheEnd == 0)
                #expect(try reader.event(12) == recorder.events[11])
                #expect(try reader.event(14) == nil)
                #expect(try reader.event(0) == nil)

                #expect(reader.idempotencyRecord("k1") == idempotency)
                #expect(reader.idempotencyRecord("k2") == nil)

                // r4 (MUG) is due at seq 4 + 60 s, r2 at seq 2 + 900 s; r9 was released.
                let r4Due = Recorder.time(ofSeq: 4).adding(seconds: 60), r2Due = Recorder.time(ofSeq: 2).adding(seconds: 900)
                #expect(reader.nextExpiry == r4Due)
                #expect(reader.reservationsDue(atOrBefore: r4Due.adding(seconds: -1), limit: 10) == [])
                #expect(reader.reservationsDue(atOrBefore: r4Due, limit: 10) == ["r4"])
                #expect(reader.reservationsDue(atOrBefore: r2Due, limit: 10) == ["r4", "r2"])
                #expect(reader.reservationsDue(atOrBefore: r2Due.adding(seconds: 86_400), limit: 1) == ["r4"])
                #expect(reader.reservationsDue(atOrBefore: Timestamp(microseconds: Int64.max), limit: 10) == ["r4", "r2"])
            }

            // The per-sku index: exactly one sku's events, in log order, from a position.
            #expect(try seqs(store3, sku: "TSHIRT-M", from: 1) == [1, 2, 6, 7, 8, 9, 10, 11, 13])
            #expect(try seqs(store3, sku: "TSHIRT-M", from: 9) == [9, 10, 11, 13])
            #expect(try seqs(store3, sku: "MUG", from: 1) == [3, 4, 12])
            #expect(try seqs(store3, sku: "MUG", from: 4) == [4, 12])
            #expect(try seqs(store3, sku: "MUG", from: 13) == [])
            #expect(try seqs(store3, sku: "MUG-XL", from: 1) == [5])
            #expect(try seqs(store3, sku: "MU", from: 1) == [])
            #expect(try seqs(store3, sku: "NONE", from: 1) == [])
            let mugEvents: [Event] = try store3.read { reader in
                var events: [Event] = []
                try reader.forEachEvent(sku: "MUG", from: 1, tail: UnindexedTail(indexedThrough: reader.checkpointSeq)) { events.append($0); return true }
                return events
            }
            #expect(mugEvents == recorder.events.filter { $0.sku == "MUG" })
        }
    }

    @Test func expiredAndSoldReservationsLeaveTheExpiryIndex() throws {
        try withTemporaryDirectory { path throws in
            var recorder = Recorder()
            try recorder.accept(.receive(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil))
            try recorder.accept(.reserve(sku: "A", wh: "W", quantity: 1, reservation: "early", ttlSeconds: 10))
            try recorder.accept(.reserve(sku: "A", wh: "W", quantity: 1, reservation: "sold", ttlSeconds: 20))
            try recorder.accept(.reserve(sku: "A", wh: "W", quantity: 1, reservation: "late", ttlSeconds: 30))
            try recorder.accept(.reserve(sku: "A", wh: "W", quantity: 2, reservation: "part", ttlSeconds: 40))
            let store = try open(path)
            defer { store.close() }
            try store.write { writer in
                for event in recorder.events { try writer.append(event) }
                try writer.persist(recorder.state)
            }
            try store.read { reader throws in
                #expect(reader.reservationsDue(atOrBefore: Recorder.start.adding(seconds: 3_600), limit: 10)
                        == ["early", "sold", "late", "part"])
            }
            let before = recorder.events.count
            try recorder.accept(.expire(reservation: "early"))
            try recorder.accept(.sellReserved(reservation: "sold", quantity: nil))
            try recorder.accept(.release(reservation: "part", quantity: 1))  // still open, still due
            let later = Array(recorder.events[before...])
            try store.write { writer in
                for event in later { try writer.append(event) }
                try writer.persist(recorder.state)
            }
            try store.read { reader throws in
                #expect(reader.reservationsDue(atOrBefore: Recorder.start.adding(seconds: 3_600), limit: 10) == ["late", "part"])
                #expect(reader.nextExpiry == Recorder.time(ofSeq: 4).adding(seconds: 30))
                #expect(reader.reservation("early")?.status == .expired)
                #expect(reader.reservation("part")?.held == 1)
            }
            try recorder.accept(.release(reservation: "late", quantity: nil))
            try recorder.accept(.release(reservation: "part", quantity: nil))
            let last = Array(recorder.events.suffix(2))
            try store.write { writer in
                for event in last { try writer.append(event) }
                try writer.persist(recorder.state)
            }
            try store.read { reader throws in
                #expect(reader.nextExpiry == nil)
                #expect(reader.reservationsDue(atOrBefore: Timestamp(microseconds: Int64.max), limit: 10) == [])
            }
        }
    }

    @Test func aWriteThatThrowsLeavesNothingBehind() throws {
        try withTemporaryDirectory { path throws in
            var recorder = Recorder()
            try recorder.accept(.receive(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil))
            let store = try open(path)
            defer { store.close() }
            let committed = recorder.state
            try store.write { writer in
                try writer.append(recorder.events[0])
                try writer.persist(committed)
            }
            try recorder.accept(.sell(sku: "A", wh: "W", quantity: 4))
            #expect(throws: Deliberate.self) {
                try store.write { writer in
                    try writer.append(recorder.events[1])
                    try writer.persist(recorder.state)
                    try writer.putIdempotencyRecord("k", IdempotencyRecord(fingerprint: "f", reply: "OK", recordedAt: Recorder.start))
                    throw Deliberate()
                }
            }
            try store.read { reader throws in
                #expect(reader.checkpointSeq == 1)
                #expect(try reader.event(2) == nil)
                #expect(reader.pair(PairKey(sku: "A", wh: "W"))?.onHand == 10)
                #expect(reader.idempotencyRecord("k") == nil)
                #expect(try reader.loadState().sameEntities(as: committed))
            }
        }
    }

    @Test func theLogOnlyGrowsAtItsEnd() throws {
        try withTemporaryDirectory { path throws in
            var recorder = Recorder()
            try recorder.accept(.receive(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil))
            try recorder.accept(.receive(sku: "A", wh: "W", quantity: 1, purchaseOrder: nil))
            let store = try open(path)
            defer { store.close() }
            try store.write { writer in
                for event in recorder.events { try writer.append(event) }
                try writer.persist(recorder.state)
            }
            // Appending a seq that is not past the last one is refused by MDB_APPEND.
            #expect(throws: LMDBError.keyExists) {
                try store.write { writer in try writer.append(recorder.events[0]) }
            }
            try store.read { reader throws in
                #expect(try reader.event(1) == recorder.events[0])
                #expect(reader.lastLogSeq == 2)
            }
        }
    }

    @Test func aFullMapGrowsAndTheWriteIsRetried() throws {
        try withTemporaryDirectory { path throws in
            let store = try LedgerStore(directory: path, mapSizeBytes: 256 << 10)
            defer { store.close() }
            let sizeBefore = store.environment.mapSizeBytes
            var recorder = Recorder()
            let note = String(repeating: "n", count: 250)
            for index in 1...2_000 {
                let event = try Recorder.accept(WriteRequest(command: .receive(sku: "SKU-\(index % 50)", wh: "W", quantity: 1,
                                                                               purchaseOrder: nil), note: note),
                                                into: &recorder.state)
                recorder.events.append(event)
            }
            // A read first, so that this thread holds a (reset) read transaction while the map grows.
            #expect(try store.read { $0.checkpointSeq } == 0)
            var calls = 0
            try store.write { writer in
                calls += 1
                for event in recorder.events { try writer.append(event) }
                try writer.persist(recorder.state)
            }
            #expect(calls > 1, "the map never filled, so the retry was not exercised")
            #expect(store.environment.mapSizeBytes > sizeBefore)
            try store.read { reader throws in
                #expect(reader.checkpointSeq == 2_000)
                #expect(try reader.event(2_000) == recorder.events.last)
                #expect(try reader.loadState().sameEntities(as: recorder.state))
            }
        }
    }

    @Test func everyReadSeesTheWritesCommittedBeforeIt() throws {
        try withTemporaryDirectory { path in
            let store = try open(path)
            defer { store.close() }
            var recorder = Recorder()
            for round in 1...5 {
                try recorder.accept(.receive(sku: "A", wh: "W", quantity: 2, purchaseOrder: nil))
                let event = recorder.events[round - 1]
                try store.write { writer in
                    try writer.append(event)
                    try writer.persist(recorder.state)
                }
                // Same thread, one read after another: each sees the latest commit.
                let seen: (UInt64, Int64?) = try store.read { ($0.checkpointSeq, $0.pair(PairKey(sku: "A", wh: "W"))?.onHand) }
                #expect(seen.0 == UInt64(round))
                #expect(seen.1 == Int64(2 * round))
            }
            // A read inside a read works, and sees the same state.
            let nested: (UInt64, UInt64) = try store.read { outer in (outer.checkpointSeq, try store.read { $0.checkpointSeq }) }
            #expect(nested == (5, 5))
            // Reads from many threads at once.
            let results = ResultBox(count: 16)
            DispatchQueue.concurrentPerform(iterations: 16) { index in
                let onHand = try? store.read { $0.pair(PairKey(sku: "A", wh: "W"))?.onHand }
                results.set(index, onHand ?? nil)
            }
            #expect(results.values == Array(repeating: 10, count: 16))
        }
    }

    @Test func aBackupIsAStoreOfItsOwn() throws {
        try withTemporaryDirectory { directory in
            var recorder = Recorder()
            try recorder.accept(.receive(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil))
            try recorder.accept(.reserve(sku: "A", wh: "W", quantity: 2, reservation: nil, ttlSeconds: nil))
            let store = try open(directory + "/live")
            try store.write { writer in
                for event in recorder.events { try writer.append(event) }
                try writer.persist(recorder.state)
            }
            try store.backup(to: directory + "/copy")
            store.close()
            let copy = try open(directory + "/copy", readOnly: true)
            defer { copy.close() }
            try copy.read { reader throws in
                #expect(reader.checkpointSeq == 2)
                #expect(try reader.loadState().sameEntities(as: recorder.state))
                #expect(reader.nextExpiry == Recorder.time(ofSeq: 2).adding(seconds: Limits.reservationTTLDefaultSeconds))
            }
        }
    }

    // MARK: Opening

    @Test func anEmptyStoreReadsAsEmpty() throws {
        try withTemporaryDirectory { path throws in
            let store = try open(path)
            defer { store.close() }
            try store.read { reader throws in
                #expect(reader.checkpointSeq == 0)
                #expect(reader.lastLogSeq == 0)
                #expect(reader.nextExpiry == nil)
                #expect(try reader.loadState().sameEntities(as: LedgerState()))
                var count = 0
                try reader.forEachEvent(from: 1) { _ in count += 1; return true }
                #expect(count == 0)
            }
        }
    }

    @Test func openingAFolderThatIsNotAStoreReadOnlyThrowsNotAStore() throws {
        try withTemporaryDirectory { path throws in
            #expect(throws: StoreError.self) { try open(path, readOnly: true) }
            do {
                _ = try open(path, readOnly: true)
            } catch StoreError.notAStore(let named) {
                #expect(named == path)
            } catch {
                Issue.record("expected notAStore, got \(error)")
            }
            // Nothing was created in it.
            #expect(try FileManager.default.contentsOfDirectory(atPath: path).isEmpty)
        }
    }

    @Test func openingAMissingFolderWithoutCreateThrowsNotAStore() throws {
        try withTemporaryDirectory { path throws in
            let missing = path + "/nothing-here"
            do {
                _ = try LedgerStore(directory: missing, create: false, mapSizeBytes: LedgerStoreTests.mapSizeBytes)
                Issue.record("opened a folder that does not exist")
            } catch StoreError.notAStore(let named) {
                #expect(named == missing)
            }
            #expect(!FileManager.default.fileExists(atPath: missing))
        }
    }

    @Test func anLMDBEnvironmentWithoutTheLedgerIsNotAStore() throws {
        try withTemporaryDirectory { path throws in
            // A bare LMDB environment: data.mdb exists, but none of the ledger's databases.
            let environment = try LMDBEnvironment(path: path, mapSizeBytes: 1 << 20, databasesMax: 4, readersMax: 8, flags: [])
            environment.close()
            #expect(FileManager.default.fileExists(atPath: path + "/data.mdb"))
            do {
                _ = try open(path, readOnly: true)
                Issue.record("opened an environment without the ledger's databases")
            } catch StoreError.notAStore(let named) {
                #expect(named == path)
            }
        }
    }

    @Test func aStoreOfAnotherFormatIsRefused() throws {
        try withTemporaryDirectory { path throws in
            try open(path).close()
            // Rewrite the format the store recorded in `meta` (see LedgerStore's doc comment).
            let environment = try LMDBEnvironment(path: path, mapSizeBytes: LedgerStoreTests.mapSizeBytes, databasesMax: 16,
                                                  readersMax: 8, flags: [])
            let txn = try LMDBTransaction(environment: environment, readOnly: false)
            let meta = try txn.openDatabase("meta", create: false)
            let recorded: UInt64? = try txn.get(meta, key: Array("format".utf8)) { try StoreKey.seq(from: $0) }
            #expect(recorded == 1)
            try txn.put(meta, key: Array("format".utf8), value: StoreKey.seq(2))
            try txn.commit()
            environment.close()
            do {
                _ = try open(path)
                Issue.record("opened a store of format 2")
            } catch StoreError.unsupportedFormat(let format) {
                #expect(format == 2)
            }
        }
    }

    @Test func temporaryDirectoriesAreRemoved() throws {
        let path = try withTemporaryDirectory { path throws in
            try open(path).close()
            #expect(FileManager.default.fileExists(atPath: path + "/data.mdb"))
            return path
        }
        #expect(path.hasPrefix("/tmp/stockd-unit-"))
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}

/// Collects one value per concurrent iteration.
// Shared across threads safely: its stored state is touched only with `lock` held.
final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [Int64?]
    init(count: Int) { storage = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: Int64?) { lock.lock(); storage[index] = value; lock.unlock() }
    var values: [Int64?] { lock.lock(); defer { lock.unlock() }; return storage }
}
