import ArgumentParser
import LedgerClient
#if canImport(Glibc)
import Glibc
#endif

/// `stockctl send`: requests to a running stockd, as words (`send STOCK sku=X`), as one quoted line
/// (or several, one per line of it), or as lines on standard input; every reply of every line is
/// printed. With no request on a terminal it is the interactive mode (`Interactive`). Exits 0 when
/// every reply was `OK`, 2 when any was `ERR`, 1 when stockd cannot be reached or goes away.
struct Send: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send requests to a running stockd and print every reply; with none, on a terminal, an interactive session.",
        discussion: """
            The request is the words after the options (send STOCK sku=TSHIRT-M), one quoted line \
            (send 'STOCK sku=TSHIRT-M'; a newline in it separates requests), or lines on standard input. \
            Blank lines are skipped. JSON replies (HELLO format=json) are understood. \
            Exit status: 0 every reply was OK, 2 a reply was ERR, 1 stockd could not be reached.
            """)
    @OptionGroup var socketOptions: SocketOptions
    @Argument(help: "The request, as words or one quoted line; none: read lines from standard input.")
    var words: [String] = []

    func run() throws {
        if words.isEmpty && isatty(STDIN_FILENO) == 1 {
            try Interactive(socketPath: socketOptions.socket).run()
            return
        }
        let connection = try Connection(socketPath: socketOptions.socket)
        var sawError = false
        func send(_ line: String) throws {
            if try connection.exchange(line) == .error { sawError = true }
        }
        if words.isEmpty {
            while let line = readLine(strippingNewline: true) { try send(line) }
        } else {
            for line in Send.requestLines(words) { try send(line) }
        }
        if sawError { throw ExitCode(2) }
    }

    /// The request lines the words make: one word is taken as it is (it may hold several lines);
    /// several are joined with spaces, and a `key=value` word whose value the shell unquoted
    /// (`reason=broken pallet`) is quoted again for the protocol.
    static func requestLines(_ words: [String]) -> [String] {
        guard words.count > 1 else { return words.first.map { $0.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) } ?? [] }
        let line = words.map { word -> String in
            guard let equals = word.firstIndex(of: "="), !word[..<equals].contains(" ") else { return word }
            let value = word[word.index(after: equals)...]
            guard value.contains(where: { $0 == " " || $0 == "\"" }), !value.hasPrefix("\"") else { return word }
            var quoted = String(word[...equals]) + "\""
            for character in value {
                if character == "\\" || character == "\"" { quoted.append("\\") }
                quoted.append(character)
            }
            return quoted + "\""
        }
        return [line.joined(separator: " ")]
    }
}

/// A connection of stockctl to stockd that prints what it is told. Failing to connect, or the
/// connection failing, is a `Failure` naming the socket and the cause (exit 1, no usage text).
struct Connection {
    let socketPath: String
    let client: LineClient

    init(socketPath: String) throws {
        self.socketPath = socketPath
        do { client = try LineClient(path: socketPath) } catch let error as ClientError {
            throw Failure("cannot reach stockd at \(socketPath): \(String(cString: strerror(error.errno)))")
        }
    }

    /// Sends one line and prints its reply as it arrives, pushed lines included; returns how the reply
    /// ended, or nil for a blank line (stockd answers none, so none is awaited).
    func exchange(_ line: String) throws -> ReplyEnd? {
        guard !line.trimmingCharacters(in: " \t\r").isEmpty else { return nil }
        do {
            try client.send(line)
            while let reply = try client.readLine() {
                print(reply)
                if let end = ReplyEnd(reply) { return end }
            }
        } catch let error as ClientError {
            throw Failure("stockd at \(socketPath): \(String(cString: strerror(error.errno)))")
        }
        throw Failure("stockd at \(socketPath) closed the connection before answering \(line)")
    }
}
