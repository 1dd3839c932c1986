/// One request line split into its verb, `key=value` arguments and bare flags.
public struct TokenizedLine: Equatable, Sendable {
    public var verb: String
    public var arguments: [(key: String, value: String)]
    public var flags: [String]

    public static func == (lhs: TokenizedLine, rhs: TokenizedLine) -> Bool {
        lhs.verb == rhs.verb && lhs.flags == rhs.flags
            && lhs.arguments.elementsEqual(rhs.arguments) { $0.key == $1.key && $0.value == $1.value }
    }
}

/// Splits a request line by the token grammar of PROTOCOL.md. Pure; works on bytes.
public enum Tokenizer {
    /// Returns nil for a blank line (the server ignores those), or throws `ERR SYNTAX`.
    ///
    /// Bare tokens become Strings straight from slices of the line (short ones need no allocation);
    /// only quoted values, which may hold escapes, are copied byte by byte.
    public static func tokenize(_ line: some Collection<UInt8>) throws(ProtocolError) -> TokenizedLine? {
        let bytes = Array(line)
        // ASCII (nearly every request) needs no further UTF-8 check.
        if !bytes.allSatisfy({ $0 < 0x80 }), String(validating: bytes, as: UTF8.self) == nil {
            throw ProtocolError(.syntax, "line is not valid UTF-8")
        }
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
        func text(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        var index = 0
        var result: TokenizedLine?
        while index < bytes.count {
            while index < bytes.count, isSpace(bytes[index]) { index += 1 }
            guard index < bytes.count else { break }
            let start = index
            var keyEnd: Int?
            var quotedValue: [UInt8]?
            var valueStart = start
            while index < bytes.count, !isSpace(bytes[index]) {
                let byte = bytes[index]
                if byte < 0x20 || byte == 0x7f {
                    throw ProtocolError(.syntax, "control byte 0x\(String(byte, radix: 16)) at column \(index + 1)")
                }
                if byte == 0x3d, keyEnd == nil {  // "=" ends the key
                    keyEnd = index
                    index += 1
                    valueStart = index
                    if index < bytes.count, bytes[index] == 0x22 {
                        var value: [UInt8] = []
                        index = try readQuoted(bytes, from: index + 1, into: &value)
                        quotedValue = value
                        if index < bytes.count, !isSpace(bytes[index]) {
                            throw ProtocolError(.syntax, "text after a closing quote at column \(index + 1)")
                        }
                        break
                    }
                    continue
                }
                if byte == 0x22 { throw ProtocolError(.syntax, "unexpected quote at column \(index + 1)") }
                index += 1
            }
            if result == nil {
                guard keyEnd == nil else { throw ProtocolError(.syntax, "a line starts with a verb, not key=value") }
                result = TokenizedLine(verb: text(start..<index).uppercased(), arguments: [], flags: [])
            } else if let keyEnd {
                let value = quotedValue.map { String(decoding: $0, as: UTF8.self) } ?? text(valueStart..<index)
                result!.arguments.append((text(start..<keyEnd), value))
            } else {
                result!.flags.append(text(start..<index))
            }
        }
        return result
    }

    /// Reads a quoted value after its opening quote; returns the index after the closing quote.
    private static func readQuoted(_ bytes: [UInt8], from start: Int, into token: inout [UInt8]) throws(ProtocolError) -> Int {
        var index = start
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case 0x22:
                return index + 1
            case 0x5c:
                guard index + 1 < bytes.count, bytes[index + 1] == 0x22 || bytes[index + 1] == 0x5c else {
                    throw ProtocolError(.syntax, "bad escape at column \(index + 1): only \\\" and \\\\ are allowed")
                }
                token.append(bytes[index + 1])
                index += 2
            default:
                if byte < 0x20 && byte != 0x09 || byte == 0x7f {
                    throw ProtocolError(.syntax, "control byte 0x\(String(byte, radix: 16)) at column \(index + 1)")
                }
                token.append(byte)
                index += 1
            }
        }
        throw ProtocolError(.syntax, "unclosed quote")
    }
}
