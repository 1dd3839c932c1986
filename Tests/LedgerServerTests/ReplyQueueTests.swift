import LedgerCore
import LedgerProtocol
import NIOCore
import Testing
@testable import LedgerServer

/// `ReplyQueue`: replies leave in request order; writes never overtake a read sent before them.
@Suite struct ReplyQueueTests {
    static let write = LedgerWriter.Work.single(WriteRequest(command: .sell(sku: "A", wh: "W", quantity: 1)))
    func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    /// Pops every slot that can leave now; returns the texts of the ready ones.
    func popAll(_ queue: inout ReplyQueue) -> [String] {
        var texts: [String] = []
        while let entry = queue.popHead() {
            if case .ready(let buffer) = entry.slot { texts.append(String(buffer: buffer)) } else { texts.append("(not ready)") }
        }
        return texts
    }

    @Test func repliesLeaveInRequestOrderWhateverOrderTheyFill() {
        var queue = ReplyQueue()
        let first = queue.append(.waiting, json: false)
        let second = queue.append(.waiting, json: true)
        queue.append(.ready(bytes("c")), json: false)
        #expect(popAll(&queue).isEmpty, "the head waits for the writer")
        let filledSecond = queue.fill(second, bytes("b"))
        #expect(filledSecond)
        #expect(popAll(&queue).isEmpty)
        let filledFirst = queue.fill(first, bytes("a"))
        #expect(filledFirst)
        #expect(popAll(&queue) == ["a", "b", "c"])
        let again = queue.fill(first, bytes("again"))
        #expect(!again, "a slot that left cannot be filled")
        #expect(queue.isEmpty && queue.headID == 3)
    }

    @Test func theFormatIsTheOneEachRequestArrivedWith() {
        var queue = ReplyQueue()
        let line = queue.append(.waiting, json: false)
        let json = queue.append(.waiting, json: true)
        #expect(queue.json(line) == false)
        #expect(queue.json(json) == true)
        #expect(queue.json(99) == nil)
    }

    @Test func writesAfterAnUnrunReadWaitForIt() {
        var queue = ReplyQueue()
        queue.append(.waiting, json: false)                                          // 0: a write in flight
        queue.append(.deferredRead(.request(.info)), json: false)                    // 1: a read behind it
        queue.append(.deferredWrite(ReplyQueueTests.write), json: false)             // 2: a write after the read
        var released = queue.releaseWrites()
        #expect(released.isEmpty, "the read has not run")
        #expect(queue.unrunReads == 1)
        queue.fill(0, bytes("ok"))
        #expect(queue.popHead() != nil)
        guard case .request(.info) = queue.headRead else { Issue.record("the read is at the head"); return }
        queue.markHeadRunning()                                                      // off the loop now
        #expect(queue.popHead() == nil, "a running read holds the head")
        released = queue.releaseWrites()
        #expect(released.isEmpty, "and holds back later writes")
        queue.fill(1, bytes("info"))
        #expect(queue.unrunReads == 0)
        released = queue.releaseWrites()
        #expect(released.map(\.id) == [2])
        released = queue.releaseWrites()
        #expect(released.isEmpty, "released once")
    }

    @Test func aWatchIsAnUnrunReadUntilItStarts() {
        var queue = ReplyQueue()
        queue.append(.startWatch(.events(from: nil)), json: false)
        queue.append(.deferredWrite(ReplyQueueTests.write), json: false)
        var released = queue.releaseWrites()
        #expect(released.isEmpty)
        guard case .startWatch = queue.popHead()?.slot else { Issue.record("the watch should start"); return }
        released = queue.releaseWrites()
        #expect(released.map(\.id) == [1])
    }
}
