/// Turns reply lines into the JSON form of `HELLO format=json`: one object per line,
/// `{"ok":true,...}`, `{"err":"CODE","msg":"...",...}`, `{"row":"stock",...}` and, for lines the
/// server pushes to a watcher, `{"push":"breach",...}`. Counts are JSON numbers, yes/no flags are
/// JSON booleans, everything else is a string. The line form stays the one source of truth: JSON
/// is made from it, so the two cannot disagree.
public enum JSONReply {
    static let numericKeys: Set<String> = [
        "seq", "on_hand", "reserved", "available", "inbound", "incoming", "safety", "reorder", "max", "projected",
        "warehouses", "breaches", "qty", "delta", "lost", "actor", "rows", "count", "queued", "index", "requested",
        "short", "lowest", "suggest", "seconds", "shipped", "arrived", "uptime", "events", "data_bytes", "map_bytes",
        "connections", "commits", "writes_committed", "writes_per_commit", "failed_commits", "commit_us_mean", "proto",
        "pages_per_commit", "syncs_per_commit", "checkpoint_seq", "checkpoints", "checkpoint_us_mean", "pages_per_checkpoint",
        // Promises and waitlists.
        "promised", "preordered", "unbacked", "atp", "preorder_left", "held", "awaiting", "filled", "promisable",
        "bound", "rebound", "released", "moved", "more", "priority", "now", "position", "waiting", "waiting_qty", "view",
        "remaining", "preorder", "pad",
        // Planning (FEATURES.md §1e); `ratio=-` (no baseline) stays a string.
        "days", "counted", "stockout_days", "mean", "sd", "lead", "lead_sd", "lead_n", "late_p80", "service", "z",
        "safety_basic", "cards", "current_safety", "current_reorder", "current_max", "bin", "on_hand_bins", "replenishing",
        "signal", "emptied", "rate_1h", "baseline_1h", "ratio",
        // Channels and allocation (`lines=ORD-9.1@LIL:5` of a done row is not a number, and stays a string).
        "fence", "fenced", "free", "share", "buffer", "low", "fence_back", "lines", "sold_7d",
    ]
    static let booleanKeys: Set<String> = ["breach", "dup", "open", "late", "cap", "below_safety", "inherit"]

    /// A JSON number as the line form writes numbers: an optional `-`, digits, an optional fraction
    /// (a `+30` of an ATP row stays a string).
    static func isNumber(_ text: some Collection<UInt8>) -> Bool {
        var digits = 0, dots = 0, index = 0, lastWasDigit = false
        for byte in text {
            defer { index += 1 }
            if byte == UInt8(ascii: "-") && index == 0 { continue }
            if byte == UInt8(ascii: ".") {
                // One dot, with digits on both sides.
                guard lastWasDigit, dots == 0 else { return false }
                dots += 1
                lastWasDigit = false
                continue
            }
            guard byte >= 0x30 && byte <= 0x39 else { return false }
            digits += 1
            lastWasDigit = true
        }
        return digits > 0 && lastWasDigit
    }

    /// One line as JSON; `pushed` marks lines a WATCH stream sends.
    public static func object(for line: String, pushed: Bool = false) -> String {
        String(decoding: bytes(for: line, pushed: pushed), as: UTF8.self)
    }

    /// One line as the bytes of its JSON object (no newline). Works on the line's UTF-8 bytes in
    /// place: a relay catching up reads a million of these a second (`WATCH events stock=yes`).
    public static func bytes(for line: String, pushed: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(line.utf8.count * 3 / 2 + 16)
        append(line, pushed: pushed, to: &out)
        return out
    }

    /// Appends one line's JSON object (and a newline) to `out`: a reply's lines share one array.
    public static func append(_ line: String, pushed: Bool = false, newline: Bool = false, to out: inout [UInt8]) {
        var line = line
        line.withUTF8 { write($0, pushed: pushed, to: &out) }
        if newline { out.append(UInt8(ascii: "\n")) }
    }

    private static func write(_ line: UnsafeBufferPointer<UInt8>, pushed: Bool, to out: inout [UInt8]) {
        let tokens = tokens(of: line)
        guard let first = tokens.first else { return out.append(contentsOf: "{}".utf8) }
        let word = first.text(in: line)
        var rest = tokens[1...]
        out.append(UInt8(ascii: "{"))
        if word.elementsEqual("OK".utf8) {
            out.append(contentsOf: "\"ok\":true".utf8)
        } else if word.elementsEqual("ERR".utf8) {
            out.append(contentsOf: "\"err\":".utf8)
            if let code = rest.first { quote(code.text(in: line), to: &out) } else { quote([], to: &out) }
            rest = rest.dropFirst()
            // An error's pairs come before its text; a `key=value` inside the text is text.
            let textStart = rest.firstIndex { $0.key == nil } ?? rest.endIndex
            var message: [UInt8] = []
            for token in rest[textStart...] {
                if !message.isEmpty { message.append(UInt8(ascii: " ")) }
                if let key = token.key { message += line[key] + [UInt8(ascii: "=")] }
                message += token.text(in: line)
            }
            out.append(contentsOf: ",\"msg\":".utf8)
            quote(message, to: &out)
            rest = rest[..<textStart]
        } else {
            out.append(contentsOf: (pushed ? "\"push\":" : "\"row\":").utf8)
            quote(word, to: &out)
        }
        var text: [UInt8] = []
        for token in rest {
            guard let keyRange = token.key else {
                if !text.isEmpty { text.append(UInt8(ascii: " ")) }
                text += token.text(in: line)
                continue
            }
            let key = line[keyRange], value = line[token.value]
            out.append(UInt8(ascii: ","))
            quote(key, to: &out)
            out.append(UInt8(ascii: ":"))
            // The key's name is made (and hashed) only for a value that may be a number or a flag.
            func named(_ keys: Set<String>) -> Bool { keys.contains(String(decoding: key, as: UTF8.self)) }
            if !token.quoted, isNumber(value), named(numericKeys) {
                out += value
            } else if value.elementsEqual("yes".utf8) || value.elementsEqual("no".utf8), named(booleanKeys) {
                out.append(contentsOf: (value.count == 3 ? "true" : "false").utf8)
            } else {
                if token.quoted { quote(token.text(in: line), to: &out) } else { quote(value, to: &out) }
            }
        }
        if !text.isEmpty {
            out.append(contentsOf: ",\"text\":".utf8)
            quote(text, to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// A word or `key=value` of a reply line, as positions in the line: nothing is copied until the
    /// JSON is written.
    struct Token {
        var key: Range<Int>?
        /// The value's bytes: inside the quotes, escapes still in, when `quoted`.
        var value: Range<Int>
        var quoted: Bool

        /// The value with a quoted one's escapes (`\"`, `\\`) taken out.
        func text(in line: UnsafeBufferPointer<UInt8>) -> [UInt8] {
            guard quoted else { return Array(line[value]) }
            var text: [UInt8] = []
            var index = value.lowerBound
            while index < value.upperBound {
                if line[index] == UInt8(ascii: "\\"), index + 1 < value.upperBound { index += 1 }
                text.append(line[index])
                index += 1
            }
            return text
        }
    }

    /// Splits a reply line into words and `key=value` pairs (values may be quoted with `\"`, `\\`).
    static func tokens(of line: UnsafeBufferPointer<UInt8>) -> [Token] {
        var tokens: [Token] = []
        let space = UInt8(ascii: " "), equals = UInt8(ascii: "="), quoteMark = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        var index = 0
        while index < line.count {
            while index < line.count, line[index] == space { index += 1 }
            guard index < line.count else { break }
            var start = index
            var key: Range<Int>?
            var quoted = false
            while index < line.count, line[index] != space {
                if line[index] == equals, key == nil {
                    key = start..<index
                    index += 1
                    start = index
                    if index < line.count, line[index] == quoteMark {
                        quoted = true
                        index += 1
                        start = index
                        while index < line.count, line[index] != quoteMark {
                            if line[index] == backslash, index + 1 < line.count { index += 1 }
                            index += 1
                        }
                        tokens.append(Token(key: key, value: start..<min(index, line.count), quoted: true))
                        index += 1
                        break
                    }
                    continue
                }
                index += 1
            }
            if !quoted { tokens.append(Token(key: key, value: start..<index, quoted: false)) }
        }
        return tokens
    }

    /// `text` as a JSON string literal, appended to `out`. Bytes of multi-byte UTF-8 characters are
    /// copied as they are (JSON text is UTF-8); control characters are escaped.
    static func quote(_ text: some Collection<UInt8>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(byte)
            case UInt8(ascii: "\n"): out.append(contentsOf: "\\n".utf8)
            case UInt8(ascii: "\r"): out.append(contentsOf: "\\r".utf8)
            case UInt8(ascii: "\t"): out.append(contentsOf: "\\t".utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xf)])
            default:
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// A JSON string literal for `text`.
    public static func quote(_ text: String) -> String {
        var out: [UInt8] = []
        quote(Array(text.utf8), to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
