import Foundation
import Testing

/// How stockd's log lines name their level, by where stderr goes: `<N>` priority prefixes for the
/// journal, files and pipes; level words on a terminal (a pseudo-terminal here).
///
/// Each case starts stockd with a writer rule naming a user that does not exist: stockd logs one
/// critical line, "bad access configuration", and exits at once, before opening any store.
@Suite("log format")
struct LogFormatTests {
    static let missingUser = "stockd-test-no-such-user"

    func arguments(_ directory: String) -> [String] {
        ["--data", directory + "/data", "--socket", directory + "/stockd.sock", "--writers", "user:" + LogFormatTests.missingUser]
    }

    @Test("stderr to a pipe: <2> priority prefix, as journald and syslog read it")
    func pipe() throws {
        let daemon = try StockdProcess()
        defer { daemon.removeFiles() }
        let result = try run("stockd", arguments(daemon.directory), environment: ["JOURNAL_STREAM": ""])
        #expect(result.status != 0)
        #expect(result.output.contains("<2>bad access configuration"), "\(result.output)")
    }

    @Test("stderr on a terminal: level words, no <N> prefix")
    func terminal() throws {
        let daemon = try StockdProcess()
        defer { daemon.removeFiles() }
        let output = try runOnTerminal(StockdProcess.binDirectory + "/stockd", arguments(daemon.directory), journalStream: "unset")
        #expect(output.contains("critical: bad access configuration"), "\(output)")
        #expect(!output.contains("<2>"), "\(output)")
    }

    @Test("stderr on a terminal that JOURNAL_STREAM names: <2> prefix; naming another file: level words")
    func journalStream() throws {
        let daemon = try StockdProcess()
        defer { daemon.removeFiles() }
        let named = try runOnTerminal(StockdProcess.binDirectory + "/stockd", arguments(daemon.directory), journalStream: "self")
        #expect(named.contains("<2>bad access configuration"), "\(named)")
        let inherited = try runOnTerminal(StockdProcess.binDirectory + "/stockd", arguments(daemon.directory), journalStream: "other")
        #expect(inherited.contains("critical: bad access configuration"), "\(inherited)")
    }
}

/// Runs a program with stdin, stdout and stderr on a fresh pseudo-terminal (Python's `pty.fork`, so
/// isatty(2) is true for it) and returns what it wrote. `journalStream`: "unset"; "self", naming the
/// terminal's own device and inode (as systemd names the journal's stream); "other", naming another
/// file (an inherited value).
func runOnTerminal(_ executable: String, _ arguments: [String], journalStream: String) throws -> String {
    let script = """
        import os, pty, sys
        mode, argv = sys.argv[1], sys.argv[2:]
        pid, controller = pty.fork()
        if pid == 0:
            status = os.fstat(2)
            os.environ.pop("JOURNAL_STREAM", None)
            if mode == "self": os.environ["JOURNAL_STREAM"] = f"{status.st_dev}:{status.st_ino}"
            if mode == "other": os.environ["JOURNAL_STREAM"] = f"{status.st_dev}:{status.st_ino + 1}"
            os.execv(argv[0], argv)
        output = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the child has exited and closed the terminal side
                break
            if not chunk:
                break
            output += chunk
        os.waitpid(pid, 0)
        sys.stdout.write(output.decode(errors="replace"))
        """
    return try run("/usr/bin/python3", ["-c", script, journalStream, executable] + arguments).output
}
