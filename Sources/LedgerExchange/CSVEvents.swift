import CSV
import Foundation
import LedgerCore

/// Keeps spreadsheets from running what an export holds (OWASP "CSV injection").
///
/// A spreadsheet evaluates a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
/// as a formula; identifiers may start with `-`, `+` or `@` and free text with anything. The rule,
/// for text fields only (never the numeric ones, so a negative delta stays the number `-5`):
///
/// - export: a value whose first character after any leading apostrophes is one of those gets one
///   more apostrophe in front (`=SUM(A1)` → `'=SUM(A1)`, `'=x` → `''=x`);
/// - import: a value that starts with an apostrophe followed by such a value loses that apostrophe.
///
/// Import undoes export exactly, for every value: a value without a formula start is left alone both
/// ways (a note `'tis fine` stays as it is). A spreadsheet shows the guarded cell as text, without
/// the apostrophe.
public enum SpreadsheetFormula {
    static func startsLikeFormula(_ text: Substring) -> Bool {
        guard let first = text.unicodeScalars.first(where: { $0 != "'" }) else { return false }
        return first == "=" || first == "+" || first == "-" || first == "@" || first == "\t" || first == "\r"
    }

    public static func neutralised(_ text: String) -> String {
        startsLikeFormula(text[...]) ? "'" + text : text
    }

    public static func restored(_ text: String) -> String {
        text.hasPrefix("'") && startsLikeFormula(text.dropFirst()) ? String(text.dropFirst()) : text
    }
}

/// Events as CSV records (RFC 4180): the header, then one line per event. An absent field is
/// empty; text fields are guarded against spreadsheet formulas (`SpreadsheetFormula`); a field holding
/// a comma, a quote or a line break is quoted, with quotes doubled.
///
/// Written here, not with CSV.swift's `CSVWriter`: that writer searches each field for the four
/// special characters through Foundation's NSString bridge and writes one byte per call, which made
/// an export of 1 M events 7.5 times slower (31.0 s against 4.2 s; docs/performance.md). What is
/// written is read back by CSV.swift's reader in the tests and the fuzz harness.
public enum CSVLine {
    public static let header = EventRecord.csvColumns.joined(separator: ",")
    private static let columnIndex = Dictionary(uniqueKeysWithValues: EventRecord.csvColumns.enumerated().map { ($1, $0) })

    public static func event(_ event: Event) -> String {
        var columns = [String](repeating: "", count: EventRecord.csvColumns.count)
        for (key, value) in EventRecord.fields(event) {
            guard let index = columnIndex[key] else { preconditionFailure("event field \(key) has no CSV column") }
            columns[index] = EventRecord.numericFields.contains(key) ? value : field(SpreadsheetFormula.neutralised(value))
        }
        return columns.joined(separator: ",")
    }

    static func field(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0D || $0 == 0x0A }) else { return value }
        return "\"" + value.replacing("\"", with: "\"\"") + "\""
    }
}

/// Reads events from CSV as `CSVEventWriter` writes them (and as spreadsheets save them), streaming
/// record by record through CSV.swift's `CSVReader`: a file of millions of events is never held whole.
///
/// The first record is the header: known column names, each once, with seq, at, kind and actor.
/// Columns may come in any order and may be left out; an empty field is absent (the request
/// parser's rules refuse empty values, so nothing is lost). Blank lines are skipped.
public final class CSVEventReader {
    private let reader: CSVReader
    private let columns: [String]
    private let numeric: [Bool]
    /// The line the next record starts on: CSV.swift counts records, not lines, so lines are
    /// counted here from the line breaks each record ends with and holds in its quoted fields.
    private var nextLine = 1

    /// Reads and checks the header.
    public init(stream: InputStream) throws(RecordProblem) {
        do {
            reader = try CSVReader(stream: stream)
        } catch {
            throw RecordProblem("cannot read: \(error)")
        }
        guard let header = try CSVEventReader.nextRow(reader, &nextLine) else { throw RecordProblem("empty file: no header") }
        columns = try CSVEventReader.columns(header.fields, line: header.line)
        numeric = columns.map { EventRecord.numericFields.contains($0) }
    }

    /// The next event and the line its record starts on, or nil at the end of the file.
    public func next() throws(RecordProblem) -> (line: Int, event: Event)? {
        guard let record = try CSVEventReader.nextRow(reader, &nextLine) else { return nil }
        guard record.fields.count == columns.count else {
            throw RecordProblem("\(record.fields.count) fields, but the header has \(columns.count)", line: record.line)
        }
        var fields: [(key: String, value: String)] = []
        fields.reserveCapacity(columns.count)
        for index in columns.indices where !record.fields[index].isEmpty {
            let value = record.fields[index]
            fields.append((columns[index], numeric[index] ? value : SpreadsheetFormula.restored(value)))
        }
        do {
            return (record.line, try EventRecord.event(from: fields))
        } catch {
            throw error.at(record.line)
        }
    }

    /// The next record that is not a blank line, and the line it starts on.
    private static func nextRow(_ reader: CSVReader, _ nextLine: inout Int) throws(RecordProblem) -> (line: Int, fields: [String])? {
        while let row = reader.next() {
            let line = nextLine
            nextLine += 1 + row.reduce(0) { $0 + $1.utf8.count { $0 == 0x0A } }
            if let error = reader.error { throw RecordProblem("cannot read: \(error) (is the file UTF-8?)", line: line) }
            if row == [""] { continue }
            return (line, row)
        }
        if let error = reader.error { throw RecordProblem("cannot read after line \(nextLine - 1): \(error) (is the file UTF-8?)") }
        return nil
    }

    /// The header's column names: known, each once, with the four every event has.
    static func columns(_ header: [String], line: Int) throws(RecordProblem) -> [String] {
        var seen: Set<String> = []
        for name in header {
            guard EventRecord.csvColumns.contains(name) else {
                throw RecordProblem("header: unknown column \(name.isEmpty ? "(empty)" : name); the columns are "
                                    + EventRecord.csvColumns.joined(separator: ","), line: line)
            }
            guard seen.insert(name).inserted else { throw RecordProblem("header: column \(name) appears twice", line: line) }
        }
        for required in ["seq", "at", "kind", "actor"] where !seen.contains(required) {
            throw RecordProblem("header: no \(required) column (is the first line the header?)", line: line)
        }
        return header
    }
}
