import LedgerCore
import LedgerProtocol
import Logging
import NIOCore

/// One client connection: splits what it receives into lines, parses each, sends writes to the
/// writer, answers reads, and replies strictly in request order however the answers arrive
/// (`ReplyQueue`). A WATCH turns the connection into a `WatchStream`.
///
/// Reads of the present are answered on the event loop from memory. Reads that fold or scan the
/// log (`at=`, HISTORY, BREACHES history, EVENTS) run on the server's read pool instead, so one slow
/// read never freezes the other connections of this event loop.
///
/// What a client can make it hold is bounded (docs/operating.md, "Memory"): it parses only while
/// fewer than `Limits.pendingRequestsMax` requests are unanswered and the client is taking its
/// replies (the channel is writable), stopping in the middle of a read burst if need be, and it
/// stops reading from the socket meanwhile. A read runs only when the client is taking its
/// replies; EVENTS and HISTORY go out page by page, each page when the client has taken the last.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Read answers at least this large are counted against the server's budget of read bytes in
    /// flight (`ReplyBudget`); smaller ones are bounded by the count of unanswered requests.
    static let budgetedReplyBytesMin = 4_096
    /// How soon a read held back by a full server budget looks again.
    static let budgetRetry = TimeAmount.milliseconds(10)

    private let shared: ServerShared
    private let peer: PeerCredentials
    private let role: AccessPolicy.Role
    private var replies = ReplyQueue()
    private var batch: [WriteRequest]?
    /// Bytes received and not parsed yet: at most one read burst and one partial line.
    private var inbound: ByteBuffer?
    private var framer = LineFramer()
    /// The client shut its writing side: once `inbound` is parsed, answer and close.
    private var inputClosed = false
    private var readHeld = false
    private var budgetRetryScheduled = false
    /// When the connection last received a request or sent a reply (monotonic microseconds).
    private var lastActivity = IdleSweep.now()
    /// Writes parsed in this read burst, sent to the writer together at the end of the burst.
    private var unsentWrites: [LedgerWriter.Work] = []
    private var unsentSlotIDs: [UInt64] = []
    private var closeAfterReplies = false
    /// The stream ended itself (too slow, log unreadable): it closes the connection after its last
    /// line; nothing more is parsed or sent.
    private var streamEnded = false
    /// A close waits for what was written before it to go out.
    private var closing = false
    private var context: ChannelHandlerContext?
    private var watch: WatchStream?
    /// WATCH was parsed; its stream starts when its reply reaches the head. From the moment it is
    /// parsed, only PING, UNWATCH and QUIT are accepted.
    private var watchRequested = false
    /// Queued WATCHes cancelled (UNWATCH or QUIT) before their stream started: they answer
    /// `OK watching=` and start nothing.
    private var watchesCancelled = 0
    /// `HELLO format=json` switches the replies of every later request of this connection to JSON.
    private var json = false
    /// Requests by verb counted here and added to the server's counters once per read burst.
    /// Unchecked: touched only by this handler on its event loop, never while another access to it
    /// is open, and the run-time exclusivity check would cost more than the count it guards.
    @exclusivity(unchecked) private var tally = ServerMetrics.Tally()
    /// Where this event loop's connections add their tallies.
    private var requestShard: RequestShard?

    init(shared: ServerShared, peer: PeerCredentials) {
        self.shared = shared
        self.peer = peer
        self.role = shared.configuration.accessPolicy.role(uid: peer.uid, gid: peer.gid)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        requestShard = shared.metrics.requestShard(for: context.eventLoop)
    }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelInactive(context: ChannelHandlerContext) {
        // A client that vanishes mid-batch leaves nothing applied: the batch was never submitted.
        batch = nil
        inbound = nil
        stopWatching()
        requestShard?.add(&tally)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closeAfterReplies, !streamEnded else { return }
        lastActivity = IdleSweep.now()
        var bytes = unwrapInboundIn(data)
        if inbound == nil || inbound!.readableBytes == 0 {
            inbound = bytes
        } else {
            inbound!.discardReadBytes()
            inbound!.writeBuffer(&bytes)
        }
        parseInbound()
    }

    /// Whether the connection takes another request now.
    private var acceptsRequests: Bool {
        !closeAfterReplies && !streamEnded && replies.count < Limits.pendingRequestsMax && context?.channel.isWritable == true
    }

    /// Parses and handles received lines while the connection has room for more requests; what is
    /// left waits in `inbound` (and reading from the socket waits with it).
    private func parseInbound() {
        guard var buffer = inbound else { return }
        inbound = nil
        while acceptsRequests, let frame = framer.next(&buffer) {
            switch frame {
            case .tooLong:
                reply([ProtocolError(.limit, "line longer than \(Limits.lineBytesMax) bytes").line()])
            case .line(let line):
                do {
                    if let request = try RequestParser.parse(line.readableBytesView) { handle(request) }
                } catch {
                    reply([error.line()])
                }
            }
        }
        if closeAfterReplies { return }
        inbound = buffer
        if inputClosed && acceptsRequests {
            // Every complete line is parsed; a last line without its newline is not a request.
            inbound = nil
            // The client finished sending: answer what it sent, then close. An open batch is dropped.
            batch = nil
            closeAfterReplies = true
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(ChannelEvent.inputClosed) = event as? ChannelEvent {
            inputClosed = true
            parseInbound()
            drain()
        } else if let sweep = event as? IdleSweep {
            return closeIfIdle(context: context, sweep: sweep)
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Nothing received or sent for the idle timeout: a connection with nothing in flight, or whose
    /// client has stopped taking its replies, is closed. Watchers and connections waiting for the
    /// writer are kept.
    private func closeIfIdle(context: ChannelHandlerContext, sweep: IdleSweep) {
        // `lastActivity` may be later than the sweep's time, taken on another thread before it.
        guard watch == nil, !watchRequested, sweep.nowMicroseconds >= lastActivity + sweep.timeoutMicroseconds else { return }
        if closing || streamEnded || !context.channel.isWritable {
            // What it was sent has not gone out for a whole timeout: the client is not reading.
            shared.logger.notice("closing a connection whose client stopped reading its replies",
                                 metadata: ["pid": "\(peer.pid)", "uid": "\(peer.uid)"])
            context.close(promise: nil)
        } else if replies.isEmpty {
            shared.logger.debug("closing an idle connection", metadata: ["pid": "\(peer.pid)", "uid": "\(peer.uid)"])
            var buffer = context.channel.allocator.buffer(capacity: 64)
            buffer.writeString(ProtocolError(.limit, "idle for \(shared.configuration.idleTimeoutSeconds) s, closing").line() + "\n")
            shared.metrics.countError(.limit)
            context.write(wrapOutboundOut(buffer), promise: nil)
            closeWhenWritten(context)
        }
    }

    /// Closes once everything written before has gone out to the client (writes complete in order).
    private func closeWhenWritten(_ context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        requestShard?.add(&tally)
        drain()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        // Room for requests means `inbound` holds at most a partial line: read the rest of it.
        if acceptsRequests {
            context.read()
        } else {
            readHeld = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if let watch {
            watch.writabilityChanged()
        } else if context.channel.isWritable {
            drain()
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        shared.logger.debug("connection error", metadata: ["error": "\(error)", "pid": "\(peer.pid)"])
        context.close(promise: nil)
    }

    // MARK: requests

    private func handle(_ request: Request) {
        tally.count(request.verb)
        if batch != nil { return handleInBatch(request) }
        if watch != nil || watchRequested { return handleWhileWatching(request) }
        switch request {
        case .write(let write):
            guard role == .writer else { return refuseWrite() }
            submit(.single(write))
        case .read(let read):
            if replies.isEmpty && !ConnectionHandler.runsOffLoop(read) && shared.replyBudget.hasRoom {
                let answer = shared.reads.answer(read, json: json, allocator: allocator, timed: tally.timesNextRead())
                replies.append(.ready(answer), json: json)
            } else {
                replies.append(.deferredRead(.request(read)), json: json)
            }
        case .begin:
            guard role == .writer else { return refuseWrite() }
            batch = []
            reply(["OK"])
        case .commit, .abort:
            reply([ProtocolError(.state, "no batch is open (send BEGIN first)").line()])
        case .hello(let format):
            // The switch applies from this reply on, so a JSON client can parse the HELLO answer too.
            if let format { json = format == .json }
            reply(["OK server=stockd version=\(shared.configuration.version) proto=1 role=\(role.rawValue)"])
        case .ping:
            reply(["OK pong"])
        case .quit:
            reply(["OK bye"])
            closeAfterReplies = true
        case .watch(let topic):
            watchRequested = true
            replies.append(.startWatch(topic), json: json)
        case .unwatch:
            reply([ProtocolError(.state, "not watching").line()])
        }
    }

    private func handleInBatch(_ request: Request) {
        switch request {
        case .write(let write):
            guard batch!.count < Limits.batchWritesMax else {
                return reply([ProtocolError(.limit, "a batch holds at most \(Limits.batchWritesMax) writes").line()])
            }
            batch!.append(write)
            reply(["OK queued=\(batch!.count)"])
        case .commit:
            let writes = batch!
            batch = nil
            submit(.batch(writes))
        case .abort:
            batch = nil
            reply(["OK"])
        case .ping:
            reply(["OK pong"])
        case .quit:
            batch = nil
            reply(["OK bye"])
            closeAfterReplies = true
        case .begin:
            reply([ProtocolError(.state, "a batch is already open").line()])
        case .read, .hello, .watch, .unwatch:
            reply([ProtocolError(.state, "only writes, COMMIT and ABORT inside a batch").line()])
        }
    }

    private func handleWhileWatching(_ request: Request) {
        switch request {
        case .ping:
            reply(["OK pong"])
        case .unwatch:
            stopWatching()
            reply(["OK"])
        case .quit:
            stopWatching()
            reply(["OK bye"])
            closeAfterReplies = true
        default:
            // Never run: a write or read sent after WATCH would be answered between pushed lines.
            reply([ProtocolError(.state, "watching: only PING, UNWATCH and QUIT").line()])
        }
    }

    private var allocator: ByteBufferAllocator { context?.channel.allocator ?? ByteBufferAllocator() }

    /// Queues an answer known now, in the format of this request.
    private func reply(_ lines: [String]) {
        replies.append(.ready(ReplyBytes.render(lines, json: json, allocator: allocator)), json: json)
    }

    private func refuseWrite() {
        reply([ProtocolError(.denied, "uid \(peer.uid) may read but not write").line()])
    }

    /// Reads that fold or scan the log: they run on the read pool, off the event loop.
    static func runsOffLoop(_ read: ReadRequest) -> Bool {
        switch read {
        case .stock(_, _, let at, _): at != nil
        case .channels: false
        case .history, .events, .breachHistory, .metrics: true
        case .breaches, .reorder, .reservations, .transfers, .info, .promise: false
        // Without a sku it looks at every pair.
        case .restock(let sku, _): sku == nil
        case .suggest: true
        case .kanban(_, let sku): sku == nil
        }
    }

    /// Ends the stream, or cancels the WATCH still queued.
    private func stopWatching() {
        if watchRequested && watch == nil { watchesCancelled += 1 }
        watchRequested = false
        watch?.stop()
        watch = nil
    }

    // MARK: writes

    private func submit(_ work: LedgerWriter.Work) {
        if replies.unrunReads > 0 {
            replies.append(.deferredWrite(work), json: json)
            return
        }
        let id = replies.append(.waiting, json: json)
        unsentWrites.append(work)
        unsentSlotIDs.append(id)
    }

    /// Hands this burst's writes to the writer as one submission; their replies come back together.
    private func flushWrites() {
        guard !unsentWrites.isEmpty, let loop = context?.eventLoop else { return }
        let works = unsentWrites, slotIDs = unsentSlotIDs
        unsentWrites.removeAll(keepingCapacity: true)
        unsentSlotIDs.removeAll(keepingCapacity: true)
        // The writer thread answers; the handler is touched only back on its own event loop.
        let handler = NIOLoopBound(self, eventLoop: loop)
        let metrics = shared.metrics, submitted = ServerMetrics.nanosecondsNow()
        shared.writer.submit(works, actor: peer.uid, on: loop) { lines in
            metrics.writesAnswered(nanoseconds: ServerMetrics.nanosecondsNow() - submitted)
            for (slotID, reply) in zip(slotIDs, lines) { handler.value.fill(slotID, reply) }
            handler.value.drain()
        }
    }

    private func fill(_ slotID: UInt64, _ lines: [String]) {
        guard let json = replies.json(slotID) else { return }
        replies.fill(slotID, ReplyBytes.render(lines, json: json, allocator: allocator))
    }

    // MARK: sending

    /// Writes every answered reply at the head, in order, running deferred reads as they come up
    /// while the client takes its replies, then flushes once. Consecutive replies go out as one
    /// buffer: one write for a pipelined burst. Then parses what waits, while there is room.
    private func drain() {
        guard let context else { return }
        repeat {
            sendAnswered(context)
            for (id, work) in replies.releaseWrites() {
                unsentWrites.append(work)
                unsentSlotIDs.append(id)
            }
            flushWrites()
            if closeAfterReplies && replies.isEmpty {
                closeWhenWritten(context)
                return
            }
            guard acceptsRequests, let waiting = inbound, waiting.readableBytes > 0 else { break }
            let before = waiting.readableBytes
            parseInbound()
            // Only a partial line left: wait for the rest of it.
            if (inbound?.readableBytes ?? 0) == before { break }
        } while true
        resumeReadingIfRoom()
    }

    private func sendAnswered(_ context: ChannelHandlerContext) {
        var wrote = false
        var pending: ByteBuffer?
        func send(_ buffer: ByteBuffer) {
            shared.metrics.countIfError(buffer)
            if buffer.readableBytes >= ConnectionHandler.budgetedReplyBytesMin {
                sendPending()
                sendBudgeted(buffer, context: context)
            } else if pending == nil {
                pending = buffer
            } else {
                pending!.writeImmutableBuffer(buffer)
            }
            wrote = true
        }
        func sendPending() {
            if let buffer = pending { context.write(wrapOutboundOut(buffer), promise: nil) }
            pending = nil
        }
        while true {
            if let read = replies.headRead {
                // A read runs only while the client takes its replies and the server has room.
                guard context.channel.isWritable else { break }
                guard shared.replyBudget.hasRoom else {
                    retryWhenBudgetFrees(context)
                    break
                }
                if case .request(let request) = read, !ConnectionHandler.runsOffLoop(request) {
                    let entry = replies.popHead()!
                    send(shared.reads.answer(request, json: entry.json, allocator: allocator, timed: tally.timesNextRead()))
                    continue
                }
                runOffLoop(read, slotID: replies.headID, json: replies.json(replies.headID) ?? json)
                break
            }
            guard let entry = replies.popHead() else { break }
            switch entry.slot {
            case .ready(let buffer):
                send(buffer)
            case .startWatch(let topic):
                let name: String
                switch topic {
                case .breaches: name = "breaches"
                case .events: name = "events"
                case .promises: name = "promises"
                case .restock: name = "restock"
                case .channels: name = "channels"
                case .kanban: name = "kanban"
                case .demand: name = "demand"
                }
                if watchesCancelled > 0 {
                    watchesCancelled -= 1
                    send(ReplyBytes.render(["OK watching=\(name)"], json: entry.json, allocator: allocator))
                    continue
                }
                // Subscribed before the OK goes out: whatever the client writes after reading it is pushed.
                sendPending()
                let stream = WatchStream(topic: topic, shared: shared, context: context, json: entry.json,
                                         id: ObjectIdentifier(self)) { [weak self] in
                    self?.watch = nil
                    self?.streamEnded = true
                }
                watchRequested = false
                watch = stream
                stream.start()
                send(ReplyBytes.render(["OK watching=\(name)"], json: entry.json, allocator: allocator))
                sendPending()
                context.flush()
            case .waiting, .runningRead, .deferredWrite, .deferredRead:
                preconditionFailure("popHead returned a slot that is not ready")
            }
        }
        sendPending()
        if wrote {
            context.flush()
            lastActivity = IdleSweep.now()
        }
    }

    /// Writes a large read answer, counted against the server's budget until the client has taken it.
    private func sendBudgeted(_ buffer: ByteBuffer, context: ChannelHandlerContext) {
        let budget = shared.replyBudget, size = buffer.readableBytes
        budget.add(size)
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { _ in budget.remove(size) }
        context.write(wrapOutboundOut(buffer), promise: promise)
    }

    private func retryWhenBudgetFrees(_ context: ChannelHandlerContext) {
        guard !budgetRetryScheduled else { return }
        budgetRetryScheduled = true
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: ConnectionHandler.budgetRetry) {
            handler.value.budgetRetryScheduled = false
            handler.value.drain()
        }
    }

    /// Runs a read on the read pool: a whole answer, or the next page of a log read. A page that is
    /// not the last is written at once (its read is at the head) and the read waits for its next turn.
    private func runOffLoop(_ read: PendingRead, slotID: UInt64, json: Bool) {
        guard let loop = context?.eventLoop else { return }
        replies.markHeadRunning()
        let reads = shared.reads, allocator = self.allocator
        let handler = NIOLoopBound(self, eventLoop: loop)
        shared.readPool.runIfActive(eventLoop: loop) { () -> (ByteBuffer, ReadService.LogCursor?) in
            var cursor: ReadService.LogCursor
            switch read {
            case .log(let started): cursor = started
            case .request(let request):
                guard let started = reads.logCursor(request) else {
                    return (reads.answer(request, json: json, allocator: allocator), nil)
                }
                cursor = started
            }
            let lines: [String]
            do {
                lines = try reads.page(&cursor, rowsMax: Limits.logPageRows)
            } catch {
                lines = [ReadService.refusal(error).line()]
                cursor.finished = true
            }
            return (ReplyBytes.render(lines, json: json, allocator: allocator), cursor.finished ? nil : cursor)
        }.whenComplete { result in
            let handler = handler.value
            switch result {
            case .success((let buffer, let cursor?)):
                guard handler.replies.headID == slotID, let context = handler.context else { return }
                handler.sendBudgeted(buffer, context: context)
                context.flush()
                handler.replies.continueHead(.log(cursor))
            case .success((let buffer, nil)):
                handler.replies.fill(slotID, buffer)
            case .failure(let error):
                handler.replies.fill(slotID, ReplyBytes.render([ProtocolError(.unavailable, "read failed: \(error)").line()],
                                                               json: json, allocator: allocator))
            }
            handler.drain()
        }
    }

    private func resumeReadingIfRoom() {
        guard readHeld, let context, replies.count < Limits.pendingRequestsMax / 2, acceptsRequests else { return }
        readHeld = false
        context.read()
    }
}
