import ArgumentParser
import LedgerClient
#if canImport(Glibc)
import Glibc
#endif

/// `stockctl metrics`: the daemon's metrics (the METRICS verb) as Prometheus text, on stdout or,
/// with `--textfile DIR`, into `DIR/stockd.prom` for node_exporter's textfile collector.
struct Metrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a running stockd's metrics in the Prometheus text format, or write them for node_exporter.",
        discussion: """
            With --textfile DIR the text goes to DIR/stockd.prom, replaced atomically (written to a \
            temporary file in DIR, synced, then renamed), so the collector never reads half a file. \
            systemd/stockd-metrics.timer runs this every 15 s.
            """)

    @OptionGroup var socketOptions: SocketOptions

    @Option(help: "Write DIR/stockd.prom (node_exporter's --collector.textfile.directory) instead of printing.")
    var textfile: String?

    /// The file name node_exporter reads; only names ending in `.prom` are read, so the temporary
    /// file it is written as is never picked up.
    static let textfileName = "stockd.prom"

    func run() throws {
        let text = try Metrics.fetch(socket: socketOptions.socket)
        guard let textfile else { return print(text, terminator: "") }
        try Metrics.replace(directory: textfile, name: Metrics.textfileName, with: text)
    }

    /// Asks for METRICS and joins its rows into the exposition text (one line per row).
    static func fetch(socket: String) throws -> String {
        let client: LineClient
        do { client = try LineClient(path: socket) } catch {
            throw Failure("cannot reach stockd at \(socket): \(error)")
        }
        let reply = try client.request("METRICS")
        guard let last = reply.last, last.hasPrefix("OK") else {
            throw Failure("stockd refused METRICS: \(reply.last ?? "no reply")")
        }
        return reply.dropLast().map { $0 + "\n" }.joined()
    }

    /// Writes `text` to `directory/name` so that a reader sees the old file or the new one, whole.
    static func replace(directory: String, name: String, with text: String) throws {
        let path = directory + "/" + name
        let temporary = directory + "/." + name + ".\(getpid()).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw Failure("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var bytes = Array(text.utf8)[...]
        var failure: String?
        while !bytes.isEmpty, failure == nil {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno != EINTR { failure = "write \(temporary): \(String(cString: strerror(errno)))" }
            } else {
                bytes = bytes.dropFirst(written)
            }
        }
        if failure == nil, fsync(descriptor) != 0 { failure = "fsync \(temporary): \(String(cString: strerror(errno)))" }
        close(descriptor)
        if failure == nil, rename(temporary, path) != 0 { failure = "rename to \(path): \(String(cString: strerror(errno)))" }
        if let failure {
            unlink(temporary)
            throw Failure(failure)
        }
    }
}
