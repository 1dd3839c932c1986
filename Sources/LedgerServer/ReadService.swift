import LedgerCore
import LedgerProtocol
import LedgerStore
import Logging
import NIOCore
import Synchronization

fileprivate extension LogPoint {
    var time: Timestamp? { if case .time(let time) = self { time } else { nil } }
}

/// Answers the read verbs. The present (STOCK without `at=`, BREACHES, REORDER, RESERVATIONS,
/// TRANSFERS) comes from the live view in memory; the past and the log (`at=`, HISTORY, BREACHES
/// history, EVENTS) from a short LMDB read transaction, with the per-sku seqs not yet in the stored
/// index taken from memory first. Neither waits for the writer beyond the view's short lock.
public struct ReadService: Sendable {
    let store: LedgerStore
    let view: LiveView
    let version: String
    let startedAt: Timestamp
    let clock: @Sendable () -> Timestamp
    let connectionCount: @Sendable () -> Int
    let writerStatistics: @Sendable () -> LedgerWriter.Statistics
    let damageLog: DamageLog
    let metrics: ServerMetrics
    /// Watchers and the slowest one's progress, for METRICS.
    let watchers: WatchHub

    init(store: LedgerStore, view: LiveView, version: String, startedAt: Timestamp, clock: @escaping @Sendable () -> Timestamp,
         connectionCount: @escaping @Sendable () -> Int,
         writerStatistics: @escaping @Sendable () -> LedgerWriter.Statistics,
         logger: Logger = Logger(label: "stockd"), metrics: ServerMetrics = ServerMetrics(), watchers: WatchHub = WatchHub()) {
        self.damageLog = DamageLog(logger: logger)
        self.metrics = metrics
        self.watchers = watchers
        self.store = store
        self.view = view
        self.version = version
        self.startedAt = startedAt
        self.clock = clock
        self.connectionCount = connectionCount
        self.writerStatistics = writerStatistics
    }

    /// Up to `limit` events after log position `seq`, for a watcher catching up: only published
    /// ones, never a committed event whose sync is still to come.
    func events(after seq: UInt64, limit: Int) throws -> [Event] {
        let published = view.lastSeq
        var events: [Event] = []
        try damageLog.logging {
            try store.read { reader in
                try reader.forEachEvent(from: seq + 1) { event in
                    guard event.seq <= published else { return false }
                    events.append(event)
                    return events.count < limit
                }
            }
        }
        return events
    }

    /// Up to `limit` events after `seq` as `WATCH events stock=yes` pushes them (see
    /// `Rows.eventWithStock`), and the last seq read. `skus` holds the fold of each sku met so far, at
    /// the watcher's position: a sku met for the first time is folded from its own events up to there
    /// (as `STOCK at=` does), then every event is folded on, so the buckets are the fold's, never a
    /// second computation.
    func eventsWithStock(after seq: UInt64, limit: Int, skus: inout StockFolds) throws -> (lines: [String], count: Int, lastSeq: UInt64) {
        let events = try self.events(after: seq, limit: limit)
        var lines: [String] = []
        lines.reserveCapacity(events.count * 2)
        // The tail is taken before the read transaction opens, as every reader here does: the view
        // shows an event only after its commit, so the transaction sees every event the tail names.
        // (Taken inside, it could name an event committed after the transaction's snapshot.)
        let tail = view.withContents { $0.tail }
        try damageLog.logging {
            try store.read { reader in
                for event in events {
                    let keys = Rows.stockedPairs(of: event)
                    guard !keys.isEmpty else {
                        lines.append(Rows.event(event))
                        continue
                    }
                    let fold = try skus.fold(event) { sku in
                        try PointInTime(reader: reader, tail: tail.only(sku)).state(sku: sku, upTo: event.seq - 1)
                    }
                    lines += Rows.eventWithStock(event) { fold.pair($0) ?? PairState() }
                }
            }
        }
        return (lines, events.count, events.last?.seq ?? seq)
    }

    /// Where a log read (EVENTS, HISTORY) has got to. Its answer goes out page by page, each page
    /// read when the client has taken the one before, so a long answer never sits whole in memory.
    /// The end of the log it reads is fixed when it starts: every page answers as of the same seq.
    struct LogCursor: Sendable {
        enum Scan: Sendable {
            case all
            case sku(String, wh: String?, tail: UnindexedTail)
        }
        let scan: Scan
        /// The answer's seq, and the last event the read may return.
        let seq: UInt64
        var next: UInt64
        var remaining: Int
        var rows = 0
        var finished = false
    }

    /// A cursor for a read that answers page by page, nil for any other read.
    func logCursor(_ request: ReadRequest) -> LogCursor? {
        switch request {
        case let .events(from, limit):
            return LogCursor(scan: .all, seq: view.lastSeq, next: from, remaining: limit)
        case let .history(sku, wh, from, limit):
            let tail = view.withContents { $0.tail.only(sku) }
            return LogCursor(scan: .sku(sku, wh: wh, tail: tail), seq: tail.lastSeq, next: from, remaining: limit)
        default:
            return nil
        }
    }

    /// The next rows of a log read, at most `rowsMax`; the last page ends with the `OK` line.
    func page(_ cursor: inout LogCursor, rowsMax: Int) throws -> [String] {
        let started = ServerMetrics.nanosecondsNow()
        defer { metrics.readDuration.recordNanoseconds(ServerMetrics.nanosecondsNow() - started) }
        return try damageLog.logging { try readPage(&cursor, rowsMax: rowsMax) }
    }

    private func readPage(_ cursor: inout LogCursor, rowsMax: Int) throws -> [String] {
        var rows: [String] = []
        let wanted = min(rowsMax, cursor.remaining)
        var last: UInt64?
        let seq = cursor.seq
        var exhausted = true
        try store.read { reader in
            func visit(_ event: Event) -> Bool {
                guard event.seq <= seq else { return false }
                last = event.seq
                if rows.count == wanted {
                    exhausted = false
                    return false
                }
                rows.append(Rows.event(event))
                return true
            }
            switch cursor.scan {
            case .all:
                try reader.forEachEvent(from: cursor.next) { visit($0) }
            case let .sku(sku, wh, tail):
                try reader.forEachEvent(sku: sku, from: cursor.next, tail: tail) { event in
                    guard wh == nil || event.seq > seq || PointInTime.touches(event.body, wh: wh!) else { return true }
                    return visit(event)
                }
            }
        }
        cursor.rows += rows.count
        cursor.remaining -= rows.count
        if exhausted || cursor.remaining == 0 {
            cursor.finished = true
            rows.append("OK rows=\(cursor.rows) seq=\(seq)")
        } else if let last {
            // `last` is the event that did not fit: the next page starts there.
            cursor.next = last
        }
        return rows
    }

    /// The reply lines of one read; the last is the `OK` (or `ERR`) line.
    public func answer(_ request: ReadRequest) -> [String] {
        do {
            return try damageLog.logging { try answerOrThrow(request) }
        } catch {
            return [ReadService.refusal(error).line()]
        }
    }

    /// The `ERR` for a read that failed.
    static func refusal(_ error: Error) -> ProtocolError {
        switch error {
        case let error as ProtocolError: error
        // The client learns where; the path and the details are for the operator's log.
        case let damage as StoreDamage: ProtocolError(.unavailable, damage.summary)
        default: ProtocolError(.unavailable, "read failed: \(error)")
        }
    }

    /// The reply of one read as the bytes to send. STOCK of the present, the most frequent read,
    /// goes from the view's values to bytes with no String in between.
    /// Reads answered on an event loop are `timed` one in `ServerMetrics.Tally.readsPerTimedRead`.
    func answer(_ request: ReadRequest, json: Bool, allocator: ByteBufferAllocator, timed: Bool = true) -> ByteBuffer {
        let started = timed ? ServerMetrics.nanosecondsNow() : 0
        defer { if timed { metrics.readDuration.recordNanoseconds(ServerMetrics.nanosecondsNow() - started) } }
        if !json, case let .stock(sku, wh, nil, nil) = request {
            let (skuPairs, seq) = view.withContents { ($0.skus[sku], $0.lastSeq) }
            var rows: ByteBuffer
            var rowCount = 1
            if wh == nil, let skuPairs, let rendered = skuPairs.rendered {
                rows = rendered
                rowCount += skuPairs.pairs.count
            } else {
                let pairs = ReadService.pairs(of: sku, skuPairs, wh: wh)
                rows = allocator.buffer(capacity: 192 * (pairs.count + 1))
                let now = clock()
                for (key, pair) in pairs {
                    rows.writeBytes(Rows.stockLine(key, pair, at: now).bytes)
                    rows.writeInteger(UInt8(ascii: "\n"))
                }
                rows.writeBytes(Rows.totalLine(sku: sku, pairs).bytes)
                rows.writeInteger(UInt8(ascii: "\n"))
                rowCount += pairs.count
                // preorder_left changes when a pre-order window ends, with no event: such rows are not kept.
                if wh == nil, let skuPairs, !pairs.contains(where: { $0.1.preorderUntil != nil }) {
                    view.keepRendered(rows, sku: sku, version: skuPairs.version)
                }
            }
            var ok = ReplyLine("OK")
            ok.add("rows", rowCount)
            ok.add("seq", seq)
            var buffer = allocator.buffer(capacity: rows.readableBytes + ok.bytes.count + 1)
            buffer.writeImmutableBuffer(rows)
            buffer.writeBytes(ok.bytes)
            buffer.writeInteger(UInt8(ascii: "\n"))
            return buffer
        }
        if json, case .metrics = request {
            // Exposition lines are not key=value rows: in JSON each travels whole, as a string.
            var lines = answer(request)
            let ok = lines.removeLast()
            var buffer = allocator.buffer(capacity: 64 * lines.count)
            for line in lines { buffer.writeString("{\"row\":\"metrics\",\"line\":" + JSONReply.quote(line) + "}\n") }
            buffer.writeString(JSONReply.object(for: ok) + "\n")
            return buffer
        }
        return ReplyBytes.render(answer(request), json: json, allocator: allocator)
    }

    /// The log position an `at=<time>` stands for: the last event whose time is at or before it, or
    /// later when the clock marks show more was published by then (events written while the clock
    /// was behind the log carry the newest event time, later than when they were written).
    static func resolve(_ point: LogPoint, heldSeq: UInt64?, reader: StoreReader, tail: UnindexedTail) throws -> LogPoint {
        guard let heldSeq else { return point }
        return .seq(max(heldSeq, try PointInTime(reader: reader, tail: tail).seq(point)))
    }

    /// One sku's pairs (only `wh` when given) as they are now, sorted by warehouse, and the seq.
    private func presentStock(sku: String, wh: String?) -> ([(PairKey, PairState)], UInt64) {
        let (skuPairs, seq) = view.withContents { ($0.skus[sku], $0.lastSeq) }
        return (ReadService.pairs(of: sku, skuPairs, wh: wh), seq)
    }

    private static func pairs(of sku: String, _ skuPairs: LiveView.SkuPairs?, wh: String?) -> [(PairKey, PairState)] {
        var pairs: [(PairKey, PairState)] = []
        if let skuPairs {
            for (warehouse, pair) in zip(skuPairs.warehouses, skuPairs.pairs) where wh == nil || warehouse == wh {
                pairs.append((PairKey(sku: sku, wh: warehouse), pair))
            }
        }
        return pairs
    }

    /// `stock` rows (with `view= fence=` for a channel), then the `total` row.
    private func stockRows(_ sku: String, _ pairs: [(PairKey, PairState)], at time: Timestamp, channel: String?,
                           defaults: PairState?) -> [String] {
        pairs.map { key, pair in
            channel.map { Rows.stock(key, pair, at: time, channel: $0, defaults: defaults) } ?? Rows.stock(key, pair, at: time)
        } + [Rows.total(sku: sku, pairs)]
    }

    func ok(_ rows: [String], _ seq: UInt64) -> [String] {
        rows + ["OK rows=\(rows.count) seq=\(seq)"]
    }

    /// Pairs copied out of the view under its lock, formatted after it is released.
    private func pairs(in keys: (borrowing LiveView.Contents) -> Set<PairKey>, wh: String?, sku: String?) -> ([(PairKey, PairState)], UInt64) {
        let (found, seq) = view.withContents { contents -> ([(PairKey, PairState)], UInt64) in
            var found: [(PairKey, PairState)] = []
            for key in keys(contents) where (wh == nil || key.wh == wh) && (sku == nil || key.sku == sku) {
                if let pair = contents.pair(key) { found.append((key, pair)) }
            }
            return (found, contents.lastSeq)
        }
        return (found.sorted { $0.0 < $1.0 }, seq)
    }

    private func answerOrThrow(_ request: ReadRequest) throws -> [String] {
        switch request {
        case let .stock(sku, wh, nil, channel):
            let (pairs, seq) = presentStock(sku: sku, wh: wh)
            let defaults = view.withContents { $0.anyWarehouse[PairKey.configuration.sku] }
            return ok(stockRows(sku, pairs, at: clock(), channel: channel, defaults: defaults), seq)

        case let .stock(sku, wh, at?, channel):
            let (tail, heldSeq) = view.withContents { contents in
                (contents.tail.only(sku), at.time.flatMap { contents.clockMarks.seq(at: $0) })
            }
            let (pairs, answerSeq) = try store.read { reader in
                try reader.stock(sku: sku, wh: wh, at: ReadService.resolve(at, heldSeq: heldSeq, reader: reader, tail: tail), tail: tail)
            }
            // The pre-order window is judged at the time asked about: that of event N for `seq:N`.
            let time = try at.time ?? store.read { try $0.event(answerSeq)?.recordedAt } ?? clock()
            // Channel defaults as they were then: the configuration's own events, folded up to the same seq.
            let defaults = try channel == nil ? nil : store.read { reader in
                try PointInTime(reader: reader, tail: view.withContents { $0.tail.only(PairKey.configuration.sku) })
                    .pairs(sku: PairKey.configuration.sku, upTo: answerSeq).first?.1
            }
            return ok(stockRows(sku, pairs, at: time, channel: channel, defaults: defaults), answerSeq)

        case let .channels(sku, wh, channel):
            // One row per (wh, channel) the pair or the defaults know, with the units the channel's
            // open reservations hold there and the units it sold there in the last 7 days (read from
            // the sku's events: a sale of a reservation is the reservation's channel's).
            let (pairs, seq) = presentStock(sku: sku, wh: wh)
            var sales = ChannelSales(since: Timestamp(microseconds: clock().microseconds - 7 * Planning.dayMicroseconds))
            let tail = view.withContents { $0.tail.only(sku) }
            try store.read { reader in
                try reader.forEachEvent(sku: sku, from: 1, tail: tail) { event in
                    guard event.seq <= seq else { return false }
                    sales.add(event)
                    return true
                }
            }
            return view.withContents { contents -> [String] in
                let defaults = contents.anyWarehouse[PairKey.configuration.sku]
                var rows: [String] = []
                for (key, pair) in pairs {
                    var names = Set(pair.fences.keys).union(pair.channelRules.keys).union(defaults?.channelRules.keys.map { $0 } ?? [])
                    // A channel asked for by name answers even where it has no fence or rule.
                    if let channel { names = [channel] }
                    for name in names.sorted() {
                        let held = contents.reservations.values.reduce(Int64(0)) { sum, reservation in
                            sum + (reservation.pair == key && reservation.channel == name ? reservation.held : 0)
                        }
                        rows.append(Rows.channel(key, pair, channel: name, defaults: defaults, held: held,
                                                 sold7d: sales.units[key]?[name] ?? 0))
                    }
                }
                return ok(rows, seq)
            }

        case let .breaches(wh, sku):
            let (found, seq) = pairs(in: { $0.breached }, wh: wh, sku: sku)
            return ok(found.map { Rows.breach($0.0, $0.1) }, seq)

        case let .breachHistory(wh, sku, from, to):
            let tail = view.withContents { sku.map($0.tail.only) ?? $0.tail }
            return try store.read { reader in
                let intervals = try PointInTime(reader: reader, tail: tail)
                    .breachIntervals(sku: sku, wh: wh, from: from, to: to, now: clock())
                return ok(intervals.map(Rows.interval), tail.lastSeq)
            }

        case let .reorder(wh, sku):
            let (found, seq) = pairs(in: { $0.reorderable }, wh: wh, sku: sku)
            return ok(found.map { Rows.reorder($0.0, $0.1, suggest: $0.1.reorderSuggestion ?? 0) }, seq)

        case let .reservations(sku, wh, reservationID, ref, filter):
            let now = clock()
            // The view holds only open reservations, which are the ones this verb lists. A reservation
            // is late while an order it waits on is past its ETA.
            let (found, seq) = view.withContents { contents -> ([(Reservation, Bool)], UInt64) in
                func late(_ reservation: Reservation) -> Bool {
                    guard reservation.lines.contains(where: { if case .order = $0.backing { true } else { false } }) else { return false }
                    let orders = contents.pair(reservation.pair)?.openOrders ?? []
                    return reservation.lines.contains { line in
                        orders.contains { Backing.order($0.purchaseOrder) == line.backing && $0.eta <= now }
                    }
                }
                func matches(_ reservation: Reservation) -> (Reservation, Bool)? {
                    guard (sku == nil || reservation.sku == sku) && (wh == nil || reservation.wh == wh)
                            && (ref == nil || reservation.ref == ref)
                            && (filter.purchaseOrder.map { reservation.line(.order($0)) != nil } ?? true)
                            && (filter.awaiting.map { $0 == (reservation.awaiting > 0) } ?? true)
                            && (filter.channel.map { $0 == reservation.channel } ?? true)
                            && (filter.alloc.map { $0 == reservation.alloc } ?? true) else { return nil }
                    let isLate = late(reservation)
                    guard filter.late.map({ $0 == isLate }) ?? true else { return nil }
                    return (reservation, isLate)
                }
                if let reservationID { return (contents.reservations[reservationID].flatMap(matches).map { [$0] } ?? [], contents.lastSeq) }
                return (contents.reservations.values.compactMap(matches), contents.lastSeq)
            }
            return ok(found.sorted { $0.0.id.utf8.lexicographicallyPrecedes($1.0.id.utf8) }.map { Rows.reservation($0.0, late: $0.1) }, seq)

        case let .restock(sku, wh):
            // Pairs with nothing to sell (the sku's any-warehouse list when none of its warehouses
            // has any), with where the honest restock date comes from: the first purchase order
            // with units not yet promised, else the earliest inbound transfer.
            return view.withContents { contents -> [String] in
                var rows: [String] = []
                let skus = sku.map { [$0] } ?? contents.skus.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                for sku in skus {
                    guard let skuPairs = contents.skus[sku] else { continue }
                    func source(_ key: PairKey, _ pair: PairState) -> (name: String, eta: Timestamp?)? {
                        if let order = pair.ordersByETA.first(where: { $0.remaining > $0.promised }) {
                            return (order.purchaseOrder, pair.restockETA)
                        }
                        let inbound = contents.transfers.values.filter { $0.sku == sku && $0.to == key.wh && $0.isOpen }
                            .min { ($0.eta?.microseconds ?? .max) < ($1.eta?.microseconds ?? .max) }
                        return inbound.map { ("xfer:\($0.id)", $0.eta) }
                    }
                    var sources: [(name: String, eta: Timestamp?)] = []
                    for (warehouse, pair) in zip(skuPairs.warehouses, skuPairs.pairs) where pair.available == 0 {
                        let key = PairKey(sku: sku, wh: warehouse)
                        let found = source(key, pair)
                        if let found { sources.append(found) }
                        if wh == nil || warehouse == wh { rows.append(Rows.restock(key, pair, source: found)) }
                    }
                    let anyKey = PairKey(sku: sku, wh: PairKey.anyWarehouse)
                    if wh == nil, let any = contents.anyWarehouse[sku], !any.waitlist.isEmpty, !skuPairs.pairs.contains(where: { $0.available > 0 }) {
                        let earliest = sources.filter { $0.eta != nil }.min { $0.eta! < $1.eta! }
                        rows.append(Rows.restock(anyKey, any, source: earliest))
                    }
                }
                return ok(rows, contents.lastSeq)
            }

        case let .promise(sku, wh, quantity, backorder):
            let (pairs, seq) = presentStock(sku: sku, wh: wh)
            let now = clock()
            return ok(pairs.flatMap { key, pair in
                quantity.map { [Rows.promise(key, pair, quantity: $0, backorder: backorder, at: now)] }
                    ?? Rows.atpTimeline(key, pair, at: now)
            }, seq)

        case let .suggest(sku, wh, options, at):
            return try suggest(sku: sku, wh: wh, options: options, at: at)

        case let .kanban(wh, sku):
            return kanban(wh: wh, sku: sku)

        case let .transfers(sku, wh, transferID):
            func matches(_ transfer: Transfer) -> Bool {
                (sku == nil || transfer.sku == sku) && (wh == nil || transfer.from == wh || transfer.to == wh)
            }
            let (found, seq) = view.withContents { contents -> ([Transfer], UInt64) in
                if let transferID { return (contents.transfers[transferID].map { [$0] }?.filter(matches) ?? [], contents.lastSeq) }
                return (contents.transfers.values.filter(matches), contents.lastSeq)
            }
            return ok(found.sorted { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }.map(Rows.transfer), seq)

        case .history, .events:
            var cursor = logCursor(request)!
            var lines: [String] = []
            while !cursor.finished { lines += try page(&cursor, rowsMax: Int.max) }
            return lines

        case .info:
            let statistics = writerStatistics()
            let seq = view.lastSeq
            let (events, newestEventAt) = try store.read { reader in
                (try reader.entryCounts().first { $0.0 == "log" }?.1 ?? 0, try reader.event(seq)?.recordedAt)
            }
            let now = clock()
            func mean(_ total: UInt64, _ count: UInt64) -> UInt64 { count == 0 ? 0 : total / count }
            func ratio(_ total: UInt64, _ count: UInt64) -> String {
                count == 0 ? "0" : String(Double(Int(Double(total) / Double(count) * 100)) / 100)
            }
            var line = ReplyLine("info")
            line.add("version", version)
            line.add("uptime", (now.microseconds - startedAt.microseconds) / 1_000_000)
            line.add("seq", seq)
            line.add("events", events)
            line.add("data_bytes", store.dataFileBytes)
            line.add("map_bytes", store.environment.mapSizeBytes)
            line.add("connections", connectionCount())
            line.add("commits", statistics.groupsCommitted)
            line.add("writes_committed", statistics.writesCommitted)
            line.add("writes_per_commit", ratio(statistics.writesCommitted, statistics.groupsCommitted))
            line.add("failed_commits", statistics.groupsFailed)
            line.add("commit_us_mean", mean(statistics.commitMicroseconds, statistics.groupsCommitted))
            line.add("pages_per_commit", ratio(statistics.commitBytesWritten / 4096, statistics.groupsCommitted))
            line.add("syncs_per_commit", ratio(statistics.groupsCommitted + statistics.extraSyncs, statistics.groupsCommitted))
            line.add("checkpoint_seq", statistics.checkpointSeq)
            line.add("checkpoints", statistics.checkpoints)
            line.add("checkpoint_us_mean", mean(statistics.checkpointMicroseconds, statistics.checkpoints))
            line.add("pages_per_checkpoint", ratio(statistics.checkpointBytesWritten / 4096, statistics.checkpoints))
            line.add("clock_behind_s", max(0, ((newestEventAt ?? now).microseconds - now.microseconds) / 1_000_000))
            return ok([line.text], seq)

        case .metrics:
            let rows = metrics.exposition(metricsSnapshot()).split(separator: "\n").map(String.init)
            return rows + ["OK rows=\(rows.count) seq=\(view.lastSeq)"]
        }
    }

    /// What a scrape reads of the daemon's state.
    func metricsSnapshot() -> ServerMetrics.Snapshot {
        let seq = view.lastSeq
        let (watcherCount, slowestSeq) = watchers.progress()
        return ServerMetrics.Snapshot(
            seq: seq, connections: connectionCount(), watchers: watcherCount,
            slowestWatcherLag: slowestSeq.map { seq - min(seq, $0) } ?? 0,
            breachesOpen: view.withContents { $0.breached.count }, writer: writerStatistics(),
            mapBytes: store.environment.mapSizeBytes,
            usedBytes: (store.environment.lastPageNumber + 1) * store.environment.pageSizeBytes,
            dataFileBytes: store.dataFileBytes, startedAtSeconds: Double(startedAt.microseconds) / 1e6)
    }

    /// The Prometheus text exposition, for the HTTP endpoint (METRICS sends the same lines as rows).
    func metricsText() -> String { metrics.exposition(metricsSnapshot()) }
}

/// Logs the first damage a read meets, once: every later read that meets damage is still answered
/// `ERR UNAVAILABLE store damaged at seq N`, but a client retrying in a loop must not flood the log.
final class DamageLog: Sendable {
    private let logged = Atomic<Bool>(false)
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    /// Runs `body`; damage it throws is logged (the first time only) and thrown on.
    func logging<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let damage as StoreDamage {
            if !logged.exchange(true, ordering: .relaxed) {
                logger.critical("\(damage); reads that meet damage answer ERR UNAVAILABLE (logged once; docs/operating.md, Recovery)")
            }
            throw damage
        }
    }
}

/// The folds a `WATCH events stock=yes` watcher keeps while it catches up: one per sku met, each at
/// the watcher's position. At most `Limits.watcherStockSkusMax`; when full, the half used longest
/// ago is dropped (a sku that keeps selling stays; one met once and never again goes first).
struct StockFolds {
    private var folds: [String: (state: LedgerState, used: UInt64)] = [:]

    /// Folds `event` into its sku's fold (made by `seed` from the sku's own events when missing) and
    /// returns the fold after it.
    mutating func fold(_ event: Event, seed: (String) throws -> LedgerState) rethrows -> LedgerState {
        if folds[event.sku] == nil {
            if folds.count >= Limits.watcherStockSkusMax { dropOldestHalf() }
            folds[event.sku] = (try seed(event.sku), event.seq)
        }
        folds[event.sku]!.used = event.seq
        Ledger.apply(event, to: &folds[event.sku]!.state)
        return folds[event.sku]!.state
    }

    private mutating func dropOldestHalf() {
        let byUse = folds.map { ($0.key, $0.value.used) }.sorted { $0.1 < $1.1 }
        for (sku, _) in byUse.prefix(byUse.count / 2 + 1) { folds.removeValue(forKey: sku) }
    }
}
