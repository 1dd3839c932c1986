import ArgumentParser
import LedgerClient
#if canImport(Glibc)
import Glibc
#endif

/// `stockctl top`: one screen about a running stockd, redrawn every second from `INFO`, `BREACHES`
/// and `METRICS`: writes and reads per second, commit time, writes per commit, connections,
/// watchers and the slowest one's lag, breaches open now. Rates are over the last second; the first
/// screen (and `--once`) shows them since start.
struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A live one-screen view of a running stockd, refreshed every second (Ctrl-C to leave).")
    @OptionGroup var socketOptions: SocketOptions
    @Flag(help: "Print one screen and exit (for scripts and tests).") var once = false
    @Flag(help: "With --once: one JSON object instead of the screen.") var json = false

    /// One look at the daemon: INFO's fields, the breaches open, and when it was taken.
    struct Sample {
        var info: [String: String]
        var breaches: Int64
        var takenAt: Double

        func number(_ key: String) -> Double? { info[key].flatMap(Double.init) }
    }

    /// What the screen shows, by name; nil where the daemon does not report it.
    struct Figures: Encodable {
        var version: String
        var uptime: Int64
        var seq: Int64
        var writes_per_s: Double?
        var reads_per_s: Double?
        var commits_per_s: Double?
        var commit_us_mean: Double?
        var writes_per_commit: Double?
        var connections: Int64?
        var watchers: Int64?
        var watcher_lag_events: Int64?
        var breaches: Int64
    }

    func run() throws {
        let connection = try Connection(socketPath: socketOptions.socket)
        var previous: Sample?
        while true {
            let sample = try take(connection)
            let figures = Top.figures(sample, since: previous)
            if once {
                print(json ? try jsonText(figures) : screen(figures))
                return
            }
            // Home and clear, then the screen: one frame, no scrolling.
            print("\u{1B}[H\u{1B}[2J" + screen(figures), terminator: "")
            fflush(nil)
            previous = sample
            let next = sample.takenAt + 1
            let wait = next - monotonicSeconds()
            if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
        }
    }

    private func take(_ connection: Connection) throws -> Sample {
        do {
            let info = try connection.client.request("INFO")
            let breaches = try connection.client.request("BREACHES")
            let metrics = try connection.client.request("METRICS")
            guard ReplyEnd(info.last ?? "") == .ok, ReplyEnd(breaches.last ?? "") == .ok else {
                throw Failure("stockd at \(socketOptions.socket) refused: \((info + breaches).filter { ReplyEnd($0) == .error }.joined(separator: "; "))")
            }
            var fields = ReplyFields.parse(info[0])
            // Reads, watchers and their lag are in the metrics (a daemon without METRICS shows `-`).
            if ReplyEnd(metrics.last ?? "") == .ok {
                fields.merge(Top.figuresFromMetrics(metrics.dropLast())) { info, _ in info }
            }
            return Sample(info: fields, breaches: ReplyFields.int("rows", in: breaches.last!) ?? 0,
                          takenAt: monotonicSeconds())
        } catch let error as ClientError {
            throw Failure("stockd at \(socketOptions.socket): \(String(cString: strerror(error.errno)))")
        }
    }

    /// The verbs that read, whose requests make `reads`: BREACHES is left out, as top asks it itself
    /// every second.
    static let readVerbs: Set<String> = ["STOCK", "REORDER", "RESERVATIONS", "TRANSFERS", "HISTORY", "EVENTS"]

    /// `reads` (the read verbs' requests since start), `watchers` and `watcher_lag` from the
    /// Prometheus text lines of a METRICS reply.
    static func figuresFromMetrics<Lines: Sequence<String>>(_ lines: Lines) -> [String: String] {
        var reads = 0.0
        var figures: [String: String] = [:]
        for line in lines where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            guard parts.count >= 2, let value = Double(parts[1]) else { continue }
            let series = parts[0]
            if series == "stockd_watchers" { figures["watchers"] = String(Int64(value)) }
            if series == "stockd_watcher_lag_max_events" { figures["watcher_lag"] = String(Int64(value)) }
            if series.hasPrefix("stockd_requests_total{"), let verb = series.split(separator: "\"").dropFirst().first,
               readVerbs.contains(String(verb)) {
                reads += value
            }
        }
        figures["reads"] = String(reads)
        return figures
    }

    /// Rates between two samples, or since start when there is no earlier one.
    static func figures(_ now: Sample, since before: Sample?) -> Figures {
        // INFO's uptime is in whole seconds: at least one, so a daemon started just now shows its rates.
        let seconds = before.map { now.takenAt - $0.takenAt } ?? max(1, now.number("uptime") ?? 1)
        func delta(_ key: String) -> Double? {
            guard let value = now.number(key) else { return nil }
            return value - (before?.number(key) ?? 0)
        }
        func rate(_ key: String) -> Double? { delta(key).map { seconds > 0 ? $0 / seconds : 0 } }
        let commits = delta("commits") ?? 0
        // INFO's commit time and writes per commit are means since start; over the last second they
        // are the change in their totals divided by the commits in it.
        let commitMicroseconds = now.number("commit_us_mean").map { mean in
            mean * (now.number("commits") ?? 0) - (before.flatMap { b in b.number("commit_us_mean").map { $0 * (b.number("commits") ?? 0) } } ?? 0)
        }
        return Figures(
            version: now.info["version"] ?? "?", uptime: Int64(now.number("uptime") ?? 0), seq: Int64(now.number("seq") ?? 0),
            writes_per_s: rate("writes_committed"), reads_per_s: rate("reads"), commits_per_s: rate("commits"),
            commit_us_mean: commits > 0 ? commitMicroseconds.map { max(0, $0) / commits } : 0,
            writes_per_commit: commits > 0 ? delta("writes_committed").map { $0 / commits } : 0,
            connections: now.number("connections").map { Int64($0) }, watchers: now.number("watchers").map { Int64($0) },
            watcher_lag_events: now.number("watcher_lag").map { Int64($0) }, breaches: now.breaches)
    }

    private func screen(_ figures: Figures) -> String {
        func show(_ value: Double?, _ digits: Int = 1) -> String {
            guard let value else { return "-" }
            let scale = Double([1, 10, 100, 1000][digits])
            return String((value * scale).rounded() / scale)
        }
        let rows: [(String, String)] = [
            ("writes/s", show(figures.writes_per_s)),
            ("reads/s", show(figures.reads_per_s)),
            ("commits/s", show(figures.commits_per_s)),
            ("commit time (us)", show(figures.commit_us_mean, 0)),
            ("writes per commit", show(figures.writes_per_commit, 2)),
            ("connections", figures.connections.map(String.init) ?? "-"),
            ("watchers", figures.watchers.map(String.init) ?? "-"),
            ("slowest watcher lag", figures.watcher_lag_events.map { "\($0) events" } ?? "-"),
            ("breaches now", String(figures.breaches)),
        ]
        let header = "stockd \(figures.version) at \(socketOptions.socket)  up \(figures.uptime) s  seq \(figures.seq)"
        return ([header, ""] + rows.map { $0.0.padding(20) + $0.1 }).joined(separator: "\n") + "\n"
    }
}

extension String {
    /// The string followed by spaces up to `width` characters.
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
