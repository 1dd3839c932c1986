import LedgerCore
import LedgerProtocol
import LedgerStore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Synchronization

// Planning (FEATURES.md §1e): SUGGEST, KANBAN, WATCH kanban and WATCH demand. All of it reads; none
// of it writes (P3: levels change only through POLICY).

extension ReadService {
    /// SUGGEST: folds the events of one sku up to `at` (through the per-sku index, as `STOCK at=` does,
    /// so no other sku's event is read) and proposes levels for each of its warehouses. The `OK` line's
    /// seq is the last event folded: the same `at=` gives the same answer later.
    func suggest(sku: String, wh: String?, options: SuggestOptions, at: LogPoint?) throws -> [String] {
        var heldTime: Timestamp?
        if case .time(let time)? = at { heldTime = time }
        let (tail, heldSeq) = view.withContents { contents in
            (contents.tail.only(sku), heldTime.flatMap { contents.clockMarks.seq(at: $0) })
        }
        return try store.read { reader in
            let past = PointInTime(reader: reader, tail: tail)
            let seq = try at.map { try past.seq(ReadService.resolve($0, heldSeq: heldSeq, reader: reader, tail: tail)) } ?? tail.lastSeq
            // The window ends with the day before the one the answer is for (never a day to come).
            let end: Timestamp
            switch at {
            case .time(let time)?: end = min(time, clock())
            case .seq?: end = try reader.event(seq)?.recordedAt ?? clock()
            case nil: end = clock()
            }
            var log = DemandLog(options: options, end: end)
            try reader.forEachEvent(sku: sku, from: 1, tail: tail) { event in
                guard event.seq <= seq else { return false }
                log.add(event)
                return true
            }
            return ok(log.suggestions(wh: wh).map(Rows.suggest), seq)
        }
    }

    /// KANBAN: the pairs with a Kanban loop (`POLICY bin=`), by sku then warehouse.
    func kanban(wh: String?, sku: String?) -> [String] {
        let (found, seq) = view.withContents { contents -> ([(PairKey, PairState)], UInt64) in
            var found: [(PairKey, PairState)] = []
            let skus = sku.map { [$0] } ?? contents.skus.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for sku in skus {
                guard let pairs = contents.skus[sku] else { continue }
                for (warehouse, pair) in zip(pairs.warehouses, pairs.pairs) where pair.bin > 0 && (wh == nil || warehouse == wh) {
                    found.append((PairKey(sku: sku, wh: warehouse), pair))
                }
            }
            return (found, contents.lastSeq)
        }
        return ok(found.map { Rows.kanban($0.0, $0.1) }, seq)
    }

    /// Reads from the log what the spike counters of `skus` start from (the sales of the last 28 days and
    /// of the last hour), on the read pool; then their watchers hear the new readings. A sku whose read
    /// is already under way is skipped.
    func refreshDemand(_ skus: [String], pool: NIOThreadPool, loop: EventLoop) {
        let monitor = watchers.demand
        let claimed = monitor.claim(skus)
        guard !claimed.isEmpty else { return }
        pool.runIfActive(eventLoop: loop) { [self] in
            for sku in claimed {
                let now = clock()
                let tail = view.withContents { $0.tail.only(sku) }
                var history = SalesHistory(now: now)
                do {
                    try damageLog.logging {
                        try store.read { reader in
                            // From the sku's first event: a sale of a reservation counts for the
                            // reservation's channel, which only the fold knows.
                            try reader.forEachEvent(sku: sku, from: 1, tail: tail) { event in
                                history.add(event)
                                return true
                            }
                        }
                    }
                } catch {
                    // The next sale of the sku asks again.
                    monitor.release([sku])
                    continue
                }
                let readings = monitor.refreshed(sku, history, through: tail.lastSeq)
                if !readings.isEmpty { watchers.publish(CommittedChanges(events: [], transitions: [], demand: readings)) }
            }
        }.whenFailure { _ in monitor.release(claimed) }
    }
}

extension PairTransition {
    /// The `card` WATCH kanban pushes when this change empties a bin of a pair with a Kanban loop.
    var cardLine: String? {
        guard let before else { return nil }
        let emptied = after.binsEmptied(since: before)
        return emptied > 0 ? Rows.card(seq: seq, at: at, key, after, emptied: emptied) : nil
    }
}

/// What the spike counters say of one pair after a sale (or after its baseline was read from the log).
public struct DemandReading: Sendable {
    public var key: PairKey
    /// The pair's last sale counted.
    public var seq: UInt64
    public var at: Timestamp
    /// nil: the pair's sales in every channel; or one channel's.
    public var channel: String?
    /// Units sold in the hour up to `at`.
    public var rate: Int64
    /// Mean units per hour over the last 28 days; nil until read from the log.
    public var baseline: Double?
    /// The baseline is missing or an hour old: it should be read from the log again.
    public var due: Bool
}

/// One WATCH demand's view of the readings: a pair is pushed once when its rate reaches the watcher's
/// ratio, and again only after a reading below it.
struct SpikeEdges {
    private var spiking: Set<PairKey> = []

    mutating func line(for reading: DemandReading, ratio: Double) -> String? {
        guard let baseline = reading.baseline else { return nil }
        guard Planning.isSpike(rate: reading.rate, baseline: baseline, ratio: ratio) else {
            spiking.remove(reading.key)
            return nil
        }
        guard spiking.insert(reading.key).inserted else { return nil }
        return Rows.spike(seq: reading.seq, at: reading.at, reading.key, channel: reading.channel, rate: reading.rate, baseline: baseline)
    }
}

/// The spike counters of WATCH demand: per pair, the sales of the last hour (kept in memory from the
/// committed events) and the mean hourly demand of the last 28 days (read from the log, again when an
/// hour old). Nothing is written. They exist while someone watches demand: the first watcher starts
/// them empty, and the first sale of a sku after that has its counters read from the log.
// Shared across threads safely: every stored property but `watchers` (an atomic) is touched only
// with `lock` held.
final class DemandMonitor: @unchecked Sendable {
    private struct Counter {
        var sales: [Sale] = []
        var baseline: Double?
        var computedAt: Int64 = 0

        /// Sales come in time order: those more than an hour old are at the front.
        mutating func add(_ sale: Sale) {
            sales.append(sale)
            if let young = sales.firstIndex(where: { $0.at > sale.at - Planning.hourMicroseconds }), young > 0 {
                sales.removeFirst(young)
            }
        }

        func reading(_ key: CounterKey, now: Int64) -> DemandReading {
            let recent = sales.filter { $0.at > now - Planning.hourMicroseconds }
            return DemandReading(key: key.pair, seq: sales.last?.seq ?? 0, at: Timestamp(microseconds: now), channel: key.channel,
                                 rate: recent.reduce(0) { $0 + $1.units }, baseline: baseline,
                                 due: baseline == nil || now - computedAt >= Planning.baselineRefreshMicroseconds)
        }
    }

    private let watchers = Atomic<Int>(0)
    private let lock = NIOLock()
    /// A pair's counters for every channel (`channel` nil) and for each channel that sold there.
    struct CounterKey: Hashable {
        var pair: PairKey
        var channel: String?
    }
    private var counters: [CounterKey: Counter] = [:]
    /// Per sku, the last seq its counters were read from the log up to: later sales are counted live.
    private var readThrough: [String: UInt64] = [:]
    private var refreshing: Set<String> = []

    func watcherStarted() { watchers.add(1, ordering: .relaxed) }

    func watcherStopped() {
        guard watchers.subtract(1, ordering: .relaxed).newValue == 0 else { return }
        lock.withLock {
            counters = [:]
            readThrough = [:]
            refreshing = []
        }
    }

    /// Counts the sales of committed events (the writer, as it publishes them): the readings of the
    /// pairs they sold from, in every channel and in the sale's own (`SELL channel=`, or the channel
    /// of the reservation sold, which the writer looked up: `saleChannels`). Nothing, and no lock,
    /// while nobody watches demand.
    func record(_ events: [Event], saleChannels: [UInt64: String]) -> [DemandReading] {
        guard watchers.load(ordering: .relaxed) > 0 else { return [] }
        return lock.withLock {
            var readings: [DemandReading] = []
            for event in events {
                guard case let .sold(sku, wh, quantity, _) = event.body else { continue }
                if let through = readThrough[sku], event.seq <= through { continue }
                let pair = PairKey(sku: sku, wh: wh), now = event.recordedAt.microseconds
                let channel = event.decisions.channel ?? saleChannels[event.seq]
                for key in [CounterKey(pair: pair, channel: nil)] + (channel.map { [CounterKey(pair: pair, channel: $0)] } ?? []) {
                    counters[key, default: Counter()].add(Sale(at: now, units: quantity, seq: event.seq))
                    readings.removeAll { $0.key == key.pair && $0.channel == key.channel }
                    readings.append(counters[key]!.reading(key, now: now))
                }
            }
            return readings
        }
    }

    /// The skus of `skus` whose counters no one is reading from the log yet; they are now being read.
    func claim(_ skus: [String]) -> [String] {
        lock.withLock { skus.filter { refreshing.insert($0).inserted } }
    }

    func release(_ skus: [String]) {
        lock.withLock { for sku in skus { refreshing.remove(sku) } }
    }

    /// Takes what the log says of `sku` up to seq `through`: the last hour's sales from the log, then
    /// those counted live after it; the baseline. Returns the readings of the sku's pairs.
    func refreshed(_ sku: String, _ history: SalesHistory, through: UInt64) -> [DemandReading] {
        lock.withLock {
            refreshing.remove(sku)
            guard watchers.load(ordering: .relaxed) > 0 else { return [] }
            readThrough[sku] = through
            var keys = Set(history.units.keys.map { CounterKey(pair: PairKey(sku: sku, wh: $0.wh), channel: $0.channel) })
            for key in counters.keys where key.pair.sku == sku { keys.insert(key) }
            return keys.sorted { ($0.pair.wh, $0.channel ?? "") < ($1.pair.wh, $1.channel ?? "") }.map { key in
                let historyKey = SalesHistory.Key(wh: key.pair.wh, channel: key.channel)
                var counter = counters[key] ?? Counter()
                counter.sales = (history.lastHour[historyKey] ?? []) + counter.sales.filter { $0.seq > through }
                counter.baseline = history.baseline(historyKey)
                counter.computedAt = history.now
                counters[key] = counter
                return counter.reading(key, now: Swift.max(history.now, counter.sales.last?.at ?? 0))
            }
        }
    }
}
