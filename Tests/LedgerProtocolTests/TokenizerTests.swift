import LedgerProtocol
import Testing

/// `Tokenizer`: splitting one line by the token grammar of PROTOCOL.md.
@Suite struct TokenizerTests {
    func tokenize(_ line: String) throws(ProtocolError) -> TokenizedLine? {
        try Tokenizer.tokenize(Array(line.utf8))
    }

    /// The error a line gets, or nil when it tokenises.
    func error(_ bytes: [UInt8]) -> ProtocolError? {
        do {
            _ = try Tokenizer.tokenize(bytes)
            return nil
        } catch {
            return error
        }
    }

    func error(_ line: String) -> ProtocolError? { error(Array(line.utf8)) }

    @Test func splitsVerbArgumentsAndFlags() throws {
        let line = try #require(try tokenize("WATCH breaches wh=PAR sku=TSHIRT-M"))
        #expect(line.verb == "WATCH")
        #expect(line.flags == ["breaches"])
        #expect(line.arguments.map(\.key) == ["wh", "sku"])
        #expect(line.arguments.map(\.value) == ["PAR", "TSHIRT-M"])
    }

    @Test func uppercasesTheVerbOnly() throws {
        let line = try #require(try tokenize("rEcEiVe sku=tshirt-m wh=Par qty=1 flag"))
        #expect(line.verb == "RECEIVE")
        #expect(line.arguments.map(\.value) == ["tshirt-m", "Par", "1"])
        #expect(line.flags == ["flag"])
    }

    @Test(arguments: ["", " ", "   \t  ", "\t"])
    func blankLinesGiveNothing(line: String) throws {
        #expect(try tokenize(line) == nil)
    }

    @Test func spacesAndTabsSeparateTokens() throws {
        let line = try #require(try tokenize("  PING\t\tx=1   y=2\t"))
        #expect(line.verb == "PING")
        #expect(line.arguments.map(\.key) == ["x", "y"])
        #expect(line.arguments.map(\.value) == ["1", "2"])
        #expect(line.flags.isEmpty)
    }

    @Test func keepsArgumentsInLineOrderWithRepeats() throws {
        // Repeats and key spelling are the parser's business; the tokenizer keeps everything.
        let line = try #require(try tokenize("X b=2 a=1 b=3 Key=4"))
        #expect(line.arguments.map(\.key) == ["b", "a", "b", "Key"])
        #expect(line.arguments.map(\.value) == ["2", "1", "3", "4"])
    }

    @Test func aValueMayContainEqualsSigns() throws {
        let line = try #require(try tokenize("X a=b=c"))
        #expect(line.arguments.first?.key == "a")
        #expect(line.arguments.first?.value == "b=c")
    }

    @Test func emptyBareValueAndEmptyKey() throws {
        let line = try #require(try tokenize("X a= =b"))
        #expect(line.arguments.map(\.key) == ["a", ""])
        #expect(line.arguments.map(\.value) == ["", "b"])
    }

    // MARK: Quoted values

    @Test func quotedValuesKeepSpacesAndTabs() throws {
        let line = try #require(try tokenize("ADJUST reason=\"broken pallet\" note=\"a\tb\" x=1"))
        #expect(line.arguments.map(\.value) == ["broken pallet", "a\tb", "1"])
    }

    @Test func quotedValuesUnescapeQuoteAndBackslash() throws {
        let line = try #require(try tokenize(#"X note="say \"hi\" to C:\\dir" y="\\" z="\"""#))
        #expect(line.arguments.map(\.value) == [#"say "hi" to C:\dir"#, #"\"#, #"""#])
    }

    @Test func anEmptyQuotedValue() throws {
        let line = try #require(try tokenize(#"X note="""#))
        #expect(line.arguments.first?.value == "")
    }

    @Test func quotedValuesMayHoldUTF8() throws {
        let line = try #require(try tokenize("X note=\"café ☕ — 東京\""))
        #expect(line.arguments.first?.value == "café ☕ — 東京")
    }

    @Test func quotedValueThenNextArgument() throws {
        let line = try #require(try tokenize(#"X a="1 2" b="3""#))
        #expect(line.arguments.map(\.value) == ["1 2", "3"])
    }

    // MARK: SYNTAX

    @Test(arguments: [
        #"X note="broken"#,                   // unclosed quote
        #"X note=""#,                         // a lone opening quote
        #"X note="ends with escape\"#,        // the escape eats the closing quote
        #"X note="trailing backslash \\\"#,
        #"X sku=AB"C"#,                       // stray quote in a bare value
        #"X sku=ABC""#,
        #"X "flag""#,                         // a quoted flag
        #""PING""#,                           // a quoted verb
        #"PI"NG"#,
        #"X note="a\nb""#,                    // only \" and \\ are escapes
        #"X note="a\tb""#,
        #"X note="\u0041""#,
        #"X note="a"b"#,                      // text after the closing quote
        #"X note="a""b""#,
        "sku=A RECEIVE",                      // a line starts with its verb
        "=x PING",
    ])
    func malformedLinesAreSyntaxErrors(line: String) {
        #expect(error(line)?.code == .syntax)
    }

    @Test(arguments: [UInt8(0x00), 0x01, 0x07, 0x0a, 0x0d, 0x1b, 0x1f, 0x7f])
    func controlBytesAreSyntaxErrors(byte: UInt8) {
        let bare = Array("X sku=A".utf8) + [byte] + Array("B".utf8)
        #expect(error(bare)?.code == .syntax)
        let quoted = Array("X note=\"A".utf8) + [byte] + Array("B\"".utf8)
        #expect(error(quoted)?.code == .syntax)
        let verb = [byte] + Array("PING".utf8)
        #expect(error(verb)?.code == .syntax)
    }

    static let invalidUTF8: [[UInt8]] = [
        [0xff],
        [0xc3],                   // a lead byte with nothing after it
        [0xc3, 0x28],             // a lead byte followed by ASCII
        [0xc0, 0xaf],             // overlong "/"
        [0xed, 0xa0, 0x80],       // a UTF-16 surrogate
        [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
        [0x80],                   // a lone continuation byte
    ]

    @Test(arguments: TokenizerTests.invalidUTF8)
    func invalidUTF8IsASyntaxError(bad: [UInt8]) {
        let inBare = Array("X sku=A".utf8) + bad
        #expect(error(inBare)?.code == .syntax)
        let inQuoted = Array("X note=\"".utf8) + bad + Array("\"".utf8)
        #expect(error(inQuoted)?.code == .syntax)
    }

    @Test func syntaxErrorsSayWhereAndWhat() {
        #expect(error(#"X sku=AB"C"#)?.message.contains("column 9") == true)
        #expect(error(#"X note="a"#)?.message.contains("unclosed quote") == true)
        #expect(error([0x58, 0x20, 0xff])?.message.contains("UTF-8") == true)
        #expect(error(Array("X a".utf8) + [0x01])?.message.contains("0x1") == true)
    }
}
