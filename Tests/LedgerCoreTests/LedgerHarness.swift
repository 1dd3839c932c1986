import LedgerCore
import Testing

/// A ledger driven the way the writer drives it: every command goes through `Ledger.decide` with the
/// next seq and the harness clock, and an accepted event is folded with `Ledger.apply`.
struct LedgerHarness {
    /// 2026-11-22T08:00:00Z, the time of the examples in PROTOCOL.md.
    static let start = Timestamp(seconds: 1_795_334_400)

    var state = LedgerState()
    var now = LedgerHarness.start
    var actor: UInt32 = 1_000
    private(set) var events: [Event] = []

    var nextSeq: UInt64 { state.lastSeq + 1 }

    func context() -> DecisionContext { DecisionContext(now: now, seq: nextSeq, actor: actor) }

    /// Decides `command`; folds the event when it is accepted. The state is untouched on a refusal.
    @discardableResult
    mutating func run(_ command: Command, ref: String? = nil, note: String? = nil,
                      id: String? = nil) -> Result<Event, Refusal> {
        let request = WriteRequest(command: command, ref: ref, note: note, idempotencyKey: id)
        let result = Ledger.decide(request, in: state, context: context())
        if case .success(let event) = result {
            Ledger.apply(event, to: &state)
            events.append(event)
        }
        return result
    }

    /// Runs a command that must be accepted; a refusal is thrown and fails the calling test.
    @discardableResult
    mutating func accept(_ command: Command, ref: String? = nil, note: String? = nil,
                         id: String? = nil) throws -> Event {
        try run(command, ref: ref, note: note, id: id).get()
    }

    /// Decides `command` without folding anything; nil when it would be accepted.
    func refusal(_ command: Command) -> Refusal? {
        let result = Ledger.decide(WriteRequest(command: command), in: state, context: context())
        if case .failure(let refusal) = result { return refusal }
        return nil
    }

    func pair(_ sku: String, _ wh: String) -> PairState {
        state.pair(PairKey(sku: sku, wh: wh)) ?? PairState()
    }

    mutating func advance(seconds: Int64) { now = now.adding(seconds: seconds) }
}

extension Refusal {
    /// True for `.argument` whose text names `key` (the protocol's `ERR ARG` must say what is wrong).
    func isArgument(naming key: String) -> Bool {
        if case .argument(let text) = self { return text.contains(key) }
        return false
    }

    var isState: Bool { if case .state = self { true } else { false } }
}

// MARK: Promises (FEATURES.md §1a)

extension LedgerHarness {
    /// Noon of `day` days after `start`: a purchase order's ETA in the promise tests.
    static func day(_ day: Int64) -> Timestamp { start.adding(seconds: day * 86_400 + 4 * 3_600) }

    /// Decides `command` as the writer does, into every event it becomes (its own, then `filled`
    /// events when it fills more than `Limits.fillsPerEventMax` reservations), and folds them all.
    @discardableResult
    mutating func runAll(_ command: Command, ref: String? = nil) -> Result<[Event], Refusal> {
        let result = Ledger.decideEvents(WriteRequest(command: command, ref: ref), in: state, context: context())
        if case .success(let decided) = result {
            for event in decided {
                Ledger.apply(event, to: &state)
                events.append(event)
            }
        }
        return result
    }

    /// A `RESERVE` that may wait (`backorder=po` unless told), which must be accepted.
    @discardableResult
    mutating func backorder(_ sku: String, _ wh: String, _ quantity: Int64, id: String, backorder: Backorder = .order,
                            po: String? = nil, priority: UInt8? = nil, ttl: Int64? = nil) throws -> Event {
        try accept(.reserve(sku: sku, wh: wh, quantity: quantity, reservation: id, ttlSeconds: ttl,
                            terms: ReserveTerms(backorder: backorder, purchaseOrder: po, priority: priority)))
    }

    /// An `EXPECT` of `quantity` units due on `day`, which must be accepted.
    @discardableResult
    mutating func expect(_ sku: String, _ wh: String, _ quantity: Int64, day: Int64, po: String,
                         bind: Bool = true) throws -> Event {
        try accept(.expect(sku: sku, wh: wh, quantity: quantity, eta: LedgerHarness.day(day), purchaseOrder: po, bind: bind))
    }

    func reservation(_ id: String) -> Reservation? { state.reservation(id) }

    /// A reservation's lines as `backing:qty` in their stored order (`PO-1:3,cap:2`); empty without.
    func lines(_ id: String) -> String {
        (state.reservation(id)?.lines ?? []).map { "\($0.backing.name):\($0.quantity)" }.joined(separator: ",")
    }

    /// The reservations waiting in a pair, in fill order.
    func waiting(_ sku: String, _ wh: String) -> [String] { pair(sku, wh).waiting.map(\.reservation) }
}

extension Decisions {
    /// The fills as `res:qty` per move (`r1:3<PO-1`, with the line they left).
    var fillText: [String] {
        moves.filter { $0.to == .held }.map { "\($0.reservation):\($0.quantity)<\($0.from?.name ?? "new")" }
    }

    /// Every move as `res:qty from>to` (`r1:2 PO-1>none`, `r2:1 cap>held`, `r3:1 none>released`).
    var moveText: [String] {
        moves.map { move in
            let to: String
            switch move.to {
            case .held: to = "held"
            case .released: to = "released"
            case .line(let backing, _): to = backing.name
            }
            return "\(move.reservation):\(move.quantity) \(move.from?.name ?? "new")>\(to)"
        }
    }
}

// MARK: Channels and allocation (FEATURES.md §1b, §1c)

extension LedgerHarness {
    /// What `channel` may take in a pair now, with the CHANNEL defaults as they stand (nil: the free pool).
    func view(_ sku: String, _ wh: String, _ channel: String?) -> Int64 {
        pair(sku, wh).view(channel, defaults: state.pair(PairKey.configuration))
    }

    /// A pair's fences as `channel:units`, by channel name (`b2b:40,store:0`); empty without.
    func fences(_ sku: String, _ wh: String) -> String {
        pair(sku, wh).fences.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",")
    }

    /// RECEIVEs of `units` per warehouse, which must be accepted (`["PAR": 3, "LIL": 6]`).
    mutating func stock(_ sku: String, _ units: KeyValuePairs<String, Int64>) throws {
        for (wh, quantity) in units { try accept(.receive(sku: sku, wh: wh, quantity: quantity, purchaseOrder: nil)) }
    }

    /// An ALLOT, which must be accepted.
    @discardableResult
    mutating func allot(_ sku: String, _ wh: String, _ channel: String, _ quantity: Int64) throws -> Event {
        try accept(.allot(sku: sku, wh: wh, channel: channel, quantity: quantity, until: nil))
    }
}

extension Event {
    /// An `allocated` event's lines as `res@wh:qty` (`ORD-9.1@LIL:5`, `+f3` for the fence part, `!`
    /// below safety); empty for other kinds.
    var allocationText: [String] {
        guard case let .allocated(_, _, lines, _, _, _) = body else { return [] }
        return lines.map { "\($0.reservation)@\($0.wh):\($0.quantity)" + ($0.fence > 0 ? "+f\($0.fence)" : "") + ($0.belowSafety ? "!" : "") }
    }
}
