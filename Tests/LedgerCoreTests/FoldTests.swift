import LedgerCore
import Testing

/// `Ledger.apply`: what each event does to the buckets and entities.
@Suite struct FoldTests {
    private func buckets(_ pair: PairState) -> [Int64] {
        [pair.onHand, pair.reserved, pair.available, pair.inbound, pair.incoming]
    }

    @Test func lastSeqFollowsTheFoldedEvent() throws {
        var ledger = LedgerHarness()
        #expect(ledger.state.lastSeq == 0)
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 1, purchaseOrder: nil))
        try ledger.accept(.policy(sku: "A", wh: "W", safety: 1, reorder: nil, max: nil))
        #expect(ledger.state.lastSeq == 2)
    }

    // MARK: RECEIVE and purchase orders

    @Test func receiveAddsToOnHand() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "TSHIRT-M", wh: "PAR", quantity: 40, purchaseOrder: nil))
        try ledger.accept(.receive(sku: "TSHIRT-M", wh: "PAR", quantity: 2, purchaseOrder: nil))
        #expect(buckets(ledger.pair("TSHIRT-M", "PAR")) == [42, 0, 42, 0, 0])
        #expect(ledger.state.pair(PairKey(sku: "TSHIRT-M", wh: "LYS")) == nil)
    }

    @Test func receiveWithPurchaseOrderLowersItsOpenQuantity() throws {
        var ledger = LedgerHarness()
        let eta = Timestamp(seconds: 1_800_000_000)
        try ledger.accept(.expect(sku: "A", wh: "W", quantity: 20, eta: eta, purchaseOrder: "PO-1"))
        #expect(ledger.pair("A", "W").incoming == 20)
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 8, purchaseOrder: "PO-1"))
        let pair = ledger.pair("A", "W")
        #expect(pair.onHand == 8)
        #expect(pair.incoming == 12)
        #expect(pair.openOrders == [OpenOrder(purchaseOrder: "PO-1", remaining: 12, eta: eta)])
        #expect(ledger.state.purchaseOrder("PO-1")?.isOpen == true)
        #expect(ledger.state.purchaseOrder("PO-1")?.ordered == 20)
    }

    @Test func receiveOfTheExactRemainderClosesTheOrder() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.expect(sku: "A", wh: "W", quantity: 5, eta: LedgerHarness.start, purchaseOrder: "PO-1"))
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 5, purchaseOrder: "PO-1"))
        #expect(ledger.pair("A", "W").openOrders.isEmpty)
        #expect(ledger.state.purchaseOrder("PO-1")?.isOpen == false)
    }

    @Test func overReceiptClosesTheOrderAndKeepsEveryUnit() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.expect(sku: "A", wh: "W", quantity: 5, eta: LedgerHarness.start, purchaseOrder: "PO-1"))
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 9, purchaseOrder: "PO-1"))
        let pair = ledger.pair("A", "W")
        #expect(pair.onHand == 9)
        #expect(pair.incoming == 0)
        #expect(pair.openOrders.isEmpty)
        #expect(pair.nextETA == nil)
        #expect(ledger.state.purchaseOrder("PO-1")?.isOpen == false)
        // A later receipt naming the closed order is a reference only.
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 1, purchaseOrder: "PO-1"))
        #expect(ledger.pair("A", "W").onHand == 10)
        #expect(ledger.state.purchaseOrder("PO-1")?.isOpen == false)
    }

    @Test func purchaseOrderNamingNoOpenOrderIsAReferenceOnly() throws {
        var ledger = LedgerHarness()
        let eta = Timestamp(seconds: 1_800_000_000)
        try ledger.accept(.expect(sku: "A", wh: "LYS", quantity: 5, eta: eta, purchaseOrder: "PO-LYS"))
        // Unknown order: goods come in, nothing else changes.
        try ledger.accept(.receive(sku: "A", wh: "PAR", quantity: 3, purchaseOrder: "PO-UNKNOWN"))
        // An order of another pair (same sku, other wh) is not touched.
        try ledger.accept(.receive(sku: "A", wh: "PAR", quantity: 4, purchaseOrder: "PO-LYS"))
        // Nor one of another sku in the same wh.
        try ledger.accept(.receive(sku: "B", wh: "LYS", quantity: 4, purchaseOrder: "PO-LYS"))
        #expect(ledger.pair("A", "PAR").onHand == 7)
        #expect(ledger.pair("A", "PAR").incoming == 0)
        #expect(ledger.pair("B", "LYS").onHand == 4)
        #expect(ledger.pair("A", "LYS").openOrders == [OpenOrder(purchaseOrder: "PO-LYS", remaining: 5, eta: eta)])
        #expect(ledger.state.purchaseOrder("PO-LYS")?.isOpen == true)
        #expect(ledger.state.purchaseOrder("PO-UNKNOWN") == nil)
    }

    @Test func expectAddsIncomingAndTheEarliestETA() throws {
        var ledger = LedgerHarness()
        let late = try #require(Timestamp(rfc3339: "2026-12-15T00:00:00Z"))
        let early = try #require(Timestamp(rfc3339: "2026-12-01T00:00:00Z"))
        try ledger.accept(.expect(sku: "A", wh: "W", quantity: 20, eta: late, purchaseOrder: "PO-1"))
        try ledger.accept(.expect(sku: "A", wh: "W", quantity: 5, eta: early, purchaseOrder: "PO-2"))
        let pair = ledger.pair("A", "W")
        #expect(pair.incoming == 25)
        #expect(pair.nextETA == early)
        #expect(pair.projected == 25)
        #expect(pair.openOrders.map(\.purchaseOrder) == ["PO-1", "PO-2"])
        #expect(ledger.state.purchaseOrder("PO-2")
                == PurchaseOrder(id: "PO-2", sku: "A", wh: "W", ordered: 5, eta: early, isOpen: true))
    }

    @Test func cancelRemovesTheOpenRemainder() throws {
        var ledger = LedgerHarness()
        let late = Timestamp(seconds: 1_900_000_000), early = Timestamp(seconds: 1_800_000_000)
        try ledger.accept(.expect(sku: "A", wh: "W", quantity: 20, eta: early, purchaseOrder: "PO-1"))
        try ledger.accept(.expect(sku: "A", wh: "W", quantity: 5, eta: late, purchaseOrder: "PO-2"))
        try ledger.accept(.cancel(purchaseOrder: "PO-1"))
        let pair = ledger.pair("A", "W")
        #expect(pair.incoming == 5)
        #expect(pair.nextETA == late)
        #expect(ledger.state.purchaseOrder("PO-1")?.isOpen == false)
        #expect(ledger.state.purchaseOrder("PO-2")?.isOpen == true)
    }

    // MARK: SELL, RESERVE, RELEASE, EXPIRE

    @Test func sellTakesFromOnHand() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.sell(sku: "A", wh: "W", quantity: 4))
        #expect(buckets(ledger.pair("A", "W")) == [6, 0, 6, 0, 0])
    }

    @Test func reserveHoldsStockAndRecordsTheReservation() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "TSHIRT-M", wh: "PAR", quantity: 40, purchaseOrder: nil))
        try ledger.accept(.reserve(sku: "TSHIRT-M", wh: "PAR", quantity: 3, reservation: nil, ttlSeconds: 900),
                          ref: "ORDER-1001")
        #expect(buckets(ledger.pair("TSHIRT-M", "PAR")) == [40, 3, 37, 0, 0])
        var expected = Reservation(
            id: "r2", sku: "TSHIRT-M", wh: "PAR", held: 3, expiresAt: LedgerHarness.start.adding(seconds: 900),
            ref: "ORDER-1001", status: .open)
        expected.seq = 2
        #expect(ledger.state.reservation("r2") == expected)
    }

    @Test func sellReservedInFullMarksTheReservationSold() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.reserve(sku: "A", wh: "W", quantity: 4, reservation: "R1", ttlSeconds: nil))
        try ledger.accept(.sellReserved(reservation: "R1", quantity: nil))
        #expect(buckets(ledger.pair("A", "W")) == [6, 0, 6, 0, 0])
        #expect(ledger.state.reservation("R1")?.status == .sold)
        #expect(ledger.state.reservation("R1")?.held == 0)
    }

    @Test func sellReservedInPartKeepsTheReservationOpen() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.reserve(sku: "A", wh: "W", quantity: 4, reservation: "R1", ttlSeconds: nil))
        try ledger.accept(.sellReserved(reservation: "R1", quantity: 1))
        #expect(buckets(ledger.pair("A", "W")) == [9, 3, 6, 0, 0])
        #expect(ledger.state.reservation("R1")?.status == .open)
        #expect(ledger.state.reservation("R1")?.held == 3)
    }

    @Test func releaseInPartThenInFull() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.reserve(sku: "A", wh: "W", quantity: 6, reservation: "R1", ttlSeconds: nil))
        try ledger.accept(.release(reservation: "R1", quantity: 2))
        #expect(buckets(ledger.pair("A", "W")) == [10, 4, 6, 0, 0])
        #expect(ledger.state.reservation("R1")?.status == .open)
        #expect(ledger.state.reservation("R1")?.held == 4)
        try ledger.accept(.release(reservation: "R1", quantity: nil))
        #expect(buckets(ledger.pair("A", "W")) == [10, 0, 10, 0, 0])
        #expect(ledger.state.reservation("R1")?.status == .released)
        #expect(ledger.state.reservation("R1")?.held == 0)
    }

    @Test func expireReturnsTheHeldUnitsToAvailable() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.reserve(sku: "A", wh: "W", quantity: 6, reservation: "R1", ttlSeconds: 60))
        try ledger.accept(.reserve(sku: "A", wh: "W", quantity: 1, reservation: "R2", ttlSeconds: 60))
        ledger.advance(seconds: 61)
        try ledger.accept(.expire(reservation: "R1"))
        #expect(buckets(ledger.pair("A", "W")) == [10, 1, 9, 0, 0])
        #expect(ledger.state.reservation("R1")?.status == .expired)
        #expect(ledger.state.reservation("R1")?.held == 0)
        #expect(ledger.state.reservation("R2")?.status == .open)
    }

    // MARK: TRANSFER and ARRIVE

    @Test func transferMovesOnHandAtOriginToInboundAtDestination() throws {
        var ledger = LedgerHarness()
        let eta = Timestamp(seconds: 1_800_000_000)
        try ledger.accept(.receive(sku: "A", wh: "PAR", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.transfer(sku: "A", from: "PAR", to: "LYS", quantity: 4, transfer: nil, eta: eta))
        #expect(buckets(ledger.pair("A", "PAR")) == [6, 0, 6, 0, 0])
        #expect(buckets(ledger.pair("A", "LYS")) == [0, 0, 0, 4, 0])
        #expect(ledger.pair("A", "LYS").projected == 4)
        let transfer = try #require(ledger.state.transfer("x2"))
        #expect(transfer == Transfer(id: "x2", sku: "A", from: "PAR", to: "LYS", shipped: 4, arrived: 0, lost: 0, eta: eta))
        #expect(transfer.inTransit == 4)
        #expect(transfer.isOpen)
    }

    @Test func arriveWithoutQuantityLandsEverythingAndCloses() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "PAR", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.transfer(sku: "A", from: "PAR", to: "LYS", quantity: 4, transfer: "T", eta: nil))
        try ledger.accept(.arrive(transfer: "T", quantity: nil, lost: nil))
        #expect(buckets(ledger.pair("A", "LYS")) == [4, 0, 4, 0, 0])
        #expect(buckets(ledger.pair("A", "PAR")) == [6, 0, 6, 0, 0])
        let transfer = try #require(ledger.state.transfer("T"))
        #expect(transfer.arrived == 4 && transfer.lost == 0 && transfer.inTransit == 0)
        #expect(!transfer.isOpen)
    }

    @Test func arriveInPartsWithLostUnits() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "PAR", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.transfer(sku: "A", from: "PAR", to: "LYS", quantity: 10, transfer: "T", eta: nil))
        try ledger.accept(.arrive(transfer: "T", quantity: 5, lost: 1))
        #expect(buckets(ledger.pair("A", "LYS")) == [5, 0, 5, 4, 0])
        #expect(ledger.state.transfer("T")?.isOpen == true)
        try ledger.accept(.arrive(transfer: "T", quantity: nil, lost: 1))
        #expect(buckets(ledger.pair("A", "LYS")) == [8, 0, 8, 0, 0])
        let transfer = try #require(ledger.state.transfer("T"))
        #expect(transfer.arrived == 8 && transfer.lost == 2 && !transfer.isOpen)
    }

    @Test func lostOnlyWritesOffInboundAndCloses() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "PAR", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.transfer(sku: "A", from: "PAR", to: "LYS", quantity: 6, transfer: "T", eta: nil))
        let event = try ledger.accept(.arrive(transfer: "T", quantity: nil, lost: 6))
        #expect(event.body.kind == .transferLost)
        #expect(buckets(ledger.pair("A", "LYS")) == [0, 0, 0, 0, 0])
        #expect(buckets(ledger.pair("A", "PAR")) == [4, 0, 4, 0, 0])
        let transfer = try #require(ledger.state.transfer("T"))
        #expect(transfer.arrived == 0 && transfer.lost == 6 && !transfer.isOpen)
    }

    // MARK: ADJUST, COUNT, RETURN, POLICY

    @Test func adjustCountAndReturnChangeOnHand() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.adjust(sku: "A", wh: "W", delta: 12, reason: "found"))
        #expect(ledger.pair("A", "W").onHand == 12)
        try ledger.accept(.adjust(sku: "A", wh: "W", delta: -2, reason: "damaged"))
        #expect(ledger.pair("A", "W").onHand == 10)
        try ledger.accept(.count(sku: "A", wh: "W", quantity: 7, reason: nil))
        #expect(ledger.pair("A", "W").onHand == 7)
        try ledger.accept(.returnGoods(sku: "A", wh: "W", quantity: 3))
        #expect(ledger.pair("A", "W").onHand == 10)
        try ledger.accept(.count(sku: "A", wh: "W", quantity: 0, reason: "empty shelf"))
        #expect(buckets(ledger.pair("A", "W")) == [0, 0, 0, 0, 0])
    }

    @Test func policyLevelsLeftOutKeepTheirValue() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.policy(sku: "A", wh: "W", safety: 10, reorder: 15, max: 60))
        try ledger.accept(.policy(sku: "A", wh: "W", safety: nil, reorder: 20, max: nil))
        var pair = ledger.pair("A", "W")
        #expect([pair.safety, pair.reorder, pair.max] == [10, 20, 60])
        try ledger.accept(.policy(sku: "A", wh: "W", safety: 0, reorder: nil, max: 80))
        pair = ledger.pair("A", "W")
        #expect([pair.safety, pair.reorder, pair.max] == [0, 20, 80])
        // A policy alone creates the pair, with empty buckets.
        #expect(buckets(pair) == [0, 0, 0, 0, 0])
    }

    @Test func reorderSuggestionTopsUpToMaxOrReorder() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 5, purchaseOrder: nil))
        #expect(ledger.pair("A", "W").reorderSuggestion == nil)
        try ledger.accept(.policy(sku: "A", wh: "W", safety: nil, reorder: 12, max: 40))
        #expect(ledger.pair("A", "W").reorderSuggestion == 35)
        try ledger.accept(.policy(sku: "A", wh: "W", safety: nil, reorder: nil, max: 0))
        #expect(ledger.pair("A", "W").reorderSuggestion == 7)
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 7, purchaseOrder: nil))
        #expect(ledger.pair("A", "W").reorderSuggestion == nil)
    }

    // MARK: Breach tracking

    @Test func breachStartsAtTheEventTimeAndTracksTheLowest() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 12, purchaseOrder: nil))
        try ledger.accept(.policy(sku: "A", wh: "W", safety: 10, reorder: nil, max: nil))
        #expect(!ledger.pair("A", "W").isBreached)
        #expect(ledger.pair("A", "W").breachSince == nil)

        ledger.advance(seconds: 60)
        let breachStart = ledger.now
        try ledger.accept(.sell(sku: "A", wh: "W", quantity: 5))  // available 7 < 10
        var pair = ledger.pair("A", "W")
        #expect(pair.isBreached)
        #expect(pair.breachSince == breachStart)
        #expect(pair.breachLowest == 7)

        ledger.advance(seconds: 60)
        try ledger.accept(.reserve(sku: "A", wh: "W", quantity: 4, reservation: "R", ttlSeconds: nil))  // 3
        ledger.advance(seconds: 60)
        try ledger.accept(.release(reservation: "R", quantity: 2))  // 5
        pair = ledger.pair("A", "W")
        #expect(pair.available == 5)
        #expect(pair.breachSince == breachStart)
        #expect(pair.breachLowest == 3)

        ledger.advance(seconds: 60)
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 3, purchaseOrder: nil))  // 8
        #expect(ledger.pair("A", "W").breachSince == breachStart)
        #expect(ledger.pair("A", "W").breachLowest == 3)

        ledger.advance(seconds: 60)
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 2, purchaseOrder: nil))  // 10: recovered
        pair = ledger.pair("A", "W")
        #expect(!pair.isBreached)
        #expect(pair.breachSince == nil)
        #expect(pair.breachLowest == 0)

        ledger.advance(seconds: 60)
        let secondStart = ledger.now
        try ledger.accept(.sell(sku: "A", wh: "W", quantity: 1))
        #expect(ledger.pair("A", "W").breachSince == secondStart)
        #expect(ledger.pair("A", "W").breachLowest == 9)
    }

    @Test func settingSafetyAboveAvailableStartsABreachAtThePolicyTime() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 5, purchaseOrder: nil))
        ledger.advance(seconds: 3_600)
        try ledger.accept(.policy(sku: "A", wh: "W", safety: 8, reorder: nil, max: nil))
        #expect(ledger.pair("A", "W").breachSince == LedgerHarness.start.adding(seconds: 3_600))
        #expect(ledger.pair("A", "W").breachLowest == 5)
        // Lowering safety to available or below ends it; 0 means unset and never breaches.
        try ledger.accept(.policy(sku: "A", wh: "W", safety: 5, reorder: nil, max: nil))
        #expect(ledger.pair("A", "W").breachSince == nil)
        try ledger.accept(.sell(sku: "A", wh: "W", quantity: 5))
        try ledger.accept(.policy(sku: "A", wh: "W", safety: 0, reorder: nil, max: nil))
        #expect(!ledger.pair("A", "W").isBreached)
        #expect(ledger.pair("A", "W").breachSince == nil)
    }

    @Test func breachTracksBothEndsOfATransfer() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "PAR", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.policy(sku: "A", wh: "PAR", safety: 8, reorder: nil, max: nil))
        try ledger.accept(.policy(sku: "A", wh: "LYS", safety: 2, reorder: nil, max: nil))
        let lysSince = ledger.now
        #expect(ledger.pair("A", "LYS").breachSince == lysSince)
        ledger.advance(seconds: 30)
        try ledger.accept(.transfer(sku: "A", from: "PAR", to: "LYS", quantity: 5, transfer: "T", eta: nil))
        #expect(ledger.pair("A", "PAR").breachSince == ledger.now)
        #expect(ledger.pair("A", "PAR").breachLowest == 5)
        // Inbound stock is not available: LYS stays in breach until the goods land.
        #expect(ledger.pair("A", "LYS").breachSince == lysSince)
        ledger.advance(seconds: 30)
        try ledger.accept(.arrive(transfer: "T", quantity: nil, lost: nil))
        #expect(ledger.pair("A", "LYS").breachSince == nil)
        #expect(ledger.pair("A", "PAR").breachSince != nil)
    }

    // MARK: Replay

    @Test func replayingTheEventsGivesTheSameState() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "PAR", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.expect(sku: "A", wh: "PAR", quantity: 5, eta: LedgerHarness.start, purchaseOrder: "PO"))
        try ledger.accept(.reserve(sku: "A", wh: "PAR", quantity: 2, reservation: nil, ttlSeconds: nil))
        try ledger.accept(.transfer(sku: "A", from: "PAR", to: "LYS", quantity: 3, transfer: nil, eta: nil))
        try ledger.accept(.policy(sku: "A", wh: "LYS", safety: 4, reorder: nil, max: nil))
        try ledger.accept(.arrive(transfer: "x4", quantity: 1, lost: nil))
        var replay = LedgerState()
        for event in ledger.events { Ledger.apply(event, to: &replay) }
        #expect(replay.sameEntities(as: ledger.state))
        var shorter = LedgerState()
        for event in ledger.events.dropLast() { Ledger.apply(event, to: &shorter) }
        #expect(!shorter.sameEntities(as: ledger.state))
    }
}
