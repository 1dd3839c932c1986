import LedgerCore
import LedgerStore
import Testing

/// `ByteWriter`, `ByteReader` and `StoreKey`: the primitives every stored form is built from.
@Suite struct BytesTests {
    static let varints: [(UInt64, [UInt8])] = [
        (0, [0x00]), (1, [0x01]), (127, [0x7f]), (128, [0x80, 0x01]), (300, [0xac, 0x02]),
        (16_383, [0xff, 0x7f]), (16_384, [0x80, 0x80, 0x01]),
        (UInt64.max, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
    ]

    @Test(arguments: BytesTests.varints)
    func varintsAreLEB128(value: UInt64, bytes: [UInt8]) throws {
        var writer = ByteWriter()
        writer.varint(value)
        #expect(writer.bytes == bytes)
        let read = try bytes.withUnsafeBytes { buffer -> UInt64 in
            var reader = ByteReader(buffer)
            defer { #expect(reader.isAtEnd) }
            return try reader.varint()
        }
        #expect(read == value)
    }

    @Test func signedValuesAreZigzag() throws {
        let expected: [(Int64, [UInt8])] = [(0, [0]), (-1, [1]), (1, [2]), (-2, [3]), (63, [126]), (-64, [127]), (64, [0x80, 0x01])]
        for (value, bytes) in expected {
            var writer = ByteWriter()
            writer.signed(value)
            #expect(writer.bytes == bytes, "\(value)")
        }
        var writer = ByteWriter()
        let values: [Int64] = [0, -1, 1, Int64.min, Int64.max, -1_000_000_000_000, 1_000_000_000_000_000]
        for value in values { writer.signed(value) }
        let read = try writer.bytes.withUnsafeBytes { buffer -> [Int64] in
            var reader = ByteReader(buffer)
            return try values.map { _ in try reader.signed() }
        }
        #expect(read == values)
    }

    @Test func stringsAreLengthPrefixedUTF8() throws {
        var writer = ByteWriter()
        writer.string("é")
        writer.string("")
        writer.byte(0xee)
        #expect(writer.bytes == [2, 0xc3, 0xa9, 0, 0xee])
        try writer.bytes.withUnsafeBytes { buffer in
            var reader = ByteReader(buffer)
            #expect(try reader.string() == "é")
            #expect(try reader.string() == "")
            #expect(try reader.byte() == 0xee)
            #expect(reader.isAtEnd)
            #expect(throws: CorruptRecord.self) { try reader.byte() }
            #expect(throws: CorruptRecord.self) { try reader.varint() }
            #expect(throws: CorruptRecord.self) { try reader.skip(1) }
            try reader.skip(0)
        }
    }

    @Test func bigEndianKeysSortInNumericOrder() throws {
        var writer = ByteWriter()
        writer.bigEndian(0x0102_0304_0506_0708)
        #expect(writer.bytes == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(StoreKey.seq(1) == [0, 0, 0, 0, 0, 0, 0, 1])
        let seqs: [UInt64] = [1, 255, 256, 65_536, 1 << 40, UInt64.max]
        let keys = seqs.map(StoreKey.seq)
        #expect(keys == keys.sorted { $0.lexicographicallyPrecedes($1) })
        for seq in seqs {
            #expect(try StoreKey.seq(seq).withUnsafeBytes { try StoreKey.seq(from: $0) } == seq)
        }
        // The per-sku index ends with the seq: `seq(from:)` reads the last eight bytes.
        #expect(try StoreKey.skuIndex("MUG", 258).withUnsafeBytes { try StoreKey.seq(from: $0) } == 258)
        #expect(StoreKey.skuIndex("MUG", 258) == Array("MUG".utf8) + [0] + StoreKey.seq(258))
    }

    @Test func pairKeysKeepASkusWarehousesTogether() {
        let pairs = [PairKey(sku: "MUG", wh: "PAR"), PairKey(sku: "MUG-XL", wh: "AMS"), PairKey(sku: "MUG", wh: "LYS"),
                     PairKey(sku: "MU", wh: "ZZZ")]
        for pair in pairs {
            #expect(StoreKey.pair(pair).withUnsafeBytes { StoreKey.pair(from: $0) } == pair)
            #expect(StoreKey.pair(pair).starts(with: StoreKey.skuPrefix(pair.sku)))
        }
        let sorted = pairs.map(StoreKey.pair).sorted { $0.lexicographicallyPrecedes($1) }
            .map { $0.withUnsafeBytes { StoreKey.pair(from: $0) } }
        #expect(sorted == [PairKey(sku: "MU", wh: "ZZZ"), PairKey(sku: "MUG", wh: "LYS"), PairKey(sku: "MUG", wh: "PAR"),
                           PairKey(sku: "MUG-XL", wh: "AMS")])
        #expect(!StoreKey.pair(PairKey(sku: "MUG-XL", wh: "AMS")).starts(with: StoreKey.skuPrefix("MUG")))
    }

    @Test func expiryKeysSortByDueTime() {
        let early = StoreKey.expiry(Timestamp(seconds: 100), "zzz")
        let late = StoreKey.expiry(Timestamp(seconds: 101), "aaa")
        #expect(early.lexicographicallyPrecedes(late))
        #expect(early.count == 8 + 3)
        // Times before 1970 clamp to the start rather than wrap around to the end.
        #expect(StoreKey.expiry(Timestamp(microseconds: -5), "r").prefix(8).allSatisfy { $0 == 0 })
    }
}
