import LedgerCore
import LedgerProtocol
import LedgerStore

/// Answers the read verbs from short read-only LMDB transactions. It never waits for the writer:
/// LMDB readers see the last committed snapshot, which includes every acknowledged write.
public struct ReadService: Sendable {
    let store: LedgerStore
    let version: String
    let startedAt: Timestamp
    let clock: @Sendable () -> Timestamp
    let connectionCount: @Sendable () -> Int
    let writerStatistics: @Sendable () -> LedgerWriter.Statistics

    public init(store: LedgerStore, version: String, startedAt: Timestamp, clock: @escaping @Sendable () -> Timestamp,
                connectionCount: @escaping @Sendable () -> Int,
                writerStatistics: @escaping @Sendable () -> LedgerWriter.Statistics) {
        self.store = store
        self.version = version
        self.startedAt = startedAt
        self.clock = clock
        self.connectionCount = connectionCount
        self.writerStatistics = writerStatistics
    }

    /// Up to `limit` events after log position `seq`, for a watcher catching up.
    func events(after seq: UInt64, limit: Int) throws -> [Event] {
        var events: [Event] = []
        try store.read { reader in
            try reader.forEachEvent(from: seq + 1) { event in
                events.append(event)
                return events.count < limit
            }
        }
        return events
    }

    /// The reply lines of one read; the last is the `OK` (or `ERR`) line.
    public func answer(_ request: ReadRequest) -> [String] {
        do {
            return try store.read { reader in try answer(request, reader) }
        } catch let error as ProtocolError {
            return [error.line()]
        } catch {
            return [ProtocolError(.unavailable, "read failed: \(error)").line()]
        }
    }

    private func ok(_ rows: [String], _ seq: UInt64) -> [String] {
        rows + ["OK rows=\(rows.count) seq=\(seq)"]
    }

    private func answer(_ request: ReadRequest, _ reader: StoreReader) throws -> [String] {
        let seq = reader.lastSeq
        switch request {
        case let .stock(sku, wh, at):
            let (pairs, answerSeq) = try reader.stock(sku: sku, wh: wh, at: at)
            return ok(pairs.map { Rows.stock($0.0, $0.1) } + [Rows.total(sku: sku, pairs)], answerSeq)

        case let .breaches(wh, sku):
            var rows: [String] = []
            reader.forEachPair(startingWith: sku.map(StoreKey.skuPrefix) ?? []) { key, pair in
                if pair.isBreached, wh == nil || key.wh == wh { rows.append(Rows.breach(key, pair)) }
                return true
            }
            return ok(rows, seq)

        case let .breachHistory(wh, sku, from, to):
            let intervals = try PointInTime(reader: reader).breachIntervals(sku: sku, wh: wh, from: from, to: to, now: clock())
            return ok(intervals.map(Rows.interval), seq)

        case let .reorder(wh, sku):
            var rows: [String] = []
            reader.forEachPair(startingWith: sku.map(StoreKey.skuPrefix) ?? []) { key, pair in
                if let suggest = pair.reorderSuggestion, wh == nil || key.wh == wh {
                    rows.append(Rows.reorder(key, pair, suggest: suggest))
                }
                return true
            }
            return ok(rows, seq)

        case let .reservations(sku, wh, reservationID, ref):
            func matches(_ reservation: Reservation) -> Bool {
                reservation.status == .open && (sku == nil || reservation.sku == sku) && (wh == nil || reservation.wh == wh)
                    && (ref == nil || reservation.ref == ref)
            }
            var rows: [String] = []
            if let reservationID {
                if let reservation = reader.reservation(reservationID), matches(reservation) {
                    rows.append(Rows.reservation(reservation))
                }
            } else {
                reader.forEachReservation { reservation in
                    if matches(reservation) { rows.append(Rows.reservation(reservation)) }
                    return true
                }
            }
            return ok(rows, seq)

        case let .transfers(sku, wh, transferID):
            func matches(_ transfer: Transfer) -> Bool {
                transfer.isOpen && (sku == nil || transfer.sku == sku) && (wh == nil || transfer.from == wh || transfer.to == wh)
            }
            var rows: [String] = []
            if let transferID {
                if let transfer = reader.transfer(transferID), matches(transfer) { rows.append(Rows.transfer(transfer)) }
            } else {
                reader.forEachTransfer { transfer in
                    if matches(transfer) { rows.append(Rows.transfer(transfer)) }
                    return true
                }
            }
            return ok(rows, seq)

        case let .history(sku, wh, from, limit):
            var rows: [String] = []
            try reader.forEachEvent(sku: sku, from: from) { event in
                if wh == nil || PointInTime.touches(event.body, wh: wh!) { rows.append(Rows.event(event)) }
                return rows.count < limit
            }
            return ok(rows, seq)

        case let .events(from, limit):
            var rows: [String] = []
            try reader.forEachEvent(from: from) { event in
                rows.append(Rows.event(event))
                return rows.count < limit
            }
            return ok(rows, seq)

        case .info:
            let statistics = writerStatistics()
            var line = ReplyLine("info")
            line.add("version", version)
            line.add("uptime", (clock().microseconds - startedAt.microseconds) / 1_000_000)
            line.add("seq", seq)
            line.add("events", try reader.entryCounts().first { $0.0 == "log" }?.1 ?? 0)
            line.add("data_bytes", store.dataFileBytes)
            line.add("map_bytes", store.environment.mapSizeBytes)
            line.add("connections", connectionCount())
            line.add("commits", statistics.groupsCommitted)
            line.add("writes_committed", statistics.writesCommitted)
            let perCommit = statistics.groupsCommitted == 0 ? 0 : Double(statistics.writesCommitted) / Double(statistics.groupsCommitted)
            line.add("writes_per_commit", String(Double(Int(perCommit * 100)) / 100))
            line.add("failed_commits", statistics.groupsFailed)
            line.add("commit_us_mean", statistics.groupsCommitted == 0 ? 0 : statistics.commitMicroseconds / statistics.groupsCommitted)
            return ok([line.text], seq)
        }
    }
}
