import ArgumentParser
import LedgerCore
import LedgerStore

/// `stockctl import`: bulk-loads events from a JSON lines or CSV file into a new data folder, for
/// migrating from another system (or restoring an export).
///
/// Every event is checked against the state folded so far, with the semantics `Ledger.decide`
/// enforces for live writes, before it is folded with the same `Ledger.apply` as everything else: a
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
            case .jsonl: try importer.loadJSONLines(input)
            case .csv: try importer.loadCSV(input)
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

    /// Runs `body` for the record on `line`, naming the file and line in any problem it finds.
    private func at<T>(_ line: Int, seq: UInt64? = nil, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let problem as RecordProblem {
            throw Failure("\(fileName) line \(line)\(seq.map { ", seq \($0)" } ?? ""): \(problem)")
        }
    }

    mutating func loadJSONLines(_ input: LineInput) throws {
        while let line = try input.next() {
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            let event = try at(input.lineNumber) { try EventRecord.event(from: try JSONRecordParser.parse(line)) }
            try add(event, line: input.lineNumber)
            let done = imported + events.count
            progress.tick(done: done, total: nil, detail: Importer.fileShare(input))
        }
    }

    mutating func loadCSV(_ input: LineInput) throws {
        let reader = CSVRecordReader(input: input)
        // A record that cannot be split into fields is reported at the line where that was found.
        func nextRecord() throws -> (line: Int, fields: [String?])? {
            do { return try reader.next() } catch let problem as RecordProblem {
                throw Failure("\(fileName) line \(input.lineNumber): \(problem)")
            }
        }
        guard let header = try nextRecord() else { throw Failure("\(fileName) is empty") }
        let columns = try at(header.line) { try EventRecord.columns(header.fields) }
        while let record = try nextRecord() {
            guard record.fields.count == columns.count else {
                throw Failure("\(fileName) line \(record.line): \(record.fields.count) fields, but the header has \(columns.count)")
            }
            var values: [String: String] = [:]
            for (column, value) in zip(columns, record.fields) { if let value { values[column] = value } }
            let event = try at(record.line) { try EventRecord.event(from: values) }
            try add(event, line: record.line)
            let done = imported + events.count
            progress.tick(done: done, total: nil, detail: Importer.fileShare(input))
        }
    }

    private static func fileShare(_ input: LineInput) -> String {
        input.sizeBytes > 0 ? "\(input.offsetBytes * 100 / input.sizeBytes)% of the file" : ""
    }

    /// Checks one event against the state so far, folds it, and writes a chunk when one is full.
    mutating func add(_ event: Event, line: Int) throws {
        try at(line, seq: event.seq) {
            let expected = chunk.lastSeq + 1
            guard event.seq == expected else {
                throw RecordProblem(event.seq > expected
                    ? "a gap in seqs: expected seq \(expected) (seqs run gapless from 1)"
                    : "seq goes back or repeats: expected seq \(expected)")
            }
            if let previousTime, event.recordedAt < previousTime {
                throw RecordProblem("at \(event.recordedAt) is before the previous event's \(previousTime) "
                                    + "(times may not go back: reads at=TIME search the log by time)")
            }
            if let problem = ImportCheck.problem(event, in: chunk) { throw RecordProblem(problem) }
        }
        Ledger.apply(event, to: &chunk)
        events.append(event)
        previousTime = event.recordedAt
        if let key = event.idempotencyKey, seenKeys.insert(key).inserted {
            idempotency.append((key, IdempotencyRecord(fingerprint: IdempotencyRecord.importedFingerprint, reply: "OK seq=\(event.seq) imported=yes",
                                                       recordedAt: event.recordedAt)))
        }
        if events.count >= ToolLimits.importChunkEventsMax { try flush() }
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

/// The checks `Ledger.decide` makes before a live write, asked of an event that already exists:
/// would this event have been accepted against `state`? An event that passes can be folded
/// without tripping any of the fold's preconditions. Returns what is wrong, or nil.
enum ImportCheck {
    static func problem(_ event: Event, in state: LedgerState) -> String? {
        switch event.body {
        case let .received(sku, wh, quantity, _):
            return room(pair(state, sku, wh).onHand, quantity, "on_hand", sku, wh)

        case let .sold(sku, wh, quantity, reservationID?):
            return reservationProblem(reservationID, sku, wh, quantity, state, verb: "sold")

        case let .sold(sku, wh, quantity, nil):
            return availableProblem(state, sku, wh, quantity, verb: "sold")

        case let .reserved(reservationID, sku, wh, quantity, expiresAt):
            if state.reservation(reservationID) != nil { return "reservation \(reservationID) already exists" }
            if expiresAt <= event.recordedAt { return "expires \(expiresAt) is not after the event's time \(event.recordedAt)" }
            return availableProblem(state, sku, wh, quantity, verb: "reserved")

        case let .released(reservationID, sku, wh, quantity):
            return reservationProblem(reservationID, sku, wh, quantity, state, verb: "released")

        case let .expired(reservationID, sku, wh, quantity):
            if let problem = reservationProblem(reservationID, sku, wh, quantity, state, verb: "expired") { return problem }
            let held = state.reservation(reservationID)!.held
            return quantity == held ? nil
                : "expired \(quantity) of reservation \(reservationID), which holds \(held) (an expiry frees all of it)"

        case let .transferShipped(transferID, sku, from, to, quantity, _):
            if from == to { return "a transfer from \(from) to itself" }
            if state.transfer(transferID) != nil { return "transfer \(transferID) already exists" }
            if let problem = availableProblem(state, sku, from, quantity, verb: "shipped") { return problem }
            return room(pair(state, sku, to).inbound, quantity, "inbound", sku, to)

        case let .transferArrived(transferID, sku, from, to, quantity, lost):
            if let problem = transferProblem(transferID, sku, from, to, landing: quantity + lost, state) { return problem }
            return room(pair(state, sku, to).onHand, quantity, "on_hand", sku, to)

        case let .transferLost(transferID, sku, from, to, lost):
            return transferProblem(transferID, sku, from, to, landing: lost, state)

        case let .adjusted(sku, wh, delta, _):
            return correctionProblem(state, sku, wh, delta)

        case let .counted(sku, wh, quantity, delta, _):
            let onHand = pair(state, sku, wh).onHand
            guard delta == quantity - onHand else {
                return "counted \(quantity) with delta \(delta), but on_hand of \(sku)/\(wh) is \(onHand), so the delta is \(quantity - onHand)"
            }
            return correctionProblem(state, sku, wh, delta)

        case let .returned(sku, wh, quantity):
            return room(pair(state, sku, wh).onHand, quantity, "on_hand", sku, wh)

        case let .expected(po, sku, wh, quantity, _):
            if state.purchaseOrder(po) != nil { return "purchase order \(po) already exists" }
            return room(pair(state, sku, wh).incoming, quantity, "incoming", sku, wh)

        case let .cancelled(po, sku, wh, quantity):
            guard let order = state.purchaseOrder(po) else { return "purchase order \(po) does not exist" }
            guard order.isOpen else { return "purchase order \(po) is closed" }
            guard order.sku == sku && order.wh == wh else { return "purchase order \(po) is for \(order.sku)/\(order.wh), not \(sku)/\(wh)" }
            let remaining = state.pair(order.pair)?.openOrders.first { $0.purchaseOrder == po }?.remaining ?? 0
            return quantity == remaining ? nil
                : "cancelled \(quantity) of purchase order \(po), which has \(remaining) open (a cancel closes all of it)"

        case .policySet:
            return nil
        }
    }

    private static func pair(_ state: LedgerState, _ sku: String, _ wh: String) -> PairState {
        state.pair(PairKey(sku: sku, wh: wh)) ?? PairState()
    }

    private static func room(_ bucket: Int64, _ adding: Int64, _ name: String, _ sku: String, _ wh: String) -> String? {
        bucket + adding <= Limits.bucketQuantityMax ? nil
            : "\(name) of \(sku)/\(wh) would exceed \(Limits.bucketQuantityMax)"
    }

    private static func availableProblem(_ state: LedgerState, _ sku: String, _ wh: String, _ quantity: Int64,
                                         verb: String) -> String? {
        let available = pair(state, sku, wh).available
        return quantity <= available ? nil : "\(verb) \(quantity) of \(sku)/\(wh) but only \(available) available"
    }

    /// A correction may not leave on_hand below what is reserved (nor below 0), nor above the maximum.
    private static func correctionProblem(_ state: LedgerState, _ sku: String, _ wh: String, _ delta: Int64) -> String? {
        let current = pair(state, sku, wh)
        if let problem = room(current.onHand, delta, "on_hand", sku, wh) { return problem }
        return current.onHand + delta >= current.reserved ? nil
            : "a correction of \(delta) would leave on_hand of \(sku)/\(wh) at \(current.onHand + delta), "
              + "below the \(current.reserved) reserved (only \(current.available) available)"
    }

    private static func reservationProblem(_ id: String, _ sku: String, _ wh: String, _ quantity: Int64,
                                           _ state: LedgerState, verb: String) -> String? {
        guard let reservation = state.reservation(id) else { return "reservation \(id) does not exist" }
        guard reservation.status == .open else { return "reservation \(id) is \(reservation.status.name)" }
        guard reservation.sku == sku && reservation.wh == wh else {
            return "reservation \(id) is for \(reservation.sku)/\(reservation.wh), not \(sku)/\(wh)"
        }
        return quantity <= reservation.held ? nil : "\(verb) \(quantity) of reservation \(id), which holds \(reservation.held)"
    }

    private static func transferProblem(_ id: String, _ sku: String, _ from: String, _ to: String, landing: Int64,
                                        _ state: LedgerState) -> String? {
        guard let transfer = state.transfer(id) else { return "transfer \(id) does not exist" }
        guard transfer.isOpen else { return "transfer \(id) is closed" }
        guard transfer.sku == sku && transfer.from == from && transfer.to == to else {
            return "transfer \(id) carries \(transfer.sku) from \(transfer.from) to \(transfer.to), not \(sku) from \(from) to \(to)"
        }
        return landing <= transfer.inTransit ? nil
            : "lands \(landing) (arrived plus lost) of transfer \(id), which has \(transfer.inTransit) in transit"
    }
}
