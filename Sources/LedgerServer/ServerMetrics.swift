import CoreMetrics
import LedgerProtocol
import NIOCore
import Prometheus
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// stockd's metrics, in the Prometheus text format (docs/operating.md, "Metrics"; the names and
/// types are listed there).
///
/// What happens is counted as it happens, through swift-metrics' types backed by swift-prometheus
/// instruments on a registry of this server's own (not the process-wide `MetricsSystem`, so servers
/// in one test process keep apart): `ERR` lines by code, read and write latency, commits. Requests
/// by verb are counted per event loop (`RequestShard`) and summed when asked for. What is a state (connections, watchers, LMDB, the writer's totals, the process) is read
/// when the metrics are asked for and set just before the text is made, under one lock, so two
/// scrapes at once never interleave.
///
/// Cost on the hot path (measured: docs/performance.md, "Metrics"): a request adds one to an integer
/// of its connection's own, added to its event loop's shard once per read burst; a reply's first
/// byte is looked at, and an `ERR` is one atomic add; one in 16 reads answered from memory is timed
/// (two monotonic clock reads and a histogram update under a short lock); the writes of one read
/// burst share one histogram update.
public final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    /// Request counts, one shard per event loop (`RequestShard`), summed into
    /// `stockd_requests_total` when the metrics are asked for.
    private let requestShards = Mutex<[ObjectIdentifier: RequestShard]>([:])
    private let errors: [String: CoreMetrics.Counter]
    let readDuration: CoreMetrics.Timer
    let writeDuration: CoreMetrics.Timer
    let commitDuration: CoreMetrics.Timer
    let commitWrites: CoreMetrics.Recorder
    let eventsAppended: CoreMetrics.Counter
    /// Held while a scrape sets the state metrics and renders the text.
    private let scrape = Mutex(())

    /// Read answers take microseconds (memory) to milliseconds (the log).
    static let readBuckets: [Duration] = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 10_000, 100_000]
        .map { Duration.nanoseconds(Int64($0 * 1_000)) }
    /// A write waits for its group's commit and sync: a fraction of a millisecond to tens of them.
    static let writeBuckets: [Duration] = [50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000, 1_000_000]
        .map { Duration.microseconds($0) }
    /// Writes per group commit: 1 to `Limits.groupWritesMax`.
    static let commitWritesBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1_024, 4_096]

    public init() {
        let registry = self.registry
        factory = PrometheusMetricsFactory(registry: registry)
        let factory = self.factory
        func counter(_ name: String, _ labels: [(String, String)] = [], help: String) -> CoreMetrics.Counter {
            let handler = registry.makeCounter(descriptor: ServerMetrics.descriptor(name, help), labels: labels)
            return CoreMetrics.Counter(label: name, dimensions: labels, handler: handler, factory: factory)
        }
        func timer(_ name: String, buckets: [Duration], help: String) -> CoreMetrics.Timer {
            CoreMetrics.Timer(label: name, dimensions: [], handler: registry.makeDurationHistogram(
                descriptor: ServerMetrics.descriptor(name, help), buckets: buckets), factory: factory)
        }
        var errors: [String: CoreMetrics.Counter] = [:]
        for code in ErrorCode.allCases {
            errors[code.rawValue] = counter("stockd_errors_total", [("code", code.rawValue)],
                                            help: "ERR lines sent, by code (a refused request, a cut-off watcher, a refused connection).")
        }
        self.errors = errors
        readDuration = timer("stockd_read_duration_seconds", buckets: ServerMetrics.readBuckets,
                             help: "Time to answer one read (one page of an EVENTS or HISTORY answer).")
        writeDuration = timer("stockd_write_duration_seconds", buckets: ServerMetrics.writeBuckets,
                              help: "From writes handed to the writer to their replies (queue, group commit, sync); one observation per hand-off: the writes of one connection's read burst.")
        commitDuration = timer("stockd_commit_duration_seconds", buckets: ServerMetrics.writeBuckets,
                               help: "Time inside one group commit's transaction, commit included.")
        commitWrites = CoreMetrics.Recorder(
            label: "stockd_commit_writes", dimensions: [], aggregate: true,
            handler: registry.makeValueHistogram(descriptor: ServerMetrics.descriptor("stockd_commit_writes",
                                                                                      "Writes carried by one group commit."),
                                                 buckets: ServerMetrics.commitWritesBuckets),
            factory: factory)
        eventsAppended = counter("stockd_events_appended_total", help: "Events appended to the log.")
    }

    /// The whole name, spelt out where the metric is made so that it can be searched for.
    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    // MARK: counted as it happens

    /// The monotonic clock in nanoseconds, for durations.
    @inline(__always)
    static func nanosecondsNow() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// One connection's requests by verb since its last read burst, and which read to time next:
    /// plain integers of the connection's own, so a request costs no shared memory (see
    /// `RequestShard`, where they go once per burst).
    struct Tally {
        /// Reads answered on an event loop are timed one in this many: two clock reads and a
        /// histogram update under a lock that both event loops take are a large part of an
        /// in-memory STOCK, which costs about 2 µs of CPU in all. The off-loop reads (history, the
        /// log) are all timed.
        static let readsPerTimedRead = 16
        var counts = [Int](repeating: 0, count: Verb.allCases.count)
        var total = 0
        var readsUntilTimed = 0

        mutating func clear() {
            for index in counts.indices { counts[index] = 0 }
            total = 0
        }

        @inline(__always)
        mutating func count(_ verb: Verb) {
            counts[verb.rawValue] += 1
            total += 1
        }

        /// Whether to time this read.
        @inline(__always)
        mutating func timesNextRead() -> Bool {
            if readsUntilTimed > 0 {
                readsUntilTimed -= 1
                return false
            }
            readsUntilTimed = Tally.readsPerTimedRead - 1
            return true
        }
    }

    /// The request counts of the connections of `loop`: taken once per connection.
    func requestShard(for loop: any EventLoop) -> RequestShard {
        requestShards.withLock { shards in
            if let shard = shards[ObjectIdentifier(loop)] { return shard }
            let shard = RequestShard()
            shards[ObjectIdentifier(loop)] = shard
            return shard
        }
    }

    func countError(_ code: ErrorCode) { errors[code.rawValue]?.increment() }

    /// Counts the error of a reply about to be sent, if it is one: it starts `ERR CODE` (or
    /// `{"err":"CODE"` in JSON). An `ERR` reply is always that one line (nothing was done, so there
    /// are no rows; a batch that fails answers only its `ERR index=`), so the first bytes tell, and a
    /// reply costs a comparison or two however long it is.
    @inline(__always)
    func countIfError(_ reply: ByteBuffer) {
        // Most replies start with `OK` or a row word: one byte tells them apart.
        guard let first = reply.getInteger(at: reply.readerIndex, as: UInt8.self),
              first == UInt8(ascii: "E") || first == UInt8(ascii: "{") else { return }
        countError(in: reply)
    }

    private func countError(in reply: ByteBuffer) {
        reply.withUnsafeReadableBytes { bytes in
            let line = bytes[...]
            let code: Slice<UnsafeRawBufferPointer>
            if line.starts(with: ServerMetrics.errPrefix) {
                code = line.dropFirst(ServerMetrics.errPrefix.count).prefix { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") }
            } else if line.starts(with: ServerMetrics.jsonErrPrefix) {
                code = line.dropFirst(ServerMetrics.jsonErrPrefix.count).prefix { $0 != UInt8(ascii: "\"") }
            } else {
                return
            }
            errors[String(decoding: code, as: UTF8.self)]?.increment()
        }
    }

    private static let errPrefix = Array("ERR ".utf8)
    private static let jsonErrPrefix = Array("{\"err\":\"".utf8)

    /// The writes one connection handed to the writer together (those of one read burst) were
    /// answered together after `nanoseconds`: one observation for them all. Aggregated per hand-off
    /// because they share that latency by construction, and one histogram update per write was
    /// measured at about 5% of a write's CPU (docs/performance.md, "Metrics"). `stockd_requests_total`
    /// counts the writes themselves.
    func writesAnswered(nanoseconds: Int64) {
        writeDuration.recordNanoseconds(nanoseconds)
    }

    /// One group commit: how long its transaction took, how many writes and events it carried.
    func committed(microseconds: UInt64, writes: Int, events: Int) {
        commitDuration.recordMicroseconds(microseconds)
        commitWrites.record(writes)
        eventsAppended.increment(by: events)
    }

    // MARK: read when asked for

    /// The states a scrape reads, gathered by the caller (`ReadService.metricsSnapshot`).
    struct Snapshot {
        var seq: UInt64
        var connections: Int
        var watchers: Int
        var slowestWatcherLag: UInt64
        var breachesOpen: Int
        var writer: LedgerWriter.Statistics
        var mapBytes: Int
        var usedBytes: Int
        var dataFileBytes: Int
        var startedAtSeconds: Double
    }

    /// The exposition text for `snapshot` and the process as it is now.
    func exposition(_ snapshot: Snapshot) -> String {
        scrape.withLock { _ in
            var requests = [Int](repeating: 0, count: Verb.allCases.count)
            for shard in requestShards.withLock({ Array($0.values) }) { shard.addCounts(to: &requests) }
            for verb in Verb.allCases {
                total("stockd_requests_total", "Requests parsed, by verb.", requests[verb.rawValue], labels: [("verb", verb.name)])
            }
            gauge("stockd_last_seq", "The last seq committed and published.", snapshot.seq)
            gauge("stockd_connections", "Client connections open.", snapshot.connections)
            gauge("stockd_watchers", "Connections streaming a WATCH.", snapshot.watchers)
            gauge("stockd_watcher_lag_max_events",
                  "Events committed that the slowest watcher has not been handed yet (0 without watchers).",
                  snapshot.slowestWatcherLag)
            gauge("stockd_breaches_open", "Pairs below their safety level now.", snapshot.breachesOpen)
            total("stockd_commits_failed_total", "Group commits that failed (their writes were refused).",
                  snapshot.writer.groupsFailed)
            total("stockd_checkpoints_total", "Checkpoints written.", snapshot.writer.checkpoints)
            gauge("stockd_checkpoint_seq", "The seq the last checkpoint covers.", snapshot.writer.checkpointSeq)
            gauge("stockd_checkpoint_lag_events", "Events a start would fold again: committed, not checkpointed.",
                  snapshot.seq - min(snapshot.seq, snapshot.writer.checkpointSeq))
            gauge("stockd_lmdb_map_size_bytes", "The LMDB map size (it doubles when full).", snapshot.mapBytes)
            gauge("stockd_lmdb_used_bytes", "LMDB pages in use, in bytes.", snapshot.usedBytes)
            gauge("stockd_lmdb_data_file_bytes", "Size of data.mdb on disk.", snapshot.dataFileBytes)
            let process = ProcessFigures.read()
            total("process_cpu_seconds_total", "User and system CPU time spent, in seconds.", process.cpuSeconds)
            gauge("process_resident_memory_bytes", "Resident memory size in bytes.", process.residentBytes)
            gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", process.virtualBytes)
            gauge("process_open_fds", "Open file descriptors.", process.openDescriptors)
            gauge("process_max_fds", "The open file descriptor limit.", process.descriptorLimit)
            gauge("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds.",
                  snapshot.startedAtSeconds)
            return registry.emitToString()
        }
    }

    private func gauge(_ name: String, _ help: String, _ value: some BinaryInteger) { gauge(name, help, Double(value)) }

    private func gauge(_ name: String, _ help: String, _ value: Double) {
        registry.makeGauge(descriptor: ServerMetrics.descriptor(name, help)).set(to: value)
    }

    /// A counter whose total is kept elsewhere (the writer's statistics, the kernel): set to it.
    /// Only scrapes touch it, one at a time, so no scrape sees it between reset and increment.
    private func total(_ name: String, _ help: String, _ value: some BinaryInteger, labels: [(String, String)] = []) {
        total(name, help, Double(value), labels: labels)
    }

    private func total(_ name: String, _ help: String, _ value: Double, labels: [(String, String)] = []) {
        let counter = registry.makeCounter(descriptor: ServerMetrics.descriptor(name, help), labels: labels)
        counter.reset()
        counter.increment(by: value)
    }
}

/// The requests by verb of one event loop's connections. Each connection tallies its own
/// (`ServerMetrics.Tally`) and adds the tally here once per read burst. Only that loop's thread adds,
/// and a scrape reads now and then, so the lock is never contended: a shared counter, taken by both
/// event loops at every burst, was measured at a tenth of an in-memory STOCK's cost.
final class RequestShard: Sendable {
    private let counts = Mutex([Int](repeating: 0, count: Verb.allCases.count))

    /// Adds a connection's tally and empties it.
    func add(_ tally: inout ServerMetrics.Tally) {
        guard tally.total > 0 else { return }
        counts.withLock { counts in
            for index in counts.indices { counts[index] += tally.counts[index] }
        }
        tally.clear()
    }

    func addCounts(to totals: inout [Int]) {
        counts.withLock { counts in
            for index in counts.indices { totals[index] += counts[index] }
        }
    }
}

/// The process basics Prometheus clients conventionally export, from getrusage, /proc/self/statm,
/// /proc/self/fd and getrlimit (all readable under the unit's `ProcSubset=pid`).
struct ProcessFigures {
    var cpuSeconds = 0.0
    var residentBytes = 0
    var virtualBytes = 0
    var openDescriptors = 0
    var descriptorLimit = 0

    static func read() -> ProcessFigures {
        var figures = ProcessFigures()
        var usage = rusage()
        if getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 {
            func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
            figures.cpuSeconds = seconds(usage.ru_utime) + seconds(usage.ru_stime)
        }
        // statm: size resident shared text lib data dt, in pages.
        let pageBytes = Int(sysconf(Int32(_SC_PAGESIZE)))
        let statm = (try? ProcFile.text("/proc/self/statm"))?.split(separator: " ").compactMap { Int($0) } ?? []
        if statm.count >= 2 {
            figures.virtualBytes = statm[0] * pageBytes
            figures.residentBytes = statm[1] * pageBytes
        }
        if let directory = opendir("/proc/self/fd") {
            // Less ".", ".." and the descriptor of this very listing.
            var entries = 0
            while readdir(directory) != nil { entries += 1 }
            closedir(directory)
            figures.openDescriptors = max(0, entries - 3)
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { figures.descriptorLimit = Int(limit.rlim_cur) }
        return figures
    }
}

/// Small text files of /proc, read whole.
enum ProcFile {
    struct Failed: Error { let path: String; let errno: Int32 }

    static func text(_ path: String) throws -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw Failed(path: path, errno: errno) }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 4_096)
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count >= 0 else { throw Failed(path: path, errno: errno) }
        return String(decoding: buffer[..<count], as: UTF8.self).trimmingSuffixNewline()
    }
}

private extension String {
    func trimmingSuffixNewline() -> String { hasSuffix("\n") ? String(dropLast()) : self }
}
