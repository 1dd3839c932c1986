import Foundation
import LedgerCore
import LedgerExchange
import Testing

@Suite("CSV")
struct CSVEventsTests {
    static func csv(_ events: [Event]) -> String {
        ([CSVLine.header] + events.map(CSVLine.event)).map { $0 + "\n" }.joined()
    }

    static func read(_ text: String) throws -> [(line: Int, event: Event)] {
        let reader = try CSVEventReader(stream: InputStream(data: Data(text.utf8)))
        var records: [(line: Int, event: Event)] = []
        while let record = try reader.next() { records.append(record) }
        return records
    }

    @Test("every kind survives writing and reading")
    func roundTrip() throws {
        let text = CSVEventsTests.csv(Samples.events)
        // Columns are only ever added at the end.
        #expect(text.hasPrefix("seq,at,kind,actor,sku,wh,qty,res,xfer,from,to,po,delta,lost,eta,expires,safety,reorder,max,reason,ref,id,note,"
                               + "previous,preorder,preorder_until,preorder_eta,pad,fill,channel,priority,backorder,moves,expiries,"
                               + "until,share,buffer,low,inherit,region,alloc,lines,requested,strategy,fence,fence_back,fence_cut,"
                               + "bin,cards,lead\n"))
        #expect(text.hasSuffix("\n") && !text.hasSuffix("\n\n"))
        let read = try CSVEventsTests.read(text)
        #expect(read.map(\.event) == Samples.events)
    }

    @Test("text that starts like a formula gets a quote mark; numbers, negative ones too, do not")
    func formulasAreNeutralised() throws {
        let text = CSVEventsTests.csv([Samples.events[0], Samples.events[8], Samples.events[9]])
        let records = text.split(separator: "\n").map(String.init)
        #expect(records[1].hasPrefix("1,2026-11-22T08:00:00.250000Z,received,1000,'-1+2,PAR,5,"), "\(records[1])")
        #expect(records[2].contains(#",-2,,,,,,,"'=HYPERLINK(""http://x"",""broken, """"pallet"""""")","#), "\(records[2])")
        #expect(records[3].contains(",70,,,,,,-5,,,,,,,'-\tcounted twice,"), "\(records[3])")
        for record in records.dropFirst() {
            for field in record.split(separator: ",") {
                let value = field.hasPrefix("\"") ? field.dropFirst() : field
                #expect(!(["=", "+", "@", "\t", "\r"].contains { value.hasPrefix($0) }), "\(field)")
                #expect(!value.hasPrefix("-") || Int(value) != nil, "only numbers may start with -: \(field)")
            }
        }
    }

    @Test("neutralising is undone exactly", arguments: [
        "=1+1", "+1", "-1", "@A1", "\tx", "\rx", "'=x", "''=x", "'tis fine", "'", "''", "plain", "-", "a=b", "",
    ])
    func neutralisingIsUndone(text: String) {
        let guarded = SpreadsheetFormula.neutralised(text)
        #expect(SpreadsheetFormula.restored(guarded) == text)
        #expect(!(["=", "+", "-", "@", "\t", "\r"].contains { guarded.hasPrefix($0) }))
        let startsLikeFormula = ["=", "+", "-", "@", "\t", "\r"].contains { text.drop { $0 == "'" }.hasPrefix($0) }
        #expect(guarded == (startsLikeFormula ? "'" + text : text))
    }

    @Test("a value a person typed with a quote mark keeps it unless a formula follows")
    func handTypedQuoteMarks() throws {
        let text = """
            seq,at,kind,actor,sku,wh,qty,ref,note
            1,2026-11-22T08:00:00Z,received,0,A,W,5,'-ref,'tis fine
            """
        let event = try #require(try CSVEventsTests.read(text).first?.event)
        #expect(event.ref == "-ref" && event.note == "'tis fine")
    }

    @Test("a wrong header is refused on its line", arguments: [
        ("seq,at,kind,actor,sku,wh,quantity", "header: unknown column quantity"),
        ("seq,at,kind,sku,wh,qty", "header: no actor column"),
        ("seq,at,kind,actor,sku,sku", "header: column sku appears twice"),
        ("1,2026-11-22T08:00:00Z,received,0,A,W,5", "header: unknown column 1"),
    ])
    func wrongHeader(header: String, message: String) {
        #expect { _ = try CSVEventReader(stream: InputStream(data: Data((header + "\n").utf8))) } throws: { error in
            let problem = error as? RecordProblem
            return problem?.line == 1 && problem?.message.hasPrefix(message) == true
        }
    }

    @Test("a refusal names the line its record starts on; blank lines and quoted line breaks count")
    func refusalNamesItsLine() throws {
        let header = "seq,at,kind,actor,sku,wh,delta,reason\n"
        #expect(throws: RecordProblem("sku: only A-Z a-z 0-9 . _ - : / # @ + are allowed", line: 4)) {
            try CSVEventsTests.read(header + "1,2026-11-22T08:00:00Z,adjusted,0,A,W,5,x\n\n2,2026-11-22T08:00:00Z,adjusted,0,A B,W,5,x\n")
        }
        // Free text holds no line break (as on a request line): the record is refused where it starts.
        #expect(throws: RecordProblem("reason: control byte 0xa (only a tab is allowed)", line: 3)) {
            try CSVEventsTests.read(header + "\n1,2026-11-22T08:00:00Z,adjusted,0,A,W,5,\"two\nlines\"\n")
        }
        #expect(throws: RecordProblem("6 fields, but the header has 8", line: 2)) {
            try CSVEventsTests.read(header + "1,2,3,4,5,6\n")
        }
    }

    @Test("a file that is not UTF-8 is refused")
    func notUTF8() throws {
        var bytes = Array("seq,at,kind,actor\n1,2026-11-22T08:00:00Z,received,0".utf8)
        bytes.insert(0xFF, at: 20)
        #expect(throws: RecordProblem.self) {
            let reader = try CSVEventReader(stream: InputStream(data: Data(bytes)))
            while try reader.next() != nil {}
        }
    }
}
