#if canImport(Glibc)
import Glibc
#endif

/// A scanner for the one-object-per-line JSON that stockd writes after `HELLO format=json`.
///
/// stockd's JSON lines are flat objects whose values are strings, numbers or booleans
/// (docs/protocol.md, "JSON"), and the relay reads tens of thousands of them a second on a backlog.
/// So instead of building a dictionary of `Any` per line (Foundation's `JSONSerialization`), this walks
/// the bytes once and hands each key and value to a visitor as slices of the line; a value is turned
/// into a `String` only when the visitor asks for it. Nested objects and arrays are skipped whole, so a
/// future stockd that adds one does not break the relay. Anything that is not a well-formed JSON object
/// is an error: the relay must never guess at what stockd meant.
enum FlatJSON {
    struct ParseError: Error, Equatable, CustomStringConvertible {
        var description: String
    }

    /// One value, as a view into the line that is only valid inside the visitor.
    enum Value {
        /// The bytes between the quotes, escapes not yet decoded.
        case string(UnsafeRawBufferPointer, hasEscapes: Bool)
        /// The bytes of the number as written.
        case number(UnsafeRawBufferPointer)
        case bool(Bool)
        case null
        /// An object or array, skipped.
        case nested

        var string: String? {
            guard case .string(let bytes, let hasEscapes) = self else { return nil }
            return hasEscapes ? FlatJSON.unescape(bytes) : String(decoding: bytes, as: UTF8.self)
        }

        /// A whole number that fits an `Int64` (stockd's counts and seqs); nil otherwise.
        var int64: Int64? {
            guard case .number(let bytes) = self, !bytes.isEmpty else { return nil }
            var index = 0
            let negative = bytes[0] == UInt8(ascii: "-")
            if negative { index = 1 }
            guard index < bytes.count else { return nil }
            var result: Int64 = 0
            while index < bytes.count {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }  // a fraction or an exponent: not a count
                let (times, overflow1) = result.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = negative ? times.subtractingReportingOverflow(Int64(digit)) : times.addingReportingOverflow(Int64(digit))
                guard !overflow1, !overflow2 else { return nil }
                result = sum
                index += 1
            }
            return result
        }

        var bool: Bool? {
            if case .bool(let value) = self { return value }
            return nil
        }
    }

    /// Walks the object in `bytes`, calling `visit` for each key (the raw bytes between its quotes; keys
    /// with escapes are decoded first) and value, in the order written.
    static func scan(_ bytes: UnsafeRawBufferPointer, visit: (UnsafeRawBufferPointer, Value) throws -> Void) throws {
        var index = 0
        let count = bytes.count

        func skipSpace() {
            while index < count, bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x0A || bytes[index] == 0x0D { index += 1 }
        }
        func fail(_ what: String) -> ParseError { ParseError(description: "\(what) at byte \(index)") }
        func expect(_ byte: UInt8) throws {
            skipSpace()
            guard index < count, bytes[index] == byte else { throw fail("expected '\(Character(Unicode.Scalar(byte)))'") }
            index += 1
        }
        /// After the opening quote: returns the range inside the quotes and moves past the closing one.
        func stringBody() throws -> (Range<Int>, Bool) {
            let start = index
            var hasEscapes = false
            while index < count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let range = start..<index
                    index += 1
                    return (range, hasEscapes)
                }
                if byte == UInt8(ascii: "\\") { hasEscapes = true; index += 2; continue }
                if byte < 0x20 { throw fail("control byte in a string") }
                index += 1
            }
            throw fail("unterminated string")
        }
        func skipNested() throws {
            var depth = 0
            while index < count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""): index += 1; _ = try stringBody(); continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { index += 1; return }
                default: break
                }
                index += 1
            }
            throw fail("unterminated object or array")
        }
        func slice(_ range: Range<Int>) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: bytes[range])
        }

        try expect(UInt8(ascii: "{"))
        skipSpace()
        if index < count, bytes[index] == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                try expect(UInt8(ascii: "\""))
                let (keyRange, keyHasEscapes) = try stringBody()
                try expect(UInt8(ascii: ":"))
                skipSpace()
                guard index < count else { throw fail("missing value") }
                let value: Value
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    index += 1
                    let (range, hasEscapes) = try stringBody()
                    value = .string(slice(range), hasEscapes: hasEscapes)
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    let start = index
                    while index < count, isNumberByte(bytes[index]) { index += 1 }
                    value = .number(slice(start..<index))
                case UInt8(ascii: "t"):
                    try literal("true"); value = .bool(true)
                case UInt8(ascii: "f"):
                    try literal("false"); value = .bool(false)
                case UInt8(ascii: "n"):
                    try literal("null"); value = .null
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    try skipNested(); value = .nested
                default:
                    throw fail("bad value")
                }
                if keyHasEscapes {
                    var key = Array(unescape(slice(keyRange)).utf8)
                    try key.withUnsafeMutableBytes { try visit(UnsafeRawBufferPointer($0), value) }
                } else {
                    try visit(slice(keyRange), value)
                }
                skipSpace()
                guard index < count else { throw fail("unterminated object") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; break }
                throw fail("expected ',' or '}'")
            }
        }
        skipSpace()
        guard index == count else { throw fail("text after the object") }

        func literal(_ word: StaticString) throws {
            let length = word.utf8CodeUnitCount
            guard index + length <= count else { throw fail("bad literal") }
            for offset in 0..<length where bytes[index + offset] != word.utf8Start[offset] {
                throw fail("bad literal")
            }
            index += length
        }
    }

    private static func isNumberByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): true
        default: false
        }
    }

    /// The string between the quotes with its escapes decoded (`\"`, `\\`, `\/`, `\b \f \n \r \t`,
    /// `\uXXXX` with surrogate pairs). A broken escape becomes U+FFFD rather than an error: only
    /// identifiers are decoded for their meaning, and stockd never escapes inside one.
    static func unescape(_ bytes: UnsafeRawBufferPointer) -> String {
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        var index = 0
        func flush() {
            if !utf8.isEmpty { scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars); utf8.removeAll() }
        }
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            for offset in 0..<4 {
                let byte = bytes[at + offset]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: return nil
                }
                value = value << 4 | digit
            }
            return value
        }
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\"), index + 1 < bytes.count else { utf8.append(byte); index += 1; continue }
            let code = bytes[index + 1]
            index += 2
            switch code {
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                flush()
                guard var value = hex4(index) else { scalars.append("\u{FFFD}"); continue }
                index += 4
                if (0xD800..<0xDC00).contains(value), index + 6 <= bytes.count,
                   bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u"),
                   let low = hex4(index + 2), (0xDC00..<0xE000).contains(low) {
                    value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                    index += 6
                }
                scalars.append(Unicode.Scalar(value) ?? "\u{FFFD}")
            default: utf8.append(code)  // \" \\ \/
            }
        }
        flush()
        return String(scalars)
    }
}

extension UnsafeRawBufferPointer {
    /// Whether these bytes spell `text`: how the scanner's visitors match keys without making a String.
    @inline(__always)
    func equals(_ text: StaticString) -> Bool {
        count == text.utf8CodeUnitCount && (count == 0 || memcmp(baseAddress!, text.utf8Start, count) == 0)
    }
}
