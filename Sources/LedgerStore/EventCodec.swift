import LedgerCore

/// The binary form of an event in the log.
///
/// Layout: format-version byte, kind byte, recorded time (zigzag varint, microseconds), actor
/// (varint), then tagged fields. A tag is `field << 1 | wireType` (0 = varint, 1 = length-prefixed
/// bytes), so a reader skips fields it does not know: later versions still read old events and old
/// readers skip what new writers add.
public enum EventCodec {
    /// The newest version this build writes and reads. Version 2 (FEATURES.md §0, P4) adds the
    /// promise kinds and decision fields; an event is written as version 2 only when it carries
    /// them, so a log that never used promises stays readable by a version-1 build, and one that
    /// did is refused by it instead of folded wrongly.
    public static let formatVersion: UInt8 = 2

    static func version(of event: Event) -> UInt8 {
        if (event.hasDecisions && !event.decisions.isEmpty) || event.body.kind.rawValue >= EventKind.rescheduled.rawValue { return 2 }
        if case .policySet(_, _, _, _, _, let promises, let channel) = event.body, !(promises?.isEmpty ?? true) || channel != nil { return 2 }
        return 1
    }

    enum Field: UInt64 {
        case sku = 1, wh, quantity, reservation, transfer, from, to, purchaseOrder, delta, reason
        case ref, note, idempotencyKey, eta, lost, expiresAt, safety, reorder, max
        /// Added with the in-memory ledger: older events lack it, older readers skip it.
        case requestFingerprint
        // Version 2: promises.
        case move, priority, backorder, pad, preorder, preorderUntil, preorderETA, fillByOrder, previous
        case subscriber, channel, expiry
        case share, buffer, channelMax, low, inherit, fence, fenceBack, fenceCut, region, warehouses, until, alloc, allocationLine
        // Planning levels of `policy_set` (FEATURES.md §1e); 46 and 47 are not used.
        case bin = 48, cards, lead
    }

    /// A cleared time (`preorder_until=-`) in a field that holds times.
    static let clearedTime = Int64.min

    static func encode(_ move: LineMove) -> [UInt8] {
        var writer = ByteWriter(capacity: 24)
        writer.string(move.reservation)
        func backing(_ backing: Backing?) {
            switch backing {
            case nil: writer.byte(0)
            case .order(let po)?: writer.byte(1); writer.string(po)
            case .cap?: writer.byte(2)
            case .none?: writer.byte(3)
            }
        }
        backing(move.from)
        switch move.to {
        case .held: writer.byte(0)
        case let .line(target, date):
            writer.byte(1)
            backing(target)
            if let date { writer.byte(1); writer.signed(date.microseconds) } else { writer.byte(0) }
        case .released: writer.byte(2)
        }
        writer.signed(move.quantity)
        return writer.bytes
    }

    static func decodeMove(_ buffer: UnsafeRawBufferPointer, seq: UInt64) throws -> LineMove {
        var reader = ByteReader(buffer)
        let reservation = try reader.string()
        func backing() throws -> Backing? {
            switch try reader.byte() {
            case 0: return nil
            case 1: return .order(try reader.string())
            case 2: return .cap
            case 3: return Backing.none
            default: throw CorruptRecord(reason: "event \(seq) has a line move with an unknown backing")
            }
        }
        let from = try backing()
        let to: LineMove.Target
        switch try reader.byte() {
        case 0: to = .held
        case 1:
            guard let target = try backing() else { throw CorruptRecord(reason: "event \(seq) moves units to no line") }
            let date = try reader.byte() == 1 ? Timestamp(microseconds: try reader.signed()) : nil
            to = .line(target, date: date)
        case 2: to = .released
        default: throw CorruptRecord(reason: "event \(seq) has a line move with an unknown target")
        }
        let quantity = try reader.amount()
        guard quantity > 0 else { throw CorruptRecord(reason: "event \(seq) moves no units") }
        return LineMove(reservation: reservation, from: from, to: to, quantity: quantity)
    }

    public static func encode(_ event: Event) -> [UInt8] {
        var writer = ByteWriter(capacity: 64)
        writer.byte(version(of: event))
        writer.byte(event.body.kind.rawValue)
        writer.signed(event.recordedAt.microseconds)
        writer.varint(UInt64(event.actor))
        func text(_ field: Field, _ value: String?) {
            guard let value else { return }
            writer.varint(field.rawValue << 1 | 1)
            writer.string(value)
        }
        func number(_ field: Field, _ value: Int64?) {
            guard let value else { return }
            writer.varint(field.rawValue << 1)
            writer.signed(value)
        }
        func nested(_ field: Field, _ bytes: [UInt8]) {
            writer.varint(field.rawValue << 1 | 1)
            writer.varint(UInt64(bytes.count))
            writer.bytes.append(contentsOf: bytes)
        }
        func rules(_ rules: ChannelRules) {
            number(.share, rules.share); number(.buffer, rules.buffer); number(.channelMax, rules.max); number(.low, rules.low)
        }
        switch event.body {
        case let .received(sku, wh, quantity, po):
            text(.sku, sku); text(.wh, wh); number(.quantity, quantity); text(.purchaseOrder, po)
        case let .sold(sku, wh, quantity, reservation):
            text(.sku, sku); text(.wh, wh); number(.quantity, quantity); text(.reservation, reservation)
        case let .reserved(reservation, sku, wh, quantity, expiresAt):
            text(.reservation, reservation); text(.sku, sku); text(.wh, wh); number(.quantity, quantity)
            number(.expiresAt, expiresAt.microseconds)
        case let .released(reservation, sku, wh, quantity), let .expired(reservation, sku, wh, quantity):
            text(.reservation, reservation); text(.sku, sku); text(.wh, wh); number(.quantity, quantity)
        case let .transferShipped(transfer, sku, from, to, quantity, eta):
            text(.transfer, transfer); text(.sku, sku); text(.from, from); text(.to, to)
            number(.quantity, quantity); number(.eta, eta?.microseconds)
        case let .transferArrived(transfer, sku, from, to, quantity, lost):
            text(.transfer, transfer); text(.sku, sku); text(.from, from); text(.to, to)
            number(.quantity, quantity); number(.lost, lost)
        case let .transferLost(transfer, sku, from, to, lost):
            text(.transfer, transfer); text(.sku, sku); text(.from, from); text(.to, to); number(.lost, lost)
        case let .adjusted(sku, wh, delta, reason):
            text(.sku, sku); text(.wh, wh); number(.delta, delta); text(.reason, reason)
        case let .counted(sku, wh, quantity, delta, reason):
            text(.sku, sku); text(.wh, wh); number(.quantity, quantity); number(.delta, delta); text(.reason, reason)
        case let .returned(sku, wh, quantity):
            text(.sku, sku); text(.wh, wh); number(.quantity, quantity)
        case let .expected(po, sku, wh, quantity, eta):
            text(.purchaseOrder, po); text(.sku, sku); text(.wh, wh); number(.quantity, quantity)
            number(.eta, eta.microseconds)
        case let .cancelled(po, sku, wh, quantity):
            text(.purchaseOrder, po); text(.sku, sku); text(.wh, wh); number(.quantity, quantity)
        case let .policySet(sku, wh, safety, reorder, max, promises, channel):
            text(.sku, sku); text(.wh, wh); number(.safety, safety); number(.reorder, reorder); number(.max, max)
            if let channel {
                text(.channel, channel.channel)
                rules(channel.rules)
                if channel.inherit { number(.inherit, 1) }
            }
            if let promises {
                number(.preorder, promises.preorder)
                number(.preorderUntil, promises.preorderUntil.map { $0?.microseconds ?? clearedTime })
                number(.preorderETA, promises.preorderETA.map { $0?.microseconds ?? clearedTime })
                number(.pad, promises.padSeconds)
                number(.fillByOrder, promises.fillByOrder.map { $0 ? 1 : 0 })
                number(.bin, promises.bin); number(.cards, promises.cards); number(.lead, promises.leadSeconds)
            }
        case let .rescheduled(po, sku, wh, eta, previous):
            text(.purchaseOrder, po); text(.sku, sku); text(.wh, wh); number(.eta, eta.microseconds)
            number(.previous, previous.microseconds)
        case let .extended(reservation, sku, wh, expiresAt):
            text(.reservation, reservation); text(.sku, sku); text(.wh, wh); number(.expiresAt, expiresAt.microseconds)
        case let .filled(sku, wh):
            text(.sku, sku); text(.wh, wh)
        case let .waitlisted(sku, wh, subscriber, quantity, channel):
            text(.sku, sku); text(.wh, wh); text(.subscriber, subscriber); number(.quantity, quantity); text(.channel, channel)
        case let .unwaitlisted(sku, wh, subscriber, reason):
            text(.sku, sku); text(.wh, wh); text(.subscriber, subscriber); text(.reason, reason)
        case let .allotted(sku, wh, channel, quantity, until):
            text(.sku, sku); text(.wh, wh); text(.channel, channel); number(.quantity, quantity); number(.until, until?.microseconds)
        case let .unallotted(sku, wh, channel, quantity):
            text(.sku, sku); text(.wh, wh); text(.channel, channel); number(.quantity, quantity)
        case let .channelSet(channel, channelRules):
            text(.channel, channel)
            rules(channelRules)
        case let .routeSet(region, warehouses):
            text(.region, region); text(.warehouses, warehouses.joined(separator: ","))
        case let .allocated(alloc, sku, lines, expiresAt, requested, strategy):
            text(.alloc, alloc); text(.sku, sku); number(.expiresAt, expiresAt.microseconds); number(.quantity, requested)
            text(.reason, strategy)
            for line in lines {
                var bytes = ByteWriter(capacity: 32)
                bytes.string(line.reservation); bytes.string(line.wh); bytes.signed(line.quantity); bytes.signed(line.fence)
                bytes.byte(line.belowSafety ? 1 : 0)
                nested(.allocationLine, bytes.bytes)
            }
        }
        if event.hasDecisions { encodeDecisions(event, text: text, number: number, nested: nested) }
        text(.ref, event.ref)
        text(.note, event.note)
        text(.idempotencyKey, event.idempotencyKey)
        text(.requestFingerprint, event.requestFingerprint)
        return writer.bytes
    }

    /// The decision fields of an event that carries any (most carry none and skip this).
    private static func encodeDecisions(_ event: Event, text: (Field, String?) -> Void, number: (Field, Int64?) -> Void,
                                        nested: (Field, [UInt8]) -> Void) {
        let decisions = event.decisions
        switch event.body {
        case .policySet, .allotted, .unallotted, .channelSet, .waitlisted: break
        default:
            text(.channel, decisions.channel)
        }
        number(.fence, decisions.fence)
        number(.fenceBack, decisions.fenceBack)
        for cut in decisions.fenceCuts {
            var bytes = ByteWriter(capacity: 16)
            bytes.string(cut.channel); bytes.signed(cut.quantity)
            nested(.fenceCut, bytes.bytes)
        }
        for move in decisions.moves { nested(.move, encode(move)) }
        for change in decisions.expiries {
            var expiry = ByteWriter(capacity: 16)
            expiry.string(change.reservation)
            expiry.signed(change.expiresAt.microseconds)
            nested(.expiry, expiry.bytes)
        }
        number(.priority, decisions.priority.map(Int64.init))
        number(.backorder, decisions.backorder.map { Int64($0.rawValue) })
        number(.pad, decisions.padSeconds)
    }

    /// Decodes one stored event; `seq` comes from its key.
    public static func decode(seq: UInt64, _ buffer: UnsafeRawBufferPointer) throws -> Event {
        var reader = ByteReader(buffer)
        let version = try reader.byte()
        guard version >= 1, version <= formatVersion else {
            throw CorruptRecord(reason: "event \(seq) has format version \(version); this build reads up to \(formatVersion)")
        }
        guard let kind = EventKind(rawValue: try reader.byte()) else {
            throw CorruptRecord(reason: "event \(seq) has an unknown kind")
        }
        let recordedAt = Timestamp(microseconds: try reader.signed())
        let actor = UInt32(truncatingIfNeeded: try reader.varint())
        // Every field this build knows lands in a local of its own: no array, no dictionary and no
        // generic code per event on the replay hot path. A field sent twice keeps its last value; a
        // field of the other wire type than its own (a text sent as a number) is not that field.
        var sku: String?, wh: String?, reservation: String?, transfer: String?, from: String?, to: String?
        var purchaseOrder: String?, reason: String?, ref: String?, note: String?, idempotencyKey: String?
        var requestFingerprint: String?, subscriber: String?, channel: String?
        var quantity: Int64?, delta: Int64?, eta: Int64?, lost: Int64?, expiresAt: Int64?
        var safety: Int64?, reorder: Int64?, max: Int64?
        var moves: [LineMove] = []
        var expiries: [ExpiryChange] = []
        var priority: Int64?, backorder: Int64?, pad: Int64?, preorder: Int64?, preorderUntil: Int64?, preorderETA: Int64?
        var fillByOrder: Int64?, previous: Int64?
        var share: Int64?, buffer: Int64?, channelMax: Int64?, low: Int64?, inherit: Int64?, fence: Int64?, fenceBack: Int64?
        var until: Int64?, region: String?, warehouses: String?, alloc: String?
        var fenceCuts: [FenceCut] = [], allocationLines: [AllocationLine] = []
        var bin: Int64?, cards: Int64?, lead: Int64?
        while !reader.isAtEnd {
            let tag = try reader.varint()
            if tag & 1 == 1 {
                let bytes = try reader.lengthPrefixed()
                func string() -> String { String(decoding: bytes, as: UTF8.self) }
                switch tag >> 1 {
                case Field.sku.rawValue: sku = string()
                case Field.wh.rawValue: wh = string()
                case Field.reservation.rawValue: reservation = string()
                case Field.transfer.rawValue: transfer = string()
                case Field.from.rawValue: from = string()
                case Field.to.rawValue: to = string()
                case Field.purchaseOrder.rawValue: purchaseOrder = string()
                case Field.reason.rawValue: reason = string()
                case Field.ref.rawValue: ref = string()
                case Field.note.rawValue: note = string()
                case Field.idempotencyKey.rawValue: idempotencyKey = string()
                case Field.requestFingerprint.rawValue: requestFingerprint = string()
                case Field.move.rawValue: moves.append(try decodeMove(bytes, seq: seq))
                case Field.subscriber.rawValue: subscriber = string()
                case Field.region.rawValue: region = string()
                case Field.warehouses.rawValue: warehouses = string()
                case Field.alloc.rawValue: alloc = string()
                case Field.fenceCut.rawValue:
                    var cut = ByteReader(bytes)
                    fenceCuts.append(FenceCut(channel: try cut.string(), quantity: try cut.amount()))
                case Field.allocationLine.rawValue:
                    var line = ByteReader(bytes)
                    allocationLines.append(AllocationLine(reservation: try line.string(), wh: try line.string(), quantity: try line.amount(),
                                                          fence: try line.amount(), belowSafety: try line.byte() == 1))
                case Field.expiry.rawValue:
                    var expiry = ByteReader(bytes)
                    expiries.append(ExpiryChange(reservation: try expiry.string(), expiresAt: Timestamp(microseconds: try expiry.signed())))
                case Field.channel.rawValue: channel = string()
                default: break  // unknown, or a number field sent as text: skipped
                }
            } else {
                let value = try reader.signed()
                switch tag >> 1 {
                case Field.quantity.rawValue: quantity = try ByteReader.amount(value)
                case Field.delta.rawValue: delta = try ByteReader.amount(value)
                case Field.eta.rawValue: eta = value
                case Field.lost.rawValue: lost = try ByteReader.amount(value)
                case Field.expiresAt.rawValue: expiresAt = value
                case Field.safety.rawValue: safety = try ByteReader.amount(value)
                case Field.reorder.rawValue: reorder = try ByteReader.amount(value)
                case Field.max.rawValue: max = try ByteReader.amount(value)
                case Field.priority.rawValue: priority = value
                case Field.backorder.rawValue: backorder = value
                case Field.pad.rawValue: pad = value
                case Field.preorder.rawValue: preorder = try ByteReader.amount(value)
                case Field.preorderUntil.rawValue: preorderUntil = value
                case Field.preorderETA.rawValue: preorderETA = value
                case Field.fillByOrder.rawValue: fillByOrder = value
                case Field.previous.rawValue: previous = value
                case Field.share.rawValue: share = value
                case Field.buffer.rawValue: buffer = value
                case Field.channelMax.rawValue: channelMax = value
                case Field.low.rawValue: low = value
                case Field.inherit.rawValue: inherit = value
                case Field.fence.rawValue: fence = try ByteReader.amount(value)
                case Field.fenceBack.rawValue: fenceBack = try ByteReader.amount(value)
                case Field.until.rawValue: until = value
                case Field.bin.rawValue: bin = try ByteReader.amount(value)
                case Field.cards.rawValue: cards = try ByteReader.amount(value)
                case Field.lead.rawValue: lead = try ByteReader.amount(value)
                default: break  // unknown, or a text field sent as a number: skipped
                }
            }
        }
        func lacks(_ field: Field) -> CorruptRecord { CorruptRecord(reason: "event \(seq) lacks \(field)") }
        func required(_ value: String?, _ field: Field) throws -> String {
            guard let value else { throw lacks(field) }
            return value
        }
        func required(_ value: Int64?, _ field: Field) throws -> Int64 {
            guard let value else { throw lacks(field) }
            return value
        }
        let body: EventBody
        switch kind {
        case .received:
            body = .received(sku: try required(sku, .sku), wh: try required(wh, .wh), quantity: try required(quantity, .quantity),
                             purchaseOrder: purchaseOrder)
        case .sold:
            body = .sold(sku: try required(sku, .sku), wh: try required(wh, .wh), quantity: try required(quantity, .quantity),
                         reservation: reservation)
        case .reserved:
            body = .reserved(reservation: try required(reservation, .reservation), sku: try required(sku, .sku), wh: try required(wh, .wh),
                             quantity: try required(quantity, .quantity), expiresAt: Timestamp(microseconds: try required(expiresAt, .expiresAt)))
        case .released:
            body = .released(reservation: try required(reservation, .reservation), sku: try required(sku, .sku), wh: try required(wh, .wh),
                             quantity: try required(quantity, .quantity))
        case .expired:
            body = .expired(reservation: try required(reservation, .reservation), sku: try required(sku, .sku), wh: try required(wh, .wh),
                            quantity: try required(quantity, .quantity))
        case .transferShipped:
            body = .transferShipped(transfer: try required(transfer, .transfer), sku: try required(sku, .sku), from: try required(from, .from),
                                    to: try required(to, .to), quantity: try required(quantity, .quantity),
                                    eta: eta.map(Timestamp.init(microseconds:)))
        case .transferArrived:
            body = .transferArrived(transfer: try required(transfer, .transfer), sku: try required(sku, .sku), from: try required(from, .from),
                                    to: try required(to, .to), quantity: try required(quantity, .quantity), lost: lost ?? 0)
        case .transferLost:
            body = .transferLost(transfer: try required(transfer, .transfer), sku: try required(sku, .sku), from: try required(from, .from),
                                 to: try required(to, .to), lost: try required(lost, .lost))
        case .adjusted:
            body = .adjusted(sku: try required(sku, .sku), wh: try required(wh, .wh), delta: try required(delta, .delta), reason: try required(reason, .reason))
        case .counted:
            body = .counted(sku: try required(sku, .sku), wh: try required(wh, .wh), quantity: try required(quantity, .quantity),
                            delta: try required(delta, .delta), reason: reason)
        case .returned:
            body = .returned(sku: try required(sku, .sku), wh: try required(wh, .wh), quantity: try required(quantity, .quantity))
        case .expected:
            body = .expected(purchaseOrder: try required(purchaseOrder, .purchaseOrder), sku: try required(sku, .sku), wh: try required(wh, .wh),
                             quantity: try required(quantity, .quantity), eta: Timestamp(microseconds: try required(eta, .eta)))
        case .cancelled:
            body = .cancelled(purchaseOrder: try required(purchaseOrder, .purchaseOrder), sku: try required(sku, .sku), wh: try required(wh, .wh),
                              quantity: try required(quantity, .quantity))
        case .policySet:
            func clearable(_ value: Int64?) -> Timestamp?? {
                value.map { $0 == clearedTime ? nil : Timestamp(microseconds: $0) }
            }
            let promises = PromisePolicy(preorder: preorder, preorderUntil: clearable(preorderUntil), preorderETA: clearable(preorderETA),
                                         padSeconds: pad, fillByOrder: fillByOrder.map { $0 != 0 },
                                         bin: bin, cards: cards, leadSeconds: lead)
            let rules = ChannelRules(share: share, buffer: buffer, max: channelMax, low: low)
            body = .policySet(sku: try required(sku, .sku), wh: try required(wh, .wh), safety: safety,
                              reorder: reorder, max: max, promises: promises.isEmpty ? nil : promises,
                              channel: channel.map { ChannelPolicy(channel: $0, rules: rules, inherit: inherit == 1) })
            pad = nil
        case .rescheduled:
            body = .rescheduled(purchaseOrder: try required(purchaseOrder, .purchaseOrder), sku: try required(sku, .sku),
                                wh: try required(wh, .wh), eta: Timestamp(microseconds: try required(eta, .eta)),
                                previous: Timestamp(microseconds: try required(previous, .previous)))
        case .extended:
            body = .extended(reservation: try required(reservation, .reservation), sku: try required(sku, .sku),
                             wh: try required(wh, .wh), expiresAt: Timestamp(microseconds: try required(expiresAt, .expiresAt)))
        case .filled:
            body = .filled(sku: try required(sku, .sku), wh: try required(wh, .wh))
        case .waitlisted:
            body = .waitlisted(sku: try required(sku, .sku), wh: wh, subscriber: try required(subscriber, .subscriber),
                               quantity: try required(quantity, .quantity), channel: channel)
        case .unwaitlisted:
            body = .unwaitlisted(sku: try required(sku, .sku), wh: wh, subscriber: try required(subscriber, .subscriber), reason: reason)
        case .allotted:
            body = .allotted(sku: try required(sku, .sku), wh: try required(wh, .wh), channel: try required(channel, .channel),
                             quantity: try required(quantity, .quantity), until: until.map(Timestamp.init(microseconds:)))
        case .unallotted:
            body = .unallotted(sku: try required(sku, .sku), wh: try required(wh, .wh), channel: try required(channel, .channel),
                               quantity: try required(quantity, .quantity))
        case .channelSet:
            body = .channelSet(channel: try required(channel, .channel),
                               rules: ChannelRules(share: share, buffer: buffer, max: channelMax, low: low))
        case .routeSet:
            let list = try required(warehouses, .warehouses)
            body = .routeSet(region: try required(region, .region), warehouses: list.isEmpty ? [] : list.split(separator: ",").map(String.init))
        case .allocated:
            body = .allocated(alloc: try required(alloc, .alloc), sku: try required(sku, .sku), lines: allocationLines,
                              expiresAt: Timestamp(microseconds: try required(expiresAt, .expiresAt)),
                              requested: try required(quantity, .quantity), strategy: try required(reason, .reason))
        }
        var decisions = Decisions(moves: moves, padSeconds: pad)
        decisions.expiries = expiries
        switch kind {
        case .policySet, .allotted, .unallotted, .channelSet, .waitlisted: break
        default: decisions.channel = channel
        }
        decisions.fence = fence
        decisions.fenceBack = fenceBack
        decisions.fenceCuts = fenceCuts
        if let priority {
            guard (1...9).contains(priority) else { throw CorruptRecord(reason: "event \(seq) has priority \(priority)") }
            decisions.priority = UInt8(priority)
        }
        if let backorder {
            guard let mode = UInt8(exactly: backorder).flatMap(Backorder.init(rawValue:)) else {
                throw CorruptRecord(reason: "event \(seq) has an unknown backorder mode")
            }
            decisions.backorder = mode
        }
        return Event(seq: seq, recordedAt: recordedAt, actor: actor, body: body,
                     ref: ref, note: note, idempotencyKey: idempotencyKey,
                     requestFingerprint: requestFingerprint, decisions: decisions)
    }
}
