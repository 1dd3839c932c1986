import LedgerCore

/// The request parser's value rules, for named fields that do not come from a request line (an
/// imported event's fields): the same identifiers, quantities, deltas, free text and times, with the
/// same messages, so the rules are stated once, in `Arguments`.
///
/// Fields are taken one by one; `finish()` refuses whatever is left over. An empty value is refused,
/// as on a request line, so an absent field and an empty one cannot be told apart anywhere.
public struct ArgumentFields {
    private var arguments: Arguments

    /// Refuses keys the protocol would not accept (only lowercase letters, digits and `_`) and keys given twice.
    public init(_ fields: [(key: String, value: String)]) throws(ProtocolError) {
        arguments = try Arguments(TokenizedLine(verb: "", arguments: fields, flags: []), knownKeys: nil)
    }

    public mutating func optionalString(_ key: String) throws(ProtocolError) -> String? {
        try arguments.optionalString(key)
    }

    public mutating func string(_ key: String) throws(ProtocolError) -> String {
        try arguments.required(key) { args, key throws(ProtocolError) in try args.optionalString(key) }
    }

    public mutating func optionalIdentifier(_ key: String) throws(ProtocolError) -> String? {
        try arguments.optionalIdentifier(key)
    }

    public mutating func identifier(_ key: String) throws(ProtocolError) -> String {
        try arguments.identifier(key)
    }

    /// POLICY's promise levels (`preorder preorder_until preorder_eta pad fill`), nil when none is given.
    public mutating func promisePolicy() throws(ProtocolError) -> PromisePolicy? {
        try arguments.promisePolicy()
    }

    public mutating func optionalQuantity(_ key: String, minimum: Int64 = 1) throws(ProtocolError) -> Int64? {
        try arguments.optionalQuantity(key, minimum: minimum)
    }

    public mutating func quantity(_ key: String, minimum: Int64 = 1) throws(ProtocolError) -> Int64 {
        try arguments.quantity(key, minimum: minimum)
    }

    /// A signed, non-zero change of at most `Limits.quantityMax` units (ADJUST's `delta`).
    public mutating func delta(_ key: String) throws(ProtocolError) -> Int64 {
        try arguments.delta(key)
    }

    /// Free text as a request line can carry it: a quoted value may hold a tab but no other control
    /// character (the tokenizer refuses those, so the parser never sees them; here the check is explicit).
    public mutating func optionalFreeText(_ key: String) throws(ProtocolError) -> String? {
        try arguments.optionalFreeText(key).map { text throws(ProtocolError) in try Self.withoutControlBytes(text, key) }
    }

    public mutating func freeText(_ key: String) throws(ProtocolError) -> String {
        try Self.withoutControlBytes(try arguments.freeText(key), key)
    }

    private static func withoutControlBytes(_ text: String, _ key: String) throws(ProtocolError) -> String {
        if let byte = text.utf8.first(where: { $0 < 0x20 && $0 != 0x09 || $0 == 0x7F }) {
            throw ProtocolError(.argument, "\(key): control byte 0x\(String(byte, radix: 16)) (only a tab is allowed)")
        }
        return text
    }

    public mutating func optionalTime(_ key: String) throws(ProtocolError) -> Timestamp? {
        try arguments.optionalTime(key)
    }

    public mutating func time(_ key: String) throws(ProtocolError) -> Timestamp {
        try arguments.time(key)
    }

    /// Refuses the first key left over, as the parser refuses an unknown key.
    public func finish() throws(ProtocolError) {
        try arguments.finish()
    }
}
