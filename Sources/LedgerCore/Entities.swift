/// A (sku, warehouse) pair: the unit that stock buckets are kept for.
public struct PairKey: Hashable, Comparable, Sendable {
    public var sku: String
    public var wh: String
    public init(sku: String, wh: String) { self.sku = sku; self.wh = wh }
    /// The pseudo-warehouse of a sku's waitlist for any warehouse (`WAIT` without `wh`). `*` is not
    /// an identifier byte, so it never names a real warehouse; reads of stock never list it.
    public static let anyWarehouse = "*"
    public var isAnyWarehouse: Bool { wh == PairKey.anyWarehouse }
    /// Where configuration with no sku lives (CHANNEL defaults, ROUTE): sku `*`, wh `*` (P5).
    public static let configuration = PairKey(sku: "*", wh: "*")
    public static func < (lhs: PairKey, rhs: PairKey) -> Bool {
        lhs.sku != rhs.sku ? lhs.sku.utf8.lexicographicallyPrecedes(rhs.sku.utf8)
                           : lhs.wh.utf8.lexicographicallyPrecedes(rhs.wh.utf8)
    }
}

/// The buckets of one (sku, wh), as folded from events.
public struct PairState: Equatable, Sendable {
    public static func == (lhs: PairState, rhs: PairState) -> Bool {
        lhs.onHand == rhs.onHand && lhs.reserved == rhs.reserved && lhs.inbound == rhs.inbound && lhs.safety == rhs.safety
            && lhs.reorder == rhs.reorder && lhs.max == rhs.max && lhs.breachSince == rhs.breachSince
            && lhs.breachLowest == rhs.breachLowest && lhs.openOrders == rhs.openOrders && lhs.extras == rhs.extras
    }

    public var onHand: Int64 = 0
    public var reserved: Int64 = 0
    public var inbound: Int64 = 0
    public var safety: Int64 = 0
    public var reorder: Int64 = 0
    public var max: Int64 = 0
    /// When the pair entered its current breach (nil when not in breach).
    public var breachSince: Timestamp?
    /// Lowest available seen during the current breach.
    public var breachLowest: Int64 = 0
    /// Open purchase orders for this pair, in the order they were expected.
    public var openOrders: [OpenOrder] = []

    // Promises (FEATURES.md §1a), waitlists (§1f), channels (§1b) and planning levels (§1e) live in one
    // copy-on-write box, allocated only for a pair that uses them: a plain pair copies as before (one
    // pointer more).
    private var extrasBox: CowBox<PairExtras>?
    // Getters read one field through the box (`extras` would copy all of them); `_modify` makes the
    // box unique first.
    /// Whether any promise, waitlist, channel or planning field is set.
    public var hasExtras: Bool { extrasBox.map { $0.value != PairExtras.none } ?? false }
    var extras: PairExtras {
        get { extrasBox?.value ?? PairExtras.none }
        _modify {
            if extrasBox == nil { extrasBox = CowBox(PairExtras.none) }
            else if !isKnownUniquelyReferenced(&extrasBox!) { extrasBox = CowBox(extrasBox!.value) }
            yield &extrasBox!.value
        }
    }

    // Promises (FEATURES.md §1a). All zero for a pair that never used them.
    /// Awaiting units bound to open purchase orders (the sum of the orders' `promised`).
    public var promised: Int64 {
        get { extrasBox?.value.promised ?? PairExtras.none.promised }
        _modify { yield &extras.promised }
    }
    /// Awaiting units bound to the pre-order cap.
    public var preordered: Int64 {
        get { extrasBox?.value.preordered ?? PairExtras.none.preordered }
        _modify { yield &extras.preordered }
    }
    /// Awaiting units bound to nothing (their purchase order was cancelled).
    public var unbacked: Int64 {
        get { extrasBox?.value.unbacked ?? PairExtras.none.unbacked }
        _modify { yield &extras.unbacked }
    }
    /// The pre-order cap (0 = no pre-orders), the end of its window and the announced ship date.
    public var preorder: Int64 {
        get { extrasBox?.value.preorder ?? PairExtras.none.preorder }
        _modify { yield &extras.preorder }
    }
    public var preorderUntil: Timestamp? {
        get { extrasBox?.value.preorderUntil ?? PairExtras.none.preorderUntil }
        _modify { yield &extras.preorderUntil }
    }
    public var preorderETA: Timestamp? {
        get { extrasBox?.value.preorderETA ?? PairExtras.none.preorderETA }
        _modify { yield &extras.preorderETA }
    }
    /// Added to an ETA to make a promise date (`POLICY pad=`), in seconds.
    public var padSeconds: Int64 {
        get { extrasBox?.value.padSeconds ?? PairExtras.none.padSeconds }
        _modify { yield &extras.padSeconds }
    }
    /// `POLICY fill=po`: only receipts against a purchase order fill, and only that order's lines.
    public var fillByOrder: Bool {
        get { extrasBox?.value.fillByOrder ?? PairExtras.none.fillByOrder }
        _modify { yield &extras.fillByOrder }
    }
    /// Reservations with awaiting units, in fill order (priority, then seq).
    public var waiting: [WaitingEntry] {
        get { extrasBox?.value.waiting ?? PairExtras.none.waiting }
        _modify { yield &extras.waiting }
    }
    /// Customers waiting to be told the pair is back (`WAIT`), oldest first.
    public var waitlist: [Waiter] {
        get { extrasBox?.value.waitlist ?? PairExtras.none.waitlist }
        _modify { yield &extras.waitlist }
    }
    // Channels (FEATURES.md §1b).
    /// Units ring-fenced per channel (a fence of 0 still exists until ALLOT sets it to 0).
    public var fences: [String: Int64] {
        get { extrasBox?.value.fences ?? PairExtras.none.fences }
        _modify { yield &extras.fences }
    }
    /// When a fence lapses (`ALLOT until=`): the daemon then writes `unallotted`.
    public var fenceUntil: [String: Timestamp] {
        get { extrasBox?.value.fenceUntil ?? PairExtras.none.fenceUntil }
        _modify { yield &extras.fenceUntil }
    }
    /// Per-channel rules: overrides on a pair, defaults on `PairKey.configuration`.
    public var channelRules: [String: ChannelRules] {
        get { extrasBox?.value.channelRules ?? PairExtras.none.channelRules }
        _modify { yield &extras.channelRules }
    }
    /// Regions and their warehouses in rank order (only on `PairKey.configuration`).
    public var routes: [String: [String]] {
        get { extrasBox?.value.routes ?? PairExtras.none.routes }
        _modify { yield &extras.routes }
    }
    /// Set once a fence or a channel rule touched the pair: its rows then carry `fenced` and `free`.
    public var usesChannels: Bool {
        get { extrasBox?.value.usesChannels ?? PairExtras.none.usesChannels }
        _modify { yield &extras.usesChannels }
    }
    /// Set once a promise policy, an awaiting line or a waiter ever touched the pair: from then on its rows
    /// carry the promise buckets (P4: pairs that never used promises answer as before).
    public var usesPromises: Bool {
        get { extrasBox?.value.usesPromises ?? PairExtras.none.usesPromises }
        _modify { yield &extras.usesPromises }
    }

    // Planning levels (FEATURES.md §1e), 0 = not set: a Kanban loop of `cards` bins of `bin` units, and the
    // lead time typed in with `POLICY lead=` (seconds), which SUGGEST falls back on without receipts to measure.
    public var bin: Int64 {
        get { extrasBox?.value.bin ?? PairExtras.none.bin }
        _modify { yield &extras.bin }
    }
    public var cards: Int64 {
        get { extrasBox?.value.cards ?? PairExtras.none.cards }
        _modify { yield &extras.cards }
    }
    public var leadSeconds: Int64 {
        get { extrasBox?.value.leadSeconds ?? PairExtras.none.leadSeconds }
        _modify { yield &extras.leadSeconds }
    }

    public init() {}

    public var fenced: Int64 { fences.values.reduce(0, +) }
    /// The shared pool: available units no channel has fenced.
    public var free: Int64 { available - fenced }
    /// What `channel` may take now: its fence, plus its soft share of the free pool.
    /// `defaults` is the configuration pair (CHANNEL defaults).
    public func view(_ channel: String?, defaults: PairState?) -> Int64 {
        guard let channel else { return free }
        return (fences[channel] ?? 0) + softShare(channel, of: free, defaults: defaults)
    }
    /// What `channel` may take of a free pool of `pool` units: `min(max, floor(pool × share / 100) − buffer)`.
    public func softShare(_ channel: String, of pool: Int64, defaults: PairState?) -> Int64 {
        let rules = channelRules[channel].merged(over: defaults?.channelRules[channel])
        // floor(pool × share / 100) without overflow: the pool is at most the bucket limit (1e18).
        let percent = rules.share ?? 100
        let share = Swift.max(0, pool / 100 * percent + pool % 100 * percent / 100 - (rules.buffer ?? 0))
        return Swift.min(rules.max ?? Int64.max, share)
    }
    /// Units the waitlist asks for.
    public var waitingUnits: Int64 { waitlist.reduce(0) { $0 + $1.quantity } }
    /// Units waiting on anything: what the purchase orders and the cap must still cover.
    public var awaiting: Int64 { promised + preordered + unbacked }
    /// What can still be promised with a date: `free + incoming − promised`.
    public var atp: Int64 { available + incoming - promised }
    /// Whether new cap lines are accepted at `time`.
    public func preorderOpen(at time: Timestamp) -> Bool {
        preorder > 0 && (preorderUntil.map { time < $0 } ?? true)
    }
    /// Room left under the cap while its window is open, else 0.
    public func preorderLeft(at time: Timestamp) -> Int64 {
        preorderOpen(at: time) ? Swift.max(0, preorder - preordered) : 0
    }
    /// Open orders in the order promises bind to them: ETA, then the order they were expected in.
    public var ordersByETA: [OpenOrder] {
        openOrders.enumerated().sorted { $0.element.eta != $1.element.eta ? $0.element.eta < $1.element.eta : $0.offset < $1.offset }
            .map(\.element)
    }
    /// The honest back-in-stock date: the first open order with units not yet promised, plus pad.
    public var restockETA: Timestamp? {
        ordersByETA.first { $0.remaining > $0.promised }.map { $0.eta.adding(seconds: padSeconds) }
    }

    public var available: Int64 { onHand - reserved }
    public var incoming: Int64 { openOrders.reduce(0) { $0 + $1.remaining } }
    public var nextETA: Timestamp? { openOrders.map(\.eta).min() }
    public var projected: Int64 { available + inbound + incoming }
    /// In breach when a safety level is set and available stock is below it.
    public var isBreached: Bool { safety > 0 && available < safety }
    /// Projected stock less the backorders the purchase orders must cover (= projected with none).
    public var net: Int64 { projected - awaiting }
    /// Reorder is suggested when a reorder level is set and net stock is below it.
    public var reorderSuggestion: Int64? {
        guard reorder > 0, net < reorder else { return nil }
        return Swift.max(max, reorder) - net
    }
}

/// One open purchase order line inside a pair: what is still expected, and when.
public struct OpenOrder: Equatable, Sendable {
    public var purchaseOrder: String
    public var remaining: Int64
    public var eta: Timestamp
    /// Awaiting units of reservations bound to this order; never more than `remaining`.
    public var promised: Int64
    public init(purchaseOrder: String, remaining: Int64, eta: Timestamp, promised: Int64 = 0) {
        self.purchaseOrder = purchaseOrder
        self.remaining = remaining
        self.eta = eta
        self.promised = promised
    }
    /// What the order can still take as promises.
    public var unpromised: Int64 { remaining - promised }
}

/// How much of the shared pool a channel sees (FEATURES.md §1b): a whole percent, minus a buffer,
/// at most `max`; `low` is where WATCH channels says `channel_low`. Nil fields are not set here.
public struct ChannelRules: Equatable, Sendable {
    public var share: Int64?
    public var buffer: Int64?
    public var max: Int64?
    public var low: Int64?
    public init(share: Int64? = nil, buffer: Int64? = nil, max: Int64? = nil, low: Int64? = nil) {
        self.share = share; self.buffer = buffer; self.max = max; self.low = low
    }
    public var isEmpty: Bool { self == ChannelRules() }
    /// These rules, with what they leave unset taken from `base`.
    public func merged(over base: ChannelRules?) -> ChannelRules {
        ChannelRules(share: share ?? base?.share, buffer: buffer ?? base?.buffer, max: max ?? base?.max, low: low ?? base?.low)
    }
}

extension Optional where Wrapped == ChannelRules {
    public func merged(over base: ChannelRules?) -> ChannelRules { (self ?? ChannelRules()).merged(over: base) }
}

/// One entry of a waitlist: an opaque subscriber token (no e-mail or phone in the ledger), how many
/// units they want and since when.
public struct Waiter: Equatable, Sendable {
    public var ref: String
    public var quantity: Int64
    public var since: Timestamp
    public var channel: String?
    public init(ref: String, quantity: Int64, since: Timestamp, channel: String?) {
        self.ref = ref; self.quantity = quantity; self.since = since; self.channel = channel
    }
}

/// A reservation waiting for units in a pair, in fill order.
public struct WaitingEntry: Equatable, Comparable, Sendable {
    public var priority: UInt8
    public var seq: UInt64
    public var reservation: String
    public init(priority: UInt8, seq: UInt64, reservation: String) {
        self.priority = priority; self.seq = seq; self.reservation = reservation
    }
    public static func < (lhs: WaitingEntry, rhs: WaitingEntry) -> Bool {
        (lhs.priority, lhs.seq) < (rhs.priority, rhs.seq)
    }
}

/// What the awaiting units of a line wait on.
public enum Backing: Hashable, Sendable {
    case order(String)
    case cap
    case none

    /// The wire form: the purchase order's id, `cap` or `none`.
    public var name: String {
        switch self {
        case .order(let po): po
        case .cap: "cap"
        case .none: "none"
        }
    }

    /// The order in which a reservation's own lines are filled: latest first, so `none`, then `cap`,
    /// then orders (the caller sorts orders by date).
    var fillRank: Int {
        switch self {
        case .none: 0
        case .cap: 1
        case .order: 2
        }
    }
}

/// Awaiting units of a reservation: how many, what they wait on and the date promised for them
/// (ETA + pad; nil when unknown: unbacked, or a cap with no announced ship date).
public struct AwaitingLine: Equatable, Sendable {
    public var backing: Backing
    public var quantity: Int64
    public var date: Timestamp?
    public init(backing: Backing, quantity: Int64, date: Timestamp?) {
        self.backing = backing; self.quantity = quantity; self.date = date
    }
}

/// How a reservation may wait for units it cannot hold now (`RESERVE backorder=`).
public enum Backorder: UInt8, Sendable {
    case no = 0, order = 1, cap = 2
    public var name: String { self == .order ? "po" : self == .cap ? "cap" : "no" }
}

/// A hold on available stock that the daemon expires at `expiresAt`.
public struct Reservation: Equatable, Sendable {
    public enum Status: UInt8, Sendable { case open = 0, released, sold, expired }
    public var id: String
    public var sku: String
    public var wh: String
    /// Units still held.
    public var held: Int64
    public var expiresAt: Timestamp
    public var ref: String?
    public var status: Status
    /// Awaiting units, at most one line per backing.
    public var lines: [AwaitingLine] = []
    /// 1 is served first; 5 unless the RESERVE said otherwise.
    public var priority: UInt8 = Reservation.defaultPriority
    public var backorder: Backorder = .no
    /// The seq of the event that made it: with the priority, its place in the fill order.
    public var seq: UInt64 = 0
    /// The channel it was made for, and how many of its held units came from that channel's fence.
    public var channel: String?
    public var fence: Int64 = 0
    /// The allocation it is a line of (`ALLOCATE`).
    public var alloc: String?

    public static let defaultPriority: UInt8 = 5

    public init(id: String, sku: String, wh: String, held: Int64, expiresAt: Timestamp, ref: String?, status: Status) {
        self.id = id; self.sku = sku; self.wh = wh; self.held = held
        self.expiresAt = expiresAt; self.ref = ref; self.status = status
    }

    public var pair: PairKey { PairKey(sku: sku, wh: wh) }
    public var awaiting: Int64 { lines.reduce(0) { $0 + $1.quantity } }
    public var waitingEntry: WaitingEntry { WaitingEntry(priority: priority, seq: seq, reservation: id) }
    /// The latest line date (nil when a line's date is unknown); `.now` when nothing is awaited.
    public var promise: Promise {
        if lines.isEmpty { return .now }
        var latest: Timestamp?
        for line in lines {
            guard let date = line.date else { return .unknown }
            latest = latest.map { Swift.max($0, date) } ?? date
        }
        return .date(latest!)
    }
    public func line(_ backing: Backing) -> AwaitingLine? { lines.first { $0.backing == backing } }
}

/// When a customer gets every unit of a reservation.
public enum Promise: Equatable, Sendable {
    case now, unknown
    case date(Timestamp)

    /// Whether this promise is later than `other` (unknown is later than any date, now earlier).
    public func isLater(than other: Promise) -> Bool {
        switch (self, other) {
        case (.unknown, .unknown), (.now, _): false
        case (.unknown, _): true
        case (.date, .now): true
        case let (.date(a), .date(b)): a > b
        case (.date, .unknown): false
        }
    }
    public var text: String {
        switch self {
        case .now: "now"
        case .unknown: "unknown"
        case .date(let time): time.rfc3339
        }
    }
}

/// Goods shipped from one warehouse to another; open while anything is still in transit.
public struct Transfer: Equatable, Sendable {
    public var id: String
    public var sku: String
    public var from: String
    public var to: String
    public var shipped: Int64
    public var arrived: Int64
    public var lost: Int64
    public var eta: Timestamp?

    public init(id: String, sku: String, from: String, to: String, shipped: Int64, arrived: Int64, lost: Int64, eta: Timestamp?) {
        self.id = id; self.sku = sku; self.from = from; self.to = to
        self.shipped = shipped; self.arrived = arrived; self.lost = lost; self.eta = eta
    }

    public var inTransit: Int64 { shipped - arrived - lost }
    public var isOpen: Bool { inTransit > 0 }
}

/// An expected purchase order. Its open remainder lives in its pair's `openOrders`.
public struct PurchaseOrder: Equatable, Sendable {
    public var id: String
    public var sku: String
    public var wh: String
    public var ordered: Int64
    public var eta: Timestamp
    public var isOpen: Bool

    public init(id: String, sku: String, wh: String, ordered: Int64, eta: Timestamp, isOpen: Bool) {
        self.id = id; self.sku = sku; self.wh = wh; self.ordered = ordered; self.eta = eta; self.isOpen = isOpen
    }

    public var pair: PairKey { PairKey(sku: sku, wh: wh) }
}

/// One stretch of time a pair spent below its safety level.
public struct BreachInterval: Equatable, Sendable {
    public var pair: PairKey
    public var start: Timestamp
    /// nil while the breach is still open.
    public var end: Timestamp?
    public var lowest: Int64
    var now: Timestamp?

    public init(pair: PairKey, start: Timestamp, end: Timestamp?, lowest: Int64, now: Timestamp? = nil) {
        self.pair = pair; self.start = start; self.end = end; self.lowest = lowest; self.now = now
    }

    /// Never negative: an open breach started at a held event time may be later than the clock.
    public var seconds: Int64 { max(0, ((end ?? now ?? start).microseconds - start.microseconds) / 1_000_000) }
}

/// A point in the log: a time (the state as of then) or a seq (the state right after that event).
public enum LogPoint: Equatable, Sendable {
    case time(Timestamp)
    case seq(UInt64)
}

/// The fields of a pair that only promises, waitlists and channels use (see `PairState`).
struct PairExtras: Equatable, Sendable {
    var promised: Int64 = 0
    var preordered: Int64 = 0
    var unbacked: Int64 = 0
    var preorder: Int64 = 0
    var preorderUntil: Timestamp?
    var preorderETA: Timestamp?
    var padSeconds: Int64 = 0
    var fillByOrder: Bool = false
    var waiting: [WaitingEntry] = []
    var waitlist: [Waiter] = []
    var fences: [String: Int64] = [:]
    var fenceUntil: [String: Timestamp] = [:]
    var channelRules: [String: ChannelRules] = [:]
    var routes: [String: [String]] = [:]
    var usesChannels: Bool = false
    var usesPromises: Bool = false
    var bin: Int64 = 0
    var cards: Int64 = 0
    var leadSeconds: Int64 = 0
    static let none = PairExtras()
}

/// Copy-on-write storage for a value most instances never set: one pointer to copy.
// Shared across threads safely: the value is only changed through the `_modify` accessors of
// `PairState.extras` and `Event.decisions`, which first make the box unique (a copy that another
// thread may hold is never written).
final class CowBox<Value: Sendable>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}
