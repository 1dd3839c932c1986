/// Where and as whom the relay connects to PostgreSQL, read from a `postgres://` URL.
///
/// Form: `postgres://user[:password]@[host][:port]/database[?host=/socket/dir&sslmode=MODE]`
/// (`postgresql://` too). `user`, `password` and `database` may be percent-encoded. A `host=` query
/// parameter that starts with `/` names the folder of PostgreSQL's Unix socket: the relay connects to
/// `<dir>/.s.PGSQL.<port or 5432>`, as libpq does. With no host at all, the socket folder is libpq's
/// default on Debian, `/var/run/postgresql`. `sslmode` is `disable`, `prefer` or `require`; the
/// default is `prefer` over TCP (libpq's default) and `disable` over a Unix socket (TLS is never used
/// there).
struct PostgresURL: Equatable, Sendable {
    enum Endpoint: Equatable, Sendable {
        case tcp(host: String, port: Int)
        /// The socket file itself, `<dir>/.s.PGSQL.<port>`.
        case unixSocket(path: String)
    }

    enum TLSMode: String, Equatable, Sendable {
        case disable, prefer, require
    }

    var user: String
    var password: String?
    var endpoint: Endpoint
    var database: String
    var tlsMode: TLSMode

    static let defaultPort = 5432
    static let defaultSocketDirectory = "/var/run/postgresql"

    /// Why a URL was refused; the text names the part, never the password.
    struct ParseError: Error, Equatable, CustomStringConvertible {
        var description: String
    }

    init(user: String, password: String?, endpoint: Endpoint, database: String, tlsMode: TLSMode) {
        self.user = user
        self.password = password
        self.endpoint = endpoint
        self.database = database
        self.tlsMode = tlsMode
    }

    init(parsing text: String) throws(ParseError) {
        // A file or a credential usually ends with a newline; nothing else around the URL is allowed.
        let text = text.trimmingWhitespace()
        var rest: Substring
        if text.hasPrefix("postgres://") {
            rest = text.dropFirst("postgres://".count)
        } else if text.hasPrefix("postgresql://") {
            rest = text.dropFirst("postgresql://".count)
        } else {
            throw ParseError(description: "a PostgreSQL URL starts with postgres:// or postgresql://")
        }

        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        guard let slash = rest.firstIndex(of: "/") else {
            throw ParseError(description: "the URL names no database (postgres://user@host/DATABASE)")
        }
        let authority = rest[..<slash]
        let databaseText = rest[rest.index(after: slash)...]
        guard let database = PostgresURL.percentDecoded(databaseText), !database.isEmpty else {
            throw ParseError(description: "the URL names no database (postgres://user@host/DATABASE)")
        }
        // The password may hold '@' only percent-encoded, so the last '@' ends the user part.
        guard let at = authority.lastIndex(of: "@") else {
            throw ParseError(description: "the URL names no user (postgres://USER@host/database)")
        }
        let userInfo = authority[..<at]
        let hostPort = authority[authority.index(after: at)...]
        var password: String? = nil
        var userText = userInfo
        if let colon = userInfo.firstIndex(of: ":") {
            userText = userInfo[..<colon]
            guard let decoded = PostgresURL.percentDecoded(userInfo[userInfo.index(after: colon)...]) else {
                throw ParseError(description: "the password has a bad percent escape")
            }
            password = decoded
        }
        guard let user = PostgresURL.percentDecoded(userText), !user.isEmpty else {
            throw ParseError(description: "the URL names no user (postgres://USER@host/database)")
        }

        let (host, port) = try PostgresURL.hostAndPort(hostPort)

        var socketDirectory: String? = nil
        var tlsMode: TLSMode? = nil
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, let value = PostgresURL.percentDecoded(parts[1]) else {
                throw ParseError(description: "bad query parameter: \(pair)")
            }
            switch parts[0] {
            case "host":
                guard value.hasPrefix("/") else {
                    throw ParseError(description: "host= must be an absolute socket folder (host=/run/postgresql)")
                }
                socketDirectory = value
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else {
                    throw ParseError(description: "sslmode must be disable, prefer or require, not \(value)")
                }
                tlsMode = mode
            default:
                throw ParseError(description: "unknown query parameter: \(parts[0])")
            }
        }

        if let socketDirectory {
            guard host == nil else {
                throw ParseError(description: "give either a host or ?host=/socket/dir, not both")
            }
            self.endpoint = .unixSocket(path: PostgresURL.socketPath(directory: socketDirectory, port: port ?? PostgresURL.defaultPort))
        } else if let host {
            self.endpoint = .tcp(host: host, port: port ?? PostgresURL.defaultPort)
        } else {
            self.endpoint = .unixSocket(path: PostgresURL.socketPath(directory: PostgresURL.defaultSocketDirectory, port: port ?? PostgresURL.defaultPort))
        }
        if case .unixSocket = self.endpoint, tlsMode == .require {
            throw ParseError(description: "sslmode=require cannot be met over a Unix socket")
        }
        self.user = user
        self.password = password
        self.database = database
        self.tlsMode = tlsMode ?? (self.endpoint.isUnixSocket ? .disable : .prefer)
    }

    /// The URL again with the password hidden, for logs and error messages.
    var redacted: String {
        let where_: String
        switch endpoint {
        case .tcp(let host, let port): where_ = "\(host.contains(":") ? "[\(host)]" : host):\(port)"
        case .unixSocket(let path): where_ = "unix:\(path)"
        }
        return "postgres://\(user)\(password == nil ? "" : ":***")@\(where_)/\(database)"
    }

    private static func socketPath(directory: String, port: Int) -> String {
        let trimmed = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        return "\(trimmed)/.s.PGSQL.\(port)"
    }

    private static func hostAndPort(_ text: Substring) throws(ParseError) -> (String?, Int?) {
        var hostText: Substring = text
        var portText: Substring? = nil
        if text.hasPrefix("[") {
            // An IPv6 literal: [::1]:5432.
            guard let close = text.firstIndex(of: "]") else {
                throw ParseError(description: "an IPv6 host needs its closing ]")
            }
            hostText = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw ParseError(description: "bad text after the IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let colon = text.lastIndex(of: ":") {
            hostText = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        var port: Int? = nil
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw ParseError(description: "the port must be a number from 1 to 65535")
            }
            port = value
        }
        return (hostText.isEmpty ? nil : String(hostText), port)
    }

    /// `%XX` escapes decoded; nil for a bad escape or bytes that are not UTF-8.
    static func percentDecoded(_ text: Substring) -> String? {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var utf8 = text.utf8[...]
        while let byte = utf8.popFirst() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard let high = utf8.popFirst().flatMap(hexValue), let low = utf8.popFirst().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension PostgresURL.Endpoint {
    var isUnixSocket: Bool {
        if case .unixSocket = self { return true }
        return false
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
