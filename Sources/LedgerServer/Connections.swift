import LedgerCore
import LedgerProtocol
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// Tracks open client channels, for INFO, for the connection limits and for closing them at
/// shutdown. A new connection is refused when the server is full or its uid holds its share;
/// root is counted in neither, up to a few slots of its own, so an operator can always get in.
// Shared across threads safely: `channels` and `perUid` are touched only with `lock` held.
final class ConnectionRegistry: @unchecked Sendable {
    enum Refusal: Error, Equatable {
        case serverFull(Int)
        case uidFull(uid: UInt32, Int)

        var line: String {
            switch self {
            case .serverFull(let max): ProtocolError(.limit, "too many connections (\(max))").line()
            case let .uidFull(uid, max): ProtocolError(.limit, "too many connections from uid \(uid) (\(max))").line()
            }
        }
    }

    /// How many connections may be open: of any uid but root, and in all (root may take the rest).
    struct Slots: Sendable, Equatable {
        var forOthers = Limits.connectionsMax
        var forRoot = Limits.connectionsMax + Limits.connectionsReservedForRoot
    }

    let slots: Slots
    let perUidMax: Int
    private let lock = NIOLock()
    private var channels: [ObjectIdentifier: Channel] = [:]
    private var perUid: [UInt32: Int] = [:]

    init(slots: Slots = Slots(), perUidMax: Int = Limits.connectionsPerUidDefault) {
        self.slots = slots
        self.perUidMax = perUidMax
    }

    var count: Int { lock.withLock { channels.count } }

    /// Registers a new connection of `uid`, or says why it is refused.
    func add(_ channel: Channel, uid: UInt32) -> Refusal? {
        lock.withLock {
            if uid == 0 {
                guard channels.count < slots.forRoot else { return .serverFull(slots.forRoot) }
            } else {
                guard channels.count < slots.forOthers else { return .serverFull(slots.forOthers) }
                guard perUid[uid, default: 0] < perUidMax else { return .uidFull(uid: uid, perUidMax) }
            }
            channels[ObjectIdentifier(channel)] = channel
            perUid[uid, default: 0] += 1
            return nil
        }
    }

    func remove(_ channel: Channel, uid: UInt32) {
        lock.withLock {
            guard channels.removeValue(forKey: ObjectIdentifier(channel)) != nil else { return }
            perUid[uid]! -= 1
            if perUid[uid] == 0 { perUid[uid] = nil }
        }
    }

    func all() -> [Channel] { lock.withLock { Array(channels.values) } }
}

/// The bytes of large read answers and watcher backlogs written and not yet taken by their
/// clients, across every connection. Past `limit`, no connection starts a list or log read and a
/// watcher that falls behind is cut off, until clients take some: the part of the daemon's memory
/// that peers control stays under a bound whatever they send (docs/operating.md, "Memory").
final class ReplyBudget: Sendable {
    let limit: Int
    private let bytes = Atomic<Int>(0)

    init(limit: Int = Limits.readReplyBytesInFlightMax) { self.limit = limit }

    var inFlight: Int { bytes.load(ordering: .relaxed) }
    var hasRoom: Bool { inFlight < limit }
    func add(_ count: Int) { bytes.add(count, ordering: .relaxed) }
    func remove(_ count: Int) { bytes.subtract(count, ordering: .relaxed) }
}

/// The idle check, sent now and then to every connection by one server-wide timer (cheaper than a
/// timer, or a promise per write, in each of thousands of connections): a connection idle for
/// `timeoutMicroseconds` closes itself. So a connection closes between one and 1¼ timeouts after it
/// fell idle.
struct IdleSweep: Sendable {
    let nowMicroseconds: UInt64
    let timeoutMicroseconds: UInt64

    static func now() -> UInt64 { LedgerWriter.monotonicMicroseconds() }

    /// Sweeps every connection of `connections` every quarter of the timeout, until the task is cancelled.
    static func schedule(on loop: any EventLoop, timeoutSeconds: Int64, connections: ConnectionRegistry) -> RepeatedTask? {
        guard timeoutSeconds > 0 else { return nil }
        let timeout = UInt64(timeoutSeconds) * 1_000_000
        let period = TimeAmount.microseconds(Int64(timeout / 4))
        return loop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            let sweep = IdleSweep(nowMicroseconds: now(), timeoutMicroseconds: timeout)
            for channel in connections.all() { channel.pipeline.fireUserInboundEventTriggered(sweep) }
        }
    }
}
