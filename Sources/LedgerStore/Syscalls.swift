import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// System calls on paths, in one place for the store and the daemon: each failure is an `Errno`
/// with the path it was about, so the one-line diagnosis names what to look at.
public enum Syscalls {
    /// A system call that failed, with the path or object it was about.
    public struct Failure: Error, CustomStringConvertible {
        public let what: String
        public let path: String
        public let errno: Errno

        public init(what: String, path: String, errno: Errno) {
            self.what = what
            self.path = path
            self.errno = errno
        }

        public var description: String { "\(what) \(path): \(errno)" }
    }

    /// Runs a call returning -1 on failure, turning errno into a `Failure`.
    @discardableResult
    public static func check(_ what: String, _ path: String, _ call: () -> Int32) throws(Failure) -> Int32 {
        let result = call()
        if result == -1 { throw Failure(what: what, path: path, errno: Errno(rawValue: errno)) }
        return result
    }

    /// Creates `path` and its missing parents with `mode` (an existing folder is left as it is).
    public static func makeDirectories(_ path: String, mode: mode_t = 0o700) throws(Failure) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, mode) == -1, errno != EEXIST {
                throw Failure(what: "cannot create the folder", path: prefix, errno: Errno(rawValue: errno))
            }
            prefix += "/"
        }
    }
}
