import Foundation
import LedgerCore
import LedgerProtocol

/// Events as JSON lines: one flat object per line, numbers as JSON numbers, everything else as strings.
///
/// Written with the protocol's JSON quoting (`JSONReply.quote`), so a line is byte for byte what
/// `stockctl events --json` and the protocol's JSON mode print, in the protocol's field order. Read
/// with Foundation's `JSONDecoder`: a value is a string, a whole number, or `null` (absent). What
/// JSONDecoder decides stays its decision: `5.0` and `1e2` read as the whole numbers 5 and 100, and
/// a key given twice keeps its first value (RFC 8259 leaves duplicate names to the reader).
public enum JSONLine {
    public static func event(_ event: Event) -> String {
        "{" + EventRecord.fields(event).map { key, value in
            "\"\(key)\":" + (EventRecord.numericFields.contains(key) ? value : JSONReply.quote(value))
        }.joined(separator: ",") + "}"
    }

    /// The event one line describes.
    public static func parse(_ line: [UInt8], decoder: JSONDecoder = JSONDecoder()) throws(RecordProblem) -> Event {
        try EventRecord.event(from: try fields(line, decoder: decoder))
    }

    /// The fields of one line's object, in no particular order; `null` values are left out.
    public static func fields(_ line: [UInt8], decoder: JSONDecoder = JSONDecoder()) throws(RecordProblem) -> [(key: String, value: String)] {
        do {
            return try decoder.decode(FlatObject.self, from: Data(line)).fields
        } catch let problem as RecordProblem {
            throw problem
        } catch DecodingError.typeMismatch {
            throw RecordProblem("not a JSON object")
        } catch let DecodingError.dataCorrupted(context) {
            throw RecordProblem("not JSON: \((context.underlyingError as? CustomStringConvertible)?.description ?? context.debugDescription)")
        } catch {
            throw RecordProblem("not JSON: \(error)")
        }
    }

    /// A JSON object whose values are strings, whole numbers or null.
    private struct FlatObject: Decodable {
        var fields: [(key: String, value: String)] = []

        struct Key: CodingKey {
            var stringValue: String
            init?(stringValue: String) { self.stringValue = stringValue }
            var intValue: Int? { nil }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            let object = try decoder.container(keyedBy: Key.self)
            for key in object.allKeys {
                if try object.decodeNil(forKey: key) { continue }
                // The kind of value each key is written with is tried first: a failed decode throws a
                // DecodingError, which costs more than the decode itself.
                func number() -> String? { (try? object.decode(Int64.self, forKey: key)).map { String($0) } }
                func text() -> String? { try? object.decode(String.self, forKey: key) }
                let numeric = EventRecord.numericFields.contains(key.stringValue)
                guard let value = numeric ? number() ?? text() : text() ?? number() else {
                    throw RecordProblem("\(key.stringValue): expected a string or a whole number")
                }
                fields.append((key.stringValue, value))
            }
        }
    }
}

/// Where a reader takes its lines from: a file in stockctl, memory in tests and the fuzz harness.
public protocol LineSource {
    /// The next line without its line break, or nil at the end.
    func next() throws -> [UInt8]?
    /// The number of the line `next` returned last, from 1.
    var lineNumber: Int { get }
}

/// Reads the events of a JSON lines file, skipping blank lines. A problem names its line.
public struct JSONLinesReader<Lines: LineSource> {
    public let lines: Lines
    /// One decoder for the whole file: making one per line costs more than decoding a short line.
    private let decoder = JSONDecoder()

    public init(lines: Lines) { self.lines = lines }

    /// The next event and the line it is on, or nil at the end of the file.
    public func next() throws -> (line: Int, event: Event)? {
        while let line = try lines.next() {
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            do {
                return (lines.lineNumber, try JSONLine.parse(line, decoder: decoder))
            } catch {
                throw error.at(lines.lineNumber)
            }
        }
        return nil
    }
}

/// Lines of a file held in memory, split as stockctl splits a file's lines (a `\r` before the `\n`
/// dropped): for tests and the fuzz harness.
public final class MemoryLines: LineSource {
    private let bytes: [UInt8]
    private var offset = 0
    public private(set) var lineNumber = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public func next() -> [UInt8]? {
        guard offset < bytes.count else { return nil }
        lineNumber += 1
        let end = bytes[offset...].firstIndex(of: 0x0A) ?? bytes.count
        var line = Array(bytes[offset..<end])
        offset = end + 1
        if line.last == 0x0D { line.removeLast() }
        return line
    }
}
