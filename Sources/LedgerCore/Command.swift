/// A write a client asked for, before it is checked against the state. Commands are imperative;
/// the events they become are past tense.
public enum Command: Equatable, Sendable {
    case receive(sku: String, wh: String, quantity: Int64, purchaseOrder: String?)
    case sell(sku: String, wh: String, quantity: Int64, channel: String? = nil)
    case sellReserved(reservation: String, quantity: Int64?)
    case reserve(sku: String, wh: String, quantity: Int64, reservation: String?, ttlSeconds: Int64?,
                 terms: ReserveTerms = ReserveTerms())
    case release(reservation: String, quantity: Int64?)
    case transfer(sku: String, from: String, to: String, quantity: Int64, transfer: String?, eta: Timestamp?,
                  channel: String? = nil)
    case arrive(transfer: String, quantity: Int64?, lost: Int64?)
    case adjust(sku: String, wh: String, delta: Int64, reason: String)
    case count(sku: String, wh: String, quantity: Int64, reason: String?)
    case returnGoods(sku: String, wh: String, quantity: Int64)
    /// `bind: false` (`bind=no`) leaves waiting lines where they are.
    case expect(sku: String, wh: String, quantity: Int64, eta: Timestamp, purchaseOrder: String, bind: Bool = true)
    /// `releaseOrphans` (`orphans=release`) releases lines no other supply can take instead of leaving them unbacked.
    case cancel(purchaseOrder: String, releaseOrphans: Bool = false)
    // Indirect: rare and large, kept out of line so every command stays as small to copy as before.
    indirect case policy(sku: String, wh: String, safety: Int64?, reorder: Int64?, max: Int64?, promises: PromisePolicy? = nil,
                         channel: ChannelPolicy? = nil)
    /// Sets a channel's fence in a pair (0 removes it).
    case allot(sku: String, wh: String, channel: String, quantity: Int64, until: Timestamp?)
    /// A channel's defaults for every pair.
    case channel(channel: String, rules: ChannelRules)
    /// A region's warehouses in rank order (empty: delete the region).
    case route(region: String, warehouses: [String])
    indirect case allocate(AllocateRequest)
    /// Releases every open line of an allocation.
    case releaseAllocation(alloc: String)
    /// A purchase order's ETA moves, and every promise bound to it.
    case reschedule(purchaseOrder: String, eta: Timestamp, reason: String?)
    /// A reservation's expiry becomes now + ttl.
    case extend(reservation: String, ttlSeconds: Int64)
    /// Join the waitlist of a pair (`wh` nil: of any warehouse of the sku).
    case wait(sku: String, wh: String?, subscriber: String, quantity: Int64, channel: String?)
    case unwait(sku: String, wh: String?, subscriber: String, reason: String?)
    /// Written by the daemon itself when a reservation's time is up; no client can send it.
    case expire(reservation: String)
    /// Written by the daemon itself when a fence's `until` comes.
    case unallot(sku: String, wh: String, channel: String)
}

/// How a RESERVE may wait for units it cannot hold now (FEATURES.md §1a).
public struct ReserveTerms: Equatable, Sendable {
    public var backorder: Backorder
    /// `po=`: bind only to this purchase order.
    public var purchaseOrder: String?
    public var priority: UInt8?
    /// `channel=`: hold from that channel's view, its fence first.
    public var channel: String?
    public init(backorder: Backorder = .no, purchaseOrder: String? = nil, priority: UInt8? = nil, channel: String? = nil) {
        self.backorder = backorder; self.purchaseOrder = purchaseOrder; self.priority = priority; self.channel = channel
    }
}

/// How ALLOCATE picks warehouses (FEATURES.md §1c).
public enum AllocationStrategy: String, Sendable, CaseIterable {
    case fewest, rank, stock, surplus
}

/// One ALLOCATE: `qty` of a sku from a region's route or a list of warehouses.
public struct AllocateRequest: Equatable, Sendable {
    public var sku: String
    public var quantity: Int64
    public var region: String?
    public var warehouses: [String]?
    public var strategy: AllocationStrategy
    /// At most this many lines (1 = `split=no`).
    public var split: Int
    public var partial: Bool
    public var exclude: [String]
    public var alloc: String?
    public var ttlSeconds: Int64?
    public var terms: ReserveTerms
    public init(sku: String, quantity: Int64, region: String? = nil, warehouses: [String]? = nil, strategy: AllocationStrategy = .fewest,
                split: Int = Limits.allocationLinesMax, partial: Bool = false, exclude: [String] = [], alloc: String? = nil,
                ttlSeconds: Int64? = nil, terms: ReserveTerms = ReserveTerms()) {
        self.sku = sku; self.quantity = quantity; self.region = region; self.warehouses = warehouses; self.strategy = strategy
        self.split = split; self.partial = partial; self.exclude = exclude; self.alloc = alloc; self.ttlSeconds = ttlSeconds
        self.terms = terms
    }
}

/// A command with the fields every write accepts.
public struct WriteRequest: Equatable, Sendable {
    public var command: Command
    public var ref: String?
    public var note: String?
    public var idempotencyKey: String?

    public init(command: Command, ref: String? = nil, note: String? = nil, idempotencyKey: String? = nil) {
        self.command = command
        self.ref = ref
        self.note = note
        self.idempotencyKey = idempotencyKey
    }
}

/// Why a write was refused. These are domain answers, not failures: the protocol turns each into an
/// `ERR` line and nothing is written.
public enum Refusal: Error, Equatable, Sendable {
    public static func == (lhs: Refusal, rhs: Refusal) -> Bool { String(describing: lhs) == String(describing: rhs) }
    case insufficient(available: Int64, requested: Int64, sku: String, wh: String)
    /// A backorder RESERVE that neither stock, purchase orders nor the cap can cover.
    case unpromisable(available: Int64, promisable: Int64, preorderLeft: Int64, requested: Int64)
    /// ALLOT would fence more than the free pool holds (`ERR INSUFFICIENT free= requested=`).
    case insufficientFree(free: Int64, requested: Int64)
    /// ALLOCATE could not cover the request (`ERR INSUFFICIENT available= requested= avail=PAR:3,...`).
    case unallocatable(available: Int64, requested: Int64, byWarehouse: [(String, Int64)])
    /// A bound of `Limits` would be passed (`ERR LIMIT`).
    case limit(String)
    /// `SELL res=` asked for more than the reservation holds while it still awaits units.
    case awaiting(reservation: String, held: Int64, awaiting: Int64)
    /// No reservation, transfer or purchase order has this id.
    case notFound(Entity, String)
    /// The thing exists but is no longer open (`status`: released, sold, expired, closed).
    case closed(Entity, String, status: String)
    /// Any other "cannot do that now" (an id that already exists).
    case state(String)
    case argument(String)

    /// The things a write can name by id, with the argument key that names them.
    public enum Entity: String, Sendable {
        case reservation, transfer, purchaseOrder, waiter, region, alloc

        /// The request key for this entity's id (`res`, `xfer`, `po`, `ref`).
        public var key: String {
            switch self {
            case .reservation: "res"
            case .transfer: "xfer"
            case .purchaseOrder: "po"
            case .waiter: "ref"
            case .region: "region"
            case .alloc: "alloc"
            }
        }

        public var name: String {
            switch self {
            case .purchaseOrder: "purchase order"
            case .waiter: "waitlist entry"
            case .alloc: "allocation"
            default: rawValue
            }
        }
    }
}

/// What the writer knows when it checks a command: the time and the seq the event would get.
public struct DecisionContext: Sendable {
    /// The event's time. Event times never go backwards in the log, so when the wall clock is behind
    /// the last event's time (it was set back), this is held at that time until the clock catches up.
    public var now: Timestamp
    /// The wall clock as read, which deadlines count from: a reservation's `ttl` runs in real time
    /// even while `now` is held.
    public var clock: Timestamp
    public var seq: UInt64
    public var actor: UInt32
    /// Without `clock`, the event's time is the clock (a store built offline, a test).
    public init(now: Timestamp, seq: UInt64, actor: UInt32, clock: Timestamp? = nil) {
        self.now = now
        self.clock = clock ?? now
        self.seq = seq
        self.actor = actor
    }
}
