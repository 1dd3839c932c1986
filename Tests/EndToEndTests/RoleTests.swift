import Foundation
import LedgerClient
import Testing

/// Peer roles with a real second Unix user: a reader's write is ERR DENIED, a writer's event records
/// its uid as actor.
@Suite("roles end to end", .serialized)
struct RoleTests {
    static let user = "stockd-test-peer"

    /// Creates the second user when running as root; nil (with the reason printed) otherwise.
    static func peerUID() throws -> UInt32? {
        guard getuid() == 0 else {
            print("skipped: creating a second Unix user needs root")
            return nil
        }
        for tool in ["/usr/sbin/useradd", "/usr/sbin/runuser"] where !FileManager.default.isExecutableFile(atPath: tool) {
            print("skipped: \(tool) is missing")
            return nil
        }
        if getpwnam(user) == nil {
            let made = try run("/usr/sbin/useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user])
            guard made.status == 0 else {
                print("skipped: useradd failed: \(made.output)")
                return nil
            }
        }
        return getpwnam(user)?.pointee.pw_uid
    }

    /// Runs `stockctl send LINE` as the second user.
    static func sendAsPeer(_ socket: String, _ line: String) throws -> String {
        try run("/usr/sbin/runuser", ["-u", user, "--", StockdProcess.binDirectory + "/stockctl", "send",
                                      "--socket", socket, line]).output
    }

    @Test("a reader's write is ERR DENIED and its reads work; HELLO names the role")
    func readerIsDenied() throws {
        guard let uid = try RoleTests.peerUID() else { return }
        let daemon = try StockdProcess()
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: daemon.directory)
        daemon.extraArguments = ["--socket-mode", "0666", "--access", "/nonexistent", "--readers", "user:\(RoleTests.user)"]
        try daemon.start()
        defer { daemon.removeFiles() }
        _ = try daemon.request("RECEIVE sku=R wh=A qty=5")
        #expect(try RoleTests.sendAsPeer(daemon.socketPath, "HELLO").contains("role=reader"))
        let denied = try RoleTests.sendAsPeer(daemon.socketPath, "SELL sku=R wh=A qty=1")
        #expect(denied.hasPrefix("ERR DENIED"), "\(denied)")
        #expect(denied.contains("uid \(uid)"))
        #expect(try RoleTests.sendAsPeer(daemon.socketPath, "STOCK sku=R").contains("on_hand=5"))
        #expect(try RoleTests.sendAsPeer(daemon.socketPath, "BEGIN").hasPrefix("ERR DENIED"))
    }

    @Test("a writer named in the access file writes, and its uid is the event's actor")
    func writerIsRecorded() throws {
        guard let uid = try RoleTests.peerUID() else { return }
        let daemon = try StockdProcess()
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: daemon.directory)
        let accessFile = daemon.directory + "/access.conf"
        try "# test rules\nwriter user \(RoleTests.user)\ndefault reader\n".write(toFile: accessFile, atomically: true, encoding: .utf8)
        daemon.extraArguments = ["--socket-mode", "0666", "--access", accessFile]
        try daemon.start()
        defer { daemon.removeFiles() }
        let written = try RoleTests.sendAsPeer(daemon.socketPath, "RECEIVE sku=R wh=A qty=2")
        #expect(written.hasPrefix("OK seq=1 "), "\(written)")
        #expect(number("actor", try daemon.request("EVENTS")[0]) == Int64(uid))
    }

    @Test("an access file naming an unknown user stops start-up with a clear error")
    func badAccessFile() throws {
        let daemon = try StockdProcess()
        let accessFile = daemon.directory + "/access.conf"
        try "writer user no-such-user-here\n".write(toFile: accessFile, atomically: true, encoding: .utf8)
        daemon.extraArguments = ["--access", accessFile]
        defer { daemon.removeFiles() }
        #expect(throws: (any Error).self) { try daemon.start(timeoutSeconds: 5) }
        let log = (try? String(contentsOfFile: daemon.logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("no such user: no-such-user-here") && log.contains("access.conf:1"))
    }
}
