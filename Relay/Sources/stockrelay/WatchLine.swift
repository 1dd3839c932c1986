#if canImport(Glibc)
import Glibc
#endif

/// One line of stockd's JSON stream, read for what the relay needs.
///
/// `{"push":"stock",...}` and `{"push":"event",...}` are the two pushed rows of `WATCH events
/// stock=yes`; every other line (`{"ok":true,...}`, `{"err":...}`, `{"row":...}`, another push) is a
/// `reply`, kept as its text plus its string-or-number fields so the caller can read `seq`, `err` or
/// `msg`.
enum WatchLine: Equatable, Sendable {
    case stock(StockRow)
    case event(EventRow)
    case reply(Reply)

    /// The buckets stockd computed for one (sku, wh) right after event `seq`.
    struct StockRow: Equatable, Sendable {
        var seq: Int64
        var sku: String
        var wh: String
        var onHand: Int64
        var reserved: Int64
        var available: Int64
        var inbound: Int64
        var incoming: Int64
    }

    /// One event of the log.
    struct EventRow: Equatable, Sendable {
        var seq: Int64
        /// RFC 3339 as stockd wrote it; PostgreSQL parses it into the `timestamptz`.
        var at: String
        var kind: String
        /// Absent on events that name no sku (kept as nil, stored as SQL null).
        var sku: String?
        var wh: String?
        /// The event's JSON object without its `"push":"event"` member: the `fields` jsonb column.
        var fieldsJSON: String
    }

    /// Any other line: an `OK`, an `ERR`, a row of a read.
    struct Reply: Equatable, Sendable {
        var text: String
        var fields: [String: String]

        var isOK: Bool { fields["ok"] == "true" }
        var errorCode: String? { fields["err"] }
        /// `ERR CODE msg` in the line protocol's words, for logs.
        var summary: String {
            if let code = errorCode { return "ERR \(code) \(fields["msg"] ?? "")" }
            return text
        }
    }

    struct ParseError: Error, Equatable, CustomStringConvertible {
        var description: String
    }

    /// Reads one line (without its newline).
    static func parse(_ line: UnsafeRawBufferPointer) throws -> WatchLine {
        // The push word comes first in every stockd line (it is made from the line form, whose first
        // word is the row word), so a prefix test sorts the two hot kinds without a second scan.
        if line.starts(with: #"{"push":"event","#) {
            return .event(try parseEvent(line))
        }
        if line.starts(with: #"{"push":"stock","#) {
            return .stock(try parseStock(line))
        }
        var fields: [String: String] = [:]
        try FlatJSON.scan(line) { key, value in
            let name = String(decoding: key, as: UTF8.self)
            switch value {
            case .string: fields[name] = value.string
            case .number(let bytes): fields[name] = String(decoding: bytes, as: UTF8.self)
            case .bool(let flag): fields[name] = flag ? "true" : "false"
            case .null, .nested: break
            }
        }
        // A push of another kind with the same first word in another order would land here; the
        // caller treats any push it does not expect as an error, so nothing is lost silently.
        if fields["push"] == "event" || fields["push"] == "stock" {
            throw ParseError(description: "push row not in stockd's key order: \(String(decoding: line, as: UTF8.self))")
        }
        return .reply(Reply(text: String(decoding: line, as: UTF8.self), fields: fields))
    }

    private static func parseEvent(_ line: UnsafeRawBufferPointer) throws -> EventRow {
        var seq: Int64? = nil
        var at: String? = nil
        var kind: String? = nil
        var sku: String? = nil
        var wh: String? = nil
        try FlatJSON.scan(line) { key, value in
            switch key.count {
            case 2:
                if key.equals("at") { at = value.string } else if key.equals("wh") { wh = value.string }
            case 3:
                if key.equals("seq") { seq = value.int64 } else if key.equals("sku") { sku = value.string }
            case 4:
                if key.equals("kind") { kind = value.string }
            default: break
            }
        }
        guard let seq, let at, let kind else {
            throw ParseError(description: "event row without seq, at or kind: \(String(decoding: line, as: UTF8.self))")
        }
        // `{"push":"event",` becomes `{`: the rest of the object, exactly as stockd wrote it.
        let prefixLength = #"{"push":"event","#.utf8.count
        var fields = "{"
        fields += String(decoding: UnsafeRawBufferPointer(rebasing: line[prefixLength...]), as: UTF8.self)
        return EventRow(seq: seq, at: at, kind: kind, sku: sku, wh: wh, fieldsJSON: fields)
    }

    private static func parseStock(_ line: UnsafeRawBufferPointer) throws -> StockRow {
        var seq: Int64? = nil
        var sku: String? = nil
        var wh: String? = nil
        var onHand: Int64? = nil
        var reserved: Int64? = nil
        var available: Int64? = nil
        var inbound: Int64? = nil
        var incoming: Int64? = nil
        try FlatJSON.scan(line) { key, value in
            if key.equals("seq") { seq = value.int64 }
            else if key.equals("sku") { sku = value.string }
            else if key.equals("wh") { wh = value.string }
            else if key.equals("on_hand") { onHand = value.int64 }
            else if key.equals("reserved") { reserved = value.int64 }
            else if key.equals("available") { available = value.int64 }
            else if key.equals("inbound") { inbound = value.int64 }
            else if key.equals("incoming") { incoming = value.int64 }
        }
        guard let seq, let sku, let wh, let onHand, let reserved, let available, let inbound, let incoming else {
            throw ParseError(description: "stock row without seq, sku, wh or a bucket: \(String(decoding: line, as: UTF8.self))")
        }
        return StockRow(seq: seq, sku: sku, wh: wh, onHand: onHand, reserved: reserved, available: available,
                        inbound: inbound, incoming: incoming)
    }
}

extension UnsafeRawBufferPointer {
    func starts(with prefix: StaticString) -> Bool {
        count >= prefix.utf8CodeUnitCount && memcmp(baseAddress!, prefix.utf8Start, prefix.utf8CodeUnitCount) == 0
    }
}
