import Foundation
import LedgerClient
import LedgerCore
import Testing

/// A session written as the docs write it: `> request`, then its reply lines `< ...`. `~ request`
/// is asked again until its reply is the one given (for what the daemon does on its own, such as an
/// expiry). Blank lines and `#` comments are skipped.
struct Transcript {
    struct Step {
        var request: String
        var reply: [String]
        var waits: Bool
    }

    var steps: [Step] = []

    init(_ text: String) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("> ") || line.hasPrefix("~ ") {
                steps.append(Step(request: String(line.dropFirst(2)), reply: [], waits: line.hasPrefix("~")))
            } else if line.hasPrefix("< ") {
                precondition(!steps.isEmpty, "a reply line before any request: \(line)")
                steps[steps.count - 1].reply.append(String(line.dropFirst(2)))
            } else {
                precondition(line.hasPrefix("#") || line.allSatisfy(\.isWhitespace), "not a transcript line: \(line)")
            }
        }
    }

    /// A reply line with what varies from run to run replaced: a time from a day before now to 100
    /// days after is the daemon's clock (`expires=`, at most 90 days ahead, `at=`, `since=`; times the
    /// transcripts send are in 2020 or 2099, or some days ahead where a rule needs a near date, and
    /// those in help texts are past) and becomes `<time>`; `seconds=` of a breach interval becomes
    /// `<seconds>`; this user's uid in `actor=` becomes `<uid>`. Tools/record_session.py does the
    /// same to the recorded session.
    static func normalise(_ reply: String, now: Date = Date()) -> String {
        var line = reply.replacing(try! Regex(#"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"#)) { match -> String in
            let text = String(reply[match.range])
            guard let when = Timestamp(rfc3339: Substring(text)) else { return text }
            let seconds = Double(when.microseconds) / 1e6 - now.timeIntervalSince1970
            return seconds > -86_400 && seconds < 100 * 86_400 ? "<time>" : text
        }
        if line.hasPrefix("interval ") { line = line.replacing(try! Regex(#"\bseconds=\d+"#), with: "seconds=<seconds>") }
        if line.hasPrefix(#"{"row":"interval""#) { line = line.replacing(try! Regex(#""seconds":\d+"#), with: #""seconds":"<seconds>""#) }
        let uid = getuid()
        line = line.replacing(try! Regex(#"\bactor=\#(uid)\b"#), with: "actor=<uid>")
        return line.replacing(try! Regex(#""actor":\#(uid)\b"#), with: #""actor":"<uid>""#)
    }

    /// Reads one reply and normalises it.
    static func reply(to request: String, on client: LineClient) throws -> [String] {
        try client.request(request).map { normalise($0) }
    }

    /// Plays the transcript on `client` and expects every reply as written. `json`: the connection
    /// said `HELLO format=json`, so each reply line must be the JSON form of the line the transcript
    /// gives, JSON types included (see `JSONLine`).
    func play(on client: LineClient, json: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) throws {
        for step in steps {
            var got = try Transcript.reply(to: step.request, on: client)
            if step.waits {
                _ = try eventually { got = try Transcript.reply(to: step.request, on: client); return matches(got, step.reply, json) }
            }
            guard json else {
                #expect(got == step.reply, "> \(step.request)", sourceLocation: sourceLocation)
                continue
            }
            let differing = zip(got, step.reply).flatMap { JSONLine.differingKeys($0, $1) }
            #expect(matches(got, step.reply, json),
                    "> \(step.request)\n\(got.joined(separator: "\n"))\nexpected the JSON form of\n\(step.reply.joined(separator: "\n"))\nkeys that differ: \(differing)",
                    sourceLocation: sourceLocation)
        }
    }

    private func matches(_ got: [String], _ expected: [String], _ json: Bool) -> Bool {
        json ? got.count == expected.count && zip(got, expected).allSatisfy { JSONLine.parse($0) == JSONLine.typed($1) } : got == expected
    }
}

/// The JSON form of a reply line (docs/protocol.md, "JSON replies"): `{"ok":true,...}`,
/// `{"err":"CODE","msg":"<the words that are not pairs>",...}`, `{"row":"<word>",...}`; counts are
/// JSON numbers, yes/no flags JSON booleans, everything else a string.
enum JSONLine {
    enum Value: Decodable, Equatable {
        case bool(Bool), number(Int64), string(String)

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(Bool.self) { self = .bool(value) }
            else if let value = try? container.decode(Int64.self) { self = .number(value) }
            else { self = .string(try container.decode(String.self)) }
        }
    }

    /// The members a line-form reply line becomes, typed by the protocol's rules: a whole number is a
    /// count (a signed `+30` is not), `yes`/`no` a flag, a quoted value and anything else a string.
    static func typed(_ line: String) -> [String: Value] {
        var tokens = words(line)
        guard !tokens.isEmpty else { return [:] }
        let word = tokens.removeFirst()
        var members: [String: Value] = [:]
        var message: [String] = []
        switch word {
        case "OK": members["ok"] = .bool(true)
        case "ERR": members["err"] = .string(tokens.isEmpty ? "" : tokens.removeFirst())
        default: members["row"] = .string(word)
        }
        for token in tokens {
            // An error's pairs come before its text; a `key=value` inside the text is text.
            guard let equals = token.firstIndex(of: "="), word != "ERR" || message.isEmpty else {
                message.append(token)
                continue
            }
            var value = String(token[token.index(after: equals)...])
            if value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 {
                value = String(value.dropFirst().dropLast()).replacingOccurrences(of: #"\""#, with: "\"")
                members[String(token[..<equals])] = .string(value)
            } else if value == "yes" || value == "no" {
                members[String(token[..<equals])] = .bool(value == "yes")
            } else if let number = Int64(value), !value.hasPrefix("+") {
                members[String(token[..<equals])] = .number(number)
            } else {
                members[String(token[..<equals])] = .string(value)
            }
        }
        if word == "ERR" { members["msg"] = .string(message.joined(separator: " ")) }
        else if !message.isEmpty { members["text"] = .string(message.joined(separator: " ")) }
        return members
    }

    /// A JSON reply line's members, nil when it is not a JSON object.
    static func parse(_ line: String) -> [String: Value]? {
        try? JSONDecoder().decode([String: Value].self, from: Data(line.utf8))
    }

    /// The keys whose member in a JSON reply line is missing, extra, or not the value and JSON type
    /// the line form gives (`<not JSON>` when the line does not parse).
    static func differingKeys(_ json: String, _ expected: String) -> [String] {
        guard let members = parse(json) else { return ["<not JSON>"] }
        let typed = typed(expected)
        return Set(members.keys).union(typed.keys).filter { members[$0] != typed[$0] }.sorted()
    }

    /// The words of a line; a quoted value (`reason="broken pallet"`) stays one word.
    static func words(_ line: String) -> [String] {
        var words: [String] = [], current = "", quoted = false, escaped = false
        for character in line {
            if quoted {
                current.append(character)
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { quoted = false }
            } else if character == " " {
                if !current.isEmpty { words.append(current); current = "" }
            } else {
                if character == "\"" { quoted = true }
                current.append(character)
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }
}
