import LedgerCore

/// Turns a request line into a `Request`, or the `ERR` it deserves: SYNTAX for a line that cannot be
/// tokenised, UNKNOWN for a verb we do not have, ARG for a missing, unknown, repeated or out-of-range
/// argument. Pure: it does not look at the ledger.
public enum RequestParser {
    /// Parses one line (without its newline). Returns nil for a blank line.
    public static func parse(_ line: some Collection<UInt8>) throws(ProtocolError) -> Request? {
        guard let tokens = try Tokenizer.tokenize(line) else { return nil }
        return try parse(tokens)
    }

    public static func parse(_ tokens: TokenizedLine) throws(ProtocolError) -> Request {
        var args = try Arguments(tokens)
        let request: Request
        switch tokens.verb {
        case "RECEIVE":
            let sku = try args.identifier("sku"), wh = try args.identifier("wh")
            request = try write(&args, .receive(sku: sku, wh: wh, quantity: try args.quantity("qty"),
                                                purchaseOrder: try args.optionalIdentifier("po")))
        case "SELL":
            if let reservation = try args.optionalIdentifier("res") {
                request = try write(&args, .sellReserved(reservation: reservation, quantity: try args.optionalQuantity("qty")))
            } else {
                let sku = try args.identifier("sku"), wh = try args.identifier("wh"), quantity = try args.quantity("qty")
                request = try write(&args, .sell(sku: sku, wh: wh, quantity: quantity, channel: try args.optionalIdentifier("channel")))
            }
        case "RESERVE":
            let sku = try args.identifier("sku"), wh = try args.identifier("wh"), quantity = try args.quantity("qty")
            let reservation = try args.optionalIdentifier("res"), ttl = try args.optionalDuration("ttl")
            request = try write(&args, .reserve(sku: sku, wh: wh, quantity: quantity, reservation: reservation,
                                                ttlSeconds: ttl, terms: try args.reserveTerms()))
        case "EXTEND":
            let reservation = try args.identifier("res")
            guard let ttl = try args.optionalDuration("ttl") else { throw ProtocolError(.argument, "missing key: ttl") }
            request = try write(&args, .extend(reservation: reservation, ttlSeconds: ttl))
        case "WAIT", "UNWAIT":
            let sku = try args.identifier("sku"), subscriber = try args.identifier("ref"), wh = try args.optionalIdentifier("wh")
            let command: Command
            if tokens.verb == "WAIT" {
                command = .wait(sku: sku, wh: wh, subscriber: subscriber, quantity: try args.optionalQuantity("qty") ?? 1,
                                channel: try args.optionalIdentifier("channel"))
            } else {
                let reason = try args.optionalString("reason")
                guard reason == nil || reason == "notified" || reason == "cancelled" else {
                    throw ProtocolError(.argument, "reason: expected notified or cancelled")
                }
                command = .unwait(sku: sku, wh: wh, subscriber: subscriber, reason: reason)
            }
            // `ref` is the subscriber token here, carried in the event's body.
            request = .write(WriteRequest(command: command, note: try args.optionalFreeText("note"),
                                          idempotencyKey: try args.optionalIdentifier("id")))
        case "RESCHEDULE":
            let po = try args.identifier("po"), eta = try args.time("eta")
            request = try write(&args, .reschedule(purchaseOrder: po, eta: eta, reason: try args.optionalFreeText("reason")))
        case "RELEASE":
            if let alloc = try args.optionalIdentifier("alloc") {
                request = try write(&args, .releaseAllocation(alloc: alloc))
            } else {
                let reservation = try args.identifier("res")
                request = try write(&args, .release(reservation: reservation, quantity: try args.optionalQuantity("qty")))
            }
        case "TRANSFER":
            let sku = try args.identifier("sku"), from = try args.identifier("from"), to = try args.identifier("to")
            let quantity = try args.quantity("qty")
            request = try write(&args, .transfer(sku: sku, from: from, to: to, quantity: quantity,
                                                 transfer: try args.optionalIdentifier("xfer"),
                                                 eta: try args.optionalTime("eta"), channel: try args.optionalIdentifier("channel")))
        case "ARRIVE":
            let transfer = try args.identifier("xfer")
            request = try write(&args, .arrive(transfer: transfer, quantity: try args.optionalQuantity("qty", minimum: 0),
                                               lost: try args.optionalQuantity("lost", minimum: 0)))
        case "ADJUST":
            let sku = try args.identifier("sku"), wh = try args.identifier("wh"), delta = try args.delta("delta")
            request = try write(&args, .adjust(sku: sku, wh: wh, delta: delta, reason: try args.freeText("reason")))
        case "COUNT":
            let sku = try args.identifier("sku"), wh = try args.identifier("wh")
            let quantity = try args.quantity("qty", minimum: 0)
            request = try write(&args, .count(sku: sku, wh: wh, quantity: quantity, reason: try args.optionalFreeText("reason")))
        case "RETURN":
            let sku = try args.identifier("sku"), wh = try args.identifier("wh")
            request = try write(&args, .returnGoods(sku: sku, wh: wh, quantity: try args.quantity("qty")))
        case "EXPECT":
            let sku = try args.identifier("sku"), wh = try args.identifier("wh"), quantity = try args.quantity("qty")
            let eta = try args.time("eta")
            let po = try args.identifier("po")
            request = try write(&args, .expect(sku: sku, wh: wh, quantity: quantity, eta: eta, purchaseOrder: po,
                                               bind: try args.optionalYesNo("bind") ?? true))
        case "CANCEL":
            let po = try args.identifier("po")
            let orphans = try args.optionalString("orphans")
            guard orphans == nil || orphans == "rebind" || orphans == "release" else {
                throw ProtocolError(.argument, "orphans: expected rebind or release")
            }
            request = try write(&args, .cancel(purchaseOrder: po, releaseOrphans: orphans == "release"))
        case "POLICY":
            let sku = try args.identifier("sku"), wh = try args.identifier("wh")
            let safety = try args.optionalQuantity("safety", minimum: 0)
            let reorder = try args.optionalQuantity("reorder", minimum: 0)
            // With channel=, max= and the other levels are that channel's (FEATURES.md §1b).
            let channel = try args.channelPolicy()
            let max = channel == nil ? try args.optionalQuantity("max", minimum: 0) : nil
            let promises = try args.promisePolicy()
            guard safety != nil || reorder != nil || max != nil || promises != nil || channel != nil else {
                // The text of the first protocol, kept byte for byte (P4); the promise levels are in protocol.md.
                throw ProtocolError(.argument, "missing key: one of safety, reorder, max")
            }
            request = try write(&args, .policy(sku: sku, wh: wh, safety: safety, reorder: reorder, max: max, promises: promises,
                                               channel: channel))
        case "ALLOT":
            let sku = try args.identifier("sku"), wh = try args.identifier("wh"), channel = try args.identifier("channel")
            let quantity = try args.quantity("qty", minimum: 0)
            request = try write(&args, .allot(sku: sku, wh: wh, channel: channel, quantity: quantity, until: try args.optionalTime("until")))
        case "CHANNEL":
            let channel = try args.identifier("channel")
            let rules = try args.channelRules()
            guard !rules.isEmpty else { throw ProtocolError(.argument, "missing key: one of share, buffer, max, low") }
            request = try write(&args, .channel(channel: channel, rules: rules))
        case "ROUTE":
            let region = try args.identifier("region")
            let list = try args.list("wh")
            request = try write(&args, .route(region: region, warehouses: list ?? []))
        case "ALLOCATE":
            request = try write(&args, .allocate(try args.allocateRequest()))

        case "STOCK":
            let sku = try args.identifier("sku"), wh = try args.optionalIdentifier("wh")
            request = .read(.stock(sku: sku, wh: wh, at: try args.optionalLogPoint("at"), channel: try args.optionalIdentifier("channel")))
        case "CHANNELS":
            let sku = try args.identifier("sku"), wh = try args.optionalIdentifier("wh")
            request = .read(.channels(sku: sku, wh: wh, channel: try args.optionalIdentifier("channel")))
        case "BREACHES":
            let wh = try args.optionalIdentifier("wh"), sku = try args.optionalIdentifier("sku")
            if try args.optionalYesNo("history") == true {
                request = .read(.breachHistory(wh: wh, sku: sku, from: try args.optionalTime("from"),
                                               to: try args.optionalTime("to")))
            } else {
                request = .read(.breaches(wh: wh, sku: sku))
            }
        case "REORDER":
            request = .read(.reorder(wh: try args.optionalIdentifier("wh"), sku: try args.optionalIdentifier("sku")))
        case "RESERVATIONS":
            let sku = try args.optionalIdentifier("sku"), wh = try args.optionalIdentifier("wh")
            let reservation = try args.optionalIdentifier("res"), ref = try args.optionalIdentifier("ref")
            let filter = ReservationFilter(purchaseOrder: try args.optionalIdentifier("po"),
                                           awaiting: try args.optionalYesNo("awaiting"), late: try args.optionalYesNo("late"),
                                           channel: try args.optionalIdentifier("channel"), alloc: try args.optionalIdentifier("alloc"))
            request = .read(.reservations(sku: sku, wh: wh, reservation: reservation, ref: ref, filter: filter))
        case "RESTOCK":
            request = .read(.restock(sku: try args.optionalIdentifier("sku"), wh: try args.optionalIdentifier("wh")))
        case "PROMISE":
            let sku = try args.identifier("sku")
            let quantity = try args.optionalQuantity("qty"), wh = try args.optionalIdentifier("wh")
            let backorder = try args.optionalString("backorder")
            guard backorder == nil || backorder == "po" || backorder == "cap" else {
                throw ProtocolError(.argument, "backorder: expected po or cap")
            }
            // Like RESERVE, the cap counts only when asked for.
            request = .read(.promise(sku: sku, wh: wh, quantity: quantity, backorder: backorder == "cap" ? .cap : .order))
        case "SUGGEST":
            let sku = try args.identifier("sku"), wh = try args.optionalIdentifier("wh")
            request = .read(.suggest(sku: sku, wh: wh, options: try args.suggestOptions(), at: try args.optionalLogPoint("at")))
        case "KANBAN":
            request = .read(.kanban(wh: try args.optionalIdentifier("wh"), sku: try args.optionalIdentifier("sku")))
        case "TRANSFERS":
            request = .read(.transfers(sku: try args.optionalIdentifier("sku"), wh: try args.optionalIdentifier("wh"),
                                       transfer: try args.optionalIdentifier("xfer")))
        case "HISTORY":
            let sku = try args.identifier("sku"), wh = try args.optionalIdentifier("wh")
            request = .read(.history(sku: sku, wh: wh, from: try args.optionalSeq("from") ?? 1, limit: try args.limit()))
        case "EVENTS":
            request = .read(.events(from: try args.optionalSeq("from") ?? 1, limit: try args.limit()))
        case "INFO": request = .read(.info)
        case "METRICS": request = .read(.metrics)
        case "PING": request = .ping
        case "QUIT": request = .quit
        case "BEGIN": request = .begin
        case "COMMIT": request = .commit
        case "ABORT": request = .abort
        case "UNWATCH": request = .unwatch
        case "HELLO":
            if let proto = try args.optionalString("proto"), proto != "1" {
                throw ProtocolError(.argument, "proto: only 1 is spoken here")
            }
            let format = try args.optionalString("format").map { text throws(ProtocolError) -> ReplyFormat in
                guard let format = ReplyFormat(rawValue: text) else {
                    throw ProtocolError(.argument, "format: expected line or json")
                }
                return format
            }
            request = .hello(format: format)
        case "WATCH":
            guard let topic = args.takeFlag() else { throw ProtocolError(.argument, "missing topic: breaches, events, promises, restock or channels") }
            switch topic.lowercased() {
            case "breaches":
                request = .watch(.breaches(wh: try args.optionalIdentifier("wh"), sku: try args.optionalIdentifier("sku")))
            case "events":
                request = .watch(.events(from: try args.optionalSeq("from"), stock: try args.optionalYesNo("stock") ?? false))
            case "promises":
                request = .watch(.promises(sku: try args.optionalIdentifier("sku"), wh: try args.optionalIdentifier("wh")))
            case "channels":
                request = .watch(.channels(channel: try args.optionalIdentifier("channel"), sku: try args.optionalIdentifier("sku"),
                                           wh: try args.optionalIdentifier("wh")))
            case "restock":
                request = .watch(.restock(sku: try args.optionalIdentifier("sku"), wh: try args.optionalIdentifier("wh"),
                                          min: try args.optionalQuantity("min") ?? 1))
            case "kanban":
                request = .watch(.kanban(sku: try args.optionalIdentifier("sku"), wh: try args.optionalIdentifier("wh")))
            case "demand":
                request = .watch(.demand(sku: try args.optionalIdentifier("sku"), wh: try args.optionalIdentifier("wh"),
                                         channel: try args.optionalIdentifier("channel"),
                                         ratio: try args.optionalDecimal("ratio", decimals: 2, in: 1...100, "1 to 100") ?? 5))
            default:
                throw ProtocolError(.argument, "unknown topic: \(topic)")
            }
        default:
            throw ProtocolError(.unknown, "no such verb: \(tokens.verb)")
        }
        try args.finish()
        return request
    }

    private static func write(_ args: inout Arguments, _ command: Command) throws(ProtocolError) -> Request {
        .write(WriteRequest(command: command, ref: try args.optionalIdentifier("ref"),
                            note: try args.optionalFreeText("note"), idempotencyKey: try args.optionalIdentifier("id")))
    }
}

/// The arguments of one line, taken one by one; `finish()` refuses whatever is left over.
///
/// Every step is linear in the line's length: a line of 8 KiB may carry over a thousand keys, and
/// a peer must not be able to make one line cost more than reading it.
struct Arguments {
    /// A request has a handful of arguments: a linear search of a small array beats hashing. A verb
    /// takes at most a dozen keys, each once, so the searches stay linear in the line.
    private var values: [(key: String, value: String)]
    private var flags: [String]
    /// The keys a line may carry, for naming a typo (`protocolKeys` on a request line); nil for fields
    /// that are not a request's (an imported record's columns), where a missing key is just missing.
    private let knownKeys: Set<String>?

    init(_ tokens: TokenizedLine, knownKeys: Set<String>? = Arguments.protocolKeys) throws(ProtocolError) {
        self.knownKeys = knownKeys
        flags = tokens.flags
        values = tokens.arguments
        for argument in values {
            let key = argument.key
            guard !key.isEmpty, key.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5f })
            else { throw ProtocolError(.argument, "bad key: \(key.isEmpty ? "(empty)" : key) (keys are lowercase letters, digits, _)") }
        }
        if let key = Arguments.firstRepeated(values.lazy.map(\.key)) {
            throw ProtocolError(.argument, "repeated key: \(key)")
        }
    }

    /// The first key seen a second time, in line order. Comparing each key with every earlier one
    /// is quadratic (3.3 ms for the 1,160 keys that fit in 8 KiB); beyond a few keys a set keeps
    /// it linear. Generic so that a test can count the comparisons.
    static func firstRepeated<Key: Hashable>(_ keys: some Collection<Key>) -> Key? {
        if keys.count <= Arguments.pairwiseKeysMax {
            for (index, key) in keys.enumerated() where keys.prefix(index).contains(key) { return key }
            return nil
        }
        var seen = Set<Key>(minimumCapacity: keys.count)
        for key in keys where !seen.insert(key).inserted { return key }
        return nil
    }

    /// Up to this many keys (at most 28 comparisons), comparing pairs costs less than hashing.
    static let pairwiseKeysMax = 8

    mutating func takeFlag() -> String? { flags.isEmpty ? nil : flags.removeFirst() }

    func finish() throws(ProtocolError) {
        if let key = values.lazy.map(\.key).min() { throw ProtocolError(.argument, "unknown key: \(key)") }
        if let flag = flags.first { throw ProtocolError(.argument, "unexpected word: \(flag)") }
    }

    /// Every key some verb takes. A missing required key is reported as the unknown key the line
    /// carries instead, when it has one no verb knows: `SELL sku=A wh=W quantity=1` is a typo for
    /// `qty`, and `unknown key: quantity` says so where `missing key: qty` would not.
    static let protocolKeys: Set<String> = [
        "at", "delta", "eta", "format", "from", "history", "id", "limit", "lost", "max", "note", "po", "proto", "qty",
        "reason", "ref", "reorder", "res", "safety", "sku", "to", "ttl", "wh", "xfer",
        // Promises (FEATURES.md §1a).
        "awaiting", "backorder", "bind", "fill", "late", "orphans", "pad", "preorder", "preorder_eta", "preorder_until",
        "priority",
        // Waitlists (FEATURES.md §1f).
        "channel", "min",
        // Channels and allocation (FEATURES.md §1b, §1c).
        "alloc", "buffer", "exclude", "inherit", "low", "partial", "region", "share", "split", "strategy", "until",
        // Planning (FEATURES.md §1e).
        "bin", "cards", "days", "factor", "lead", "net", "ratio", "review", "service", "transfers", "tz",
        // The network relay (WATCH events stock=yes).
        "stock",
    ]

    private mutating func take(_ key: String) -> String? {
        assert(knownKeys?.contains(key) ?? true, "the parser takes \(key), which protocolKeys does not list")
        guard let index = values.firstIndex(where: { $0.key == key }) else { return nil }
        return values.remove(at: index).value
    }

    mutating func optionalString(_ key: String) throws(ProtocolError) -> String? {
        guard let value = take(key) else { return nil }
        guard !value.isEmpty else { throw ProtocolError(.argument, "\(key): empty value") }
        return value
    }

    mutating func required<T>(_ key: String, _ parse: (inout Arguments, String) throws(ProtocolError) -> T?) throws(ProtocolError) -> T {
        guard let value = try parse(&self, key) else {
            if let knownKeys, let unknown = values.lazy.map(\.key).filter({ !knownKeys.contains($0) }).min() {
                throw ProtocolError(.argument, "unknown key: \(unknown)")
            }
            throw ProtocolError(.argument, "missing key: \(key)")
        }
        return value
    }

    static func isIdentifierByte(_ byte: UInt8) -> Bool { Identifier.isValidByte(byte) }

    mutating func optionalIdentifier(_ key: String) throws(ProtocolError) -> String? {
        guard let value = try optionalString(key) else { return nil }
        guard value.utf8.count <= Limits.identifierBytesMax else {
            throw ProtocolError(.argument, "\(key): longer than \(Limits.identifierBytesMax) bytes")
        }
        guard value.utf8.allSatisfy(Arguments.isIdentifierByte) else {
            throw ProtocolError(.argument, "\(key): only A-Z a-z 0-9 . _ - : / # @ + are allowed")
        }
        return value
    }

    mutating func identifier(_ key: String) throws(ProtocolError) -> String {
        try required(key) { args, key throws(ProtocolError) in try args.optionalIdentifier(key) }
    }

    mutating func optionalQuantity(_ key: String, minimum: Int64 = 1) throws(ProtocolError) -> Int64? {
        guard let value = try optionalString(key) else { return nil }
        guard value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), value.utf8.count <= 13, let number = Int64(value) else {
            throw ProtocolError(.argument, "\(key): expected a whole number from \(minimum) to \(Limits.quantityMax)")
        }
        guard number >= minimum, number <= Limits.quantityMax else {
            throw ProtocolError(.argument, "\(key): \(number) is out of range \(minimum)...\(Limits.quantityMax)")
        }
        return number
    }

    mutating func quantity(_ key: String, minimum: Int64 = 1) throws(ProtocolError) -> Int64 {
        try required(key) { args, key throws(ProtocolError) in try args.optionalQuantity(key, minimum: minimum) }
    }

    mutating func delta(_ key: String) throws(ProtocolError) -> Int64 {
        try required(key) { args, key throws(ProtocolError) -> Int64? in
            guard let value = try args.optionalString(key) else { return nil }
            let digits = value.hasPrefix("-") || value.hasPrefix("+") ? value.dropFirst() : Substring(value)
            guard !digits.isEmpty, digits.utf8.count <= 13, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let magnitude = Int64(digits) else {
                throw ProtocolError(.argument, "\(key): expected a signed whole number")
            }
            guard magnitude != 0, magnitude <= Limits.quantityMax else {
                throw ProtocolError(.argument, "\(key): must be non-zero with |\(key)| <= \(Limits.quantityMax)")
            }
            return value.hasPrefix("-") ? -magnitude : magnitude
        }
    }

    mutating func optionalFreeText(_ key: String) throws(ProtocolError) -> String? {
        guard let value = try optionalString(key) else { return nil }
        guard value.utf8.count <= Limits.freeTextBytesMax else {
            throw ProtocolError(.argument, "\(key): longer than \(Limits.freeTextBytesMax) bytes")
        }
        return value
    }

    mutating func freeText(_ key: String) throws(ProtocolError) -> String {
        try required(key) { args, key throws(ProtocolError) in try args.optionalFreeText(key) }
    }

    /// `90s`, `15m`, `2h`, `7d` or plain seconds; at least 1 second, at most the reservation limit.
    /// A duration in seconds (`90s 15m 2h 7d`, a bare number is seconds), from `minimum` (1 s; the
    /// promise pad may be 0) to 90 days.
    mutating func optionalDuration(_ key: String, minimum: Int64 = 1) throws(ProtocolError) -> Int64? {
        guard var value = try optionalString(key) else { return nil }
        var unit: Int64 = 1
        switch value.last {
        case "s": unit = 1; value.removeLast()
        case "m": unit = 60; value.removeLast()
        case "h": unit = 3600; value.removeLast()
        case "d": unit = 86_400; value.removeLast()
        default: break
        }
        guard !value.isEmpty, value.utf8.count <= 10, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let count = Int64(value) else {
            throw ProtocolError(.argument, "\(key): expected a duration such as 90s, 15m, 2h, 7d")
        }
        let seconds = count * unit
        guard seconds >= minimum, seconds <= Limits.reservationTTLMaxSeconds else {
            throw ProtocolError(.argument, "\(key): must be from \(minimum)s to \(Limits.reservationTTLMaxSeconds / 86_400)d")
        }
        return seconds
    }

    mutating func optionalTime(_ key: String) throws(ProtocolError) -> Timestamp? {
        guard let value = try optionalString(key) else { return nil }
        return try Arguments.time(value, key)
    }

    static func time(_ value: String, _ key: String) throws(ProtocolError) -> Timestamp {
        guard let time = Timestamp(rfc3339: Substring(value)) else {
            throw ProtocolError(.argument, "\(key): expected an RFC 3339 time such as 2026-11-22T08:00:00Z")
        }
        return time
    }

    mutating func time(_ key: String) throws(ProtocolError) -> Timestamp {
        try required(key) { args, key throws(ProtocolError) in try args.optionalTime(key) }
    }

    mutating func optionalSeq(_ key: String) throws(ProtocolError) -> UInt64? {
        guard let value = try optionalString(key) else { return nil }
        let digits = value.hasPrefix("seq:") ? value.dropFirst(4) : Substring(value)
        guard digits.utf8.count <= 19, let seq = UInt64(digits), seq >= 1 else {
            throw ProtocolError(.argument, "\(key): expected a log position (a whole number from 1)")
        }
        return seq
    }

    mutating func optionalLogPoint(_ key: String) throws(ProtocolError) -> LogPoint? {
        guard let value = try optionalString(key) else { return nil }
        if value.hasPrefix("seq:") {
            guard let seq = UInt64(value.dropFirst(4)) else {
                throw ProtocolError(.argument, "\(key): expected seq:N with N a whole number")
            }
            return .seq(seq)
        }
        guard let time = Timestamp(rfc3339: Substring(value)) else {
            throw ProtocolError(.argument, "\(key): expected an RFC 3339 time or seq:N")
        }
        return .time(time)
    }

    mutating func optionalYesNo(_ key: String) throws(ProtocolError) -> Bool? {
        guard let value = try optionalString(key) else { return nil }
        switch value {
        case "yes", "true", "1": return true
        case "no", "false", "0": return false
        default: throw ProtocolError(.argument, "\(key): expected yes or no")
        }
    }

    mutating func limit() throws(ProtocolError) -> Int {
        guard let value = try optionalString("limit") else { return Limits.eventsLimitDefault }
        guard let limit = Int(value), limit >= 1, limit <= Limits.eventsLimitMax else {
            throw ProtocolError(.argument, "limit: expected 1 to \(Limits.eventsLimitMax)")
        }
        return limit
    }
}

/// The protocol's identifiers (sku, wh, res, xfer, po, ref, id): 1 to 64 bytes of
/// `A-Z a-z 0-9 . _ - : / # @ +`.
public enum Identifier {
    public static func isValidByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x41...0x5a, 0x61...0x7a, 0x30...0x39: true
        case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "/"),
             UInt8(ascii: "#"), UInt8(ascii: "@"), UInt8(ascii: "+"): true
        default: false
        }
    }
}

extension Arguments {
    /// `backorder=no|po|cap`, `po=` (only with `backorder=po`) and `priority=1..9` of a RESERVE.
    mutating func reserveTerms() throws(ProtocolError) -> ReserveTerms {
        let backorder: Backorder
        switch try optionalString("backorder") {
        case nil, "no": backorder = .no
        case "po": backorder = .order
        case "cap": backorder = .cap
        default: throw ProtocolError(.argument, "backorder: expected no, po or cap")
        }
        let po = try optionalIdentifier("po")
        if po != nil && backorder != .order { throw ProtocolError(.argument, "po: needs backorder=po") }
        var priority: UInt8?
        if let text = try optionalString("priority") {
            guard let value = UInt8(text), (1...9).contains(value) else { throw ProtocolError(.argument, "priority: 1 to 9") }
            priority = value
        }
        return ReserveTerms(backorder: backorder, purchaseOrder: po, priority: priority, channel: try optionalIdentifier("channel"))
    }

    /// `share buffer max low` of a channel (share a whole percent 0–100).
    mutating func channelRules() throws(ProtocolError) -> ChannelRules {
        let share = try optionalQuantity("share", minimum: 0)
        if let share, share > 100 { throw ProtocolError(.argument, "share: a whole percent from 0 to 100") }
        return ChannelRules(share: share, buffer: try optionalQuantity("buffer", minimum: 0),
                            max: try optionalQuantity("max", minimum: 0), low: try optionalQuantity("low", minimum: 0))
    }

    /// POLICY's `channel=` with its levels or `inherit=yes` (not both).
    mutating func channelPolicy() throws(ProtocolError) -> ChannelPolicy? {
        guard let channel = try optionalIdentifier("channel") else { return nil }
        let rules = try channelRules()
        let inherit = try optionalYesNo("inherit") ?? false
        if inherit && !rules.isEmpty { throw ProtocolError(.argument, "inherit: not with share, buffer, max or low") }
        guard inherit || !rules.isEmpty else { throw ProtocolError(.argument, "missing key: one of share, buffer, max, low, inherit") }
        return ChannelPolicy(channel: channel, rules: rules, inherit: inherit)
    }

    /// A list: 1–64 identifiers joined by `,` (`-` alone: the empty list), none twice.
    mutating func list(_ key: String) throws(ProtocolError) -> [String]? {
        guard let text = try optionalString(key) else { return nil }
        if text == "-" { return [] }
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard items.count <= 64 else { throw ProtocolError(.argument, "\(key): at most 64 items") }
        var seen: Set<String> = []
        for item in items {
            guard !item.isEmpty, item.utf8.count <= Limits.identifierBytesMax, item.utf8.allSatisfy(Identifier.isValidByte) else {
                throw ProtocolError(.argument, "\(key): only A-Z a-z 0-9 . _ - : / # @ + are allowed, items joined by ,")
            }
            guard seen.insert(item).inserted else { throw ProtocolError(.argument, "\(key): \(item) twice") }
        }
        return items
    }

    /// ALLOCATE's arguments (FEATURES.md §1c).
    mutating func allocateRequest() throws(ProtocolError) -> AllocateRequest {
        let sku = try identifier("sku"), quantity = try quantity("qty")
        let region = try optionalIdentifier("region"), warehouses = try list("wh")
        guard (region == nil) != (warehouses == nil) else { throw ProtocolError(.argument, "region or wh: exactly one is required") }
        if warehouses?.isEmpty == true { throw ProtocolError(.argument, "wh: at least one warehouse") }
        var request = AllocateRequest(sku: sku, quantity: quantity, region: region, warehouses: warehouses)
        if let strategy = try optionalString("strategy") {
            guard let known = AllocationStrategy(rawValue: strategy) else {
                throw ProtocolError(.argument, "strategy: expected fewest, rank, stock or surplus")
            }
            request.strategy = known
        }
        switch try optionalString("split") {
        case nil, "yes": break
        case "no": request.split = 1
        case let text?:
            guard let lines = Int(text), (1...Limits.allocationLinesMax).contains(lines) else {
                throw ProtocolError(.argument, "split: no, yes or 1 to \(Limits.allocationLinesMax)")
            }
            request.split = lines
        }
        request.partial = try optionalYesNo("partial") ?? false
        request.exclude = try list("exclude") ?? []
        request.alloc = try optionalIdentifier("alloc")
        request.ttlSeconds = try optionalDuration("ttl")
        let terms = try reserveTerms()
        guard terms.backorder != .cap, terms.purchaseOrder == nil else { throw ProtocolError(.argument, "backorder: only po with ALLOCATE") }
        request.terms = terms
        return request
    }

    /// The promise levels of a POLICY, nil when none is given. Times and ship dates take `-` to clear.
    mutating func promisePolicy() throws(ProtocolError) -> PromisePolicy? {
        var policy = PromisePolicy()
        policy.preorder = try optionalQuantity("preorder", minimum: 0)
        policy.preorderUntil = try optionalClearableTime("preorder_until")
        policy.preorderETA = try optionalClearableTime("preorder_eta")
        policy.padSeconds = try optionalDuration("pad", minimum: 0)
        switch try optionalString("fill") {
        case nil: break
        case "fifo": policy.fillByOrder = false
        case "po": policy.fillByOrder = true
        default: throw ProtocolError(.argument, "fill: expected fifo or po")
        }
        policy.bin = try optionalQuantity("bin", minimum: 0)
        policy.cards = try optionalQuantity("cards", minimum: 0)
        policy.leadSeconds = try optionalLeadDays().map { Int64(($0 * 100).rounded()) * 864 }
        return policy.isEmpty ? nil : policy
    }

    /// `lead=`: days, a decimal with at most 2 decimals (a hundredth of a day is 864 s, so the seconds
    /// kept are exact and show back as typed).
    mutating func optionalLeadDays() throws(ProtocolError) -> Double? {
        try optionalDecimal("lead", decimals: 2, in: 0...Double(Planning.daysMax), "0 to \(Planning.daysMax) days, at most 2 decimals")
    }

    /// The options of a SUGGEST (FEATURES.md §1e), with their defaults.
    mutating func suggestOptions() throws(ProtocolError) -> SuggestOptions {
        var options = SuggestOptions()
        options.days = try optionalDays("days") ?? options.days
        options.service = try optionalDecimal("service", decimals: 4, in: 0.5...0.9999, "0.50 to 0.9999") ?? options.service
        options.leadDays = try optionalLeadDays()
        options.review = try optionalDays("review") ?? options.review
        options.factor = try optionalDecimal("factor", decimals: 4, in: 0.1...20, "0.1 to 20") ?? options.factor
        options.channel = try optionalIdentifier("channel")
        options.transfers = try optionalYesNo("transfers") ?? false
        options.net = try optionalYesNo("net") ?? false
        if let tz = try optionalString("tz") {
            let bytes = Array(tz.utf8)
            func digits(_ range: Range<Int>) -> Int64? {
                bytes[range].allSatisfy { $0 >= 0x30 && $0 <= 0x39 } ? Int64(String(decoding: bytes[range], as: UTF8.self)) : nil
            }
            guard bytes.count == 6, bytes[0] == UInt8(ascii: "+") || bytes[0] == UInt8(ascii: "-"), bytes[3] == UInt8(ascii: ":"),
                  let hours = digits(1..<3), let minutes = digits(4..<6), minutes < 60, hours * 60 + minutes <= 14 * 60 else {
                throw ProtocolError(.argument, "tz: expected ±hh:mm from -14:00 to +14:00")
            }
            options.utcOffsetSeconds = (bytes[0] == UInt8(ascii: "-") ? -1 : 1) * (hours * 3_600 + minutes * 60)
        }
        return options
    }

    /// Whole days from 1 to 730 (`days`, `review`).
    private mutating func optionalDays(_ key: String) throws(ProtocolError) -> Int? {
        guard let text = try optionalString(key) else { return nil }
        guard text.utf8.count <= 3, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let days = Int(text),
              (1...Planning.daysMax).contains(days) else {
            throw ProtocolError(.argument, "\(key): 1 to \(Planning.daysMax)")
        }
        return days
    }

    /// A decimal such as `0.95` or `12`: digits, then at most `decimals` digits after a point, in `range`.
    mutating func optionalDecimal(_ key: String, decimals: Int, in range: ClosedRange<Double>,
                                  _ expected: String) throws(ProtocolError) -> Double? {
        guard let text = try optionalString(key) else { return nil }
        let parts = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count <= 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }),
              parts[0].count <= 6, parts.count == 1 || parts[1].count <= decimals,
              let value = Double(text), range.contains(value) else {
            throw ProtocolError(.argument, "\(key): \(expected)")
        }
        return value
    }

    private mutating func optionalClearableTime(_ key: String) throws(ProtocolError) -> Timestamp?? {
        guard let text = try optionalString(key) else { return nil }
        return .some(text == "-" ? nil : try Arguments.time(text, key))
    }
}
