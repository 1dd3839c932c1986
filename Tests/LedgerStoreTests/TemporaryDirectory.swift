import Foundation
import LedgerCore
import Testing

/// A fresh folder under /tmp (made by mkdtemp) for the duration of `body`, removed afterwards.
func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    var template = Array("/tmp/stockd-unit-XXXXXX".utf8CString)
    let path: String = try template.withUnsafeMutableBufferPointer { buffer in
        guard let made = mkdtemp(buffer.baseAddress!) else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        return String(cString: made)
    }
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

/// Decides and folds commands the way the writer does, one second apart, keeping the events.
struct Recorder {
    static let start = Timestamp(seconds: 1_795_334_400)  // 2026-11-22T08:00:00Z

    var state = LedgerState()
    var events: [Event] = []

    static func time(ofSeq seq: UInt64) -> Timestamp { start.adding(seconds: Int64(seq)) }

    /// Decides `command` against `state` as event `state.lastSeq + 1` and folds it into `state`.
    static func accept(_ request: WriteRequest, into state: inout LedgerState) throws -> Event {
        let seq = state.lastSeq + 1
        let context = DecisionContext(now: time(ofSeq: seq), seq: seq, actor: 1_000)
        let event = try Ledger.decide(request, in: state, context: context).get()
        Ledger.apply(event, to: &state)
        return event
    }

    @discardableResult
    mutating func accept(_ command: Command, ref: String? = nil, id: String? = nil) throws -> Event {
        let event = try Recorder.accept(WriteRequest(command: command, ref: ref, idempotencyKey: id), into: &state)
        events.append(event)
        return event
    }

    /// Folds events decided elsewhere (against the store) into this full state too.
    mutating func mirror(_ more: [Event]) {
        for event in more { Ledger.apply(event, to: &state) }
        events += more
    }
}
