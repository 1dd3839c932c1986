import Foundation
import LedgerCore
import LedgerProtocol
import LedgerStore
import Logging
import Synchronization
import Testing
@testable import LedgerServer

/// The writer's group commit, clock and idempotency records, driven directly (no sockets).
@Suite struct LedgerWriterTests {
    func write(_ line: String) throws -> WriteRequest {
        guard case .write(let request) = try RequestParser.parse(Array(line.utf8)) else {
            Issue.record("not a write: \(line)")
            return WriteRequest(command: .cancel(purchaseOrder: "none"))
        }
        return request
    }

    func submit(_ ledger: TestLedger, _ line: String) throws -> [String] {
        ledger.submit([.single(try write(line))])[0]
    }

    func allEvents(_ store: LedgerStore) throws -> [Event] {
        var events: [Event] = []
        try store.read { reader in try reader.forEachEvent(from: 1) { events.append($0); return true } }
        return events
    }

    /// Polls `condition` until it holds or `seconds` pass; returns whether it held.
    func eventually(within seconds: Double = 15, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(10_000)
        }
        return try condition()
    }

    @Test("finding 7: clock marks answer the last seq published by a time, in clock order, coarser past their limit")
    func finding7ClockMarksPlaceHeldEvents() {
        var marks = ClockMarks()
        #expect(marks.seq(at: Timestamp(seconds: 100)) == nil)
        marks.record(clock: Timestamp(seconds: 100), seq: 3)
        marks.record(clock: Timestamp(microseconds: 100_500_000), seq: 4)
        marks.record(clock: Timestamp(seconds: 99), seq: 5)
        marks.record(clock: Timestamp(seconds: 102), seq: 6)
        #expect(marks.marks.count == 2)
        #expect(marks.seq(at: Timestamp(microseconds: 99_999_999)) == nil)
        #expect(marks.seq(at: Timestamp(microseconds: 100_500_000)) == 4)
        #expect(marks.seq(at: Timestamp(seconds: 101)) == 4)
        #expect(marks.seq(at: Timestamp(seconds: 102)) == 6)
        for second in Int64(103)..<Int64(103 + Limits.clockMarksMax) {
            marks.record(clock: Timestamp(seconds: second), seq: UInt64(second))
        }
        #expect(marks.marks.count <= Limits.clockMarksMax)
        #expect(marks.seq(at: Timestamp(seconds: 103 + Int64(Limits.clockMarksMax))) == UInt64(102 + Limits.clockMarksMax))
    }

    @Test("finding 12: a group commit holds at most groupWritesMax writes, batches counted whole and never split")
    func finding12GroupsCountWritesNotWorks() throws {
        let ledger = try TestLedger(start: false)
        defer { ledger.close() }
        let batch = LedgerWriter.Work.batch(Array(repeating: try write("RECEIVE sku=A wh=PAR qty=1"), count: Limits.batchWritesMax))
        // Queued before the writer starts, so its first group could take them all: five
        // submissions of one full batch, then one submission of five (10,000 writes in 10 works).
        let submissions = Array(repeating: [batch], count: 5) + [Array(repeating: batch, count: 5)]
        let replies = Locked<[Int: [[String]]]>([:])
        let done = DispatchGroup()
        for (index, works) in submissions.enumerated() {
            done.enter()
            ledger.writer.submit(works, actor: 1_000) { lines in
                replies.withLock { $0[index] = lines }
                done.leave()
            }
        }
        ledger.writer.start()
        done.wait()
        let statistics = ledger.writer.currentStatistics()
        #expect(statistics.writesCommitted == 10_000)
        // 4,096 writes at most: four batches; then the fifth submission and three batches of the
        // sixth; then its last two.
        #expect(statistics.groupsCommitted == 3)
        // The submission split between groups is answered once, every batch in order.
        let all = replies.withLock { $0 }
        #expect(all.count == 6)
        #expect(all[5]?.count == 5 && all[5]?.allSatisfy { $0.last == "OK count=1000" } == true)
        let events = try allEvents(ledger.store)
        #expect(events.count == 10_000 && events.last?.seq == 10_000)
        #expect(ledger.reads().answer(.stock(sku: "A", wh: "PAR", at: nil))[0].contains("on_hand=10000 "))
    }

    @Test("finding 7: with the clock set back behind the log, event times hold but reservations expire by the clock")
    func finding7ExpiryFollowsTheRealClock() throws {
        let real = Timestamp(seconds: 1_900_000_000)
        let tenDays: Int64 = 10 * 86_400
        let clock = TestClock(real.adding(seconds: tenDays))
        let log = Locked<[String]>([])
        let logger = Logger(label: "test") { _ in CapturingLogHandler(lines: log) }
        let ledger = try TestLedger(clock: { clock.now }, logger: logger)
        defer { ledger.close() }
        // Written while the clock is ten days ahead.
        #expect(try submit(ledger, "RECEIVE sku=A wh=PAR qty=10").last?.hasPrefix("OK seq=1 ") == true)
        #expect(try submit(ledger, "RESERVE sku=A wh=PAR qty=1 res=ahead ttl=60").last?.hasPrefix("OK seq=2 ") == true)
        // The clock is put right and the daemon restarts: that is logged loudly.
        clock.now = real
        try ledger.restart()
        #expect(log.withLock { $0 }.contains { $0.hasPrefix("error the clock is behind the newest event") && $0.contains("behind_s: \(tenDays)") })

        // A new reservation's deadline counts from the clock, not from the held event time.
        let short = try submit(ledger, "RESERVE sku=A wh=PAR qty=1 res=short ttl=1")
        #expect(short.last?.contains(" expires=\(real.adding(seconds: 1).rfc3339) ") == true, "\(short)")
        #expect(try submit(ledger, "RESERVE sku=A wh=PAR qty=1 res=long ttl=1h").last?.hasPrefix("OK seq=4 ") == true)
        clock.now = real.adding(seconds: 2)
        let reads = ledger.reads()
        func open() -> [String] {
            reads.answer(.reservations(sku: nil, wh: nil, reservation: nil)).filter { $0.hasPrefix("reservation ") }
        }
        #expect(eventually { !open().contains { $0.contains("res=short ") } }, "res=short did not expire: \(open())")
        // Nothing expired early either: the held event time is ten days ahead of the deadlines.
        #expect(open().count == 2 && open().allSatisfy { $0.contains("res=ahead ") || $0.contains("res=long ") })

        // Event times never went backwards: the events since the restart carry the held time.
        let events = try allEvents(ledger.store)
        #expect(events.count == 5 && events.last?.body.kind == .expired)
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.recordedAt <= $1.recordedAt })
        #expect(events.dropFirst(2).allSatisfy { $0.recordedAt == events[1].recordedAt })

        // `at=` places the held events by when they were written: everything by now; the two
        // written before the restart by the restart; before it, only event times count, and those
        // two carry a time ten days ahead. INFO says how far the clock is behind.
        #expect(reads.answer(.stock(sku: "A", wh: "PAR", at: .time(clock.now))).last == "OK rows=2 seq=5")
        #expect(reads.answer(.stock(sku: "A", wh: "PAR", at: .time(real.adding(seconds: 1)))).last == "OK rows=2 seq=4")
        #expect(reads.answer(.stock(sku: "A", wh: "PAR", at: .time(real))).last == "OK rows=2 seq=4")
        #expect(reads.answer(.stock(sku: "A", wh: "PAR", at: .time(real.adding(seconds: -1)))).last == "OK rows=1 seq=0")
        let info = reads.answer(.info)[0]
        #expect(info.split(separator: " ").contains("clock_behind_s=\(tenDays - 2)"), "\(info)")
    }

    @Test("finding 11: a keyed write stores the versioned canonical request, and its retries still match after a restart")
    func finding11StoredFingerprintIsTheVersionedRequest() throws {
        let ledger = try TestLedger()
        defer { ledger.close() }
        _ = try submit(ledger, "RECEIVE sku=A wh=PAR qty=10")
        let first = try submit(ledger, "SELL qty=2 sku=A wh=PAR id=order-1 ref=ORDER-1")
        #expect(first.last?.hasPrefix("OK seq=2 ") == true)
        #expect(try allEvents(ledger.store).last?.requestFingerprint == "v1 SELL sku=A wh=PAR qty=2 ref=ORDER-1")
        for _ in 0..<2 {
            #expect(try submit(ledger, "SELL sku=A wh=PAR qty=2 ref=ORDER-1 id=order-1") == [first[0] + " dup=yes"])
            #expect(try submit(ledger, "SELL sku=A wh=PAR qty=3 ref=ORDER-1 id=order-1").last?.hasPrefix("ERR CONFLICT") == true)
            // The second round runs on the record the restart read back from the store.
            try ledger.restart()
        }
    }
}

/// A wall clock the test sets.
final class TestClock: Sendable {
    private let time: Mutex<Timestamp>
    init(_ start: Timestamp) { time = Mutex(start) }
    var now: Timestamp {
        get { time.withLock { $0 } }
        set { time.withLock { $0 = newValue } }
    }
}

/// A value shared between a test and the threads it drives.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T: Sendable>(_ body: (inout Value) -> T) -> T { mutex.withLock { body(&$0) } }
}

/// Keeps every log line as `level message metadata`.
struct CapturingLogHandler: LogHandler {
    let lines: Locked<[String]>
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let pairs = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: " ")
        lines.withLock { $0.append("\(event.level) \(event.message) \(pairs)") }
    }
}
