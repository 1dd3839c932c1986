import LedgerCore

/// A parsed request line.
public enum Request: Equatable, Sendable {
    case write(WriteRequest)
    case read(ReadRequest)
    case begin, commit, abort
    case hello(format: ReplyFormat?)
    case ping, quit
    case watch(WatchTopic)
    case unwatch

    public var isWrite: Bool { if case .write = self { true } else { false } }
}

public enum ReplyFormat: String, Sendable { case line, json }

public enum ReadRequest: Equatable, Sendable {
    case stock(sku: String, wh: String?, at: LogPoint?)
    case breaches(wh: String?, sku: String?)
    case breachHistory(wh: String?, sku: String?, from: Timestamp?, to: Timestamp?)
    case reorder(wh: String?, sku: String?)
    case reservations(sku: String?, wh: String?, reservation: String?, ref: String? = nil)
    case transfers(sku: String?, wh: String?, transfer: String?)
    case history(sku: String, wh: String?, from: UInt64, limit: Int)
    case events(from: UInt64, limit: Int)
    case info
}

public enum WatchTopic: Equatable, Sendable {
    case breaches(wh: String?, sku: String?)
    case events(from: UInt64?)
}
