import LedgerCore
import LedgerProtocol
import Logging
import NIOCore

/// One client connection: parses each line, sends writes to the writer, answers reads, and replies
/// strictly in request order however the answers arrive.
///
/// Replies wait in `slots`, one per request. A write's slot fills when the writer has committed it;
/// a read that follows unanswered writes of the same connection waits in its slot and runs once
/// they are answered, so a read sees every write acknowledged before it, and writes sent after that
/// read wait for it, so it sees none of those.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = LineFrame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Requests a connection may have unanswered before we stop reading from it: pipelining is
    /// welcome, an unbounded queue per client is not.
    static let pendingRepliesMax = 1_024

    private enum Slot {
        case waiting
        case ready([String])
        case deferredRead(ReadRequest)
        /// A write sent after a read that is still waiting: it goes to the writer only once that read
        /// has run, so the read does not see writes that were sent after it.
        case deferredWrite(LedgerWriter.Work)
        /// WATCH: the stream starts when this slot reaches the head, after every earlier reply.
        case startWatch(WatchTopic)
    }

    /// A connection that has turned into a stream (WATCH).
    private struct Watch {
        var topic: WatchTopic
        /// The last log position pushed; later deliveries skip anything at or before it.
        var deliveredSeq: UInt64
        /// Replaying `WATCH events from=` history; live changes wait in `pending` meanwhile.
        var catchingUp: Bool
        var catchUpPaused = false
        var pending: [CommittedChanges] = []
        /// Bytes written while the channel was not writable: the measure of how far behind it is.
        var backlogBytes = 0
    }

    private let shared: ServerShared
    private let peer: PeerCredentials
    private let role: AccessPolicy.Role
    private var slots = CircularBuffer<Slot>(initialCapacity: 16)
    /// The id of `slots.first`; ids grow by one per request.
    private var headSlotID: UInt64 = 0
    private var batch: [WriteRequest]?
    private var readHeld = false
    private var deferredReads = 0
    /// Writes parsed in this read burst, sent to the writer together at the end of the burst.
    private var unsentWrites: [LedgerWriter.Work] = []
    private var unsentSlotIDs: [UInt64] = []
    private var deferredWrites = 0
    private var closeAfterReplies = false
    private var context: ChannelHandlerContext?
    private var watch: Watch?
    /// `HELLO format=json` switches every later reply line of this connection to JSON.
    private var json = false
    /// Events one catch-up step reads and writes before yielding the event loop.
    static let catchUpEventsPerStep = 1_000
    /// Live changes a catching-up watcher may hold back before it counts as too slow.
    static let catchUpPendingMax = 10_000

    init(shared: ServerShared, peer: PeerCredentials) {
        self.shared = shared
        self.peer = peer
        self.role = shared.configuration.accessPolicy.role(uid: peer.uid, gid: peer.gid)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelInactive(context: ChannelHandlerContext) {
        // A client that vanishes mid-batch leaves nothing applied: the batch was never submitted.
        batch = nil
        if watch != nil { shared.writer.watchers.unsubscribe(ObjectIdentifier(self)) }
        watch = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closeAfterReplies else { return }
        switch unwrapInboundIn(data) {
        case .tooLong:
            append(.ready([ProtocolError(.limit, "line longer than \(Limits.lineBytesMax) bytes").line()]))
        case .line(let buffer):
            do {
                guard let request = try RequestParser.parse(buffer.readableBytesView) else { return }
                handle(request)
            } catch {
                append(.ready([error.line()]))
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(ChannelEvent.inputClosed) = event as? ChannelEvent {
            // The client finished sending: answer what it sent, then close. An open batch is dropped.
            batch = nil
            closeAfterReplies = true
            drain()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        drain()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if slots.count >= ConnectionHandler.pendingRepliesMax || !context.channel.isWritable {
            readHeld = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, watch != nil {
            watch!.backlogBytes = 0
            if watch!.catchUpPaused {
                watch!.catchUpPaused = false
                catchUp()
            }
        }
        resumeReadingIfRoom()
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        shared.logger.debug("connection error", metadata: ["error": "\(error)", "pid": "\(peer.pid)"])
        context.close(promise: nil)
    }

    // MARK: requests

    private func handle(_ request: Request) {
        if batch != nil { return handleInBatch(request) }
        if watch != nil { return handleWhileWatching(request) }
        switch request {
        case .write(let write):
            guard role == .writer else { return refuseWrite() }
            submit(.single(write))
        case .read(let read):
            if slots.isEmpty {
                append(.ready(shared.reads.answer(read)))
            } else {
                deferredReads += 1
                append(.deferredRead(read))
            }
        case .begin:
            guard role == .writer else { return refuseWrite() }
            batch = []
            append(.ready(["OK"]))
        case .commit, .abort:
            append(.ready([ProtocolError(.state, "no batch is open (send BEGIN first)").line()]))
        case .hello(let format):
            // The switch applies from this reply on, so a JSON client can parse the HELLO answer too.
            if let format { json = format == .json }
            append(.ready(["OK server=stockd version=\(shared.configuration.version) proto=1 role=\(role.rawValue)"]))
        case .ping:
            append(.ready(["OK pong"]))
        case .quit:
            append(.ready(["OK bye"]))
            closeAfterReplies = true
        case .watch(let topic):
            append(.startWatch(topic))
        case .unwatch:
            append(.ready([ProtocolError(.state, "not watching").line()]))
        }
    }

    private func handleInBatch(_ request: Request) {
        switch request {
        case .write(let write):
            guard batch!.count < Limits.batchWritesMax else {
                return append(.ready([ProtocolError(.limit, "a batch holds at most \(Limits.batchWritesMax) writes").line()]))
            }
            batch!.append(write)
            append(.ready(["OK queued=\(batch!.count)"]))
        case .commit:
            let writes = batch!
            batch = nil
            submit(.batch(writes))
        case .abort:
            batch = nil
            append(.ready(["OK"]))
        case .ping:
            append(.ready(["OK pong"]))
        case .quit:
            batch = nil
            append(.ready(["OK bye"]))
            closeAfterReplies = true
        case .begin:
            append(.ready([ProtocolError(.state, "a batch is already open").line()]))
        case .read, .hello, .watch, .unwatch:
            append(.ready([ProtocolError(.state, "only writes, COMMIT and ABORT inside a batch").line()]))
        }
    }

    private func handleWhileWatching(_ request: Request) {
        switch request {
        case .ping:
            append(.ready(["OK pong"]))
        case .unwatch:
            shared.writer.watchers.unsubscribe(ObjectIdentifier(self))
            watch = nil
            append(.ready(["OK"]))
        case .quit:
            shared.writer.watchers.unsubscribe(ObjectIdentifier(self))
            watch = nil
            append(.ready(["OK bye"]))
            closeAfterReplies = true
        default:
            append(.ready([ProtocolError(.state, "watching: only PING, UNWATCH and QUIT").line()]))
        }
    }

    // MARK: watching

    private func startWatch(_ topic: WatchTopic, context: ChannelHandlerContext) {
        let committed = shared.writer.lastCommittedSeq
        var from: UInt64?
        if case .events(let start) = topic { from = start }
        watch = Watch(topic: topic, deliveredSeq: from.map { $0 - 1 } ?? committed, catchingUp: from != nil)
        let loop = context.eventLoop
        // Subscribe before reading history: a commit after this point arrives as a delivery, one
        // before it is in the history; `deliveredSeq` drops whatever comes twice.
        shared.writer.watchers.subscribe(ObjectIdentifier(self), loop: loop) { [self] changes in
            self.deliver(changes)
        }
        if from != nil { loop.execute { self.catchUp() } }
    }

    /// Writes the next step of `WATCH events from=` history, then yields; pauses while the client
    /// is not reading, and turns live when the history is done.
    private func catchUp() {
        guard let context, var current = watch, current.catchingUp, !current.catchUpPaused else { return }
        let events: [Event]
        do {
            events = try shared.reads.events(after: current.deliveredSeq, limit: ConnectionHandler.catchUpEventsPerStep)
        } catch {
            // A watcher must never believe it caught up when it did not: end the stream instead.
            return endWatch(context, ProtocolError(.unavailable, "cannot read the log: \(error)"))
        }
        if !events.isEmpty {
            push(events.map { Rows.event($0) }, context: context)
            current.deliveredSeq = events[events.count - 1].seq
        }
        if events.count < ConnectionHandler.catchUpEventsPerStep {
            current.catchingUp = false
            let pending = current.pending
            current.pending = []
            watch = current
            for changes in pending { deliver(changes) }
            return
        }
        watch = current
        if context.channel.isWritable {
            context.eventLoop.execute { self.catchUp() }
        } else {
            watch!.catchUpPaused = true
        }
    }

    private func deliver(_ changes: CommittedChanges) {
        guard let context, var current = watch else { return }
        if current.catchingUp {
            current.pending.append(changes)
            watch = current
            if current.pending.count > ConnectionHandler.catchUpPendingMax { endWatch(context, .watcherTooSlow) }
            return
        }
        var lines: [String] = []
        switch current.topic {
        case .events:
            for event in changes.events where event.seq > current.deliveredSeq { lines.append(Rows.event(event)) }
        case let .breaches(wh, sku):
            for transition in changes.transitions where transition.seq > current.deliveredSeq
                && (wh == nil || transition.key.wh == wh) && (sku == nil || transition.key.sku == sku) {
                lines += transition.lines
            }
        }
        if let last = changes.events.last { current.deliveredSeq = max(current.deliveredSeq, last.seq) }
        watch = current
        if !lines.isEmpty { push(lines, context: context) }
    }

    private func push(_ lines: [String], context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: lines.reduce(0) { $0 + $1.utf8.count + 1 })
        for line in lines {
            buffer.writeString(json ? JSONReply.object(for: line, pushed: true) : line)
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        if !context.channel.isWritable {
            watch?.backlogBytes += buffer.readableBytes
            if (watch?.backlogBytes ?? 0) > WatchHub.watcherBacklogBytesMax { return endWatch(context, .watcherTooSlow) }
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Ends a stream with an `ERR` line after what is already queued, then closes: a watcher that
    /// does not keep up is told so (writers never wait for it), as is one whose history cannot be read.
    private func endWatch(_ context: ChannelHandlerContext, _ error: ProtocolError) {
        shared.writer.watchers.unsubscribe(ObjectIdentifier(self))
        watch = nil
        var buffer = context.channel.allocator.buffer(capacity: 64)
        let line = error.line()
        buffer.writeString((json ? JSONReply.object(for: line) : line) + "\n")
        // The line goes after what is already queued; close once it is written, or after a grace
        // period if the client never reads again (then the queued data is dropped, not kept).
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
        context.eventLoop.scheduleTask(in: ConnectionHandler.cutOffGrace) { channel.close(promise: nil) }
        closeAfterReplies = true
    }

    /// How long a cut-off watcher has to read what was queued before the connection is dropped.
    static let cutOffGrace = TimeAmount.seconds(10)

    private func refuseWrite() {
        append(.ready([ProtocolError(.denied, "uid \(peer.uid) may read but not write").line()]))
    }

    private func submit(_ work: LedgerWriter.Work) {
        if deferredReads > 0 {
            deferredWrites += 1
            return append(.deferredWrite(work))
        }
        slots.append(.waiting)
        send(work, slotID: headSlotID + UInt64(slots.count - 1))
    }

    private func send(_ work: LedgerWriter.Work, slotID: UInt64) {
        unsentWrites.append(work)
        unsentSlotIDs.append(slotID)
    }

    /// Hands this burst's writes to the writer as one submission; their replies come back together.
    private func flushWrites() {
        guard !unsentWrites.isEmpty, let loop = context?.eventLoop else { return }
        let slotIDs = unsentSlotIDs
        shared.writer.submit(unsentWrites, actor: peer.uid) { [self] replies in
            loop.execute {
                for (slotID, lines) in zip(slotIDs, replies) { self.fill(slotID, lines, drainNow: false) }
                self.drain()
            }
        }
        unsentWrites.removeAll(keepingCapacity: true)
        unsentSlotIDs.removeAll(keepingCapacity: true)
    }

    private func fill(_ slotID: UInt64, _ lines: [String], drainNow: Bool) {
        let index = Int(slotID - headSlotID)
        guard index >= 0, index < slots.count else { return }
        slots[slots.index(slots.startIndex, offsetBy: index)] = .ready(lines)
        if index == 0 && drainNow { drain() }
    }

    private func append(_ slot: Slot) {
        slots.append(slot)
    }

    /// Writes every answered reply at the head, in order, running deferred reads as they come up.
    private func drain() {
        guard let context else { return }
        var wrote = false
        loop: while let head = slots.first {
            let lines: [String]
            switch head {
            case .waiting, .deferredWrite: break loop
            case .ready(let ready): lines = ready
            case .startWatch(let topic):
                let name: String
                switch topic {
                case .breaches: name = "breaches"
                case .events: name = "events"
                }
                lines = ["OK watching=\(name)"]
                slots.removeFirst()
                headSlotID += 1
                write(lines, context: context)
                wrote = true
                startWatch(topic, context: context)
                continue loop
            case .deferredRead(let read):
                lines = shared.reads.answer(read)
                deferredReads -= 1
            }
            slots.removeFirst()
            headSlotID += 1
            write(lines, context: context)
            wrote = true
        }
        if wrote { context.flush() }
        if deferredWrites > 0 { sendWritesBeforeNextRead() }
        flushWrites()
        if closeAfterReplies && slots.isEmpty {
            context.close(promise: nil)
            return
        }
        resumeReadingIfRoom()
    }

    private func write(_ lines: [String], context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: lines.reduce(0) { $0 + $1.utf8.count + 1 })
        for line in lines {
            buffer.writeString(json ? JSONReply.object(for: line) : line)
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    /// Sends the deferred writes that no longer have a waiting read before them.
    private func sendWritesBeforeNextRead() {
        var index = slots.startIndex
        var slotID = headSlotID
        while index != slots.endIndex, deferredWrites > 0 {
            switch slots[index] {
            case .deferredRead, .startWatch: return
            case .deferredWrite(let work):
                slots[index] = .waiting
                deferredWrites -= 1
                send(work, slotID: slotID)
            case .waiting, .ready: break
            }
            index = slots.index(after: index)
            slotID += 1
        }
    }

    private func resumeReadingIfRoom() {
        guard readHeld, let context, slots.count < ConnectionHandler.pendingRepliesMax / 2, context.channel.isWritable
        else { return }
        readHeld = false
        context.read()
    }
}
