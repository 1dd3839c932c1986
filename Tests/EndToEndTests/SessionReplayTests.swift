import Foundation
import LedgerClient
import Testing

/// FEATURES.md P4, "old clients see no change": a session of every verb, read and error from before
/// promises, recorded from the stockd of commit ce47c14 (Fixtures/SessionTranscript.swift, made by
/// Tools/record_session.py), is played against the current stockd, and every normalised reply line
/// must be the recorded one.
@Suite("session replay: replies byte-identical to the daemon before promises")
struct SessionReplayTests {
    @Test("the recorded session answers the same, line for line")
    func recordedSessionAnswersTheSame() throws {
        let recorded = Transcript(SessionTranscript.text)
        #expect(recorded.steps.count >= 80 && recorded.steps.last?.request == "QUIT")
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        try recorded.play(on: try daemon.client())
    }
}
