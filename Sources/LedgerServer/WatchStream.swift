import LedgerCore
import LedgerProtocol
import NIOCore

/// A connection that has turned into a stream (WATCH): committed changes pushed as lines, after an
/// optional catch-up through history (`WATCH events from=`). Runs on the connection's event loop.
///
/// Guarantees: each event is pushed at most once and in log order (`deliveredSeq` drops repeats);
/// a watcher that falls too far behind is told `ERR LIMIT watcher too slow` and closed, so writers
/// never wait for it and the server never buffers without bound for it. A catching-up watcher holds
/// no live changes: it reads them from the log like the rest of its history.
final class WatchStream {

    let topic: WatchTopic
    private let shared: ServerShared
    private let context: ChannelHandlerContext
    private let json: Bool
    private let id: ObjectIdentifier
    /// Called once when the stream ends by itself (too slow, history unreadable): the connection
    /// closes after what is queued.
    private let onEnd: () -> Void
    /// The last log position pushed; later deliveries skip anything at or before it. Kept where a
    /// scrape can read it (the watchers' lag).
    private let progress = WatchProgress(0)
    private var deliveredSeq: UInt64 {
        get { progress.deliveredSeq.load(ordering: .relaxed) }
        set { progress.deliveredSeq.store(newValue, ordering: .relaxed) }
    }
    private var catchingUp: Bool
    private var catchUpPaused = false
    /// Bytes written while the channel was not writable: the measure of how far behind it is.
    private var backlogBytes = 0
    private var ended = false
    /// WATCH demand: the pairs pushed as spikes and not yet seen below the ratio again.
    private var spikes = SpikeEdges()
    /// `WATCH events stock=yes`: whether each event's buckets are pushed before it.
    private let withStock: Bool
    /// While catching up with `stock=yes`: the fold of each sku met, at `deliveredSeq` (at most
    /// `Limits.watcherStockSkusMax`). Empty once live: live buckets come with each commit.
    private var stockFolds = StockFolds()

    init(topic: WatchTopic, shared: ServerShared, context: ChannelHandlerContext, json: Bool, id: ObjectIdentifier,
         onEnd: @escaping () -> Void) {
        self.topic = topic
        self.shared = shared
        self.context = context
        self.json = json
        self.id = id
        self.onEnd = onEnd
        var from: UInt64?
        var withStock = false
        if case let .events(start, stock) = topic { (from, withStock) = (start, stock) }
        self.withStock = withStock
        catchingUp = from != nil
        deliveredSeq = from.map { $0 - 1 } ?? 0
    }

    /// Subscribes, then fixes where the stream starts, then starts the catch-up. In that order: a
    /// commit published after the start point reached the watchers after this subscription, so it
    /// arrives as a delivery; one before it is history (or, live, before the stream); and
    /// `deliveredSeq` drops whatever comes twice. The caller sends `OK watching=` after this, so a
    /// write the client makes after reading it is always pushed.
    func start() {
        let loop = context.eventLoop
        // Deliveries and catch-up steps run on this connection's event loop, where the stream lives.
        let stream = NIOLoopBound(self, eventLoop: loop)
        if case .demand = topic { shared.writer.watchers.demand.watcherStarted() }
        shared.writer.watchers.subscribe(id, loop: loop, progress: progress) { changes in
            stream.value.deliver(changes)
        }
        if catchingUp {
            loop.execute { stream.value.catchUp() }
        } else {
            deliveredSeq = shared.writer.lastCommittedSeq
        }
    }

    /// UNWATCH, QUIT or the connection closing.
    func stop() {
        if !ended, case .demand = topic { shared.writer.watchers.demand.watcherStopped() }
        ended = true
        shared.writer.watchers.unsubscribe(id)
    }

    func writabilityChanged() {
        guard !ended, context.channel.isWritable else { return }
        backlogBytes = 0
        if catchUpPaused {
            catchUpPaused = false
            catchUp()
        }
    }

    /// Writes the next step of history, then yields; pauses while the client is not reading, and
    /// turns live when the history is done.
    private func catchUp() {
        guard !ended, catchingUp, !catchUpPaused else { return }
        let step: (lines: [String], count: Int, lastSeq: UInt64)
        do {
            if withStock {
                step = try shared.reads.eventsWithStock(after: deliveredSeq, limit: Limits.watcherCatchUpEventsPerStep,
                                                        skus: &stockFolds)
            } else {
                let events = try shared.reads.events(after: deliveredSeq, limit: Limits.watcherCatchUpEventsPerStep)
                step = (events.map { Rows.event($0) }, events.count, events.last?.seq ?? deliveredSeq)
            }
        } catch {
            // A watcher must never believe it caught up when it did not: end the stream instead.
            return end(ReadService.refusal(error))
        }
        if !step.lines.isEmpty {
            push(step.lines)
            deliveredSeq = step.lastSeq
        }
        if step.count < Limits.watcherCatchUpEventsPerStep {
            // Caught up with what is published: every change delivered from now on is live. One
            // delivered while catching up was published before it arrived, so it was in the log read.
            catchingUp = false
            stockFolds = StockFolds()
            return
        }
        if context.channel.isWritable {
            let stream = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.eventLoop.execute { stream.value.catchUp() }
        } else {
            catchUpPaused = true
        }
    }

    private func deliver(_ changes: CommittedChanges) {
        // While catching up, the log holds these changes: the catch-up reads them.
        guard !ended, !catchingUp else { return }
        var lines: [String] = []
        switch topic {
        case .events where withStock:
            guard changes.transitionsTracked else {
                // A commit that began before anyone watched carries no buckets: read it from the log
                // instead (it is published before it is delivered), as a catch-up does.
                guard let last = changes.events.last, last.seq > deliveredSeq else { return }
                catchingUp = true
                return catchUp()
            }
            var next = changes.transitions.startIndex
            for event in changes.events where event.seq > deliveredSeq {
                // The writer records one transition per warehouse of each event, in event order.
                while next < changes.transitions.endIndex && changes.transitions[next].seq < event.seq { next += 1 }
                let first = next
                while next < changes.transitions.endIndex && changes.transitions[next].seq == event.seq { next += 1 }
                let after = changes.transitions[first..<next]
                lines += Rows.eventWithStock(event) { key in after.first { $0.key == key }?.after ?? PairState() }
            }
        case .events:
            for event in changes.events where event.seq > deliveredSeq { lines.append(Rows.event(event)) }
        case let .breaches(wh, sku):
            for transition in changes.transitions where transition.seq > deliveredSeq
                && (wh == nil || transition.key.wh == wh) && (sku == nil || transition.key.sku == sku) {
                lines += transition.lines
            }
        case let .channels(channel, sku, wh):
            for transition in changes.transitions where transition.seq > deliveredSeq
                && (wh == nil || transition.key.wh == wh) && (sku == nil || transition.key.sku == sku) {
                lines += transition.channelLines(channel: channel)
            }
            for event in changes.events where event.seq > deliveredSeq && !event.decisions.fenceCuts.isEmpty
                && (sku == nil || event.sku == sku) && (wh == nil || event.body.warehouses.contains(wh!)) {
                for cut in event.decisions.fenceCuts where channel == nil || cut.channel == channel {
                    lines.append(Rows.fenceCut(event, cut))
                }
            }
        case let .restock(sku, wh, min):
            for transition in changes.transitions where transition.seq > deliveredSeq
                && (wh == nil || transition.key.wh == wh) && (sku == nil || transition.key.sku == sku) {
                lines += transition.restockLines(min: min)
            }
        case let .kanban(sku, wh):
            for transition in changes.transitions where transition.seq > deliveredSeq
                && (wh == nil || transition.key.wh == wh) && (sku == nil || transition.key.sku == sku) {
                if let line = transition.cardLine { lines.append(line) }
            }
        case let .demand(sku, wh, channel, ratio):
            var due: [String] = []
            for reading in changes.demand where (wh == nil || reading.key.wh == wh) && (sku == nil || reading.key.sku == sku)
                && reading.channel == channel {
                // Without channel=, the pair's sales in every channel; with it, that channel's alone.
                if reading.due && !due.contains(reading.key.sku) { due.append(reading.key.sku) }
                if let line = spikes.line(for: reading, ratio: ratio) { lines.append(line) }
            }
            if !due.isEmpty { shared.reads.refreshDemand(due, pool: shared.readPool, loop: context.eventLoop) }
        case let .promises(sku, wh):
            for push in changes.promisePushes where (push.seq == 0 || push.seq > deliveredSeq)
                && (wh == nil || push.key.wh == wh) && (sku == nil || push.key.sku == sku) {
                lines.append(push.line)
            }
        }
        if let last = changes.events.last { deliveredSeq = max(deliveredSeq, last.seq) }
        if !lines.isEmpty { push(lines) }
    }

    private func push(_ lines: [String]) {
        let buffer = ReplyBytes.render(lines, json: json, pushed: true, allocator: context.channel.allocator)
        guard !context.channel.isWritable else { return context.writeAndFlush(NIOAny(buffer), promise: nil) }
        // The client is behind: what it has not taken counts against its own backlog and the
        // server's budget; past either, it is cut off.
        let budget = shared.replyBudget, size = buffer.readableBytes
        backlogBytes += size
        if backlogBytes > Limits.watcherBacklogBytesMax || !budget.hasRoom { return end(.watcherTooSlow) }
        budget.add(size)
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { _ in budget.remove(size) }
        context.writeAndFlush(NIOAny(buffer), promise: promise)
    }

    /// Ends the stream with an `ERR` line after what is already queued, then closes: once the line
    /// is written, or after a grace period if the client never reads again (then the queued data is
    /// dropped, not kept).
    private func end(_ error: ProtocolError) {
        shared.metrics.countError(error.code)
        stop()
        onEnd()
        let buffer = ReplyBytes.render([error.line()], json: json, allocator: context.channel.allocator)
        let channel = context.channel
        context.writeAndFlush(NIOAny(buffer)).whenComplete { _ in channel.close(promise: nil) }
        context.eventLoop.scheduleTask(in: .seconds(Limits.watcherCutOffGraceSeconds)) { channel.close(promise: nil) }
    }
}
