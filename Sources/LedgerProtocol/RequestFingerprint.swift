import LedgerCore

/// The idempotency fingerprint of a write: what a retry with the same `id=` must repeat.
///
/// It is stored with every key, for ever (in the event the key wrote, and in the idempotency table
/// at checkpoints), so its bytes are a format: they must not change when the code is renamed or
/// refactored. The current form, `v1`, is the request as a canonical line of the protocol itself:
/// `v1 VERB key=value ...` with the verb's keys in a fixed order, only those given, values in
/// canonical form (quantities and durations as plain numbers, `ttl` in seconds, times in RFC 3339
/// UTC, free text always quoted), then `ref=` and `note=`; never `id=`. The line after `v1 ` parses
/// back into the same write. A later form gets a new prefix; stored records keep theirs.
public enum RequestFingerprint {
    /// The fingerprint written for new keys.
    public static func current(_ request: WriteRequest) -> String {
        var line = CanonicalLine(verb: "v1 " + verb(request.command))
        switch request.command {
        case let .receive(sku, wh, quantity, purchaseOrder):
            line.add("sku", sku); line.add("wh", wh); line.add("qty", quantity); line.add("po", purchaseOrder)
        case let .sell(sku, wh, quantity, channel):
            line.add("sku", sku); line.add("wh", wh); line.add("qty", quantity); line.add("channel", channel)
        case let .sellReserved(reservation, quantity):
            line.add("res", reservation); line.add("qty", quantity)
        case let .reserve(sku, wh, quantity, reservation, ttlSeconds, terms):
            line.add("sku", sku); line.add("wh", wh); line.add("qty", quantity); line.add("res", reservation)
            line.add("ttl", ttlSeconds)
            if terms.backorder != .no { line.add("backorder", terms.backorder.name) }
            line.add("po", terms.purchaseOrder); line.add("priority", terms.priority.map(Int64.init)); line.add("channel", terms.channel)
        case let .release(reservation, quantity):
            line.add("res", reservation); line.add("qty", quantity)
        case let .transfer(sku, from, to, quantity, transfer, eta, channel):
            line.add("sku", sku); line.add("from", from); line.add("to", to); line.add("qty", quantity)
            line.add("xfer", transfer); line.add("eta", eta); line.add("channel", channel)
        case let .arrive(transfer, quantity, lost):
            line.add("xfer", transfer); line.add("qty", quantity); line.add("lost", lost)
        case let .adjust(sku, wh, delta, reason):
            line.add("sku", sku); line.add("wh", wh); line.add("delta", delta); line.addText("reason", reason)
        case let .count(sku, wh, quantity, reason):
            line.add("sku", sku); line.add("wh", wh); line.add("qty", quantity); line.addText("reason", reason)
        case let .returnGoods(sku, wh, quantity):
            line.add("sku", sku); line.add("wh", wh); line.add("qty", quantity)
        case let .expect(sku, wh, quantity, eta, purchaseOrder, bind):
            line.add("sku", sku); line.add("wh", wh); line.add("qty", quantity); line.add("eta", eta)
            line.add("po", purchaseOrder)
            if !bind { line.add("bind", "no") }
        case let .cancel(purchaseOrder, releaseOrphans):
            line.add("po", purchaseOrder)
            if releaseOrphans { line.add("orphans", "release") }
        case let .policy(sku, wh, safety, reorder, max, promises, channel):
            line.add("sku", sku); line.add("wh", wh); line.add("safety", safety); line.add("reorder", reorder)
            line.add("max", max)
            if let channel {
                line.add("channel", channel.channel)
                addRules(&line, channel.rules)
                if channel.inherit { line.add("inherit", "yes") }
            }
            if let promises {
                line.add("preorder", promises.preorder)
                line.add("preorder_until", promises.preorderUntil.map { $0?.rfc3339 ?? "-" })
                line.add("preorder_eta", promises.preorderETA.map { $0?.rfc3339 ?? "-" })
                line.add("pad", promises.padSeconds)
                line.add("fill", promises.fillByOrder.map { $0 ? "po" : "fifo" })
                line.add("bin", promises.bin)
                line.add("cards", promises.cards)
                line.add("lead", promises.leadSeconds.map { Rows.decimal(Double($0) / 86_400) })
            }
        case let .reschedule(purchaseOrder, eta, reason):
            line.add("po", purchaseOrder); line.add("eta", eta); line.addText("reason", reason)
        case let .extend(reservation, ttlSeconds):
            line.add("res", reservation); line.add("ttl", ttlSeconds)
        case let .allot(sku, wh, channel, quantity, until):
            line.add("sku", sku); line.add("wh", wh); line.add("channel", channel); line.add("qty", quantity); line.add("until", until)
        case let .channel(channel, rules):
            line.add("channel", channel)
            addRules(&line, rules)
        case let .route(region, warehouses):
            line.add("region", region); line.add("wh", warehouses.isEmpty ? "-" : warehouses.joined(separator: ","))
        case let .allocate(request):
            line.add("sku", request.sku); line.add("qty", request.quantity); line.add("region", request.region)
            line.add("wh", request.warehouses?.joined(separator: ",")); line.add("strategy", request.strategy.rawValue)
            line.add("split", Int64(request.split)); line.add("partial", request.partial ? "yes" : "no")
            line.add("exclude", request.exclude.isEmpty ? nil : request.exclude.joined(separator: ","))
            line.add("alloc", request.alloc); line.add("ttl", request.ttlSeconds)
            if request.terms.backorder != .no { line.add("backorder", request.terms.backorder.name) }
            line.add("priority", request.terms.priority.map(Int64.init)); line.add("channel", request.terms.channel)
        case let .releaseAllocation(alloc):
            line.add("alloc", alloc)
        case let .unallot(sku, wh, channel):
            line.add("sku", sku); line.add("wh", wh); line.add("channel", channel)
        case let .wait(sku, wh, subscriber, quantity, channel):
            line.add("sku", sku); line.add("wh", wh); line.add("ref", subscriber); line.add("qty", quantity)
            line.add("channel", channel)
        case let .unwait(sku, wh, subscriber, reason):
            line.add("sku", sku); line.add("wh", wh); line.add("ref", subscriber); line.add("reason", reason)
        case let .expire(reservation):
            line.add("res", reservation)
        }
        line.add("ref", request.ref)
        line.addText("note", request.note)
        return line.text
    }

    /// Is `stored`, a fingerprint that is not the current one of this request, the one stockd wrote
    /// for it before the versioned form? Those records are kept for ever, like every other.
    public static func isLegacy(_ stored: String, of request: WriteRequest) -> Bool {
        stored == LegacyFingerprint.format(request)
    }

    /// The verb a command is sent with (the daemon's own `expire` has none on the wire).
    static func verb(_ command: Command) -> String {
        switch command {
        case .receive: "RECEIVE"
        case .sell, .sellReserved: "SELL"
        case .reserve: "RESERVE"
        case .release: "RELEASE"
        case .transfer: "TRANSFER"
        case .arrive: "ARRIVE"
        case .adjust: "ADJUST"
        case .count: "COUNT"
        case .returnGoods: "RETURN"
        case .expect: "EXPECT"
        case .cancel: "CANCEL"
        case .policy: "POLICY"
        case .reschedule: "RESCHEDULE"
        case .extend: "EXTEND"
        case .wait: "WAIT"
        case .allot: "ALLOT"
        case .channel: "CHANNEL"
        case .route: "ROUTE"
        case .allocate: "ALLOCATE"
        case .releaseAllocation: "RELEASE"
        case .unallot: "UNALLOT"
        case .unwait: "UNWAIT"
        case .expire: "EXPIRE"
        }
    }

    static func addRules(_ line: inout CanonicalLine, _ rules: ChannelRules) {
        line.add("share", rules.share); line.add("buffer", rules.buffer); line.add("max", rules.max); line.add("low", rules.low)
    }

    /// A line of `key=value` tokens: identifiers and numbers bare (they never hold a space, a quote
    /// or a backslash), free text quoted with `\"` and `\\` escaped, as the tokenizer reads them.
    struct CanonicalLine {
        var text: String

        init(verb: String) { text = verb }

        mutating func add(_ key: String, _ value: String?) {
            guard let value else { return }
            text += " \(key)=\(value)"
        }

        mutating func add(_ key: String, _ value: Int64?) { add(key, value.map { String($0) }) }
        mutating func add(_ key: String, _ value: Timestamp?) { add(key, value?.rfc3339) }

        mutating func addText(_ key: String, _ value: String?) {
            guard let value else { return }
            text += " \(key)=\""
            for character in value.unicodeScalars {
                if character == "\"" || character == "\\" { text += "\\" }
                text.unicodeScalars.append(character)
            }
            text += "\""
        }
    }
}

/// The fingerprint stockd wrote before the versioned form: Swift's debug printing of the `Command`
/// value, then `|ref=` and `|note=` (`sell(sku: "A", wh: "PAR", quantity: 3)|ref=|note=`). Kept
/// only to recognise the records written then, so it is frozen: it spells out each case, label and
/// escape as they printed, and must never follow a change to `Command`.
enum LegacyFingerprint {
    static func format(_ request: WriteRequest) -> String {
        "\(command(request.command))|ref=\(request.ref ?? "")|note=\(request.note ?? "")"
    }

    static func command(_ command: Command) -> String {
        switch command {
        case let .receive(sku, wh, quantity, purchaseOrder):
            "receive(sku: \(q(sku)), wh: \(q(wh)), quantity: \(quantity), purchaseOrder: \(q(purchaseOrder)))"
        case let .sell(sku, wh, quantity, channel):
            channel != nil ? "" : "sell(sku: \(q(sku)), wh: \(q(wh)), quantity: \(quantity))"
        case let .sellReserved(reservation, quantity):
            "sellReserved(reservation: \(q(reservation)), quantity: \(o(quantity)))"
        case let .reserve(sku, wh, quantity, reservation, ttlSeconds, terms):
            terms != ReserveTerms() ? "" : "reserve(sku: \(q(sku)), wh: \(q(wh)), quantity: \(quantity), reservation: \(q(reservation)), ttlSeconds: \(o(ttlSeconds)))"
        case let .release(reservation, quantity):
            "release(reservation: \(q(reservation)), quantity: \(o(quantity)))"
        case let .transfer(sku, from, to, quantity, transfer, eta, channel):
            channel != nil ? "" : "transfer(sku: \(q(sku)), from: \(q(from)), to: \(q(to)), quantity: \(quantity), transfer: \(q(transfer)), eta: \(o(eta?.rfc3339)))"
        case let .arrive(transfer, quantity, lost):
            "arrive(transfer: \(q(transfer)), quantity: \(o(quantity)), lost: \(o(lost)))"
        case let .adjust(sku, wh, delta, reason):
            "adjust(sku: \(q(sku)), wh: \(q(wh)), delta: \(delta), reason: \(q(reason)))"
        case let .count(sku, wh, quantity, reason):
            "count(sku: \(q(sku)), wh: \(q(wh)), quantity: \(quantity), reason: \(q(reason)))"
        case let .returnGoods(sku, wh, quantity):
            "returnGoods(sku: \(q(sku)), wh: \(q(wh)), quantity: \(quantity))"
        case let .expect(sku, wh, quantity, eta, purchaseOrder, bind):
            !bind ? "" : "expect(sku: \(q(sku)), wh: \(q(wh)), quantity: \(quantity), eta: \(eta.rfc3339), purchaseOrder: \(q(purchaseOrder)))"
        case let .cancel(purchaseOrder, releaseOrphans):
            releaseOrphans ? "" : "cancel(purchaseOrder: \(q(purchaseOrder)))"
        case let .policy(sku, wh, safety, reorder, max, promises, channel):
            promises != nil || channel != nil ? "" : "policy(sku: \(q(sku)), wh: \(q(wh)), safety: \(o(safety)), reorder: \(o(reorder)), max: \(o(max)))"
        case let .expire(reservation):
            "expire(reservation: \(q(reservation)))"
        // Added after the legacy form was frozen: no record was ever written in it ("" never matches one).
        case .reschedule, .extend, .wait, .unwait, .allot, .channel, .route, .allocate, .releaseAllocation, .unallot:
            ""
        }
    }

    /// An optional as it printed: `nil` or `Optional(value)`.
    static func o(_ value: Int64?) -> String { value.map { "Optional(\($0))" } ?? "nil" }
    static func o(_ value: String?) -> String { value.map { "Optional(\($0))" } ?? "nil" }
    static func q(_ value: String?) -> String { value.map { "Optional(\(q($0)))" } ?? "nil" }

    /// A string as its debug printing quoted it (`String.debugDescription` of Swift 6.3, which wrote them):
    /// `\\`, `\'` and `\"` escaped, printable ASCII as is, `\0 \n \r \t`, other ASCII controls as
    /// `\u{XX}`; other scalars as is, except one that would join the character before it when that
    /// ends the opening quote or an escape (a combining mark), or would take the closing quote into
    /// its character (a prepended mark): those are written `\u{XXXX}`.
    static func q(_ value: String) -> String {
        var result = "\""
        var afterEscape = true
        for scalar in value.unicodeScalars {
            if let escaped = escapedKeepingUnicode(scalar) {
                result += escaped
                afterEscape = true
            } else if afterEscape && !startsCharacter(scalar, after: result.unicodeScalars.last!) {
                result += escapedAsASCII(scalar)
                afterEscape = true
            } else {
                result.unicodeScalars.append(scalar)
                afterEscape = false
            }
        }
        var suffix = "\""
        while let last = result.unicodeScalars.last, !startsCharacter(suffix.unicodeScalars.first!, after: last) {
            result.unicodeScalars.removeLast()
            suffix = escapedAsASCII(last) + suffix
        }
        return result + suffix
    }

    /// `Unicode.Scalar.escaped(asASCII: false)` when it escapes, else nil.
    private static func escapedKeepingUnicode(_ scalar: Unicode.Scalar) -> String? {
        switch scalar {
        case "\\": "\\\\"
        case "'": "\\'"
        case "\"": "\\\""
        case " "..."~": nil
        case "\0": "\\0"
        case "\n": "\\n"
        case "\r": "\\r"
        case "\t": "\\t"
        default: scalar.isASCII ? hex(scalar, digits: 2) : nil
        }
    }

    /// `Unicode.Scalar.escaped(asASCII: true)`.
    private static func escapedAsASCII(_ scalar: Unicode.Scalar) -> String {
        if let escaped = escapedKeepingUnicode(scalar) { return escaped }
        if scalar.isASCII { return String(scalar) }
        return hex(scalar, digits: scalar.value <= 0xFFFF ? 4 : 8)
    }

    /// `\u{...}` with exactly `digits` uppercase hex digits.
    private static func hex(_ scalar: Unicode.Scalar, digits: Int) -> String {
        let text = String(scalar.value, radix: 16, uppercase: true)
        return "\\u{" + String(repeating: "0", count: max(0, digits - text.count)) + text + "}"
    }

    /// Is there a character boundary between `previous` and `scalar`?
    private static func startsCharacter(_ scalar: Unicode.Scalar, after previous: Unicode.Scalar) -> Bool {
        var pair = String.UnicodeScalarView()
        pair.append(previous)
        pair.append(scalar)
        return String(pair).count == 2
    }
}
