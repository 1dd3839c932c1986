import LedgerCore

/// The stable word after `ERR`. Clients branch on it; the text after it is for people.
public enum ErrorCode: String, CaseIterable, Sendable {
    case syntax = "SYNTAX"
    case unknown = "UNKNOWN"
    case argument = "ARG"
    case insufficient = "INSUFFICIENT"
    case notFound = "NOTFOUND"
    case state = "STATE"
    case conflict = "CONFLICT"
    case denied = "DENIED"
    case limit = "LIMIT"
    case unavailable = "UNAVAILABLE"
}

/// A failure answered with one `ERR` line. Nothing was written.
public struct ProtocolError: Error, Equatable, Sendable {
    public var code: ErrorCode
    /// Extra `key=value` pairs that go before the text (INSUFFICIENT carries `available=N`).
    public var pairs: [(String, String)]
    public var message: String

    public init(_ code: ErrorCode, _ message: String, pairs: [(String, String)] = []) {
        self.code = code
        self.message = message
        self.pairs = pairs
    }

    public static func == (lhs: ProtocolError, rhs: ProtocolError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.pairs.elementsEqual(rhs.pairs, by: ==)
    }

    /// What a watcher that fell behind is told before it is closed.
    public static let watcherTooSlow = ProtocolError(.limit, "watcher too slow")

    /// The domain refusal as the protocol states it.
    public init(_ refusal: Refusal) {
        switch refusal {
        case let .insufficient(available, requested, sku, wh):
            self.init(.insufficient, "", pairs: [("available", String(available)), ("requested", String(requested)),
                                                 ("sku", sku), ("wh", wh)])
        case let .unpromisable(available, promisable, preorderLeft, requested):
            self.init(.insufficient, "", pairs: [("available", String(available)), ("promisable", String(promisable)),
                                                 ("preorder_left", String(preorderLeft)), ("requested", String(requested))])
        case let .awaiting(reservation, held, awaiting):
            self.init(.state, "reservation \(reservation) holds \(held) and still awaits \(awaiting)",
                      pairs: [("res", reservation), ("state", "awaiting"), ("held", String(held)), ("awaiting", String(awaiting))])
        case let .notFound(entity, id):
            self.init(.notFound, "no such \(entity.name) \(id)", pairs: [(entity.key, id)])
        case let .closed(entity, id, status):
            self.init(.state, "\(entity.name) \(id) is \(status)", pairs: [(entity.key, id), ("state", status)])
        case let .state(what): self.init(.state, what)
        case let .limit(what): self.init(.limit, what)
        case let .insufficientFree(free, requested):
            self.init(.insufficient, "", pairs: [("free", String(free)), ("requested", String(requested))])
        case let .unallocatable(available, requested, byWarehouse):
            self.init(.insufficient, "", pairs: [("available", String(available)), ("requested", String(requested)),
                                                 ("avail", byWarehouse.map { "\($0.0):\($0.1)" }.joined(separator: ","))])
        case let .argument(what): self.init(.argument, what)
        }
    }

    /// The `ERR` line, optionally with extra leading pairs (a batch's `index=`).
    public func line(prefix: [(String, String)] = []) -> String {
        var line = ReplyLine("ERR " + code.rawValue)
        for (key, value) in prefix + pairs { line.add(key, value) }
        if !message.isEmpty { line.text(message) }
        return line.text
    }
}
