import Testing
@testable import stockrelay

struct PostgresURLTests {
    @Test func tcpWithEverything() throws {
        let url = try PostgresURL(parsing: "postgres://relay:s%40cret@db.example:6543/stock?sslmode=require\n")
        #expect(url == PostgresURL(user: "relay", password: "s@cret", endpoint: .tcp(host: "db.example", port: 6543),
                                   database: "stock", tlsMode: .require))
        #expect(url.redacted == "postgres://relay:***@db.example:6543/stock")
    }

    @Test func tcpDefaultsToPort5432AndPreferTLS() throws {
        let url = try PostgresURL(parsing: "postgresql://relay@10.0.0.5/stock")
        #expect(url.endpoint == .tcp(host: "10.0.0.5", port: 5432))
        #expect(url.password == nil)
        #expect(url.tlsMode == .prefer)
    }

    @Test func ipv6Literal() throws {
        let url = try PostgresURL(parsing: "postgres://relay@[::1]:5499/stock")
        #expect(url.endpoint == .tcp(host: "::1", port: 5499))
        #expect(url.redacted == "postgres://relay@[::1]:5499/stock")
    }

    @Test func unixSocketFolderFromQuery() throws {
        let url = try PostgresURL(parsing: "postgres://postgres@:5499/stock?host=/tmp/pgsock")
        #expect(url.endpoint == .unixSocket(path: "/tmp/pgsock/.s.PGSQL.5499"))
        #expect(url.tlsMode == .disable)
        let noPort = try PostgresURL(parsing: "postgres://postgres@/stock?host=%2Frun%2Fpostgresql%2F")
        #expect(noPort.endpoint == .unixSocket(path: "/run/postgresql/.s.PGSQL.5432"))
    }

    @Test func noHostMeansDefaultSocketFolder() throws {
        let url = try PostgresURL(parsing: "postgres://relay@/stock")
        #expect(url.endpoint == .unixSocket(path: "/var/run/postgresql/.s.PGSQL.5432"))
    }

    @Test func passwordMayHoldColonAndEncodedAt() throws {
        let url = try PostgresURL(parsing: "postgres://u:a:b%40c@h/d")
        #expect(url.user == "u")
        #expect(url.password == "a:b@c")
    }

    @Test(arguments: [
        ("mysql://u@h/d", "postgres://"),
        ("postgres://u@h", "no database"),
        ("postgres://u@h/", "no database"),
        ("postgres://h/d", "no user"),
        ("postgres://@h/d", "no user"),
        ("postgres://u@h:0/d", "port"),
        ("postgres://u@h:99999/d", "port"),
        ("postgres://u@h:x/d", "port"),
        ("postgres://u@h/d?host=relative", "absolute"),
        ("postgres://u@h/d?host=/run", "not both"),
        ("postgres://u@h/d?sslmode=verify-full", "sslmode"),
        ("postgres://u@/d?host=/run&sslmode=require", "Unix socket"),
        ("postgres://u@h/d?application_name=x", "unknown query parameter"),
        ("postgres://u:%zz@h/d", "percent"),
        ("postgres://u@[::1/d", "closing ]"),
    ])
    func refused(text: String, reason: String) {
        #expect {
            _ = try PostgresURL(parsing: text)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test func redactedNeverShowsThePassword() throws {
        let url = try PostgresURL(parsing: "postgres://relay:hunter2@h/d")
        #expect(!url.redacted.contains("hunter2"))
    }
}
