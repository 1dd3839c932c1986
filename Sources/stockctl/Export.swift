import ArgumentParser
import LedgerCore
import LedgerExchange
import LedgerStore

/// The two file formats of export and import.
enum EventFileFormat: String, ExpressibleByArgument, CaseIterable {
    case jsonl, csv

    /// The format a file name suggests: `.jsonl`, `.ndjson` or `.json` for JSON lines, `.csv` for CSV.
    static func guess(from path: String) -> EventFileFormat? {
        let lowered = path.lowercased()
        if lowered.hasSuffix(".csv") { return .csv }
        if lowered.hasSuffix(".jsonl") || lowered.hasSuffix(".ndjson") || lowered.hasSuffix(".json") { return .jsonl }
        return nil
    }
}

/// `stockctl export`: every event of a range of the log, one per line, as JSON lines or CSV.
///
/// Safe beside a running stockd. The log is append-only, so the range is fixed when the export
/// starts (up to the last seq then, or `--to`) and read in short read transactions of
/// `ToolLimits.exportChunkEventsMax` events: a long export never pins old pages for long.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the events of the log (or of --from/--to) as JSON lines or CSV, one event per line.")
    @OptionGroup var options: DataOptions
    @Option(help: "jsonl (one JSON object per line, as 'events --json') or csv (RFC 4180, with a header; text starting like a spreadsheet formula gets a ' in front).")
    var format: EventFileFormat
    @Option(help: "First seq to export.") var from: UInt64 = 1
    @Option(help: "Last seq to export (default: the last seq when the export starts).") var to: UInt64?
    @Option(help: "Write to this file instead of stdout (written as FILE.partial, renamed when complete).")
    var output: String?

    func validate() throws {
        guard from >= 1 else { throw ValidationError("--from: seqs start at 1") }
        if let to, to < from { throw ValidationError("--to \(to) is before --from \(from)") }
    }

    func run() throws {
        let store = try options.openStore()
        defer { store.close() }
        let lastSeq = try store.read { try $0.logEnd() }
        let last = min(to ?? lastSeq, lastSeq)
        let total = last >= from ? Int(clamping: last - from + 1) : 0
        let out = try LineOutput(path: output)
        var progress = Progress(verb: "export")
        var done = 0
        do {
            if format == .csv { out.write(CSVLine.header) }
            var next = from
            while next <= last {
                // One short read transaction per chunk (LMDB: long-lived readers make the file grow).
                try store.read { reader in
                    var inChunk = 0
                    // A gap or a damaged record throws StoreDamage: stockctl exits 3 naming its seq.
                    try reader.forEachEvent(from: next) { event in
                        out.write(format == .csv ? CSVLine.event(event) : JSONLine.event(event))
                        next += 1
                        inChunk += 1
                        return next <= last && inChunk < ToolLimits.exportChunkEventsMax
                    }
                    if inChunk == 0 { throw Failure("the log has no event \(next) although the store is at seq \(last)") }
                }
                done = Int(clamping: next - from)
                progress.tick(done: done, total: total)
            }
            try out.finish()
        } catch {
            out.abandon()
            throw error
        }
        let range = total > 0 ? "seq \(from)...\(last)" : "nothing in range"
        printError("exported \(done) events (\(range)) as \(format.rawValue)\(output.map { " to \($0)" } ?? "") "
                   + "in \(format3(progress.elapsedSeconds)) s, \(progress.rate(done)) events/s")
    }
}
