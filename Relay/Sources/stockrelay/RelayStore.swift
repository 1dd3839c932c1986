import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import Synchronization

/// The relay's side of PostgreSQL: the schema, a site's position, and the one transaction per batch.
///
/// One connection, used by one task at a time: the relay loop owns it and closes it on any error.
struct RelayStore: Sendable {
    let connection: PostgresConnection
    let logger: Logger

    /// The schema version this binary writes and reads. Each version's statements are in `Schema`.
    static let schemaVersion = 1

    static func connect(_ url: PostgresURL, on eventLoop: any EventLoop, logger: Logger) async throws -> RelayStore {
        var configuration: PostgresConnection.Configuration
        switch url.endpoint {
        case .unixSocket(let path):
            configuration = .init(unixSocketPath: path, username: url.user, password: url.password, database: url.database)
        case .tcp(let host, let port):
            let tls: PostgresConnection.Configuration.TLS
            switch url.tlsMode {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            configuration = .init(host: host, port: port, username: url.user, password: url.password, database: url.database, tls: tls)
        }
        // A PostgreSQL that does not answer at all (a dead host, a dropped route) must not hang the
        // loop: the connect gives up and the loop backs off and tries again.
        configuration.options.connectTimeout = .seconds(10)
        let connection = try await PostgresConnection.connect(on: eventLoop, configuration: configuration, id: 1, logger: logger)
        return RelayStore(connection: connection, logger: logger)
    }

    func close() async {
        try? await connection.close()
    }

    struct ConnectionClosed: Error, CustomStringConvertible {
        var description: String { "the PostgreSQL connection closed" }
    }

    /// Runs `body` (queries on this connection) unless or until the connection closes.
    ///
    /// Why: postgres-nio 1.33 hands a query to a connection that has already closed (PostgreSQL
    /// restarted while the relay was idle) to a channel that drops it, and the query's await never
    /// returns; the relay would hang for good, holding its stockd connection open (seen here with a
    /// `pg_ctl stop -m fast`). So the connection's close is raced against the work: whichever comes
    /// first decides. The work runs in a task of its own, which also lets a commit in flight finish
    /// when SIGTERM cancels the loop. A query abandoned this way is one that would never return; if
    /// it was a commit that did reach PostgreSQL, the next attempt reads the moved last_seq.
    func whileOpen<T: Sendable>(_ body: @escaping @Sendable (RelayStore) async throws -> T) async throws -> T {
        guard !connection.isClosed else { throw ConnectionClosed() }
        let once = ResumeOnce()
        let store = self
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            Task {
                do {
                    let value = try await body(store)
                    if once.claim() { continuation.resume(returning: value) }
                } catch {
                    if once.claim() { continuation.resume(throwing: error) }
                }
            }
            connection.closeFuture.whenComplete { _ in
                if once.claim() { continuation.resume(throwing: ConnectionClosed()) }
            }
        }
    }

    // MARK: Schema

    /// The schema version recorded in the database: nil when `stockd_schema` does not exist.
    func recordedSchemaVersion() async throws -> Int? {
        let exists = try await connection.query("select to_regclass('stockd_schema') is not null", logger: logger)
        for try await (present) in exists.decode(Bool.self) where !present { return nil }
        let rows = try await connection.query("select coalesce(max(version), 0) from stockd_schema", logger: logger)
        for try await (version) in rows.decode(Int.self) { return version }
        return 0
    }

    /// Creates or upgrades the schema to `schemaVersion`, in one transaction; a no-op when it is there.
    /// Returns the version found before.
    func initSchema() async throws -> Int {
        try await connection.withTransaction(logger: logger) { connection in
            try await connection.query("create table if not exists stockd_schema (version int primary key)", logger: logger)
            // Two relays running --init-schema at once: the second waits here, then sees the version.
            try await connection.query("lock table stockd_schema in exclusive mode", logger: logger)
            var found = 0
            for try await (version) in try await connection.query("select coalesce(max(version), 0) from stockd_schema", logger: logger).decode(Int.self) {
                found = version
            }
            guard found <= RelayStore.schemaVersion else {
                throw SchemaError.newerThanBinary(found: found)
            }
            for version in (found + 1)...max(found + 1, RelayStore.schemaVersion) where version <= RelayStore.schemaVersion {
                for statement in Schema.statements(forVersion: version) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("insert into stockd_schema (version) values (\(version))", logger: logger)
            }
            return found
        }
    }

    /// Refuses to run against a database without the schema or with a newer one.
    func checkSchema() async throws {
        let version = try await recordedSchemaVersion()
        guard let version, version > 0 else { throw SchemaError.missing }
        guard version <= RelayStore.schemaVersion else { throw SchemaError.newerThanBinary(found: version) }
        guard version == RelayStore.schemaVersion else { throw SchemaError.older(found: version) }
    }

    enum SchemaError: Error, CustomStringConvertible {
        case missing
        case older(found: Int)
        case newerThanBinary(found: Int)

        var description: String {
            switch self {
            case .missing:
                "the database has no stockd schema; run stockrelay --init-schema once"
            case .older(let found):
                "the database has stockd schema version \(found), this stockrelay needs \(RelayStore.schemaVersion); run stockrelay --init-schema to upgrade"
            case .newerThanBinary(let found):
                "the database has stockd schema version \(found), newer than this stockrelay knows (\(RelayStore.schemaVersion)); upgrade stockrelay"
            }
        }
    }

    // MARK: The site's position

    struct SitePosition: Sendable, Equatable {
        var lastSeq: Int64
        /// RFC 3339 in UTC with microseconds, as PostgreSQL holds them; nil before the first batch.
        var lastEventAt: String?
        var relayedAt: String?
    }

    /// The site's row, created with `last_seq` 0 when missing.
    func sitePosition(site: String, create: Bool) async throws -> SitePosition? {
        if create {
            try await connection.query("insert into stockd_sites (site, last_seq) values (\(site), 0) on conflict (site) do nothing", logger: logger)
        }
        let rows = try await connection.query(
            """
            select last_seq,
                   to_char(last_event_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   to_char(relayed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
            from stockd_sites where site = \(site)
            """, logger: logger)
        for try await (lastSeq, lastEventAt, relayedAt) in rows.decode((Int64, String?, String?).self) {
            return SitePosition(lastSeq: lastSeq, lastEventAt: lastEventAt, relayedAt: relayedAt)
        }
        return nil
    }

    /// Whether the event PostgreSQL holds at `seq` is the one stockd sent again: same time and kind.
    /// nil when PostgreSQL has no event there (its `stockd_events` was trimmed by hand).
    func storedEventMatches(site: String, event: WatchLine.EventRow) async throws -> Bool? {
        let rows = try await connection.query("""
            select recorded_at = \(event.at)::timestamptz and kind = \(event.kind)
            from stockd_events where site = \(site) and seq = \(event.seq)
            """, logger: logger)
        for try await (same) in rows.decode(Bool.self) { return same }
        return nil
    }

    // MARK: One batch

    struct PositionMoved: Error, CustomStringConvertible {
        var site: String
        var expected: Int64
        var description: String {
            "stockd_sites.last_seq for \(site) is no longer \(expected): another relay for the same site is running"
        }
    }

    /// Writes the batch in one transaction: its events, the latest stock row per pair, the site's new
    /// position and a notification. The position moves only from `previousLastSeq`, so two relays for
    /// one site cannot both commit (and `(site, seq)` is the primary key of the events besides).
    func commit(_ batch: Batch, site: String, previousLastSeq: Int64) async throws {
        guard let firstSeq = batch.firstSeq, let lastSeq = batch.lastSeq, let lastAt = batch.lastRecordedAt else { return }
        precondition(firstSeq == previousLastSeq + 1, "a batch continues the site's log exactly")
        let stock = Array(batch.stock.values)
        let stockSkus = stock.map(\.sku)
        let stockWhs = stock.map(\.wh)
        let onHand = stock.map(\.onHand)
        let reserved = stock.map(\.reserved)
        let available = stock.map(\.available)
        let inbound = stock.map(\.inbound)
        let incoming = stock.map(\.incoming)
        let stockSeqs = stock.map(\.seq)
        // One statement: PostgreSQL runs every data-modifying CTE, whether or not the final select
        // reads it. The notification is sent at commit, never for a rolled-back batch.
        let query: PostgresQuery = """
            with events as (
                insert into stockd_events (site, seq, recorded_at, kind, sku, wh, fields)
                select \(site), e.seq, e.recorded_at::timestamptz, e.kind, nullif(e.sku, ''), nullif(e.wh, ''), e.fields::jsonb
                from unnest(\(batch.seqs)::bigint[], \(batch.recordedAts)::text[], \(batch.kinds)::text[],
                            \(batch.skus)::text[], \(batch.whs)::text[], \(batch.fieldsJSON)::text[])
                     as e(seq, recorded_at, kind, sku, wh, fields)
            ), stock as (
                insert into stockd_stock (site, sku, wh, on_hand, reserved, available, inbound, incoming, seq)
                select \(site), s.sku, s.wh, s.on_hand, s.reserved, s.available, s.inbound, s.incoming, s.seq
                from unnest(\(stockSkus)::text[], \(stockWhs)::text[], \(onHand)::bigint[], \(reserved)::bigint[],
                            \(available)::bigint[], \(inbound)::bigint[], \(incoming)::bigint[], \(stockSeqs)::bigint[])
                     as s(sku, wh, on_hand, reserved, available, inbound, incoming, seq)
                on conflict (site, sku, wh) do update set
                    on_hand = excluded.on_hand, reserved = excluded.reserved, available = excluded.available,
                    inbound = excluded.inbound, incoming = excluded.incoming, seq = excluded.seq
                where stockd_stock.seq <= excluded.seq
            ), position as (
                update stockd_sites set last_seq = \(lastSeq), last_event_at = \(lastAt)::timestamptz, relayed_at = now()
                where site = \(site) and last_seq = \(previousLastSeq)
                returning last_seq
            )
            select pg_notify('stockd_events', \(site) || ':' || position.last_seq::text) from position
            """
        try await connection.withTransaction(logger: logger) { connection in
            var moved = 0
            for try await _ in try await connection.query(query, logger: logger) { moved += 1 }
            guard moved == 1 else { throw PositionMoved(site: site, expected: previousLastSeq) }
        }
    }
}

/// What went wrong with PostgreSQL, in one line. postgres-nio keeps server messages out of its
/// errors' `description` (they may hold data); the relay's errors name only its own statements'
/// failures, so the server's message, SQLSTATE and detail are shown.
func describePostgresError(_ error: any Error) -> String {
    if let error = error as? PostgresTransactionError {
        if let inner = error.closureError ?? error.beginError ?? error.commitError { return describePostgresError(inner) }
        return "transaction failed"
    }
    if let error = error as? PSQLError {
        if let info = error.serverInfo {
            var text = "PostgreSQL: \(info[.message] ?? "error")"
            if let state = info[.sqlState] { text += " (SQLSTATE \(state))" }
            if let detail = info[.detail] { text += ": \(detail)" }
            return text
        }
        let what: String
        switch error.code {
        case .serverClosedConnection: what = "PostgreSQL closed the connection"
        case .clientClosedConnection: what = "the PostgreSQL connection was closed"
        case .connectionError: what = "cannot connect to PostgreSQL"
        default: what = "PostgreSQL: \(error.code)"
        }
        guard let underlying = error.underlying else { return what }
        return "\(what): \(underlying is PSQLError ? describePostgresError(underlying) : "\(underlying)")"
    }
    return "\(error)"
}

/// Lets exactly one of several callbacks resume a continuation.
final class ResumeOnce: Sendable {
    private let claimed = Mutex(false)

    /// True for the first caller only.
    func claim() -> Bool {
        claimed.withLock { claimed in
            defer { claimed = true }
            return !claimed
        }
    }
}
