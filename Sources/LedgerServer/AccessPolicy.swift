/// Who may write. Each connection's peer (its Unix uid and gid, read with SO_PEERCRED) gets a role:
/// a `reader` that sends a write is answered `ERR DENIED`.
public struct AccessPolicy: Sendable, Equatable {
    public enum Role: String, Sendable { case reader, writer }

    public var writerUsers: Set<UInt32> = []
    public var writerGroups: Set<UInt32> = []
    public var readerUsers: Set<UInt32> = []
    public var readerGroups: Set<UInt32> = []
    /// The role of a peer named by no rule. With no rules at all everyone may write, which suits a
    /// development machine; a configured host lists its writers and sets this to `.reader`.
    public var defaultRole: Role = .writer

    public init() {}

    public func role(uid: UInt32, gid: UInt32) -> Role {
        if uid == 0 || writerUsers.contains(uid) { return .writer }
        if readerUsers.contains(uid) { return .reader }
        if writerGroups.contains(gid) { return .writer }
        if readerGroups.contains(gid) { return .reader }
        return defaultRole
    }
}

/// The Unix identity of the process at the other end of a connection.
public struct PeerCredentials: Sendable, Equatable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
}
