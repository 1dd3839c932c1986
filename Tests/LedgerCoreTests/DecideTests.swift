import LedgerCore
import Testing

/// `Ledger.decide`: which event each command becomes, and every refusal.
@Suite struct DecideTests {
    // MARK: Every event carries the request's common fields

    @Test func eventCarriesSeqTimeActorRefNoteAndKey() throws {
        var ledger = LedgerHarness()
        ledger.actor = 4_242
        let event = try ledger.accept(.receive(sku: "TSHIRT-M", wh: "PAR", quantity: 40, purchaseOrder: nil),
                                      ref: "ASN-9", note: "pallet 3", id: "k-1")
        #expect(event.seq == 1)
        #expect(event.recordedAt == LedgerHarness.start)
        #expect(event.actor == 4_242)
        #expect(event.ref == "ASN-9")
        #expect(event.note == "pallet 3")
        #expect(event.idempotencyKey == "k-1")
        #expect(event.sku == "TSHIRT-M")
        let second = try ledger.accept(.sell(sku: "TSHIRT-M", wh: "PAR", quantity: 1))
        #expect(second.seq == 2)
        #expect(second.ref == nil && second.note == nil && second.idempotencyKey == nil)
    }

    @Test func decideDoesNotChangeTheState() {
        let ledger = LedgerHarness()
        let request = WriteRequest(command: .receive(sku: "A", wh: "W", quantity: 5, purchaseOrder: nil))
        let result = Ledger.decide(request, in: ledger.state, context: ledger.context())
        #expect(throws: Never.self) { try result.get() }
        #expect(ledger.state.pairs.isEmpty)
        #expect(ledger.state.lastSeq == 0)
    }

    // MARK: RECEIVE

    @Test func receiveBecomesReceived() throws {
        var ledger = LedgerHarness()
        let plain = try ledger.accept(.receive(sku: "A", wh: "W", quantity: 7, purchaseOrder: nil))
        #expect(plain.body == .received(sku: "A", wh: "W", quantity: 7, purchaseOrder: nil))
        let withOrder = try ledger.accept(.receive(sku: "A", wh: "W", quantity: 3, purchaseOrder: "PO-404"))
        // A po= naming no order is accepted and kept on the event as a reference.
        #expect(withOrder.body == .received(sku: "A", wh: "W", quantity: 3, purchaseOrder: "PO-404"))
    }

    @Test func receiveRefusedWhenOnHandWouldLeaveItsRange() {
        var ledger = LedgerHarness()
        var pair = PairState()
        pair.onHand = Limits.bucketQuantityMax
        ledger.state.pairs[PairKey(sku: "A", wh: "W")] = pair
        let refusal = ledger.refusal(.receive(sku: "A", wh: "W", quantity: 1, purchaseOrder: nil))
        #expect(refusal?.isArgument(naming: "on_hand") == true)
        #expect(ledger.refusal(.returnGoods(sku: "A", wh: "W", quantity: 1))?.isArgument(naming: "on_hand") == true)
    }

    // MARK: SELL

    @Test func sellBecomesSoldWithoutReservation() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil))
        let event = try ledger.accept(.sell(sku: "A", wh: "W", quantity: 10))
        #expect(event.body == .sold(sku: "A", wh: "W", quantity: 10, reservation: nil))
    }

    @Test func sellRefusedBeyondAvailableCountingReservations() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "TSHIRT-M", wh: "PAR", quantity: 40, purchaseOrder: nil))
        try ledger.accept(.reserve(sku: "TSHIRT-M", wh: "PAR", quantity: 3, reservation: nil, ttlSeconds: nil))
        #expect(ledger.refusal(.sell(sku: "TSHIRT-M", wh: "PAR", quantity: 50))
                == .insufficient(available: 37, requested: 50, sku: "TSHIRT-M", wh: "PAR"))
        #expect(ledger.refusal(.sell(sku: "TSHIRT-M", wh: "PAR", quantity: 38))
                == .insufficient(available: 37, requested: 38, sku: "TSHIRT-M", wh: "PAR"))
        #expect(ledger.refusal(.sell(sku: "TSHIRT-M", wh: "PAR", quantity: 37)) == nil)
    }

    @Test func sellOnAPairWithNoStockIsInsufficient() {
        let ledger = LedgerHarness()
        #expect(ledger.refusal(.sell(sku: "GHOST", wh: "W", quantity: 1))
                == .insufficient(available: 0, requested: 1, sku: "GHOST", wh: "W"))
    }

    // MARK: SELL res=

    @Test func sellReservedTakesAllOfTheReservationByDefault() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.reserve(sku: "A", wh: "W", quantity: 4, reservation: "R1", ttlSeconds: nil))
        let event = try ledger.accept(.sellReserved(reservation: "R1", quantity: nil))
        #expect(event.body == .sold(sku: "A", wh: "W", quantity: 4, reservation: "R1"))
    }

    @Test func sellReservedPartially() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.reserve(sku: "A", wh: "W", quantity: 4, reservation: "R1", ttlSeconds: nil))
        let first = try ledger.accept(.sellReserved(reservation: "R1", quantity: 1))
        #expect(first.body == .sold(sku: "A", wh: "W", quantity: 1, reservation: "R1"))
        // What is left is 3: 4 is now too many, and no qty sells the 3.
        #expect(ledger.refusal(.sellReserved(reservation: "R1", quantity: 4))?.isArgument(naming: "qty") == true)
        let rest = try ledger.accept(.sellReserved(reservation: "R1", quantity: nil))
        #expect(rest.body == .sold(sku: "A", wh: "W", quantity: 3, reservation: "R1"))
    }

    @Test func sellReservedRefusals() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.reserve(sku: "A", wh: "W", quantity: 2, reservation: "R1", ttlSeconds: nil))
        #expect(ledger.refusal(.sellReserved(reservation: "NOPE", quantity: nil)) == .notFound(.reservation, "NOPE"))
        #expect(ledger.refusal(.sellReserved(reservation: "R1", quantity: 3))?.isArgument(naming: "qty") == true)
        try ledger.accept(.sellReserved(reservation: "R1", quantity: nil))
        #expect(ledger.refusal(.sellReserved(reservation: "R1", quantity: nil)) == .closed(.reservation, "R1", status: "sold"))
    }

    // MARK: RESERVE

    @Test func reserveGeneratesAnIdFromTheSeqAndUsesTheDefaultTTL() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "TSHIRT-M", wh: "PAR", quantity: 40, purchaseOrder: nil))
        let event = try ledger.accept(.reserve(sku: "TSHIRT-M", wh: "PAR", quantity: 3, reservation: nil, ttlSeconds: nil))
        let expires = LedgerHarness.start.adding(seconds: Limits.reservationTTLDefaultSeconds)
        #expect(event.body == .reserved(reservation: "r2", sku: "TSHIRT-M", wh: "PAR", quantity: 3, expiresAt: expires))
        #expect(expires.rfc3339 == "2026-11-22T08:15:00Z")
    }

    @Test func reserveHonoursAGivenIdAndTTL() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 5, purchaseOrder: nil))
        ledger.advance(seconds: 10)
        let event = try ledger.accept(.reserve(sku: "A", wh: "W", quantity: 5, reservation: "cart-7", ttlSeconds: 90))
        #expect(event.body == .reserved(reservation: "cart-7", sku: "A", wh: "W", quantity: 5,
                                        expiresAt: LedgerHarness.start.adding(seconds: 100)))
    }

    @Test func reserveGeneratedIdSkipsOneAlreadyTaken() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 5, purchaseOrder: nil))
        // A caller chose "r3", which is exactly the id seq 3 would generate.
        try ledger.accept(.reserve(sku: "A", wh: "W", quantity: 1, reservation: "r3", ttlSeconds: nil))
        let event = try ledger.accept(.reserve(sku: "A", wh: "W", quantity: 1, reservation: nil, ttlSeconds: nil))
        guard case .reserved(let id, _, _, _, _) = event.body else { Issue.record("not reserved: \(event.body)"); return }
        #expect(event.seq == 3)
        #expect(id != "r3")
        #expect(id.hasPrefix("r3"))
        #expect(ledger.state.reservation("r3")?.held == 1)
        #expect(ledger.state.reservation(id)?.held == 1)
    }

    @Test func reserveRefusals() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 5, purchaseOrder: nil))
        #expect(ledger.refusal(.reserve(sku: "A", wh: "W", quantity: 6, reservation: nil, ttlSeconds: nil))
                == .insufficient(available: 5, requested: 6, sku: "A", wh: "W"))
        try ledger.accept(.reserve(sku: "A", wh: "W", quantity: 1, reservation: "R1", ttlSeconds: nil))
        #expect(ledger.refusal(.reserve(sku: "A", wh: "W", quantity: 1, reservation: "R1", ttlSeconds: nil))?.isState == true)
        #expect(ledger.refusal(.reserve(sku: "A", wh: "W", quantity: 5, reservation: nil, ttlSeconds: nil))
                == .insufficient(available: 4, requested: 5, sku: "A", wh: "W"))
        // An id stays taken after its reservation ends.
        try ledger.accept(.release(reservation: "R1", quantity: nil))
        #expect(ledger.refusal(.reserve(sku: "A", wh: "W", quantity: 1, reservation: "R1", ttlSeconds: nil))?.isState == true)
    }

    // MARK: RELEASE

    @Test func releaseAllOrPartOfAReservation() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.reserve(sku: "A", wh: "W", quantity: 6, reservation: "R1", ttlSeconds: nil))
        let part = try ledger.accept(.release(reservation: "R1", quantity: 2))
        #expect(part.body == .released(reservation: "R1", sku: "A", wh: "W", quantity: 2))
        let rest = try ledger.accept(.release(reservation: "R1", quantity: nil))
        #expect(rest.body == .released(reservation: "R1", sku: "A", wh: "W", quantity: 4))
    }

    @Test func releaseRefusals() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.reserve(sku: "A", wh: "W", quantity: 6, reservation: "R1", ttlSeconds: nil))
        #expect(ledger.refusal(.release(reservation: "R9", quantity: nil)) == .notFound(.reservation, "R9"))
        #expect(ledger.refusal(.release(reservation: "R1", quantity: 7))?.isArgument(naming: "qty") == true)
        try ledger.accept(.release(reservation: "R1", quantity: nil))
        #expect(ledger.refusal(.release(reservation: "R1", quantity: nil)) == .closed(.reservation, "R1", status: "released"))
        #expect(ledger.refusal(.release(reservation: "R1", quantity: 1)) == .closed(.reservation, "R1", status: "released"))
    }

    // MARK: EXPIRE

    @Test func expireTakesWhateverIsStillHeld() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.reserve(sku: "A", wh: "W", quantity: 6, reservation: "R1", ttlSeconds: 60))
        try ledger.accept(.sellReserved(reservation: "R1", quantity: 2))
        ledger.advance(seconds: 60)
        let event = try ledger.accept(.expire(reservation: "R1"))
        #expect(event.body == .expired(reservation: "R1", sku: "A", wh: "W", quantity: 4))
        #expect(ledger.refusal(.expire(reservation: "R1")) == .closed(.reservation, "R1", status: "expired"))
        #expect(ledger.refusal(.expire(reservation: "R2")) == .notFound(.reservation, "R2"))
        #expect(ledger.refusal(.release(reservation: "R1", quantity: nil)) == .closed(.reservation, "R1", status: "expired"))
        #expect(ledger.refusal(.sellReserved(reservation: "R1", quantity: 1)) == .closed(.reservation, "R1", status: "expired"))
    }

    // MARK: TRANSFER

    @Test func transferGeneratesAnIdFromTheSeq() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "PAR", quantity: 10, purchaseOrder: nil))
        let eta = Timestamp(rfc3339: "2026-11-25T00:00:00Z")
        let event = try ledger.accept(.transfer(sku: "A", from: "PAR", to: "LYS", quantity: 4, transfer: nil, eta: eta))
        #expect(event.body == .transferShipped(transfer: "x2", sku: "A", from: "PAR", to: "LYS", quantity: 4, eta: eta))
        let named = try ledger.accept(.transfer(sku: "A", from: "PAR", to: "LYS", quantity: 1, transfer: "T-1", eta: nil))
        #expect(named.body == .transferShipped(transfer: "T-1", sku: "A", from: "PAR", to: "LYS", quantity: 1, eta: nil))
    }

    @Test func transferRefusals() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "PAR", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.reserve(sku: "A", wh: "PAR", quantity: 3, reservation: nil, ttlSeconds: nil))
        #expect(ledger.refusal(.transfer(sku: "A", from: "PAR", to: "LYS", quantity: 8, transfer: nil, eta: nil))
                == .insufficient(available: 7, requested: 8, sku: "A", wh: "PAR"))
        #expect(ledger.refusal(.transfer(sku: "A", from: "PAR", to: "PAR", quantity: 1, transfer: nil, eta: nil))?
                    .isArgument(naming: "to") == true)
        try ledger.accept(.transfer(sku: "A", from: "PAR", to: "LYS", quantity: 1, transfer: "T-1", eta: nil))
        #expect(ledger.refusal(.transfer(sku: "A", from: "PAR", to: "LYS", quantity: 1, transfer: "T-1", eta: nil))?.isState == true)
        // Stock on its way does not count as available at the destination.
        #expect(ledger.refusal(.transfer(sku: "A", from: "LYS", to: "PAR", quantity: 1, transfer: nil, eta: nil))
                == .insufficient(available: 0, requested: 1, sku: "A", wh: "LYS"))
    }

    // MARK: ARRIVE

    private func shipped(_ quantity: Int64) throws -> LedgerHarness {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "PAR", quantity: 100, purchaseOrder: nil))
        try ledger.accept(.transfer(sku: "A", from: "PAR", to: "LYS", quantity: quantity, transfer: "T", eta: nil))
        return ledger
    }

    @Test func arriveDefaultsToEverythingInTransit() throws {
        var ledger = try shipped(10)
        let event = try ledger.accept(.arrive(transfer: "T", quantity: nil, lost: nil))
        #expect(event.body == .transferArrived(transfer: "T", sku: "A", from: "PAR", to: "LYS", quantity: 10, lost: 0))
        #expect(ledger.refusal(.arrive(transfer: "T", quantity: nil, lost: nil)) == .closed(.transfer, "T", status: "closed"))
    }

    @Test func arriveDefaultsToInTransitMinusLost() throws {
        var ledger = try shipped(10)
        let event = try ledger.accept(.arrive(transfer: "T", quantity: nil, lost: 3))
        #expect(event.body == .transferArrived(transfer: "T", sku: "A", from: "PAR", to: "LYS", quantity: 7, lost: 3))
    }

    @Test func arriveWithQuantityAndLostLeavesTheRestInTransit() throws {
        var ledger = try shipped(10)
        let event = try ledger.accept(.arrive(transfer: "T", quantity: 4, lost: 1))
        #expect(event.body == .transferArrived(transfer: "T", sku: "A", from: "PAR", to: "LYS", quantity: 4, lost: 1))
        #expect(ledger.refusal(.arrive(transfer: "T", quantity: 6, lost: nil))?.isArgument(naming: "qty") == true)
        let rest = try ledger.accept(.arrive(transfer: "T", quantity: nil, lost: nil))
        #expect(rest.body == .transferArrived(transfer: "T", sku: "A", from: "PAR", to: "LYS", quantity: 5, lost: 0))
    }

    @Test func arriveWithOnlyLostUnitsIsATransferLost() throws {
        var ledger = try shipped(10)
        let partLost = try ledger.accept(.arrive(transfer: "T", quantity: 0, lost: 2))
        #expect(partLost.body == .transferLost(transfer: "T", sku: "A", from: "PAR", to: "LYS", lost: 2))
        let allLost = try ledger.accept(.arrive(transfer: "T", quantity: nil, lost: 8))
        #expect(allLost.body == .transferLost(transfer: "T", sku: "A", from: "PAR", to: "LYS", lost: 8))
        #expect(ledger.refusal(.arrive(transfer: "T", quantity: nil, lost: 1)) == .closed(.transfer, "T", status: "closed"))
    }

    @Test func arriveRefusals() throws {
        let ledger = try shipped(10)
        #expect(ledger.refusal(.arrive(transfer: "NOPE", quantity: nil, lost: nil)) == .notFound(.transfer, "NOPE"))
        #expect(ledger.refusal(.arrive(transfer: "T", quantity: 11, lost: nil))?.isArgument(naming: "qty") == true)
        #expect(ledger.refusal(.arrive(transfer: "T", quantity: 8, lost: 3))?.isArgument(naming: "qty") == true)
        #expect(ledger.refusal(.arrive(transfer: "T", quantity: nil, lost: 11))?.isArgument(naming: "lost") == true)
        #expect(ledger.refusal(.arrive(transfer: "T", quantity: 0, lost: 0))?.isArgument(naming: "qty") == true)
        #expect(ledger.refusal(.arrive(transfer: "T", quantity: 0, lost: nil))?.isArgument(naming: "qty") == true)
        #expect(ledger.refusal(.arrive(transfer: "T", quantity: 7, lost: 3)) == nil)
    }

    // MARK: ADJUST and COUNT

    @Test func adjustBecomesAdjusted() throws {
        var ledger = LedgerHarness()
        let found = try ledger.accept(.adjust(sku: "A", wh: "W", delta: 5, reason: "found"))
        #expect(found.body == .adjusted(sku: "A", wh: "W", delta: 5, reason: "found"))
        let damaged = try ledger.accept(.adjust(sku: "A", wh: "W", delta: -5, reason: "broken pallet"))
        #expect(damaged.body == .adjusted(sku: "A", wh: "W", delta: -5, reason: "broken pallet"))
    }

    @Test func adjustRefusedBelowReservedOrZero() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.reserve(sku: "A", wh: "W", quantity: 4, reservation: nil, ttlSeconds: nil))
        #expect(ledger.refusal(.adjust(sku: "A", wh: "W", delta: -7, reason: "x"))
                == .insufficient(available: 6, requested: 7, sku: "A", wh: "W"))
        #expect(ledger.refusal(.adjust(sku: "A", wh: "W", delta: -6, reason: "x")) == nil)
        #expect(ledger.refusal(.adjust(sku: "B", wh: "W", delta: -1, reason: "x"))
                == .insufficient(available: 0, requested: 1, sku: "B", wh: "W"))
    }

    @Test func countWritesTheDifferenceAndAllowsZero() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil))
        let lower = try ledger.accept(.count(sku: "A", wh: "W", quantity: 7, reason: "cycle count"))
        #expect(lower.body == .counted(sku: "A", wh: "W", quantity: 7, delta: -3, reason: "cycle count"))
        let higher = try ledger.accept(.count(sku: "A", wh: "W", quantity: 9, reason: nil))
        #expect(higher.body == .counted(sku: "A", wh: "W", quantity: 9, delta: 2, reason: nil))
        let same = try ledger.accept(.count(sku: "A", wh: "W", quantity: 9, reason: nil))
        #expect(same.body == .counted(sku: "A", wh: "W", quantity: 9, delta: 0, reason: nil))
        let empty = try ledger.accept(.count(sku: "A", wh: "W", quantity: 0, reason: nil))
        #expect(empty.body == .counted(sku: "A", wh: "W", quantity: 0, delta: -9, reason: nil))
        let fresh = try ledger.accept(.count(sku: "NEW", wh: "W", quantity: 0, reason: nil))
        #expect(fresh.body == .counted(sku: "NEW", wh: "W", quantity: 0, delta: 0, reason: nil))
    }

    @Test func countRefusedBelowReserved() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.reserve(sku: "A", wh: "W", quantity: 4, reservation: nil, ttlSeconds: nil))
        #expect(ledger.refusal(.count(sku: "A", wh: "W", quantity: 3, reason: nil))
                == .insufficient(available: 6, requested: 7, sku: "A", wh: "W"))
        #expect(ledger.refusal(.count(sku: "A", wh: "W", quantity: 0, reason: nil))
                == .insufficient(available: 6, requested: 10, sku: "A", wh: "W"))
        #expect(ledger.refusal(.count(sku: "A", wh: "W", quantity: 4, reason: nil)) == nil)
    }

    // MARK: RETURN, EXPECT, CANCEL, POLICY

    @Test func returnBecomesReturned() throws {
        var ledger = LedgerHarness()
        let event = try ledger.accept(.returnGoods(sku: "A", wh: "W", quantity: 2))
        #expect(event.body == .returned(sku: "A", wh: "W", quantity: 2))
    }

    @Test func expectBecomesExpectedAndRefusesADuplicateOrder() throws {
        var ledger = LedgerHarness()
        let eta = try #require(Timestamp(rfc3339: "2026-12-01T00:00:00Z"))
        let event = try ledger.accept(.expect(sku: "A", wh: "W", quantity: 20, eta: eta, purchaseOrder: "PO-1"))
        #expect(event.body == .expected(purchaseOrder: "PO-1", sku: "A", wh: "W", quantity: 20, eta: eta))
        #expect(ledger.refusal(.expect(sku: "A", wh: "W", quantity: 1, eta: eta, purchaseOrder: "PO-1"))?.isState == true)
        // Even for another pair, and even once the first order is closed.
        #expect(ledger.refusal(.expect(sku: "B", wh: "X", quantity: 1, eta: eta, purchaseOrder: "PO-1"))?.isState == true)
        try ledger.accept(.cancel(purchaseOrder: "PO-1"))
        #expect(ledger.refusal(.expect(sku: "A", wh: "W", quantity: 1, eta: eta, purchaseOrder: "PO-1"))?.isState == true)
    }

    @Test func cancelClosesTheOpenRemainder() throws {
        var ledger = LedgerHarness()
        let eta = Timestamp(seconds: 1_800_000_000)
        try ledger.accept(.expect(sku: "A", wh: "W", quantity: 20, eta: eta, purchaseOrder: "PO-1"))
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 8, purchaseOrder: "PO-1"))
        let event = try ledger.accept(.cancel(purchaseOrder: "PO-1"))
        #expect(event.body == .cancelled(purchaseOrder: "PO-1", sku: "A", wh: "W", quantity: 12))
        #expect(ledger.refusal(.cancel(purchaseOrder: "PO-1")) == .closed(.purchaseOrder, "PO-1", status: "closed"))
        #expect(ledger.refusal(.cancel(purchaseOrder: "PO-2")) == .notFound(.purchaseOrder, "PO-2"))
    }

    @Test func cancelOfAnOrderClosedByReceiptIsAStateError() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.expect(sku: "A", wh: "W", quantity: 5, eta: LedgerHarness.start, purchaseOrder: "PO-1"))
        try ledger.accept(.receive(sku: "A", wh: "W", quantity: 6, purchaseOrder: "PO-1"))
        #expect(ledger.refusal(.cancel(purchaseOrder: "PO-1")) == .closed(.purchaseOrder, "PO-1", status: "closed"))
    }

    @Test func policyNeedsAtLeastOneLevel() throws {
        var ledger = LedgerHarness()
        #expect(ledger.refusal(.policy(sku: "A", wh: "W", safety: nil, reorder: nil, max: nil))?
                    .isArgument(naming: "safety") == true)
        let event = try ledger.accept(.policy(sku: "A", wh: "W", safety: nil, reorder: 15, max: nil))
        #expect(event.body == .policySet(sku: "A", wh: "W", safety: nil, reorder: 15, max: nil))
        let zero = try ledger.accept(.policy(sku: "A", wh: "W", safety: 0, reorder: nil, max: nil))
        #expect(zero.body == .policySet(sku: "A", wh: "W", safety: 0, reorder: nil, max: nil))
    }

    // MARK: A state backed by a source

    /// The writer decides against a small state backed by the stored projections.
    final class FixedSource: LedgerSource {
        let state: LedgerState
        init(_ state: LedgerState) { self.state = state }
        func pair(_ key: PairKey) -> PairState? { state.pairs[key] }
        func reservation(_ id: String) -> Reservation? { state.reservations[id] }
        func transfer(_ id: String) -> Transfer? { state.transfers[id] }
        func purchaseOrder(_ id: String) -> PurchaseOrder? { state.purchaseOrders[id] }
    }

    @Test func decideAndApplyReadThroughTheSource() throws {
        var stored = LedgerHarness()
        try stored.accept(.receive(sku: "A", wh: "W", quantity: 10, purchaseOrder: nil))
        try stored.accept(.reserve(sku: "A", wh: "W", quantity: 4, reservation: "R1", ttlSeconds: nil))

        var partial = LedgerState(source: FixedSource(stored.state))
        partial.lastSeq = stored.state.lastSeq
        let context = DecisionContext(now: stored.now, seq: 3, actor: 1)
        #expect(Ledger.decide(WriteRequest(command: .sell(sku: "A", wh: "W", quantity: 7)), in: partial, context: context)
                == .failure(.insufficient(available: 6, requested: 7, sku: "A", wh: "W")))
        let event = try Ledger.decide(WriteRequest(command: .sellReserved(reservation: "R1", quantity: 1)),
                                      in: partial, context: context).get()
        Ledger.apply(event, to: &partial)
        // The partial state holds exactly what the event changed.
        #expect(Array(partial.pairs.keys) == [PairKey(sku: "A", wh: "W")])
        #expect(Array(partial.reservations.keys) == ["R1"])
        #expect(partial.pairs[PairKey(sku: "A", wh: "W")]?.onHand == 9)
        #expect(partial.reservations["R1"]?.held == 3)
        #expect(partial.transfers.isEmpty && partial.purchaseOrders.isEmpty)
    }
}
