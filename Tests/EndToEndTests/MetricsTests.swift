import Foundation
import LedgerClient
import Testing

/// The metrics, scraped the three ways an operator can (the METRICS verb, `stockctl metrics` and
/// its textfile, `GET /metrics` over HTTP) from a real stockd, and read by a real Prometheus text
/// parser: prometheus_client's, through Tools/parse_metrics.py.
@Suite("metrics", .serialized)
struct MetricsTests {
    /// Every family stockd exports, with its type as prometheus_client names it (a counter's family
    /// name drops `_total`).
    static let families: [String: String] = [
        "stockd_requests": "counter", "stockd_errors": "counter",
        "stockd_read_duration_seconds": "histogram", "stockd_write_duration_seconds": "histogram",
        "stockd_commit_duration_seconds": "histogram", "stockd_commit_writes": "histogram",
        "stockd_events_appended": "counter", "stockd_commits_failed": "counter", "stockd_checkpoints": "counter",
        "stockd_checkpoint_seq": "gauge", "stockd_checkpoint_lag_events": "gauge", "stockd_last_seq": "gauge",
        "stockd_connections": "gauge", "stockd_watchers": "gauge", "stockd_watcher_lag_max_events": "gauge",
        "stockd_breaches_open": "gauge", "stockd_lmdb_map_size_bytes": "gauge", "stockd_lmdb_used_bytes": "gauge",
        "stockd_lmdb_data_file_bytes": "gauge", "process_cpu_seconds": "counter",
        "process_resident_memory_bytes": "gauge", "process_virtual_memory_bytes": "gauge",
        "process_open_fds": "gauge", "process_max_fds": "gauge", "process_start_time_seconds": "gauge",
    ]

    @Test("METRICS, stockctl metrics (stdout and --textfile) and GET /metrics all serve every family, as parseable Prometheus text")
    func threeWays() throws {
        let daemon = try MetricsTests.startDaemon()
        defer { daemon.removeFiles() }
        let textfileDirectory = daemon.directory + "/textfile"
        try FileManager.default.createDirectory(atPath: textfileDirectory, withIntermediateDirectories: true)
        let written = try run("stockctl", ["metrics", "--socket", daemon.socketPath, "--textfile", textfileDirectory])
        #expect(written.status == 0, "\(written.output)")
        let printed = try run("stockctl", ["metrics", "--socket", daemon.socketPath])
        #expect(printed.status == 0)
        let http = try MetricsTests.httpGet(port: MetricsTests.httpPort(daemon), path: "/metrics")
        #expect(http.head.hasPrefix("HTTP/1.0 200") || http.head.hasPrefix("HTTP/1.1 200"), "\(http.head)")
        #expect(http.head.lowercased().contains("content-type: text/plain; version=0.0.4"), "\(http.head)")
        let texts = [
            "METRICS": try MetricsTests.viaVerb(daemon),
            "stockctl metrics": printed.output,
            "stockctl metrics --textfile": try String(contentsOfFile: textfileDirectory + "/stockd.prom", encoding: .utf8),
            "GET /metrics": http.body,
        ]
        for (way, text) in texts {
            let parsed = try Scrape(text)
            for (name, type) in MetricsTests.families {
                #expect(parsed.types[name] == type, "\(way): family \(name) should be a \(type), got \(parsed.types[name] ?? "none")")
            }
        }
        // Nothing is left in the folder but the file node_exporter reads.
        #expect(try FileManager.default.contentsOfDirectory(atPath: textfileDirectory) == ["stockd.prom"])
        let missing = try MetricsTests.httpGet(port: MetricsTests.httpPort(daemon), path: "/other")
        #expect(missing.head.contains(" 404 "), "\(missing.head)")
    }

    @Test("each family moves when what it counts happens: writes, events, errors by code, reads, watchers, breaches, checkpoints")
    func familiesMove() throws {
        let daemon = try MetricsTests.startDaemon()
        defer { daemon.removeFiles() }
        let before = try Scrape(MetricsTests.viaVerb(daemon))
        #expect(try daemon.request("RECEIVE sku=M1 wh=W qty=5").status.hasPrefix("OK"))
        #expect(try daemon.request("POLICY sku=M1 wh=W safety=10").status.hasPrefix("OK"))
        #expect(try daemon.request("SELL sku=M1 wh=W qty=50").status.hasPrefix("ERR INSUFFICIENT"))
        #expect(try daemon.request("FROB sku=M1").status.hasPrefix("ERR UNKNOWN"))
        #expect(try daemon.request("STOCK sku=M1").status.hasPrefix("OK"))
        let watcher = try daemon.client()
        #expect(try watcher.request("WATCH events") == ["OK watching=events"])
        let after = try Scrape(MetricsTests.viaVerb(daemon))

        func moved(_ name: String, _ labels: [String: String] = [:]) -> Double {
            after.value(name, labels) - before.value(name, labels)
        }
        #expect(moved("stockd_requests_total", ["verb": "RECEIVE"]) == 1)
        #expect(moved("stockd_requests_total", ["verb": "SELL"]) == 1)
        #expect(moved("stockd_requests_total", ["verb": "WATCH"]) == 1)
        #expect(moved("stockd_errors_total", ["code": "INSUFFICIENT"]) == 1)
        #expect(moved("stockd_errors_total", ["code": "UNKNOWN"]) == 1)
        #expect(moved("stockd_errors_total", ["code": "ARG"]) == 0)
        #expect(moved("stockd_events_appended_total") == 2)
        #expect(moved("stockd_last_seq") == 2)
        // RECEIVE, POLICY and the refused SELL each got a reply from the writer.
        #expect(moved("stockd_write_duration_seconds_count") == 3)
        #expect(moved("stockd_commit_duration_seconds_count") >= 1)
        #expect(moved("stockd_commit_writes_count") == moved("stockd_commit_duration_seconds_count"))
        #expect(moved("stockd_read_duration_seconds_count") >= 1)
        #expect(moved("stockd_breaches_open") == 1)
        #expect(before.value("stockd_watchers") == 0 && after.value("stockd_watchers") == 1)
        #expect(after.value("stockd_connections") >= 2)
        #expect(after.value("stockd_lmdb_used_bytes") > 0)
        #expect(after.value("stockd_lmdb_map_size_bytes") >= after.value("stockd_lmdb_used_bytes"))
        #expect(after.value("process_open_fds") > 0 && after.value("process_resident_memory_bytes") > 0)
        #expect(abs(after.value("process_start_time_seconds") - Date().timeIntervalSince1970) < 300)

        // The daemon checkpoints every 50 ms here: the checkpoint catches up with the log.
        #expect(try eventually {
            let now = try Scrape(MetricsTests.viaVerb(daemon))
            return now.value("stockd_checkpoint_seq") == 2 && now.value("stockd_checkpoint_lag_events") == 0
                && now.value("stockd_checkpoints_total") > before.value("stockd_checkpoints_total")
        })
        // A watcher that was handed every event has no lag; the family is there either way.
        #expect(try eventually { try Scrape(MetricsTests.viaVerb(daemon)).value("stockd_watcher_lag_max_events") == 0 })
        // A watcher closing is counted out.
        _ = try watcher.request("QUIT")
        #expect(try eventually { try Scrape(MetricsTests.viaVerb(daemon)).value("stockd_watchers") == 0 })
    }

    @Test("METRICS in JSON mode: each exposition line travels whole as a string")
    func jsonMode() throws {
        let daemon = try MetricsTests.startDaemon()
        defer { daemon.removeFiles() }
        let client = try daemon.client()
        try client.send("HELLO format=json")
        #expect(try client.readLine()?.hasPrefix("{\"ok\":true") == true)
        try client.send("METRICS")
        var lines: [String] = []
        while let line = try client.readLine() {
            if line.hasPrefix("{\"ok\"") { break }
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
            #expect(object?["row"] == "metrics", "\(line)")
            lines.append(object?["line"] ?? "")
        }
        let parsed = try Scrape(lines.joined(separator: "\n") + "\n")
        #expect(parsed.types["stockd_requests"] == "counter")
    }

    // MARK: helpers

    static func startDaemon() throws -> StockdProcess {
        let daemon = try StockdProcess()
        daemon.extraArguments = ["--metrics-listen", "127.0.0.1:0", "--checkpoint-interval-ms", "50"]
        try daemon.start()
        return daemon
    }

    /// The METRICS reply's rows, one exposition line each.
    static func viaVerb(_ daemon: StockdProcess) throws -> String {
        let reply = try daemon.request("METRICS")
        #expect(reply.status.hasPrefix("OK rows=\(reply.count - 1) "), "\(reply.status)")
        return reply.dropLast().map { $0 + "\n" }.joined()
    }

    /// The port stockd says it serves metrics on (`--metrics-listen 127.0.0.1:0` takes a free one).
    static func httpPort(_ daemon: StockdProcess) throws -> Int {
        let log = try String(contentsOfFile: daemon.logPath, encoding: .utf8)
        guard let range = log.range(of: "serving metrics at http://127.0.0.1:"),
              let port = Int(log[range.upperBound...].prefix { $0.isNumber }) else {
            throw StockdError.didNotStart(log: log)
        }
        return port
    }

    /// One HTTP/1.0 GET on loopback; the server closes after its answer.
    static func httpGet(port: Int, path: String) throws -> (head: String, body: String) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw CocoaError(.fileReadUnknown) }
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw CocoaError(.fileReadUnknown) }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard send(descriptor, request, request.count, 0) == request.count else { throw CocoaError(.fileWriteUnknown) }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count <= 0 { break }
            response += buffer[..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return (text, "") }
        return (String(text[..<split.lowerBound]), String(text[split.upperBound...]))
    }
}

/// Prometheus text as prometheus_client's parser reads it: each family's type and every sample.
struct Scrape {
    var types: [String: String] = [:]
    private var samples: [(name: String, labels: [String: String], value: Double)] = []

    struct ParseFailed: Error, CustomStringConvertible { var description: String }

    init(_ text: String) throws {
        let file = NSTemporaryDirectory() + "stockd-metrics-\(getpid())-\(UUID().uuidString).prom"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let parser = SystemdTests.repositoryRoot + "/Tools/parse_metrics.py"
        let result = try run("/usr/bin/python3", [parser, file])
        guard result.status == 0, let data = result.output.data(using: .utf8),
              let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let families = json["families"] as? [String: [String: Any]] else {
            throw ParseFailed(description: "prometheus_client could not parse the text (pip install prometheus_client): \(result.output)")
        }
        for (name, family) in families {
            types[name] = family["type"] as? String
            for case let sample as [Any] in family["samples"] as? [Any] ?? [] where sample.count == 3 {
                samples.append((sample[0] as? String ?? "", sample[1] as? [String: String] ?? [:],
                                (sample[2] as? NSNumber)?.doubleValue ?? .nan))
            }
        }
    }

    /// The value of the sample with this name and these labels (and only these), or NaN.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double {
        samples.first { $0.name == name && $0.labels == labels }?.value ?? .nan
    }
}
