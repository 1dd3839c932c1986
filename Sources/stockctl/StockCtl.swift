import ArgumentParser
import LedgerClient
import LedgerCore
import LedgerExchange
import LedgerProtocol
import LedgerStore
#if canImport(Glibc)
import Glibc
#endif

/// stockctl: the admin tool. Offline commands open the data folder read-only (safe beside a running
/// stockd: LMDB readers never block the writer); `send` talks to a running daemon's socket; `import`
/// is the one command that writes, and only into a new folder.
@main
struct StockCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stockctl",
        abstract: "Inspect, replay, verify, back up, export and import a stockd ledger; talk to a running stockd.",
        version: StockdVersion.current,
        subcommands: [Replay.self, Verify.self, Stat.self, Events.self, Stock.self, Backup.self, Export.self,
                      Import.self, Send.self, Watch.self, Top.self, Metrics.self],
        // `stockctl` alone is the interactive session, as `redis-cli` alone is.
        defaultSubcommand: Send.self)

    /// The exit code of a command that met a damaged store, as stockd's (docs/operating.md).
    static let storeDamagedExitCode: Int32 = 3

    /// ArgumentParser's own main, except that damage met anywhere exits 3 with its one line.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let damage as StoreDamage {
            printError("Error: \(damage)")
            Glibc.exit(storeDamagedExitCode)
        } catch {
            exit(withError: error)
        }
    }
}

struct DataOptions: ParsableArguments {
    @Option(help: "The stockd data folder.")
    var data = "var/data"

    /// Opens the store read-only; a folder that is not a store is refused in one line.
    func openStore() throws -> LedgerStore { try openExistingStore(data) }
}

struct SocketOptions: ParsableArguments {
    @Option(help: "The socket of a running stockd.")
    var socket = "var/stockd.sock"
}

/// Monotonic seconds, for events/s figures.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// The outcome of folding the log from nothing and comparing with the stored projections.
struct ReplayReport {
    var events = 0
    var seconds = 0.0
    var lastSeq: UInt64 = 0
    var storedSeq: UInt64 = 0
    var differences: [String] = []
    /// Holding and promise invariants the replayed state breaks (`Ledger.promiseProblems`), when asked.
    var problems: [String] = []
}

/// Folds the whole log (or up to `to`) and, when it reached the end of the log, compares with what
/// the daemon would start from: the stored checkpoint plus the log after it, folded. Both are read in one read transaction, so a running daemon does not disturb the
/// comparison. Reading and decoding run on this thread and folding on a second one (the fold is the
/// same `Ledger.apply`; only the work is split), so both cores work on a long replay. Events are
/// decoded into a batch's buffer in place and moved out of it to be folded: never copied. With
/// `checkInvariants`, the replayed state's holding and promise invariants are checked too.
func replay(_ store: LedgerStore, to: UInt64?, compare: Bool, checkInvariants: Bool = false) throws -> ReplayReport {
    try store.read { reader in
        var report = ReplayReport()
        report.storedSeq = try reader.logEnd()
        // The checkpoint's pair count sizes the fold's table once (a hint: the tail may add pairs).
        let storedPairs = (try? reader.entryCounts().first { $0.0 == "pairs" }?.1) ?? 0
        let pipe = EventPipe()
        let folder = ReplayFolder(pipe: pipe, expectedPairs: storedPairs)
        let thread = folder.start()
        let start = monotonicSeconds()
        var events = 0
        var batch = pipe.emptyBatch()
        do {
            // forEachRawEvent checks the log is gapless; a record that does not decode is damage too.
            try reader.forEachRawEvent(from: 1) { seq, bytes in
                if let to, seq > to { return false }
                batch.append(try reader.damage(at: seq) { try EventCodec.decode(seq: seq, bytes) })
                if batch.isFull {
                    pipe.put(batch)
                    batch = pipe.emptyBatch()
                }
                events += 1
                return true
            }
        } catch {
            pipe.finish()
            pthread_join(thread, nil)
            throw error
        }
        if !batch.isEmpty { pipe.put(batch) }
        pipe.finish()
        pthread_join(thread, nil)
        let state = folder.state
        report.seconds = monotonicSeconds() - start
        report.events = events
        report.lastSeq = state.lastSeq
        if checkInvariants { report.problems = Ledger.promiseProblems(in: state) }
        if compare && (to == nil || to! >= report.storedSeq) {
            var stored = try reader.loadState()
            try reader.forEachEvent(from: stored.lastSeq + 1) { event in
                Ledger.apply(event, to: &stored)
                return true
            }
            report.differences = differences(stored: stored, replayed: state)
        }
        return report
    }
}

/// Decoded events in a buffer of their own, reused batch after batch: the reader initializes each
/// event in place, the folder moves each out to fold it.
final class EventBatch {
    private let events: UnsafeMutablePointer<Event>
    private(set) var count = 0

    init() { events = .allocate(capacity: EventPipe.batchEventsMax) }

    deinit {
        events.deinitialize(count: count)
        events.deallocate()
    }

    var isEmpty: Bool { count == 0 }
    var isFull: Bool { count == EventPipe.batchEventsMax }

    func append(_ event: __owned Event) {
        precondition(count < EventPipe.batchEventsMax, "event batch overfilled")
        (events + count).initialize(to: event)
        count += 1
    }

    /// Moves every event out to `body`, in order, and leaves the batch empty.
    func drain(_ body: (Event) -> Void) {
        let drained = count
        count = 0
        for index in 0..<drained { body((events + index).move()) }
    }
}

/// A bounded hand-off of decoded events from the reading thread to the folding thread, and of
/// drained batches back to the reader for reuse.
// Shared across threads safely: every mutable property is read and written only with `mutex` held.
final class EventPipe: @unchecked Sendable {
    /// Events per hand-off: large enough that locking is noise, small enough to stay in cache.
    static let batchEventsMax = 8_192
    /// Batches in flight: the reader may run this far ahead of the fold, and no further.
    static let batchesInFlightMax = 4
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var batches: [EventBatch] = []
    private var drained: [EventBatch] = []
    private var finished = false

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    /// Hands `batch` to the folder, waiting while too many are in flight.
    func put(_ batch: EventBatch) {
        pthread_mutex_lock(&mutex)
        while batches.count >= EventPipe.batchesInFlightMax { pthread_cond_wait(&condition, &mutex) }
        batches.append(batch)
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }

    /// An empty batch for the reader: one the folder drained, or a new one.
    func emptyBatch() -> EventBatch {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return drained.popLast() ?? EventBatch()
    }

    func finish() {
        pthread_mutex_lock(&mutex)
        finished = true
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }

    /// The next batch, or nil once the reader has finished and everything was taken.
    func take() -> EventBatch? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while batches.isEmpty && !finished { pthread_cond_wait(&condition, &mutex) }
        guard !batches.isEmpty else { return nil }
        let batch = batches.removeFirst()
        pthread_cond_broadcast(&condition)
        return batch
    }

    /// Gives a drained batch back to the reader.
    func giveBack(_ batch: EventBatch) {
        pthread_mutex_lock(&mutex)
        drained.append(batch)
        pthread_mutex_unlock(&mutex)
    }
}

/// The folding side of a replay: applies every batch from the pipe to one state, on its own thread.
// Shared across threads safely: `state` is written only by the folding thread, and read by the starting
// thread only after `pthread_join` on it (which orders the two).
final class ReplayFolder: @unchecked Sendable {
    let pipe: EventPipe
    let expectedPairs: Int
    private(set) var state = LedgerState()

    init(pipe: EventPipe, expectedPairs: Int) {
        self.pipe = pipe
        self.expectedPairs = expectedPairs
    }

    func start() -> pthread_t {
        var thread = pthread_t()
        let box = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { raw in
            let folder = Unmanaged<ReplayFolder>.fromOpaque(raw!).takeRetainedValue()
            folder.run()
            return nil
        }, box)
        return thread
    }

    private func run() {
        var state = LedgerState()
        state.pairs.reserveCapacity(expectedPairs)
        while let batch = pipe.take() {
            batch.drain { Ledger.apply($0, to: &state) }
            pipe.giveBack(batch)
        }
        self.state = state
    }
}

/// Readable differences between two states: one line per entity that differs.
func differences(stored: LedgerState, replayed: LedgerState) -> [String] {
    var lines: [String] = []
    if stored.lastSeq != replayed.lastSeq {
        lines.append("last seq: stored \(stored.lastSeq), replayed \(replayed.lastSeq)")
    }
    func compare<K: Hashable & Comparable, V: Equatable>(_ what: String, _ a: [K: V], _ b: [K: V], _ show: (K, V) -> String) {
        for key in Set(a.keys).union(b.keys).sorted() where a[key] != b[key] {
            lines.append("\(what) differs:")
            lines.append("  stored:   " + (a[key].map { show(key, $0) } ?? "(missing)"))
            lines.append("  replayed: " + (b[key].map { show(key, $0) } ?? "(missing)"))
        }
    }
    compare("pair", stored.pairs, replayed.pairs) { Rows.stock($0, $1) + " orders=\($1.openOrders.map(\.purchaseOrder))" }
    compare("reservation", stored.reservations, replayed.reservations) { Rows.reservation($1) + " status=\($1.status.name)" }
    compare("transfer", stored.transfers, replayed.transfers) { _, value in Rows.transfer(value) }
    compare("purchase order", stored.purchaseOrders, replayed.purchaseOrders) { id, order in
        "po=\(id) sku=\(order.sku) wh=\(order.wh) ordered=\(order.ordered) open=\(order.isOpen)"
    }
    return lines
}

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fold the whole log from nothing, report events/s, and compare with the stored projections.")
    @OptionGroup var options: DataOptions
    @Option(help: "Stop after this seq (no comparison unless it reaches the stored seq).")
    var to: UInt64?

    func run() throws {
        let store = try options.openStore()
        defer { store.close() }
        let report = try replay(store, to: to, compare: true)
        let rate = report.seconds > 0 ? Double(report.events) / report.seconds : 0
        print("replayed \(report.events) events to seq \(report.lastSeq) in \(String(format3(report.seconds))) s: \(Int(rate)) events/s")
        if let to, to < report.storedSeq {
            print("stopped at seq \(to) before the stored seq \(report.storedSeq): nothing compared")
            return
        }
        if report.differences.isEmpty {
            print("no difference: the checkpoint and the log after it equal the replay at seq \(report.storedSeq)")
        } else {
            for line in report.differences.prefix(200) { print(line) }
            print("DIFFERENT: \(report.differences.filter { $0.hasSuffix("differs:") }.count) entities differ")
            throw ExitCode(1)
        }
    }
}

func format3(_ value: Double) -> String {
    let thousandths = Int((value * 1000).rounded())
    let fraction = String(thousandths % 1000)
    return "\(thousandths / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the store: gapless log, every record readable, indexes in step, projections equal to a replay, "
            + "holding and promise invariants kept. "
            + "Exit 3 on damage, 1 on any other fault.")
    @OptionGroup var options: DataOptions
    @Flag(help: "One JSON object: ok, events, seq, damaged, faults.") var json = false

    /// What `--json` prints.
    struct Summary: Encodable {
        var ok: Bool
        var events: Int
        var seq: UInt64
        var damaged: Bool
        var faults: [String]
    }

    func run() throws {
        let store = try options.openStore()
        defer { store.close() }
        let result = verifyStore(store)
        if json {
            print(try jsonText(Summary(ok: result.faults.isEmpty, events: result.report.events, seq: result.report.storedSeq,
                                       damaged: result.damaged, faults: result.faults)))
        } else {
            print(result.summary)
        }
        if result.damaged { throw ExitCode(StockCtl.storeDamagedExitCode) }
        if !result.faults.isEmpty { throw ExitCode(1) }
    }
}

/// The outcome of `stockctl verify`: the faults found (none for a healthy store) and what to print.
struct VerifyResult {
    var faults: [String]
    /// True when a fault is damage (a record, page or meta value that is not what stockd wrote).
    var damaged: Bool
    var report: ReplayReport

    var summary: String {
        faults.isEmpty ? "ok: \(report.events) events, seq \(report.storedSeq), checkpoint and tail equal the replay"
                       : faults.joined(separator: "\n")
    }
}

/// Verify reports at most this many damaged records of the log: enough to see the ranges to
/// recover, few enough that a wholly overwritten file does not print millions of lines.
let verifyDamageReportsMax = 1_000

/// Checks a store: the log's ends, gapless log, indexes in step with the checkpoint and the
/// reservations, checkpoint plus tail equal to a replay from nothing, and the replayed state keeping
/// every holding and promise invariant (held ≤ on_hand, promised per order ≤ its remainder, the
/// buckets equal to their lines, the waiting lists; `Ledger.promiseProblems`). Each check that meets damage
/// reports it and the others still run; when the replay meets damage in the log, every damaged
/// record and page of the log is listed (`LedgerStore.logDamage`). Never crashes on what the file
/// holds. Shared by `verify` and by `import`, which checks what it wrote.
func verifyStore(_ store: LedgerStore) -> VerifyResult {
    var result = VerifyResult(faults: [], damaged: false, report: ReplayReport())
    func check(_ body: () throws -> Void) {
        do { try body() } catch {
            result.damaged = result.damaged || error is StoreDamage
            result.faults.append("\(error)")
        }
    }
    check { try store.read { try $0.checkLogEnds() } }
    check {
        try store.read { reader in
            let checkpoint = try reader.checkpoint()
            let indexed = try reader.indexedSeqCount()
            if UInt64(indexed) != checkpoint {
                result.faults.append("sku_index holds \(indexed) seqs for the \(checkpoint) events up to the checkpoint")
            }
        }
    }
    check {
        try store.read { reader in
            let expiries = Dictionary(uniqueKeysWithValues: try reader.entryCounts())["expiry"] ?? 0
            var open = 0
            try reader.forEachReservation { if $0.status == .open { open += 1 }; return true }
            if open != expiries { result.faults.append("expiry index has \(expiries) entries for \(open) open reservations") }
        }
    }
    do {
        result.report = try replay(store, to: nil, compare: true, checkInvariants: true)
        result.faults += result.report.differences + result.report.problems.map { "invariant: \($0)" }
    } catch {
        let logDamage = store.logDamage(limit: verifyDamageReportsMax)
        result.damaged = result.damaged || error is StoreDamage || !logDamage.isEmpty
        result.faults += logDamage.isEmpty ? ["\(error)"] : logDamage.map(\.description)
        if logDamage.count == verifyDamageReportsMax { result.faults.append("(stopped after \(verifyDamageReportsMax) damaged records)") }
    }
    return result
}

struct Stat: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Events, last seq, sizes and entry counts of a store.")
    @OptionGroup var options: DataOptions
    @Flag(help: "One JSON object instead of one `name value` line each.") var json = false

    func run() throws {
        let store = try options.openStore()
        defer { store.close() }
        // `seq` as INFO names the log's last position; the rest as the databases and LMDB name them.
        var figures: [(String, Int)] = try store.read { reader in
            var figures = [("seq", Int(try reader.logEnd())), ("checkpoint_seq", Int(try reader.checkpoint()))]
            figures += try reader.entryCounts()
            var open = 0
            try reader.forEachReservation { if $0.status == .open { open += 1 }; return true }
            figures.append(("open_reservations", open))
            return figures
        }
        figures += [("data_bytes", store.dataFileBytes), ("map_bytes", store.environment.mapSizeBytes),
                    ("page_bytes", store.environment.pageSizeBytes),
                    ("used_bytes", (store.environment.lastPageNumber + 1) * store.environment.pageSizeBytes)]
        if json {
            print(try jsonText(Dictionary(figures, uniquingKeysWith: { first, _ in first })))
        } else {
            for (name, value) in figures { print("\(name) \(value)") }
        }
    }
}

struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print events from the log, as protocol rows or JSON lines.")
    @OptionGroup var options: DataOptions
    @Option(help: "First seq to print.") var from: UInt64 = 1
    @Option(help: "At most this many events.") var limit: Int = 1_000
    @Flag(help: "One JSON object per line instead of protocol rows.") var json = false

    func run() throws {
        let store = try options.openStore()
        defer { store.close() }
        var printed = 0
        try store.read { reader in
            try reader.forEachEvent(from: from) { event in
                print(json ? JSONLine.event(event) : Rows.event(event))
                printed += 1
                return printed < limit
            }
        }
    }
}

extension String {
    func trimmingCharacters(in characters: String) -> Substring {
        let set = Set(characters)
        var text = Substring(self)
        while let first = text.first, set.contains(first) { text.removeFirst() }
        while let last = text.last, set.contains(last) { text.removeLast() }
        return text
    }
}
