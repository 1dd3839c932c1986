import LedgerCore
import LedgerStore
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// One daemon per data folder: an exclusive `flock` on `<data>/stockd.lock`, taken before anything
/// else in the folder is touched and held for the life of the process (the kernel drops it when the
/// process dies, however it dies). The file holds the holder's pid, for the message a second daemon
/// prints.
final class DataFolderLock: Sendable {
    enum Failure: Error, CustomStringConvertible {
        case held(folder: String, pid: String)
        case system(Syscalls.Failure)

        var description: String {
            switch self {
            case let .held(folder, pid):
                "the data folder \(folder) is in use by another stockd (pid \(pid)); one daemon per data folder"
            case .system(let failure): "\(failure)"
            }
        }
    }

    let path: String
    private let descriptor: Int32

    init(folder: String) throws(Failure) {
        let path = folder + "/stockd.lock"
        self.path = path
        do {
            try Syscalls.makeDirectories(folder, mode: 0o750)
            descriptor = try Syscalls.check("cannot open the lock file", path) { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        } catch { throw .system(error) }
        if flock(descriptor, LOCK_EX | LOCK_NB) == -1 {
            let code = errno
            var bytes = [UInt8](repeating: 0, count: 32)
            let count = pread(descriptor, &bytes, bytes.count, 0)
            close(descriptor)
            guard code == EWOULDBLOCK else {
                throw .system(Syscalls.Failure(what: "cannot lock", path: path, errno: Errno(rawValue: code)))
            }
            let pid = String(decoding: bytes.prefix(max(0, count)), as: UTF8.self).filter(\.isNumber)
            throw .held(folder: folder, pid: pid.isEmpty ? "unknown" : pid)
        }
        let text = Array("\(getpid())\n".utf8)
        let descriptor = self.descriptor
        do {
            try Syscalls.check("cannot write the lock file", path) { ftruncate(descriptor, 0) }
            try Syscalls.check("cannot write the lock file", path) { Int32(pwrite(descriptor, text, text.count, 0)) }
        } catch { throw .system(error) }
    }

    /// Releases the lock (a clean stop; a crash releases it too).
    func release() { close(descriptor) }
}

/// The socket file: never taken from a live server, and born with its final permission bits.
enum SocketFile {
    enum Failure: Error, CustomStringConvertible {
        case inUse(String)
        case notASocket(String)
        case system(Syscalls.Failure)

        var description: String {
            switch self {
            case .inUse(let path): "the socket \(path) is served by another process; stop it or choose another --socket"
            case .notASocket(let path): "\(path) exists and is not a socket; remove it or choose another --socket"
            case .system(let failure): "\(failure)"
            }
        }
    }

    /// Removes a stale socket file left by a daemon that died; refuses when something answers on it
    /// or when the path is not a socket. A missing folder is reported with its path.
    static func clear(_ path: String) throws(Failure) {
        var status = stat()
        guard lstat(path, &status) == 0 else {
            if errno == ENOENT {
                let folder = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
                if !folder.isEmpty, access(folder, F_OK) != 0 {
                    throw .system(Syscalls.Failure(what: "cannot create the socket in", path: folder, errno: Errno(rawValue: errno)))
                }
                return
            }
            throw .system(Syscalls.Failure(what: "cannot inspect", path: path, errno: Errno(rawValue: errno)))
        }
        guard status.st_mode & S_IFMT == S_IFSOCK else { throw .notASocket(path) }
        if answers(path) { throw .inUse(path) }
        do { try Syscalls.check("cannot remove the stale socket", path) { unlink(path) } } catch { throw .system(error) }
    }

    /// Whether a server accepts connections on the socket at `path`.
    static func answers(_ path: String) -> Bool {
        guard let (descriptor, address) = try? unixSocket(path) else { return false }
        defer { close(descriptor) }
        return withUnsafePointer(to: address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        } == 0
    }

    /// A listening socket at `path`, born with permission bits `mode`: it is bound under a umask
    /// that gives exactly those bits, so it is never reachable with wider ones, even for an
    /// instant. The umask is the process's; nothing else creates files while the daemon binds.
    static func listen(_ path: String, mode: mode_t, backlog: Int32) throws(Failure) -> Int32 {
        let (descriptor, address) = try unixSocket(path)
        let previous = umask(~mode & 0o777)
        let bound = withUnsafePointer(to: address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        let code = errno
        umask(previous)
        if bound == -1 {
            close(descriptor)
            throw .system(Syscalls.Failure(what: "cannot bind the socket", path: path, errno: Errno(rawValue: code)))
        }
        if Glibc.listen(descriptor, backlog) == -1 {
            let code = errno
            close(descriptor)
            throw .system(Syscalls.Failure(what: "cannot listen on", path: path, errno: Errno(rawValue: code)))
        }
        return descriptor
    }

    private static func unixSocket(_ path: String) throws(Failure) -> (Int32, sockaddr_un) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw .system(Syscalls.Failure(what: "socket path too long:", path: path, errno: .fileNameTooLong))
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: bytes) }
        do {
            let descriptor = try Syscalls.check("cannot create a socket for", path) {
                socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            }
            return (descriptor, address)
        } catch { throw .system(error) }
    }
}

/// File descriptors: the daemon raises its soft limit to what the connection limits need, and
/// when the hard limit is lower, serves fewer connections rather than run out of descriptors
/// (out of descriptors, a client would hang unanswered instead of reading `ERR LIMIT`).
enum DescriptorLimit {
    /// Descriptors kept for LMDB, the lock file, the listening socket, the event loops and the journal.
    static let reserved = 32

    /// The connection slots the daemon can serve: what `Limits` asks for when the limit allows it
    /// (raising the soft limit up to the hard one), fewer otherwise; and the soft limit in force.
    static func fit() -> (slots: ConnectionRegistry.Slots, softLimit: UInt64) {
        let wanted = ConnectionRegistry.Slots()
        var limit = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        guard getrlimit(resource, &limit) == 0 else { return (wanted, 0) }
        let needed = rlim_t(wanted.forRoot + reserved)
        if limit.rlim_cur < needed {
            var raised = limit
            raised.rlim_cur = min(needed, limit.rlim_max)
            if setrlimit(resource, &raised) == 0 { limit = raised }
        }
        let total = max(2, Int(limit.rlim_cur) - reserved)
        guard total < wanted.forRoot else { return (wanted, UInt64(limit.rlim_cur)) }
        let rootOnly = min(Limits.connectionsReservedForRoot, total / 4)
        return (ConnectionRegistry.Slots(forOthers: total - rootOnly, forRoot: total), UInt64(limit.rlim_cur))
    }
}
