import LedgerCore
import LedgerProtocol
import LedgerStore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How a stockd instance is set up.
public struct ServerConfiguration: Sendable {
    public var dataDirectory: String
    public var socketPath: String
    /// Permission bits of the socket file: who may connect at all (roles then decide who may write).
    public var socketMode: mode_t = 0o660
    public var mapSizeBytes: Int = LedgerStore.defaultMapSizeBytes
    public var accessPolicy = AccessPolicy()
    public var version = StockdVersion.current
    /// Event loop threads: one per core serves this 2-core host; the writer has its own thread.
    public var eventLoopThreads = System.coreCount
    /// How often the writer checkpoints what changed since the last checkpoint.
    public var checkpointPolicy = LedgerWriter.CheckpointPolicy()
    /// Connections one uid may hold at once (root is not counted).
    public var connectionsPerUid = Limits.connectionsPerUidDefault
    /// Idle connections are closed after this many seconds; 0 keeps them.
    public var idleTimeoutSeconds = Limits.idleTimeoutSecondsDefault
    /// Where to serve `GET /metrics` over HTTP (`--metrics-listen`); nil serves none.
    public var metricsListen: (host: String, port: Int)?
    /// The wall clock: event times, deadlines, `at=`. Only tests replace it (stockd's hidden
    /// `--test-clock-offset-seconds`).
    public var clock: @Sendable () -> Timestamp = LedgerWriter.systemClock

    public init(dataDirectory: String, socketPath: String) {
        self.dataDirectory = dataDirectory
        self.socketPath = socketPath
    }
}

/// What every connection shares: the writer, the read service, the configuration.
final class ServerShared: Sendable {
    let configuration: ServerConfiguration
    let writer: LedgerWriter
    let reads: ReadService
    /// Where reads that fold or scan the log run, off the event loops.
    let readPool: NIOThreadPool
    let logger: Logger
    let connections: ConnectionRegistry
    let replyBudget: ReplyBudget
    var metrics: ServerMetrics { writer.metrics }

    init(configuration: ServerConfiguration, writer: LedgerWriter, reads: ReadService, readPool: NIOThreadPool,
         logger: Logger, connections: ConnectionRegistry, replyBudget: ReplyBudget = ReplyBudget()) {
        self.configuration = configuration
        self.writer = writer
        self.reads = reads
        self.readPool = readPool
        self.logger = logger
        self.connections = connections
        self.replyBudget = replyBudget
    }
}

/// stockd as a swift-service-lifecycle `Service`: it opens the store, starts the writer, serves the
/// Unix socket until graceful shutdown, then stops accepting, answers what was committed and
/// closes the LMDB environment cleanly.
public final class StockServer: Service, Sendable {
    private let configuration: ServerConfiguration
    private let logger: Logger
    private let notifier: SystemdNotifier
    private let systemd: SystemdEnvironment

    public init(configuration: ServerConfiguration, logger: Logger, notifier: SystemdNotifier, systemd: SystemdEnvironment) {
        self.configuration = configuration
        self.logger = logger
        self.notifier = notifier
        self.systemd = systemd
    }

    /// While start-up runs (opening the store pages in its meta data and the expiry index), ask
    /// systemd for more time every few seconds, so a slow disk at boot is not mistaken for a hang.
    static let startupExtensionMicroseconds: UInt64 = 10_000_000
    /// Threads for reads that fold or scan the log.
    static let readPoolThreads = 1

    public func run() async throws {
        let configuration = self.configuration
        let startedAt = configuration.clock()
        let startup = StartupExtender(notifier: notifier, extensionMicroseconds: StockServer.startupExtensionMicroseconds)
        defer { startup.finish() }
        // Before anything in the folder is touched: a second daemon on it stops here.
        let lock = try DataFolderLock(folder: configuration.dataDirectory)
        defer { lock.release() }
        let store = try LedgerStore(directory: configuration.dataDirectory, deferredMetaSync: true,
                                    mapSizeBytes: configuration.mapSizeBytes)
        let metrics = ServerMetrics()
        let writer = try LedgerWriter(store: store, logger: logger, checkpointPolicy: configuration.checkpointPolicy,
                                      clock: configuration.clock, metrics: metrics)
        writer.start()
        let (slots, descriptorLimit) = DescriptorLimit.fit()
        if slots != ConnectionRegistry.Slots() {
            logger.warning("the file descriptor limit is too low for \(Limits.connectionsMax) connections",
                           metadata: ["nofile": "\(descriptorLimit)", "connections": "\(slots.forOthers)",
                                      "with_root": "\(slots.forRoot)"])
        }
        let connections = ConnectionRegistry(slots: slots, perUidMax: configuration.connectionsPerUid)
        let reads = ReadService(store: store, view: writer.view, version: configuration.version, startedAt: startedAt,
                                clock: configuration.clock, connectionCount: { connections.count },
                                writerStatistics: { writer.currentStatistics() }, logger: logger,
                                metrics: metrics, watchers: writer.watchers)
        // One thread: heavy reads queue behind each other rather than take both cores from the
        // event loops and the writer.
        let readPool = NIOThreadPool(numberOfThreads: StockServer.readPoolThreads)
        readPool.start()
        let shared = ServerShared(configuration: configuration, writer: writer, reads: reads, readPool: readPool,
                                  logger: logger, connections: connections)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoopThreads)
        let serverChannel: Channel
        do {
            serverChannel = try await bind(shared: shared, group: group)
        } catch {
            writer.shutdown()
            try? await readPool.shutdownGracefully()
            store.close()
            try? await group.shutdownGracefully()
            throw error
        }
        var metricsChannel: Channel?
        if let listen = configuration.metricsListen {
            do {
                metricsChannel = try await MetricsEndpoint.bind(host: listen.host, port: listen.port, group: group, shared: shared)
            } catch {
                serverChannel.close(promise: nil)
                writer.shutdown()
                try? await readPool.shutdownGracefully()
                store.close()
                try? await group.shutdownGracefully()
                throw MetricsListenError(address: "\(listen.host):\(listen.port)", cause: error)
            }
            let address = metricsChannel?.localAddress.map { "\($0.ipAddress ?? listen.host):\($0.port ?? listen.port)" } ?? ""
            logger.info("serving metrics at http://\(address)/metrics")
        }
        startup.finish()
        let idleSweep = IdleSweep.schedule(on: group.next(), timeoutSeconds: configuration.idleTimeoutSeconds,
                                           connections: connections)
        let seq = writer.lastCommittedSeq
        var watchdog: RepeatedTask?
        if let interval = systemd.watchdogMicroseconds {
            let notifier = self.notifier, logger = self.logger
            let period = TimeAmount.microseconds(Int64(interval / 4))
            watchdog = group.next().scheduleRepeatedTask(initialDelay: .zero, delay: period) { _ in
                let now = LedgerWriter.monotonicMicroseconds()
                if SystemdEnvironment.shouldPing(nowMicroseconds: now, heartbeatMicroseconds: writer.lastHeartbeatMicroseconds,
                                                 watchdogMicroseconds: interval) {
                    notifier.notify("WATCHDOG=1")
                } else {
                    logger.warning("writer made no progress; withholding the watchdog ping")
                }
            }
        }
        logger.info("stockd ready", metadata: ["socket": "\(configuration.socketPath)", "data": "\(configuration.dataDirectory)",
                                                "seq": "\(seq)"])
        notifier.notify("READY=1\nSTATUS=serving, last seq \(seq)\nMAINPID=\(getpid())")

        // Wait for SIGTERM/SIGINT (delivered by the ServiceGroup as graceful shutdown).
        await withGracefulShutdownHandler {
            try? await serverChannel.closeFuture.get()
        } onGracefulShutdown: {
            serverChannel.close(promise: nil)
        }

        watchdog?.cancel()
        idleSweep?.cancel()
        try? await metricsChannel?.close()
        notifier.notify("STOPPING=1\nSTATUS=stopping: answering committed writes")
        logger.info("stopping: no new connections; finishing queued writes")
        // Everything queued is committed and answered; later writes get ERR UNAVAILABLE.
        writer.shutdown()
        // Give the event loops a moment to write the last replies, then close every connection.
        try? await Task.sleep(for: .milliseconds(100))
        for channel in connections.all() { try? await channel.close() }
        try? await group.shutdownGracefully()
        try? await readPool.shutdownGracefully()
        // A passed socket belongs to the socket unit, which keeps listening for the next start.
        if systemd.listenFileDescriptor == nil { unlink(configuration.socketPath) }
        store.close()
        logger.info("stopped cleanly", metadata: ["seq": "\(writer.lastCommittedSeq)"])
    }

    private func bind(shared: ServerShared, group: EventLoopGroup) async throws -> Channel {
        let logger = self.logger
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            // Accept up to 64 waiting connections per turn (NIO's default is 4): under load a turn
            // is long, and a new client should not wait behind every turn of the backlog.
            .serverChannelOption(.maxMessagesPerRead, value: 64)
            .serverChannelInitializer { channel in
                // Out of file descriptors, accept fails at once however often it is retried: pause
                // accepting for a second, and say so, instead of spinning.
                let backoff = AcceptBackoffHandler(backoffProvider: { error in
                    logger.error("cannot accept a connection; pausing accept for 1 s",
                                 metadata: ["error": "\(error)", "connections": "\(shared.connections.count)"])
                    return .seconds(1)
                })
                return channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(backoff) }
            }
            // What one read burst takes from a socket: the bound on a connection's unparsed input.
            .childChannelOption(.maxMessagesPerRead, value: UInt(Limits.socketReadsPerBurst))
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(
                minimum: 64, initial: 2_048, maximum: Limits.socketReadBytesMax))
            .childChannelOption(.writeBufferWaterMark, value: .init(
                low: Limits.unsentReplyBytesMax / 2, high: Limits.unsentReplyBytesMax))
            // A client may send its requests and shut down its writing side; it still gets every reply.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                StockServer.initialize(channel, shared: shared)
            }
        if let descriptor = systemd.listenFileDescriptor {
            logger.info("using the socket passed by systemd", metadata: ["fd": "\(descriptor)"])
            return try await bootstrap.withBoundSocket(descriptor).get()
        }
        let path = configuration.socketPath
        try SocketFile.clear(path)
        let descriptor = try SocketFile.listen(path, mode: configuration.socketMode, backlog: 1024)
        return try await bootstrap.withBoundSocket(descriptor).get()
    }

    static func initialize(_ channel: Channel, shared: ServerShared) -> EventLoopFuture<Void> {
        guard let provider = channel as? SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
        }
        let credentials: EventLoopFuture<UnixCredentials> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return credentials.flatMapThrowing { credentials in
            let peer = PeerCredentials(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid)
            if let refusal = shared.connections.add(channel, uid: peer.uid) {
                shared.metrics.countError(.limit)
                var buffer = channel.allocator.buffer(capacity: 64)
                buffer.writeString(refusal.line + "\n")
                channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
                return
            }
            channel.closeFuture.whenComplete { _ in shared.connections.remove(channel, uid: peer.uid) }
            try channel.pipeline.syncOperations.addHandler(ConnectionHandler(shared: shared, peer: peer))
        }
    }
}

/// Sends EXTEND_TIMEOUT_USEC now and then until start-up is finished.
// Shared across threads safely: `finished`, the only mutable state, is touched only with `lock` held.
final class StartupExtender: @unchecked Sendable {
    private let lock = NIOLock()
    private var finished = false

    init(notifier: SystemdNotifier, extensionMicroseconds: UInt64) {
        guard notifier.isActive else { return }
        notifier.notify("EXTEND_TIMEOUT_USEC=\(extensionMicroseconds)\nSTATUS=opening the store")
        let thread = Thread { [self] in
            while true {
                usleep(useconds_t(extensionMicroseconds / 3))
                if lock.withLock({ finished }) { return }
                notifier.notify("EXTEND_TIMEOUT_USEC=\(extensionMicroseconds)\nSTATUS=still starting")
            }
        }
        thread.start()
    }

    func finish() { lock.withLock { finished = true } }
}

/// The layout of Linux's `struct ucred` (pid, uid, gid), which Glibc only exports under _GNU_SOURCE.
struct UnixCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// `--metrics-listen` could not be bound: the address and why.
public struct MetricsListenError: Error, CustomStringConvertible {
    public var address: String
    public var cause: Error
    public var description: String { "cannot serve metrics on \(address): \(cause)" }
}
