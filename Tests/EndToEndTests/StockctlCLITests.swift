import Foundation
import LedgerClient
import Testing

/// stockctl as a client of a running stockd (issue 9): `send` in its three input forms, exit codes,
/// JSON mode and blank lines without hanging, `watch` across a daemon restart, the interactive
/// session through a pseudo-terminal, `top`, `--json`, and one version everywhere. Every stockctl
/// run has a timeout (`run`), so a hang fails instead of blocking.
@Suite("stockctl as a client", .serialized)
struct StockctlCLITests {
    static func send(_ daemon: StockdProcess, _ words: [String], input: String? = nil) throws -> (status: Int32, output: String) {
        try run("stockctl", ["send", "--socket", daemon.socketPath] + words, input: input, timeoutSeconds: 30)
    }

    static func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

    @Test("exit 0 on OK, 2 on ERR (naming an unknown key), 1 with the socket and the cause when stockd is not there")
    func exitCodes() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let ok = try StockctlCLITests.send(daemon, ["RECEIVE", "sku=A", "wh=W", "qty=5"])
        #expect(ok.status == 0 && ok.output.hasPrefix("OK seq=1 "), "\(ok)")
        let refused = try StockctlCLITests.send(daemon, ["SELL", "sku=A", "wh=W", "quantity=1"])
        #expect(refused.status == 2 && refused.output == "ERR ARG unknown key: quantity\n", "\(refused)")
        let insufficient = try StockctlCLITests.send(daemon, ["SELL sku=A wh=W qty=6"])
        #expect(insufficient.status == 2 && insufficient.output.hasPrefix("ERR INSUFFICIENT"), "\(insufficient)")

        let missing = daemon.directory + "/no-such.sock"
        let unreachable = try run("stockctl", ["send", "--socket", missing, "PING"], timeoutSeconds: 30)
        #expect(unreachable.status == 1, "\(unreachable)")
        #expect(unreachable.output.contains(missing) && unreachable.output.contains("No such file or directory"), "\(unreachable)")
        #expect(!unreachable.output.contains("USAGE"), "\(unreachable)")
        daemon.stop(signal: SIGKILL)
        let refusedConnection = try run("stockctl", ["send", "--socket", daemon.socketPath, "PING"], timeoutSeconds: 30)
        #expect(refusedConnection.status == 1 && refusedConnection.output.contains("Connection refused"), "\(refusedConnection)")
    }

    @Test("a request as words, as one quoted line and as lines on stdin gives the same answer")
    func wordsQuotedAndStdin() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        #expect(try StockctlCLITests.send(daemon, ["RECEIVE", "sku=A", "wh=W", "qty=5"]).status == 0)
        let words = try StockctlCLITests.send(daemon, ["STOCK", "sku=A", "wh=W"])
        let quoted = try StockctlCLITests.send(daemon, ["STOCK sku=A wh=W"])
        let stdin = try StockctlCLITests.send(daemon, [], input: "STOCK sku=A wh=W\n")
        #expect(words.status == 0 && words.output.contains("stock sku=A wh=W on_hand=5 "), "\(words)")
        #expect(quoted.output == words.output && stdin.output == words.output, "\(quoted) \(stdin)")
        #expect(stdin.status == 0 && quoted.status == 0)

        // A value the shell unquoted is quoted again for the protocol.
        let adjust = try StockctlCLITests.send(daemon, ["ADJUST", "sku=A", "wh=W", "delta=-1", #"reason=broken "big" pallet"#])
        #expect(adjust.status == 0, "\(adjust)")
        let event = try daemon.request("EVENTS from=2")
        #expect(event.first?.hasSuffix(#"reason="broken \"big\" pallet""#) == true, "\(event)")
    }

    @Test("several lines print every reply, in order; an ERR among them exits 2 and the rest still run")
    func everyReplyOfEveryLine() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let twoPings = try StockctlCLITests.send(daemon, ["PING\nPING"])
        #expect(twoPings.status == 0 && twoPings.output == "OK pong\nOK pong\n", "\(twoPings)")
        let mixed = try StockctlCLITests.send(daemon, [], input: "RECEIVE sku=B wh=W qty=2\nSELL sku=B wh=W qty=9\nSTOCK sku=B\n")
        let lines = StockctlCLITests.lines(mixed.output)
        #expect(mixed.status == 2, "\(mixed)")
        #expect(lines.count == 5, "\(lines)")
        #expect(lines.first?.hasPrefix("OK seq=1") == true && lines[1].hasPrefix("ERR INSUFFICIENT"), "\(lines)")
        #expect(lines.last?.hasPrefix("OK rows=2") == true, "\(lines)")
    }

    @Test("a blank line gets no reply and is not waited for; JSON mode replies are read to their end")
    func blankLineAndJSONDoNotHang() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let blank = try StockctlCLITests.send(daemon, [""])
        #expect(blank.status == 0 && blank.output.isEmpty, "\(blank)")
        let json = try StockctlCLITests.send(daemon, ["HELLO format=json"])
        #expect(json.status == 0 && json.output.hasPrefix(#"{"ok":true,"server":"stockd""#), "\(json)")
        let session = try StockctlCLITests.send(daemon, [], input: "HELLO format=json\n\n   \nRECEIVE sku=J wh=W qty=1\nSTOCK sku=J\nSELL sku=J wh=W qty=5\n")
        let lines = StockctlCLITests.lines(session.output)
        #expect(session.status == 2, "\(session)")
        #expect(lines.count == 6, "\(lines)")
        #expect(lines.allSatisfy { $0.hasPrefix("{") }, "\(lines)")
        #expect(lines.last?.hasPrefix(#"{"err":"INSUFFICIENT""#) == true, "\(lines)")
        // A WATCH's OK ends its reply: the pushes after it do not keep send waiting.
        let watch = try StockctlCLITests.send(daemon, ["WATCH events from=1"])
        #expect(watch.status == 0 && watch.output.hasPrefix("OK watching=events"), "\(watch)")
    }

    @Test("watch events resumes after a daemon restart: every event once, in order", arguments: [false, true])
    func watchResumesAfterRestart(json: Bool) throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let client = try daemon.client()
        for index in 1...5 { #expect(try client.request("RECEIVE sku=W\(index) wh=W qty=1").status.hasPrefix("OK")) }

        let watcher = try BackgroundTool(["watch", "events", "from=2", "--socket", daemon.socketPath] + (json ? ["--json"] : []))
        defer { watcher.stop() }
        #expect(eventually { watcher.seqs.count == 4 }, "\(watcher.output)")

        #expect(daemon.stop(signal: SIGKILL) != 0)
        try daemon.start()
        let after = try daemon.client()
        for index in 6...10 { #expect(try after.request("RECEIVE sku=W\(index) wh=W qty=1").status.hasPrefix("OK")) }
        #expect(eventually { watcher.seqs.count >= 9 }, "\(watcher.output)")
        #expect(watcher.seqs == Array(2...10), "\(watcher.output)")
        #expect(watcher.errors.contains("watching again: WATCH events from="), "\(watcher.errors)")
    }

    @Test("watch with no from= starts at the log's end; a bad filter is refused")
    func watchFromNow() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        #expect(try daemon.request("RECEIVE sku=X wh=W qty=1").status.hasPrefix("OK"))
        let watcher = try BackgroundTool(["watch", "events", "--socket", daemon.socketPath])
        defer { watcher.stop() }
        // The watch names where it starts, on standard error, once it is in place.
        #expect(eventually { watcher.errors.contains("watching: WATCH events from=2") }, "\(watcher.errors)")
        #expect(try daemon.request("RECEIVE sku=Y wh=W qty=1").status.hasPrefix("OK"))
        #expect(eventually { watcher.seqs == [2] }, "\(watcher.output)")
        let bad = try run("stockctl", ["watch", "events", "wh=X", "--socket", daemon.socketPath], timeoutSeconds: 30)
        #expect(bad.status == 64 && bad.output.contains("events takes from="), "\(bad)")
    }

    @Test("interactive: line editing recalls history, pushes print while a line is typed, history is written")
    func interactiveSession() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let home = daemon.directory + "/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let session = try run("/usr/bin/python3", ["-c", StockctlCLITests.ptyDriver,
                                                   StockdProcess.binDirectory + "/stockctl", daemon.socketPath, home],
                              timeoutSeconds: 60)
        #expect(session.status == 0, "\(session.output)")
        let history = try String(contentsOfFile: home + "/.stockctl_history", encoding: .utf8)
        let entries = StockctlCLITests.lines(history).filter { !$0.hasPrefix("_HiStOrY") }
        // The second PING was the first recalled with the up arrow; libedit writes a space as \040.
        #expect(entries == ["PING", "PING", #"WATCH\040events"#, "UNWATCH"], "\(history)")
    }

    /// Drives `stockctl` (no subcommand: the interactive session) through a pseudo-terminal. Each step
    /// waits for the text it expects, with a deadline; exits non-zero naming what did not come.
    static let ptyDriver = #"""
        import os, pty, select, socket, sys, time
        stockctl, socket_path, home = sys.argv[1:4]
        pid, fd = pty.fork()
        if pid == 0:
            os.environ.update(HOME=home, TERM="xterm")
            os.execv(stockctl, [stockctl, "--socket", socket_path])
        seen = b""
        def expect(text, count=1):
            global seen
            deadline = time.time() + 20
            while seen.count(text) < count:
                ready, _, _ = select.select([fd], [], [], max(0, deadline - time.time()))
                if not ready: sys.exit("no %r after: %r" % (text, seen))
                seen += os.read(fd, 4096)
        expect(b"> ")
        os.write(fd, b"PING\r"); expect(b"OK pong")
        os.write(fd, b"\x1b[A\r"); expect(b"OK pong", 2)
        os.write(fd, b"WATCH events\r"); expect(b"OK watching=events")
        os.write(fd, b"UNWA")
        writer = socket.socket(socket.AF_UNIX); writer.connect(socket_path)
        writer.sendall(b"RECEIVE sku=PUSHED wh=W qty=1\n")
        expect(b"sku=PUSHED")
        os.write(fd, b"TCH\r"); expect(b"OK\r")
        os.write(fd, b"\x04")
        _, status = os.waitpid(pid, 0)
        sys.exit(0 if status == 0 else "stockctl ended with %d: %r" % (status, seen))
        """#

    @Test("stockd --version, stockctl --version and HELLO's version are the same")
    func oneVersion() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let stockctl = try run("stockctl", ["--version"], timeoutSeconds: 30)
        let stockd = try run("stockd", ["--version"], timeoutSeconds: 30)
        let hello = try daemon.request("HELLO")
        #expect(stockctl.status == 0 && stockd.status == 0)
        let version = stockctl.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!version.isEmpty && stockd.output.trimmingCharacters(in: .whitespacesAndNewlines) == version)
        #expect(field("version", hello.status) == version, "\(hello)")
        #expect(field("version", try daemon.request("INFO")[0]) == version)
    }

    @Test("top --once shows the daemon's figures; --json on top, stat and verify uses the protocol's names")
    func topAndJSON() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        for _ in 1...3 { #expect(try daemon.request("RECEIVE sku=T wh=W qty=1").status.hasPrefix("OK")) }
        #expect(try daemon.request("POLICY sku=T wh=W safety=10").status.hasPrefix("OK"))
        let screen = try run("stockctl", ["top", "--once", "--socket", daemon.socketPath], timeoutSeconds: 30)
        #expect(screen.status == 0 && screen.output.contains("seq 4") && screen.output.contains("writes/s"), "\(screen)")
        let top = try run("stockctl", ["top", "--once", "--json", "--socket", daemon.socketPath], timeoutSeconds: 30)
        let figures = try JSONSerialization.jsonObject(with: Data(top.output.utf8)) as? [String: Any]
        #expect(figures?["seq"] as? Int == 4 && figures?["breaches"] as? Int == 1, "\(top)")
        #expect((figures?["connections"] as? Int ?? 0) >= 1, "\(top)")
        // Reads, watchers and the slowest watcher's lag come from METRICS.
        #expect(figures?["watchers"] as? Int == 0 && figures?["watcher_lag_events"] as? Int == 0, "\(top)")
        #expect(try daemon.request("STOCK sku=T").status.hasPrefix("OK"))
        let watcher = try daemon.client()
        #expect(try watcher.request("WATCH events") == ["OK watching=events"])
        let later = try run("stockctl", ["top", "--once", "--json", "--socket", daemon.socketPath], timeoutSeconds: 30)
        let laterFigures = try JSONSerialization.jsonObject(with: Data(later.output.utf8)) as? [String: Any]
        #expect(laterFigures?["watchers"] as? Int == 1 && (laterFigures?["reads_per_s"] as? Double ?? 0) > 0, "\(later)")

        let stat = try run("stockctl", ["stat", "--data", daemon.dataDirectory], timeoutSeconds: 30)
        #expect(StockctlCLITests.lines(stat.output).first == "seq 4", "\(stat)")
        let statJSON = try run("stockctl", ["stat", "--json", "--data", daemon.dataDirectory], timeoutSeconds: 30)
        let statFigures = try JSONSerialization.jsonObject(with: Data(statJSON.output.utf8)) as? [String: Any]
        #expect(statFigures?["seq"] as? Int == 4 && statFigures?["log"] as? Int == 4, "\(statJSON)")
        let verify = try run("stockctl", ["verify", "--json", "--data", daemon.dataDirectory], timeoutSeconds: 60)
        let summary = try JSONSerialization.jsonObject(with: Data(verify.output.utf8)) as? [String: Any]
        #expect(verify.status == 0 && summary?["ok"] as? Bool == true && summary?["events"] as? Int == 4, "\(verify)")
    }

    @Test("argument-parser generates the shell completion scripts", arguments: ["bash", "zsh", "fish"])
    func completionScripts(shell: String) throws {
        let script = try run("stockctl", ["--generate-completion-script", shell], timeoutSeconds: 30)
        #expect(script.status == 0 && script.output.contains("stockctl") && script.output.contains("watch"), "\(script)")
    }
}

/// A stockctl left running (`watch`), its standard output and error collected as they come.
// Shared across threads safely: the collected text is read and written only with `lock` held; the reading
// threads are the only writers.
final class BackgroundTool: @unchecked Sendable {
    private let process = Process()
    private let lock = NSLock()
    private var outputText = ""
    private var errorText = ""
    private let finished = DispatchGroup()

    init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: StockdProcess.binDirectory + "/stockctl")
        process.arguments = arguments
        // Standard input at end of file, from a pipe of its own.
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        try input.fileHandleForWriting.close()
        collect(output.fileHandleForReading) { $0.outputText += $1 }
        collect(errors.fileHandleForReading) { $0.errorText += $1 }
    }

    private func collect(_ handle: FileHandle, into append: @escaping @Sendable (BackgroundTool, String) -> Void) {
        finished.enter()
        Thread.detachNewThread { [self] in
            defer { finished.leave() }
            while case let data = handle.availableData, !data.isEmpty {
                lock.lock()
                append(self, String(decoding: data, as: UTF8.self))
                lock.unlock()
            }
        }
    }

    var output: String { lock.lock(); defer { lock.unlock() }; return outputText }
    var errors: String { lock.lock(); defer { lock.unlock() }; return errorText }

    /// The seqs of the event lines printed so far (line or JSON form), in order.
    var seqs: [Int64] {
        output.split(separator: "\n").compactMap { line in
            if line.hasPrefix("{") {
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return object?["push"] as? String == "event" ? (object?["seq"] as? Int).map(Int64.init) : nil
            }
            return line.hasPrefix("event ") ? number("seq", String(line)) : nil
        }
    }

    /// Ends it with SIGKILL: a process Foundation starts from a test thread inherits that thread's
    /// blocked signals, SIGINT and SIGTERM among them.
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        finished.wait()
    }
}
