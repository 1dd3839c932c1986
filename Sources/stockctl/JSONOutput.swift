import Foundation

/// The `--json` output of the commands that print data: Foundation's encoder, keys sorted so the
/// same answer is always the same text. Names are the protocol's (`seq`, `events`).
func jsonText(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
