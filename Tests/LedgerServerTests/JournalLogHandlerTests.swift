import Logging
import Testing
@testable import LedgerServer

/// `JournalLogHandler`: `<N>` priority prefixes for the journal and for files, level words on a terminal.
@Suite struct JournalLogHandlerTests {
    typealias Identity = JournalLogHandler.FileIdentity
    static let stderrIdentity = Identity(device: 34, inode: 12_345)

    struct Case: Sendable, CustomTestStringConvertible {
        var terminal: Bool
        var journalStream: String?
        var expected: JournalLogHandler.Style
        var testDescription: String { "terminal=\(terminal) JOURNAL_STREAM=\(journalStream ?? "unset") → \(expected)" }
    }

    @Test(arguments: [
        // A file or pipe keeps the prefix, whatever JOURNAL_STREAM says.
        Case(terminal: false, journalStream: nil, expected: .priorityPrefix),
        Case(terminal: false, journalStream: "34:12345", expected: .priorityPrefix),
        Case(terminal: false, journalStream: "1:2", expected: .priorityPrefix),
        // A terminal gets words, unless JOURNAL_STREAM names this very stderr.
        Case(terminal: true, journalStream: nil, expected: .levelWord),
        Case(terminal: true, journalStream: "34:12345", expected: .priorityPrefix),
        // Inherited from a parent whose stderr was the journal: a different file, so it does not count.
        Case(terminal: true, journalStream: "34:12346", expected: .levelWord),
        Case(terminal: true, journalStream: "garbage", expected: .levelWord),
        Case(terminal: true, journalStream: "", expected: .levelWord),
        Case(terminal: true, journalStream: "34:12345:7", expected: .levelWord),
    ])
    func style(_ example: Case) {
        let style = JournalLogHandler.style(standardErrorIsTerminal: example.terminal, journalStream: example.journalStream,
                                            standardError: JournalLogHandlerTests.stderrIdentity)
        #expect(style == example.expected)
    }

    @Test func unknownStandardErrorIgnoresJournalStream() {
        #expect(JournalLogHandler.style(standardErrorIsTerminal: true, journalStream: "34:12345", standardError: nil) == .levelWord)
    }

    @Test func prefixes() {
        #expect(JournalLogHandler.prefix(.warning, style: .priorityPrefix) == "<4>")
        #expect(JournalLogHandler.prefix(.critical, style: .priorityPrefix) == "<2>")
        #expect(JournalLogHandler.prefix(.info, style: .levelWord) == "info: ")
        #expect(JournalLogHandler.prefix(.warning, style: .levelWord) == "warning: ")
    }

    @Test func parsesJournalStream() {
        #expect(JournalLogHandler.parse(journalStream: "8:4294967296") == Identity(device: 8, inode: 4_294_967_296))
        #expect(JournalLogHandler.parse(journalStream: ":5") == nil)
        #expect(JournalLogHandler.parse(journalStream: "-1:5") == nil)
    }
}
