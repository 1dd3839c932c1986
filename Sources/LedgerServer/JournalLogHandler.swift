import Logging
#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler for stderr under systemd: each line starts with the syslog priority in angle
/// brackets (`<6>`), which journald turns into the entry's priority, and carries no timestamp of
/// its own because the journal adds one. Metadata follows as `key=value`.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = "<\(JournalLogHandler.priority(event.level))>\(event.message)"
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in merged.keys.sorted() { line += " \(key)=\(merged[key]!)" }
        line += "\n"
        // One write(2) per line on descriptor 2: lines from several threads do not interleave, and
        // no shared C `FILE *` (which Swift 6 rightly calls shared mutable state) is involved.
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}
