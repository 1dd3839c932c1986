import CLMDB
#if canImport(Glibc)
import Glibc
#endif

// The checks LMDB does not make. LMDB trusts every page it reaches: on a damaged one it reads node
// offsets and sizes as the bytes say (past the page, the map or the file: SIGSEGV, SIGBUS), and where
// it expects a leaf it asserts (mdb.c `mdb_cassert`: `abort()`). So before a read transaction lets
// LMDB search a tree, the path LMDB will take is walked here the way `mdb_page_search` walks it, and
// each page on it checked: its own page number, its kind, its header and its nodes' bounds. A page
// that fails is `LMDBError.corrupted`, which the store reports as damage. Layout (mdb.c, 64-bit): a
// page is a 16-byte header (`mp_pgno` 8, `mp_pad` 2, `mp_flags` 2, `mp_lower` 2, `mp_upper` 2), then
// `mp_ptrs`, the 2-byte offsets of its nodes; a node is `mn_lo`, `mn_hi`, `mn_flags`, `mn_ksize`
// (2 bytes each), then the key (a branch node's child page number is lo | hi << 16 | flags << 32).

/// A read transaction's pages as this process maps them.
struct PageMap {
    static let pageHeaderBytes = 16
    static let nodeHeaderBytes = 8
    static let branchFlag: UInt16 = 0x01
    static let leafFlag: UInt16 = 0x02
    /// The bits that say what a page is (branch, leaf, overflow, meta, LEAF2, sub-page).
    static let kindFlags: UInt16 = 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40
    /// LMDB's CURSOR_STACK: no tree is deeper.
    static let depthMax = 32
    /// P_INVALID: a database with no root page.
    static let noPage = UInt64.max
    /// The main database, which holds the named ones (MAIN_DBI in mdb.c).
    static let mainDatabase: MDB_dbi = 1

    let base: UnsafeRawPointer
    let pageBytes: Int
    let pageCount: UInt64
    /// The main database's root in this transaction's snapshot.
    let mainRoot: UInt64

    /// Nil when the map cannot be located, when pages need not be aligned in memory (a page size
    /// above the system's, from a file made on another machine), or when the snapshot's meta page was
    /// already reused by later commits: then the transaction reads unchecked, as LMDB alone would.
    /// The corresponding C functions are `mdb_env_info` and `mdb_txn_id`.
    init?(environment: LMDBEnvironment, transaction: OpaquePointer) {
        let address = environment.mapAddress
        guard address != 0, let base = UnsafeRawPointer(bitPattern: address),
              environment.pageSizeBytes <= sysconf(Int32(_SC_PAGESIZE)) else { return nil }
        self.base = base
        pageBytes = environment.pageSizeBytes
        var info = MDB_envinfo()
        mdb_env_info(environment.handle, &info)
        pageCount = UInt64(info.me_last_pgno) + 1
        // The snapshot's meta page is the one (of the two that start the file) with its txnid.
        let snapshot = UInt64(mdb_txn_id(transaction))
        let metaPages = [base, base + environment.pageSizeBytes]
        guard let meta = metaPages.first(where: { $0.loadUnaligned(fromByteOffset: 144, as: UInt64.self) == snapshot }) else { return nil }
        mainRoot = meta.loadUnaligned(fromByteOffset: 128, as: UInt64.self)
    }

    /// Where a cursor goes: the first or last leaf; the leaf LMDB's search for a key reaches, and the
    /// next leaf when that one ends before the key (MDB_SET_RANGE steps on to it; `atLeast`); or the
    /// leaf before the one holding a key (where MDB_PREV steps from its first entry; `before`).
    enum Target {
        case first, last
        case atLeast(UnsafeRawBufferPointer)
        case before(UnsafeRawBufferPointer)
    }

    /// A branch page on the way down and the child taken from it.
    private typealias Step = (page: UnsafeRawPointer, index: Int, count: Int)

    /// Checks every page LMDB will read to reach `target` from `root`.
    func checkPath(root: UInt64, to target: Target) throws {
        guard root != PageMap.noPage else { return }
        var path: [Step] = []
        switch target {
        case .first, .last:
            _ = try descend(from: root, toward: target, path: &path)
        case .atLeast(let key):
            let leaf = try descend(from: root, toward: target, path: &path)
            let count = try nodeCount(leaf)
            if count > 0, try node(leaf, count - 1).key.lexicographicallyPrecedes(key) { try checkSibling(of: path, right: true) }
        case .before(let key):
            _ = try descend(from: root, toward: .atLeast(key), path: &path)
            try checkSibling(of: path, right: false)
        }
    }

    /// Walks down from `root` as `mdb_page_search_root` does, checking each page; returns the leaf.
    private func descend(from root: UInt64, toward target: Target, path: inout [Step]) throws -> UnsafeRawPointer {
        var pageNumber = root
        for _ in 0..<PageMap.depthMax {
            let page = try self.page(pageNumber)
            let kind = page.loadUnaligned(fromByteOffset: 10, as: UInt16.self) & PageMap.kindFlags
            if kind == PageMap.leafFlag {
                try PageMap.checkTreePage(page, pageBytes: pageBytes)
                return page
            }
            let count = try nodeCount(page)
            guard kind == PageMap.branchFlag, count > 0 else { throw LMDBError.corrupted }
            let index = try childIndex(page, count: count, target)
            path.append((page, index, count))
            pageNumber = try node(page, index).child
        }
        throw LMDBError.corrupted
    }

    /// Checks the leaf beside the one `path` leads to, reached as `mdb_cursor_sibling` does: up to
    /// the nearest branch with a child on that side, then down its edge.
    private func checkSibling(of path: [Step], right: Bool) throws {
        for step in path.reversed() where right ? step.index < step.count - 1 : step.index > 0 {
            var ignored: [Step] = []
            _ = try descend(from: try node(step.page, step.index + (right ? 1 : -1)).child, toward: right ? .first : .last, path: &ignored)
            return
        }
    }

    /// The page `number`, which must be in use and say it is that page.
    private func page(_ number: UInt64) throws -> UnsafeRawPointer {
        guard number < pageCount else { throw LMDBError.pageNotFound }
        let page = base + Int(number) * pageBytes
        guard page.loadUnaligned(as: UInt64.self) == number else { throw LMDBError.corrupted }
        return page
    }

    /// The number of nodes, from a header whose bounds hold.
    private func nodeCount(_ page: UnsafeRawPointer) throws -> Int { try PageMap.nodeCount(page, pageBytes: pageBytes) }

    private func node(_ page: UnsafeRawPointer, _ index: Int) throws -> (key: UnsafeRawBufferPointer, child: UInt64) {
        try PageMap.node(page, index, pageBytes: pageBytes)
    }

    /// Checks a page's kind (leaf or branch), header and every node; for a page read from the file.
    static func checkTreePage(_ page: UnsafeRawPointer, pageBytes: Int) throws {
        let kind = page.loadUnaligned(fromByteOffset: 10, as: UInt16.self) & PageMap.kindFlags
        let count = try nodeCount(page, pageBytes: pageBytes)
        guard kind == PageMap.leafFlag || (kind == PageMap.branchFlag && count > 0) else { throw LMDBError.corrupted }
        for index in 0..<count { _ = try node(page, index, pageBytes: pageBytes) }
    }

    static func nodeCount(_ page: UnsafeRawPointer, pageBytes: Int) throws -> Int {
        let lower = Int(page.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
        let upper = Int(page.loadUnaligned(fromByteOffset: 14, as: UInt16.self))
        guard lower >= PageMap.pageHeaderBytes, lower % 2 == 0, lower <= upper, upper <= pageBytes else {
            throw LMDBError.corrupted
        }
        return (lower - PageMap.pageHeaderBytes) / 2
    }

    /// Node `index`: its key, which must lie in the page, and the child page it names (in a branch).
    static func node(_ page: UnsafeRawPointer, _ index: Int, pageBytes: Int) throws -> (key: UnsafeRawBufferPointer, child: UInt64) {
        let offset = Int(page.loadUnaligned(fromByteOffset: PageMap.pageHeaderBytes + 2 * index, as: UInt16.self))
        let upper = Int(page.loadUnaligned(fromByteOffset: 14, as: UInt16.self))
        guard offset >= upper, offset + PageMap.nodeHeaderBytes <= pageBytes else { throw LMDBError.corrupted }
        let keyBytes = Int(page.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self))
        guard offset + PageMap.nodeHeaderBytes + keyBytes <= pageBytes else { throw LMDBError.corrupted }
        let child = UInt64(page.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            | UInt64(page.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self)) << 16
            | UInt64(page.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self)) << 32
        return (UnsafeRawBufferPointer(start: page + offset + PageMap.nodeHeaderBytes, count: keyBytes), child)
    }

    /// The child a branch search takes, as `mdb_page_search_root` chooses it: the last node whose key
    /// is at or below the key searched for, node 0's key counting as the lowest.
    private func childIndex(_ page: UnsafeRawPointer, count: Int, _ target: Target) throws -> Int {
        switch target {
        case .first: return 0
        case .last: return count - 1
        case .atLeast(let key), .before(let key):
            var low = 1, high = count
            while low < high {
                let middle = (low + high) / 2
                if key.lexicographicallyPrecedes(try node(page, middle).key) { high = middle } else { low = middle + 1 }
            }
            return low - 1
        }
    }

    /// True when `key` (as a cursor returned it) is the key of the last (or first) node of its page.
    func isAtEdgeOfItsPage(key: UnsafeRawBufferPointer, last: Bool) throws -> Bool {
        guard let keyAddress = key.baseAddress else { throw LMDBError.corrupted }
        let offsetInPage = Int(UInt(bitPattern: keyAddress) % UInt(pageBytes))
        guard offsetInPage >= PageMap.pageHeaderBytes + PageMap.nodeHeaderBytes else { throw LMDBError.corrupted }
        let page = UnsafeRawPointer(keyAddress) - offsetInPage
        let count = try nodeCount(page)
        guard count > 0 else { throw LMDBError.corrupted }
        let edge = PageMap.pageHeaderBytes + 2 * (last ? count - 1 : 0)
        return Int(page.loadUnaligned(fromByteOffset: edge, as: UInt16.self)) == offsetInPage - PageMap.nodeHeaderBytes
    }

    /// A key or value as LMDB returned it, refused unless it lies in the pages in use: in its page,
    /// or (a value on overflow pages of its own, which starts right after their header) within the
    /// pages in use.
    static func checked(_ value: MDB_val, _ pages: PageMap?) throws -> UnsafeRawBufferPointer {
        let buffer = UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size)
        guard let pages, let start = buffer.baseAddress, value.mv_size > 0 else { return buffer }
        let mapBytes = Int(pages.pageCount) * pages.pageBytes
        let offset = start - pages.base
        guard offset >= 0, offset < mapBytes else { throw LMDBError.corrupted }
        let offsetInPage = offset % pages.pageBytes
        let limit = offsetInPage == pageHeaderBytes ? mapBytes - offset : pages.pageBytes - offsetInPage
        guard value.mv_size <= limit else { throw LMDBError.corrupted }
        return buffer
    }
}

extension LMDBEnvironment {
    /// Where this process maps the data file, from /proc/self/maps (the mapping of the file's inode
    /// at offset 0); 0 when not found. LMDB does not tell (`me_mapaddr` is only the address asked for
    /// with MDB_FIXEDMAP), and it maps the file anew when the map size changes.
    /// The corresponding C functions are `mdb_env_get_fd`, `fstat`, `open` and `read`.
    func locateMap() -> UInt {
        var descriptor: Int32 = -1
        var info = stat()
        guard mdb_env_get_fd(handle, &descriptor) == 0, fstat(descriptor, &info) == 0 else { return 0 }
        let maps = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)
        guard maps >= 0 else { return 0 }
        defer { Glibc.close(maps) }
        var text: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(maps, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            text += chunk[0..<count]
        }
        // start-end perms offset dev inode path
        for line in text.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
            guard fields.count >= 6, UInt64(String(decoding: fields[4], as: UTF8.self)) == UInt64(info.st_ino),
                  UInt64(String(decoding: fields[2], as: UTF8.self), radix: 16) == 0,
                  let dash = fields[0].firstIndex(of: UInt8(ascii: "-")),
                  let start = UInt(String(decoding: fields[0][..<dash], as: UTF8.self), radix: 16) else { continue }
            return start
        }
        return 0
    }
}
