import LedgerCore

/// Appends the stored binary forms: LEB128 varints, zigzag for signed values, length-prefixed strings.
public struct ByteWriter {
    public var bytes: [UInt8] = []
    public init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    public mutating func byte(_ value: UInt8) { bytes.append(value) }

    public mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    public mutating func signed(_ value: Int64) { varint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }

    public mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    public mutating func bigEndian(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }
}

/// Reads what `ByteWriter` wrote. Running past the end or meeting a malformed varint throws
/// `CorruptRecord`, which callers treat as a damaged store, never as a domain refusal.
public struct ByteReader {
    let buffer: UnsafeRawBufferPointer
    var offset = 0

    public init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    public var isAtEnd: Bool { offset >= buffer.count }

    public mutating func byte() throws -> UInt8 {
        guard offset < buffer.count else { throw CorruptRecord(reason: "truncated") }
        defer { offset += 1 }
        return buffer[offset]
    }

    public mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try byte()
            result |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return result }
            shift += 7
            guard shift < 64 else { throw CorruptRecord(reason: "varint too long") }
        }
    }

    public mutating func signed() throws -> Int64 {
        let raw = try varint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// A signed quantity (a bucket, a quantity, a delta): stored values never pass
    /// `Limits.bucketQuantityMax`, so a larger one is damage, refused here before any sum of it can
    /// overflow (a trap) in a fold or a decision.
    public mutating func amount() throws -> Int64 { try ByteReader.amount(try signed()) }

    public static func amount(_ value: Int64) throws -> Int64 {
        guard value.magnitude <= Limits.bucketQuantityMax.magnitude else { throw CorruptRecord(reason: "a quantity of \(value)") }
        return value
    }

    public mutating func string() throws -> String {
        String(decoding: try lengthPrefixed(), as: UTF8.self)
    }

    /// The bytes of a length-prefixed field, in place (no copy): for a decoder that keeps only some.
    public mutating func lengthPrefixed() throws -> UnsafeRawBufferPointer {
        guard let count = Int(exactly: try varint()) else { throw CorruptRecord(reason: "string length out of range") }
        guard count <= buffer.count - offset else { throw CorruptRecord(reason: "string runs past the end") }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + count])
    }

    public mutating func skip(_ count: Int) throws {
        guard count >= 0, count <= buffer.count - offset else { throw CorruptRecord(reason: "skip runs past the end") }
        offset += count
    }
}

/// A stored record that cannot be decoded: the store is damaged or was written by a newer format.
public struct CorruptRecord: Error, CustomStringConvertible {
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { "corrupt record: \(reason)" }
}

/// Keys of the stored databases, built the same way everywhere.
public enum StoreKey {
    /// The log and index keys: seq as big-endian UInt64, so LMDB's byte order is log order.
    public static func seq(_ seq: UInt64) -> [UInt8] {
        withUnsafeBytes(of: seq.bigEndian) { Array($0) }
    }

    /// The seq in the last 8 bytes of a stored key (log, per-sku index) or value (`meta last_seq`).
    /// Stored bytes are untrusted: fewer than 8 is a damaged record, thrown, never trapped on.
    public static func seq(from bytes: UnsafeRawBufferPointer) throws -> UInt64 {
        guard bytes.count >= 8 else { throw CorruptRecord(reason: "a seq of \(bytes.count) bytes, not 8") }
        var value: UInt64 = 0
        for index in 0..<8 { value = value << 8 | UInt64(bytes[bytes.count - 8 + index]) }
        return value
    }

    /// A pair: sku, a 0 byte, wh. Identifiers never contain 0, so a sku's pairs sort together.
    public static func pair(_ key: PairKey) -> [UInt8] {
        var bytes = Array(key.sku.utf8)
        bytes.append(0)
        bytes.append(contentsOf: key.wh.utf8)
        return bytes
    }

    public static func pair(from bytes: UnsafeRawBufferPointer) -> PairKey {
        let split = bytes.firstIndex(of: 0) ?? bytes.count
        let sku = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<split]), as: UTF8.self)
        let wh = split < bytes.count
            ? String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(split + 1)...]), as: UTF8.self) : ""
        return PairKey(sku: sku, wh: wh)
    }

    /// The prefix every key of one sku starts with (pairs and the per-sku index).
    public static func skuPrefix(_ sku: String) -> [UInt8] {
        var bytes = Array(sku.utf8)
        bytes.append(0)
        return bytes
    }

    /// The per-sku index: sku, a 0 byte, seq big-endian.
    public static func skuIndex(_ sku: String, _ seq: UInt64) -> [UInt8] {
        skuPrefix(sku) + StoreKey.seq(seq)
    }

    /// The expiry index: due time big-endian, then the reservation id, so a cursor from the start
    /// meets the earliest due reservation first.
    public static func expiry(_ at: Timestamp, _ reservation: String) -> [UInt8] {
        StoreKey.seq(UInt64(bitPattern: Swift.max(0, at.microseconds))) + Array(reservation.utf8)
    }
}
