import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// How the relay runs, from the command line.
struct RelayConfiguration: Sendable {
    var socketPath: String
    var site: String
    var postgres: PostgresURL
    var batchEventsMax: Int
    var batchDelay: Duration
    var backoffMax: Duration
    var lagLogInterval: Duration
}

/// The log of one site has to be refused: stockd's log is not the one PostgreSQL holds for the site.
struct WrongLog: Error, CustomStringConvertible {
    var description: String
}

/// What the relay has committed, shared with the task that logs the lag.
final class RelayProgress: Sendable {
    struct State {
        var relayedSeq: Int64?
        var lastEventAt: String?
    }
    let state = Mutex(State())
}

/// The relay: PostgreSQL's position for the site, then stockd's log from there, batch by batch, each
/// batch one transaction. Every error on either side closes both connections and starts again from
/// PostgreSQL's position after a backoff, so nothing is lost or written twice (docs/network.md).
struct RelayLoop: Service {
    let configuration: RelayConfiguration
    let eventLoops: [any EventLoop]
    let logger: Logger
    let progress = RelayProgress()

    func run() async throws {
        // SIGTERM or SIGINT cancels the loop. A batch being committed finishes first (see
        // `relay(store:backoff:)`); batches read but not yet sent to PostgreSQL are dropped, which is
        // safe: the next start asks stockd for them again from PostgreSQL's last_seq.
        await withDiscardingTaskGroup { group in
            group.addTask {
                try? await cancelWhenGracefulShutdown { try await logLagForever() }
            }
            _ = await (try? cancelWhenGracefulShutdown { await relayForever() })
            group.cancelAll()
        }
        logger.info("stopped", metadata: ["relayed_seq": "\(progress.state.withLock { $0.relayedSeq ?? 0 })"])
    }

    /// The loop of attempts; returns only when the task is cancelled (SIGTERM, SIGINT).
    func relayForever() async {
        var backoff = Backoff(maxDelay: configuration.backoffMax)
        while !Task.isCancelled {
            let delay: Duration
            do {
                try await relayOnce(backoff: &backoff)
                delay = backoff.next()
            } catch let error as WrongLog {
                // Not a passing fault: the wrong socket, the wrong --site, or a stockd restored from a
                // backup older than what PostgreSQL holds. Nothing is written; retry slowly in case the
                // operator fixes it (the next attempt logs the same diagnosis).
                delay = configuration.backoffMax
                logger.error("\(error); not relaying, next check in \(Self.seconds(delay)) s")
            } catch {
                if Task.isCancelled { break }
                delay = backoff.next()
                logger.warning("\(describePostgresError(error)); starting again in \(Self.seconds(delay)) s")
            }
            do { try await Task.sleep(for: delay) } catch { break }
        }
    }

    /// One attempt: returns or throws when either side fails; both connections are closed on the way out.
    func relayOnce(backoff: inout Backoff) async throws {
        let store = try await RelayStore.connect(configuration.postgres, on: eventLoops[1], logger: logger)
        do {
            try await relay(store: store, backoff: &backoff)
            await store.close()
        } catch {
            logger.debug("attempt failed, closing PostgreSQL: \(describePostgresError(error))")
            await store.close()
            logger.debug("PostgreSQL closed")
            throw error
        }
    }

    private func relay(store: RelayStore, backoff: inout Backoff) async throws {
        let site = configuration.site
        try await store.whileOpen { try await $0.checkSchema() }
        guard let position = try await store.whileOpen({ try await $0.sitePosition(site: site, create: true) }) else {
            throw WrongLog(description: "the row of site \(site) in stockd_sites vanished while reading it")
        }
        progress.state.withLock { state in
            if state.relayedSeq == nil {
                state.relayedSeq = position.lastSeq
                state.lastEventAt = position.lastEventAt
            }
        }
        let channel = try await StockdConnection.connect(
            socketPath: configuration.socketPath, on: eventLoops[0], lastRelayedSeq: position.lastSeq,
            batchEventsMax: configuration.batchEventsMax, batchDelay: TimeAmount(configuration.batchDelay))
        try await channel.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            try await StockdConnection.send(outbound, "HELLO format=json", "INFO")
            _ = try await StockdConnection.readReply(&iterator, request: "HELLO")
            let info = try await StockdConnection.readReply(&iterator, request: "INFO")
            guard let stockdSeq = info.rows.first?.fields["seq"].flatMap({ Int64($0) }) else {
                throw StockdConnection.ProtocolError(description: "stockd's INFO row has no seq")
            }
            guard stockdSeq >= position.lastSeq else {
                throw WrongLog(description: "stockd at \(configuration.socketPath) has logged \(stockdSeq) events but PostgreSQL holds \(position.lastSeq) for site \(site): wrong site or stockd restored from an older backup")
            }
            let fromSeq = position.lastSeq > 0 ? position.lastSeq : 1
            try await StockdConnection.send(outbound, "WATCH events from=\(fromSeq) stock=yes")
            _ = try await StockdConnection.readReply(&iterator, request: "WATCH")
            logger.info("watching stockd from seq \(fromSeq)", metadata: ["site": "\(site)", "stockd_seq": "\(stockdSeq)", "postgres_last_seq": "\(position.lastSeq)"])

            var lastSeq = position.lastSeq
            var overlapChecked = position.lastSeq == 0
            while let message = try await iterator.next() {
                switch message {
                case .overlap(let event):
                    switch try await store.whileOpen({ try await $0.storedEventMatches(site: site, event: event) }) {
                    case false?:
                        throw WrongLog(description: "stockd's event \(event.seq) (\(event.kind) at \(event.at)) is not the one PostgreSQL holds for site \(site): wrong site or a different log")
                    case nil:
                        logger.warning("PostgreSQL has no event \(event.seq) of site \(site) to compare with stockd's; trusting last_seq")
                    case true?:
                        break
                    }
                    overlapChecked = true
                case .batch(let batch):
                    guard overlapChecked else {
                        throw StockdConnection.ProtocolError(description: "stockd sent events before the one at last_seq \(position.lastSeq)")
                    }
                    let started = ContinuousClock.now
                    // whileOpen runs the commit in a task of its own, so a SIGTERM arriving while it is
                    // in flight lets it finish (or fail) instead of abandoning the connection
                    // mid-transaction. Either outcome is safe; this one leaves a tidy log.
                    let previous = lastSeq
                    logger.debug("committing seq \(previous + 1) to \(batch.lastSeq!)")
                    try await store.whileOpen { try await $0.commit(batch, site: site, previousLastSeq: previous) }
                    lastSeq = batch.lastSeq!
                    progress.state.withLock { state in
                        state.relayedSeq = lastSeq
                        state.lastEventAt = batch.lastRecordedAt
                    }
                    backoff.reset()
                    let elapsed = ContinuousClock.now - started
                    logger.info("relayed up to seq \(lastSeq)", metadata: [
                        "events": "\(batch.eventCount)", "stock_rows": "\(batch.stock.count)",
                        "commit_ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
                    ])
                    if Task.isCancelled { return }
                case .reply(let reply):
                    if reply.errorCode != nil {
                        throw StockdConnection.ProtocolError(description: "stockd: \(reply.summary)")
                    }
                    throw StockdConnection.ProtocolError(description: "unexpected line from stockd while watching: \(reply.text)")
                }
            }
            if Task.isCancelled { return }
            throw StockdConnection.ProtocolError(description: "stockd closed the connection")
        }
    }

    /// Every `lagLogInterval`, asks stockd for its last seq on a short connection of its own (a watching
    /// connection takes no other request) and logs how far PostgreSQL is behind.
    func logLagForever() async throws {
        while true {
            try await Task.sleep(for: configuration.lagLogInterval)
            let state = progress.state.withLock { $0 }
            guard let relayedSeq = state.relayedSeq else { continue }
            guard let stockdSeq = try? await StockdStatus.lastSeq(socketPath: configuration.socketPath, on: eventLoops[0]) else {
                logger.info("lag unknown: stockd unreachable", metadata: ["relayed_seq": "\(relayedSeq)"])
                continue
            }
            let behind = max(0, stockdSeq - relayedSeq)
            // Seconds behind: the age of the last event relayed, when events wait; an upper bound,
            // since the first waiting event is at least that recent.
            var behindSeconds = 0.0
            if behind > 0, let at = state.lastEventAt, let date = parseTimestamp(at) {
                behindSeconds = max(0, Date().timeIntervalSince(date))
            }
            logger.info("lag \(behind) events", metadata: [
                "behind_events": "\(behind)", "behind_s": "\(String(format: "%.1f", behindSeconds))",
                "stockd_seq": "\(stockdSeq)", "relayed_seq": "\(relayedSeq)",
            ])
        }
    }

    static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(format: "%.1f", Double(seconds) + Double(attoseconds) / 1e18)
    }
}

/// Reads stockd's RFC 3339 times (with or without a fraction).
func parseTimestamp(_ text: String) -> Date? {
    let withFraction = ISO8601DateFormatter()
    withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let date = withFraction.date(from: text) { return date }
    return ISO8601DateFormatter().date(from: text)
}

/// One-shot requests to stockd, for `--status` and the lag log.
enum StockdStatus {
    static func lastSeq(socketPath: String, on eventLoop: any EventLoop) async throws -> Int64 {
        let channel = try await StockdConnection.connect(socketPath: socketPath, on: eventLoop, lastRelayedSeq: 0,
                                                         batchEventsMax: 1, batchDelay: .milliseconds(1))
        return try await channel.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            try await StockdConnection.send(outbound, "HELLO format=json", "INFO", "QUIT")
            _ = try await StockdConnection.readReply(&iterator, request: "HELLO")
            let info = try await StockdConnection.readReply(&iterator, request: "INFO")
            guard let seq = info.rows.first?.fields["seq"].flatMap({ Int64($0) }) else {
                throw StockdConnection.ProtocolError(description: "stockd's INFO row has no seq")
            }
            return seq
        }
    }
}
