import Foundation
import LedgerClient
import Testing

/// A real stockd on a temporary data folder and socket, started from the built binary.
final class StockdProcess {
    let directory: String
    var dataDirectory: String { directory + "/data" }
    var socketPath: String { directory + "/stockd.sock" }
    var logPath: String { directory + "/stockd.log" }
    private(set) var process: Process?
    var extraArguments: [String] = []
    /// A command the daemon is started through (`prlimit …`, `sh -c 'umask 000; exec "$@"' sh`).
    var launcher: [String] = []
    var environment: [String: String] = [:]

    /// The folder holding the built `stockd` and `stockctl` (`make test` sets STOCKD_BIN; otherwise
    /// the folder of the running test bundle, which SwiftPM puts beside the executables).
    static var binDirectory: String {
        if let bin = ProcessInfo.processInfo.environment["STOCKD_BIN"], !bin.isEmpty { return bin }
        var path = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while path.pathComponents.count > 1 {
            path.deleteLastPathComponent()
            if FileManager.default.isExecutableFile(atPath: path.appendingPathComponent("stockd").path) { return path.path }
        }
        return ".build/debug"
    }

    init(directory: String? = nil) throws {
        if let directory {
            self.directory = directory
        } else {
            var template = Array("/tmp/stockd-test-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
            self.directory = String(cString: made)
        }
    }

    deinit {
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    }

    /// Starts stockd and waits until its socket answers PING.
    @discardableResult
    func start(timeoutSeconds: Double = 20) throws -> StockdProcess {
        try launch()
        return try waitUntilServing(timeoutSeconds: timeoutSeconds)
    }

    /// Waits until the launched daemon's socket answers PING.
    @discardableResult
    func waitUntilServing(timeoutSeconds: Double = 20) throws -> StockdProcess {
        guard let process else { throw StockdError.didNotStart(log: "not launched") }
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            if let client = try? LineClient(path: socketPath), (try? client.request("PING")) == ["OK pong"] { return self }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        throw StockdError.didNotStart(log: (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")
    }

    /// Starts stockd without waiting for it to serve (to kill it during its start-up).
    @discardableResult
    func launch() throws -> Process {
        let process = Process()
        let stockd = StockdProcess.binDirectory + "/stockd"
        let arguments = ["--data", dataDirectory, "--socket", socketPath] + extraArguments
        if let command = launcher.first {
            process.executableURL = URL(fileURLWithPath: command)
            process.arguments = Array(launcher.dropFirst()) + [stockd] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: stockd)
            process.arguments = arguments
        }
        var env = ProcessInfo.processInfo.environment
        env["NOTIFY_SOCKET"] = nil
        for (key, value) in environment { env[key] = value }
        process.environment = env
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardError = log
        process.standardOutput = log
        try process.run()
        self.process = process
        return process
    }

    /// Sends a signal and waits for the process to end; returns its exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) -> Int32 {
        guard let process else { return -1 }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        self.process = nil
        return process.terminationStatus
    }

    var pid: Int32 { process?.processIdentifier ?? 0 }

    /// Resident memory of the daemon in KiB (VmRSS).
    var residentKiB: Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }

    func client() throws -> LineClient {
        let client = try LineClient(path: socketPath)
        client.setReceiveTimeout(seconds: 30)
        return client
    }

    /// One request on a fresh connection.
    func request(_ line: String) throws -> [String] { try client().request(line) }

    func removeFiles() {
        if process != nil { stop(signal: SIGKILL) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

enum StockdError: Error, CustomStringConvertible {
    case didNotStart(log: String)
    var description: String {
        switch self { case .didNotStart(let log): "stockd did not start; its log:\n\(log)" }
    }
}

/// Runs a tool from the build (stockctl) or the system and returns its exit status and output.
/// `input` is its standard input (none: /dev/null, so a tool never waits on the test's terminal);
/// `/usr/bin/timeout` ends it after `timeoutSeconds`, so a hang fails the test (status 124) instead
/// of blocking the suite.
func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], input: String? = nil,
         timeoutSeconds: Int = 120) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
    process.arguments = [String(timeoutSeconds),
                         executable.hasPrefix("/") ? executable : StockdProcess.binDirectory + "/" + executable] + arguments
    var env = ProcessInfo.processInfo.environment
    for (key, value) in environment { env[key] = value }
    process.environment = env
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    // Standard input from a pipe of its own, closed after the input (or at once: end of file).
    let inputPipe = Pipe()
    process.standardInput = inputPipe
    try process.run()
    if let input { inputPipe.fileHandleForWriting.write(Data(input.utf8)) }
    try inputPipe.fileHandleForWriting.close()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

extension Array where Element == String {
    /// The final OK/ERR line of a reply.
    var status: String { last ?? "" }
}

func field(_ key: String, _ line: String) -> String? { ReplyFields.value(key, in: line) }
func number(_ key: String, _ line: String) -> Int64? { ReplyFields.int(key, in: line) }

/// Asks `condition` again every 10 ms until it holds (true) or `timeoutSeconds` pass (false): for a
/// state the daemon reaches on its own, such as a closed connection counted out. Tests wait on the
/// state itself, never on a guessed delay.
func eventually(timeoutSeconds: Double = 30, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    while true {
        if try condition() { return true }
        if Date() >= deadline { return false }
        usleep(10_000)
    }
}
