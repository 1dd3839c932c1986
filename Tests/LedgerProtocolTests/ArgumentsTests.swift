@testable import LedgerProtocol
import Testing

/// `Arguments`: the checks every request line goes through, whose cost a peer controls.
@Suite struct ArgumentsTests {
    /// Counts every comparison and hash of the keys it wraps, so the test measures work, not time.
    final class Counter { var operations = 0 }
    struct CountedKey: Hashable {
        let text: String
        let counter: Counter
        static func == (lhs: CountedKey, rhs: CountedKey) -> Bool {
            lhs.counter.operations += 1
            return lhs.text == rhs.text
        }
        func hash(into hasher: inout Hasher) {
            counter.operations += 1
            hasher.combine(text)
        }
    }

    /// The keys of the finding's line: as many distinct keys as fit in 8 KiB (`INFO k0=1 k1=1 ...`).
    static func distinctKeys(fitting bytes: Int) -> [String] {
        var keys: [String] = [], length = "INFO".utf8.count
        while length + " k\(keys.count)=1".utf8.count <= bytes {
            keys.append("k\(keys.count)")
            length += " \(keys.last!)=1".utf8.count
        }
        return keys
    }

    @Test("finding 4: the repeated-key check does work linear in the keys, not quadratic")
    func finding4RepeatedKeyCheckIsLinear() {
        let keys = ArgumentsTests.distinctKeys(fitting: 8_192)
        #expect(keys.count > 1_100)
        let counter = Counter()
        let counted = keys.map { CountedKey(text: $0, counter: counter) }
        #expect(Arguments.firstRepeated(counted) == nil)
        // Comparing each key with every earlier one takes n(n-1)/2 = 650,000 comparisons here; a set
        // hashes each key once and compares it with the few keys its probe meets.
        #expect(counter.operations <= 8 * keys.count, "\(counter.operations) operations for \(keys.count) keys")

        counter.operations = 0
        #expect(Arguments.firstRepeated(counted + [counted[500]])?.text == "k500")
        #expect(counter.operations <= 8 * keys.count, "\(counter.operations) operations for \(keys.count + 1) keys")
    }

    @Test("finding 4: a line of 8 KiB of distinct keys is refused for its first unknown key; a repeat anywhere is named")
    func finding4LongLinesAreRefusedByName() {
        let keys = ArgumentsTests.distinctKeys(fitting: 8_192 - 16)
        let line = "INFO " + keys.map { "\($0)=1" }.joined(separator: " ")
        #expect(throws: ProtocolError(.argument, "unknown key: k0")) { try RequestParser.parse(Array(line.utf8)) }
        #expect(throws: ProtocolError(.argument, "repeated key: k7")) { try RequestParser.parse(Array((line + " k7=2").utf8)) }
        #expect(throws: ProtocolError(.argument, "repeated key: qty")) {
            try RequestParser.parse(Array("SELL sku=A wh=B qty=1 qty=2".utf8))
        }
    }
}
