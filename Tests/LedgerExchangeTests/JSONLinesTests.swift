import LedgerCore
import LedgerExchange
import Testing

@Suite("JSON lines")
struct JSONLinesTests {
    @Test("the samples cover every event kind")
    func samplesCoverEveryKind() {
        #expect(Set(Samples.events.map(\.body.kind)) == Set(EventKind.allCases))
    }

    @Test("every kind survives writing and reading", arguments: Samples.events)
    func roundTrip(event: Event) throws {
        let line = JSONLine.event(event)
        #expect(try JSONLine.parse(Array(line.utf8)) == event, "\(line)")
    }

    @Test("numbers are JSON numbers, in the protocol's field order")
    func layout() {
        let line = JSONLine.event(Samples.events[8])
        #expect(line.hasPrefix(#"{"seq":9,"at":"2026-11-22T08:00:00.250000Z","kind":"adjusted","actor":1000,"sku":"S1","wh":"LYS","delta":-2,"reason":"#), "\(line)")
    }

    @Test("a file's refusals name their line; blank lines count but are skipped")
    func refusalNamesItsLine() throws {
        let text = JSONLine.event(Samples.events[0]) + "\n\n  \n" + #"{"seq":2,"at":"2026-11-22T08:00:00Z","kind":"received","actor":0,"sku":"A B","wh":"W","qty":5}"#
        let reader = JSONLinesReader(lines: MemoryLines(Array(text.utf8)))
        #expect(try reader.next()?.line == 1)
        #expect(throws: RecordProblem("sku: only A-Z a-z 0-9 . _ - : / # @ + are allowed", line: 4)) { try reader.next() }
    }

    @Test("a malformed line is refused with its line number", arguments: [
        (#"{"seq":1,"at":"2026-11-22T08:00:00Z""#, "not JSON"),
        (#"[1,2]"#, "not a JSON object"),
        (#"{"seq":true}"#, "seq: expected a string or a whole number"),
        (#"{"seq":{"a":1}}"#, "seq: expected a string or a whole number"),
        (#"{"seq":1.5}"#, "seq: expected a string or a whole number"),
    ])
    func malformedLine(line: String, message: String) throws {
        let reader = JSONLinesReader(lines: MemoryLines(Array((JSONLine.event(Samples.events[0]) + "\n" + line).utf8)))
        _ = try reader.next()
        do {
            _ = try reader.next()
            Issue.record("\(line) was read")
        } catch let problem as RecordProblem {
            #expect(problem.line == 2)
            #expect(problem.message.hasPrefix(message), "\(problem)")
        }
    }

    @Test("fields are refused as the request parser refuses them", arguments: [
        (#""kind":"received","sku":"A","wh":"W","qty":0"#, "qty: 0 is out of range 1...1000000000000"),
        (#""kind":"received","sku":"A","wh":"W","qty":5,"note":"""#, "note: empty value"),
        (#""kind":"received","sku":"A","wh":"W","qty":5,"note":"a\nb""#, "note: control byte 0xa"),
        (#""kind":"received","sku":"A","wh":"W","qty":5,"lost":1"#, "unknown key: lost (not a field of a received event)"),
        (#""kind":"adjusted","sku":"A","wh":"W","delta":0,"reason":"x""#, "delta: must be non-zero"),
        (#""kind":"shipped","sku":"A""#, "kind: unknown kind shipped"),
        (#""kind":"policy_set","sku":"A","wh":"W""#, "missing key: one of safety, reorder, max"),
        (#""kind":"transfer_lost","sku":"A","wh":"W","xfer":"x","from":"A","to":"B","lost":1"#, "wh: W differs from to=B"),
    ])
    func fieldRules(fields: String, message: String) {
        let line = #"{"seq":1,"at":"2026-11-22T08:00:00Z","actor":0,"# + fields + "}"
        #expect { try JSONLine.parse(Array(line.utf8)) } throws: { error in
            (error as? RecordProblem)?.message.hasPrefix(message) == true
        }
    }
}
