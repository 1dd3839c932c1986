#if canImport(Glibc)
import Glibc
#endif

/// A failure of the client's socket, with the errno it came from.
public struct ClientError: Error, CustomStringConvertible {
    public var operation: String
    public var errno: Int32
    public var description: String { "\(operation): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// A blocking client for stockd's line protocol over a Unix socket: send lines, read replies (rows,
/// then one `OK`/`ERR` line). Used by stockctl, the load tool and the end-to-end tests. The raw
/// socket calls of this target all live in this file; EINTR is retried.
public final class LineClient {
    private let fd: Int32
    /// Received bytes; `bufferStart..<bufferEnd` is not yet consumed.
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var bufferStart = 0
    private var bufferEnd = 0

    /// Connects to the socket at `path`.
    public init(path: String) throws {
        // The socket is `self.fd` only once connected. A class initializer that throws after every
        // stored property is set still runs `deinit`, which closes `fd`: a close here as well closed
        // the number twice, and the second close took whatever another thread had opened with it
        // in between (in the tests, run in parallel in one process: another test's socket or an
        // LMDB file). Now each failure closes the socket here, once, and `deinit` never runs.
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw ClientError(operation: "socket", errno: errno) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(descriptor)
            throw ClientError(operation: "connect \(path): path too long", errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: pathBytes) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw ClientError(operation: "connect \(path)", errno: code)
        }
        fd = descriptor
    }

    /// The only close of a connected socket.
    deinit { Glibc.close(fd) }

    /// Sends one request line (a newline is added).
    public func send(_ line: String) throws {
        try sendRaw(Array((line + "\n").utf8))
    }

    /// Sends bytes as they are (for pipelining many lines in one write, or malformed input).
    public func sendRaw(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw ClientError(operation: "send", errno: errno)
            }
            offset += written
        }
    }

    /// Reads one line (without its newline); nil when the server closed the connection.
    public func readLine() throws -> String? {
        guard let range = try nextLineRange() else { return nil }
        return String(decoding: buffer[range], as: UTF8.self)
    }

    /// The first bytes of the next line and whether it ends a reply, without building a String:
    /// the load tool reads millions of replies and must not be the bottleneck.
    public func skipLine() throws -> (endsReply: Bool, errorCode: String?)? {
        guard let range = try nextLineRange() else { return nil }
        let first = range.isEmpty ? 0 : buffer[range.lowerBound]
        if first == UInt8(ascii: "O"), range.count >= 2, buffer[range.lowerBound + 1] == UInt8(ascii: "K") {
            return (true, nil)
        }
        if first == UInt8(ascii: "E"), range.count >= 4, buffer[range.lowerBound + 1] == UInt8(ascii: "R") {
            let codeStart = range.lowerBound + 4
            var codeEnd = codeStart
            while codeEnd < range.upperBound, buffer[codeEnd] != UInt8(ascii: " ") { codeEnd += 1 }
            return (true, String(decoding: buffer[codeStart..<codeEnd], as: UTF8.self))
        }
        return (false, nil)
    }

    /// Skips one whole reply; returns its ERR code, or nil for OK.
    public func skipReply() throws -> String? {
        while let line = try skipLine() {
            if line.endsReply { return line.errorCode }
        }
        throw ClientError(operation: "read reply: connection closed", errno: ECONNRESET)
    }

    /// The range in `buffer` of the next line; the bytes stay valid until the next read.
    private func nextLineRange() throws -> Range<Int>? {
        while true {
            if let range = bufferedLineRange() { return range }
            guard try receive() else { return nil }
        }
    }

    /// The range of the next whole line already received, if any, consumed.
    private func bufferedLineRange() -> Range<Int>? {
        guard let newline = buffer[bufferStart..<bufferEnd].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let range = bufferStart..<newline
        bufferStart = newline + 1
        return range
    }

    /// Waits for bytes and appends what one `recv` brings; false when the server closed the connection.
    private func receive() throws -> Bool {
        if bufferStart > 0 {
            // Move the partial line to the front, so the buffer never grows past one read plus a line.
            let pending = bufferEnd - bufferStart
            buffer.withUnsafeMutableBytes { raw in
                raw.baseAddress!.copyMemory(from: raw.baseAddress! + bufferStart, byteCount: pending)
            }
            bufferStart = 0
            bufferEnd = pending
        }
        if bufferEnd == buffer.count { buffer.append(contentsOf: [UInt8](repeating: 0, count: buffer.count)) }
        while true {
            let count = buffer.withUnsafeMutableBytes { raw in
                recv(fd, raw.baseAddress! + bufferEnd, raw.count - bufferEnd, 0)
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw ClientError(operation: "recv", errno: errno)
            }
            bufferEnd += count
            return count > 0
        }
    }

    /// The socket, for `poll` beside other descriptors (stockctl's interactive mode). When it is
    /// readable, `receiveAvailable()` takes what arrived and `bufferedLine()` hands out its lines.
    public var fileDescriptor: Int32 { fd }

    /// One `recv` (it waits only if nothing has arrived); false when the server closed the connection.
    public func receiveAvailable() throws -> Bool { try receive() }

    /// The next whole line already received, without reading the socket; nil when there is none.
    public func bufferedLine() -> String? {
        bufferedLineRange().map { String(decoding: buffer[$0], as: UTF8.self) }
    }

    /// Reads one whole reply: its rows, then the `OK`/`ERR` line (last). Throws when the server
    /// closes the connection before the reply ends.
    public func readReply() throws -> [String] {
        var lines: [String] = []
        while let line = try readLine() {
            lines.append(line)
            if ReplyEnd(line) != nil { return lines }
        }
        throw ClientError(operation: "read reply: connection closed", errno: ECONNRESET)
    }

    /// Sends one line and reads its reply.
    public func request(_ line: String) throws -> [String] {
        try send(line)
        return try readReply()
    }

    /// Closes the sending side; the server still answers what it got.
    /// Sends as much of `bytes` as the socket takes without waiting; returns how many it took
    /// (fewer than all once the peer stops reading and the buffers are full).
    public func sendWithoutWaiting(_ bytes: ArraySlice<UInt8>) throws -> Int {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
            if written < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return offset }
                throw ClientError(operation: "send", errno: errno)
            }
            offset += written
        }
        return offset
    }

    public func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

    /// Sets a receive timeout, so a test fails instead of hanging when a reply never comes.
    public func setReceiveTimeout(seconds: Int) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }
}

/// The line that ends a reply, in either form: `OK ...`/`ERR CODE ...`, or after `HELLO format=json`
/// `{"ok":true,...}`/`{"err":"CODE",...}`. Rows and pushed lines (`stock ...`, `{"row":...}`,
/// `{"push":...}`) are not; a pushed `ERR LIMIT watcher too slow` ends a stream the same way.
public enum ReplyEnd: Equatable, Sendable {
    case ok
    case error

    public init?(_ line: String) {
        if line == "OK" || line.hasPrefix("OK ") || line.hasPrefix("{\"ok\":") {
            self = .ok
        } else if line.hasPrefix("ERR ") || line.hasPrefix("{\"err\":") {
            self = .error
        } else {
            return nil
        }
    }
}

/// Helpers for reading `key=value` pairs out of reply lines.
public enum ReplyFields {
    /// The value of `key` in `line`, honouring quoted values; nil when absent.
    public static func value(_ key: String, in line: String) -> String? {
        parse(line)[key]
    }

    /// All `key=value` pairs of a line (the first word is skipped).
    public static func parse(_ line: String) -> [String: String] {
        var result: [String: String] = [:]
        var index = line.startIndex
        // Skip the row word (and the ERR code).
        while index < line.endIndex, line[index] != " " { index = line.index(after: index) }
        while index < line.endIndex {
            while index < line.endIndex, line[index] == " " { index = line.index(after: index) }
            let keyStart = index
            while index < line.endIndex, line[index] != "=", line[index] != " " { index = line.index(after: index) }
            guard index < line.endIndex, line[index] == "=" else { continue }
            let key = String(line[keyStart..<index])
            index = line.index(after: index)
            var value = ""
            if index < line.endIndex, line[index] == "\"" {
                index = line.index(after: index)
                while index < line.endIndex, line[index] != "\"" {
                    if line[index] == "\\" { index = line.index(after: index) }
                    if index < line.endIndex { value.append(line[index]); index = line.index(after: index) }
                }
                if index < line.endIndex { index = line.index(after: index) }
            } else {
                while index < line.endIndex, line[index] != " " { value.append(line[index]); index = line.index(after: index) }
            }
            result[key] = value
        }
        return result
    }

    public static func int(_ key: String, in line: String) -> Int64? { value(key, in: line).flatMap { Int64($0) } }
}
