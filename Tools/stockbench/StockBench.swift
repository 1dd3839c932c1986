import ArgumentParser
import Histogram
import LedgerClient
import LedgerCore
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// stockbench: load for stockd in the manner of redis-benchmark: one (or two) SwiftNIO event-loop
/// threads drive every connection, so the load tool costs less than the daemon it measures (it
/// reports its own CPU per request). Every write it sends is durable (stockd acknowledges only after
/// the commit is synced), so its figures are durable-write figures.
@main
struct StockBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stockbench",
        abstract: "Measure stockd: throughput, latency percentiles and replies by ERR code.")

    @Option(help: "Socket of the stockd under test.") var socket = "var/stockd.sock"
    @Option(help: "Concurrent connections, all driven by the --threads event loops.") var clients = 16
    @Option(help: "Requests each connection keeps in flight (refilled after every read).") var pipeline = 1
    @Option(help: "Event-loop threads driving the connections (1 or 2).") var threads = 1
    @Flag(help: "Closed loop as redis-benchmark -P: send the next --pipeline requests only when all are answered.")
    var window = false
    @Option(help: "Run for this many seconds (default 10 unless --requests is given).") var duration: Double?
    @Option(help: "Stop after this many requests in all.") var requests: Int?
    @Option(help: "sell, reserve, stock or mixed.") var mix = "sell"
    @Option(help: "Distinct skus.") var skus = 1_000
    @Option(help: "Warehouses.") var warehouses = 4
    @Option(help: "Zipf exponent for sku popularity (0 = uniform).") var zipf = 0.0
    @Option(help: "Random seed.") var seed: UInt64 = 42
    @Option(help: "Target total request rate per second (open loop: latency counts from each request's scheduled time).")
    var rate: Double?
    @Option(name: .customLong("timer-us"),
            help: "Open loop: wake-ups are rounded up to a multiple of this many microseconds (fewer wake-ups; the delay counts in the latency).")
    var timerMicroseconds = 0
    @Option(help: "Instead of measuring, append N events (receives and sells over --skus x --warehouses) and exit.")
    var fill: Int?
    @Option(name: .customLong("fill-offline"),
            help: "Write N events straight into a new data folder (--data), through the same fold, and exit.")
    var fillOffline: Int?
    @Option(help: "Data folder for --fill-offline.") var data: String?
    @Flag(help: "One JSON object on stdout instead of the table.") var json = false
    @Flag(name: .customLong("no-seed-stock"), help: "Do not RECEIVE stock before the run.") var noSeedStock = false

    func validate() throws {
        guard ["sell", "reserve", "stock", "mixed"].contains(mix) else { throw ValidationError("--mix: sell, reserve, stock or mixed") }
        guard clients >= 1, pipeline >= 1, skus >= 1, warehouses >= 1 else { throw ValidationError("counts must be >= 1") }
        guard (1...2).contains(threads) else { throw ValidationError("--threads: 1 or 2") }
        if let rate { guard rate > 0 else { throw ValidationError("--rate must be > 0") } }
    }

    func run() throws {
        if let fill { return try runFill(events: fill) }
        if let fillOffline {
            guard let data else { throw ValidationError("--fill-offline needs --data") }
            return try OfflineFill(directory: data, skus: skus, warehouses: warehouses, seed: seed).run(events: fillOffline)
        }
        if !noSeedStock { try seedStock() }
        try runLoad()
    }

    /// The measuring mode: every connection on one of `threads` event loops, closed loop (each keeps
    /// `pipeline` requests in flight) or open loop (`--rate`). The window measured, for throughput and
    /// for the tool's own CPU, runs from the moment every connection is up until the last one closes.
    func runLoad() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        defer { try? group.syncShutdownGracefully() }
        let loops = Array(group.makeIterator())
        let stats = loops.map { _ in LoopStats() }
        let popularity = Popularity(count: skus, exponent: zipf)
        // Open loop: each connection sends one request every clients/rate seconds.
        let interval = rate.map { UInt64((Double(clients) / $0 * 1e9).rounded()) }
        var pending: [(EventLoopFuture<Channel>, LoadConnection)] = []
        for index in 0..<clients {
            let loop = loops[index % loops.count]
            let generator = RequestGenerator(mix: Mix(rawValue: mix)!, index: index, warehouses: warehouses,
                                             popularity: popularity, seed: seed &+ UInt64(index) &* 0x9E37_79B9)
            let handler = LoadConnection(stats: stats[index % loops.count], pipeline: pipeline, windowed: window,
                                         intervalNanoseconds: interval,
                                         timerGranularity: UInt64(max(0, timerMicroseconds)) * 1_000, generator: generator)
            let channel = ClientBootstrap(group: loop)
                .channelInitializer { channel in channel.pipeline.addHandler(handler) }
                .connect(unixDomainSocketPath: socket)
            pending.append((channel, handler))
        }
        var connected: [(Channel, LoadConnection)] = []
        var failed = 0
        for (future, handler) in pending {
            if let channel = try? future.wait() { connected.append((channel, handler)) } else { failed += 1 }
        }
        if failed > 0 { stats[0].codes["CONNECT", default: 0] += failed }

        let cpuBefore = processCPUSeconds()
        let start = nowNanoseconds()
        let rule = StopRule(deadline: requests == nil ? start + UInt64((duration ?? 10) * 1e9) : .max,
                            budget: requests.map { Budget(total: $0) })
        for (position, (channel, handler)) in connected.enumerated() {
            let fraction = Double(position) / Double(connected.count)
            channel.eventLoop.execute { handler.start(rule, at: start, offsetFraction: fraction) }
            if rule.deadline != .max {
                // A server that stops answering must not hang the run: 30 s after the end, give up.
                channel.eventLoop.scheduleTask(deadline: .uptimeNanoseconds(rule.deadline + 30_000_000_000)) { handler.abandon() }
            }
        }
        for (channel, _) in connected { try? channel.closeFuture.wait() }
        let end = nowNanoseconds()
        let cpu = processCPUSeconds() - cpuBefore
        report(stats, elapsed: Double(end - start) / 1e9, cpuSeconds: cpu)
    }

    /// Every (sku, wh) gets a large receipt, so sells and reservations succeed for the whole run.
    func seedStock() throws {
        let client = try LineClient(path: socket)
        var lines = ""
        var pending = 0
        for sku in 0..<skus {
            for wh in 0..<warehouses {
                lines += "RECEIVE sku=\(RequestGenerator.skuName(sku)) wh=\(RequestGenerator.whName(wh)) qty=100000000000\n"
                pending += 1
                if pending == 512 {
                    try client.sendRaw(Array(lines.utf8)); lines = ""
                    for _ in 0..<pending { if let code = try client.skipReply() { throw ValidationError("seeding failed: ERR \(code)") } }
                    pending = 0
                }
            }
        }
        try client.sendRaw(Array(lines.utf8))
        for _ in 0..<pending { if let code = try client.skipReply() { throw ValidationError("seeding failed: ERR \(code)") } }
    }

    /// Appends `events` events through the socket, pipelined, as fast as stockd takes them.
    func runFill(events: Int) throws {
        let start = monotonicNow()
        let connections = max(1, clients)
        let perClient = (events + connections - 1) / connections
        let budget = Budget(total: events)
        var threads: [pthread_t] = []
        let seedBase = seed
        for index in 0..<connections {
            let filler = Filler(index: index, socket: socket, skus: skus, warehouses: warehouses, budget: budget,
                                perClient: perClient, seed: seedBase &+ UInt64(index))
            let box = Unmanaged.passRetained(filler).toOpaque()
            var thread = pthread_t()
            pthread_create(&thread, nil, { raw in
                Unmanaged<Filler>.fromOpaque(raw!).takeRetainedValue().run()
                return nil
            }, box)
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
        let elapsed = monotonicNow() - start
        print("filled \(events) events in \(String(format: elapsed)) s: \(Int(Double(events) / elapsed)) events/s")
    }

    func report(_ stats: [LoopStats], elapsed: Double, cpuSeconds: Double) {
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var codes: [String: Int] = [:]
        var total = 0
        for loop in stats {
            histogram.add(loop.histogram)
            total += loop.completed
            if loop.ok > 0 { codes["OK", default: 0] += loop.ok }
            for (code, count) in loop.codes { codes[code, default: 0] += count }
        }
        let achieved = Double(total) / elapsed
        let cpuPerRequest = total > 0 ? cpuSeconds * 1e6 / Double(total) : 0
        let percentiles: [(String, Double)] = [("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9)]
        if json {
            var fields = ["\"mix\":\"\(mix)\"", "\"clients\":\(clients)", "\"pipeline\":\(pipeline)", "\"threads\":\(threads)",
                          "\"requests\":\(total)", "\"seconds\":\(String(format: elapsed))", "\"rps\":\(Int(achieved))"]
            if let rate { fields.append("\"target_rps\":\(Int(rate))") }
            for (name, value) in percentiles { fields.append("\"\(name)_us\":\(histogram.valueAtPercentile(value))") }
            fields.append("\"p999_us\":\(histogram.valueAtPercentile(99.9))")
            fields.append("\"max_us\":\(histogram.max)")
            fields.append("\"client_cpu_seconds\":\(String(format: cpuSeconds))")
            fields.append("\"client_cpu_us_per_request\":\(String(hundredths: cpuPerRequest))")
            fields.append("\"replies\":{" + codes.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}")
            print("{" + fields.joined(separator: ",") + "}")
            return
        }
        print("mix=\(mix) clients=\(clients) pipeline=\(pipeline) threads=\(threads) skus=\(skus) warehouses=\(warehouses) zipf=\(zipf)"
              + (rate.map { " rate=\(Int($0))" } ?? ""))
        print("requests    \(total) in \(String(format: elapsed)) s")
        print("throughput  \(Int(achieved)) requests/s")
        print("latency us  " + percentiles.map { "\($0.0)=\(histogram.valueAtPercentile($0.1))" }.joined(separator: " ")
              + " max=\(histogram.max)")
        print("replies     " + codes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        print("client cpu  \(String(format: cpuSeconds)) s, \(String(hundredths: cpuPerRequest)) us/request (utime+stime of stockbench)")
    }
}

extension String {
    /// Two decimals, for small per-request figures.
    init(hundredths value: Double) {
        let hundredths = Int((value * 100).rounded())
        let fraction = String(hundredths % 100)
        self = "\(hundredths / 100).\(String(repeating: "0", count: 2 - fraction.count))\(fraction)"
    }

    init(format value: Double) {
        let milli = Int((value * 1000).rounded())
        let fraction = String(milli % 1000)
        self = "\(milli / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }
}

func monotonicNow() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// The process's own CPU time so far (user + system, every thread), from getrusage.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// A shared count of requests still allowed, for `--requests`.
// Shared across threads safely: `remaining` is touched only with `lock` held.
final class Budget: @unchecked Sendable {
    private var remaining: Int
    private var lock = pthread_mutex_t()
    init(total: Int) { remaining = total; pthread_mutex_init(&lock, nil) }
    /// Takes up to `count` requests; returns how many were granted.
    func take(_ count: Int) -> Int {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        let granted = min(count, remaining)
        remaining -= granted
        return granted
    }
}


/// Zipf-distributed choice of a sku: rank k is chosen with weight 1/k^s (uniform when s = 0).
struct Popularity: Sendable {
    let cumulative: [Double]
    let uniform: Bool
    init(count: Int, exponent: Double) {
        uniform = exponent == 0
        var total = 0.0
        var sums: [Double] = []
        sums.reserveCapacity(count)
        for rank in 1...count {
            total += exponent == 0 ? 1 : 1 / pow(Double(rank), exponent)
            sums.append(total)
        }
        cumulative = sums.map { $0 / total }
    }
    func pick(_ random: inout SplitMix64) -> Int {
        if uniform { return random.below(cumulative.count) }
        let target = random.unit()
        var low = 0, high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] < target { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
