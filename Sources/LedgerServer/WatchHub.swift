import LedgerCore
import LedgerProtocol
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// How one pair changed with one event: what WATCH breaches turns into pushed lines.
public struct PairTransition: Sendable {
    public var seq: UInt64
    public var at: Timestamp
    public var key: PairKey
    public var before: PairState?
    public var after: PairState
    /// The sku's waiters for any warehouse (WATCH restock names them too).
    public var anyWarehouseWaiters: [Waiter] = []
    /// The channel defaults (CHANNEL) in force, for WATCH channels.
    public var channelDefaults: PairState?

    /// What WATCH channels pushes for this change: `channel_out` when a channel's view reaches 0,
    /// `channel_low` when it falls to its `low` or under, `channel_back` when it rises above again.
    public func channelLines(channel only: String?) -> [String] {
        guard !key.isAnyWarehouse, key != PairKey.configuration else { return [] }
        let old = before ?? PairState()
        var names = Set(after.fences.keys).union(after.channelRules.keys).union(old.fences.keys).union(old.channelRules.keys)
        names.formUnion(channelDefaults?.channelRules.keys.map { $0 } ?? [])
        if let only { names = names.intersection([only]) }
        var lines: [String] = []
        for channel in names.sorted() {
            let low = after.channelRules[channel].merged(over: channelDefaults?.channelRules[channel]).low ?? 0
            let was = max(0, old.view(channel, defaults: channelDefaults)), now = max(0, after.view(channel, defaults: channelDefaults))
            let word: String
            if now == 0 && was > 0 { word = "channel_out" }
            else if now <= low && was > low { word = "channel_low" }
            else if now > low && was <= low && (was < now) { word = "channel_back" }
            else { continue }
            var line = ReplyLine(word)
            line.add("seq", seq)
            line.add("sku", key.sku)
            line.add("wh", key.wh)
            line.add("channel", channel)
            line.add("view", now)
            line.add("low", low)
            lines.append(line.text)
        }
        return lines
    }

    /// What WATCH restock pushes for this change: `restock` when stock reaches `min` while people
    /// wait (the pair's waiters and the sku's any-warehouse ones, oldest first), `eta` when the
    /// restock date of a pair people wait for moves.
    public func restockLines(min: Int64) -> [String] {
        guard !key.isAnyWarehouse else { return [] }
        let waiters = (after.waitlist + anyWarehouseWaiters).sorted { $0.since < $1.since }
        guard !waiters.isEmpty else { return [] }
        var lines: [String] = []
        if (before?.available ?? 0) < min && after.available >= min {
            lines.append(Rows.restockPush(seq: seq, key, view: after.available, waiters: waiters))
        }
        if before?.restockETA != after.restockETA { lines.append(Rows.etaPush(seq: seq, key, after)) }
        return lines
    }

    /// The pushed lines this change makes: `breach`/`recovered` when it crosses the safety level,
    /// `stockout`/`instock` when available reaches 0 or leaves it.
    public var lines: [String] {
        var lines: [String] = []
        let wasBreached = before?.isBreached ?? false
        let wasAvailable = before?.available ?? 0
        func line(_ word: String) -> String {
            var line = ReplyLine(word)
            line.add("seq", seq)
            line.add("at", at)
            line.add("sku", key.sku)
            line.add("wh", key.wh)
            line.add("available", after.available)
            line.add("safety", after.safety)
            return line.text
        }
        if !wasBreached && after.isBreached { lines.append(line("breach")) }
        if wasBreached && !after.isBreached { lines.append(line("recovered")) }
        if wasAvailable > 0 && after.available == 0 { lines.append(line("stockout")) }
        if wasAvailable == 0 && after.available > 0 { lines.append(line("instock")) }
        return lines
    }
}

/// A line pushed to one topic's watchers about one pair (WATCH promises).
public struct TopicPush: Sendable {
    public var seq: UInt64
    public var key: PairKey
    public var line: String
}

/// What one commit changed, handed to every watcher after the commit is durable; or, with no
/// events, what the daemon noticed by the clock (`overdue`).
public struct CommittedChanges: Sendable {
    public var events: [Event]
    public var transitions: [PairTransition]
    /// False when the commit began before anyone watched: then it carries no transitions at all.
    public var transitionsTracked = true
    public var promisePushes: [TopicPush] = []
    /// What the spike counters say after these sales, or after a baseline was read (WATCH demand).
    public var demand: [DemandReading] = []
}

/// Fans committed changes out to watching connections. The writer only appends a hand-off to each
/// watcher's event loop (it never formats, filters or waits), so watchers cannot slow writers down.
// Shared across threads safely: `subscribers` and `count` are touched only with `lock` held.
final class WatchHub: @unchecked Sendable {

    struct Subscriber {
        let loop: EventLoop
        let progress: WatchProgress
        let deliver: @Sendable (CommittedChanges) -> Void
    }

    private let lock = NIOLock()
    private var subscribers: [ObjectIdentifier: Subscriber] = [:]
    private var count = 0
    /// The spike counters of WATCH demand, fed with every commit's sales while someone watches demand.
    let demand = DemandMonitor()

    /// Cheap check for the writer: collect pair transitions only when someone listens.
    var hasWatchers: Bool { lock.withLock { count > 0 } }

    func subscribe(_ id: ObjectIdentifier, loop: EventLoop, progress: WatchProgress,
                   deliver: @escaping @Sendable (CommittedChanges) -> Void) {
        lock.withLock {
            subscribers[id] = Subscriber(loop: loop, progress: progress, deliver: deliver)
            count = subscribers.count
        }
    }

    func unsubscribe(_ id: ObjectIdentifier) {
        lock.withLock {
            subscribers.removeValue(forKey: id)
            count = subscribers.count
        }
    }

    /// How many watch, and the last seq the slowest of them has been handed (nil without watchers).
    func progress() -> (watchers: Int, slowestSeq: UInt64?) {
        let progresses = lock.withLock { subscribers.values.map(\.progress) }
        return (progresses.count, progresses.map { $0.deliveredSeq.load(ordering: .relaxed) }.min())
    }

    func publish(_ committed: CommittedChanges) {
        var changes = committed
        if !changes.events.isEmpty { changes.demand += demand.record(changes.events) }
        guard !changes.events.isEmpty || !changes.promisePushes.isEmpty || !changes.demand.isEmpty else { return }
        let targets = lock.withLock { Array(subscribers.values) }
        for target in targets {
            target.loop.execute { [changes] in target.deliver(changes) }
        }
    }
}

/// The last seq a watcher has been handed, written on its event loop and read by a scrape: the
/// measure of its lag (`stockd_watcher_lag_max_events`).
final class WatchProgress: Sendable {
    let deliveredSeq: Synchronization.Atomic<UInt64>
    init(_ seq: UInt64) { deliveredSeq = Atomic(seq) }
}
