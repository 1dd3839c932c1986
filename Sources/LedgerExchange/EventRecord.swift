import LedgerCore
import LedgerProtocol

/// Why one record of an import file cannot become an event, and the line it starts on when known.
public struct RecordProblem: Error, Equatable, CustomStringConvertible {
    /// The line of the file where the record starts, counted from 1.
    public var line: Int?
    public var message: String

    public init(_ message: String, line: Int? = nil) {
        self.message = message
        self.line = line
    }

    public var description: String { line.map { "line \($0): \(message)" } ?? message }

    /// The same problem, placed at `line` unless it already names one.
    func at(_ line: Int) -> RecordProblem { RecordProblem(message, line: self.line ?? line) }
}

/// Events as named fields: the export formats and the import readers share these names, which are
/// the names of the protocol's `event` row.
///
/// An event read from fields is checked against the request parser's rules for each value (through
/// `ArgumentFields`) and for the fields its kind has; whether it fits the ledger is `Ledger.check`'s job.
public enum EventRecord {
    /// The CSV header. Fixed: other tools read the file by position, so columns are only ever added
    /// at the end.
    public static let csvColumns = ["seq", "at", "kind", "actor", "sku", "wh", "qty", "res", "xfer", "from", "to", "po",
                                    "delta", "lost", "eta", "expires", "safety", "reorder", "max", "reason", "ref", "id",
                                    "note"]
    /// The fields that are always whole numbers: JSON writes them as numbers, and CSV never guards them
    /// against spreadsheet formulas (a negative delta stays a number).
    public static let numericFields: Set<String> = ["seq", "actor", "qty", "delta", "lost", "safety", "reorder", "max"]

    /// seq, at, kind, actor, the event's own fields, then ref, id and note.
    public static func fields(_ event: Event) -> [(String, String)] {
        var pairs: [(String, String)] = [("seq", String(event.seq)), ("at", event.recordedAt.rfc3339),
                                         ("kind", event.body.kind.name), ("actor", String(event.actor))]
        pairs += Rows.fields(of: event.body)
        pairs += Rows.decisionFields(of: event)
        if let ref = event.ref { pairs.append(("ref", ref)) }
        if let id = event.idempotencyKey { pairs.append(("id", id)) }
        if let note = event.note { pairs.append(("note", note)) }
        return pairs
    }

    /// The event that named fields describe, or the first rule a field breaks.
    public static func event(from fields: [(key: String, value: String)]) throws(RecordProblem) -> Event {
        do throws(ProtocolError) {
            var f = try ArgumentFields(fields)
            let seq = UInt64(try wholeNumber(&f, "seq", 1...Int64.max))
            let at = try f.time("at")
            let kindName = try f.string("kind")
            guard let kind = EventKind.allCases.first(where: { $0.name == kindName }) else {
                throw ProtocolError(.argument, "kind: unknown kind \(kindName)")
            }
            let actor = UInt32(try wholeNumber(&f, "actor", 0...Int64(UInt32.max)))
            let ref = try f.optionalIdentifier("ref")
            let id = try f.optionalIdentifier("id")
            let note = try f.optionalFreeText("note")
            let body = try body(kind, &f)
            do { try f.finish() } catch {
                throw ProtocolError(.argument, "\(error.message) (not a field of a \(kindName) event)")
            }
            return Event(seq: seq, recordedAt: at, actor: actor, body: body, ref: ref, note: note, idempotencyKey: id)
        } catch {
            throw RecordProblem(error.message)
        }
    }

    private static func body(_ kind: EventKind, _ f: inout ArgumentFields) throws(ProtocolError) -> EventBody {
        switch kind {
        case .received:
            return .received(sku: try f.identifier("sku"), wh: try f.identifier("wh"), quantity: try f.quantity("qty"),
                             purchaseOrder: try f.optionalIdentifier("po"))
        case .sold:
            return .sold(sku: try f.identifier("sku"), wh: try f.identifier("wh"), quantity: try f.quantity("qty"),
                         reservation: try f.optionalIdentifier("res"))
        case .reserved:
            return .reserved(reservation: try f.identifier("res"), sku: try f.identifier("sku"), wh: try f.identifier("wh"),
                             quantity: try f.quantity("qty"), expiresAt: try f.time("expires"))
        case .released:
            return .released(reservation: try f.identifier("res"), sku: try f.identifier("sku"), wh: try f.identifier("wh"),
                             quantity: try f.quantity("qty"))
        case .expired:
            return .expired(reservation: try f.identifier("res"), sku: try f.identifier("sku"), wh: try f.identifier("wh"),
                            quantity: try f.quantity("qty"))
        case .transferShipped:
            return .transferShipped(transfer: try f.identifier("xfer"), sku: try f.identifier("sku"),
                                    from: try f.identifier("from"), to: try f.identifier("to"),
                                    quantity: try f.quantity("qty"), eta: try f.optionalTime("eta"))
        case .transferArrived:
            let to = try destination(&f)
            return .transferArrived(transfer: try f.identifier("xfer"), sku: try f.identifier("sku"),
                                    from: try f.identifier("from"), to: to, quantity: try f.quantity("qty"),
                                    lost: try f.optionalQuantity("lost", minimum: 0) ?? 0)
        case .transferLost:
            let to = try destination(&f)
            return .transferLost(transfer: try f.identifier("xfer"), sku: try f.identifier("sku"),
                                 from: try f.identifier("from"), to: to, lost: try f.quantity("lost"))
        case .adjusted:
            return .adjusted(sku: try f.identifier("sku"), wh: try f.identifier("wh"), delta: try f.delta("delta"),
                             reason: try f.freeText("reason"))
        case .counted:
            // The delta is what the count found, not a request's argument: it may be 0, and as large as a bucket.
            return .counted(sku: try f.identifier("sku"), wh: try f.identifier("wh"),
                            quantity: try f.quantity("qty", minimum: 0),
                            delta: try wholeNumber(&f, "delta", -Limits.bucketQuantityMax...Limits.bucketQuantityMax),
                            reason: try f.optionalFreeText("reason"))
        case .returned:
            return .returned(sku: try f.identifier("sku"), wh: try f.identifier("wh"), quantity: try f.quantity("qty"))
        case .expected:
            return .expected(purchaseOrder: try f.identifier("po"), sku: try f.identifier("sku"), wh: try f.identifier("wh"),
                             quantity: try f.quantity("qty"), eta: try f.time("eta"))
        case .cancelled:
            // A cancel closes what is still open, which may be nothing.
            return .cancelled(purchaseOrder: try f.identifier("po"), sku: try f.identifier("sku"),
                              wh: try f.identifier("wh"), quantity: try f.quantity("qty", minimum: 0))
        case .policySet:
            let body = EventBody.policySet(
                sku: try f.identifier("sku"), wh: try f.identifier("wh"),
                safety: try f.optionalQuantity("safety", minimum: 0), reorder: try f.optionalQuantity("reorder", minimum: 0),
                max: try f.optionalQuantity("max", minimum: 0))
            if case .policySet(_, _, nil, nil, nil, _) = body {
                throw ProtocolError(.argument, "missing key: one of safety, reorder, max")
            }
            return body
        case .rescheduled, .extended, .filled, .waitlisted, .unwaitlisted:
            // Their line moves (and those of promise fields on other kinds) are exported for reading,
            // not in a form an import can replay yet: refused by name rather than folded wrongly.
            throw ProtocolError(.argument, "kind: \(kind.name) events (promises) cannot be imported yet")
        }
    }

    /// Arrivals and losses name the destination as `wh` too (as `event` rows do); the two must agree.
    private static func destination(_ f: inout ArgumentFields) throws(ProtocolError) -> String {
        let to = try f.identifier("to")
        if let wh = try f.optionalIdentifier("wh"), wh != to {
            throw ProtocolError(.argument, "wh: \(wh) differs from to=\(to) (an arrival's wh is its destination)")
        }
        return to
    }

    /// Fields that only events have (seq, actor, a count's delta): an optional `-` and digits, in `range`.
    private static func wholeNumber(_ f: inout ArgumentFields, _ key: String,
                                    _ range: ClosedRange<Int64>) throws(ProtocolError) -> Int64 {
        let text = try f.string(key)
        let digits = text.hasPrefix("-") ? text.utf8.dropFirst() : text.utf8[...]
        guard !digits.isEmpty, digits.count <= 19, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let number = Int64(text), range.contains(number) else {
            throw ProtocolError(.argument, "\(key): expected a whole number from \(range.lowerBound) to \(range.upperBound), found \(text)")
        }
        return number
    }
}
