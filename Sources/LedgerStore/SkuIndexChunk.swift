/// The value of a per-sku index entry. The key is sku, 0, first seq. The value is empty for a single
/// seq (the only form before checkpoints, still written for one seq), or a chunk of ascending seqs:
/// their count, then each seq's distance from the one before (varints; the first is 0).
///
/// Guarantees: `seqs(first:encode(list))` is `list`; the chunks of one sku never overlap, because a
/// checkpoint indexes only seqs after the previous checkpoint.
public enum SkuIndexChunk {
    public static func encode(_ seqs: [UInt64]) -> [UInt8] {
        guard seqs.count > 1 else { return [] }
        var writer = ByteWriter(capacity: seqs.count * 2 + 4)
        writer.varint(UInt64(seqs.count))
        var previous = seqs[0]
        for seq in seqs {
            precondition(seq >= previous, "index seqs must ascend")
            writer.varint(seq - previous)
            previous = seq
        }
        return writer.bytes
    }

    public static func seqs(first: UInt64, _ value: UnsafeRawBufferPointer) throws -> [UInt64] {
        guard !value.isEmpty else { return [first] }
        var reader = ByteReader(value)
        let count = try reader.varint()
        guard count > 0, count <= UInt64(value.count) else { throw CorruptRecord(reason: "sku index chunk at \(first) has a bad count") }
        var seqs: [UInt64] = []
        seqs.reserveCapacity(Int(count))
        var seq = first
        for _ in 0..<count {
            let (sum, overflow) = seq.addingReportingOverflow(try reader.varint())
            guard !overflow else { throw CorruptRecord(reason: "sku index chunk at \(first) overflows") }
            seq = sum
            seqs.append(seq)
        }
        guard seqs[0] == first, reader.isAtEnd else { throw CorruptRecord(reason: "sku index chunk at \(first) is malformed") }
        return seqs
    }
}
