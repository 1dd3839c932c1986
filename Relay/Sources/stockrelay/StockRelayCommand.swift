import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// `stockrelay`: relays one site's stockd log into PostgreSQL, exactly once (docs/network.md).
@main
struct StockRelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stockrelay",
        abstract: "Relay one site's stockd event log, exactly once, into PostgreSQL.",
        discussion: """
            Without --init-schema or --status, runs until SIGTERM or SIGINT. The PostgreSQL URL comes \
            from --postgres, else --postgres-url-file, else $CREDENTIALS_DIRECTORY/postgres-url (systemd's \
            LoadCredential=). Form: postgres://user[:password]@[host][:port]/database[?host=/socket/dir]
            """)

    @Option(help: "stockd's Unix socket.")
    var socket = "/run/stockd/stockd.sock"

    @Option(help: "This site's name in PostgreSQL (1 to 64 of A-Z a-z 0-9 . _ -).")
    var site: String?

    @Option(name: .customLong("postgres"), help: "PostgreSQL URL (for development: it shows in ps).")
    var postgresURL: String?

    @Option(name: .customLong("postgres-url-file"), help: "A file holding the PostgreSQL URL.")
    var postgresURLFile: String?

    @Option(help: "Most events per PostgreSQL transaction.")
    var batchEvents = 5_000

    @Option(help: "Longest wait, in milliseconds, from a batch's first event to its commit.")
    var batchMs = 100

    @Option(help: "Longest wait, in seconds, between two attempts after an error.")
    var backoffMaxS = 30

    @Option(help: "Seconds between two lag lines in the log.")
    var lagLogS = 10

    @Option(help: "Log level: debug, info, warning, error.")
    var logLevel = "info"

    @Flag(help: "Create or upgrade the PostgreSQL schema, then exit. Running it again is a no-op.")
    var initSchema = false

    @Flag(help: "Print stockd's last seq, PostgreSQL's position for the site and the lag, then exit.")
    var status = false

    /// Site names travel in `NOTIFY stockd_events, '<site>:<seq>'` and in logs: a small alphabet
    /// without ':' keeps that payload unambiguous.
    static let siteBytesMax = 64

    func validate() throws {
        if initSchema && status { throw ValidationError("--init-schema and --status do not go together") }
        if !initSchema {
            guard let site else { throw ValidationError("--site is required") }
            guard (1...Self.siteBytesMax).contains(site.utf8.count),
                  site.utf8.allSatisfy({ byte in
                      (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                          || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".")
                          || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
                  })
            else { throw ValidationError("--site must be 1 to 64 of A-Z a-z 0-9 . _ -") }
        }
        if postgresURL != nil && postgresURLFile != nil {
            throw ValidationError("give --postgres or --postgres-url-file, not both")
        }
        guard (1...100_000).contains(batchEvents) else { throw ValidationError("--batch-events must be 1 to 100000") }
        guard (1...60_000).contains(batchMs) else { throw ValidationError("--batch-ms must be 1 to 60000") }
        guard (1...3_600).contains(backoffMaxS) else { throw ValidationError("--backoff-max-s must be 1 to 3600") }
        guard (1...86_400).contains(lagLogS) else { throw ValidationError("--lag-log-s must be 1 to 86400") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be trace, debug, info, notice, warning, error or critical") }
    }

    /// The URL from the first place that has one.
    func resolvePostgresURL() throws -> PostgresURL {
        let text: String
        let source: String
        if let postgresURL {
            text = postgresURL
            source = "--postgres"
        } else {
            let path: String
            if let postgresURLFile {
                path = postgresURLFile
            } else if let directory = ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"] {
                path = directory + "/postgres-url"
            } else {
                throw ValidationError("no PostgreSQL URL: give --postgres, --postgres-url-file, or run under systemd with LoadCredential=postgres-url:...")
            }
            guard let data = FileManager.default.contents(atPath: path), let contents = String(data: data, encoding: .utf8) else {
                throw ValidationError("cannot read the PostgreSQL URL from \(path)")
            }
            text = contents
            source = path
        }
        do {
            return try PostgresURL(parsing: text)
        } catch {
            throw ValidationError("bad PostgreSQL URL in \(source): \(error)")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel)!
        LoggingSystem.bootstrap { _ in StderrLogHandler(logLevel: level) }
        let logger = Logger(label: "stockrelay")
        let url = try resolvePostgresURL()
        // Two event loops: stockd's socket (reading and parsing lines) on one, PostgreSQL on the
        // other, so a batch can be parsed while the one before it is being written.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loops = Array(group.makeIterator())

        if initSchema {
            do {
                let store = try await RelayStore.connect(url, on: loops[1], logger: logger)
                let found = try await store.initSchema()
                await store.close()
                if found == RelayStore.schemaVersion {
                    print("schema version \(found) already in place at \(url.redacted); nothing to do")
                } else {
                    print("schema version \(RelayStore.schemaVersion) created at \(url.redacted) (was \(found == 0 ? "none" : "\(found)"))")
                }
            } catch {
                try? await group.shutdownGracefully()
                throw exitWithReason("--init-schema failed: \(describePostgresError(error))")
            }
            try await group.shutdownGracefully()
            return
        }

        let site = self.site!
        if status {
            let code = await printStatus(site: site, url: url, loops: loops, logger: logger)
            try await group.shutdownGracefully()
            if code != 0 { throw ExitCode(code) }
            return
        }

        let configuration = RelayConfiguration(
            socketPath: socket, site: site, postgres: url, batchEventsMax: batchEvents,
            batchDelay: .milliseconds(batchMs), backoffMax: .seconds(backoffMaxS), lagLogInterval: .seconds(lagLogS))
        logger.info("starting", metadata: ["site": "\(site)", "socket": "\(socket)", "postgres": "\(url.redacted)",
                                           "batch_events": "\(batchEvents)", "batch_ms": "\(batchMs)"])
        let relay = RelayLoop(configuration: configuration, eventLoops: loops, logger: logger)
        let services = ServiceGroup(configuration: .init(
            services: [.init(service: relay)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: Logger(label: "stockrelay.lifecycle", factory: { _ in SwiftLogNoOpLogHandler() })))
        try await services.run()
        try await group.shutdownGracefully()
    }

    /// Prints one fact per line; returns 0, or prints a one-line reason to stderr and returns 1 when a
    /// side cannot be reached, 2 when stockd's log is shorter than PostgreSQL's position (wrong site).
    func printStatus(site: String, url: PostgresURL, loops: [any EventLoop], logger: Logger) async -> Int32 {
        let stockdSeq: Int64
        do {
            stockdSeq = try await StockdStatus.lastSeq(socketPath: socket, on: loops[0])
        } catch {
            printError("stockrelay: stockd unreachable at \(socket): \(error)")
            return 1
        }
        let position: RelayStore.SitePosition?
        do {
            let store = try await RelayStore.connect(url, on: loops[1], logger: logger)
            do {
                try await store.checkSchema()
                position = try await store.sitePosition(site: site, create: false)
                await store.close()
            } catch {
                await store.close()
                throw error
            }
        } catch {
            printError("stockrelay: PostgreSQL unreachable at \(url.redacted): \(describePostgresError(error))")
            return 1
        }
        let lastSeq = position?.lastSeq ?? 0
        print("site: \(site)")
        print("stockd_seq: \(stockdSeq)")
        print("postgres_last_seq: \(lastSeq)")
        print("lag_events: \(stockdSeq - lastSeq)")
        print("last_event_at: \(position?.lastEventAt ?? "-")")
        print("relayed_at: \(position?.relayedAt ?? "-")")
        if stockdSeq < lastSeq {
            printError("stockrelay: stockd has logged \(stockdSeq) events but PostgreSQL holds \(lastSeq) for site \(site): wrong site or a restored backup")
            return 2
        }
        return 0
    }
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Prints `reason` to stderr as one line and makes the command exit 1.
func exitWithReason(_ reason: String) -> ExitCode {
    printError("stockrelay: \(reason)")
    return ExitCode(1)
}
