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
        "fence", "fenced", "free", "share", "buffer", "low", "fence_back", "lines",
    ]
    static let booleanKeys: Set<String> = ["breach", "dup", "open", "late", "cap", "below_safety", "inherit"]

    /// A JSON number as the line form writes numbers: an optional `-`, digits, an optional fraction
    /// (a `+30` of an ATP row stays a string).
    static func isNumber(_ text: String) -> Bool {
        let unsigned = text.hasPrefix("-") ? text.dropFirst() : text[...]
        let parts = unsigned.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        return parts.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
    }

    /// One line as JSON; `pushed` marks lines a WATCH stream sends.
    public static func object(for line: String, pushed: Bool = false) -> String {
        var tokens = tokens(of: line)
        guard !tokens.isEmpty else { return "{}" }
        let word = tokens.removeFirst().text
        var members: [String] = []
        var message: [String] = []
        switch word {
        case "OK":
            members.append("\"ok\":true")
        case "ERR":
            let code = tokens.isEmpty ? "" : tokens.removeFirst().text
            members.append("\"err\":" + quote(code))
        default:
            members.append((pushed ? "\"push\":" : "\"row\":") + quote(word))
        }
        for token in tokens {
            // An error's pairs come before its text; a `key=value` inside the text is text.
            if word == "ERR", !message.isEmpty, let key = token.key {
                message.append(key + "=" + token.text)
                continue
            }
            guard let key = token.key else { message.append(token.text); continue }
            if numericKeys.contains(key), !token.quoted, isNumber(token.text) {
                members.append(quote(key) + ":" + token.text)
            } else if booleanKeys.contains(key), token.text == "yes" || token.text == "no" {
                members.append(quote(key) + ":" + (token.text == "yes" ? "true" : "false"))
            } else {
                members.append(quote(key) + ":" + quote(token.text))
            }
        }
        if word == "ERR" { members.insert("\"msg\":" + quote(message.joined(separator: " ")), at: 1) }
        else if !message.isEmpty { members.append("\"text\":" + quote(message.joined(separator: " "))) }
        return "{" + members.joined(separator: ",") + "}"
    }

    struct Token {
        var key: String?
        var text: String
        var quoted: Bool
    }

    /// Splits a reply line into words and `key=value` pairs (values may be quoted with `\"`, `\\`).
    static func tokens(of line: String) -> [Token] {
        var tokens: [Token] = []
        let characters = Array(line.unicodeScalars)
        var index = 0
        while index < characters.count {
            while index < characters.count, characters[index] == " " { index += 1 }
            guard index < characters.count else { break }
            var word = ""
            var key: String?
            var quoted = false
            while index < characters.count, characters[index] != " " {
                let character = characters[index]
                if character == "=", key == nil {
                    key = word
                    word = ""
                    index += 1
                    if index < characters.count, characters[index] == "\"" {
                        quoted = true
                        index += 1
                        while index < characters.count, characters[index] != "\"" {
                            if characters[index] == "\\", index + 1 < characters.count { index += 1 }
                            word.unicodeScalars.append(characters[index])
                            index += 1
                        }
                        index += 1
                        break
                    }
                    continue
                }
                word.unicodeScalars.append(character)
                index += 1
            }
            tokens.append(Token(key: key, text: word, quoted: quoted))
        }
        return tokens
    }

    /// A JSON string literal for `text`.
    public static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
