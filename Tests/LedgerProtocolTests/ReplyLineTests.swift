import LedgerCore
import LedgerProtocol
import Testing

/// `ReplyLine`: reply values follow the request token rules, so a client can split them the same way.
@Suite struct ReplyLineTests {
    @Test func wordThenPairs() {
        var line = ReplyLine("OK")
        line.add("seq", Int64(12))
        line.add("rows", 3)
        line.add("big", UInt64(1_000_000_000_000))
        line.add("delta", Int64(-5))
        line.add("sku", "TSHIRT-M")
        line.add("breach", true)
        line.add("dup", false)
        line.add("expires", Timestamp(seconds: 1_795_335_300))
        #expect(line.text == "OK seq=12 rows=3 big=1000000000000 delta=-5 sku=TSHIRT-M breach=yes dup=no expires=2026-11-22T08:15:00Z")
    }

    @Test func absentOptionalValuesAreLeftOut() {
        var line = ReplyLine("transfer")
        line.addIfPresent("ref", nil as String?)
        line.addIfPresent("eta", nil as Timestamp?)
        #expect(line.text == "transfer")
        line.addIfPresent("ref", "ORDER-1")
        line.addIfPresent("eta", Timestamp(seconds: 0))
        #expect(line.text == "transfer ref=ORDER-1 eta=1970-01-01T00:00:00Z")
    }

    @Test func freeWordsGoAfterThePairs() {
        var line = ReplyLine("ERR ARG")
        line.text("missing key: sku")
        #expect(line.text == "ERR ARG missing key: sku")
    }

    static let quoting: [(String, String)] = [
        ("plain", "plain"),
        ("broken pallet", #""broken pallet""#),
        (#"say "hi""#, #""say \"hi\"""#),
        (#"C:\dir"#, #""C:\\dir""#),
        ("", #""""#),
        ("tab\there", #""tab here""#),
        ("two\nlines\r", #""two lines ""#),
        ("café", "café"),
        ("a=b", "a=b"),
        (" lead", #"" lead""#),
    ]

    @Test(arguments: ReplyLineTests.quoting)
    func valuesThatNeedQuotesAreQuotedAndEscaped(value: String, written: String) {
        var line = ReplyLine("row")
        line.add("note", value)
        #expect(line.text == "row note=" + written)
    }

    @Test(arguments: ["plain", "broken pallet", #"say "hi" \ bye"#, #"\\"#, "", "a=b c=d", "café ☕", #"""#])
    func repliesTokeniseBackToTheSameValues(value: String) throws {
        var line = ReplyLine("row")
        line.add("note", value)
        line.add("sku", "A")
        let tokens = try #require(try Tokenizer.tokenize(Array(line.text.utf8)))
        #expect(tokens.verb == "ROW")
        #expect(tokens.arguments.map(\.key) == ["note", "sku"])
        #expect(tokens.arguments.map(\.value) == [value, "A"])
    }
}
