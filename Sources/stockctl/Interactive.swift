import CEditLine
import LedgerClient
#if canImport(Glibc)
import Glibc
#endif

/// stockctl's interactive session (`stockctl`, or `stockctl send` on a terminal with no request):
/// libedit reads the lines, with editing and a history kept in `~/.stockctl_history`; the prompt
/// names the socket. libedit asks `Interactive.readCharacter` for each key, which waits on the
/// terminal and the socket together: lines stockd sends (replies, and pushes of a `WATCH` stream)
/// are printed as they arrive, above the line being typed, which is then drawn again.
/// Ends on Ctrl-D, after `QUIT`, or when stockd closes the connection.
final class Interactive {
    let socketPath: String
    private let client: LineClient
    private var closed = false

    /// Lines kept in the history file: enough for weeks of an operator's requests, small to read.
    static let historyLinesMax: Int32 = 1_000

    static var historyPath: String {
        (getenv("HOME").map { String(cString: $0) } ?? ".") + "/.stockctl_history"
    }

    init(socketPath: String) throws {
        self.socketPath = socketPath
        client = try Connection(socketPath: socketPath).client
    }

    // nonisolated(unsafe): libedit's character source is a C function pointer with no context, so it
    // finds the session through this global. Only the thread running `run()` touches it: libedit
    // calls the function from inside `readline`, on that thread.
    nonisolated(unsafe) private static var current: Interactive?

    func run() throws {
        // libedit turns keys into wide characters and lines back into bytes by the locale (UTF-8).
        setlocale(LC_CTYPE, "")
        Interactive.current = self
        defer { Interactive.current = nil }
        // Before any other libedit call: the first one sets libedit up, and reads this then.
        stockctl_set_getc_function { _ in Interactive.current?.readCharacter() ?? -1 }
        let history = Interactive.historyPath
        stifle_history(Interactive.historyLinesMax)
        read_history(history)
        print("connected to stockd at \(socketPath); type requests, Ctrl-D or QUIT to leave")
        let prompt = "stockd \(socketPath)> "
        while let entered = readline(prompt) {
            let line = String(cString: entered)
            free(entered)
            guard !line.trimmingCharacters(in: " \t").isEmpty else { continue }
            add_history(line)
            write_history(history)
            do { try client.send(line) } catch let error as ClientError {
                throw Failure("stockd at \(socketPath): \(String(cString: strerror(error.errno)))")
            }
        }
        if !closed { print("") }
    }

    /// The next key typed, as a Unicode scalar value (-1 at the end of input), printing whatever
    /// stockd sends while waiting for it.
    private func readCharacter() -> Int32 {
        var descriptors = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: client.fileDescriptor, events: Int16(POLLIN), revents: 0)]
        while !closed {
            guard poll(&descriptors, 2, -1) >= 0 else {
                if errno == EINTR { continue }
                return -1
            }
            if descriptors[1].revents != 0 { receive() }
            if descriptors[0].revents != 0 { return readScalar() }
        }
        return -1
    }

    /// Prints the lines that arrived over the prompt and the partly typed line, then draws those again.
    private func receive() {
        var lines: [String] = []
        do {
            if !(try client.receiveAvailable()) { closed = true }
        } catch {
            closed = true
        }
        while let line = client.bufferedLine() { lines.append(line) }
        if closed { lines.append("stockd closed the connection") }
        guard !lines.isEmpty else { return }
        // The terminal is in libedit's raw mode: a line feed alone does not return the carriage.
        print("\r\u{1B}[K" + lines.joined(separator: "\r\n"), terminator: "\r\n")
        fflush(nil)
        if !closed { rl_forced_update_display() }
    }

    /// One UTF-8 encoded character from the terminal, decoded; -1 at the end of input.
    private func readScalar() -> Int32 {
        func byte() -> Int32 {
            var value: UInt8 = 0
            while true {
                let count = read(STDIN_FILENO, &value, 1)
                if count == 1 { return Int32(value) }
                if count < 0 && errno == EINTR { continue }
                return -1
            }
        }
        let first = byte()
        let continuations = first < 0x80 ? 0 : first >= 0xF0 ? 3 : first >= 0xE0 ? 2 : first >= 0xC0 ? 1 : 0
        guard first >= 0, continuations > 0 else { return first }
        var scalar = first & (0x3F >> continuations)
        for _ in 0..<continuations {
            let next = byte()
            guard next >= 0 else { return -1 }
            scalar = scalar << 6 | (next & 0x3F)
        }
        return scalar
    }
}
