import Logging
#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler that writes one line per message to stderr, shaped for its reader.
///
/// Under systemd (`JOURNAL_STREAM` set) a line starts with the syslog priority (`<6>`), which the
/// journal turns into the entry's priority, and has no prefix of its own: the journal adds the time
/// and the unit. Anywhere else the line starts with `stockrelay: `, then the level for anything but
/// info and notice (`stockrelay: warning: ...`), so that `stockrelay: relayed up to seq N` is what a
/// test or a person sees. Metadata follows as ` key=value`. One `write(2)` per line, so lines from
/// several threads never interleave.
struct StderrLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level
    private let journal: Bool

    init(logLevel: Logger.Level) {
        self.logLevel = logLevel
        self.journal = getenv("JOURNAL_STREAM") != nil
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line: String
        if journal {
            line = "<\(Self.priority(event.level))>"
        } else {
            line = "stockrelay: "
            if event.level != .info && event.level != .notice { line += "\(event.level.rawValue): " }
        }
        line += "\(event.message)"
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in merged.keys.sorted() { line += " \(key)=\(merged[key]!)" }
        line += "\n"
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
