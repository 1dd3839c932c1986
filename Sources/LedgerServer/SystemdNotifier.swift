#if canImport(Glibc)
import Glibc
#endif

/// Speaks sd_notify(3) without libsystemd: one datagram per message to `$NOTIFY_SOCKET`
/// (a path, or an abstract socket when it starts with `@`). Does nothing when not under systemd.
public struct SystemdNotifier: Sendable {
    public let socketPath: String?

    public init(environment: [String: String]) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public var isActive: Bool { socketPath != nil }

    /// Sends `message` (for example `READY=1\nSTATUS=serving`). Errors are ignored, as sd_notify does:
    /// the daemon's work does not depend on the manager reading them.
    @discardableResult
    public func notify(_ message: String) -> Bool {
        guard let socketPath else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(socketPath.utf8)
        if pathBytes.first == UInt8(ascii: "@") { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count)
        let sent = message.withCString { text in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, text, strlen(text), Int32(MSG_NOSIGNAL), $0, length)
                }
            }
        }
        return sent >= 0
    }
}

/// The systemd environment stockd reads at start: socket activation (sd_listen_fds(3)) and the
/// watchdog (sd_watchdog_enabled(3)). Both are honoured only when addressed to this process.
public struct SystemdEnvironment: Sendable {
    /// The first descriptor systemd passes (SD_LISTEN_FDS_START).
    public static let listenFileDescriptorsStart: Int32 = 3

    /// The passed listening socket, when socket-activated.
    public var listenFileDescriptor: Int32?
    /// WatchdogSec, in microseconds, when the watchdog is on.
    public var watchdogMicroseconds: UInt64?

    public init(environment: [String: String], pid: Int32) {
        func forUs(_ key: String) -> Bool { environment[key].map { Int32($0) == pid } ?? true }
        if let count = environment["LISTEN_FDS"].flatMap(Int32.init), count >= 1,
           environment["LISTEN_PID"].flatMap(Int32.init) == pid {
            // With several descriptors, take the one named "stockd" (FileDescriptorName=), else the first.
            let names = environment["LISTEN_FDNAMES"]?.split(separator: ":", omittingEmptySubsequences: false) ?? []
            let index = names.firstIndex(of: "stockd").map { Int32($0) } ?? 0
            listenFileDescriptor = SystemdEnvironment.listenFileDescriptorsStart + min(index, count - 1)
        }
        if let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0, forUs("WATCHDOG_PID") {
            watchdogMicroseconds = usec
        }
    }

    /// Whether to send WATCHDOG=1 now: only while the writer loop has come round within half the
    /// watchdog interval. A writer stuck in a commit (a hung disk) stops the pings, and systemd
    /// restarts the daemon.
    public static func shouldPing(nowMicroseconds: UInt64, heartbeatMicroseconds: UInt64, watchdogMicroseconds: UInt64) -> Bool {
        nowMicroseconds < heartbeatMicroseconds || nowMicroseconds - heartbeatMicroseconds < watchdogMicroseconds / 2
    }
}
