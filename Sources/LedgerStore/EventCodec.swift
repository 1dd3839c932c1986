import LedgerCore

/// The binary form of an event in the log.
///
/// Layout: format-version byte, kind byte, recorded time (zigzag varint, microseconds), actor
/// (varint), then tagged fields. A tag is `field << 1 | wireType` (0 = varint, 1 = length-prefixed
/// bytes), so a reader skips fields it does not know: later versions still read old events and old
/// readers skip what new writers add.
public enum EventCodec {
    public static let formatVersion: UInt8 = 1

    enum Field: UInt64 {
        case sku = 1, wh, quantity, reservation, transfer, from, to, purchaseOrder, delta, reason
        case ref, note, idempotencyKey, eta, lost, expiresAt, safety, reorder, max
        /// Added with the in-memory ledger: older events lack it, older readers skip it.
        case requestFingerprint

        /// One past the highest field number this build knows.
        static let slotCount = 21
    }

    public static func encode(_ event: Event) -> [UInt8] {
        var writer = ByteWriter(capacity: 64)
        writer.byte(formatVersion)
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
        case let .policySet(sku, wh, safety, reorder, max):
            text(.sku, sku); text(.wh, wh); number(.safety, safety); number(.reorder, reorder); number(.max, max)
        }
        text(.ref, event.ref)
        text(.note, event.note)
        text(.idempotencyKey, event.idempotencyKey)
        text(.requestFingerprint, event.requestFingerprint)
        return writer.bytes
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
        // Fields land in fixed slots indexed by field number: no dictionary on the replay hot path.
        var texts = [String?](repeating: nil, count: Field.slotCount)
        var numbers = [Int64?](repeating: nil, count: Field.slotCount)
        while !reader.isAtEnd {
            let tag = try reader.varint()
            let fieldNumber = Int(truncatingIfNeeded: tag >> 1)
            let known = fieldNumber > 0 && fieldNumber < Field.slotCount
            if tag & 1 == 1 {
                if known { texts[fieldNumber] = try reader.string() } else { try reader.skip(Int(exactly: try reader.varint()) ?? -1) }
            } else {
                let value = try reader.signed()
                if known { numbers[fieldNumber] = value }
            }
        }
        func text(_ field: Field) throws -> String {
            guard let value = texts[Int(field.rawValue)] else { throw CorruptRecord(reason: "event \(seq) lacks \(field)") }
            return value
        }
        func number(_ field: Field) throws -> Int64 {
            guard let value = numbers[Int(field.rawValue)] else { throw CorruptRecord(reason: "event \(seq) lacks \(field)") }
            return value
        }
        func optionalText(_ field: Field) -> String? { texts[Int(field.rawValue)] }
        func optionalNumber(_ field: Field) -> Int64? { numbers[Int(field.rawValue)] }
        let body: EventBody
        switch kind {
        case .received:
            body = .received(sku: try text(.sku), wh: try text(.wh), quantity: try number(.quantity),
                             purchaseOrder: optionalText(.purchaseOrder))
        case .sold:
            body = .sold(sku: try text(.sku), wh: try text(.wh), quantity: try number(.quantity),
                         reservation: optionalText(.reservation))
        case .reserved:
            body = .reserved(reservation: try text(.reservation), sku: try text(.sku), wh: try text(.wh),
                             quantity: try number(.quantity), expiresAt: Timestamp(microseconds: try number(.expiresAt)))
        case .released:
            body = .released(reservation: try text(.reservation), sku: try text(.sku), wh: try text(.wh),
                             quantity: try number(.quantity))
        case .expired:
            body = .expired(reservation: try text(.reservation), sku: try text(.sku), wh: try text(.wh),
                            quantity: try number(.quantity))
        case .transferShipped:
            body = .transferShipped(transfer: try text(.transfer), sku: try text(.sku), from: try text(.from),
                                    to: try text(.to), quantity: try number(.quantity),
                                    eta: optionalNumber(.eta).map(Timestamp.init(microseconds:)))
        case .transferArrived:
            body = .transferArrived(transfer: try text(.transfer), sku: try text(.sku), from: try text(.from),
                                    to: try text(.to), quantity: try number(.quantity), lost: optionalNumber(.lost) ?? 0)
        case .transferLost:
            body = .transferLost(transfer: try text(.transfer), sku: try text(.sku), from: try text(.from),
                                 to: try text(.to), lost: try number(.lost))
        case .adjusted:
            body = .adjusted(sku: try text(.sku), wh: try text(.wh), delta: try number(.delta), reason: try text(.reason))
        case .counted:
            body = .counted(sku: try text(.sku), wh: try text(.wh), quantity: try number(.quantity),
                            delta: try number(.delta), reason: optionalText(.reason))
        case .returned:
            body = .returned(sku: try text(.sku), wh: try text(.wh), quantity: try number(.quantity))
        case .expected:
            body = .expected(purchaseOrder: try text(.purchaseOrder), sku: try text(.sku), wh: try text(.wh),
                             quantity: try number(.quantity), eta: Timestamp(microseconds: try number(.eta)))
        case .cancelled:
            body = .cancelled(purchaseOrder: try text(.purchaseOrder), sku: try text(.sku), wh: try text(.wh),
                              quantity: try number(.quantity))
        case .policySet:
            body = .policySet(sku: try text(.sku), wh: try text(.wh), safety: optionalNumber(.safety),
                              reorder: optionalNumber(.reorder), max: optionalNumber(.max))
        }
        return Event(seq: seq, recordedAt: recordedAt, actor: actor, body: body,
                     ref: optionalText(.ref), note: optionalText(.note), idempotencyKey: optionalText(.idempotencyKey),
                     requestFingerprint: optionalText(.requestFingerprint))
    }
}
