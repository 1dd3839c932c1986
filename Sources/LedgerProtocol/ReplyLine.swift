import LedgerCore

/// Builds one reply line: a word, then `key=value` pairs. Values follow the request token rules, so a
/// value with a space, a quote or a backslash (or an empty one) is quoted and escaped.
public struct ReplyLine: Sendable {
    public private(set) var text: String

    public init(_ word: String) {
        text = word
        text.reserveCapacity(128)
    }

    public mutating func add(_ key: String, _ value: String) {
        text.append(" ")
        text.append(key)
        text.append("=")
        ReplyLine.appendValue(value, to: &text)
    }

    public mutating func add(_ key: String, _ value: Int64) {
        text.append(" ")
        text.append(key)
        text.append("=")
        text.append(String(value))
    }

    public mutating func add(_ key: String, _ value: Int) { add(key, Int64(value)) }
    public mutating func add(_ key: String, _ value: UInt64) { add(key, Int64(value)) }
    public mutating func add(_ key: String, _ value: Bool) { add(key, value ? "yes" : "no") }
    public mutating func add(_ key: String, _ value: Timestamp) { add(key, value.rfc3339) }

    public mutating func addIfPresent(_ key: String, _ value: String?) { if let value { add(key, value) } }
    public mutating func addIfPresent(_ key: String, _ value: Timestamp?) { if let value { add(key, value.rfc3339) } }

    /// Free words for people, after the pairs.
    public mutating func text(_ words: String) {
        text.append(" ")
        text.append(words)
    }

    static func needsQuotes(_ value: String) -> Bool {
        if value.isEmpty { return true }
        for byte in value.utf8 where byte <= 0x20 || byte == 0x22 || byte == 0x5c || byte == 0x7f { return true }
        return false
    }

    static func appendValue(_ value: String, to text: inout String) {
        guard needsQuotes(value) else { text.append(value); return }
        text.append("\"")
        for character in value.unicodeScalars {
            switch character {
            case "\"": text.append("\\\"")
            case "\\": text.append("\\\\")
            case "\n", "\r", "\t": text.append(" ")
            default: text.unicodeScalars.append(character)
            }
        }
        text.append("\"")
    }
}
