import Foundation
import LedgerCore
import LedgerExchange

/// libFuzzer harness for `stockctl import`'s record readers (the LedgerExchange library, with
/// Foundation's JSONDecoder and CSV.swift under it): the first byte picks JSON lines (even) or CSV
/// (odd), the rest is the file. Any bytes give events or a `RecordProblem`, never a crash; an event
/// read survives export and import again in both formats, unchanged.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImport(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let file = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    if data[0] % 2 == 0 {
        let reader = JSONLinesReader(lines: MemoryLines(file))
        while true {
            do {
                guard let record = try reader.next() else { break }
                checkExportImport(record.event)
            } catch {
                continue  // That line is refused and consumed; the next one is read.
            }
        }
    } else {
        guard let reader = try? CSVEventReader(stream: InputStream(data: Data(file))) else { return 0 }
        while true {
            do throws(RecordProblem) {
                guard let record = try reader.next() else { break }
                checkExportImport(record.event)
            } catch where error.line == nil {
                break  // The stream itself cannot be read further (not UTF-8): every later call says so.
            } catch {
                continue  // One record refused; the next one is read.
            }
        }
    }
    return 0
}

func checkExportImport(_ event: Event) {
    let json = JSONLine.event(event)
    do {
        let again = try JSONLine.parse(Array(json.utf8))
        precondition(again == event, "JSON export and import changed \(event) into \(again)")
    } catch {
        preconditionFailure("the export \(json) of \(event) does not import: \(error)")
    }
    let csv = Data((CSVLine.header + "\n" + CSVLine.event(event) + "\n").utf8)
    do {
        let reader = try CSVEventReader(stream: InputStream(data: csv))
        let again = try reader.next()?.event
        precondition(again == event, "CSV export and import changed \(event) into \(String(describing: again))")
        let more = try reader.next()
        precondition(more == nil, "the CSV export of \(event) is more than one record")
    } catch {
        preconditionFailure("the CSV export \(String(decoding: csv, as: UTF8.self)) of \(event) does not import: \(error)")
    }
}
