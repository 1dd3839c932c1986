import Foundation
import LedgerClient
import LedgerServer
import Testing

/// The systemd side, for real: the unit passes systemd-analyze, and stockd speaks sd_notify.
@Suite("systemd")
struct SystemdTests {
    static var repositoryRoot: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }

    @Test("stockd.service passes systemd-analyze verify with no warning and security exposure <= 2.0")
    func unitChecks() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else {
            Issue.record("systemd-analyze is missing: `make deps` installs it")
            return
        }
        let result = try run("/bin/bash", [SystemdTests.repositoryRoot + "/Tests/systemd/check-unit.sh",
                                           StockdProcess.binDirectory + "/stockd"])
        #expect(result.status == 0, "\(result.output)")
    }

    @Test("make install-files DESTDIR=… PREFIX=/usr lays out binaries, every unit, sysusers, completions and docs")
    func installLayout() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let destination = directory + "/dest"
        let result = try make(["install-files", "DESTDIR=" + destination, "PREFIX=/usr"])
        #expect(result.status == 0, "\(result.output)")
        let expected = ["/usr/bin/stockd", "/usr/bin/stockctl", "/usr/lib/sysusers.d/stockd.conf",
                        "/usr/share/bash-completion/completions/stockctl", "/usr/share/zsh/vendor-completions/_stockctl",
                        "/usr/share/fish/vendor_completions.d/stockctl.fish", "/usr/share/doc/stockd/operating.md"]
            + SystemdTests.unitNames.map { "/usr/lib/systemd/system/" + $0 }
        for path in expected {
            #expect(FileManager.default.fileExists(atPath: destination + path), "missing \(path)")
        }
        #expect(FileManager.default.isExecutableFile(atPath: destination + "/usr/bin/stockd"))
        let service = try String(contentsOfFile: destination + "/usr/lib/systemd/system/stockd.service", encoding: .utf8)
        #expect(service.contains("\nExecStart=/usr/bin/stockd --data /var/lib/stockd "), "ExecStart must name PREFIX's binary")
        #expect(service.contains("Documentation=file:/usr/share/doc/stockd/operating.md"))
        #expect(!service.contains("/usr/local/"), "an installed unit must not name the template's /usr/local")
        let sysusers = try String(contentsOfFile: destination + "/usr/lib/sysusers.d/stockd.conf", encoding: .utf8)
        #expect(sysusers.contains("u stockd - "))
        // The completions are argument-parser's, generated from the installed stockctl's own options.
        let bash = try String(contentsOfFile: destination + "/usr/share/bash-completion/completions/stockctl", encoding: .utf8)
        #expect(bash.contains("complete") && bash.contains("verify"), "\(bash.prefix(300))")
        #expect(try run("/bin/bash", ["-n", destination + "/usr/share/bash-completion/completions/stockctl"]).status == 0)
        let zsh = try String(contentsOfFile: destination + "/usr/share/zsh/vendor-completions/_stockctl", encoding: .utf8)
        #expect(zsh.hasPrefix("#compdef stockctl"), "\(zsh.prefix(100))")
        let fish = try String(contentsOfFile: destination + "/usr/share/fish/vendor_completions.d/stockctl.fish", encoding: .utf8)
        #expect(fish.contains("complete -c 'stockctl'"), "\(fish.prefix(300))")
    }

    @Test("the units make install-files writes pass systemd-analyze verify with no output")
    func installedUnitsVerify() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else {
            Issue.record("systemd-analyze is missing: `make deps` installs it")
            return
        }
        // verify insists that ExecStart's binary exists on this machine, so this install goes to a real
        // PREFIX (a temporary folder) rather than under a DESTDIR.
        let prefix = try temporaryDirectory() + "/usr"
        defer { try? FileManager.default.removeItem(atPath: (prefix as NSString).deletingLastPathComponent) }
        let result = try make(["install-files", "PREFIX=" + prefix])
        #expect(result.status == 0, "\(result.output)")
        let units = SystemdTests.unitNames.map { prefix + "/lib/systemd/system/" + $0 }
        let service = try String(contentsOfFile: prefix + "/lib/systemd/system/stockd.service", encoding: .utf8)
        #expect(service.contains("ExecStart=\(prefix)/bin/stockd "))
        let verify = try run("/usr/bin/systemd-analyze", ["verify", "--recursive-errors=no", "--man=no", "--generators=no"] + units)
        #expect(verify.status == 0 && verify.output.isEmpty, "\(verify.output)")
    }

    /// The unit files in systemd/ that an install without the relay installs: all but stockrelay's
    /// (installed only with RELAY_FROM; Tests/systemd/check-unit.sh verifies it on its own).
    static var unitNames: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: repositoryRoot + "/systemd")) ?? []
        let suffixes = [".service", ".socket", ".timer", ".path", ".target"]
        return names.filter { name in suffixes.contains { name.hasSuffix($0) } && !name.hasPrefix("stockrelay.") }.sorted()
    }

    /// Runs `make` in the repository with the already built binaries (install-files builds nothing).
    func make(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try run("/usr/bin/make", ["-C", SystemdTests.repositoryRoot, "--no-print-directory"] + arguments
                + ["BIN_FROM=" + StockdProcess.binDirectory])
    }

    func temporaryDirectory() throws -> String {
        var template = Array("/tmp/stockd-install-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        return String(cString: made)
    }

    @Test("stockd-metrics.service and .timer, and stockd.service with the metrics-listen drop-in, pass systemd-analyze verify silently")
    func metricsUnits() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else {
            Issue.record("systemd-analyze is missing: `make deps` installs it")
            return
        }
        // As check-unit.sh does: verify wants ExecStart's binary to exist, so the units are checked
        // from copies that point at the binaries just built. The drop-in sits where systemd looks
        // for it beside the unit (verify adds each unit's folder to the search path).
        let source = SystemdTests.repositoryRoot + "/systemd/"
        let work = try StockdProcess().directory
        defer { try? FileManager.default.removeItem(atPath: work) }
        try FileManager.default.createDirectory(atPath: work + "/stockd.service.d", withIntermediateDirectories: true)
        let bin = StockdProcess.binDirectory
        for (name, copy) in [("stockd.service", "stockd.service"), ("stockd.socket", "stockd.socket"),
                             ("stockd-metrics.service", "stockd-metrics.service"),
                             ("stockd-metrics.timer", "stockd-metrics.timer"),
                             ("metrics-listen.conf", "stockd.service.d/metrics-listen.conf")] {
            let text = try String(contentsOfFile: source + name, encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/stockd ", with: bin + "/stockd ")
                .replacingOccurrences(of: "/usr/local/bin/stockctl ", with: bin + "/stockctl ")
            try text.write(toFile: work + "/" + copy, atomically: true, encoding: .utf8)
        }
        let units = ["stockd.service", "stockd-metrics.service", "stockd-metrics.timer"].map { work + "/" + $0 }
        let result = try run("/usr/bin/systemd-analyze", ["verify", "--recursive-errors=no", "--man=no", "--generators=no"] + units,
                             environment: ["SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0", "LC_ALL": "C"])
        #expect(result.status == 0 && result.output.isEmpty, "\(result.output)")
        // The drop-in was read: a misspelt key in it is reported.
        let dropIn = work + "/stockd.service.d/metrics-listen.conf"
        try (String(contentsOfFile: dropIn, encoding: .utf8) + "IPAddressAlow=localhost\n").write(toFile: dropIn, atomically: true, encoding: .utf8)
        let misspelt = try run("/usr/bin/systemd-analyze", ["verify", "--recursive-errors=no", "--man=no", "--generators=no", units[0]])
        #expect(misspelt.output.contains("IPAddressAlow"), "\(misspelt.output)")
    }

    @Test("READY=1 when serving and STOPPING=1 on SIGTERM, as datagrams on $NOTIFY_SOCKET; start-up asks for time")
    func notify() throws {
        let daemon = try StockdProcess()
        defer { daemon.removeFiles() }
        let notify = try NotifySocket(path: daemon.directory + "/notify.sock")
        daemon.environment["NOTIFY_SOCKET"] = notify.path
        try daemon.start()
        let extend = notify.receive()
        #expect(extend.contains("EXTEND_TIMEOUT_USEC=10000000"), "got \(extend)")
        func receive() -> String { notify.receive() }
        let ready = receive()
        #expect(ready.split(separator: "\n").contains("READY=1"), "got \(ready)")
        #expect(ready.contains("STATUS="))
        #expect(ready.contains("MAINPID=\(daemon.pid)"))
        #expect(daemon.stop() == 0)
        var messages = ""
        for _ in 0..<4 where !messages.contains("STOPPING=1") { messages += receive() }
        #expect(messages.contains("STOPPING=1"))
    }

    @Test("WATCHDOG=1 pings come every quarter of WATCHDOG_USEC while the writer makes progress")
    func watchdog() throws {
        let daemon = try StockdProcess()
        defer { daemon.removeFiles() }
        let notify = try NotifySocket(path: daemon.directory + "/notify.sock")
        daemon.environment["NOTIFY_SOCKET"] = notify.path
        daemon.environment["WATCHDOG_USEC"] = "400000"
        try daemon.start()
        var pings = 0
        let deadline = Date().addingTimeInterval(1.5)
        while Date() < deadline { if notify.receive().contains("WATCHDOG=1") { pings += 1 } }
        #expect(pings >= 5, "\(pings) pings in 1.5 s with a 0.4 s watchdog")
        // The rule that stops them: no ping once the writer loop has not come round for half the interval.
        #expect(SystemdEnvironment.shouldPing(nowMicroseconds: 1_000_000, heartbeatMicroseconds: 900_000,
                                              watchdogMicroseconds: 400_000))
        #expect(!SystemdEnvironment.shouldPing(nowMicroseconds: 1_000_000, heartbeatMicroseconds: 700_000,
                                               watchdogMicroseconds: 400_000))
    }

    @Test("socket activation: a listening socket passed as fd 3 with LISTEN_FDS/LISTEN_PID is served, and kept at exit")
    func socketActivation() throws {
        let daemon = try StockdProcess()
        defer { daemon.removeFiles() }
        try FileManager.default.createDirectory(atPath: daemon.directory, withIntermediateDirectories: true)
        let path = daemon.directory + "/activated.sock"
        let listener = try UnixSocket.listening(at: path)
        defer { close(listener) }
        // LISTEN_PID must be the daemon's own pid: a shell exports its pid ($$), then execs stockd.
        let script = "export LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=stockd; exec \"$0\" \"$@\""
        let arguments = ["/bin/sh", "-c", script, StockdProcess.binDirectory + "/stockd",
                         "--data", daemon.dataDirectory, "--socket", daemon.directory + "/unused.sock"]
        let pid = try spawn(arguments, passing: listener, logPath: daemon.logPath)
        defer { kill(pid, SIGKILL); var status: Int32 = 0; waitpid(pid, &status, 0) }
        var reply: [String] = []
        for _ in 0..<500 where reply.isEmpty {
            if let client = try? LineClient(path: path) { reply = (try? client.request("PING")) ?? [] }
            if reply.isEmpty { usleep(20_000) }
        }
        #expect(reply == ["OK pong"])
        #expect(!FileManager.default.fileExists(atPath: daemon.directory + "/unused.sock"))
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(FileManager.default.fileExists(atPath: path), "the passed socket's file must stay for the next activation")
        let log = (try? String(contentsOfFile: daemon.logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("using the socket passed by systemd"), "\(log)")
    }
}

/// A datagram socket standing in for systemd's notify socket.
final class NotifySocket {
    let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0, UnixSocket.bind(fd, path) == 0 else { throw CocoaError(.fileWriteUnknown) }
        var timeout = timeval(tv_sec: 0, tv_usec: 500_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// The next datagram, or "" after half a second without one.
    func receive() -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<40 {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count > 0 { return String(decoding: buffer[0..<count], as: UTF8.self) }
            if count < 0 && errno != EAGAIN && errno != EINTR { return "" }
            if count < 0 && errno == EAGAIN { return "" }
        }
        return ""
    }
}

enum UnixSocket {
    static func bind(_ fd: Int32, _ path: String) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    static func listening(at path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0, bind(fd, path) == 0, listen(fd, 64) == 0 else { throw CocoaError(.fileWriteUnknown) }
        return fd
    }
}

/// Starts a process with `descriptor` as its fd 3, as systemd does for socket activation.
func spawn(_ arguments: [String], passing descriptor: Int32, logPath: String) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, descriptor, 3)
    posix_spawn_file_actions_addopen(&actions, 2, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    var pid: pid_t = 0
    let argv = arguments.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var environment = ProcessInfo.processInfo.environment
    environment["NOTIFY_SOCKET"] = nil
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { envp.forEach { free($0) } }
    let result = posix_spawn(&pid, arguments[0], &actions, nil, argv, envp)
    guard result == 0 else { throw CocoaError(.executableLoad) }
    return pid
}

