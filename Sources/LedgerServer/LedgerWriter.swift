import LedgerCore
import LedgerProtocol
import LedgerStore
import Logging
import NIOCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one owner of the LMDB write transaction and of the live ledger, on a thread of its own:
/// group commit.
///
/// Writes from every connection queue here. The writer takes everything queued (up to
/// `Limits.groupWritesMax` writes), validates and folds the writes in order against the live state
/// in memory, appends their events to the log in one transaction and commits it. That commit writes only the
/// log's tail pages, syncs them, and writes LMDB's meta page without a second sync
/// (MDB_NOMETASYNC): the group becomes durable with the next sync, which is the next group's commit
/// when writes keep coming, or an explicit sync as soon as the queue is empty. Only then does the
/// writer publish the group's changes to the readers' view and acknowledge its writes. So each
/// commit costs one sync instead of two, and no write is acknowledged before the meta page that
/// makes it part of the database is on disk. While one group syncs, the next queues.
///
/// Between groups it checkpoints: the entities, idempotency records and per-sku index entries made
/// since the last checkpoint go to LMDB in one transaction, with the checkpoint's seq, so that a
/// start folds only the events after it. The log stays the truth; a checkpoint only shortens the
/// start.
///
/// It also expires reservations: when the earliest due reservation's time comes, it writes an
/// `expired` event through the same path, so replay gives the same answer.
///
/// Two times: an event's time never goes backwards in the log (so seq order is time order), while
/// deadlines (a reservation's expiry) follow the wall clock. When the clock reads earlier than the
/// newest event (it was set back, or the log was written under a clock ahead), events keep the
/// newest event's time until the clock catches up, and the writer logs it once, loudly.
// Shared across threads safely: the queue, the flags and `statistics` are touched only with `mutex` held; the
// live ledger, `unsynced`, `lastTime` and the rest are touched only by the writer thread (and by
// `init` before it starts); readers reach the ledger only through `view`, which has its own lock.
public final class LedgerWriter: @unchecked Sendable {
    /// When to checkpoint: after this long with anything new, or as soon as this many events wait.
    /// A checkpoint holds up the next group for as long as it takes to write, so frequent small ones
    /// keep that delay short; the event bound keeps a start's tail fold short (100,000 events fold
    /// in well under 100 ms), whatever the write rate.
    public struct CheckpointPolicy: Sendable {
        public var intervalMicroseconds: UInt64 = 1_000_000
        public var eventsMax = 100_000
        public init() {}
    }

    public enum Work: Sendable {
        case single(WriteRequest)
        case batch([WriteRequest])

        var writeCount: Int {
            switch self {
            case .single: 1
            case .batch(let requests): requests.count
            }
        }
    }

    /// Called once per submission with each work's reply lines (the last one `OK` or `ERR`), after
    /// the group holding them is durable, or refused. It runs on the event loop the submission named
    /// (or on the writer thread when it named none).
    public typealias Completion = @Sendable ([[String]]) -> Void

    /// The writes one connection sent in one read burst: they queue, commit and are answered together,
    /// so a pipelining client costs one hand-off each way, not one per write.
    ///
    /// One with more writes than a group holds is split between works into parts taken by
    /// consecutive groups; the replies of the earlier parts wait in `earlierParts` and the client
    /// is answered once, when the last part is durable.
    struct Submission {
        var works: [Work]
        let actor: UInt32
        let loop: (any EventLoop)?
        let completion: Completion
        /// Shared by the parts of a split submission; nil for one taken whole.
        var earlierParts: EarlierReplies?
        var isLastPart = true
        var writeCount: Int { works.reduce(0) { $0 + $1.writeCount } }
    }

    /// The replies of a split submission's parts answered so far. Touched only by the writer
    /// thread (it splits submissions and answers them).
    final class EarlierReplies {
        var replies: [[String]] = []
    }

    /// Counters for INFO and the closing figures: how many groups committed and how many writes
    /// they carried (the mean writes per commit is the group-commit factor), what they cost.
    public struct Statistics: Sendable {
        public var groupsCommitted: UInt64 = 0
        public var writesCommitted: UInt64 = 0
        public var groupsFailed: UInt64 = 0
        /// Time spent inside group transactions (commit and sync), for the mean commit time.
        public var commitMicroseconds: UInt64 = 0
        /// Bytes the writer thread handed to write(2) for group commits (LMDB writes whole 4 KiB
        /// pages, plus a short meta page write per commit): pages per commit = this / 4096 / groups.
        public var commitBytesWritten: UInt64 = 0
        public var checkpoints: UInt64 = 0
        public var checkpointMicroseconds: UInt64 = 0
        public var checkpointBytesWritten: UInt64 = 0
        public var checkpointSeq: UInt64 = 0
        /// Syncs that only made earlier commits durable (the queue was empty): syncs per commit
        /// = (groups committed + these) / groups committed.
        public var extraSyncs: UInt64 = 0
    }

    /// A group whose commit returned but whose meta page is not durable yet.
    struct CommittedGroup {
        let group: [Submission]
        let replies: [[[String]]]
        let scratch: GroupScratch
    }

    private let store: LedgerStore
    private let logger: Logger
    /// Committed changes go here for WATCH.
    let watchers = WatchHub()
    /// What reads see; updated after each commit, before its writes are acknowledged.
    let view: LiveView
    private let clock: @Sendable () -> Timestamp
    private let daemonActor = UInt32(getuid())
    private let checkpointPolicy: CheckpointPolicy
    /// Each group commit is observed here (commit time, writes, events).
    let metrics: ServerMetrics

    /// The queue's lock and the writer's wake-up. pthread's, because the writer sleeps until work
    /// arrives or a deadline on the monotonic clock passes, which neither `Synchronization.Mutex`
    /// nor NIOConcurrencyHelpers offers; allocated once, so their addresses never move.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var queue: [Submission] = []
    /// True while the writer sleeps on the condition: only then does a submitter need to signal it.
    private var writerWaiting = false
    private var stopping = false
    private var stopped = false
    private var statistics = Statistics()

    // Owned by the writer thread only.
    /// Confined to the writer thread (tests read it after `shutdown()`).
    let live: LiveLedger
    private var lastTime: Timestamp
    private var lastCheckpointMicroseconds = LedgerWriter.monotonicMicroseconds()
    private var io: ThreadWriteCounter?
    /// Committed groups waiting for a sync to make them durable, oldest first.
    private var unsynced: [CommittedGroup] = []
    /// True once the clock behind the log is logged, until it catches up: one line per episode.
    private var clockBehindLogged = false
    /// A clock behind the newest event by this much is logged: less is a small step of time
    /// synchronisation, and events held for under a second are of no consequence.
    static let clockBehindLoggedMicroseconds: Int64 = 1_000_000

    public init(store: LedgerStore, logger: Logger, checkpointPolicy: CheckpointPolicy = CheckpointPolicy(),
                clock: @escaping @Sendable () -> Timestamp = LedgerWriter.systemClock,
                metrics: ServerMetrics = ServerMetrics()) throws {
        self.metrics = metrics
        self.store = store
        self.logger = logger
        self.clock = clock
        self.checkpointPolicy = checkpointPolicy
        live = try LiveLedger(store: store)
        lastTime = try store.read { reader in
            try reader.event(reader.lastLogSeq)?.recordedAt ?? Timestamp(microseconds: 0)
        }
        view = LiveView(live.viewContents())
        statistics.checkpointSeq = live.tail.indexedThrough
        let now = clock()
        noteClock(now)
        // Everything in the log was written before this start, whatever times it carries.
        if lastTime > now { view.update { [seq = live.lastSeq] in $0.clockMarks.record(clock: now, seq: seq) } }
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Wall-clock time in microseconds.
    public static let systemClock: @Sendable () -> Timestamp = {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Timestamp(microseconds: Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1_000)
    }

    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }

    /// The last seq committed, readable from any thread.
    public var lastCommittedSeq: UInt64 { view.lastSeq }

    public func currentStatistics() -> Statistics { locked { statistics } }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    /// Starts the writer thread.
    public func start() {
        let thread = Thread { [self] in run() }
        thread.start()
    }

    /// Queues writes, to be applied in order. After `shutdown()` began they are refused at once with
    /// ERR UNAVAILABLE.
    public func submit(_ works: [Work], actor: UInt32, on loop: (any EventLoop)? = nil, completion: @escaping Completion) {
        pthread_mutex_lock(mutex)
        if stopping {
            pthread_mutex_unlock(mutex)
            let refusals = works.map { _ in [ProtocolError(.unavailable, "stockd is shutting down").line()] }
            // Never call back inside the caller's own call: it may be about to submit again.
            if let loop { loop.execute { completion(refusals) } } else { completion(refusals) }
            return
        }
        queue.append(Submission(works: works, actor: actor, loop: loop, completion: completion))
        if writerWaiting { pthread_cond_signal(condition) }
        pthread_mutex_unlock(mutex)
    }

    /// Stops taking writes, commits and answers everything already queued, then returns.
    public func shutdown() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_broadcast(condition)
        while !stopped { pthread_cond_wait(condition, mutex) }
        pthread_mutex_unlock(mutex)
    }

    /// When the writer loop last came round (monotonic microseconds): the watchdog's evidence that
    /// writes are still making progress. The loop wakes at least every
    /// `Limits.writerIdleWakeMicroseconds`.
    public var lastHeartbeatMicroseconds: UInt64 { locked { heartbeat } }
    private var heartbeat = LedgerWriter.monotonicMicroseconds()

    private func run() {
        while true {
            pthread_mutex_lock(mutex)
            heartbeat = LedgerWriter.monotonicMicroseconds()
            while queue.isEmpty && !stopping && !expiryDue() && !checkpointDue() && !overdueDue() {
                var deadline = timespec()
                clock_gettime(CLOCK_MONOTONIC, &deadline)
                let waitMicros = min(Limits.writerIdleWakeMicroseconds, max(1_000, microsUntilTimedWork()))
                let total = Int64(deadline.tv_nsec) + waitMicros * 1_000
                deadline.tv_sec += Int(total / 1_000_000_000)
                deadline.tv_nsec = Int(total % 1_000_000_000)
                writerWaiting = true
                pthread_cond_timedwait(condition, mutex, &deadline)
                writerWaiting = false
                heartbeat = LedgerWriter.monotonicMicroseconds()
            }
            let group = takeGroup()
            let finished = stopping && queue.isEmpty
            pthread_mutex_unlock(mutex)

            if io == nil { io = ThreadWriteCounter() }
            if !group.isEmpty || expiryDue() { process(group) }
            announceOverdue()
            // Nothing queued: no next commit will sync for the groups waiting, so sync now.
            if !unsynced.isEmpty && (finished || locked({ queue.isEmpty })) { syncUnsynced() }
            if checkpointDue() || (finished && live.pendingEvents > 0) {
                syncUnsynced()
                checkpoint()
            }
            if finished {
                pthread_mutex_lock(mutex)
                stopped = true
                pthread_cond_broadcast(condition)
                pthread_mutex_unlock(mutex)
                return
            }
        }
    }

    /// Takes works from the head of the queue, in order, while their writes fit in
    /// `Limits.groupWritesMax` (at least one work, however large). Called with `mutex` held.
    private func takeGroup() -> [Submission] {
        var group: [Submission] = []
        var writes = 0, taken = 0
        while taken < queue.count {
            let works = queue[taken].works
            var fitting = 0
            while fitting < works.count, writes == 0 || writes + works[fitting].writeCount <= Limits.groupWritesMax {
                writes += works[fitting].writeCount
                fitting += 1
            }
            if fitting == works.count {
                group.append(queue[taken])
                taken += 1
                continue
            }
            if fitting > 0 {
                // The rest stays at the head of the queue for the next group.
                var part = queue[taken]
                part.works = Array(works[..<fitting])
                part.earlierParts = part.earlierParts ?? EarlierReplies()
                part.isLastPart = false
                group.append(part)
                queue[taken].works = Array(works[fitting...])
                queue[taken].earlierParts = part.earlierParts
            }
            break
        }
        queue.removeFirst(taken)
        return group
    }

    private func expiryDue(clock now: Timestamp? = nil) -> Bool {
        guard let nextExpiry = live.nextExpiry else { return false }
        return nextExpiry <= now ?? clock()
    }

    /// Until the next due reservation or checkpoint, whichever comes first.
    private func microsUntilTimedWork() -> Int64 {
        let untilCheckpoint = live.pendingEvents == 0 ? Limits.writerIdleWakeMicroseconds
            : Int64(lastCheckpointMicroseconds + checkpointPolicy.intervalMicroseconds) - Int64(LedgerWriter.monotonicMicroseconds())
        guard let nextExpiry = live.nextExpiry else { return untilCheckpoint }
        return min(untilCheckpoint, nextExpiry.microseconds - clock().microseconds)
    }

    private func checkpointDue() -> Bool {
        let pending = live.pendingEvents
        return pending >= checkpointPolicy.eventsMax
            || (pending > 0 && LedgerWriter.monotonicMicroseconds() >= lastCheckpointMicroseconds + checkpointPolicy.intervalMicroseconds)
    }

    /// The time of the next events: times only move forward in the log, so seq order is time order
    /// and `at=<time>` can search the log by time.
    private func nextTime(clock now: Timestamp) -> Timestamp {
        noteClock(now)
        lastTime = max(lastTime, now)
        return lastTime
    }

    /// Logs a clock that reads well before the newest event, once until it catches up.
    private func noteClock(_ now: Timestamp) {
        let behind = lastTime.microseconds - now.microseconds
        guard behind >= LedgerWriter.clockBehindLoggedMicroseconds else {
            if behind <= 0 { clockBehindLogged = false }
            return
        }
        guard !clockBehindLogged else { return }
        clockBehindLogged = true
        logger.error("the clock is behind the newest event: new events keep its time until the clock catches up; reservations still expire by the clock; check the time synchronisation",
                     metadata: ["behind_s": "\(behind / 1_000_000)", "newest_event_at": "\(lastTime)", "clock": "\(now)"])
    }

    private func process(_ group: [Submission]) {
        let clockNow = clock()
        let now = nextTime(clock: clockNow)
        // Deadlines are wall-clock times: compare them with the clock, not with the held event time.
        let due = expiryDue(clock: clockNow) ? live.takeDue(atOrBefore: clockNow, limit: Limits.expiriesPerGroupMax) : []
        let lapsed = expiryDue(clock: clockNow) ? live.takeDueFences(atOrBefore: clockNow, limit: Limits.expiriesPerGroupMax) : []
        let started = LedgerWriter.monotonicMicroseconds()
        let bytesBefore = io?.bytesWritten() ?? 0
        var scratch = GroupScratch(live: live, now: now, clock: clockNow, tracksTransitions: watchers.hasWatchers)
        for entry in due {
            _ = scratch.apply(WriteRequest(command: .expire(reservation: entry.reservationID)), actor: daemonActor)
        }
        for entry in lapsed {
            _ = scratch.apply(WriteRequest(command: .unallot(sku: entry.key.sku, wh: entry.key.wh, channel: entry.channel)), actor: daemonActor)
        }
        let replies = group.map { submission in submission.works.map { scratch.run($0, actor: submission.actor) } }
        do {
            if !scratch.events.isEmpty {
                // The group commit: the log's new entries and nothing else. Its sync also makes the
                // meta pages of the groups before it durable.
                try store.write { writer in
                    for event in scratch.events { try writer.appendToLog(event) }
                }
                finishUnsynced()
                store.allocateAhead()
            }
        } catch LMDBError.panic {
            // LMDB marks the environment unusable after a failed meta-page write. The last commit on
            // disk is intact: stopping here lets systemd restart us from it (STYLE: crash, recover).
            preconditionFailure("LMDB environment is unusable (MDB_PANIC); restart recovers from the last commit")
        } catch LMDBError.keyExists {
            // The log already holds a seq only this writer hands out: something else wrote this store.
            // No retry can succeed, so refusing writes would only make clients retry forever.
            let message = "the log already holds seq \(scratch.events[0].seq): another process wrote this store; stopping"
            logger.critical("\(message)")
            preconditionFailure(message)
        } catch {
            // Nothing of this group was committed (LMDB aborted the transaction), so every write in it
            // is refused and may be retried; memory was not touched, and reads go on from it.
            logger.error("write group failed, nothing committed", metadata: ["error": "\(error)", "writes": "\(group.count)"])
            locked { statistics.groupsFailed += 1 }
            live.reschedule(due)
            live.reschedule(lapsed)
            let refusal = ProtocolError(.unavailable, "the store cannot take writes now: \(error)")
            answer(group.map { ($0, $0.works.map { _ in [refusal.line()] }) })
            return
        }
        let bytesWritten = (io?.bytesWritten() ?? 0) - bytesBefore
        locked {
            if !scratch.events.isEmpty { statistics.groupsCommitted += 1 }
            statistics.writesCommitted += UInt64(group.reduce(0) { $0 + $1.writeCount })
            statistics.commitMicroseconds += LedgerWriter.monotonicMicroseconds() - started
            statistics.commitBytesWritten += bytesWritten
        }
        if !scratch.events.isEmpty {
            metrics.committed(microseconds: LedgerWriter.monotonicMicroseconds() - started,
                              writes: group.reduce(0) { $0 + $1.writeCount }, events: scratch.events.count)
        }
        // The writer's own state moves on at once (the next group is decided on top of it); readers
        // and clients hear of the group once it is durable. A group that wrote nothing still waits
        // behind earlier ones: its dup=yes replies may name their writes.
        if !scratch.events.isEmpty {
            live.absorb(scratch.state, events: scratch.events, idempotency: scratch.idempotency)
        }
        unsynced.append(CommittedGroup(group: group, replies: replies, scratch: scratch))
        if scratch.events.isEmpty && unsynced.count == 1 { finishUnsynced() }
    }

    /// Syncs the data file so that the groups waiting become durable, then answers them. A failed
    /// sync leaves their durability unknown: stop, and let the restart recover what is on disk.
    private func syncUnsynced() {
        guard !unsynced.isEmpty else { return }
        do {
            try store.syncToDisk()
        } catch {
            preconditionFailure("fdatasync of the data file failed (\(error)); restart recovers what is durable")
        }
        locked { statistics.extraSyncs += 1 }
        finishUnsynced()
    }

    /// Up to when purchase orders were looked at for `overdue` (writer thread only).
    private var overdueCheckedUntil: Timestamp?

    /// Pushes `overdue` to WATCH promises once for each open purchase order with promises bound to
    /// it whose ETA passed since the last look (at most once a second). Time alone implies it, so
    /// nothing is logged; an order already late when the daemon started is found with
    /// `RESERVATIONS late=yes`.
    private func overdueDue(clock now: Timestamp? = nil) -> Bool {
        guard let from = overdueCheckedUntil else { return true }
        return (now ?? clock()).microseconds - from.microseconds >= 1_000_000 && watchers.hasWatchers
    }

    private func announceOverdue() {
        let now = clock()
        guard let from = overdueCheckedUntil else { overdueCheckedUntil = now; return }
        guard overdueDue(clock: now) else { return }
        overdueCheckedUntil = now
        guard watchers.hasWatchers else { return }
        var pushes: [TopicPush] = []
        for key in live.promising.sorted() {
            guard let pair = live.state.pairs[key] else { continue }
            for order in pair.ordersByETA where order.promised > 0 && order.eta > from && order.eta <= now {
                pushes.append(TopicPush(seq: 0, key: key, line: Rows.overdue(key, order, at: now)))
            }
        }
        if !pushes.isEmpty { watchers.publish(CommittedChanges(events: [], transitions: [], promisePushes: pushes)) }
    }

    /// The groups waiting are durable now: publish them to readers, then acknowledge, in order.
    private func finishUnsynced() {
        for committed in unsynced { publish(committed.scratch) }
        answer(unsynced.flatMap { committed in zip(committed.group, committed.replies).map { ($0, $1) } })
        for committed in unsynced {
            watchers.publish(CommittedChanges(events: committed.scratch.events, transitions: committed.scratch.transitions,
                                              transitionsTracked: committed.scratch.tracksTransitions,
                                              promisePushes: committed.scratch.promisePushes))
        }
        unsynced.removeAll(keepingCapacity: true)
    }

    /// Hands replies back, one hop per event loop however many connections of it are answered: a
    /// wake-up costs tens of microseconds of CPU on a small VM, far more than the answers.
    private func answer(_ answers: [(Submission, [[String]])]) {
        var byLoop: [ObjectIdentifier: (loop: any EventLoop, calls: [@Sendable () -> Void])] = [:]
        for (submission, partReply) in answers {
            var wholeReply = partReply
            if let earlier = submission.earlierParts {
                guard submission.isLastPart else {
                    earlier.replies += partReply
                    continue
                }
                wholeReply = earlier.replies + partReply
            }
            let reply = wholeReply
            let completion = submission.completion
            guard let loop = submission.loop else {
                completion(reply)
                continue
            }
            byLoop[ObjectIdentifier(loop), default: (loop, [])].calls.append { completion(reply) }
        }
        for (_, entry) in byLoop {
            let calls = entry.calls
            entry.loop.execute { for call in calls { call() } }
        }
    }

    /// Shows a durable group to readers (before any of its writes is acknowledged).
    private func publish(_ scratch: GroupScratch) {
        guard !scratch.events.isEmpty else { return }
        let changed = scratch.state
        view.update { contents in
            for (key, pair) in changed.pairs { contents.setPair(key, pair) }
            for reservation in changed.reservations.values { contents.setReservation(reservation) }
            for transfer in changed.transfers.values { contents.setTransfer(transfer) }
            for event in scratch.events { contents.tail.append(event.seq, sku: event.sku) }
            contents.lastSeq = changed.lastSeq
            if scratch.now > scratch.clock { contents.clockMarks.record(clock: scratch.clock, seq: changed.lastSeq) }
        }
    }

    /// Writes everything changed since the last checkpoint in one transaction, then lets memory
    /// forget what is now on disk. A checkpoint that fails leaves everything in memory, to be
    /// written by the next one: the log already holds every event, so nothing is at risk.
    private func checkpoint() {
        let started = LedgerWriter.monotonicMicroseconds()
        lastCheckpointMicroseconds = started
        let bytesBefore = io?.bytesWritten() ?? 0
        let contents = live.checkpointContents()
        let records = live.idempotency
        let tail = live.tail
        do {
            try store.write { writer in
                try writer.persist(contents)
                for (key, record) in records { try writer.putIdempotencyRecord(key, record) }
                // Sorted by sku, so each sku's new entries go to the end of its range in one pass.
                for sku in tail.seqsBySku.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                    try writer.index(sku: sku, seqs: tail.seqs(of: sku))
                }
            }
        } catch LMDBError.panic {
            preconditionFailure("LMDB environment is unusable (MDB_PANIC); restart recovers from the last commit")
        } catch {
            logger.error("checkpoint failed; it is retried, and the log holds every event", metadata: ["error": "\(error)"])
            return
        }
        live.checkpointed()
        view.update { $0.tail = UnindexedTail(indexedThrough: contents.lastSeq) }
        let bytesWritten = (io?.bytesWritten() ?? 0) - bytesBefore
        locked {
            statistics.checkpoints += 1
            statistics.checkpointMicroseconds += LedgerWriter.monotonicMicroseconds() - started
            statistics.checkpointBytesWritten += bytesWritten
            statistics.checkpointSeq = contents.lastSeq
        }
    }
}

/// The state of one group while it is being applied: a partial ledger state backed by the stored
/// projections, the events made so far and the idempotency records to store.
struct GroupScratch {
    var state: LedgerState
    var events: [Event] = []
    var idempotency: [String: IdempotencyRecord] = [:]
    /// Each event's effect on the pairs it touched, kept only while someone watches breaches.
    var transitions: [PairTransition] = []
    /// WATCH promises lines of its events, kept like `transitions`.
    var promisePushes: [TopicPush] = []
    let tracksTransitions: Bool
    let live: LiveLedger
    /// The group's event time (held at the newest event's while the clock is behind it).
    let now: Timestamp
    /// The wall clock, which deadlines count from.
    let clock: Timestamp

    init(live: LiveLedger, now: Timestamp, clock: Timestamp, tracksTransitions: Bool) {
        self.live = live
        self.now = now
        self.clock = clock
        self.tracksTransitions = tracksTransitions
        state = LedgerState(source: live)
        state.lastSeq = live.lastSeq
    }

    /// Applies one submission and returns its reply lines.
    mutating func run(_ work: LedgerWriter.Work, actor: UInt32) -> [String] {
        switch work {
        case .single(let request):
            switch apply(request, actor: actor) {
            case .success(let lines): return lines
            case .failure(let error): return [error.line()]
            }
        case .batch(let requests):
            // A batch is all or nothing: on the first refusal, forget what it did so far.
            let saved = (state, events.count, idempotency, transitions.count, promisePushes.count)
            var rows: [String] = []
            for (index, request) in requests.enumerated() {
                switch apply(request, actor: actor) {
                case .success(let lines):
                    var done = "done" + lines[lines.count - 1].dropFirst(2)
                    // An allocation's `done` row names its lines (`lines=ORD-9.1@LIL:5`) instead of counting them.
                    if case let .allocated(_, _, made, _, _, _)? = events.last?.body, case .allocate = request.command {
                        done = done.replacingOccurrences(of: " lines=\(made.count) ", with: " lines=\(Rows.allocationLines(made)) ")
                    }
                    rows.append(done)
                case .failure(let error):
                    state = saved.0
                    events.removeLast(events.count - saved.1)
                    idempotency = saved.2
                    transitions.removeLast(transitions.count - saved.3)
                    promisePushes.removeLast(promisePushes.count - saved.4)
                    return [error.line(prefix: [("index", String(index + 1))])]
                }
            }
            return rows + ["OK count=\(requests.count)"]
        }
    }

    mutating func apply(_ request: WriteRequest, actor: UInt32) -> Result<[String], ProtocolError> {
        var fingerprint = ""
        if let key = request.idempotencyKey {
            fingerprint = RequestFingerprint.current(request)
            if let record = idempotency[key] ?? live.idempotencyRecord(key) {
                // An imported key (stockctl import) has no request to compare with: its retry is a
                // duplicate. A record from before the versioned fingerprint is compared in its form.
                guard record.fingerprint == fingerprint || record.fingerprint == IdempotencyRecord.importedFingerprint
                        || RequestFingerprint.isLegacy(record.fingerprint, of: request) else {
                    return .failure(ProtocolError(.conflict, "id \(key) was already used with other arguments"))
                }
                var lines = record.reply.split(separator: "\n").map(String.init)
                lines[lines.count - 1] += " dup=yes"
                return .success(lines)
            }
        }
        let context = DecisionContext(now: now, seq: state.lastSeq + 1, actor: actor, clock: clock)
        switch Ledger.decideEvents(request, in: state, context: context) {
        case .failure(let refusal):
            return .failure(ProtocolError(refusal))
        case .success(var decided):
            if request.idempotencyKey != nil { decided[0].requestFingerprint = fingerprint }
            let event = decided[0]
            // A `[state]` capture copies the whole state (a retain per dictionary): only events with
            // decisions need the promises before, and the closures below read `state` in place.
            let before = event.hasDecisions ? Rows.promisesBefore(event) { state.reservation($0) } : [:]
            for event in decided {
                let keys = event.body.warehouses.map { PairKey(sku: event.sku, wh: $0) }
                let before = tracksTransitions ? keys.map { state.pair($0) } : []
                let promisesBefore = tracksTransitions && event.hasDecisions ? Rows.promisesBefore(event) { state.reservation($0) } : [:]
                Ledger.apply(event, to: &state)
                events.append(event)
                if tracksTransitions {
                    let anyWarehouse = state.pair(PairKey(sku: event.sku, wh: PairKey.anyWarehouse))?.waitlist ?? []
                    let defaults = state.pair(PairKey.configuration)
                    for (key, old) in zip(keys, before) {
                        transitions.append(PairTransition(seq: event.seq, at: event.recordedAt, key: key, before: old,
                                                          after: state.pair(key) ?? PairState(), anyWarehouseWaiters: anyWarehouse,
                                                          channelDefaults: defaults))
                    }
                    let key = PairKey(sku: event.sku, wh: event.body.fillWarehouse)
                    for line in Rows.promisePushes(event, before: promisesBefore, reservations: { state.reservation($0) }) {
                        promisePushes.append(TopicPush(seq: event.seq, key: key, line: line))
                    }
                }
            }
            var lines = Rows.writeReply(event, pairs: { key in state.pair(key) ?? PairState() },
                                        reservations: { state.reservation($0) }, before: before,
                                        continuation: Array(decided.dropFirst()))
            if case .releaseAllocation = request.command {
                // Answered like a batch: a `done` row per line released, then the count.
                lines = decided.map { released in
                    let ok = Rows.writeReply(released, pairs: { key in state.pair(key) ?? PairState() }).last!
                    return "done" + ok.dropFirst(2)
                } + ["OK count=\(decided.count)"]
            }
            if let key = request.idempotencyKey {
                idempotency[key] = IdempotencyRecord(fingerprint: fingerprint, reply: lines.joined(separator: "\n"),
                                                     recordedAt: now)
            }
            return .success(lines)
        }
    }
}

/// Bytes this thread has handed to write(2) and its kin (`wchar` in /proc/thread-self/io): how many
/// pages a commit wrote, without asking LMDB, which does not count them. Opened on the writer thread.
final class ThreadWriteCounter {
    private let descriptor: Int32

    init?() {
        descriptor = open("/proc/thread-self/io", O_RDONLY | O_CLOEXEC)
        if descriptor < 0 { return nil }
    }

    deinit { close(descriptor) }

    func bytesWritten() -> UInt64 {
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return 0 }
        // "rchar: N\nwchar: N\n...": the second line.
        var line = 0, value: UInt64 = 0, inNumber = false
        for byte in buffer[0..<count] {
            if byte == 0x0a { if line == 1 { return value }; line += 1; continue }
            guard line == 1 else { continue }
            if byte >= 0x30 && byte <= 0x39 { value = value * 10 + UInt64(byte - 0x30); inNumber = true } else if inNumber { return value }
        }
        return value
    }
}
