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
    case stock(sku: String, wh: String?, at: LogPoint?, channel: String? = nil)
    case breaches(wh: String?, sku: String?)
    case breachHistory(wh: String?, sku: String?, from: Timestamp?, to: Timestamp?)
    case reorder(wh: String?, sku: String?)
    indirect case reservations(sku: String?, wh: String?, reservation: String?, ref: String? = nil,
                               filter: ReservationFilter = ReservationFilter())
    /// When `quantity` units could be promised (one row per warehouse), or without it the ATP timeline.
    case promise(sku: String, wh: String?, quantity: Int64?, backorder: Backorder)
    /// One row per (wh, channel) of a sku: fence, rules, view, held.
    case channels(sku: String, wh: String?, channel: String?)
    /// Pairs whose stock is 0: who waits, and the honest restock date (FEATURES.md §1f).
    case restock(sku: String?, wh: String?)
    /// Levels proposed from the log, written nowhere (FEATURES.md §1e).
    case suggest(sku: String, wh: String?, options: SuggestOptions, at: LogPoint?)
    /// Kanban loops: bins on hand, bins on their way, bins to order.
    case kanban(wh: String?, sku: String?)
    case transfers(sku: String?, wh: String?, transfer: String?)
    case history(sku: String, wh: String?, from: UInt64, limit: Int)
    case events(from: UInt64, limit: Int)
    case info
    /// The daemon's metrics in the Prometheus text format, one exposition line per row.
    case metrics
}

/// The promise filters of RESERVATIONS: bound to `po=`, with awaiting units, late.
public struct ReservationFilter: Equatable, Sendable {
    public var purchaseOrder: String?
    public var awaiting: Bool?
    public var late: Bool?
    public var channel: String?
    public var alloc: String?
    public init(purchaseOrder: String? = nil, awaiting: Bool? = nil, late: Bool? = nil, channel: String? = nil, alloc: String? = nil) {
        self.purchaseOrder = purchaseOrder; self.awaiting = awaiting; self.late = late; self.channel = channel; self.alloc = alloc
    }
}

public enum WatchTopic: Equatable, Sendable {
    case breaches(wh: String?, sku: String?)
    /// Every event in log order; with `stock`, each event's `stock` rows (the buckets after it of every
    /// pair it touched) come before its `event` row, for a relay that copies state as well as history.
    case events(from: UInt64?, stock: Bool = false)
    /// `filled`, `slipped`, `unbacked` and `overdue` lines for an order service (FEATURES.md §1a).
    case promises(sku: String?, wh: String?)
    /// `channel_low`, `channel_out`, `channel_back` and `fence_cut` (FEATURES.md §1b).
    case channels(channel: String?, sku: String?, wh: String?)
    /// `restock` when a pair's stock reaches `min` while people wait; `eta` when its restock date moves.
    case restock(sku: String?, wh: String?, min: Int64)
    /// `card` when a Kanban bin is emptied (FEATURES.md §1e).
    case kanban(sku: String?, wh: String?)
    /// `spike` when the units sold in the last hour reach `ratio` × the hourly baseline.
    case demand(sku: String?, wh: String?, channel: String?, ratio: Double)
}

/// The verb a request was sent with: the `verb` label of the requests counter. Numbered, so a
/// counter per verb is an array element rather than a hashed lookup on the hot path.
public enum Verb: Int, CaseIterable, Sendable {
    case receive, sell, reserve, release, transfer, arrive, adjust, count, returnGoods, expect, cancel, policy
    case reschedule, extend, wait, unwait, allot, channel, route, allocate
    case stock, breaches, reorder, reservations, transfers, history, events, info, metrics, promise, restock, channels
    case suggest, kanban
    case begin, commit, abort, hello, ping, quit, watch, unwatch

    /// The word on the wire.
    public var name: String {
        switch self {
        case .returnGoods: "RETURN"
        default: String(describing: self).uppercased()
        }
    }
}

extension Request {
    public var verb: Verb {
        switch self {
        case .write(let write):
            switch write.command {
            case .receive: .receive
            case .sell, .sellReserved: .sell
            case .reserve: .reserve
            case .release: .release
            case .transfer: .transfer
            case .arrive: .arrive
            case .adjust: .adjust
            case .count: .count
            case .returnGoods: .returnGoods
            case .expect: .expect
            case .cancel: .cancel
            // Written by the daemon itself (Command.expire): never a parsed request, so never counted.
            case .expire: .cancel
            case .policy: .policy
            case .reschedule: .reschedule
            case .extend: .extend
            case .wait: .wait
            case .unwait: .unwait
            case .allot: .allot
            case .channel: .channel
            case .route: .route
            case .allocate: .allocate
            case .releaseAllocation: .release
            // Written by the daemon itself, like `expire`.
            case .unallot: .allot
            }
        case .read(let read):
            switch read {
            case .stock: .stock
            case .breaches, .breachHistory: .breaches
            case .reorder: .reorder
            case .reservations: .reservations
            case .transfers: .transfers
            case .history: .history
            case .events: .events
            case .info: .info
            case .metrics: .metrics
            case .promise: .promise
            case .restock: .restock
            case .channels: .channels
            case .suggest: .suggest
            case .kanban: .kanban
            }
        case .begin: .begin
        case .commit: .commit
        case .abort: .abort
        case .hello: .hello
        case .ping: .ping
        case .quit: .quit
        case .watch: .watch
        case .unwatch: .unwatch
        }
    }
}
