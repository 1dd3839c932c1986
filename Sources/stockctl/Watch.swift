import ArgumentParser
import LedgerClient
#if canImport(Glibc)
import Glibc
#endif

/// `stockctl watch events|breaches`: prints a WATCH stream until Ctrl-C. When the connection is lost
/// (stockd restarted, or it dropped a slow watcher) it reconnects with backoff and, for events,
/// resumes right after the last seq printed (`WATCH events from=<last+1>`), so no event is missed
/// or printed twice. Without `from=`, events start after the log's end when it first connects.
struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow WATCH events or WATCH breaches until Ctrl-C, reconnecting and resuming after the last seq seen.",
        discussion: """
            Filters are the protocol's: events [from=N], breaches [wh=W] [sku=S]. \
            Breaches pushed while disconnected are not replayed (the protocol keeps none); \
            BREACHES answers what is open now.
            """)

    enum Topic: String, ExpressibleByArgument, CaseIterable {
        case events, breaches
    }

    @OptionGroup var socketOptions: SocketOptions
    @Argument(help: "events or breaches.") var topic: Topic
    @Argument(help: "from=N for events; wh=W and sku=S for breaches.") var filters: [String] = []
    @Flag(help: "Print each line as a JSON object (HELLO format=json).") var json = false

    /// The first retry waits this long, each next one twice as long, up to `retrySecondsMax`.
    static let retrySecondsFirst = 0.1
    /// A restarting stockd is back within seconds; waiting longer only delays catching up.
    static let retrySecondsMax = 5.0

    func validate() throws {
        let allowed: Set<String> = topic == .events ? ["from", "stock"] : ["wh", "sku"]
        for filter in filters {
            guard let equals = filter.firstIndex(of: "="), allowed.contains(String(filter[..<equals])) else {
                throw ValidationError("\(filter): \(topic.rawValue) takes \(allowed.sorted().map { "\($0)=" }.joined(separator: " "))")
            }
        }
        if let from = fromFilter, UInt64(from) == nil { throw ValidationError("from=\(from): expected a seq") }
    }

    private var fromFilter: String? {
        filters.first { $0.hasPrefix("from=") }.map { String($0.dropFirst(5)) }
    }

    func run() throws {
        var nextSeq = fromFilter.flatMap { UInt64($0) }
        var retrySeconds = Watch.retrySecondsFirst
        var connected = false
        while true {
            do {
                let client = try LineClient(path: socketOptions.socket)
                if json { try expectOK(client.request("HELLO format=json")) }
                if topic == .events && nextSeq == nil {
                    // From the log's end as it is now, named explicitly, so that a reconnect before the
                    // first event resumes from here too.
                    let info = try client.request("INFO")
                    try expectOK(info)
                    nextSeq = (Watch.seq(of: info[0]) ?? 0) + 1
                }
                let request = (["WATCH", topic.rawValue] + filters.filter { !$0.hasPrefix("from=") }
                               + (nextSeq.map { ["from=\($0)"] } ?? [])).joined(separator: " ")
                try expectOK(client.request(request))
                printError("stockctl: \(connected ? "watching again" : "watching"): \(request)")
                connected = true
                retrySeconds = Watch.retrySecondsFirst
                while let line = try client.readLine() {
                    if ReplyEnd(line) == .error {
                        printError("stockctl: stockd ended the watch: \(line)")
                        break
                    }
                    print(line)
                    fflush(nil)
                    if topic == .events, let seq = Watch.seq(of: line) { nextSeq = seq + 1 }
                }
                printError("stockctl: lost the connection to stockd at \(socketOptions.socket); reconnecting")
            } catch let error as ClientError {
                // Not reachable at all: say so and stop, as `send` does. Once watching, keep trying.
                guard connected else {
                    throw Failure("cannot reach stockd at \(socketOptions.socket): \(String(cString: strerror(error.errno)))")
                }
                printError("stockctl: stockd at \(socketOptions.socket): \(String(cString: strerror(error.errno))); "
                           + "retrying in \(retrySeconds) s")
            }
            usleep(UInt32(retrySeconds * 1_000_000))
            retrySeconds = min(retrySeconds * 2, Watch.retrySecondsMax)
        }
    }

    /// A refused request (a bad filter, a reader not allowed) ends the command with exit 2, as `send`.
    private func expectOK(_ reply: [String]) throws {
        guard ReplyEnd(reply.last ?? "") == .ok else {
            reply.forEach { print($0) }
            throw ExitCode(2)
        }
    }

    /// The `seq` of a line in either form: `event seq=12 ...` or `{"push":"event","seq":12,...}`.
    static func seq(of line: String) -> UInt64? {
        guard line.hasPrefix("{") else { return ReplyFields.value("seq", in: line).flatMap { UInt64($0) } }
        guard let key = line.firstRange(of: "\"seq\":") else { return nil }
        return UInt64(String(line[key.upperBound...].prefix { $0.isASCII && $0.isNumber }))
    }
}
