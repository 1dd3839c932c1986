import CLMDB
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// The one room for raw LMDB calls. Everything above this file sees Swift types: `LMDBEnvironment`,
// `LMDBTransaction`, `LMDBDatabase`, `LMDBCursor` and the `LMDBError` they throw.

/// An LMDB result code with a readable name and the library's own message.
public struct LMDBError: Error, Equatable, CustomStringConvertible, Sendable {
    public var code: Int32
    public init(_ code: Int32) { self.code = code }

    public static let notFound = LMDBError(MDB_NOTFOUND)
    public static let keyExists = LMDBError(MDB_KEYEXIST)
    public static let mapFull = LMDBError(MDB_MAP_FULL)
    public static let mapResized = LMDBError(MDB_MAP_RESIZED)
    public static let readersFull = LMDBError(MDB_READERS_FULL)
    public static let txnFull = LMDBError(MDB_TXN_FULL)
    public static let noSpace = LMDBError(ENOSPC)
    public static let diskQuota = LMDBError(EDQUOT)
    public static let ioError = LMDBError(EIO)
    /// The environment hit a fatal error (a failed meta-page write) and refuses all further use.
    public static let panic = LMDBError(MDB_PANIC)
    /// A page is not what LMDB wrote (also raised here for a key or value outside the pages in use).
    public static let corrupted = LMDBError(MDB_CORRUPTED)
    /// A page number beyond the end of the data.
    public static let pageNotFound = LMDBError(MDB_PAGE_NOTFOUND)
    /// The transaction met an error before and refuses further use.
    public static let badTransaction = LMDBError(MDB_BAD_TXN)

    /// True for the failures only a damaged data file causes.
    public var meansDamage: Bool { self == .corrupted || self == .pageNotFound }

    /// True for the failures that mean "the store cannot take writes now" (disk full, quota, I/O),
    /// as opposed to a programming error.
    public var isStorageUnavailable: Bool { self == .noSpace || self == .diskQuota || self == .ioError }

    public var description: String { "\(String(cString: mdb_strerror(code))) (\(code))" }

    /// Lets callers write `catch LMDBError.mapFull`.
    public static func ~= (pattern: LMDBError, value: any Error) -> Bool {
        (value as? LMDBError) == pattern
    }
}

@inline(__always)
private func check(_ code: Int32) throws {
    if code != 0 { throw LMDBError(code) }
}

/// An LMDB environment: one per process, per LMDB's own rule ("do not have open an LMDB database
/// twice in the same process at the same time").
// Shared across threads safely: it holds only the C handle, which LMDB makes safe to share between threads
// (MDB_NOTLS read transactions; one write transaction at a time, serialised by LMDB's writer lock);
// the map size is changed only under LedgerStore's map lock, and the map's address is an Atomic.
public final class LMDBEnvironment: @unchecked Sendable {
    let handle: OpaquePointer
    /// Fixed when the environment is created: the data file's page size.
    public let pageSizeBytes: Int
    /// Where the data file is mapped (`locateMap`), for the page checks of read transactions;
    /// changed only with the map size, under LedgerStore's map lock.
    private let mapAddressValue = Atomic<UInt>(0)
    var mapAddress: UInt { mapAddressValue.load(ordering: .acquiring) }

    public struct Flags: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Read transactions are not tied to threads: NIO event loops may run them anywhere.
        public static let noTLS = Flags(rawValue: UInt32(MDB_NOTLS))
        public static let readOnly = Flags(rawValue: UInt32(MDB_RDONLY))
        public static let noSubdirectory = Flags(rawValue: UInt32(MDB_NOSUBDIR))
        /// Commits do not sync. Only for bulk loads that sync once at the end (never for the daemon).
        public static let noSync = Flags(rawValue: UInt32(MDB_NOSYNC))
        /// A commit syncs its data pages but writes its meta page without syncing it: the next
        /// commit's sync (or `sync()`) makes it durable. lmdb.h: "This optimization maintains
        /// database integrity, but a system crash may undo the last committed transaction" — so
        /// the daemon acknowledges a group only after that later sync (see LedgerWriter).
        public static let noMetaSync = Flags(rawValue: UInt32(MDB_NOMETASYNC))
    }

    /// Opens (creating when missing) the environment in directory `path`.
    /// The corresponding C functions are `mdb_env_create`, `mdb_env_set_*` and `mdb_env_open`.
    public init(path: String, mapSizeBytes: Int, databasesMax: UInt32, readersMax: UInt32, flags: Flags) throws {
        var env: OpaquePointer?
        try check(mdb_env_create(&env))
        guard let env else { throw LMDBError(ENOMEM) }
        do {
            try check(mdb_env_set_mapsize(env, mapSizeBytes))
            try check(mdb_env_set_maxdbs(env, databasesMax))
            try check(mdb_env_set_maxreaders(env, readersMax))
            try check(mdb_env_open(env, path, flags.rawValue, 0o640))
        } catch {
            mdb_env_close(env)
            throw error
        }
        self.handle = env
        var stat = MDB_stat()
        mdb_env_stat(env, &stat)
        pageSizeBytes = Int(stat.ms_psize)
        mapAddressValue.store(locateMap(), ordering: .releasing)
    }

    /// Closes the environment. All transactions must be finished first.
    public func close() { mdb_env_close(handle) }

    /// The corresponding C function is `mdb_env_set_mapsize`. LMDB requires that no transaction of
    /// this process is active while the map changes; `LedgerStore` holds its reader lock exclusively.
    public func setMapSize(_ bytes: Int) throws {
        try check(mdb_env_set_mapsize(handle, bytes))
        mapAddressValue.store(locateMap(), ordering: .releasing)
    }

    public var mapSizeBytes: Int {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        return info.me_mapsize
    }

    public var lastPageNumber: Int {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        return info.me_last_pgno
    }


    /// Grows the data file ahead of what LMDB has used, so commits write into allocated space: a
    /// sync that must also record a larger file size costs about 100 µs more on ext4 here.
    /// `fallocate` (mode 0) only allocates: it never changes bytes already in the file, so it is
    /// safe beside LMDB's own writes. Best effort: a full disk simply leaves the file as it is.
    /// The corresponding C functions are `mdb_env_get_fd`, `fstat` and `posix_fallocate`.
    public func allocateAhead(usedBytes: Int, aheadBytes: Int) {
        var descriptor: Int32 = -1
        guard mdb_env_get_fd(handle, &descriptor) == 0, descriptor >= 0 else { return }
        var info = stat()
        guard fstat(descriptor, &info) == 0, Int(info.st_size) < usedBytes + aheadBytes / 2 else { return }
        _ = posix_fallocate(descriptor, off_t(info.st_size), off_t(usedBytes + aheadBytes - Int(info.st_size)))
    }

    /// Forces a flush of the data file to disk. The corresponding C function is `mdb_env_sync`.
    public func sync() throws { try check(mdb_env_sync(handle, 1)) }

    /// A consistent copy of the environment into directory `path`, compacted (free pages omitted).
    /// Safe while writers run: it reads one snapshot. The corresponding C function is `mdb_env_copy2`.
    public func copyCompacted(to path: String) throws {
        try check(mdb_env_copy2(handle, path, UInt32(MDB_CP_COMPACT)))
    }
}

/// An LMDB database handle (a named database inside the environment).
public struct LMDBDatabase: Sendable {
    let dbi: MDB_dbi
    /// Its key in the main database, where its root page is recorded.
    let name: String
}

/// One LMDB transaction. It must end (commit or abort) on the thread that uses it, before any
/// suspension: LMDB's caveat is that long-lived transactions pin pages and grow the file.
public final class LMDBTransaction {
    private(set) var handle: OpaquePointer?
    public let isReadOnly: Bool
    private let environment: LMDBEnvironment
    /// The pages a read transaction may reach, checked before LMDB reads them (`PageMap`); nil for
    /// the write transaction, whose changed pages LMDB keeps outside the map.
    private var pages: PageMap?
    /// The root page of each database in this snapshot, read from the main database once.
    private var roots: [MDB_dbi: UInt64] = [:]

    /// The corresponding C function is `mdb_txn_begin`.
    public init(environment: LMDBEnvironment, readOnly: Bool) throws {
        var txn: OpaquePointer?
        try check(mdb_txn_begin(environment.handle, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn))
        self.handle = txn
        self.isReadOnly = readOnly
        self.environment = environment
        if readOnly, let txn { pages = PageMap(environment: environment, transaction: txn) }
    }

    deinit {
        if let handle { mdb_txn_abort(handle) }
    }

    private var live: OpaquePointer {
        guard let handle else { preconditionFailure("LMDB transaction used after it ended") }
        return handle
    }

    /// Commits, and with the environment's default flags also syncs to disk before returning.
    /// The corresponding C function is `mdb_txn_commit`.
    public func commit() throws {
        let txn = live
        handle = nil
        try check(mdb_txn_commit(txn))
    }

    public func abort() {
        if let handle { mdb_txn_abort(handle) }
        handle = nil
    }

    /// Ends a read-only transaction but keeps its handle and reader slot for `renew()`, which is much
    /// cheaper than a new `mdb_txn_begin`. The corresponding C function is `mdb_txn_reset`.
    func reset() {
        precondition(isReadOnly, "only read-only transactions can be reset")
        mdb_txn_reset(live)
    }

    /// Starts a reset read-only transaction again on the newest snapshot.
    /// The corresponding C function is `mdb_txn_renew`.
    func renew() throws {
        try check(mdb_txn_renew(live))
        pages = PageMap(environment: environment, transaction: live)
        roots = [:]
    }

    /// Opens (and in a write transaction creates) a named database.
    public func openDatabase(_ name: String, create: Bool) throws -> LMDBDatabase {
        var dbi: MDB_dbi = 0
        try check(mdb_dbi_open(live, name, create ? UInt32(MDB_CREATE) : 0, &dbi))
        return LMDBDatabase(dbi: dbi, name: name)
    }

    /// Calls `body` with the value stored under `key`, or returns nil when there is none. The bytes
    /// point into the map and are valid only inside `body`.
    public func get<R>(_ database: LMDBDatabase, key: UnsafeRawBufferPointer,
                       _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        try checkPath(database, to: .atLeast(key))
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var value = MDB_val()
        let code = mdb_get(live, database.dbi, &keyValue, &value)
        if code == MDB_NOTFOUND { return nil }
        try check(code)
        return try body(try PageMap.checked(value, pages))
    }

    /// Checks the pages a search of `database` toward `target` reads (a read transaction's only).
    func checkPath(_ database: LMDBDatabase, to target: PageMap.Target) throws {
        guard let pages else { return }
        try pages.checkPath(root: try root(of: database, pages), to: target)
    }

    /// The root page of `database` in this snapshot, from its record in the main database, read
    /// (once per transaction) on a checked path. The corresponding C function is `mdb_get`.
    private func root(of database: LMDBDatabase, _ pages: PageMap) throws -> UInt64 {
        if roots[database.dbi] == nil {
            var record = MDB_val()
            var nameBytes = Array(database.name.utf8)
            let code: Int32 = try nameBytes.withUnsafeMutableBytes { name in
                try pages.checkPath(root: pages.mainRoot, to: .atLeast(UnsafeRawBufferPointer(name)))
                var key = MDB_val(mv_size: name.count, mv_data: name.baseAddress)
                return mdb_get(live, PageMap.mainDatabase, &key, &record)
            }
            try check(code)
            // The record is an MDB_db of 48 bytes; its root page number ends it.
            let bytes = try PageMap.checked(record, pages)
            guard bytes.count == 48 else { throw LMDBError.corrupted }
            roots[database.dbi] = bytes.loadUnaligned(fromByteOffset: 40, as: UInt64.self)
        }
        return roots[database.dbi]!
    }

    public func put(_ database: LMDBDatabase, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer,
                    append: Bool = false) throws {
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var dataValue = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try check(mdb_put(live, database.dbi, &keyValue, &dataValue, append ? UInt32(MDB_APPEND) : 0))
    }

    /// Deletes `key`; returns false when it was not there.
    @discardableResult
    public func delete(_ database: LMDBDatabase, key: UnsafeRawBufferPointer) throws -> Bool {
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let code = mdb_del(live, database.dbi, &keyValue, nil)
        if code == MDB_NOTFOUND { return false }
        try check(code)
        return true
    }

    public func get<R>(_ database: LMDBDatabase, key: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        try key.withUnsafeBytes { try get(database, key: $0, body) }
    }

    public func put(_ database: LMDBDatabase, key: [UInt8], value: [UInt8], append: Bool = false) throws {
        try key.withUnsafeBytes { key in
            try value.withUnsafeBytes { value in try put(database, key: key, value: value, append: append) }
        }
    }

    @discardableResult
    public func delete(_ database: LMDBDatabase, key: [UInt8]) throws -> Bool {
        try key.withUnsafeBytes { try delete(database, key: $0) }
    }

    public func entryCount(_ database: LMDBDatabase) throws -> Int {
        // LMDB reads the database's record in the main database for this: check the way there.
        if let pages { _ = try root(of: database, pages) }
        var stat = MDB_stat()
        try check(mdb_stat(live, database.dbi, &stat))
        return stat.ms_entries
    }

    public func cursor(_ database: LMDBDatabase) throws -> LMDBCursor {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(live, database.dbi, &cursor))
        guard let cursor else { throw LMDBError(ENOMEM) }
        return LMDBCursor(handle: cursor, transaction: self, database: database, pages: pages)
    }
}

/// A cursor over one database, closed when released. Keys and values it yields point into the map
/// and are valid only until the cursor moves or its transaction ends.
public final class LMDBCursor {
    private let handle: OpaquePointer
    private let transaction: LMDBTransaction
    private let database: LMDBDatabase
    private let pages: PageMap?
    /// The key of the entry the cursor is on (in the map), for `next()` and `previous()`.
    private var currentKey: UnsafeRawBufferPointer?
    init(handle: OpaquePointer, transaction: LMDBTransaction, database: LMDBDatabase, pages: PageMap?) {
        self.handle = handle
        self.transaction = transaction
        self.database = database
        self.pages = pages
    }
    deinit { mdb_cursor_close(handle) }

    public typealias Entry = (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)

    /// Moves the cursor once the pages LMDB reads on the way (`target`) are checked.
    private func move(_ operation: MDB_cursor_op, toward target: PageMap.Target?, key: UnsafeRawBufferPointer? = nil) throws -> Entry? {
        currentKey = nil
        if let target { try transaction.checkPath(database, to: target) }
        var keyValue = MDB_val(mv_size: key?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: key?.baseAddress))
        var value = MDB_val()
        let code = mdb_cursor_get(handle, &keyValue, &value, operation)
        if code == MDB_NOTFOUND { return nil }
        try check(code)
        let entry = (key: try PageMap.checked(keyValue, pages), value: try PageMap.checked(value, pages))
        currentKey = entry.key
        return entry
    }

    public func first() throws -> Entry? { try move(MDB_FIRST, toward: .first) }
    public func last() throws -> Entry? { try move(MDB_LAST, toward: .last) }

    /// The entry after the current one. Within a page, MDB_NEXT reads nothing new. From a page's last
    /// entry it would step to the next page through the parent, so a read transaction searches
    /// instead for the smallest key above the current one (the key and a 0 byte): the same entry, on
    /// a path that is checked first.
    public func next() throws -> Entry? {
        guard let pages, let currentKey, try pages.isAtEdgeOfItsPage(key: currentKey, last: true) else {
            return try move(MDB_NEXT, toward: nil)
        }
        let successor = Array(currentKey) + [0]
        return try successor.withUnsafeBytes { try move(MDB_SET_RANGE, toward: .atLeast($0), key: $0) }
    }

    /// The entry before the current one; from a page's first entry, the page before is checked first.
    public func previous() throws -> Entry? {
        guard let pages, let currentKey, try pages.isAtEdgeOfItsPage(key: currentKey, last: false) else {
            return try move(MDB_PREV, toward: nil)
        }
        return try move(MDB_PREV, toward: .before(currentKey))
    }

    /// Positions at the first key greater than or equal to `key`.
    public func seek(atLeast key: UnsafeRawBufferPointer) throws -> Entry? { try move(MDB_SET_RANGE, toward: .atLeast(key), key: key) }
    public func seek(atLeast key: [UInt8]) throws -> Entry? { try key.withUnsafeBytes { try seek(atLeast: $0) } }
}
