import LedgerCore
import LedgerProtocol
import Logging
import NIOCore

/// One client connection: parses each line, sends writes to the writer, answers reads, and replies
/// strictly in request order however the answers arrive (`ReplyQueue`). A WATCH turns the
/// connection into a `WatchStream`.
///
/// Reads of the present are answered on the event loop from memory. Reads that fold or scan the
/// log (`at=`, HISTORY, BREACHES history, EVENTS) run on the server's read pool instead, so one slow
/// read never freezes the other connections of this event loop.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = LineFrame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Requests a connection may have unanswered before we stop reading from it: pipelining is
    /// welcome, an unbounded queue per client is not.
    static let pendingRepliesMax = 1_024

    private let shared: ServerShared
    private let peer: PeerCredentials
    private let role: AccessPolicy.Role
    private var replies = ReplyQueue()
    private var batch: [WriteRequest]?
    private var readHeld = false
    /// Writes parsed in this read burst, sent to the writer together at the end of the burst.
    private var unsentWrites: [LedgerWriter.Work] = []
    private var unsentSlotIDs: [UInt64] = []
    private var closeAfterReplies = false
    private var context: ChannelHandlerContext?
    private var watch: WatchStream?
    /// `HELLO format=json` switches the replies of every later request of this connection to JSON.
    private var json = false

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
        stopWatching()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closeAfterReplies else { return }
        switch unwrapInboundIn(data) {
        case .tooLong:
            reply([ProtocolError(.limit, "line longer than \(Limits.lineBytesMax) bytes").line()])
        case .line(let buffer):
            do {
                guard let request = try RequestParser.parse(buffer.readableBytesView) else { return }
                handle(request)
            } catch {
                reply([error.line()])
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
        if replies.count >= ConnectionHandler.pendingRepliesMax || !context.channel.isWritable {
            readHeld = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        watch?.writabilityChanged()
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
            if replies.isEmpty && !ConnectionHandler.runsOffLoop(read) {
                replies.append(.ready(shared.reads.answer(read, json: json, allocator: allocator)), json: json)
            } else {
                replies.append(.deferredRead(read), json: json)
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
        case .stock(_, _, let at): at != nil
        case .history, .events, .breachHistory: true
        case .breaches, .reorder, .reservations, .transfers, .info: false
        }
    }

    private func stopWatching() {
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
        shared.writer.submit(works, actor: peer.uid, on: loop) { lines in
            for (slotID, reply) in zip(slotIDs, lines) { handler.value.fill(slotID, reply) }
            handler.value.drain()
        }
    }

    private func fill(_ slotID: UInt64, _ lines: [String]) {
        guard let json = replies.json(slotID) else { return }
        replies.fill(slotID, ReplyBytes.render(lines, json: json, allocator: allocator))
    }

    // MARK: sending

    /// Writes every answered reply at the head, in order, running deferred reads as they come up,
    /// then flushes once. Consecutive replies go out as one buffer: one write for a pipelined burst.
    private func drain() {
        guard let context else { return }
        var wrote = false
        var pending: ByteBuffer?
        func send(_ buffer: ByteBuffer) {
            if pending == nil { pending = buffer } else { pending!.writeImmutableBuffer(buffer) }
            wrote = true
        }
        func sendPending() {
            if let buffer = pending { context.write(wrapOutboundOut(buffer), promise: nil) }
            pending = nil
        }
        while true {
            if let read = replies.headRead, ConnectionHandler.runsOffLoop(read) {
                runOffLoop(read, slotID: replies.headID, json: replies.json(replies.headID) ?? json)
                break
            }
            guard let entry = replies.popHead() else { break }
            switch entry.slot {
            case .ready(let buffer):
                send(buffer)
            case .deferredRead(let read):
                send(shared.reads.answer(read, json: entry.json, allocator: allocator))
            case .startWatch(let topic):
                let name: String
                switch topic {
                case .breaches: name = "breaches"
                case .events: name = "events"
                }
                send(ReplyBytes.render(["OK watching=\(name)"], json: entry.json, allocator: allocator))
                sendPending()
                context.flush()
                let stream = WatchStream(topic: topic, shared: shared, context: context, json: entry.json,
                                         id: ObjectIdentifier(self)) { [weak self] in
                    self?.watch = nil
                    self?.closeAfterReplies = true
                }
                watch = stream
                stream.start()
            case .waiting, .runningRead, .deferredWrite:
                preconditionFailure("popHead returned a slot that is not ready")
            }
        }
        sendPending()
        if wrote { context.flush() }
        for (id, work) in replies.releaseWrites() {
            unsentWrites.append(work)
            unsentSlotIDs.append(id)
        }
        flushWrites()
        if closeAfterReplies && replies.isEmpty {
            context.close(promise: nil)
            return
        }
        resumeReadingIfRoom()
    }

    /// Runs a heavy read on the read pool; its slot fills when it is done.
    private func runOffLoop(_ read: ReadRequest, slotID: UInt64, json: Bool) {
        guard let loop = context?.eventLoop else { return }
        replies.markHeadRunning()
        let reads = shared.reads, allocator = self.allocator
        let handler = NIOLoopBound(self, eventLoop: loop)
        shared.readPool.runIfActive(eventLoop: loop) {
            reads.answer(read, json: json, allocator: allocator)
        }.whenComplete { result in
            let buffer: ByteBuffer
            switch result {
            case .success(let answer): buffer = answer
            case .failure(let error):
                buffer = ReplyBytes.render([ProtocolError(.unavailable, "read failed: \(error)").line()], json: json,
                                           allocator: allocator)
            }
            handler.value.replies.fill(slotID, buffer)
            handler.value.drain()
        }
    }

    private func resumeReadingIfRoom() {
        guard readHeld, let context, replies.count < ConnectionHandler.pendingRepliesMax / 2, context.channel.isWritable
        else { return }
        readHeld = false
        context.read()
    }
}
