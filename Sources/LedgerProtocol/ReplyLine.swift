import LedgerCore

/// Builds one reply line: a word, then `key=value` pairs. Values follow the request token rules, so a
/// value with a space, a quote or a backslash (or an empty one) is quoted and escaped.
///
/// It builds bytes, not a String: replies are the hottest path of every read, and appending to a
/// byte array (with integers formatted in place) costs a fraction of String concatenation.
public struct ReplyLine: Sendable {
    public private(set) var bytes: [UInt8]

    public init(_ word: String) {
        bytes = []
        bytes.reserveCapacity(160)
        bytes.append(contentsOf: word.utf8)
    }

    /// The line as a String (one copy).
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    @inline(__always)
    private mutating func key(_ key: StaticString) {
        bytes.append(0x20)
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(0x3d)
    }

    @inline(__always)
    private mutating func key(_ key: String) {
        bytes.append(0x20)
        bytes.append(contentsOf: key.utf8)
        bytes.append(0x3d)
    }

    public mutating func add(_ key: StaticString, _ value: String) {
        self.key(key)
        ReplyLine.appendValue(value, to: &bytes)
    }

    public mutating func add(_ key: String, _ value: String) {
        self.key(key)
        ReplyLine.appendValue(value, to: &bytes)
    }

    public mutating func add(_ key: StaticString, _ value: Int64) {
        self.key(key)
        ReplyLine.appendInteger(value, to: &bytes)
    }

    public mutating func add(_ key: StaticString, _ value: Int) { add(key, Int64(value)) }
    public mutating func add(_ key: StaticString, _ value: UInt64) { add(key, Int64(value)) }
    public mutating func add(_ key: StaticString, _ value: Bool) {
        self.key(key)
        if value { bytes.append(contentsOf: [0x79, 0x65, 0x73]) } else { bytes.append(contentsOf: [0x6e, 0x6f]) }
    }
    public mutating func add(_ key: StaticString, _ value: Timestamp) { add(key, value.rfc3339) }

    public mutating func addIfPresent(_ key: StaticString, _ value: String?) { if let value { add(key, value) } }
    public mutating func addIfPresent(_ key: StaticString, _ value: Timestamp?) { if let value { add(key, value.rfc3339) } }

    /// Free words for people, after the pairs.
    public mutating func text(_ words: String) {
        bytes.append(0x20)
        bytes.append(contentsOf: words.utf8)
    }

    static func appendInteger(_ value: Int64, to bytes: inout [UInt8]) {
        let magnitude = value.magnitude
        if value < 0 { bytes.append(0x2d) }
        // Most significant digit first, one append each: no scratch buffer, no generic slice copy.
        var divisor: UInt64 = 1
        while divisor <= magnitude / 10 { divisor *= 10 }
        while divisor > 0 {
            bytes.append(0x30 + UInt8(truncatingIfNeeded: (magnitude / divisor) % 10))
            divisor /= 10
        }
    }

    static func needsQuotes(_ value: String) -> Bool {
        if value.isEmpty { return true }
        for byte in value.utf8 where byte <= 0x20 || byte == 0x22 || byte == 0x5c || byte == 0x7f { return true }
        return false
    }

    static func appendValue(_ value: String, to bytes: inout [UInt8]) {
        guard needsQuotes(value) else { bytes.append(contentsOf: value.utf8); return }
        bytes.append(0x22)
        for byte in value.utf8 {
            switch byte {
            case 0x22: bytes.append(contentsOf: [0x5c, 0x22])
            case 0x5c: bytes.append(contentsOf: [0x5c, 0x5c])
            case 0x0a, 0x0d, 0x09: bytes.append(0x20)
            default: bytes.append(byte)
            }
        }
        bytes.append(0x22)
    }
}
