import NIOCore
import NIOPosix

// Why not the main package's LedgerClient: it is a blocking client (one request, wait for its reply)
// built with the daemon's own targets. The relay needs reads that wait without holding a thread, a
// batch timer that fires while no line arrives, and back-pressure from PostgreSQL to stockd's socket;
// SwiftNIO gives all three, and keeping this package free of the main one means neither build pays
// for the other. The wire format is small and documented (docs/protocol.md), so a line reader here
// is cheaper than a shared dependency.

/// Limits of the stockd connection, with why.
enum StockdLimits {
    /// stockd's own request lines are at most 8 KiB, but an event row carries every field of its
    /// event (an `allocated` event names each line of its allocation). 1 MiB is far above any row
    /// stockd writes and still bounds what one bad line can make the relay buffer.
    static let lineBytesMax = 1 << 20
    /// Batches (and replies) waiting for the PostgreSQL writer. While this many wait, the relay stops
    /// reading the socket, so a slow PostgreSQL slows the stream instead of filling memory. Two: one
    /// being written, one ready, so parsing and writing overlap. Past them stockd holds the backlog
    /// itself (a catching-up watcher reads from the log, docs/protocol.md "Watching").
    static let batchesWaitingMax = 2
}

/// What the stockd connection hands to the relay loop, in the order read.
enum StockdMessage: Sendable {
    /// A line that is not an event or stock row: a reply, or a push the relay did not ask for.
    case reply(WatchLine.Reply)
    /// The event at the site's `last_seq`, sent again to prove this is the same log (see `BatchAssembler`).
    case overlap(WatchLine.EventRow)
    /// Complete groups, ready to commit.
    case batch(Batch)
}

/// Splits the byte stream at `\n` (dropping a `\r` before it), refusing lines over `lineBytesMax`.
struct LineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    struct LineTooLong: Error, CustomStringConvertible {
        var description: String { "stockd sent a line longer than \(StockdLimits.lineBytesMax) bytes" }
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > StockdLimits.lineBytesMax { throw LineTooLong() }
            return .needMoreData
        }
        let length = newline - buffer.readerIndex
        var line = buffer.readSlice(length: length)!
        buffer.moveReaderIndex(forwardBy: 1)
        if line.readableBytesView.last == UInt8(ascii: "\r") { line.moveWriterIndex(to: line.writerIndex - 1) }
        context.fireChannelRead(Self.wrapInboundOut(line))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A last line without its newline is not a complete line: stockd ends every line.
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// Parses lines, assembles groups into batches and decides when a batch is ready: when it holds
/// `batchEventsMax` events, or `batchDelay` after its first event arrived, or when a reply line comes
/// (so a batch is never held behind an `ERR`).
///
/// Runs on the connection's event loop: that is where the timer lives, and parsing there keeps it off
/// the thread that talks to PostgreSQL.
final class WatchBatcher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = StockdMessage

    private var assembler: BatchAssembler
    private let batchEventsMax: Int
    private let batchDelay: TimeAmount
    private var timer: Scheduled<Void>?
    private var overlapSent = false

    init(lastRelayedSeq: Int64, batchEventsMax: Int, batchDelay: TimeAmount) {
        precondition(batchEventsMax >= 1, "a batch holds at least one event")
        self.assembler = BatchAssembler(lastRelayedSeq: lastRelayedSeq)
        self.batchEventsMax = batchEventsMax
        self.batchDelay = batchDelay
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = Self.unwrapInboundIn(data)
        do {
            let parsed = try line.withUnsafeReadableBytes { try WatchLine.parse($0) }
            switch parsed {
            case .stock(let row):
                try assembler.accept(row)
            case .event(let event):
                try assembler.accept(event)
                if !overlapSent, let overlap = assembler.overlap {
                    overlapSent = true
                    context.fireChannelRead(Self.wrapInboundOut(.overlap(overlap)))
                }
                let count = assembler.batch.eventCount
                if count >= batchEventsMax {
                    flush(context: context)
                } else if count == 1, timer == nil {
                    let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                    timer = context.eventLoop.scheduleTask(in: batchDelay) {
                        let (handler, context) = loopBound.value
                        handler.timer = nil
                        handler.flush(context: context)
                        // Outside a read, a message goes on only with its own read-complete:
                        // NIOAsyncChannel hands what it buffered to the reader at that signal.
                        context.fireChannelReadComplete()
                    }
                }
            case .reply(let reply):
                flush(context: context)
                context.fireChannelRead(Self.wrapInboundOut(.reply(reply)))
            }
        } catch {
            context.fireErrorCaught(error)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Complete groups are safe to hand on; pending stock rows without their event are dropped.
        flush(context: context)
        context.fireChannelReadComplete()
        context.fireChannelInactive()
    }

    private func flush(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if let batch = assembler.takeBatch() {
            context.fireChannelRead(Self.wrapInboundOut(.batch(batch)))
        }
    }
}

/// One connection to stockd, lines in and out, read through async iteration.
struct StockdConnection {
    typealias Channel = NIOAsyncChannel<StockdMessage, ByteBuffer>

    struct ProtocolError: Error, CustomStringConvertible {
        var description: String
    }

    /// Connects to stockd's socket. `lastRelayedSeq` sets where the batcher expects the stream to
    /// start; for plain requests (`--status`) it does not matter.
    static func connect(socketPath: String, on eventLoop: any EventLoop, lastRelayedSeq: Int64,
                        batchEventsMax: Int, batchDelay: TimeAmount) async throws -> Channel {
        try await ClientBootstrap(group: eventLoop)
            .connect(unixDomainSocketPath: socketPath) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineDecoder()))
                    try channel.pipeline.syncOperations.addHandler(
                        WatchBatcher(lastRelayedSeq: lastRelayedSeq, batchEventsMax: batchEventsMax, batchDelay: batchDelay))
                    return try Channel(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(backPressureStrategy: .init(lowWatermark: 1, highWatermark: StockdLimits.batchesWaitingMax)))
                }
            }
    }

    /// Reads one reply: its rows, then its `ok` or `err` line. An `err` line is thrown.
    static func readReply(_ iterator: inout NIOAsyncChannelInboundStream<StockdMessage>.AsyncIterator,
                          request: String) async throws -> (rows: [WatchLine.Reply], last: WatchLine.Reply) {
        var rows: [WatchLine.Reply] = []
        while let message = try await iterator.next() {
            guard case .reply(let reply) = message else {
                throw ProtocolError(description: "stockd pushed events before answering \(request)")
            }
            if reply.isOK { return (rows, reply) }
            if reply.errorCode != nil {
                throw ProtocolError(description: "stockd answered \(request) with \(reply.summary)")
            }
            rows.append(reply)
        }
        throw ProtocolError(description: "stockd closed the connection before answering \(request)")
    }

    static func send(_ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, _ lines: String...) async throws {
        var buffer = ByteBuffer()
        for line in lines { buffer.writeString(line); buffer.writeString("\n") }
        try await outbound.write(buffer)
    }
}
