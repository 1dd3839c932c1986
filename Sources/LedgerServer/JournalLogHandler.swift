import Logging
#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler for stderr, shaped for whoever reads it.
///
/// When stderr goes to the journal (or to any file or pipe), each line starts with the syslog
/// priority in angle brackets (`<6>`), which journald turns into the entry's priority, and carries
/// no timestamp of its own because the journal adds one. On a terminal, where a person reads it, the
/// line starts with the level's name instead (`info:`). Metadata follows as `key=value` either way.
public struct JournalLogHandler: LogHandler {
    /// How a line names its level.
    public enum Style: Sendable, Equatable {
        /// `<6>message`: the syslog priority prefix journald and syslog understand.
        case priorityPrefix
        /// `info: message`: for a person at a terminal.
        case levelWord
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public let style: Style
    private let label: String

    /// A handler in the style that suits this process's stderr (`Style.forStandardError`).
    public init(label: String, style: Style = JournalLogHandler.standardErrorStyle) {
        self.label = label
        self.style = style
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = JournalLogHandler.prefix(event.level, style: style) + "\(event.message)"
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in merged.keys.sorted() { line += " \(key)=\(merged[key]!)" }
        line += "\n"
        // One write(2) per line on descriptor 2: lines from several threads do not interleave, and
        // no shared C `FILE *` (which Swift 6 rightly calls shared mutable state) is involved.
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    static func prefix(_ level: Logger.Level, style: Style) -> String {
        switch style {
        case .priorityPrefix: "<\(priority(level))>"
        case .levelWord: "\(level.rawValue): "
        }
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

    /// The style for this process's stderr, decided once at start: stderr does not change under a
    /// running daemon.
    public static let standardErrorStyle: Style = {
        var status = stat()
        let identity = fstat(STDERR_FILENO, &status) == 0 ? FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino)) : nil
        let journalStream = getenv("JOURNAL_STREAM").map { String(cString: $0) }
        return style(standardErrorIsTerminal: isatty(STDERR_FILENO) == 1, journalStream: journalStream,
                     standardError: identity)
    }()

    /// A file's device and inode numbers, as `fstat` reports them and `JOURNAL_STREAM` names them.
    public struct FileIdentity: Equatable, Sendable {
        public var device: UInt64
        public var inode: UInt64
        public init(device: UInt64, inode: UInt64) { self.device = device; self.inode = inode }
    }

    /// The rule: priority prefixes unless stderr is a terminal that is not the journal.
    ///
    /// systemd sets `JOURNAL_STREAM=<device>:<inode>` (decimal) when it connects stderr to the
    /// journal (systemd.exec(5)). The variable is inherited by children whose stderr may be
    /// somewhere else (a shell started from a service, then run on a terminal), so it counts only
    /// when it names the file stderr actually is. A terminal is the one place a person reads the
    /// raw lines; a file or pipe may be fed to syslog or the journal later, so it keeps the prefix.
    public static func style(standardErrorIsTerminal: Bool, journalStream: String?, standardError: FileIdentity?) -> Style {
        if let journalStream, let standardError, parse(journalStream: journalStream) == standardError { return .priorityPrefix }
        return standardErrorIsTerminal ? .levelWord : .priorityPrefix
    }

    /// `"8:12345"` → device 8, inode 12345; nil when the text is not two decimal numbers.
    static func parse(journalStream: String) -> FileIdentity? {
        let parts = journalStream.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return nil }
        return FileIdentity(device: device, inode: inode)
    }
}
