import Histogram
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// What the connections of one event loop measured. Touched only on that loop's thread while the
/// load runs, read by the main thread after every connection has closed.
// Shared across threads safely: touched on its event loop during the run, read by the main thread only after it.
final class LoopStats: @unchecked Sendable {
    // Only one thread touches these at a time (the loop's, then the main thread after the run), so
    // Swift's dynamic exclusivity checks, a tenth of the tool's time in the profile, are switched off.
    @exclusivity(unchecked) var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    @exclusivity(unchecked) var ok = 0
    /// Replies by ERR code, plus CONNECT and IO for connections that failed.
    var codes: [String: Int] = [:]
    @exclusivity(unchecked) var completed = 0

    @inline(__always)
    func record(latencyNanoseconds: UInt64) {
        let micros = Swift.max(1, latencyNanoseconds / 1_000)
        if !histogram.record(Swift.min(micros, 60_000_000)) { _ = histogram.record(60_000_000) }
        completed += 1
    }
}

/// When the load stops: at `deadline` (monotonic nanoseconds), or when the shared budget of
/// `--requests` runs out.
struct StopRule: Sendable {
    var deadline: UInt64
    var budget: Budget?
}

/// One connection of the load, on one event loop: keeps up to `pipeline` requests in flight and
/// refills after every read (closed loop; with `windowed`, sends the next `pipeline` only when all are
/// answered, as redis-benchmark -P does), or sends each request at its scheduled time (open loop,
/// `--rate`), never more than `pipeline` unanswered. A request's latency counts from its send
/// (closed loop) or from its scheduled time (open loop, so a stall of the server is not hidden:
/// no coordinated omission). A reply ends at a line that starts with `OK` or `ERR`; other lines
/// are rows and are skipped without being decoded.
// Shared across threads safely: every mutable property is touched only on this connection's event loop (the
// handler is created, added and called there).
final class LoadConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    // Every property is touched only on this connection's event loop: exclusivity checks are off
    // (see LoopStats).
    private let stats: LoopStats
    private let pipeline: Int
    /// Open loop: nanoseconds between this connection's requests, and the first one's time.
    private let intervalNanoseconds: UInt64?
    @exclusivity(unchecked) private var firstScheduled: UInt64 = 0
    private let timerGranularity: UInt64
    /// Closed loop like redis-benchmark -P: the next `pipeline` requests only when all are answered.
    private let windowed: Bool
    @exclusivity(unchecked) private var generator: RequestGenerator
    @exclusivity(unchecked) private var stop = StopRule(deadline: .max, budget: nil)

    /// The requests in flight, oldest first: start time (ns) and kind, in a ring of `pipeline` slots.
    @exclusivity(unchecked) private var starts: [UInt64]
    @exclusivity(unchecked) private var kinds: [RequestKind]
    @exclusivity(unchecked) private var head = 0
    @exclusivity(unchecked) private var inFlight = 0
    /// Requests sent so far (open loop: the next one's index in the schedule).
    @exclusivity(unchecked) private var sent = 0
    @exclusivity(unchecked) private var running = false
    @exclusivity(unchecked) private var sendingDone = false
    @exclusivity(unchecked) private var timerArmed = false
    @exclusivity(unchecked) private var needsFlush = false
    /// The start of a reply line that the last read cut in two.
    @exclusivity(unchecked) private var carry: ByteBuffer
    private var context: ChannelHandlerContext?

    init(stats: LoopStats, pipeline: Int, windowed: Bool, intervalNanoseconds: UInt64?, timerGranularity: UInt64,
         generator: RequestGenerator) {
        self.windowed = windowed
        self.timerGranularity = timerGranularity
        self.stats = stats
        self.pipeline = pipeline
        self.intervalNanoseconds = intervalNanoseconds
        self.generator = generator
        self.starts = [UInt64](repeating: 0, count: pipeline)
        self.kinds = [RequestKind](repeating: .plain, count: pipeline)
        self.carry = ByteBufferAllocator().buffer(capacity: 1024)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Starts sending; on the connection's event loop. `offset` spreads the open-loop connections'
    /// first requests over one interval, so they do not all fire at once.
    func start(_ rule: StopRule, at now: UInt64, offsetFraction: Double) {
        stop = rule
        running = true
        if let intervalNanoseconds { firstScheduled = now + UInt64(Double(intervalNanoseconds) * offsetFraction) }
        pump(now: now)
        flushIfNeeded()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        let now = nowNanoseconds()
        if carry.readableBytes > 0 {
            // Finish the line the last read cut: append up to (and without) the next newline.
            let newline = buffer.withUnsafeReadableBytes { raw -> Int? in
                guard let base = raw.baseAddress, let found = memchr(base, 0x0A, raw.count) else { return nil }
                return base.distance(to: UnsafeRawPointer(found))
            }
            guard let newline else {
                carry.writeBuffer(&buffer)
                return
            }
            var head = buffer.readSlice(length: newline)!
            buffer.moveReaderIndex(forwardBy: 1)
            carry.writeBuffer(&head)
            carry.withUnsafeReadableBytes { line in self.line(line, now: now) }
            carry.clear()
        }
        let consumed = buffer.withUnsafeReadableBytes { raw -> Int in
            guard let base = raw.baseAddress else { return 0 }
            var position = 0
            while position < raw.count, let found = memchr(base + position, 0x0A, raw.count - position) {
                let end = base.distance(to: UnsafeRawPointer(found))
                self.line(UnsafeRawBufferPointer(start: base + position, count: end - position), now: now)
                position = end + 1
            }
            return position
        }
        buffer.moveReaderIndex(forwardBy: consumed)
        if buffer.readableBytes > 0 { carry.writeBuffer(&buffer) }
        if running { pump(now: now) }
    }

    func channelReadComplete(context: ChannelHandlerContext) { flushIfNeeded() }

    func channelInactive(context: ChannelHandlerContext) {
        if inFlight > 0 || !sendingDone { stats.codes["IO", default: 0] += 1 }
        running = false
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        stats.codes["IO", default: 0] += 1
        running = false
        sendingDone = true
        inFlight = 0
        context.close(promise: nil)
    }

    /// Closes the connection now (the run's hard limit), counting what is still unanswered as IO.
    func abandon() {
        guard let context else { return }
        if inFlight > 0 { stats.codes["IO", default: 0] += 1 }
        running = false
        sendingDone = true
        inFlight = 0
        context.close(promise: nil)
    }

    /// One whole line of a reply (without its newline).
    @inline(__always)
    private func line(_ line: UnsafeRawBufferPointer, now: UInt64) {
        guard line.count >= 2 else { return }
        let first = line[0]
        if first == UInt8(ascii: "O"), line[1] == UInt8(ascii: "K") {
            complete(now: now, error: nil, okLine: line)
        } else if first == UInt8(ascii: "E"), line.count >= 3, line[1] == UInt8(ascii: "R"), line[2] == UInt8(ascii: "R") {
            var end = 4
            while end < line.count, line[end] != UInt8(ascii: " ") { end += 1 }
            let code = line.count > 4 ? String(decoding: UnsafeRawBufferPointer(rebasing: line[4..<end]), as: UTF8.self) : "?"
            complete(now: now, error: code, okLine: line)
        }
    }

    private func complete(now: UInt64, error: String?, okLine: UnsafeRawBufferPointer) {
        guard inFlight > 0 else {
            stats.codes["UNEXPECTED", default: 0] += 1
            return
        }
        let start = starts[head], kind = kinds[head]
        head = head + 1 == pipeline ? 0 : head + 1
        inFlight -= 1
        stats.record(latencyNanoseconds: now &- start)
        if let error {
            stats.codes[error, default: 0] += 1
        } else {
            stats.ok += 1
            if kind != .plain { generator.note(kind, okLine: okLine) }
        }
    }

    /// Sends what may be sent now, in one write; closes the connection when the run is over and
    /// nothing is in flight.
    private func pump(now: UInt64) {
        guard let context, running else { return }
        if !sendingDone && inFlight < pipeline {
            var out = context.channel.allocator.buffer(capacity: (pipeline - inFlight) * 48)
            var added = 0
            if let intervalNanoseconds {
                while inFlight < pipeline {
                    let scheduled = firstScheduled &+ UInt64(sent) &* intervalNanoseconds
                    if scheduled >= stop.deadline { sendingDone = true; break }
                    if scheduled > now { armTimer(at: scheduled); break }
                    if !take() { sendingDone = true; break }
                    enqueue(start: scheduled, into: &out)
                    added += 1
                }
            } else {
                if now >= stop.deadline {
                    sendingDone = true
                } else if !windowed || inFlight == 0 {
                    while inFlight < pipeline {
                        if !take() { sendingDone = true; break }
                        enqueue(start: now, into: &out)
                        added += 1
                    }
                }
            }
            if added > 0 {
                context.write(wrapOutboundOut(out), promise: nil)
                needsFlush = true
            }
        }
        if sendingDone && inFlight == 0 {
            running = false
            flushIfNeeded()
            context.close(promise: nil)
        }
    }

    /// One request from the shared `--requests` budget (always granted without one).
    @inline(__always)
    private func take() -> Bool {
        guard let budget = stop.budget else { return true }
        return budget.take(1) == 1
    }

    @inline(__always)
    private func enqueue(start: UInt64, into out: inout ByteBuffer) {
        var slot = head + inFlight
        if slot >= pipeline { slot -= pipeline }
        starts[slot] = start
        kinds[slot] = generator.write(into: &out)
        inFlight += 1
        sent += 1
    }

    private func armTimer(at scheduled: UInt64) {
        guard !timerArmed, let context else { return }
        timerArmed = true
        // Timers are rounded up to a multiple of the granularity, so that the connections of one
        // loop whose requests fall due close together are woken once (each request's latency still
        // counts from its own scheduled time).
        let deadline = timerGranularity > 1 ? (scheduled + timerGranularity - 1) / timerGranularity * timerGranularity : scheduled
        context.eventLoop.scheduleTask(deadline: .uptimeNanoseconds(deadline)) { [self] in
            timerArmed = false
            pump(now: nowNanoseconds())
            flushIfNeeded()
        }
    }

    private func flushIfNeeded() {
        guard needsFlush, let context else { return }
        needsFlush = false
        context.flush()
    }
}

@inline(__always)
func nowNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}
