import LedgerCore
import LedgerProtocol

/// libFuzzer harness for `stockctl import`'s record readers: the first byte picks JSON lines (even)
/// or CSV (odd), the rest is the file. Any bytes give events or a `RecordProblem`, never a crash; an
/// event read survives export and import again in both formats, unchanged.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImport(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let file = MemoryLines(Array(UnsafeBufferPointer(start: data + 1, count: size - 1)))
    if data[0] % 2 == 0 {
        while let line = file.next() {
            guard let event = try? EventRecord.event(from: try JSONRecordParser.parse(line)) else { continue }
            checkExportImport(event)
        }
    } else {
        let reader = CSVRecordReader(input: file)
        guard let header = try? reader.next(), let columns = try? EventRecord.columns(header.fields) else { return 0 }
        while let record = try? reader.next() {
            guard record.fields.count == columns.count else { continue }
            guard let event = try? EventRecord.event(from: values(columns, record.fields)) else { continue }
            checkExportImport(event)
        }
    }
    return 0
}

/// What the importer does with a CSV record: absent fields are left out.
func values(_ columns: [String], _ fields: [String?]) -> [String: String] {
    var values: [String: String] = [:]
    for (column, value) in zip(columns, fields) { if let value { values[column] = value } }
    return values
}

func checkExportImport(_ event: Event) {
    let json = JSONLine.event(event)
    do {
        let again = try EventRecord.event(from: try JSONRecordParser.parse(Array(json.utf8)))
        precondition(again == event, "JSON export and import changed \(event) into \(again)")
    } catch {
        preconditionFailure("the export \(json) of \(event) does not import: \(error)")
    }
    let csv = CSVRecordReader(input: MemoryLines(Array((EventRecord.csvHeader + "\n" + EventRecord.csvLine(event)).utf8)))
    do {
        let columns = try EventRecord.columns(try csv.next()!.fields)
        let again = try EventRecord.event(from: values(columns, try csv.next()!.fields))
        precondition(again == event, "CSV export and import changed \(event) into \(again)")
        let more = try csv.next()
        precondition(more == nil, "the CSV export of \(event) is more than one record")
    } catch {
        preconditionFailure("the CSV export \(EventRecord.csvLine(event)) of \(event) does not import: \(error)")
    }
}

/// Lines of a file in memory, split as `LineInput` splits them (a `\r` before the `\n` dropped).
final class MemoryLines: LineSource {
    private let bytes: [UInt8]
    private var offset = 0
    private(set) var lineNumber = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func next() -> [UInt8]? {
        guard offset < bytes.count else { return nil }
        lineNumber += 1
        let end = bytes[offset...].firstIndex(of: 0x0A) ?? bytes.count
        var line = Array(bytes[offset..<end])
        offset = end + 1
        if line.last == 0x0D { line.removeLast() }
        return line
    }
}
