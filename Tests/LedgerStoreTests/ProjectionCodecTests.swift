import LedgerCore
import LedgerStore
import Testing

/// `ProjectionCodec`: the stored forms of pairs, reservations, transfers and purchase orders.
@Suite struct ProjectionCodecTests {
    static let eta = Timestamp(seconds: 1_796_083_200)

    static func decoded<T>(_ bytes: [UInt8], _ decode: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        try bytes.withUnsafeBytes { try decode($0) }
    }

    static func pairs() -> [PairState] {
        var empty = PairState()
        empty.onHand = 0
        var full = PairState()
        full.onHand = 30; full.reserved = 3; full.inbound = 10; full.safety = 40; full.reorder = 45; full.max = 1_000_000_000_000_000
        full.breachSince = Timestamp(microseconds: 1_795_334_400_123_456)
        full.breachLowest = 2
        full.openOrders = [OpenOrder(purchaseOrder: "PO-1", remaining: 20, eta: eta),
                           OpenOrder(purchaseOrder: "PO-2", remaining: 1, eta: Timestamp(microseconds: -1))]
        var oneOrder = PairState()
        oneOrder.onHand = 5; oneOrder.openOrders = [OpenOrder(purchaseOrder: "PO-9", remaining: 7, eta: eta)]
        // Every promise, waitlist and channel field set.
        var promises = oneOrder
        promises.openOrders[0].promised = 4
        promises.promised = 4; promises.preordered = 2; promises.unbacked = 1; promises.preorder = 9
        promises.preorderUntil = eta; promises.preorderETA = Timestamp(microseconds: -5); promises.padSeconds = 86_400
        promises.fillByOrder = true; promises.usesPromises = true
        promises.waiting = [WaitingEntry(priority: 1, seq: 9, reservation: "r9"), WaitingEntry(priority: 5, seq: 3, reservation: "r3")]
        promises.waitlist = [Waiter(ref: "sub-1", quantity: 2, since: eta, channel: "web"), Waiter(ref: "sub-2", quantity: 1, since: eta, channel: nil)]
        promises.usesChannels = true
        promises.fences = ["b2b": 3, "mkp": 0]
        promises.channelRules = ["mkp": ChannelRules(share: 50, buffer: 5), "b2b": ChannelRules(max: 7, low: 1)]
        promises.routes = ["FR-N": ["PAR", "LIL"]]
        // An order's promised units alone (found by the codec fuzzer): still written and read back.
        var orderPromisedOnly = oneOrder
        orderPromisedOnly.openOrders[0].promised = 2
        return [empty, full, oneOrder, promises, orderPromisedOnly]
    }

    @Test func pairsRoundTrip() throws {
        for pair in ProjectionCodecTests.pairs() {
            let bytes = ProjectionCodec.encode(pair)
            #expect(bytes.first == ProjectionCodec.formatVersion)
            let decoded = try ProjectionCodecTests.decoded(bytes) { try ProjectionCodec.decodePair($0) }
            #expect(decoded == pair)
        }
    }

    @Test func aPairInBreachKeepsItsStartAndLowest() throws {
        let full = ProjectionCodecTests.pairs()[1]
        let decoded = try ProjectionCodecTests.decoded(ProjectionCodec.encode(full)) { try ProjectionCodec.decodePair($0) }
        #expect(decoded.isBreached)
        #expect(decoded.breachSince == full.breachSince)
        #expect(decoded.breachLowest == 2)
        #expect(decoded.incoming == 21)
        #expect(decoded.nextETA == Timestamp(microseconds: -1))
    }

    @Test(arguments: [Reservation.Status.open, .released, .sold, .expired])
    func reservationsRoundTrip(status: Reservation.Status) throws {
        for ref in [nil, "ORDER-1001"] as [String?] {
            let reservation = Reservation(id: "r2", sku: "TSHIRT-M", wh: "PAR", held: status == .open ? 3 : 0,
                                          expiresAt: Timestamp(seconds: 1_795_335_300), ref: ref, status: status)
            let decoded = try ProjectionCodecTests.decoded(ProjectionCodec.encode(reservation)) {
                try ProjectionCodec.decodeReservation(id: "r2", $0)
            }
            #expect(decoded == reservation)
        }
    }

    @Test func aReservationsPromiseAndChannelFieldsRoundTrip() throws {
        var reservation = Reservation(id: "r2", sku: "A", wh: "W", held: 1, expiresAt: Timestamp(seconds: 0), ref: nil, status: .open)
        reservation.lines = [AwaitingLine(backing: .order("PO-1"), quantity: 3, date: ProjectionCodecTests.eta),
                             AwaitingLine(backing: .cap, quantity: 1, date: nil), AwaitingLine(backing: .none, quantity: 2, date: nil)]
        reservation.priority = 2; reservation.backorder = .cap; reservation.seq = 77
        reservation.channel = "b2b"; reservation.fence = 1; reservation.alloc = "ORD-9"
        let decoded = try ProjectionCodecTests.decoded(ProjectionCodec.encode(reservation)) {
            try ProjectionCodec.decodeReservation(id: "r2", $0)
        }
        #expect(decoded == reservation)
    }

    @Test func theIdComesFromTheKey() throws {
        let reservation = Reservation(id: "r2", sku: "A", wh: "W", held: 1, expiresAt: Timestamp(seconds: 0), ref: nil, status: .open)
        let decoded = try ProjectionCodecTests.decoded(ProjectionCodec.encode(reservation)) {
            try ProjectionCodec.decodeReservation(id: "other", $0)
        }
        #expect(decoded.id == "other")
    }

    @Test func transfersRoundTrip() throws {
        let transfers = [
            Transfer(id: "x7", sku: "A", from: "PAR", to: "LYS", shipped: 10, arrived: 0, lost: 0, eta: nil),
            Transfer(id: "T-1", sku: "A", from: "PAR", to: "LYS", shipped: 10, arrived: 6, lost: 4, eta: ProjectionCodecTests.eta),
        ]
        for transfer in transfers {
            let decoded = try ProjectionCodecTests.decoded(ProjectionCodec.encode(transfer)) {
                try ProjectionCodec.decodeTransfer(id: transfer.id, $0)
            }
            #expect(decoded == transfer)
        }
    }

    @Test func purchaseOrdersRoundTrip() throws {
        for isOpen in [true, false] {
            let order = PurchaseOrder(id: "PO-1", sku: "A", wh: "W", ordered: 20, eta: ProjectionCodecTests.eta, isOpen: isOpen)
            let decoded = try ProjectionCodecTests.decoded(ProjectionCodec.encode(order)) {
                try ProjectionCodec.decodePurchaseOrder(id: "PO-1", $0)
            }
            #expect(decoded == order)
        }
    }

    @Test func anotherFormatVersionIsRefused() {
        var pair = ProjectionCodec.encode(ProjectionCodecTests.pairs()[1])
        pair[0] = ProjectionCodec.formatVersion + 1
        #expect(throws: CorruptRecord.self) { try ProjectionCodecTests.decoded(pair) { try ProjectionCodec.decodePair($0) } }
        var order = ProjectionCodec.encode(PurchaseOrder(id: "P", sku: "A", wh: "W", ordered: 1, eta: ProjectionCodecTests.eta, isOpen: true))
        order[0] = 0
        #expect(throws: CorruptRecord.self) {
            try ProjectionCodecTests.decoded(order) { try ProjectionCodec.decodePurchaseOrder(id: "P", $0) }
        }
    }

    @Test func truncatedProjectionsThrowCorruptRecord() {
        let pair = ProjectionCodec.encode(ProjectionCodecTests.pairs()[1])
        let reservation = ProjectionCodec.encode(Reservation(id: "r", sku: "A", wh: "W", held: 1,
                                                             expiresAt: ProjectionCodecTests.eta, ref: "R", status: .open))
        let transfer = ProjectionCodec.encode(Transfer(id: "x", sku: "A", from: "P", to: "L", shipped: 1, arrived: 0, lost: 0,
                                                       eta: ProjectionCodecTests.eta))
        let order = ProjectionCodec.encode(PurchaseOrder(id: "P", sku: "A", wh: "W", ordered: 1, eta: ProjectionCodecTests.eta, isOpen: true))
        // Every record ends with a field that is read unconditionally, so every proper prefix is short.
        for length in 0..<pair.count {
            #expect(throws: CorruptRecord.self) { try ProjectionCodecTests.decoded(Array(pair[..<length])) { try ProjectionCodec.decodePair($0) } }
        }
        for length in 0..<reservation.count {
            #expect(throws: CorruptRecord.self) {
                try ProjectionCodecTests.decoded(Array(reservation[..<length])) { try ProjectionCodec.decodeReservation(id: "r", $0) }
            }
        }
        for length in 0..<transfer.count {
            #expect(throws: CorruptRecord.self) {
                try ProjectionCodecTests.decoded(Array(transfer[..<length])) { try ProjectionCodec.decodeTransfer(id: "x", $0) }
            }
        }
        for length in 0..<order.count {
            #expect(throws: CorruptRecord.self) {
                try ProjectionCodecTests.decoded(Array(order[..<length])) { try ProjectionCodec.decodePurchaseOrder(id: "P", $0) }
            }
        }
    }

    @Test func anUnknownReservationStatusIsRefused() {
        func encoded(_ status: Reservation.Status) -> [UInt8] {
            ProjectionCodec.encode(Reservation(id: "r", sku: "A", wh: "W", held: 1, expiresAt: ProjectionCodecTests.eta,
                                               ref: nil, status: status))
        }
        // The status byte is where two statuses encode differently.
        var bytes = encoded(.open)
        let sold = encoded(.sold)
        let index = bytes.indices.first { bytes[$0] != sold[$0] }!
        bytes[index] = 9
        #expect(throws: CorruptRecord.self) {
            try ProjectionCodecTests.decoded(bytes) { try ProjectionCodec.decodeReservation(id: "r", $0) }
        }
    }
}
