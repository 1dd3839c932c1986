import LedgerCore
import LedgerProtocol
import Testing

/// `ProtocolError`: the `ERR` lines, and how domain refusals become them.
@Suite struct ProtocolErrorTests {
    @Test func codesAreTheStableWordsOfTheProtocol() {
        #expect(ErrorCode.allCases.map(\.rawValue) == [
            "SYNTAX", "UNKNOWN", "ARG", "INSUFFICIENT", "NOTFOUND", "STATE", "CONFLICT", "DENIED", "LIMIT", "UNAVAILABLE",
        ])
    }

    @Test func insufficientCarriesAvailableAndRequested() {
        let error = ProtocolError(Refusal.insufficient(available: 37, requested: 50, sku: "TSHIRT-M", wh: "PAR"))
        #expect(error.code == .insufficient)
        #expect(error.line() == "ERR INSUFFICIENT available=37 requested=50 sku=TSHIRT-M wh=PAR")
    }

    @Test func otherRefusals() {
        #expect(ProtocolError(Refusal.notFound(.reservation, "r9")).line() == "ERR NOTFOUND res=r9 no such reservation r9")
        #expect(ProtocolError(Refusal.closed(.reservation, "r2", status: "released")).line()
                == "ERR STATE res=r2 state=released reservation r2 is released")
        #expect(ProtocolError(Refusal.state("r2 already exists")).line() == "ERR STATE r2 already exists")
        #expect(ProtocolError(Refusal.argument("qty: 5 is more than the 3 reservation r2 holds")).line()
                == "ERR ARG qty: 5 is more than the 3 reservation r2 holds")
        #expect(ProtocolError(Refusal.notFound(.transfer, "x1")).code == .notFound)
        #expect(ProtocolError(Refusal.state("x")).code == .state)
        #expect(ProtocolError(Refusal.argument("x")).code == .argument)
    }

    @Test func plainErrorLines() {
        #expect(ProtocolError(.limit, "line longer than 8192 bytes").line() == "ERR LIMIT line longer than 8192 bytes")
        #expect(ProtocolError(.conflict, "").line() == "ERR CONFLICT")
        #expect(ProtocolError(.denied, "readers may not write", pairs: [("uid", "1001")]).line()
                == "ERR DENIED uid=1001 readers may not write")
    }

    @Test func batchIndexGoesFirst() {
        let error = ProtocolError(Refusal.insufficient(available: 0, requested: 1, sku: "A", wh: "W"))
        #expect(error.line(prefix: [("index", "3")]) == "ERR INSUFFICIENT index=3 available=0 requested=1 sku=A wh=W")
        #expect(ProtocolError(Refusal.notFound(.reservation, "r1")).line(prefix: [("index", "1")])
                == "ERR NOTFOUND index=1 res=r1 no such reservation r1")
    }

    @Test func pairValuesAreQuotedLikeAnyReplyValue() {
        let error = ProtocolError(.argument, "bad", pairs: [("got", "two words")])
        #expect(error.line() == #"ERR ARG got="two words" bad"#)
    }

    @Test func equalityComparesCodeTextAndPairs() {
        #expect(ProtocolError(.argument, "x") == ProtocolError(.argument, "x"))
        #expect(ProtocolError(.argument, "x") != ProtocolError(.syntax, "x"))
        #expect(ProtocolError(.argument, "x") != ProtocolError(.argument, "y"))
        #expect(ProtocolError(.argument, "x", pairs: [("a", "1")]) != ProtocolError(.argument, "x", pairs: [("a", "2")]))
        #expect(ProtocolError(.argument, "x", pairs: [("a", "1")]) != ProtocolError(.argument, "x"))
    }
}
