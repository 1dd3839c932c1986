import LedgerCore
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// The ledger on disk: one LMDB environment holding the append-only log and the projections folded
/// from it, written together in one transaction so the store is never half-applied.
///
/// Named databases:
/// - `log`: seq (big-endian UInt64, appended with MDB_APPEND, gapless from 1) → event
/// - `pairs`, `reservations`, `transfers`, `orders`: the projections
/// - `meta`: `last_seq` (the last event folded into the projections) and the store's format
/// - `idempotency`: idempotency key → the request's fingerprint and its original reply
/// - `sku_index`: sku, 0, seq → nothing (HISTORY and point-in-time folds)
/// - `expiry`: due time, reservation → nothing (the daemon's expiry sweep)
///
/// Reads run in short read-only transactions from any thread and never wait for the writer. Exactly
/// one thread writes (`write(_:)`); LMDB serialises writers anyway, and one owner keeps group commit
/// simple.
// Shared across threads safely: LMDB's environment is thread-safe for read transactions (MDB_NOTLS) and
// one writer; the map-resize lock and the per-thread reader slots guard the rest.
public final class LedgerStore: @unchecked Sendable {
    public static let defaultMapSizeBytes = 64 << 30
    /// Databases the environment may hold: the nine above and room for later ones.
    static let databasesMax: UInt32 = 16
    /// Reader slots: each in-flight read transaction takes one (MDB_NOTLS), so this bounds concurrent
    /// reads across the daemon's threads and any stockctl running beside it.
    static let readersMax: UInt32 = 512
    static let storeFormat: UInt64 = 1

    public let directory: String
    /// `directory/data.mdb`, named by every diagnosis of damage.
    public var dataFilePath: String { LedgerStore.dataFile(in: directory) }
    public static func dataFile(in directory: String) -> String { directory + "/data.mdb" }
    public let environment: LMDBEnvironment
    let databases: Databases
    /// LMDB may change the map size only while no transaction of this process is active: readers take
    /// this lock shared for the life of their transaction, a map resize takes it exclusively.
    private let mapLock: UnsafeMutablePointer<pthread_rwlock_t>
    /// Each thread keeps one reset read transaction and renews it for its next read: renewing keeps
    /// the reader slot, so a read costs no trip through LMDB's reader-table mutex.
    private var readerKey = pthread_key_t()
    private let readersLock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var cachedReaders: [CachedReader] = []

    struct Databases {
        let log, pairs, reservations, transfers, orders, meta, idempotency, skuIndex, expiry: LMDBDatabase
    }

    /// Opens the store in `directory`, creating it when `create` is true and it does not exist yet.
    /// `bulkLoad` skips the sync at each commit (MDB_NOSYNC): for tools that build a new store and call
    /// `syncToDisk()` once at the end. A crash during a bulk load can leave the store unusable, which is
    /// acceptable only because the store is new. The daemon never opens a store this way.
    /// `deferredMetaSync` (the daemon): a commit's meta page becomes durable with the next sync
    /// (`syncToDisk()` or the next commit), not within the commit; the caller acknowledges nothing
    /// before that.
    ///
    /// A damaged `data.mdb` throws `StoreDamage` before LMDB maps it (`DataFileCheck`: empty,
    /// foreign, a damaged meta page, shorter than its pages) and, when opened to write, after
    /// (`StoreReader.checkLogEnds`: the log's ends against its count and the checkpoint). A
    /// read-only opener (stockctl verify) checks those itself, to report them among others.
    public init(directory: String, create: Bool = true, readOnly: Bool = false, bulkLoad: Bool = false,
                deferredMetaSync: Bool = false, mapSizeBytes: Int = LedgerStore.defaultMapSizeBytes) throws {
        self.directory = directory
        if !create || readOnly {
            let file = LedgerStore.dataFile(in: directory)
            if access(file, R_OK) != 0 {
                // Missing is "not a store"; anything else (permission denied, above all) says so.
                guard errno == ENOENT else {
                    throw Syscalls.Failure(what: "cannot read", path: file, errno: Errno(rawValue: errno))
                }
                throw StoreError.notAStore(directory)
            }
        } else {
            try Syscalls.makeDirectories(directory, mode: 0o750)
        }
        try DataFileCheck.check(directory: directory)
        var flags: LMDBEnvironment.Flags = [.noTLS]
        if readOnly { flags.insert(.readOnly) }
        if bulkLoad { flags.insert(.noSync) }
        if deferredMetaSync { flags.insert(.noMetaSync) }
        environment = try LMDBEnvironment(path: directory, mapSizeBytes: mapSizeBytes,
                                          databasesMax: LedgerStore.databasesMax,
                                          readersMax: LedgerStore.readersMax, flags: flags)
        mapLock = .allocate(capacity: 1)
        var attributes = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attributes)
        // Writer preference: a map resize must not starve behind a steady stream of reads.
        pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        pthread_rwlock_init(mapLock, &attributes)
        pthread_rwlockattr_destroy(&attributes)
        // When a thread ends, its cached transaction is aborted, so its reader slot is not lost.
        pthread_key_create(&readerKey) { raw in
            guard let raw else { return }
            let cached = Unmanaged<CachedReader>.fromOpaque(raw).takeRetainedValue()
            cached.owner?.forget(cached)
        }
        pthread_mutex_init(readersLock, nil)
        do {
            let txn = try LMDBTransaction(environment: environment, readOnly: readOnly)
            func open(_ name: String) throws -> LMDBDatabase {
                do { return try txn.openDatabase(name, create: !readOnly) } catch LMDBError.notFound {
                    throw StoreError.notAStore(directory)
                }
            }
            databases = Databases(
                log: try open("log"), pairs: try open("pairs"), reservations: try open("reservations"),
                transfers: try open("transfers"), orders: try open("orders"), meta: try open("meta"),
                idempotency: try open("idempotency"), skuIndex: try open("sku_index"), expiry: try open("expiry"))
            let reader = StoreReader(txn: txn, databases: databases, path: LedgerStore.dataFile(in: directory))
            let format: UInt64? = try reader.damage(at: nil, in: "meta format") {
                try txn.get(databases.meta, key: MetaKey.format) { try StoreKey.seq(from: $0) }
            }
            if let format, format != LedgerStore.storeFormat {
                throw StoreError.unsupportedFormat(format)
            }
            if format == nil && !readOnly {
                let value = StoreKey.seq(LedgerStore.storeFormat)
                try txn.put(databases.meta, key: MetaKey.format, value: value)
            }
            // Commit even a read-only transaction: database handles opened in an aborted one are closed.
            try txn.commit()
        } catch {
            environment.close()
            throw error
        }
        // In a read transaction, whose pages are checked before LMDB reads them.
        if !readOnly {
            do { try read { try $0.checkLogEnds() } } catch {
                close()
                throw error
            }
        }
    }

    deinit {
        pthread_rwlock_destroy(mapLock)
        mapLock.deallocate()
        pthread_key_delete(readerKey)
        pthread_mutex_destroy(readersLock)
        readersLock.deallocate()
    }

    /// Closes the environment. No transaction may be running, and the threads that read must be done.
    public func close() {
        pthread_rwlock_wrlock(mapLock)
        pthread_mutex_lock(readersLock)
        for reader in cachedReaders { reader.txn.abort() }
        cachedReaders.removeAll()
        pthread_mutex_unlock(readersLock)
        environment.close()
        pthread_rwlock_unlock(mapLock)
    }

    /// Runs `body` in a short read-only transaction. The transaction ends when `body` returns:
    /// LMDB's caveat is that a long-lived reader pins old pages and makes the file grow.
    public func read<R>(_ body: (StoreReader) throws -> R) throws -> R {
        pthread_rwlock_rdlock(mapLock)
        defer { pthread_rwlock_unlock(mapLock) }
        let cached = try threadReader()
        guard let cached, !cached.inUse else {
            // A read inside a read on the same thread: use a transaction of its own.
            let txn = try beginTransaction(readOnly: true)
            defer { txn.abort() }
            return try body(StoreReader(txn: txn, databases: databases, path: dataFilePath))
        }
        cached.inUse = true
        defer {
            cached.txn.reset()
            cached.inUse = false
        }
        return try body(StoreReader(txn: cached.txn, databases: databases, path: dataFilePath))
    }

    /// This thread's cached read transaction, renewed and ready; nil when it is already in use.
    private func threadReader() throws -> CachedReader? {
        if let raw = pthread_getspecific(readerKey) {
            let cached = Unmanaged<CachedReader>.fromOpaque(raw).takeUnretainedValue()
            if cached.inUse { return cached }
            do {
                try cached.txn.renew()
            } catch LMDBError.mapResized {
                try environment.setMapSize(0)
                try cached.txn.renew()
            }
            return cached
        }
        let cached = CachedReader(txn: try beginTransaction(readOnly: true), owner: self)
        pthread_mutex_lock(readersLock)
        cachedReaders.append(cached)
        pthread_mutex_unlock(readersLock)
        // The thread's slot holds a reference of its own, given back by the key's destructor.
        pthread_setspecific(readerKey, Unmanaged.passRetained(cached).toOpaque())
        return cached
    }

    /// A thread that cached a read transaction has ended: abort it and free its reader slot.
    fileprivate func forget(_ cached: CachedReader) {
        pthread_mutex_lock(readersLock)
        defer { pthread_mutex_unlock(readersLock) }
        guard let index = cachedReaders.firstIndex(where: { $0 === cached }) else { return }
        cachedReaders.remove(at: index)
        cached.txn.abort()
    }

    /// Runs `body` in the write transaction and commits it; with LMDB's default flags the commit
    /// returns only after the data is synced to disk. When the map is full it grows the map and runs
    /// `body` again from the start, so `body` must depend only on the store and its own inputs.
    /// Only the writer thread calls this.
    public func write<R>(_ body: (StoreWriter) throws -> R) throws -> R {
        while true {
            do {
                let txn = try beginTransaction(readOnly: false)
                defer { txn.abort() }
                let result = try body(StoreWriter(txn: txn, databases: databases, path: dataFilePath))
                try txn.commit()
                return result
            } catch LMDBError.mapFull {
                try growMap()
            }
        }
    }

    /// Doubles the map. Fails with `StoreError.mapCannotGrow` when the system refuses the larger map.
    private func growMap() throws {
        pthread_rwlock_wrlock(mapLock)
        defer { pthread_rwlock_unlock(mapLock) }
        let current = environment.mapSizeBytes
        do {
            try environment.setMapSize(current * 2)
        } catch {
            throw StoreError.mapCannotGrow(current, error)
        }
    }

    private func beginTransaction(readOnly: Bool) throws -> LMDBTransaction {
        do {
            return try LMDBTransaction(environment: environment, readOnly: readOnly)
        } catch LMDBError.mapResized {
            // Another process (stockctl) grew the map: adopt its size, as lmdb.h tells us to.
            try environment.setMapSize(0)
            return try LMDBTransaction(environment: environment, readOnly: readOnly)
        }
    }

    /// Flushes everything committed to disk (after a bulk load, or the meta page of the last commit).
    public func syncToDisk() throws { try environment.sync() }

    /// Space the data file keeps allocated beyond what LMDB uses (see `allocateAhead`).
    static let fileAheadBytes = 64 << 20

    /// Keeps the data file allocated ahead of LMDB's last page. Only the writer thread calls it.
    public func allocateAhead() {
        environment.allocateAhead(usedBytes: (environment.lastPageNumber + 1) * environment.pageSizeBytes,
                                  aheadBytes: LedgerStore.fileAheadBytes)
    }

    /// A consistent, compacted copy of the store, safe while the daemon writes.
    public func backup(to directory: String) throws {
        try Syscalls.makeDirectories(directory, mode: 0o750)
        try environment.copyCompacted(to: directory)
    }

    /// Size of the data file on disk, in bytes.
    public var dataFileBytes: Int {
        var info = stat()
        return stat(dataFilePath, &info) == 0 ? Int(info.st_size) : 0
    }
}

extension LedgerStore {
    /// Every damaged record, page and gap of the log, at most `limit`, each as a `StoreDamage` naming
    /// its seq: for `stockctl verify`, which reports them all rather than stop at the first. A
    /// damaged page stops LMDB's cursor; the scan then resumes in a new read transaction at the first
    /// seq it can reach past it (trying 1, 2, 4, … seqs on) and reports the seqs it could not read.
    public func logDamage(limit: Int) -> [StoreDamage] {
        var found: [StoreDamage] = []
        // A damaged page often yields many damaged records in a row, all met at the same seq: they
        // are told once, with their number.
        var repeats = 0
        func report(_ damage: StoreDamage) -> Bool {
            if let last = found.last, last.seq == damage.seq, last.what.hasPrefix(damage.what) {
                repeats += 1
                found[found.count - 1].what = damage.what + " (\(repeats + 1) in a row)"
                return true
            }
            repeats = 0
            found.append(damage)
            return found.count < limit
        }
        func asDamage(_ error: any Error, at seq: UInt64) -> StoreDamage {
            if let damage = error as? StoreDamage { return damage }
            let what = (error as? LMDBError)?.meansDamage == true ? "a damaged page (LMDB: \(error))" : "cannot be read: \(error)"
            return StoreDamage(path: dataFilePath, seq: seq, what)
        }
        func readable(_ seq: UInt64) -> Bool { (try? read { try $0.firstSeq(atOrAfter: seq) }) != nil }
        let end: UInt64
        do { end = try read { try $0.logEnd() } } catch { return [asDamage(error, at: 0)] }
        var next: UInt64 = 1
        while next <= end && found.count < limit {
            do {
                try read { reader in try reader.scanLog(from: next, position: &next, report: report) }
                return found
            } catch {
                let met = asDamage(error, at: next)
                // Gallop past the damage (1, 2, 4, … seqs on), then narrow down to the first seq
                // whose page can be reached again.
                var unreadable = next, step: UInt64 = 1
                var resume: UInt64? = nil
                while resume == nil, step <= end - next {
                    if readable(next + step) { resume = next + step } else { unreadable = next + step }
                    guard step <= UInt64.max / 2 else { break }
                    step *= 2
                }
                if var high = resume {
                    while high - unreadable > 1 {
                        let middle = unreadable + (high - unreadable) / 2
                        if readable(middle) { high = middle } else { unreadable = middle }
                    }
                    resume = high
                }
                let last = resume.map { $0 - 1 } ?? end
                _ = report(StoreDamage(path: met.path, seq: met.seq,
                                       met.what + (last > next ? "; seqs \(next)...\(last) cannot be read past it" : "")))
                guard let resume else { break }
                next = resume
            }
        }
        return found
    }
}

/// Why a store could not be opened or written.
public enum StoreError: Error, CustomStringConvertible {
    case notAStore(String)
    case unsupportedFormat(UInt64)
    case mapCannotGrow(Int, Error)

    public var description: String {
        switch self {
        case .notAStore(let path): "\(path) is not a stockd store (no data.mdb with a ledger in it)"
        case .unsupportedFormat(let format): "store format \(format) is not supported by this build"
        case .mapCannotGrow(let size, let error): "the LMDB map cannot grow past \(size) bytes: \(error)"
        }
    }
}

/// A thread's read transaction, kept between reads in the reset state.
final class CachedReader {
    let txn: LMDBTransaction
    weak var owner: LedgerStore?
    var inUse = false
    init(txn: LMDBTransaction, owner: LedgerStore) {
        self.txn = txn
        self.owner = owner
    }
}

enum MetaKey {
    static let lastSeq = Array("last_seq".utf8)
    static let format = Array("format".utf8)
}
