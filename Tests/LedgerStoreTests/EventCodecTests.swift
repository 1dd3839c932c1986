import LedgerCore
import LedgerStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `EventCodec`: the binary form of events in the log.
@Suite struct EventCodecTests {
    static let time = Timestamp(microseconds: 1_795_334_400_123_456)
    static let eta = Timestamp(seconds: 1_796_083_200)

    /// Every kind, with its optional fields both left out and present, and numbers at their edges.
    static let bodies: [EventBody] = [
        .received(sku: "TSHIRT-M", wh: "PAR", quantity: 40, purchaseOrder: nil),
        .received(sku: "TSHIRT-M", wh: "PAR", quantity: 1_000_000_000_000, purchaseOrder: "PO-77"),
        .sold(sku: "A", wh: "W", quantity: 1, reservation: nil),
        .sold(sku: "A", wh: "W", quantity: 3, reservation: "r2"),
        .reserved(reservation: "r2", sku: "A", wh: "W", quantity: 3, expiresAt: time.adding(seconds: 900)),
        .released(reservation: "r2", sku: "A", wh: "W", quantity: 2),
        .expired(reservation: "cart-7", sku: "A", wh: "W", quantity: 1),
        .transferShipped(transfer: "x7", sku: "A", from: "PAR", to: "LYS", quantity: 5, eta: nil),
        .transferShipped(transfer: "T-1", sku: "A", from: "PAR", to: "LYS", quantity: 5, eta: eta),
        .transferArrived(transfer: "x7", sku: "A", from: "PAR", to: "LYS", quantity: 4, lost: 0),
        .transferArrived(transfer: "x7", sku: "A", from: "PAR", to: "LYS", quantity: 4, lost: 1),
        .transferLost(transfer: "x7", sku: "A", from: "PAR", to: "LYS", lost: 3),
        .adjusted(sku: "A", wh: "W", delta: -5, reason: "broken pallet"),
        .adjusted(sku: "A", wh: "W", delta: 1_000_000_000_000, reason: "found \"extra\" \\ pallets"),
        .counted(sku: "A", wh: "W", quantity: 0, delta: -9, reason: nil),
        .counted(sku: "A", wh: "W", quantity: 12, delta: 3, reason: "cycle count"),
        .returned(sku: "A", wh: "W", quantity: 2),
        .expected(purchaseOrder: "PO-1", sku: "A", wh: "W", quantity: 20, eta: eta),
        .cancelled(purchaseOrder: "PO-1", sku: "A", wh: "W", quantity: 0),
        .cancelled(purchaseOrder: "PO-1", sku: "A", wh: "W", quantity: 12),
        .policySet(sku: "A", wh: "W", safety: 10, reorder: nil, max: 60),
        .policySet(sku: "A", wh: "W", safety: nil, reorder: nil, max: nil,
                   promises: PromisePolicy(preorder: 20, preorderUntil: .some(nil), preorderETA: Timestamp(microseconds: 1_796_083_200_000_000),
                                           padSeconds: 86_400, fillByOrder: true)),
        .rescheduled(purchaseOrder: "PO-9", sku: "A", wh: "W", eta: Timestamp(microseconds: 1_796_083_200_000_000),
                     previous: Timestamp(microseconds: 1_795_083_200_000_000)),
        .extended(reservation: "r2", sku: "A", wh: "W", expiresAt: Timestamp(microseconds: 1_796_083_200_000_001)),
        .filled(sku: "A", wh: "W"),
        .waitlisted(sku: "A", wh: "W", subscriber: "sub-1", quantity: 2, channel: "web"),
        .waitlisted(sku: "A", wh: nil, subscriber: "sub-2", quantity: 1, channel: nil),
        .unwaitlisted(sku: "A", wh: "W", subscriber: "sub-1", reason: "notified"),
        .unwaitlisted(sku: "A", wh: nil, subscriber: "sub-2", reason: nil),
        .policySet(sku: "A", wh: "W", safety: 1, reorder: nil, max: nil, promises: nil,
                   channel: ChannelPolicy(channel: "b2b", rules: ChannelRules(share: 50, buffer: 2, max: 30, low: 4), inherit: false)),
        .policySet(sku: "A", wh: "W", safety: nil, reorder: nil, max: nil, promises: nil,
                   channel: ChannelPolicy(channel: "mkp", rules: ChannelRules(), inherit: true)),
        .allotted(sku: "A", wh: "W", channel: "b2b", quantity: 40, until: Timestamp(microseconds: 1_796_083_200_000_000)),
        .allotted(sku: "A", wh: "W", channel: "b2b", quantity: 0, until: nil),
        .unallotted(sku: "A", wh: "W", channel: "b2b", quantity: 40),
        .channelSet(channel: "mkp", rules: ChannelRules(share: 50, buffer: 5)),
        .routeSet(region: "FR-N", warehouses: ["PAR", "LIL", "LYS"]),
        .routeSet(region: "FR-N", warehouses: []),
        .allocated(alloc: "ORD-9", sku: "A", lines: [AllocationLine(reservation: "ORD-9.1", wh: "LIL", quantity: 5, fence: 2, belowSafety: true)],
                   expiresAt: Timestamp(microseconds: 1_796_083_200_000_000), requested: 6, strategy: "fewest"),
        .policySet(sku: "A", wh: "W", safety: nil, reorder: 15, max: nil),
        .policySet(sku: "A", wh: "W", safety: 0, reorder: 0, max: 0),
        .policySet(sku: "A", wh: "W", safety: nil, reorder: nil, max: nil),
    ]

    static func decode(_ bytes: [UInt8], seq: UInt64 = 7) throws -> Event {
        try bytes.withUnsafeBytes { try EventCodec.decode(seq: seq, $0) }
    }

    static func plain(_ body: EventBody) -> Event {
        Event(seq: 7, recordedAt: time, actor: 1_000, body: body)
    }

    static func annotated(_ body: EventBody) -> Event {
        Event(seq: 7, recordedAt: time, actor: UInt32.max, body: body,
              ref: "ORDER-1001", note: "café ☕, \"quoted\" and long: " + String(repeating: "n", count: 200), idempotencyKey: "k-1")
    }

    @Test func decisionsRoundTripAsVersion2() throws {
        let date = Timestamp(microseconds: 1_796_083_200_000_000)
        var decisions = Decisions(moves: [
            LineMove(reservation: "r11", from: nil, to: .line(.order("PO-9"), date: date), quantity: 3),
            LineMove(reservation: "r11", from: .cap, to: .line(.none, date: nil), quantity: 2),
            LineMove(reservation: "r12", from: .order("PO-9"), to: .held, quantity: 1_000_000_000_000),
            LineMove(reservation: "r13", from: Backing.none, to: .released, quantity: 1),
            LineMove(reservation: "r14", from: .order("PO-9"), to: .line(.cap, date: date), quantity: 4),
        ], priority: 2, backorder: .cap, padSeconds: 3_600)
        decisions.expiries = [ExpiryChange(reservation: "r11", expiresAt: date.adding(seconds: 7 * 86_400))]
        let event = Event(seq: 7, recordedAt: EventCodecTests.time, actor: 0,
                          body: .received(sku: "A", wh: "W", quantity: 1, purchaseOrder: "PO-9"), decisions: decisions)
        let bytes = EventCodec.encode(event)
        #expect(bytes[0] == 2)
        let decoded = try EventCodecTests.decode(bytes)
        #expect(decoded.decisions.moves == decisions.moves)
        #expect(decoded.decisions == decisions)
        #expect(decoded.body == event.body)
        #expect(decoded == event)
    }

    @Test func theSamplesCoverEveryKind() {
        #expect(Set(EventCodecTests.bodies.map(\.kind)) == Set(EventKind.allCases))
    }

    @Test(arguments: EventCodecTests.bodies)
    func roundTripsWithoutRefNoteOrKey(body: EventBody) throws {
        let event = EventCodecTests.plain(body)
        let bytes = EventCodec.encode(event)
        // Version 2 only for what version 1 cannot fold: the promise kinds and decisions.
        var promises = body.kind.rawValue >= EventKind.rescheduled.rawValue
        if case .policySet(_, _, _, _, _, let levels, let channel) = body, levels != nil || channel != nil { promises = true }
        #expect(bytes[0] == (promises ? 2 : 1))
        #expect(bytes[1] == body.kind.rawValue)
        #expect(try EventCodecTests.decode(bytes) == event)
    }

    @Test(arguments: EventCodecTests.bodies)
    func roundTripsWithRefNoteAndKey(body: EventBody) throws {
        let event = EventCodecTests.annotated(body)
        #expect(try EventCodecTests.decode(EventCodec.encode(event)) == event)
    }

    @Test(arguments: [Int64(0), -1, 1, Int64.min, Int64.max, -62_135_596_800_000_000])
    func roundTripsAnyRecordedTime(microseconds: Int64) throws {
        let event = Event(seq: 1, recordedAt: Timestamp(microseconds: microseconds), actor: 0,
                          body: .returned(sku: "A", wh: "W", quantity: 1))
        #expect(try EventCodecTests.decode(EventCodec.encode(event), seq: 1) == event)
    }

    @Test func theSeqComesFromTheKeyNotTheBytes() throws {
        let bytes = EventCodec.encode(EventCodecTests.plain(.returned(sku: "A", wh: "W", quantity: 1)))
        #expect(try EventCodecTests.decode(bytes, seq: 99).seq == 99)
        #expect(try EventCodecTests.decode(bytes, seq: UInt64.max).seq == UInt64.max)
    }

    // MARK: Forward compatibility

    /// Appends a field the decoder does not know, of each wire type: 0 (a zigzag varint) and 1
    /// (length-prefixed bytes), with one-byte and multi-byte tags.
    static func appendUnknownFields(_ writer: inout ByteWriter) {
        writer.varint(200 << 1 | 0); writer.signed(-7)
        writer.varint(201 << 1 | 1); writer.string("a field from the future")
        writer.varint(1_000 << 1 | 0); writer.signed(Int64.min)
        writer.varint(1_001 << 1 | 1); writer.varint(300)
        for index in 0..<300 { writer.byte(UInt8(truncatingIfNeeded: index)) }  // any bytes, 0 and 0xff too
        writer.varint(63 << 1 | 1); writer.varint(0)
    }

    @Test(arguments: EventCodecTests.bodies)
    func unknownFieldsAfterTheKnownOnesAreSkipped(body: EventBody) throws {
        let event = EventCodecTests.annotated(body)
        var writer = ByteWriter()
        writer.bytes = EventCodec.encode(event)
        EventCodecTests.appendUnknownFields(&writer)
        #expect(try EventCodecTests.decode(writer.bytes) == event)
    }

    @Test func unknownFieldsBetweenKnownOnesAreSkipped() throws {
        // Built by hand from the layout in EventCodec.swift: version, kind, time, actor, then tagged
        // fields (sku = 1, wh = 2, quantity = 3, purchaseOrder = 8, ref = 11).
        var writer = ByteWriter()
        writer.byte(1)
        writer.byte(EventKind.received.rawValue)
        writer.signed(EventCodecTests.time.microseconds)
        writer.varint(1_000)
        EventCodecTests.appendUnknownFields(&writer)
        writer.varint(1 << 1 | 1); writer.string("TSHIRT-M")
        EventCodecTests.appendUnknownFields(&writer)
        writer.varint(3 << 1 | 0); writer.signed(40)
        writer.varint(2 << 1 | 1); writer.string("PAR")
        EventCodecTests.appendUnknownFields(&writer)
        writer.varint(8 << 1 | 1); writer.string("PO-77")
        writer.varint(11 << 1 | 1); writer.string("ASN-9")
        let expected = Event(seq: 7, recordedAt: EventCodecTests.time, actor: 1_000,
                             body: .received(sku: "TSHIRT-M", wh: "PAR", quantity: 40, purchaseOrder: "PO-77"), ref: "ASN-9")
        #expect(try EventCodecTests.decode(writer.bytes) == expected)
    }

    @Test func fieldsMayComeInAnyOrder() throws {
        var writer = ByteWriter()
        writer.byte(1)
        writer.byte(EventKind.adjusted.rawValue)
        writer.signed(0)
        writer.varint(0)
        writer.varint(10 << 1 | 1); writer.string("broken pallet")
        writer.varint(9 << 1 | 0); writer.signed(-5)
        writer.varint(2 << 1 | 1); writer.string("W")
        writer.varint(1 << 1 | 1); writer.string("A")
        let event = try EventCodecTests.decode(writer.bytes)
        #expect(event.body == .adjusted(sku: "A", wh: "W", delta: -5, reason: "broken pallet"))
    }

    // MARK: Damaged records

    @Test(arguments: EventCodecTests.bodies)
    func everyTruncationIsCorruptOrAShorterEvent(body: EventBody) {
        let event = EventCodecTests.annotated(body)
        let bytes = EventCodec.encode(event)
        for length in 0..<bytes.count {
            do {
                let decoded = try EventCodecTests.decode(Array(bytes[..<length]))
                // Cut exactly between fields, the optional trailing fields are simply absent.
                #expect(decoded != event, "a \(length)-byte prefix decoded as the whole event")
            } catch is CorruptRecord {
                continue
            } catch {
                Issue.record("a \(length)-byte prefix threw \(error), not CorruptRecord")
            }
        }
    }

    @Test(arguments: EventCodecTests.bodies)
    func truncatedInsideAFieldThrowsCorruptRecord(body: EventBody) {
        let bytes = EventCodec.encode(EventCodecTests.annotated(body))
        // The last field is the idempotency key "k-1": cutting its last byte leaves a string that
        // runs past the end.
        #expect(throws: CorruptRecord.self) { try EventCodecTests.decode(Array(bytes.dropLast())) }
        // Header only: version, kind, time and actor, but none of the fields the kind needs.
        #expect(throws: CorruptRecord.self) { try EventCodecTests.decode(Array(bytes.prefix(2))) }
        #expect(throws: CorruptRecord.self) { try EventCodecTests.decode([]) }
        #expect(throws: CorruptRecord.self) { try EventCodecTests.decode(Array(bytes.prefix(1))) }
    }

    @Test func truncatedInsideAMultiByteVarintThrowsCorruptRecord() {
        var writer = ByteWriter()
        writer.byte(1)
        writer.byte(EventKind.returned.rawValue)
        writer.signed(EventCodecTests.time.microseconds)  // an 8-byte varint
        #expect(throws: CorruptRecord.self) { try EventCodecTests.decode(Array(writer.bytes.dropLast())) }
    }

    @Test func otherDamageThrowsCorruptRecord() {
        let good = EventCodec.encode(EventCodecTests.plain(.returned(sku: "A", wh: "W", quantity: 2)))
        var newerVersion = good
        newerVersion[0] = EventCodec.formatVersion + 1
        #expect(throws: CorruptRecord.self) { try EventCodecTests.decode(newerVersion) }
        var versionZero = good
        versionZero[0] = 0
        #expect(throws: CorruptRecord.self) { try EventCodecTests.decode(versionZero) }
        for kind: UInt8 in [0, 15, 0xff] {
            var unknownKind = good
            unknownKind[1] = kind
            #expect(throws: CorruptRecord.self) { try EventCodecTests.decode(unknownKind) }
        }
        // A kind whose required field is missing: `returned` bytes relabelled `reserved` lack a reservation.
        var wrongKind = good
        wrongKind[1] = EventKind.reserved.rawValue
        #expect(throws: CorruptRecord.self) { try EventCodecTests.decode(wrongKind) }
        // A text field sent as a number is not that field.
        var writer = ByteWriter()
        writer.byte(1); writer.byte(EventKind.returned.rawValue); writer.signed(0); writer.varint(0)
        writer.varint(1 << 1 | 0); writer.signed(5)
        writer.varint(2 << 1 | 1); writer.string("W")
        writer.varint(3 << 1 | 0); writer.signed(1)
        #expect(throws: CorruptRecord.self) { try EventCodecTests.decode(writer.bytes) }
        // A varint that never ends within 64 bits.
        let endless = Array(good.prefix(2)) + Array(repeating: 0x80, count: 11) + [0x01]
        #expect(throws: CorruptRecord.self) { try EventCodecTests.decode(endless) }
    }

    @Test func aLengthPastTheEndThrowsCorruptRecord() {
        var writer = ByteWriter()
        writer.byte(1); writer.byte(EventKind.returned.rawValue); writer.signed(0); writer.varint(0)
        writer.varint(1 << 1 | 1); writer.varint(1 << 40); writer.bytes += Array("A".utf8)
        #expect(throws: CorruptRecord.self) { try EventCodecTests.decode(writer.bytes) }
        var unknown = ByteWriter()
        unknown.byte(1); unknown.byte(EventKind.returned.rawValue); unknown.signed(0); unknown.varint(0)
        unknown.varint(21 << 1 | 1); unknown.varint(1 << 40)
        #expect(throws: CorruptRecord.self) { try EventCodecTests.decode(unknown.bytes) }
    }

    /// A damaged length above Int.max must be reported like any other damage, so that `stockctl` can
    /// name the bad record (it once trapped in `Int(varint)`; run in a child process in case it does again).
    @Test func aLengthAboveIntMaxThrowsCorruptRecord() async {
        do {
            await #expect(processExitsWith: .success) {
                var text = ByteWriter()
                text.byte(1); text.byte(EventKind.returned.rawValue); text.signed(0); text.varint(0)
                text.varint(1 << 1 | 1); text.varint(UInt64.max)
                var skipped = ByteWriter()
                skipped.byte(1); skipped.byte(EventKind.returned.rawValue); skipped.signed(0); skipped.varint(0)
                skipped.varint(21 << 1 | 1); skipped.varint(UInt64(Int64.max) + 1)
                for bytes in [text.bytes, skipped.bytes] {
                    do {
                        _ = try bytes.withUnsafeBytes { try EventCodec.decode(seq: 1, $0) }
                        exit(1)
                    } catch is CorruptRecord {
                        continue
                    } catch {
                        exit(2)
                    }
                }
                exit(0)
            }
        }
    }
}
