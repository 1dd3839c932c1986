import LedgerCore
import LedgerProtocol
import Testing

/// `RequestParser`: every verb into its `Request`, and every malformed argument into its `ERR` code.
@Suite struct RequestParserTests {
    func parse(_ line: String) throws(ProtocolError) -> Request? {
        try RequestParser.parse(Array(line.utf8))
    }

    /// The error a line gets, or nil when it parses.
    func error(_ line: String) -> ProtocolError? {
        do {
            _ = try parse(line)
            return nil
        } catch {
            return error
        }
    }

    func code(_ line: String) -> ErrorCode? { error(line)?.code }

    func write(_ command: Command, ref: String? = nil, note: String? = nil, id: String? = nil) -> Request {
        .write(WriteRequest(command: command, ref: ref, note: note, idempotencyKey: id))
    }

    static let eta = Timestamp(seconds: 1_795_593_600)  // 2026-11-25T08:00:00Z
    static let longest = String(repeating: "a", count: 64)
    static let tooLong = String(repeating: "a", count: 65)

    // MARK: Writes

    static let writes: [(String, Request)] = {
        func write(_ command: Command, ref: String? = nil, note: String? = nil, id: String? = nil) -> Request {
            .write(WriteRequest(command: command, ref: ref, note: note, idempotencyKey: id))
        }
        return [
            ("RECEIVE sku=TSHIRT-M wh=PAR qty=40",
             write(.receive(sku: "TSHIRT-M", wh: "PAR", quantity: 40, purchaseOrder: nil))),
            ("RECEIVE sku=TSHIRT-M wh=PAR qty=40 po=PO-77 ref=ASN-9",
             write(.receive(sku: "TSHIRT-M", wh: "PAR", quantity: 40, purchaseOrder: "PO-77"), ref: "ASN-9")),
            ("SELL sku=A wh=W qty=5", write(.sell(sku: "A", wh: "W", quantity: 5))),
            ("SELL res=r2", write(.sellReserved(reservation: "r2", quantity: nil))),
            ("SELL res=r2 qty=1", write(.sellReserved(reservation: "r2", quantity: 1))),
            ("RESERVE sku=TSHIRT-M wh=PAR qty=3 ttl=15m ref=ORDER-1001",
             write(.reserve(sku: "TSHIRT-M", wh: "PAR", quantity: 3, reservation: nil, ttlSeconds: 900), ref: "ORDER-1001")),
            ("RESERVE sku=A wh=W qty=1 res=cart-7",
             write(.reserve(sku: "A", wh: "W", quantity: 1, reservation: "cart-7", ttlSeconds: nil))),
            ("RELEASE res=r2", write(.release(reservation: "r2", quantity: nil))),
            ("RELEASE res=r2 qty=2", write(.release(reservation: "r2", quantity: 2))),
            ("TRANSFER sku=A from=PAR to=LYS qty=5",
             write(.transfer(sku: "A", from: "PAR", to: "LYS", quantity: 5, transfer: nil, eta: nil))),
            ("TRANSFER sku=A from=PAR to=LYS qty=5 xfer=T-1 eta=2026-11-25T08:00:00Z",
             write(.transfer(sku: "A", from: "PAR", to: "LYS", quantity: 5, transfer: "T-1", eta: RequestParserTests.eta))),
            ("ARRIVE xfer=T-1", write(.arrive(transfer: "T-1", quantity: nil, lost: nil))),
            ("ARRIVE xfer=T-1 qty=3 lost=1", write(.arrive(transfer: "T-1", quantity: 3, lost: 1))),
            ("ARRIVE xfer=T-1 qty=0 lost=2", write(.arrive(transfer: "T-1", quantity: 0, lost: 2))),
            ("ARRIVE xfer=T-1 lost=0", write(.arrive(transfer: "T-1", quantity: nil, lost: 0))),
            ("ADJUST sku=A wh=W delta=-3 reason=\"broken pallet\"",
             write(.adjust(sku: "A", wh: "W", delta: -3, reason: "broken pallet"))),
            ("ADJUST sku=A wh=W delta=+4 reason=found", write(.adjust(sku: "A", wh: "W", delta: 4, reason: "found"))),
            ("ADJUST sku=A wh=W delta=4 reason=found", write(.adjust(sku: "A", wh: "W", delta: 4, reason: "found"))),
            ("COUNT sku=A wh=W qty=0", write(.count(sku: "A", wh: "W", quantity: 0, reason: nil))),
            ("COUNT sku=A wh=W qty=12 reason=\"cycle count\"",
             write(.count(sku: "A", wh: "W", quantity: 12, reason: "cycle count"))),
            ("RETURN sku=A wh=W qty=2", write(.returnGoods(sku: "A", wh: "W", quantity: 2))),
            ("EXPECT sku=A wh=W qty=20 eta=2026-11-25T08:00:00Z po=PO-1",
             write(.expect(sku: "A", wh: "W", quantity: 20, eta: RequestParserTests.eta, purchaseOrder: "PO-1"))),
            ("CANCEL po=PO-1", write(.cancel(purchaseOrder: "PO-1"))),
            ("POLICY sku=A wh=W safety=10", write(.policy(sku: "A", wh: "W", safety: 10, reorder: nil, max: nil))),
            ("POLICY sku=A wh=W reorder=0 max=60", write(.policy(sku: "A", wh: "W", safety: nil, reorder: 0, max: 60))),
            ("POLICY sku=A wh=W safety=10 reorder=15 max=60",
             write(.policy(sku: "A", wh: "W", safety: 10, reorder: 15, max: 60))),
            ("SELL sku=A wh=W qty=1 ref=ORDER-1 note=\"gift wrap\" id=k-123",
             write(.sell(sku: "A", wh: "W", quantity: 1), ref: "ORDER-1", note: "gift wrap", id: "k-123")),
            ("CANCEL po=PO-1 note=\"supplier \\\"ACME\\\" went bust\"",
             write(.cancel(purchaseOrder: "PO-1"), note: "supplier \"ACME\" went bust")),
        ]
    }()

    @Test(arguments: RequestParserTests.writes)
    func parsesEveryWrite(line: String, expected: Request) throws {
        let request = try parse(line)
        #expect(request == expected)
        #expect(request?.isWrite == true)
    }

    // MARK: Reads and session verbs

    static let others: [(String, Request)] = [
        ("STOCK sku=TSHIRT-M", .read(.stock(sku: "TSHIRT-M", wh: nil, at: nil))),
        ("STOCK sku=A wh=PAR at=seq:5", .read(.stock(sku: "A", wh: "PAR", at: .seq(5)))),
        ("STOCK sku=A at=2026-11-25T08:00:00Z", .read(.stock(sku: "A", wh: nil, at: .time(RequestParserTests.eta)))),
        ("BREACHES", .read(.breaches(wh: nil, sku: nil))),
        ("BREACHES wh=PAR sku=A", .read(.breaches(wh: "PAR", sku: "A"))),
        ("BREACHES history=no", .read(.breaches(wh: nil, sku: nil))),
        ("BREACHES history=yes", .read(.breachHistory(wh: nil, sku: nil, from: nil, to: nil))),
        ("BREACHES history=yes wh=PAR sku=A from=2026-11-25T08:00:00Z to=2026-11-25T09:00:00Z",
         .read(.breachHistory(wh: "PAR", sku: "A", from: RequestParserTests.eta,
                              to: RequestParserTests.eta.adding(seconds: 3_600)))),
        ("REORDER", .read(.reorder(wh: nil, sku: nil))),
        ("REORDER wh=PAR sku=A", .read(.reorder(wh: "PAR", sku: "A"))),
        ("RESERVATIONS", .read(.reservations(sku: nil, wh: nil, reservation: nil))),
        ("RESERVATIONS sku=A wh=W res=r2", .read(.reservations(sku: "A", wh: "W", reservation: "r2"))),
        ("TRANSFERS", .read(.transfers(sku: nil, wh: nil, transfer: nil))),
        ("TRANSFERS sku=A wh=W xfer=x2", .read(.transfers(sku: "A", wh: "W", transfer: "x2"))),
        ("HISTORY sku=A", .read(.history(sku: "A", wh: nil, from: 1, limit: 1_000))),
        ("HISTORY sku=A wh=PAR from=5 limit=10", .read(.history(sku: "A", wh: "PAR", from: 5, limit: 10))),
        ("HISTORY sku=A from=seq:7", .read(.history(sku: "A", wh: nil, from: 7, limit: 1_000))),
        ("EVENTS", .read(.events(from: 1, limit: 1_000))),
        ("EVENTS from=10 limit=100000", .read(.events(from: 10, limit: 100_000))),
        ("EVENTS limit=1", .read(.events(from: 1, limit: 1))),
        ("INFO", .read(.info)),
        ("PING", .ping),
        ("QUIT", .quit),
        ("BEGIN", .begin),
        ("COMMIT", .commit),
        ("ABORT", .abort),
        ("UNWATCH", .unwatch),
        ("HELLO", .hello(format: nil)),
        ("HELLO proto=1", .hello(format: nil)),
        ("HELLO proto=1 format=json", .hello(format: .json)),
        ("HELLO format=line", .hello(format: .line)),
        ("WATCH breaches", .watch(.breaches(wh: nil, sku: nil))),
        ("WATCH breaches wh=PAR sku=A", .watch(.breaches(wh: "PAR", sku: "A"))),
        ("WATCH wh=PAR BREACHES", .watch(.breaches(wh: "PAR", sku: nil))),
        ("WATCH events", .watch(.events(from: nil))),
        ("WATCH events from=5", .watch(.events(from: 5))),
        ("WATCH events from=5 stock=yes", .watch(.events(from: 5, stock: true))),
        ("WATCH events stock=no", .watch(.events(from: nil, stock: false))),
        ("METRICS", .read(.metrics)),
    ]

    /// The `verb` label of the requests counter is the word the client sent, for every verb.
    @Test(arguments: RequestParserTests.writes.map(\.0) + RequestParserTests.others.map(\.0)
          + ["BEGIN", "COMMIT", "ABORT", "PING", "QUIT", "UNWATCH", "HELLO", "SELL res=R1"])
    func verbIsTheWordSent(line: String) throws {
        let request = try #require(try parse(line))
        #expect(request.verb.name == line.split(separator: " ")[0].uppercased())
    }

    @Test(arguments: RequestParserTests.others)
    func parsesReadsAndSessionVerbs(line: String, expected: Request) throws {
        let request = try parse(line)
        #expect(request == expected)
        #expect(request?.isWrite == false)
    }

    @Test(arguments: ["receive", "Receive", "rEcEiVe", "RECEIVE"])
    func verbsAreCaseInsensitive(verb: String) throws {
        #expect(try parse("\(verb) sku=A wh=W qty=1") == write(.receive(sku: "A", wh: "W", quantity: 1, purchaseOrder: nil)))
    }

    @Test func argumentOrderDoesNotMatter() throws {
        let expected = write(.transfer(sku: "A", from: "PAR", to: "LYS", quantity: 5, transfer: "T", eta: nil), ref: "R")
        #expect(try parse("TRANSFER ref=R qty=5 to=LYS xfer=T from=PAR sku=A") == expected)
        #expect(try parse("TRANSFER sku=A from=PAR to=LYS qty=5 xfer=T ref=R") == expected)
    }

    @Test func blankLinesParseToNothing() throws {
        #expect(try parse("") == nil)
        #expect(try parse("  \t ") == nil)
    }

    @Test func identifiersAcceptEveryAllowedByteAndKeepCase() throws {
        let sku = "Az09._-:/#@+"
        #expect(try parse("RETURN sku=\(sku) wh=w qty=1") == write(.returnGoods(sku: sku, wh: "w", quantity: 1)))
        #expect(try parse("RETURN sku=\(RequestParserTests.longest) wh=W qty=1")
                == write(.returnGoods(sku: RequestParserTests.longest, wh: "W", quantity: 1)))
        // Quoting is a matter of tokens: a quoted identifier without bad bytes is the same identifier.
        #expect(try parse("RETURN sku=\"A\" wh=W qty=1") == write(.returnGoods(sku: "A", wh: "W", quantity: 1)))
    }

    // MARK: ERR codes

    @Test(arguments: [
        #"RECEIVE sku=A wh=W qty=1 note="unclosed"#,
        #"RECEIVE sku=A"B wh=W qty=1"#,
        #"ADJUST sku=A wh=W delta=1 reason="a\qb""#,
        #"ADJUST sku=A wh=W delta=1 reason="ab"c"#,
        "sku=A RECEIVE wh=W qty=1",
    ])
    func tokenErrorsAreSyntax(line: String) {
        #expect(code(line) == .syntax)
    }

    @Test func invalidUTF8IsSyntax() {
        let bytes = Array("RECEIVE sku=A wh=W qty=1 note=".utf8) + [0xc3, 0x28]
        #expect(throws: ProtocolError(.syntax, "line is not valid UTF-8")) { try RequestParser.parse(bytes) }
        let control = Array("PING".utf8) + [0x00]
        #expect(throws: ProtocolError.self) { try RequestParser.parse(control) }
    }

    @Test(arguments: ["FROB", "RECIEVE sku=A wh=W qty=1", "GET key=x", "OK", "SELLX sku=A wh=W qty=1", "RESERVED"])
    func unknownVerbs(line: String) {
        #expect(code(line) == .unknown)
    }

    @Test func unknownVerbTextNamesIt() {
        #expect(error("frob x=1") == ProtocolError(.unknown, "no such verb: FROB"))
    }

    static let badArguments: [String] = [
        // missing keys
        "RECEIVE wh=PAR qty=1", "RECEIVE sku=A qty=1", "RECEIVE sku=A wh=PAR",
        "SELL sku=A qty=1", "SELL wh=W qty=1", "RESERVE sku=A wh=W", "RELEASE", "RELEASE qty=1",
        "TRANSFER sku=A from=PAR qty=1", "ARRIVE", "ARRIVE qty=1", "ADJUST sku=A wh=W delta=-1",
        "ADJUST sku=A wh=W reason=x", "COUNT sku=A wh=W", "RETURN sku=A qty=1",
        "EXPECT sku=A wh=W qty=1 eta=2026-11-25T08:00:00Z", "EXPECT sku=A wh=W qty=1 po=P", "CANCEL",
        "POLICY sku=A wh=W", "STOCK", "STOCK wh=PAR", "HISTORY", "WATCH",
        // unknown keys and stray words
        "PING x=1", "INFO verbose", "RECEIVE sku=A wh=W qty=1 colour=red", "SELL res=r2 sku=A",
        "RELEASE res=r1 wh=W", "WATCH events x=1", "WATCH breaches extra", "QUIT now=yes",
        "RECEIVE sku=A wh=W qty=1 res=r1",
        // repeated keys
        "RECEIVE sku=A sku=B wh=W qty=1", "PING x=1 x=1", "STOCK sku=A sku=A",
        // keys are lowercase letters, digits and _
        "RECEIVE SKU=A wh=W qty=1", "RECEIVE sku=A Wh=W qty=1", "RECEIVE sku=A wh=W qty=1 ref-x=1",
        "PING =x",
        // empty values
        "RECEIVE sku= wh=W qty=1", #"RECEIVE sku="" wh=W qty=1"#, "RECEIVE sku=A wh=W qty=",
        "RESERVE sku=A wh=W qty=1 ttl=", "EXPECT sku=A wh=W qty=1 eta= po=P", "HELLO format=",
        "RECEIVE sku=A wh=W qty=1 ref=", "RECEIVE sku=A wh=W qty=1 id=",
        // identifiers
        "RECEIVE sku=A,B wh=W qty=1", "RECEIVE sku=A% wh=W qty=1", #"RECEIVE sku="A B" wh=W qty=1"#,
        "RECEIVE sku=café wh=W qty=1", "RECEIVE sku=A wh=PAR! qty=1", "RECEIVE sku=A wh=W qty=1 po=P=1",
        "RECEIVE sku=A wh=W qty=1 ref=a;b", "RELEASE res=r~1", "ARRIVE xfer=x'1", "CANCEL po=PO\\1",
        "RECEIVE sku=\(RequestParserTests.tooLong) wh=W qty=1", "RECEIVE sku=A wh=\(RequestParserTests.tooLong) qty=1",
        "SELL sku=A wh=W qty=1 id=\(RequestParserTests.tooLong)", "RELEASE res=\(RequestParserTests.tooLong)",
        // quantities
        "RECEIVE sku=A wh=W qty=0", "RECEIVE sku=A wh=W qty=-1", "RECEIVE sku=A wh=W qty=+1",
        "RECEIVE sku=A wh=W qty=1000000000001", "RECEIVE sku=A wh=W qty=99999999999999999999",
        "RECEIVE sku=A wh=W qty=abc", "RECEIVE sku=A wh=W qty=1.5", "RECEIVE sku=A wh=W qty=1e3",
        "RECEIVE sku=A wh=W qty=0x10", "SELL res=r1 qty=0", "RELEASE res=r1 qty=0", "COUNT sku=A wh=W qty=-1",
        "ARRIVE xfer=x1 lost=-1", "POLICY sku=A wh=W safety=-1", "POLICY sku=A wh=W max=1000000000001",
        // deltas
        "ADJUST sku=A wh=W delta=0 reason=x", "ADJUST sku=A wh=W delta=-0 reason=x", "ADJUST sku=A wh=W delta=+0 reason=x",
        "ADJUST sku=A wh=W delta=1000000000001 reason=x", "ADJUST sku=A wh=W delta=-1000000000001 reason=x",
        "ADJUST sku=A wh=W delta=--1 reason=x", "ADJUST sku=A wh=W delta=- reason=x", "ADJUST sku=A wh=W delta=1- reason=x",
        "ADJUST sku=A wh=W delta=one reason=x",
        // durations
        "RESERVE sku=A wh=W qty=1 ttl=0", "RESERVE sku=A wh=W qty=1 ttl=0s", "RESERVE sku=A wh=W qty=1 ttl=91d",
        "RESERVE sku=A wh=W qty=1 ttl=7776001", "RESERVE sku=A wh=W qty=1 ttl=1w", "RESERVE sku=A wh=W qty=1 ttl=m",
        "RESERVE sku=A wh=W qty=1 ttl=15M", "RESERVE sku=A wh=W qty=1 ttl=-5m", "RESERVE sku=A wh=W qty=1 ttl=1.5h",
        "RESERVE sku=A wh=W qty=1 ttl=10000000000", "RESERVE sku=A wh=W qty=1 ttl=15mm", "RESERVE sku=A wh=W qty=1 ttl=s15",
        // times
        "EXPECT sku=A wh=W qty=1 eta=tomorrow po=P", "EXPECT sku=A wh=W qty=1 eta=2026-11-25 po=P",
        "EXPECT sku=A wh=W qty=1 eta=2026-11-25T08:00:00 po=P", "EXPECT sku=A wh=W qty=1 eta=2026-02-30T08:00:00Z po=P",
        "TRANSFER sku=A from=P to=L qty=1 eta=1795593600", "STOCK sku=A at=yesterday", "STOCK sku=A at=seq:x",
        "STOCK sku=A at=seq:", "BREACHES history=yes from=last-week",
        // free text
        "ADJUST sku=A wh=W delta=1 reason=\(String(repeating: "x", count: 257))",
        "SELL sku=A wh=W qty=1 note=\"\(String(repeating: "é", count: 129))\"",
        // limits and positions
        "EVENTS limit=0", "EVENTS limit=100001", "EVENTS limit=-1", "EVENTS limit=ten", "HISTORY sku=A limit=0",
        "EVENTS from=0", "EVENTS from=seq:0", "EVENTS from=-1", "HISTORY sku=A from=x",
        "BREACHES history=maybe",
        // HELLO and WATCH
        "HELLO proto=2", "HELLO proto=0", "HELLO format=xml", "HELLO format=JSON",
        "WATCH nothing", "WATCH stock", "WATCH events from=0",
    ]

    @Test(arguments: RequestParserTests.badArguments)
    func badArgumentsAreArg(line: String) {
        #expect(code(line) == .argument, "\(line) gave \(String(describing: error(line)))")
    }

    @Test("issue 9: a key no verb knows is named, even where it stands for a missing one",
          arguments: [
            ("SELL sku=A wh=W quantity=1", "unknown key: quantity"),
            ("RECEIVE sku=A warehouse=W qty=1", "unknown key: warehouse"),
            ("RESERVE sku=A wh=W qty=2 tll=1h", "unknown key: tll"),
            ("STOCK skus=A", "unknown key: skus"),
            ("ADJUST sku=A wh=W delta=1 reasons=x note=y", "unknown key: reasons"),
            // A key some other verb takes is not a typo: the missing one is named.
            ("SELL sku=A wh=W eta=2026-11-25T08:00:00Z", "missing key: qty"),
            ("CANCEL res=r1", "missing key: po"),
            ("RECEIVE sku=A qty=1", "missing key: wh"),
          ])
    func unknownKeyIsNamed(line: String, message: String) {
        #expect(error(line) == ProtocolError(.argument, message))
    }

    @Test func argumentErrorsNameTheKey() {
        #expect(error("RECEIVE wh=PAR qty=1") == ProtocolError(.argument, "missing key: sku"))
        #expect(error("RECEIVE sku=A wh=W qty=1 colour=red") == ProtocolError(.argument, "unknown key: colour"))
        #expect(error("RECEIVE sku=A sku=B wh=W qty=1") == ProtocolError(.argument, "repeated key: sku"))
        #expect(error("RECEIVE sku= wh=W qty=1") == ProtocolError(.argument, "sku: empty value"))
        #expect(error("HELLO proto=2")?.message.hasPrefix("proto:") == true)
        #expect(error("WATCH nothing")?.message.contains("nothing") == true)
        #expect(error("RECEIVE sku=A wh=W qty=0")?.message.hasPrefix("qty:") == true)
        #expect(error("RESERVE sku=A wh=W qty=1 ttl=1w")?.message.hasPrefix("ttl:") == true)
        #expect(error("EXPECT sku=A wh=W qty=1 eta=x po=P")?.message.hasPrefix("eta:") == true)
        #expect(error("EVENTS limit=0")?.message.hasPrefix("limit:") == true)
        #expect(error("RECEIVE SKU=A wh=W qty=1")?.message.contains("SKU") == true)
    }

    static let durations: [(String, Int64)] = [
        ("90s", 90), ("15m", 900), ("2h", 7_200), ("7d", 604_800), ("3600", 3_600), ("1", 1), ("1s", 1),
        ("90d", 7_776_000), ("7776000", 7_776_000), ("0015m", 900),
    ]

    @Test(arguments: RequestParserTests.durations)
    func durationsAreAccepted(text: String, seconds: Int64) throws {
        #expect(try parse("RESERVE sku=A wh=W qty=1 ttl=\(text)")
                == write(.reserve(sku: "A", wh: "W", quantity: 1, reservation: nil, ttlSeconds: seconds)))
    }

    @Test func quantityAndDeltaBounds() throws {
        #expect(try parse("RECEIVE sku=A wh=W qty=1000000000000")
                == write(.receive(sku: "A", wh: "W", quantity: 1_000_000_000_000, purchaseOrder: nil)))
        #expect(try parse("RECEIVE sku=A wh=W qty=007") == write(.receive(sku: "A", wh: "W", quantity: 7, purchaseOrder: nil)))
        #expect(try parse("ADJUST sku=A wh=W delta=-1000000000000 reason=x")
                == write(.adjust(sku: "A", wh: "W", delta: -1_000_000_000_000, reason: "x")))
        #expect(try parse("ADJUST sku=A wh=W delta=1000000000000 reason=x")
                == write(.adjust(sku: "A", wh: "W", delta: 1_000_000_000_000, reason: "x")))
        #expect(try parse("POLICY sku=A wh=W safety=0 reorder=0 max=0")
                == write(.policy(sku: "A", wh: "W", safety: 0, reorder: 0, max: 0)))
    }

    @Test func freeTextUpTo256Bytes() throws {
        let reason = String(repeating: "x", count: 256)
        #expect(try parse("ADJUST sku=A wh=W delta=1 reason=\(reason)")
                == write(.adjust(sku: "A", wh: "W", delta: 1, reason: reason)))
        // The limit is in bytes: 128 two-byte characters fit, 129 do not (see badArgumentsAreArg).
        let note = String(repeating: "é", count: 128)
        #expect(try parse("RETURN sku=A wh=W qty=1 note=\"\(note)\"")
                == write(.returnGoods(sku: "A", wh: "W", quantity: 1), note: note))
    }

    @Test func anEmptyBareFreeTextIsRefused() {
        // PROTOCOL.md: bare = 1*( any byte except SP, TAB, '"', control bytes ), so `reason=` is not a
        // value at all; every other key answers it with `ERR ARG <key>: empty value`.
        #expect([.argument, .syntax].contains(code("ADJUST sku=A wh=W delta=-1 reason=")))
        #expect([.argument, .syntax].contains(code("RETURN sku=A wh=W qty=1 note=")))
    }

    @Test func limitBounds() throws {
        #expect(try parse("EVENTS limit=100000") == .read(.events(from: 1, limit: 100_000)))
        #expect(try parse("HISTORY sku=A limit=1") == .read(.history(sku: "A", wh: nil, from: 1, limit: 1)))
    }
}
