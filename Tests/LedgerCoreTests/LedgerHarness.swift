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
