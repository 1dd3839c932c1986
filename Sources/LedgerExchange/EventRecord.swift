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
                                    "note",
                                    // Promises (event format version 2).
                                    "previous", "preorder", "preorder_until", "preorder_eta", "pad", "fill", "channel",
                                    "priority", "backorder", "moves", "expiries",
                                    // Channels and allocation.
                                    "until", "share", "buffer", "low", "inherit", "region", "alloc", "lines", "requested",
                                    "strategy", "fence", "fence_back", "fence_cut",
                                    // Planning levels (FEATURES.md §1e).
                                    "bin", "cards", "lead"]
    /// The fields that are always whole numbers: JSON writes them as numbers, and CSV never guards them
    /// against spreadsheet formulas (a negative delta stays a number).
    public static let numericFields: Set<String> = ["seq", "actor", "qty", "delta", "lost", "safety", "reorder", "max",
                                                    "preorder", "pad", "priority", "share", "buffer", "low", "requested",
                                                    "fence", "fence_back", "bin", "cards"]

    /// seq, at, kind, actor, the event's own fields, then ref, id and note.
    public static func fields(_ event: Event) -> [(String, String)] {
        var pairs: [(String, String)] = [("seq", String(event.seq)), ("at", event.recordedAt.rfc3339),
                                         ("kind", event.body.kind.name), ("actor", String(event.actor))]
        pairs += Rows.fields(of: event.body)
        if case let .allocated(_, _, lines, _, _, _) = event.body, let index = pairs.firstIndex(where: { $0.0 == "lines" }) {
            pairs[index].1 = DecisionText.allocationLines(lines)
        }
        pairs += DecisionText.fields(event.decisions)
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
            let body = try body(kind, &f, ref: ref)
            let decisions = try DecisionText.decisions(&f)
            // A backorder may hold nothing yet, and a release may give up only awaiting units; other
            // reservations, releases and expiries move at least one unit.
            if decisions.moves.isEmpty {
                switch body {
                case .reserved(_, _, _, 0, _), .released(_, _, _, 0), .expired(_, _, _, 0):
                    throw ProtocolError(.argument, "qty: 0 is out of range 1...\(Limits.quantityMax)")
                default: break
                }
            }
            do { try f.finish() } catch {
                throw ProtocolError(.argument, "\(error.message) (not a field of a \(kindName) event)")
            }
            // A waitlist event's `ref` is its subscriber, in the body.
            let waits = kind == .waitlisted || kind == .unwaitlisted
            return Event(seq: seq, recordedAt: at, actor: actor, body: body, ref: waits ? nil : ref, note: note, idempotencyKey: id,
                         decisions: decisions)
        } catch {
            throw RecordProblem(error.message)
        }
    }

    private static func body(_ kind: EventKind, _ f: inout ArgumentFields, ref: String?) throws(ProtocolError) -> EventBody {
        switch kind {
        case .received:
            return .received(sku: try f.identifier("sku"), wh: try f.identifier("wh"), quantity: try f.quantity("qty"),
                             purchaseOrder: try f.optionalIdentifier("po"))
        case .sold:
            return .sold(sku: try f.identifier("sku"), wh: try f.identifier("wh"), quantity: try f.quantity("qty"),
                         reservation: try f.optionalIdentifier("res"))
        case .reserved:
            return .reserved(reservation: try f.identifier("res"), sku: try f.identifier("sku"), wh: try f.identifier("wh"),
                             quantity: try f.quantity("qty", minimum: 0), expiresAt: try f.time("expires"))
        case .released:
            return .released(reservation: try f.identifier("res"), sku: try f.identifier("sku"), wh: try f.identifier("wh"),
                             quantity: try f.quantity("qty", minimum: 0))
        case .expired:
            return .expired(reservation: try f.identifier("res"), sku: try f.identifier("sku"), wh: try f.identifier("wh"),
                            quantity: try f.quantity("qty", minimum: 0))
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
            let sku = try f.identifier("sku"), wh = try f.identifier("wh")
            let safety = try f.optionalQuantity("safety", minimum: 0), reorder = try f.optionalQuantity("reorder", minimum: 0)
            // With a channel, max= and the other levels are that channel's.
            if let channel = try f.optionalIdentifier("channel") {
                let rules = try DecisionText.rules(&f)
                let inherit = try f.optionalString("inherit") == "yes"
                return .policySet(sku: sku, wh: wh, safety: safety, reorder: reorder, max: nil, promises: try f.promisePolicy(),
                                  channel: ChannelPolicy(channel: channel, rules: rules, inherit: inherit))
            }
            let max = try f.optionalQuantity("max", minimum: 0), promises = try f.promisePolicy()
            guard safety != nil || reorder != nil || max != nil || promises != nil else {
                throw ProtocolError(.argument, "missing key: one of safety, reorder, max, preorder, preorder_until, preorder_eta, pad, fill")
            }
            return .policySet(sku: sku, wh: wh, safety: safety, reorder: reorder, max: max, promises: promises)
        case .rescheduled:
            return .rescheduled(purchaseOrder: try f.identifier("po"), sku: try f.identifier("sku"), wh: try f.identifier("wh"),
                                eta: try f.time("eta"), previous: try f.time("previous"))
        case .extended:
            return .extended(reservation: try f.identifier("res"), sku: try f.identifier("sku"), wh: try f.identifier("wh"),
                             expiresAt: try f.time("expires"))
        case .filled:
            return .filled(sku: try f.identifier("sku"), wh: try f.identifier("wh"))
        case .allotted:
            return .allotted(sku: try f.identifier("sku"), wh: try f.identifier("wh"), channel: try f.identifier("channel"),
                             quantity: try f.quantity("qty", minimum: 0), until: try f.optionalTime("until"))
        case .unallotted:
            return .unallotted(sku: try f.identifier("sku"), wh: try f.identifier("wh"), channel: try f.identifier("channel"),
                               quantity: try f.quantity("qty", minimum: 0))
        case .channelSet:
            return .channelSet(channel: try f.identifier("channel"), rules: try DecisionText.rules(&f))
        case .routeSet:
            let region = try f.identifier("region")
            let list = try f.string("wh")
            return .routeSet(region: region, warehouses: list == "-" ? [] : try list.split(separator: ",").map { text throws(ProtocolError) in
                try DecisionText.identifier("wh", text)
            })
        case .allocated:
            let requested = try f.quantity("requested")
            let lines = try DecisionText.allocationLines(try f.string("lines"))
            guard lines.count <= Limits.allocationLinesMax else {
                throw ProtocolError(.argument, "lines: at most \(Limits.allocationLinesMax)")
            }
            return .allocated(alloc: try f.identifier("alloc"), sku: try f.identifier("sku"), lines: lines,
                              expiresAt: try f.time("expires"), requested: requested, strategy: try f.identifier("strategy"))
        case .waitlisted, .unwaitlisted:
            // The subscriber token is the `ref` field; `*` is the any-warehouse list.
            let sku = try f.identifier("sku")
            let whText = try f.optionalString("wh")
            let wh = whText == PairKey.anyWarehouse ? nil : try whText.map { text throws(ProtocolError) in try DecisionText.identifier("wh", text[...]) }
            guard let subscriber = ref else { throw ProtocolError(.argument, "missing key: ref") }
            if kind == .waitlisted {
                return .waitlisted(sku: sku, wh: wh, subscriber: subscriber, quantity: try f.quantity("qty"),
                                   channel: try f.optionalIdentifier("channel"))
            }
            return .unwaitlisted(sku: sku, wh: wh, subscriber: subscriber, reason: try f.optionalIdentifier("reason"))
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

/// The decisions of an event as exported fields, losslessly, so an import folds them exactly:
/// `priority`, `backorder`, `pad`, `moves` and `expiries`. A move is `res>from>to>qty[>date]`, with
/// `from` one of `new`, `cap`, `none`, `po:<id>` and `to` one of `held`, `released`, `cap`, `none`,
/// `po:<id>` (then the line's date, when known); moves and expiries (`res>time`) are joined by `,`.
/// Neither `>` nor `,` can appear in an identifier.
enum DecisionText {
    static func fields(_ decisions: Decisions) -> [(String, String)] {
        guard !decisions.isEmpty else { return [] }
        var fields: [(String, String)] = []
        if let priority = decisions.priority { fields.append(("priority", String(priority))) }
        if let backorder = decisions.backorder { fields.append(("backorder", backorder.name)) }
        if let pad = decisions.padSeconds { fields.append(("pad", String(pad))) }
        if let channel = decisions.channel { fields.append(("channel", channel)) }
        if let fence = decisions.fence { fields.append(("fence", String(fence))) }
        if let back = decisions.fenceBack { fields.append(("fence_back", String(back))) }
        if !decisions.fenceCuts.isEmpty {
            fields.append(("fence_cut", decisions.fenceCuts.map { "\($0.channel)>\($0.quantity)" }.joined(separator: ",")))
        }
        if !decisions.moves.isEmpty { fields.append(("moves", decisions.moves.map(text).joined(separator: ","))) }
        if !decisions.expiries.isEmpty {
            fields.append(("expiries", decisions.expiries.map { "\($0.reservation)>\($0.expiresAt.rfc3339)" }.joined(separator: ",")))
        }
        return fields
    }

    /// An allocation's lines with what the event row leaves out: `res@wh:qty`, then `/fence` for the
    /// units drawn from the channel's fence and `!` for a line that dipped below safety
    /// (`ORD-9.1@LIL:5/2!`), so an import folds the allocation as it was decided.
    static func allocationLines(_ lines: [AllocationLine]) -> String {
        lines.map { line in
            "\(line.reservation)@\(line.wh):\(line.quantity)" + (line.fence > 0 ? "/\(line.fence)" : "") + (line.belowSafety ? "!" : "")
        }.joined(separator: ",")
    }

    static func allocationLines(_ text: String) throws(ProtocolError) -> [AllocationLine] {
        var lines: [AllocationLine] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            var rest = part[...]
            let belowSafety = rest.hasSuffix("!")
            if belowSafety { rest = rest.dropLast() }
            guard let at = rest.firstIndex(of: "@"), let colon = rest[at...].firstIndex(of: ":") else {
                throw ProtocolError(.argument, "lines: expected res@wh:qty[/fence][!], got \(part)")
            }
            let numbers = rest[rest.index(after: colon)...].split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard let quantity = Int64(numbers[0]), (1...Limits.quantityMax).contains(quantity),
                  let fence = numbers.count > 1 ? Int64(numbers[1]) : 0, (0...quantity).contains(fence) else {
                throw ProtocolError(.argument, "lines: expected res@wh:qty[/fence][!] with 1 <= qty and 0 <= fence <= qty, got \(part)")
            }
            lines.append(AllocationLine(reservation: try identifier("res", rest[..<at]),
                                        wh: try identifier("wh", rest[rest.index(after: at)..<colon]),
                                        quantity: quantity, fence: fence, belowSafety: belowSafety))
        }
        return lines
    }

    static func text(_ move: LineMove) -> String {
        func backing(_ backing: Backing) -> String {
            if case .order(let po) = backing { return "po:" + po }
            return backing.name
        }
        var parts = [move.reservation, move.from.map(backing) ?? "new"]
        switch move.to {
        case .held: parts.append("held")
        case .released: parts.append("released")
        case .line(let target, _): parts.append(backing(target))
        }
        parts.append(String(move.quantity))
        if case .line(_, let date?) = move.to { parts.append(date.rfc3339) }
        return parts.joined(separator: ">")
    }

    static func decisions(_ f: inout ArgumentFields) throws(ProtocolError) -> Decisions {
        var decisions = Decisions()
        if let priority = try f.optionalString("priority") {
            guard let value = UInt8(priority), (1...9).contains(value) else { throw ProtocolError(.argument, "priority: 1 to 9") }
            decisions.priority = value
        }
        if let backorder = try f.optionalString("backorder") {
            guard let mode = [Backorder.order, .cap].first(where: { $0.name == backorder }) else {
                throw ProtocolError(.argument, "backorder: expected po or cap")
            }
            decisions.backorder = mode
        }
        if let pad = try f.optionalString("pad") {
            guard let seconds = Int64(pad), seconds >= 0 else { throw ProtocolError(.argument, "pad: expected seconds") }
            decisions.padSeconds = seconds
        }
        decisions.channel = try f.optionalIdentifier("channel")
        decisions.fence = try f.optionalQuantity("fence", minimum: 0)
        decisions.fenceBack = try f.optionalQuantity("fence_back")
        if let cuts = try f.optionalString("fence_cut") {
            for text in cuts.split(separator: ",", omittingEmptySubsequences: false) {
                let parts = text.split(separator: ">", omittingEmptySubsequences: false)
                guard parts.count == 2, let quantity = Int64(parts[1]), quantity > 0 else {
                    throw ProtocolError(.argument, "fence_cut: expected channel>qty, found \(text)")
                }
                decisions.fenceCuts.append(FenceCut(channel: try identifier("channel", parts[0]), quantity: quantity))
            }
        }
        if let moves = try f.optionalString("moves") {
            for text in moves.split(separator: ",", omittingEmptySubsequences: false) {
                decisions.moves.append(try move(text))
            }
        }
        if let expiries = try f.optionalString("expiries") {
            for text in expiries.split(separator: ",", omittingEmptySubsequences: false) {
                let parts = text.split(separator: ">", omittingEmptySubsequences: false)
                guard parts.count == 2, let time = Timestamp(rfc3339: parts[1]) else {
                    throw ProtocolError(.argument, "expiries: expected res>time, found \(text)")
                }
                decisions.expiries.append(ExpiryChange(reservation: try reservation(parts[0]), expiresAt: time))
            }
        }
        return decisions
    }

    /// A CHANNEL's levels as fields.
    static func rules(_ f: inout ArgumentFields) throws(ProtocolError) -> ChannelRules {
        ChannelRules(share: try f.optionalQuantity("share", minimum: 0), buffer: try f.optionalQuantity("buffer", minimum: 0),
                     max: try f.optionalQuantity("max", minimum: 0), low: try f.optionalQuantity("low", minimum: 0))
    }

    /// `text` checked as the request parser checks an identifier under `key`.
    static func identifier(_ key: String, _ text: Substring) throws(ProtocolError) -> String {
        var fields = try ArgumentFields([(key: key, value: String(text))])
        return try fields.identifier(key)
    }

    private static func reservation(_ text: Substring) throws(ProtocolError) -> String { try identifier("res", text) }

    private static func move(_ text: Substring) throws(ProtocolError) -> LineMove {
        let parts = text.split(separator: ">", omittingEmptySubsequences: false)
        func bad() -> ProtocolError { ProtocolError(.argument, "moves: expected res>from>to>qty[>date], found \(text)") }
        guard parts.count == 4 || parts.count == 5, let quantity = Int64(parts[3]), quantity > 0,
              quantity <= Limits.bucketQuantityMax else { throw bad() }
        func backing(_ text: Substring) throws(ProtocolError) -> Backing {
            switch text {
            case "cap": return .cap
            case "none": return Backing.none
            default:
                guard text.hasPrefix("po:") else { throw bad() }
                return .order(try identifier("po", text.dropFirst(3)))
            }
        }
        let from: Backing? = parts[1] == "new" ? nil : try backing(parts[1])
        let date: Timestamp?
        if parts.count == 5 {
            guard let time = Timestamp(rfc3339: parts[4]) else { throw bad() }
            date = time
        } else {
            date = nil
        }
        let to: LineMove.Target
        switch parts[2] {
        case "held", "released":
            guard date == nil else { throw bad() }
            to = parts[2] == "held" ? .held : .released
        default:
            to = .line(try backing(parts[2]), date: date)
        }
        return LineMove(reservation: try reservation(parts[0]), from: from, to: to, quantity: quantity)
    }
}
