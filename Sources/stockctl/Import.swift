import ArgumentParser
import LedgerCore
import LedgerExchange
import LedgerStore

/// `stockctl import`: bulk-loads events from a JSON lines or CSV file into a new data folder, for
/// migrating from another system (or restoring an export).
///
/// Every event is checked against the state folded so far with `Ledger.check` (which asks
/// `Ledger.decide`, the rules of live writes), before it is folded with the same `Ledger.apply` as everything else: a
/// file that oversells, names an unknown reservation or skips a seq is refused with its line
/// number, and the half-made store is removed. Nothing is ever written into an existing store.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load events from a JSON lines or CSV file (as export writes them) into a NEW data folder.",
        discussion: """
            Seqs must run gapless from 1 and times must not go back; each event must fit the ledger as \
            folded so far (nothing sold that is not available, no unknown or closed reservation, transfer \
            or purchase order). The first problem stops the import with its line number and removes what \
            was written. At the end the new store is checked as 'stockctl verify' does.

            Each event's id= is kept as an idempotency key (fingerprint "imported", reply \
            "OK seq=N imported=yes"), so stockd never applies a retried request with that id a second \
            time: it answers the retry "OK seq=N imported=yes dup=yes".
            """)
    @Argument(help: "The file to load (.jsonl or .csv; see --format).") var file: String
    @Option(help: "The new data folder: created if missing; refused if it already holds a store.") var data: String
    @Option(help: "jsonl or csv (default: from the file's extension).") var format: EventFileFormat?

    func run() throws {
        guard let format = format ?? EventFileFormat.guess(from: file) else {
            throw Failure("cannot tell the format of \(file) from its name: give --format jsonl or --format csv")
        }
        if Folder.exists(data) && !Folder.isDirectory(data) { throw Failure("\(data) exists and is not a folder") }
        if Folder.exists(data + "/data.mdb") {
            throw Failure("\(data) already holds a store (data.mdb): import only fills a new data folder")
        }
        let input = try LineInput(path: file)
        let folderExisted = Folder.exists(data)
        let store: LedgerStore
        do {
            store = try LedgerStore(directory: data, create: true)
        } catch {
            Folder.removeStore(data, removeFolder: !folderExisted)
            throw Failure("cannot create a store in \(data): \(error)")
        }
        var importer = Importer(store: store, fileName: file)
        do {
            switch format {
            case .jsonl:
                let reader = JSONLinesReader(lines: input)
                try importer.load(input) { try reader.next() }
            case .csv:
                let reader = try importer.reading { try CSVEventReader(stream: FileInputStream(input)) }
                try importer.load(input) { try reader.next() }
            }
            try importer.flush()
            guard importer.imported > 0 else { throw Failure("\(file) holds no events") }
            store.close()
        } catch {
            store.close()
            Folder.removeStore(data, removeFolder: !folderExisted)
            throw Failure("\(error); nothing imported (\(folderExisted ? "store files removed from" : "removed") \(data))")
        }
        let seconds = importer.progress.elapsedSeconds
        print("imported \(importer.imported) events (seq 1...\(importer.imported)) from \(file) into \(data) "
              + "in \(format3(seconds)) s, \(importer.progress.rate(importer.imported)) events/s; "
              + "\(importer.keysRecorded) idempotency keys recorded")

        let check = try openExistingStore(data)
        defer { check.close() }
        let result = verifyStore(check)
        print("verify: " + result.summary)
        if !result.faults.isEmpty { throw ExitCode(1) }
    }
}

/// Everything folded so far: the source behind each chunk's partial state, so a chunk's state holds
/// exactly the entities its events touched, which are the ones to persist (as the daemon's writer
/// does with the stored projections as source).
final class FoldedLedger: LedgerSource {
    var state = LedgerState()

    func pair(_ key: PairKey) -> PairState? { state.pairs[key] }
    func reservation(_ id: String) -> Reservation? { state.reservations[id] }
    func transfer(_ id: String) -> Transfer? { state.transfers[id] }
    func purchaseOrder(_ id: String) -> PurchaseOrder? { state.purchaseOrders[id] }

    func absorb(_ chunk: LedgerState) {
        for (key, pair) in chunk.pairs { state.pairs[key] = pair }
        for (id, reservation) in chunk.reservations { state.reservations[id] = reservation }
        for (id, transfer) in chunk.transfers { state.transfers[id] = transfer }
        for (id, order) in chunk.purchaseOrders { state.purchaseOrders[id] = order }
        state.lastSeq = chunk.lastSeq
    }
}

/// Checks, folds and writes events in chunks of `ToolLimits.importChunkEventsMax`.
struct Importer {
    let store: LedgerStore
    let fileName: String
    let folded = FoldedLedger()
    var chunk: LedgerState
    var events: [Event] = []
    var idempotency: [(String, IdempotencyRecord)] = []
    var seenKeys: Set<String> = []
    var previousTime: Timestamp?
    private(set) var imported = 0
    private(set) var keysRecorded = 0
    var progress = Progress(verb: "import")

    init(store: LedgerStore, fileName: String) {
        self.store = store
        self.fileName = fileName
        chunk = LedgerState(source: folded)
    }

    /// Runs `body`, naming the file (and the line, for a `RecordProblem`) in any problem it finds.
    func reading<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let problem as RecordProblem {
            throw Failure("\(fileName)\(problem.line.map { " line \($0)" } ?? ""): \(problem.message)")
        }
    }

    /// Adds every event `next` reads, until it returns nil.
    mutating func load(_ input: LineInput, _ next: () throws -> (line: Int, event: Event)?) throws {
        while let (line, event) = try reading(next) {
            try add(event, line: line)
            progress.tick(done: imported + events.count, total: nil,
                          detail: input.sizeBytes > 0 ? "\(input.offsetBytes * 100 / input.sizeBytes)% of the file" : "")
        }
    }

    /// Checks one event against the state so far, folds it, and writes a chunk when one is full.
    mutating func add(_ event: Event, line: Int) throws {
        if let problem = problem(event) { throw Failure("\(fileName) line \(line), seq \(event.seq): \(problem)") }
        Ledger.apply(event, to: &chunk)
        events.append(event)
        previousTime = event.recordedAt
        if let key = event.idempotencyKey, seenKeys.insert(key).inserted {
            idempotency.append((key, IdempotencyRecord(fingerprint: IdempotencyRecord.importedFingerprint, reply: "OK seq=\(event.seq) imported=yes",
                                                       recordedAt: event.recordedAt)))
        }
        if events.count >= ToolLimits.importChunkEventsMax { try flush() }
    }

    /// What keeps `event` from following the events so far: a seq out of line, a time going back, or
    /// what `Ledger.check` refuses.
    private func problem(_ event: Event) -> String? {
        let expected = chunk.lastSeq + 1
        guard event.seq == expected else {
            return event.seq > expected
                ? "a gap in seqs: expected seq \(expected) (seqs run gapless from 1)"
                : "seq goes back or repeats: expected seq \(expected)"
        }
        if let previousTime, event.recordedAt < previousTime {
            return "at \(event.recordedAt) is before the previous event's \(previousTime) "
                + "(times may not go back: reads at=TIME search the log by time)"
        }
        switch Ledger.check(event, in: chunk) {
        case nil: return nil
        case let .insufficient(available, requested, sku, wh)?:
            return "\(event.body.kind.name) \(requested) of \(sku)/\(wh) but only \(available) available"
        case let .notFound(entity, id)?: return "\(entity.name) \(id) does not exist"
        case let .closed(entity, id, status)?: return "\(entity.name) \(id) is \(status)"
        case let .state(what)?, let .argument(what)?, let .limit(what)?: return what
        case let .unpromisable(available, promisable, preorderLeft, requested)?:
            return "\(event.body.kind.name) \(requested) but only \(available) available, \(promisable) promisable, \(preorderLeft) under the pre-order cap"
        case let .insufficientFree(free, requested)?:
            return "allotted \(requested) more but only \(free) free"
        case let .unallocatable(available, requested, _)?:
            return "allocated \(requested) but only \(available) could be"
        case let .awaiting(reservation, held, awaiting)?:
            return "reservation \(reservation) holds \(held) and still awaits \(awaiting)"
        }
    }

    /// Writes the pending events, their idempotency keys and the entities they touched in one write
    /// transaction (committed and synced before it returns).
    mutating func flush() throws {
        guard !events.isEmpty else { return }
        try store.write { [events, idempotency, chunk] writer in
            for event in events { try writer.append(event) }
            for (key, record) in idempotency { try writer.putIdempotencyRecord(key, record) }
            try writer.persist(chunk)
        }
        folded.absorb(chunk)
        imported += events.count
        keysRecorded += idempotency.count
        chunk = LedgerState(source: folded)
        chunk.lastSeq = folded.state.lastSeq
        events.removeAll(keepingCapacity: true)
        idempotency.removeAll()
    }
}

