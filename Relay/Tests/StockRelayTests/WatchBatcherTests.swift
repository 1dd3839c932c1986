import NIOCore
import NIOEmbedded
import Testing
@testable import stockrelay

/// Records what the batcher hands on, and the read-completes that make NIOAsyncChannel deliver it.
private final class Recorder: ChannelInboundHandler {
    typealias InboundIn = StockdMessage
    var messages: [StockdMessage] = []
    var readCompletes = 0
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { messages.append(Self.unwrapInboundIn(data)) }
    func channelReadComplete(context: ChannelHandlerContext) { readCompletes += 1 }
}

private func event(_ seq: Int) -> String {
    #"{"push":"event","seq":\#(seq),"at":"2026-11-30T23:40:00Z","kind":"received","actor":0,"sku":"A","wh":"PAR","qty":1}"#
}

private func stock(_ seq: Int) -> String {
    #"{"push":"stock","seq":\#(seq),"sku":"A","wh":"PAR","on_hand":\#(seq),"reserved":0,"available":\#(seq),"inbound":0,"incoming":0}"#
}

struct WatchBatcherTests {
    private func makeChannel(lastRelayedSeq: Int64 = 0, batchEventsMax: Int = 3) throws -> (EmbeddedChannel, Recorder) {
        let recorder = Recorder()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineDecoder()))
        try channel.pipeline.syncOperations.addHandler(
            WatchBatcher(lastRelayedSeq: lastRelayedSeq, batchEventsMax: batchEventsMax, batchDelay: .milliseconds(100)))
        try channel.pipeline.syncOperations.addHandler(recorder)
        return (channel, recorder)
    }

    private func send(_ channel: EmbeddedChannel, _ lines: [String]) throws {
        try channel.writeInbound(ByteBuffer(string: lines.map { $0 + "\n" }.joined()))
    }

    private func batches(_ recorder: Recorder) -> [Batch] {
        recorder.messages.compactMap { if case .batch(let batch) = $0 { batch } else { nil } }
    }

    @Test func aFullBatchGoesAtOnce() throws {
        let (channel, recorder) = try makeChannel()
        try send(channel, [stock(1), event(1), event(2), event(3), event(4)])
        #expect(batches(recorder).map(\.seqs) == [[1, 2, 3]])
        _ = try channel.finish()
    }

    @Test func theTimerSendsAPartialBatchWithItsOwnReadComplete() throws {
        let (channel, recorder) = try makeChannel()
        try send(channel, [event(1), stock(2)])
        #expect(batches(recorder).isEmpty)
        let completesBefore = recorder.readCompletes
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(99))
        #expect(batches(recorder).isEmpty)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        // Only the complete group: seq 2's stock row waits for its event row.
        #expect(batches(recorder).map(\.seqs) == [[1]])
        // Without this read-complete NIOAsyncChannel would sit on the batch until stockd sent more.
        #expect(recorder.readCompletes == completesBefore + 1)
        try send(channel, [event(2)])
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(100))
        #expect(batches(recorder).map(\.seqs) == [[1], [2]])
        #expect(batches(recorder)[1].stock[.init(sku: "A", wh: "PAR")]?.onHand == 2)
        _ = try channel.finish()
    }

    @Test func aReplyFlushesTheBatchBeforeIt() throws {
        let (channel, recorder) = try makeChannel(batchEventsMax: 100)
        try send(channel, [event(1), event(2), #"{"err":"LIMIT","msg":"watcher too slow"}"#])
        guard recorder.messages.count == 2, case .batch(let batch) = recorder.messages[0], case .reply(let reply) = recorder.messages[1] else {
            Issue.record("expected a batch then a reply, got \(recorder.messages)")
            return
        }
        #expect(batch.seqs == [1, 2])
        #expect(reply.errorCode == "LIMIT")
        _ = try channel.finish()
    }

    @Test func theOverlapIsHandedOnFirstAndKeptOutOfTheBatch() throws {
        let (channel, recorder) = try makeChannel(lastRelayedSeq: 5)
        try send(channel, [stock(5), event(5), event(6), event(7), event(8)])
        guard case .overlap(let overlap) = recorder.messages.first else {
            Issue.record("expected the overlap first, got \(recorder.messages)")
            return
        }
        #expect(overlap.seq == 5)
        #expect(batches(recorder).map(\.seqs) == [[6, 7, 8]])
        _ = try channel.finish()
    }

    @Test func aGapClosesTheConnectionWithAnError() throws {
        let (channel, _) = try makeChannel()
        #expect(throws: BatchAssembler.SequenceError.self) { try send(channel, [event(1), event(3)]) }
        #expect(!channel.isActive)
    }

    @Test func crlfAndSplitLines() throws {
        let (channel, recorder) = try makeChannel(batchEventsMax: 2)
        let text = event(1) + "\r\n" + event(2) + "\n"
        let cut = text.utf8.index(text.utf8.startIndex, offsetBy: 40)
        try channel.writeInbound(ByteBuffer(string: String(text[..<cut])))
        try channel.writeInbound(ByteBuffer(string: String(text[cut...])))
        #expect(batches(recorder).map(\.seqs) == [[1, 2]])
        _ = try channel.finish()
    }
}
