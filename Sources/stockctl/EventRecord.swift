import LedgerCore
import LedgerProtocol

/// Why one record of an import file cannot become an event. The importer adds the file and line.
struct RecordProblem: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The protocol's token rules for values (PROTOCOL.md, "Tokens"), applied to imported fields.
enum FieldRules {
    /// `A-Z a-z 0-9 . _ - : / # @ +`, as the protocol allows in identifiers.
    static func isIdentifierByte(_ byte: UInt8) -> Bool { Identifier.isValidByte(byte) }

    /// What is wrong with `value` as an identifier, or nil when it is a good one.
    static func identifierProblem(_ value: String) -> String? {
        if value.isEmpty { return "empty" }
        if value.utf8.count > Limits.identifierBytesMax { return "longer than \(Limits.identifierBytesMax) bytes" }
        if !value.utf8.allSatisfy(isIdentifierByte) { return "only A-Z a-z 0-9 . _ - : / # @ + are allowed" }
        return nil
    }

    /// What is wrong with `value` as free text (reason, note), or nil.
    static func freeTextProblem(_ value: String) -> String? {
        if value.utf8.count > Limits.freeTextBytesMax { return "longer than \(Limits.freeTextBytesMax) bytes" }
        if value.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { return "control characters are not allowed" }
        return nil
    }
}

/// Events as named fields: the export formats and the import parsers share these names, which are
/// the names of the protocol's `event` row.
enum EventRecord {
    /// The CSV header. Fixed: other tools read the file by position, so columns are only ever added
    /// at the end.
    static let csvColumns = ["seq", "at", "kind", "actor", "sku", "wh", "qty", "res", "xfer", "from", "to", "po",
                             "delta", "lost", "eta", "expires", "safety", "reorder", "max", "reason", "ref", "id", "note"]
    static let csvHeader = csvColumns.joined(separator: ",")
    private static let csvColumnIndex = Dictionary(uniqueKeysWithValues: csvColumns.enumerated().map { ($1, $0) })

    /// seq, at, kind, actor, the event's own fields, then ref, id and note.
    static func fields(_ event: Event) -> [(String, String)] {
        var pairs: [(String, String)] = [("seq", String(event.seq)), ("at", event.recordedAt.rfc3339),
                                         ("kind", event.body.kind.name), ("actor", String(event.actor))]
        pairs += Rows.fields(of: event.body)
        if let ref = event.ref { pairs.append(("ref", ref)) }
        if let id = event.idempotencyKey { pairs.append(("id", id)) }
        if let note = event.note { pairs.append(("note", note)) }
        return pairs
    }

    /// One CSV record (RFC 4180): a field holding a comma, a quote or a line break is quoted, with
    /// quotes doubled. An absent field is empty; a present but empty text is `""`, so the two
    /// survive a round trip.
    static func csvLine(_ event: Event) -> String {
        var columns = [String?](repeating: nil, count: csvColumns.count)
        for (key, value) in fields(event) {
            guard let index = csvColumnIndex[key] else { preconditionFailure("event field \(key) has no CSV column") }
            columns[index] = value
        }
        return columns.map(csvField).joined(separator: ",")
    }

    static func csvField(_ value: String?) -> String {
        guard let value else { return "" }
        if value.isEmpty { return "\"\"" }
        guard value.utf8.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0D || $0 == 0x0A }) else { return value }
        var quoted = "\""
        for character in value.unicodeScalars {
            if character == "\"" { quoted += "\"\"" } else { quoted.unicodeScalars.append(character) }
        }
        return quoted + "\""
    }

    /// The header's column names: known, each once, with the four every event has.
    static func columns(_ header: [String?]) throws -> [String] {
        var seen: Set<String> = []
        let known = Set(EventRecord.csvColumns)
        let names = try header.map { name -> String in
            guard let name, known.contains(name) else {
                throw RecordProblem("header: unknown column \(name ?? "(empty)"); the columns are \(EventRecord.csvHeader)")
            }
            guard seen.insert(name).inserted else { throw RecordProblem("header: column \(name) appears twice") }
            return name
        }
        for required in ["seq", "at", "kind", "actor"] where !seen.contains(required) {
            throw RecordProblem("header: no \(required) column (is the first line the header?)")
        }
        return names
    }

    /// Builds the event that named fields describe. Checks each value against the protocol's token
    /// rules and that the fields fit the kind; whether the event fits the ledger is `ImportCheck`'s job.
    static func event(from values: [String: String]) throws(RecordProblem) -> Event {
        var fields = RecordFields(values: values)
        let seq = try fields.sequenceNumber("seq")
        let at = try fields.time("at")
        let kindName = try fields.required("kind")
        guard let kind = EventKind.allCases.first(where: { $0.name == kindName }) else {
            throw RecordProblem("kind: unknown kind \(kindName)")
        }
        let actor = try fields.actor("actor")
        let ref = try fields.optionalIdentifier("ref")
        let id = try fields.optionalIdentifier("id")
        let note = try fields.optionalFreeText("note")
        let body = try body(kind, &fields)
        try fields.ensureNothingLeft(kind: kindName)
        return Event(seq: seq, recordedAt: at, actor: actor, body: body, ref: ref, note: note, idempotencyKey: id)
    }

    private static func body(_ kind: EventKind, _ f: inout RecordFields) throws(RecordProblem) -> EventBody {
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
            let to = try f.identifier("to")
            try f.ensureWarehouseIsDestination(to)
            return .transferArrived(transfer: try f.identifier("xfer"), sku: try f.identifier("sku"),
                                    from: try f.identifier("from"), to: to, quantity: try f.quantity("qty"),
                                    lost: try f.optionalQuantity("lost", minimum: 0) ?? 0)
        case .transferLost:
            let to = try f.identifier("to")
            try f.ensureWarehouseIsDestination(to)
            return .transferLost(transfer: try f.identifier("xfer"), sku: try f.identifier("sku"),
                                 from: try f.identifier("from"), to: to, lost: try f.quantity("lost"))
        case .adjusted:
            let delta = try f.signed("delta", magnitudeMax: Limits.quantityMax)
            guard delta != 0 else { throw RecordProblem("delta: must not be 0") }
            return .adjusted(sku: try f.identifier("sku"), wh: try f.identifier("wh"), delta: delta,
                             reason: try f.freeText("reason"))
        case .counted:
            return .counted(sku: try f.identifier("sku"), wh: try f.identifier("wh"),
                            quantity: try f.quantity("qty", minimum: 0),
                            delta: try f.signed("delta", magnitudeMax: Limits.bucketQuantityMax),
                            reason: try f.optionalFreeText("reason"))
        case .returned:
            return .returned(sku: try f.identifier("sku"), wh: try f.identifier("wh"), quantity: try f.quantity("qty"))
        case .expected:
            return .expected(purchaseOrder: try f.identifier("po"), sku: try f.identifier("sku"), wh: try f.identifier("wh"),
                             quantity: try f.quantity("qty"), eta: try f.time("eta"))
        case .cancelled:
            // A cancel closes what is still open, which may be nothing (an order received in full
            // closes by itself, so in practice it is at least 1, but 0 is not wrong).
            return .cancelled(purchaseOrder: try f.identifier("po"), sku: try f.identifier("sku"),
                              wh: try f.identifier("wh"), quantity: try f.quantity("qty", minimum: 0))
        case .policySet:
            let body = EventBody.policySet(
                sku: try f.identifier("sku"), wh: try f.identifier("wh"),
                safety: try f.optionalQuantity("safety", minimum: 0), reorder: try f.optionalQuantity("reorder", minimum: 0),
                max: try f.optionalQuantity("max", minimum: 0))
            if case .policySet(_, _, nil, nil, nil) = body {
                throw RecordProblem("safety, reorder or max: a policy_set event sets at least one")
            }
            return body
        }
    }
}

/// Events as JSON objects: numbers as JSON numbers, everything else as strings.
enum JSONLine {
    static let numericKeys: Set<String> = ["seq", "actor", "qty", "delta", "lost", "safety", "reorder", "max"]

    static func event(_ event: Event) -> String { object(EventRecord.fields(event)) }

    static func object(_ pairs: [(String, String)]) -> String {
        "{" + pairs.map { key, value in
            "\"\(key)\":" + (numericKeys.contains(key) ? value : quote(value))
        }.joined(separator: ",") + "}"
    }

    static func quote(_ text: String) -> String { JSONReply.quote(text) }
}

/// The named fields of one record, taken one by one; what is left at the end does not belong to
/// the event's kind.
struct RecordFields {
    var values: [String: String]

    mutating func required(_ key: String) throws(RecordProblem) -> String {
        guard let value = values.removeValue(forKey: key) else { throw RecordProblem("\(key): missing") }
        return value
    }

    mutating func optionalIdentifier(_ key: String) throws(RecordProblem) -> String? {
        guard let value = values.removeValue(forKey: key) else { return nil }
        if let problem = FieldRules.identifierProblem(value) { throw RecordProblem("\(key): \(problem)") }
        return value
    }

    mutating func identifier(_ key: String) throws(RecordProblem) -> String {
        guard let value = try optionalIdentifier(key) else { throw RecordProblem("\(key): missing") }
        return value
    }

    mutating func optionalFreeText(_ key: String) throws(RecordProblem) -> String? {
        guard let value = values.removeValue(forKey: key) else { return nil }
        if let problem = FieldRules.freeTextProblem(value) { throw RecordProblem("\(key): \(problem)") }
        return value
    }

    mutating func freeText(_ key: String) throws(RecordProblem) -> String {
        guard let value = try optionalFreeText(key) else { throw RecordProblem("\(key): missing") }
        return value
    }

    /// A whole number written as an optional `-` and digits only (no `+`, spaces, fractions or exponents).
    private static func wholeNumber(_ text: String) -> Int64? {
        let digits = text.hasPrefix("-") ? text.utf8.dropFirst() : text.utf8[...]
        guard !digits.isEmpty, digits.count <= 19, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int64(text)
    }

    mutating func optionalQuantity(_ key: String, minimum: Int64 = 1) throws(RecordProblem) -> Int64? {
        guard let text = values.removeValue(forKey: key) else { return nil }
        guard let number = RecordFields.wholeNumber(text), number >= minimum, number <= Limits.quantityMax else {
            throw RecordProblem("\(key): expected a whole number from \(minimum) to \(Limits.quantityMax), found \(text)")
        }
        return number
    }

    mutating func quantity(_ key: String, minimum: Int64 = 1) throws(RecordProblem) -> Int64 {
        guard let value = try optionalQuantity(key, minimum: minimum) else { throw RecordProblem("\(key): missing") }
        return value
    }

    mutating func signed(_ key: String, magnitudeMax: Int64) throws(RecordProblem) -> Int64 {
        let text = try required(key)
        guard let number = RecordFields.wholeNumber(text), number >= -magnitudeMax, number <= magnitudeMax else {
            throw RecordProblem("\(key): expected a whole number from -\(magnitudeMax) to \(magnitudeMax), found \(text)")
        }
        return number
    }

    mutating func sequenceNumber(_ key: String) throws(RecordProblem) -> UInt64 {
        let text = try required(key)
        guard let number = RecordFields.wholeNumber(text), number >= 1 else {
            throw RecordProblem("\(key): expected a whole number from 1, found \(text)")
        }
        return UInt64(number)
    }

    mutating func actor(_ key: String) throws(RecordProblem) -> UInt32 {
        let text = try required(key)
        guard let number = RecordFields.wholeNumber(text), let actor = UInt32(exactly: number) else {
            throw RecordProblem("\(key): expected a Unix uid (0 to \(UInt32.max)), found \(text)")
        }
        return actor
    }

    mutating func optionalTime(_ key: String) throws(RecordProblem) -> Timestamp? {
        guard let text = values.removeValue(forKey: key) else { return nil }
        guard let time = Timestamp(rfc3339: Substring(text)) else {
            throw RecordProblem("\(key): expected an RFC 3339 time such as 2026-11-22T08:00:00Z, found \(text)")
        }
        return time
    }

    mutating func time(_ key: String) throws(RecordProblem) -> Timestamp {
        guard let value = try optionalTime(key) else { throw RecordProblem("\(key): missing") }
        return value
    }

    /// Arrivals and losses name the destination as `wh` too (as `event` rows do); it must agree.
    mutating func ensureWarehouseIsDestination(_ to: String) throws(RecordProblem) {
        guard let wh = values.removeValue(forKey: "wh") else { return }
        guard wh == to else { throw RecordProblem("wh: \(wh) differs from to=\(to) (an arrival's wh is its destination)") }
    }

    func ensureNothingLeft(kind: String) throws(RecordProblem) {
        guard values.isEmpty else {
            throw RecordProblem("\(values.keys.sorted().joined(separator: ", ")): not a field of a \(kind) event")
        }
    }
}

/// Parses one JSON line of an export: a flat object whose values are strings or whole numbers
/// (`null` counts as absent). Nested values, booleans and duplicate keys are refused.
struct JSONRecordParser {
    private let bytes: [UInt8]
    private var index = 0

    static func parse(_ bytes: [UInt8]) throws(RecordProblem) -> [String: String] {
        var parser = JSONRecordParser(bytes: bytes)
        return try parser.object()
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipSpace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A { index += 1 }
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(RecordProblem) {
        skipSpace()
        guard current == byte else { throw problem("expected \(what)") }
        index += 1
    }

    private func problem(_ text: String) -> RecordProblem {
        RecordProblem("not a JSON object: \(text) at byte \(index + 1)")
    }

    private mutating func object() throws(RecordProblem) -> [String: String] {
        var fields: [String: String] = [:]
        var keys: Set<String> = []
        try expect(UInt8(ascii: "{"), "{")
        skipSpace()
        if current == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipSpace()
                guard current == UInt8(ascii: "\"") else { throw problem("expected a key in quotes") }
                let key = try string()
                try expect(UInt8(ascii: ":"), ":")
                skipSpace()
                let value = try value(key)
                guard keys.insert(key).inserted else { throw RecordProblem("\(key): given twice") }
                if let value { fields[key] = value }
                skipSpace()
                if current == UInt8(ascii: ",") { index += 1; continue }
                try expect(UInt8(ascii: "}"), ", or }")
                break
            }
        }
        skipSpace()
        guard current == nil else { throw problem("text after the object") }
        return fields
    }

    /// A string, the text of a number, or nil for null.
    private mutating func value(_ key: String) throws(RecordProblem) -> String? {
        guard let first = current else { throw problem("expected a value") }
        switch first {
        case UInt8(ascii: "\""):
            return try string()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = index
            if current == UInt8(ascii: "-") { index += 1 }
            while let byte = current, (0x30...0x39).contains(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e")
                || byte == UInt8(ascii: "E") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") { index += 1 }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        case UInt8(ascii: "n"):
            guard bytes[index...].starts(with: Array("null".utf8)) else { throw problem("expected a value") }
            index += 4
            return nil
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            throw RecordProblem("\(key): expected a string or a number, found a boolean")
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            throw RecordProblem("\(key): expected a string or a number, found a nested value")
        default:
            throw problem("expected a value")
        }
    }

    private mutating func string() throws(RecordProblem) -> String {
        index += 1
        var out: [UInt8] = []
        while true {
            guard let byte = current else { throw problem("unclosed string") }
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: out, as: UTF8.self) else { throw problem("a string that is not UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                guard let escaped = current else { throw problem("unclosed string") }
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escaped)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hexUnit()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u")
                        else { throw problem("a lone surrogate") }
                        index += 2
                        let low = try hexUnit()
                        guard (0xDC00...0xDFFF).contains(low) else { throw problem("a lone surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw problem("a lone surrogate") }
                    out += Array(String(Character(unicode)).utf8)
                default:
                    throw problem("an unknown escape")
                }
            case 0x00..<0x20:
                throw problem("a control character inside a string")
            default:
                out.append(byte)
            }
        }
    }

    private mutating func hexUnit() throws(RecordProblem) -> UInt32 {
        guard index + 4 <= bytes.count,
              let value = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16)
        else { throw problem("a bad \\u escape") }
        index += 4
        return value
    }
}

/// Where an import reads its lines from: a file (`LineInput`), or memory in the fuzz harness.
protocol LineSource {
    /// The next line without its line break, or nil at the end.
    func next() throws -> [UInt8]?
    /// The number of the line `next` returned last, from 1.
    var lineNumber: Int { get }
}

/// Reads RFC 4180 CSV records from a file: comma-separated fields, quoted fields with doubled
/// quotes, and quoted line breaks (a record may span lines). A quoted empty field is an empty text;
/// an unquoted empty field is absent.
struct CSVRecordReader<Input: LineSource> {
    let input: Input

    /// The next non-blank record and the line it starts on, or nil at the end of the file.
    func next() throws -> (line: Int, fields: [String?])? {
        var line: [UInt8]
        repeat {
            guard let next = try input.next() else { return nil }
            line = next
        } while line.isEmpty
        let startLine = input.lineNumber
        var fields: [String?] = []
        var field: [UInt8] = []
        var quoted = false
        var index = 0
        func text(_ bytes: [UInt8]) throws(RecordProblem) -> String {
            guard let text = String(validating: bytes, as: UTF8.self) else { throw RecordProblem("a field that is not UTF-8") }
            return text
        }
        while true {
            if index == line.count {
                fields.append(quoted || !field.isEmpty ? try text(field) : nil)
                return (startLine, fields)
            }
            let byte = line[index]
            if byte == UInt8(ascii: ",") {
                fields.append(quoted || !field.isEmpty ? try text(field) : nil)
                field = []
                quoted = false
                index += 1
            } else if byte == UInt8(ascii: "\"") {
                guard field.isEmpty && !quoted else {
                    throw RecordProblem("a quote inside a field that does not start with one (RFC 4180 doubles quotes inside quoted fields)")
                }
                quoted = true
                index += 1
                // Inside quotes until a lone quote; a line end inside quotes is part of the field.
                while true {
                    if index == line.count {
                        guard let more = try input.next() else {
                            throw RecordProblem("a quoted field opened on line \(startLine) is never closed")
                        }
                        field.append(0x0A)
                        line = more
                        index = 0
                        continue
                    }
                    let inner = line[index]
                    index += 1
                    if inner == UInt8(ascii: "\"") {
                        if index < line.count && line[index] == UInt8(ascii: "\"") {
                            field.append(inner)
                            index += 1
                        } else {
                            break
                        }
                    } else {
                        field.append(inner)
                    }
                }
                guard index == line.count || line[index] == UInt8(ascii: ",") else {
                    throw RecordProblem("text after a closing quote (a quote inside a quoted field is written \"\")")
                }
            } else {
                guard !quoted else { throw RecordProblem("text after a closing quote") }
                field.append(byte)
                index += 1
            }
        }
    }
}
