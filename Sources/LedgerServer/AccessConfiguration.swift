#if canImport(Glibc)
import Glibc
#endif

/// Reads the access policy: the file `/etc/stockd/access.conf` (or `--access FILE`) and the
/// `--writers`, `--readers`, `--default-role` flags, which add to it.
///
/// File format, one rule a line, `#` starts a comment:
///
///     writer user  oms-service
///     writer group stock-writers
///     reader group stockd
///     default reader
///
/// Users and groups are names (looked up in the system's databases) or numeric ids. A rule naming
/// an unknown user or group is an error at start-up, not a silent hole in the policy.
public enum AccessConfiguration {
    public static let defaultPath = "/etc/stockd/access.conf"

    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses the file's text into `policy`. `origin` names the file in error messages.
    public static func apply(fileText: String, origin: String, to policy: inout AccessPolicy) throws {
        for (number, rawLine) in fileText.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if words.isEmpty { continue }
            do {
                switch words.count {
                case 2 where words[0] == "default":
                    guard let role = AccessPolicy.Role(rawValue: words[1]) else { throw Problem(description: "role must be reader or writer") }
                    policy.defaultRole = role
                case 3:
                    try addRule(role: words[0], kind: words[1], name: words[2], to: &policy)
                default:
                    throw Problem(description: "expected `<writer|reader> <user|group> <name>` or `default <role>`")
                }
            } catch let problem as Problem {
                throw Problem(description: "\(origin):\(number + 1): \(problem.description)")
            }
        }
    }

    /// Parses a flag's list: `user:alice,group:staff,1001` (a bare entry is a user).
    public static func apply(flag: String, role: AccessPolicy.Role, to policy: inout AccessPolicy) throws {
        for entry in flag.split(separator: ",") {
            let parts = entry.split(separator: ":", maxSplits: 1).map(String.init)
            let (kind, name) = parts.count == 2 ? (parts[0], parts[1]) : ("user", parts[0])
            try addRule(role: role.rawValue, kind: kind, name: name, to: &policy)
        }
    }

    private static func addRule(role: String, kind: String, name: String, to policy: inout AccessPolicy) throws {
        guard let role = AccessPolicy.Role(rawValue: role) else { throw Problem(description: "role must be reader or writer, not \(role)") }
        switch kind {
        case "user":
            let uid = try userID(name)
            if role == .writer { policy.writerUsers.insert(uid) } else { policy.readerUsers.insert(uid) }
        case "group":
            let gid = try groupID(name)
            if role == .writer { policy.writerGroups.insert(gid) } else { policy.readerGroups.insert(gid) }
        default:
            throw Problem(description: "kind must be user or group, not \(kind)")
        }
    }

    static func userID(_ name: String) throws -> UInt32 {
        if let number = UInt32(name) { return number }
        guard let entry = getpwnam(name) else { throw Problem(description: "no such user: \(name)") }
        return entry.pointee.pw_uid
    }

    static func groupID(_ name: String) throws -> UInt32 {
        if let number = UInt32(name) { return number }
        guard let entry = getgrnam(name) else { throw Problem(description: "no such group: \(name)") }
        return entry.pointee.gr_gid
    }

    /// Reads a file if it exists; nil when it does not.
    public static func readFile(_ path: String) throws -> String? {
        guard let file = fopen(path, "r") else {
            if errno == ENOENT { return nil }
            throw Problem(description: "\(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
