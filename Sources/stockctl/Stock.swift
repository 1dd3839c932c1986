import ArgumentParser
import LedgerCore
import LedgerProtocol
import LedgerStore

/// `stockctl stock`: the STOCK answer read straight from a store, with the daemon's rows and `OK`
/// line, so it can be compared line for line with `stockctl send 'STOCK ...'`. Works on a backup
/// or a stopped daemon's folder as well as beside a running one.
struct Stock: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The STOCK answer of one sku, offline: one stock row per warehouse, the total row, then OK.")
    @OptionGroup var options: DataOptions
    @Option(help: "The sku.") var sku: String
    @Option(help: "Only this warehouse.") var wh: String?
    @Option(help: "As of an RFC 3339 time (UTC) or seq:N (the state right after event N).") var at: String?
    @Flag(help: "Each line as the daemon's JSON replies print it (HELLO format=json).") var json = false

    func validate() throws {
        // The protocol's rules for identifiers, and its messages ("sku: only A-Z ... are allowed").
        for (key, value) in [("sku", sku), ("wh", wh)] {
            guard let value else { continue }
            do {
                var fields = try ArgumentFields([(key, value)])
                _ = try fields.identifier(key)
            } catch {
                throw ValidationError("--\(error.message)")
            }
        }
        if let at, Stock.logPoint(at) == nil { throw ValidationError("--at: expected an RFC 3339 time or seq:N") }
    }

    /// `seq:N` or an RFC 3339 time, as the protocol's `at=` takes them.
    static func logPoint(_ text: String) -> LogPoint? {
        if text.hasPrefix("seq:") {
            let digits = text.dropFirst(4)
            guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let seq = UInt64(digits) else { return nil }
            return .seq(seq)
        }
        return Timestamp(rfc3339: Substring(text)).map(LogPoint.time)
    }

    func run() throws {
        let store = try options.openStore()
        defer { store.close() }
        // The same answer as the daemon's STOCK at= (StoreReader.stock), in one short read transaction:
        // the sku's events through the stored index, then those after the checkpoint.
        let lines: [String] = try store.read { reader in
            let (pairs, seq) = try reader.stock(sku: sku, wh: wh, at: at.flatMap(Stock.logPoint),
                                                tail: try reader.unindexedTail().only(sku))
            let rows = pairs.map { Rows.stock($0.0, $0.1) } + [Rows.total(sku: sku, pairs)]
            return rows + ["OK rows=\(rows.count) seq=\(seq)"]
        }
        lines.forEach { print(json ? JSONReply.object(for: $0) : $0) }
    }
}
