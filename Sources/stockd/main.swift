import ArgumentParser
import LedgerProtocol
import LedgerServer
import LedgerStore
import Logging
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// stockd: the stock ledger daemon. Serves the line protocol on a Unix socket.
@main
struct StockDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stockd",
        abstract: "Event-sourced stock ledger daemon: an LMDB event log served over a Unix socket.",
        version: StockdVersion.current)

    /// The exit code of a start refused on a damaged store (docs/operating.md, "Exit codes").
    static let storeDamagedExitCode: Int32 = 3

    @Option(help: "Data folder holding the LMDB environment (created when missing).")
    var data = "var/data"

    @Option(help: "Path of the Unix socket to serve.")
    var socket = "var/stockd.sock"

    @Option(name: .customLong("socket-mode"), help: "Permission bits of the socket file, in octal.")
    var socketMode = "0660"

    @Option(name: .customLong("map-size"), help: "Initial LMDB map size in bytes; it doubles when full.")
    var mapSize: Int?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Option(help: "Access rules file (reader/writer by Unix user or group); read when it exists.")
    var access = AccessConfiguration.defaultPath

    @Option(help: "Extra writers: user:NAME, group:NAME or a uid, comma separated.")
    var writers: String?

    @Option(help: "Extra readers: user:NAME, group:NAME or a uid, comma separated.")
    var readers: String?

    @Option(name: .customLong("default-role"), help: "Role of peers no rule names: writer or reader.")
    var defaultRole: String?

    @Option(name: .customLong("checkpoint-interval-ms"),
            help: "Checkpoint what changed at most this often, in milliseconds (default 1000).")
    var checkpointIntervalMilliseconds: UInt64?

    @Option(name: .customLong("event-loops"), help: "Event loop threads serving connections (default: one per core).")
    var eventLoops: Int?

    @Option(name: .customLong("checkpoint-events"),
            help: "Checkpoint as soon as this many events are not checkpointed (default 100000).")
    var checkpointEvents: Int?

    @Option(name: .customLong("connections-per-uid"),
            help: "Connections one uid may hold at once; root is not counted (default 1024).")
    var connectionsPerUid: Int?

    @Option(name: .customLong("idle-timeout"),
            help: "Close a connection idle (or not reading its replies) for this many seconds; 0 never (default 300).")
    var idleTimeout: Int64?

    @Option(name: .customLong("metrics-listen"),
            help: "Also serve GET /metrics (Prometheus text) over HTTP at HOST:PORT, e.g. 127.0.0.1:9464 (default: none).")
    var metricsListen: String?

    /// `--metrics-listen` as host and port; `[::1]:9464` for IPv6.
    var metricsAddress: (host: String, port: Int)? {
        guard let metricsListen, let colon = metricsListen.lastIndex(of: ":"),
              let port = Int(metricsListen[metricsListen.index(after: colon)...]), (0...65_535).contains(port) else { return nil }
        var host = metricsListen[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        return host.isEmpty ? nil : (String(host), port)
    }

    /// For tests only (hidden from --help): runs the daemon as if the wall clock were this many
    /// seconds ahead (negative: behind), to test a clock that is set back.
    @Option(name: .customLong("test-clock-offset-seconds"), help: .hidden)
    var testClockOffsetSeconds: Int64?

    func validate() throws {
        guard mode_t(socketMode, radix: 8) != nil else { throw ValidationError("--socket-mode must be octal, like 0660") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        if metricsListen != nil && metricsAddress == nil {
            throw ValidationError("--metrics-listen must be HOST:PORT, like 127.0.0.1:9464")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel)!
        LoggingSystem.bootstrap { label in
            var handler = JournalLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "stockd")
        var configuration = ServerConfiguration(dataDirectory: data, socketPath: socket)
        configuration.socketMode = mode_t(socketMode, radix: 8)!
        if let mapSize { configuration.mapSizeBytes = mapSize }
        if let checkpointIntervalMilliseconds {
            configuration.checkpointPolicy.intervalMicroseconds = checkpointIntervalMilliseconds * 1_000
        }
        if let eventLoops { configuration.eventLoopThreads = max(1, eventLoops) }
        if let checkpointEvents { configuration.checkpointPolicy.eventsMax = max(1, checkpointEvents) }
        if let connectionsPerUid { configuration.connectionsPerUid = max(1, connectionsPerUid) }
        if let idleTimeout { configuration.idleTimeoutSeconds = max(0, idleTimeout) }
        configuration.metricsListen = metricsAddress
        if let offset = testClockOffsetSeconds {
            logger.warning("test clock: running as if the clock were shifted", metadata: ["offset_s": "\(offset)"])
            configuration.clock = { LedgerWriter.systemClock().adding(seconds: offset) }
        }
        do {
            if let text = try AccessConfiguration.readFile(access) {
                try AccessConfiguration.apply(fileText: text, origin: access, to: &configuration.accessPolicy)
            }
            if let writers { try AccessConfiguration.apply(flag: writers, role: .writer, to: &configuration.accessPolicy) }
            if let readers { try AccessConfiguration.apply(flag: readers, role: .reader, to: &configuration.accessPolicy) }
            if let defaultRole {
                guard let role = AccessPolicy.Role(rawValue: defaultRole) else { throw ValidationError("--default-role: reader or writer") }
                configuration.accessPolicy.defaultRole = role
            }
        } catch let problem as AccessConfiguration.Problem {
            logger.critical("bad access configuration", metadata: ["problem": "\(problem)"])
            throw ExitCode.failure
        }
        let environment = ProcessInfoEnvironment.current
        let server = StockServer(configuration: configuration, logger: logger,
                                 notifier: SystemdNotifier(environment: environment),
                                 systemd: SystemdEnvironment(environment: environment, pid: getpid()))
        let group = ServiceGroup(configuration: .init(
            services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch let damage as StoreDamage {
            // One line naming the file and what is wrong; exit 3 tells systemd and scripts that a
            // restart cannot help (docs/operating.md, "Exit codes" and "Recovery").
            logger.critical("\(damage); not starting on a damaged store (docs/operating.md, Recovery)")
            throw ExitCode(StockDaemon.storeDamagedExitCode)
        } catch {
            logger.critical("stockd failed", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
    }
}

/// The process environment as a dictionary, read through libc so the daemon needs no Foundation.
enum ProcessInfoEnvironment {
    static var current: [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}
