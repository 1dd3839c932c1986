import LedgerProtocol
import NIOCore

/// The replies of one connection, kept in request order however the answers arrive. Pure: it only
/// orders; the handler runs what it hands back.
///
/// Each request gets a slot, numbered in arrival order, with the reply format fixed when it arrived
/// (`HELLO format=json` changes the format of later requests only). A write's slot fills when the
/// writer has committed it. A read that arrives behind unanswered requests waits in its slot and
/// runs when it reaches the head, so it sees every write acknowledged before it; writes sent after
/// such a read are held until it has run, so it sees none of them.
///
/// Guarantees: `popHead` returns slots in id order, each once; `releaseWrites` never releases a
/// write that has an unrun read or watch before it.
struct ReplyQueue {
    enum Slot {
        /// Waiting for the writer, or for a read running off the event loop.
        case waiting
        case ready(ByteBuffer)
        /// A read that runs when it reaches the head (again, for a log read answered page by page).
        case deferredRead(PendingRead)
        /// A read running off the event loop: later writes wait for it as for a deferred read.
        case runningRead
        /// A write sent after a read that has not run yet.
        case deferredWrite(LedgerWriter.Work)
        /// WATCH: the stream starts when this slot reaches the head, after every earlier reply.
        case startWatch(WatchTopic)
    }

    struct Entry {
        var slot: Slot
        let json: Bool
    }

    private var entries = CircularBuffer<Entry>(initialCapacity: 16)
    /// The id of the first entry; ids grow by one per request.
    private(set) var headID: UInt64 = 0
    /// Reads and watches not yet run: while any is queued, new writes are held back.
    private(set) var unrunReads = 0
    private var deferredWrites = 0

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }

    @discardableResult
    mutating func append(_ slot: Slot, json: Bool) -> UInt64 {
        switch slot {
        case .deferredRead, .runningRead, .startWatch: unrunReads += 1
        case .deferredWrite: deferredWrites += 1
        case .waiting, .ready: break
        }
        entries.append(Entry(slot: slot, json: json))
        return headID + UInt64(entries.count - 1)
    }

    /// The format of a slot still queued.
    func json(_ id: UInt64) -> Bool? {
        guard let index = position(id) else { return nil }
        return entries[index].json
    }

    /// Fills a waiting or running slot with its reply; false when the id is no longer queued.
    @discardableResult
    mutating func fill(_ id: UInt64, _ reply: ByteBuffer) -> Bool {
        guard let index = position(id) else { return false }
        if case .runningRead = entries[index].slot { unrunReads -= 1 }
        entries[index].slot = .ready(reply)
        return true
    }

    /// Marks the head's deferred read as running (it was handed to a thread pool).
    mutating func markHeadRunning() {
        guard let first = entries.first, case .deferredRead = first.slot else { return }
        entries[entries.startIndex].slot = .runningRead
    }

    /// A running read at the head that has sent part of its answer waits for its next turn; it
    /// still counts as unrun, so writes sent after it stay held.
    mutating func continueHead(_ read: PendingRead) {
        guard let first = entries.first, case .runningRead = first.slot else { return }
        entries[entries.startIndex].slot = .deferredRead(read)
    }

    /// The head, when it can be taken now: a ready reply, a deferred read to run or a watch to
    /// start (those two are removed and counted as run). Nil while the head waits.
    mutating func popHead() -> Entry? {
        guard let first = entries.first else { return nil }
        switch first.slot {
        case .waiting, .runningRead, .deferredWrite: return nil
        case .ready: break
        case .deferredRead, .startWatch: unrunReads -= 1
        }
        headID += 1
        return entries.removeFirst()
    }

    /// The head's deferred read, left in place (the caller either answers it at once, popping it,
    /// or runs it elsewhere after `markHeadRunning`).
    var headRead: PendingRead? {
        guard let first = entries.first, case .deferredRead(let read) = first.slot else { return nil }
        return read
    }

    /// Deferred writes that no longer have an unrun read or watch before them: they become waiting
    /// slots, and the caller sends them to the writer.
    mutating func releaseWrites() -> [(id: UInt64, work: LedgerWriter.Work)] {
        guard deferredWrites > 0 else { return [] }
        var released: [(id: UInt64, work: LedgerWriter.Work)] = []
        var index = entries.startIndex
        var id = headID
        while index != entries.endIndex, deferredWrites > 0 {
            switch entries[index].slot {
            case .deferredRead, .runningRead, .startWatch: return released
            case .deferredWrite(let work):
                entries[index].slot = .waiting
                deferredWrites -= 1
                released.append((id, work))
            case .waiting, .ready: break
            }
            index = entries.index(after: index)
            id += 1
        }
        return released
    }

    private func position(_ id: UInt64) -> CircularBuffer<Entry>.Index? {
        guard id >= headID, id - headID < UInt64(entries.count) else { return nil }
        return entries.index(entries.startIndex, offsetBy: Int(id - headID))
    }
}

/// A read waiting for its turn: a request not started yet, or a log read part-way through its pages.
enum PendingRead: Sendable {
    case request(ReadRequest)
    case log(ReadService.LogCursor)
}

/// Reply lines as the bytes a connection sends, in the format fixed when the request arrived.
enum ReplyBytes {
    static func render(_ lines: [String], json: Bool, pushed: Bool = false, allocator: ByteBufferAllocator) -> ByteBuffer {
        if json {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(lines.reduce(0) { $0 + $1.utf8.count } * 3 / 2 + 16 * lines.count)
            for line in lines { JSONReply.append(line, pushed: pushed, newline: true, to: &bytes) }
            return allocator.buffer(bytes: bytes)
        }
        var buffer = allocator.buffer(capacity: lines.reduce(0) { $0 + $1.utf8.count + 1 })
        for line in lines {
            buffer.writeString(line)
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        return buffer
    }
}
