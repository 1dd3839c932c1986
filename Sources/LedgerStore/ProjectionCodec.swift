import LedgerCore

/// The binary forms of the stored projections (pairs, reservations, transfers, purchase orders).
/// Each starts with a format-version byte; a store written by a newer format is refused, not guessed.
/// Version 2 appends the promise fields (FEATURES.md §1a) to pairs and reservations; version 3 the
/// planning levels (§1e) to pairs. Records of an older version read as having none.
public enum ProjectionCodec {
    public static let formatVersion: UInt8 = 3

    private static func optionalTime(_ writer: inout ByteWriter, _ time: Timestamp?) {
        if let time { writer.byte(1); writer.signed(time.microseconds) } else { writer.byte(0) }
    }

    private static func optionalTime(_ reader: inout ByteReader) throws -> Timestamp? {
        try reader.byte() == 1 ? Timestamp(microseconds: try reader.signed()) : nil
    }

    private static func optionalNumber(_ writer: inout ByteWriter, _ value: Int64?) {
        if let value { writer.byte(1); writer.signed(value) } else { writer.byte(0) }
    }

    private static func optionalNumber(_ reader: inout ByteReader) throws -> Int64? {
        try reader.byte() == 1 ? try reader.signed() : nil
    }

    private static func optionalText(_ writer: inout ByteWriter, _ text: String?) {
        if let text { writer.byte(1); writer.string(text) } else { writer.byte(0) }
    }

    private static func optionalText(_ reader: inout ByteReader) throws -> String? {
        try reader.byte() == 1 ? try reader.string() : nil
    }

    @discardableResult
    private static func checkVersion(_ reader: inout ByteReader, _ what: String) throws -> UInt8 {
        let version = try reader.byte()
        guard version >= 1 && version <= formatVersion else { throw CorruptRecord(reason: "\(what) has format version \(version)") }
        return version
    }

    public static func encode(_ pair: PairState) -> [UInt8] {
        var writer = ByteWriter(capacity: 32)
        writer.byte(formatVersion)
        for value in [pair.onHand, pair.reserved, pair.inbound, pair.safety, pair.reorder, pair.max, pair.breachLowest] {
            writer.signed(value)
        }
        optionalTime(&writer, pair.breachSince)
        writer.varint(UInt64(pair.openOrders.count))
        for order in pair.openOrders {
            writer.string(order.purchaseOrder)
            writer.signed(order.remaining)
            writer.signed(order.eta.microseconds)
        }
        let extras = pair.hasExtras || pair.openOrders.contains { $0.promised != 0 }
        writer.byte(extras ? 1 : 0)
        guard extras else { return writer.bytes }
        for order in pair.openOrders { writer.signed(order.promised) }
        for value in [pair.promised, pair.preordered, pair.unbacked, pair.preorder, pair.padSeconds] { writer.signed(value) }
        optionalTime(&writer, pair.preorderUntil)
        optionalTime(&writer, pair.preorderETA)
        writer.byte((pair.fillByOrder ? 1 : 0) | (pair.usesPromises ? 2 : 0))
        writer.varint(UInt64(pair.waiting.count))
        for entry in pair.waiting {
            writer.byte(entry.priority)
            writer.varint(entry.seq)
            writer.string(entry.reservation)
        }
        writer.varint(UInt64(pair.waitlist.count))
        for waiter in pair.waitlist {
            writer.string(waiter.ref)
            writer.signed(waiter.quantity)
            writer.signed(waiter.since.microseconds)
            optionalText(&writer, waiter.channel)
        }
        // Channels (FEATURES.md §1b), sorted so equal pairs encode equally.
        writer.byte(pair.usesChannels ? 1 : 0)
        writer.varint(UInt64(pair.fences.count))
        for (channel, fence) in pair.fences.sorted(by: { $0.key < $1.key }) {
            writer.string(channel)
            writer.signed(fence)
            optionalTime(&writer, pair.fenceUntil[channel])
        }
        writer.varint(UInt64(pair.channelRules.count))
        for (channel, rules) in pair.channelRules.sorted(by: { $0.key < $1.key }) {
            writer.string(channel)
            for value in [rules.share, rules.buffer, rules.max, rules.low] { optionalNumber(&writer, value) }
        }
        writer.varint(UInt64(pair.routes.count))
        for (region, warehouses) in pair.routes.sorted(by: { $0.key < $1.key }) {
            writer.string(region)
            writer.string(warehouses.joined(separator: ","))
        }
        // Version 3: the planning levels (FEATURES.md §1e).
        for value in [pair.bin, pair.cards, pair.leadSeconds] { writer.signed(value) }
        return writer.bytes
    }

    public static func decodePair(_ buffer: UnsafeRawBufferPointer) throws -> PairState {
        var reader = ByteReader(buffer)
        let version = try checkVersion(&reader, "pair")
        var pair = PairState()
        pair.onHand = try reader.amount()
        pair.reserved = try reader.amount()
        pair.inbound = try reader.amount()
        pair.safety = try reader.amount()
        pair.reorder = try reader.amount()
        pair.max = try reader.amount()
        pair.breachLowest = try reader.amount()
        pair.breachSince = try optionalTime(&reader)
        let orders = try reader.varint()
        for _ in 0..<orders {
            pair.openOrders.append(OpenOrder(purchaseOrder: try reader.string(), remaining: try reader.amount(),
                                             eta: Timestamp(microseconds: try reader.signed())))
        }
        // Version 2: a flag, then the promise, waitlist and channel fields only when the pair has any.
        guard version >= 2, try reader.byte() == 1 else { return pair }
        for index in pair.openOrders.indices { pair.openOrders[index].promised = try reader.amount() }
        pair.promised = try reader.amount()
        pair.preordered = try reader.amount()
        pair.unbacked = try reader.amount()
        pair.preorder = try reader.amount()
        pair.padSeconds = try reader.signed()
        pair.preorderUntil = try optionalTime(&reader)
        pair.preorderETA = try optionalTime(&reader)
        let flags = try reader.byte()
        pair.fillByOrder = flags & 1 != 0
        pair.usesPromises = flags & 2 != 0
        let waiting = try reader.varint()
        for _ in 0..<waiting {
            pair.waiting.append(WaitingEntry(priority: try reader.byte(), seq: try reader.varint(), reservation: try reader.string()))
        }
        let waiters = try reader.varint()
        for _ in 0..<waiters {
            pair.waitlist.append(Waiter(ref: try reader.string(), quantity: try reader.amount(),
                                        since: Timestamp(microseconds: try reader.signed()), channel: try optionalText(&reader)))
        }
        pair.usesChannels = try reader.byte() == 1
        for _ in 0..<(try reader.varint()) {
            let channel = try reader.string()
            pair.fences[channel] = try reader.amount()
            pair.fenceUntil[channel] = try optionalTime(&reader)
        }
        for _ in 0..<(try reader.varint()) {
            let channel = try reader.string()
            pair.channelRules[channel] = ChannelRules(share: try optionalNumber(&reader), buffer: try optionalNumber(&reader),
                                                      max: try optionalNumber(&reader), low: try optionalNumber(&reader))
        }
        for _ in 0..<(try reader.varint()) {
            let region = try reader.string()
            pair.routes[region] = try reader.string().split(separator: ",").map(String.init)
        }
        guard version >= 3 else { return pair }
        pair.bin = try reader.amount()
        pair.cards = try reader.amount()
        pair.leadSeconds = try reader.amount()
        return pair
    }

    public static func encode(_ reservation: Reservation) -> [UInt8] {
        var writer = ByteWriter(capacity: 48)
        writer.byte(formatVersion)
        writer.string(reservation.sku)
        writer.string(reservation.wh)
        writer.signed(reservation.held)
        writer.signed(reservation.expiresAt.microseconds)
        optionalText(&writer, reservation.ref)
        writer.byte(reservation.status.rawValue)
        writer.byte(reservation.priority)
        writer.byte(reservation.backorder.rawValue)
        writer.varint(reservation.seq)
        writer.varint(UInt64(reservation.lines.count))
        for line in reservation.lines {
            switch line.backing {
            case .order(let po): writer.byte(1); writer.string(po)
            case .cap: writer.byte(2)
            case .none: writer.byte(3)
            }
            writer.signed(line.quantity)
            optionalTime(&writer, line.date)
        }
        optionalText(&writer, reservation.channel)
        writer.signed(reservation.fence)
        optionalText(&writer, reservation.alloc)
        return writer.bytes
    }

    public static func decodeReservation(id: String, _ buffer: UnsafeRawBufferPointer) throws -> Reservation {
        var reader = ByteReader(buffer)
        let version = try checkVersion(&reader, "reservation \(id)")
        let sku = try reader.string(), wh = try reader.string()
        let held = try reader.amount(), expiresAt = Timestamp(microseconds: try reader.signed())
        let ref = try optionalText(&reader)
        guard let status = Reservation.Status(rawValue: try reader.byte()) else {
            throw CorruptRecord(reason: "reservation \(id) has an unknown status")
        }
        var reservation = Reservation(id: id, sku: sku, wh: wh, held: held, expiresAt: expiresAt, ref: ref, status: status)
        guard version >= 2 else { return reservation }
        reservation.priority = try reader.byte()
        guard let backorder = Backorder(rawValue: try reader.byte()) else {
            throw CorruptRecord(reason: "reservation \(id) has an unknown backorder mode")
        }
        reservation.backorder = backorder
        reservation.seq = try reader.varint()
        let lines = try reader.varint()
        for _ in 0..<lines {
            let backing: Backing
            switch try reader.byte() {
            case 1: backing = .order(try reader.string())
            case 2: backing = .cap
            case 3: backing = Backing.none
            default: throw CorruptRecord(reason: "reservation \(id) has a line with an unknown backing")
            }
            reservation.lines.append(AwaitingLine(backing: backing, quantity: try reader.amount(), date: try optionalTime(&reader)))
        }
        reservation.channel = try optionalText(&reader)
        reservation.fence = try reader.amount()
        reservation.alloc = try optionalText(&reader)
        return reservation
    }

    public static func encode(_ transfer: Transfer) -> [UInt8] {
        var writer = ByteWriter(capacity: 48)
        writer.byte(formatVersion)
        writer.string(transfer.sku)
        writer.string(transfer.from)
        writer.string(transfer.to)
        writer.signed(transfer.shipped)
        writer.signed(transfer.arrived)
        writer.signed(transfer.lost)
        optionalTime(&writer, transfer.eta)
        return writer.bytes
    }

    public static func decodeTransfer(id: String, _ buffer: UnsafeRawBufferPointer) throws -> Transfer {
        var reader = ByteReader(buffer)
        try checkVersion(&reader, "transfer \(id)")
        return Transfer(id: id, sku: try reader.string(), from: try reader.string(), to: try reader.string(),
                        shipped: try reader.amount(), arrived: try reader.amount(), lost: try reader.amount(),
                        eta: try optionalTime(&reader))
    }

    public static func encode(_ order: PurchaseOrder) -> [UInt8] {
        var writer = ByteWriter(capacity: 40)
        writer.byte(formatVersion)
        writer.string(order.sku)
        writer.string(order.wh)
        writer.signed(order.ordered)
        writer.signed(order.eta.microseconds)
        writer.byte(order.isOpen ? 1 : 0)
        return writer.bytes
    }

    public static func decodePurchaseOrder(id: String, _ buffer: UnsafeRawBufferPointer) throws -> PurchaseOrder {
        var reader = ByteReader(buffer)
        try checkVersion(&reader, "purchase order \(id)")
        return PurchaseOrder(id: id, sku: try reader.string(), wh: try reader.string(), ordered: try reader.amount(),
                             eta: Timestamp(microseconds: try reader.signed()), isOpen: try reader.byte() == 1)
    }
}
