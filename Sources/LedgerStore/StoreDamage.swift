#if canImport(Glibc)
import Glibc
#endif

/// The data file is damaged: a meta page, the file's length, a page or a record is not what stockd
/// wrote. Never a domain refusal and never a crash: the daemon refuses to start on it (exit code 3,
/// docs/operating.md), a read that meets it answers `ERR UNAVAILABLE store damaged at seq N`, and
/// `stockctl verify` lists every one it meets. The recovery is in docs/operating.md ("Recovery").
public struct StoreDamage: Error, CustomStringConvertible, Sendable {
    /// The damaged file (`…/data.mdb`).
    public var path: String
    /// The log position where the damage was met, when it is in or about the log.
    public var seq: UInt64?
    /// What is wrong, for people.
    public var what: String

    public init(path: String, seq: UInt64? = nil, _ what: String) {
        self.path = path
        self.seq = seq
        self.what = what
    }

    /// The reply's words: `store damaged at seq N` (or `store damaged` when no seq is known).
    public var summary: String { seq.map { "store damaged at seq \($0)" } ?? "store damaged" }

    /// One line naming the file, where, and what.
    public var description: String { "\(summary): \(path): \(what)" }
}

/// Checks `data.mdb` before LMDB maps it. LMDB trusts its file: a file shorter than the pages its
/// meta page names is mapped anyway and the first touch past the end kills the process with SIGBUS,
/// and an empty file is silently made into a new, empty environment. So the two meta pages are read
/// here with `pread` and the file's length compared with what they need.
///
/// The layout is LMDB's own (mdb.c, 64-bit): each meta page is a 16-byte page header (`mp_pgno`,
/// `mp_pad`, `mp_flags` with `P_META`, `mp_lower`/`mp_upper`), then `MDB_meta`: `mm_magic`
/// (0xBEEFC0DE), `mm_version` (1), `mm_address`, `mm_mapsize`, two `MDB_db` of 48 bytes (the free
/// list's `md_pad` holds the page size; `md_root` ends each), `mm_last_pg`, `mm_txnid`. Meta page 0 starts the file and
/// meta page 1 starts at one page size.
public enum DataFileCheck {
    static let magic: UInt32 = 0xBEEF_C0DE
    static let dataVersion: UInt32 = 1
    static let metaFlag: UInt16 = 0x08
    /// Page header, then MDB_meta up to and including mm_txnid.
    static let metaBytes = 152
    /// LMDB's own bounds on the page size (MIN_PAGESIZE and MAX_PAGESIZE in mdb.c).
    static let pageBytesRange = 512...65_536
    /// P_INVALID: a database with no root page.
    static let noPage = UInt64.max

    /// What one meta page says.
    struct MetaPage {
        var pageBytes: Int
        var lastPage: UInt64
        var transactionID: UInt64
        var mainRoot: UInt64
    }

    /// Throws `StoreDamage` when `directory/data.mdb` exists but is empty, foreign, has a damaged
    /// meta page or is shorter than its meta pages need. A missing file is fine (LMDB creates it),
    /// and so is one that cannot be opened (LMDB then reports why, with the path).
    /// The corresponding C functions are `open`, `fstat` and `pread`.
    public static func check(directory: String) throws {
        let path = LedgerStore.dataFile(in: directory)
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return }
        let sizeBytes = Int(info.st_size)
        func damage(_ what: String) -> StoreDamage { StoreDamage(path: path, what) }
        guard sizeBytes > 0 else {
            throw damage("the file is empty (0 bytes), not a store: a new store needs a folder without data.mdb")
        }
        let first = try readMeta(descriptor, offset: 0, page: 0, sizeBytes: sizeBytes, damage)
        let second = try readMeta(descriptor, offset: first.pageBytes, page: 1, sizeBytes: sizeBytes, damage)
        guard first.pageBytes == second.pageBytes else {
            throw damage("the meta pages disagree on the page size (\(first.pageBytes) and \(second.pageBytes) bytes)")
        }
        let lastPage = max(first.lastPage, second.lastPage)
        // LMDB reads the main database (the names of the others) as it opens: check its root page.
        let newest = first.transactionID >= second.transactionID ? first : second
        let (pages, overflow) = lastPage.addingReportingOverflow(1)
        let (neededBytes, tooLarge) = pages.multipliedReportingOverflow(by: UInt64(first.pageBytes))
        guard !overflow, !tooLarge, neededBytes <= UInt64(sizeBytes) else {
            throw damage("the file is \(sizeBytes) bytes but its meta pages name pages up to \(lastPage) of \(first.pageBytes) bytes "
                         + "(\(tooLarge || overflow ? "more than the address space" : String(neededBytes)) bytes): it was truncated")
        }
        if newest.mainRoot != noPage {
            var page = [UInt8](repeating: 0, count: first.pageBytes)
            let offset = off_t(newest.mainRoot) * off_t(first.pageBytes)
            let count = page.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, first.pageBytes, offset) }
            let valid = count == first.pageBytes && page.withUnsafeBytes { bytes in
                bytes.loadUnaligned(as: UInt64.self) == newest.mainRoot
                    && (try? PageMap.checkTreePage(bytes.baseAddress!, pageBytes: first.pageBytes)) != nil
            }
            guard valid else { throw damage("page \(newest.mainRoot), the root of LMDB's main database (the names of the others), is damaged") }
        }
    }

    /// Reads and checks meta page `page` at `offset`.
    static func readMeta(_ descriptor: Int32, offset: Int, page: Int, sizeBytes: Int,
                         _ damage: (String) -> StoreDamage) throws -> MetaPage {
        var bytes = [UInt8](repeating: 0, count: metaBytes)
        let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, metaBytes, off_t(offset)) }
        guard count == metaBytes else {
            throw damage("the file is \(sizeBytes) bytes, too short for LMDB meta page \(page): not a store, or truncated")
        }
        func integer<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
            bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: T.self) }
        }
        guard integer(16, UInt32.self) == magic else {
            throw damage(page == 0 ? "not an LMDB file (no LMDB magic at the start): a foreign file, not a store"
                                   : "LMDB meta page 1 is damaged (no LMDB magic)")
        }
        guard integer(20, UInt32.self) == dataVersion else {
            throw damage("LMDB meta page \(page) has data format version \(integer(20, UInt32.self)), not \(dataVersion)")
        }
        guard integer(10, UInt16.self) & metaFlag != 0 else { throw damage("LMDB meta page \(page) is not marked as a meta page") }
        let pageBytes = Int(integer(40, UInt32.self))
        guard pageBytesRange.contains(pageBytes), pageBytes.nonzeroBitCount == 1 else {
            throw damage("LMDB meta page \(page) names a page size of \(pageBytes) bytes")
        }
        let meta = MetaPage(pageBytes: pageBytes, lastPage: integer(136, UInt64.self), transactionID: integer(144, UInt64.self),
                            mainRoot: integer(128, UInt64.self))
        // The roots of LMDB's two core databases (free list, main) lie within the pages in use.
        for root in [integer(80, UInt64.self), integer(128, UInt64.self)] where root != noPage && root > meta.lastPage {
            throw damage("LMDB meta page \(page) names root page \(root) beyond its last page \(meta.lastPage)")
        }
        return meta
    }
}
