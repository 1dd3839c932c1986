import Foundation
import LedgerCore
import LedgerStore
import Testing

/// Finding 6 of issue 8 at the store's level: what a damaged data file does to `LedgerStore`. Each
/// damage is thrown as `StoreDamage` naming the file (and the seq, in the log), never trapped on.
@Suite struct StoreDamageTests {
    static let mapSizeBytes = 16 << 20

    func open(_ path: String, readOnly: Bool = false) throws -> LedgerStore {
        try LedgerStore(directory: path, readOnly: readOnly, mapSizeBytes: StoreDamageTests.mapSizeBytes)
    }

    /// A closed store in `path` holding `count` receipts, checkpointed.
    func writeStore(_ path: String, count: Int = 3) throws {
        var recorder = Recorder()
        for _ in 0..<count { try recorder.accept(.receive(sku: "A", wh: "W", quantity: 1, purchaseOrder: nil)) }
        let store = try open(path)
        defer { store.close() }
        try store.write { writer in
            for event in recorder.events { try writer.append(event) }
            try writer.persist(recorder.state)
        }
    }

    /// Changes the stored log with LMDB directly, as damage would.
    func editLog(_ path: String, _ body: (LMDBTransaction, LMDBDatabase) throws -> Void) throws {
        let environment = try LMDBEnvironment(path: path, mapSizeBytes: StoreDamageTests.mapSizeBytes, databasesMax: 16,
                                              readersMax: 8, flags: [])
        defer { environment.close() }
        let txn = try LMDBTransaction(environment: environment, readOnly: false)
        try body(txn, try txn.openDatabase("log", create: false))
        try txn.commit()
    }

    /// The damage `body` throws, or nil (recorded as an issue) when it throws none or another error.
    func damage(_ body: () throws -> Void) -> StoreDamage? {
        do {
            try body()
            Issue.record("no damage thrown")
        } catch let damage as StoreDamage {
            return damage
        } catch {
            Issue.record("threw \(error), not StoreDamage")
        }
        return nil
    }

    @Test(arguments: [false, true])
    func finding6EmptyDataFileIsRefused(readOnly: Bool) throws {
        try withTemporaryDirectory { path throws in
            #expect(FileManager.default.createFile(atPath: path + "/data.mdb", contents: Data()))
            let refused = damage { _ = try open(path, readOnly: readOnly) }
            #expect(refused?.path == path + "/data.mdb")
            #expect(refused?.what.hasPrefix("the file is empty (0 bytes)") == true, "\(String(describing: refused))")
            #expect(try FileManager.default.attributesOfItem(atPath: path + "/data.mdb")[.size] as? Int == 0)
        }
    }

    @Test func finding6ForeignDataFileIsRefused() throws {
        try withTemporaryDirectory { path throws in
            try Data(repeating: 0x5A, count: 64 * 1024).write(to: URL(fileURLWithPath: path + "/data.mdb"))
            let refused = damage { _ = try open(path) }
            #expect(refused?.what.hasPrefix("not an LMDB file") == true, "\(String(describing: refused))")
        }
    }

    @Test func finding6TruncatedDataFileIsRefused() throws {
        try withTemporaryDirectory { path throws in
            try writeStore(path, count: 200)
            let size = try FileManager.default.attributesOfItem(atPath: path + "/data.mdb")[.size] as! Int
            #expect(truncate(path + "/data.mdb", off_t(size / 2)) == 0)
            for readOnly in [false, true] {
                let refused = damage { _ = try open(path, readOnly: readOnly) }
                #expect(refused?.what.hasSuffix("it was truncated") == true, "\(String(describing: refused))")
            }
        }
    }

    @Test func finding6DamagedSecondMetaPageIsRefused() throws {
        try withTemporaryDirectory { path throws in
            try writeStore(path)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path + "/data.mdb"))
            try handle.seek(toOffset: 4_096)
            try handle.write(contentsOf: Data(repeating: 0xA5, count: 4_096))
            try handle.close()
            let refused = damage { _ = try open(path) }
            #expect(refused?.what == "LMDB meta page 1 is damaged (no LMDB magic)", "\(String(describing: refused))")
        }
    }

    /// LMDB reads the main database's root page as it opens (the names of the databases): damaged,
    /// it would read past the file (SIGBUS). Found by overwriting every page of a store in turn.
    @Test func finding6DamagedMainDatabaseRootIsRefused() throws {
        try withTemporaryDirectory { path throws in
            try writeStore(path)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
            let (first, second) = bytes.withUnsafeBytes { raw in
                ((raw.loadUnaligned(fromByteOffset: 144, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 128, as: UInt64.self)),
                 (raw.loadUnaligned(fromByteOffset: 4_096 + 144, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 4_096 + 128, as: UInt64.self)))
            }
            let mainRoot = first.0 > second.0 ? first.1 : second.1
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path + "/data.mdb"))
            try handle.seek(toOffset: mainRoot * 4_096 + 12)
            try handle.write(contentsOf: Data([0xFF, 0xFF]))  // mp_lower past the page
            try handle.close()
            let refused = damage { _ = try open(path, readOnly: true) }
            #expect(refused?.what == "page \(mainRoot), the root of LMDB's main database (the names of the others), is damaged",
                    "\(String(describing: refused))")
        }
    }

    @Test func finding6CheckpointPastTheLogEndIsRefusedAtAWritableOpen() throws {
        try withTemporaryDirectory { path throws in
            try writeStore(path)
            let store = try open(path)
            try store.write { writer in
                var state = LedgerState()
                state.lastSeq = 5
                try writer.persist(state)
            }
            store.close()
            let refused = damage { _ = try open(path) }
            #expect(refused?.what == "the checkpoint is at seq 5 but the log ends at 3", "\(String(describing: refused))")
            // Read-only (stockctl verify) it opens, so that verify can report this among the rest.
            let readOnly = try open(path, readOnly: true)
            defer { readOnly.close() }
            #expect(throws: StoreDamage.self) { try readOnly.read { try $0.checkLogEnds() } }
        }
    }

    @Test func finding6UndecodableRecordIsThrownWithItsSeq() throws {
        try withTemporaryDirectory { path throws in
            try writeStore(path)
            try editLog(path) { txn, log in try txn.put(log, key: StoreKey.seq(2), value: [0xFF, 0x00]) }
            let store = try open(path, readOnly: true)
            defer { store.close() }
            let met = damage { try store.read { try $0.forEachEvent(from: 1) { _ in true } } }
            #expect(met?.seq == 2 && met?.summary == "store damaged at seq 2", "\(String(describing: met))")
            #expect(met?.path == path + "/data.mdb")
            #expect(damage { _ = try store.read { try $0.event(2) } }?.seq == 2)
            #expect(store.logDamage(limit: 10).map(\.seq) == [2])
        }
    }

    @Test func finding6GapInTheLogIsThrownNotSkipped() throws {
        try withTemporaryDirectory { path throws in
            try writeStore(path, count: 4)
            try editLog(path) { txn, log in try txn.delete(log, key: StoreKey.seq(2)) }
            let store = try open(path, readOnly: true)
            let met = damage { try store.read { try $0.forEachEvent(from: 1) { _ in true } } }
            #expect(met?.seq == 2 && met?.what == "the log has a gap: expected seq 2, found 3", "\(String(describing: met))")
            #expect(store.logDamage(limit: 10).map(\.what) == ["seqs 2...2 are missing from the log"])
            store.close()
            // Opened to write (the daemon), the count of the log against its last seq refuses it.
            #expect(damage { _ = try open(path) }?.what == "the log holds 3 events but its keys run from seq 1 to 4")
        }
    }

    /// A record that decodes but holds a quantity no write could have stored would overflow (a
    /// trap) when folded or decided on: it is damage, refused by the codecs.
    @Test func finding6OutOfRangeQuantitiesAreDamageNotAnOverflow() throws {
        let huge = Int64.max / 2
        let event = Event(seq: 1, recordedAt: Recorder.start, actor: 0,
                          body: .received(sku: "A", wh: "W", quantity: huge, purchaseOrder: nil))
        #expect(throws: CorruptRecord.self) { try EventCodec.encode(event).withUnsafeBytes { try EventCodec.decode(seq: 1, $0) } }
        var pair = PairState()
        pair.onHand = huge
        #expect(throws: CorruptRecord.self) { try ProjectionCodec.encode(pair).withUnsafeBytes { try ProjectionCodec.decodePair($0) } }
        // The largest a bucket may hold still reads back.
        pair.onHand = Limits.bucketQuantityMax
        #expect(try ProjectionCodec.encode(pair).withUnsafeBytes { try ProjectionCodec.decodePair($0) } == pair)
    }

    @Test func finding6LogKeyOfTheWrongLengthIsDamageNotATrap() throws {
        try withTemporaryDirectory { path throws in
            try writeStore(path)
            // Sorts after every seq: the last key of the log, which the open reads.
            try editLog(path) { txn, log in try txn.put(log, key: [0xFF, 0xFF], value: [1]) }
            #expect(damage { _ = try open(path) }?.what == "a log key of 2 bytes, not 8")
        }
    }
}
