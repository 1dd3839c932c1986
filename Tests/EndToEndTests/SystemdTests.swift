import Foundation
import LedgerClient
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

    @Test("READY=1 when serving and STOPPING=1 on SIGTERM, as datagrams on $NOTIFY_SOCKET")
    func notify() throws {
        let daemon = try StockdProcess()
        defer { daemon.removeFiles() }
        let path = daemon.directory + "/notify.sock"
        try FileManager.default.createDirectory(atPath: daemon.directory, withIntermediateDirectories: true)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        daemon.environment["NOTIFY_SOCKET"] = path
        try daemon.start()

        func receive() -> String {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(fd, &buffer, buffer.count, 0)
            return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : ""
        }
        let ready = receive()
        #expect(ready.split(separator: "\n").contains("READY=1"), "got \(ready)")
        #expect(ready.contains("STATUS="))
        #expect(ready.contains("MAINPID=\(daemon.pid)"))
        #expect(daemon.stop() == 0)
        var messages = ""
        for _ in 0..<4 where !messages.contains("STOPPING=1") { messages += receive() }
        #expect(messages.contains("STOPPING=1"))
    }
}
