import LedgerCore
import Testing

/// ALLOCATE, ROUTE and RELEASE alloc= (FEATURES.md §1c) as `Ledger.decide` applies them: each
/// strategy against hand-worked cases, split limits, partial and all or nothing, backorder=po, and
/// each refusal. The `allocated` event records the lines; the fold makes one reservation per line.
@Suite struct AllocationTests {
    static let sku = "TSHIRT-M"

    /// ALLOCATE of `quantity` over the FR-N route unless `warehouses` are given.
    static func allocate(_ quantity: Int64, _ strategy: AllocationStrategy = .fewest, region: String? = "FR-N",
                         warehouses: [String]? = nil, split: Int = Limits.allocationLinesMax, partial: Bool = false,
                         exclude: [String] = [], alloc: String? = nil, ttl: Int64? = nil,
                         terms: ReserveTerms = ReserveTerms()) -> Command {
        .allocate(AllocateRequest(sku: sku, quantity: quantity, region: warehouses == nil ? region : nil, warehouses: warehouses,
                                  strategy: strategy, split: split, partial: partial, exclude: exclude, alloc: alloc,
                                  ttlSeconds: ttl, terms: terms))
    }

    /// A ledger with `units` of the sku per warehouse and the route FR-N = PAR, LIL, LYS.
    static func ledger(_ units: KeyValuePairs<String, Int64>) throws -> LedgerHarness {
        var ledger = LedgerHarness()
        try ledger.stock(sku, units)
        try ledger.accept(.route(region: "FR-N", warehouses: ["PAR", "LIL", "LYS"]))
        return ledger
    }

    /// The lines `command` would make (`res@wh:qty`), decided without folding; the refusal's text otherwise.
    static func lines(_ ledger: LedgerHarness, _ command: Command) -> [String] {
        switch Ledger.decide(WriteRequest(command: command), in: ledger.state, context: ledger.context()) {
        case .success(let event): event.allocationText
        case .failure(let refusal): ["\(refusal)"]
        }
    }

    static func safety(_ wh: String, _ level: Int64) -> Command {
        .policy(sku: sku, wh: wh, safety: level, reorder: nil, max: nil)
    }

    func expectChecked(_ ledger: LedgerHarness, sourceLocation: SourceLocation = #_sourceLocation) {
        ChannelTests().expectChecked(ledger, sourceLocation: sourceLocation)
    }

    // MARK: The example and each strategy

    /// FEATURES.md §1c: PAR ranks first but holds only 3, so `fewest` ships one parcel from LIL.
    @Test func theFeaturesExample() throws {
        var ledger = try AllocationTests.ledger(["PAR": 3, "LIL": 6, "LYS": 1])
        let event = try ledger.accept(AllocationTests.allocate(5, alloc: "ORD-9", ttl: 1_800), ref: "ORD-9")
        #expect(event.allocationText == ["ORD-9.1@LIL:5"])
        guard case let .allocated(alloc, sku, _, expiresAt, requested, strategy) = event.body else {
            Issue.record("not an allocated event: \(event.body)")
            return
        }
        #expect(alloc == "ORD-9" && sku == "TSHIRT-M" && requested == 5 && strategy == "fewest")
        #expect(expiresAt == ledger.now.adding(seconds: 1_800))
        let line = try #require(ledger.reservation("ORD-9.1"))
        #expect(line.alloc == "ORD-9" && line.ref == "ORD-9" && line.wh == "LIL" && line.held == 5 && line.status == .open)
        #expect(ledger.pair(AllocationTests.sku, "LIL").reserved == 5 && ledger.pair(AllocationTests.sku, "PAR").reserved == 0)
        // Each line is an ordinary reservation.
        try ledger.accept(.sellReserved(reservation: "ORD-9.1", quantity: 2))
        #expect(ledger.pair(AllocationTests.sku, "LIL").onHand == 4)
        expectChecked(ledger)
    }

    /// One stock, PAR 3 / LIL 6 / LYS 4 (rank order), asked 5 and 8 by each strategy.
    @Test func eachStrategyOnTheSameStock() throws {
        let ledger = try AllocationTests.ledger(["PAR": 3, "LIL": 6, "LYS": 4])
        func lines(_ quantity: Int64, _ strategy: AllocationStrategy) -> [String] {
            AllocationTests.lines(ledger, AllocationTests.allocate(quantity, strategy, alloc: "o"))
        }
        // fewest: 5 fits in one (LIL); 8 needs two, and PAR + LIL (9) is the first cover in rank order.
        #expect(lines(5, .fewest) == ["o.1@LIL:5"])
        #expect(lines(8, .fewest) == ["o.1@PAR:3", "o.2@LIL:5"])
        // rank: as much as each has, in rank order.
        #expect(lines(5, .rank) == ["o.1@PAR:3", "o.2@LIL:2"])
        #expect(lines(8, .rank) == ["o.1@PAR:3", "o.2@LIL:5"])
        // stock: largest first.
        #expect(lines(5, .stock) == ["o.1@LIL:5"])
        #expect(lines(8, .stock) == ["o.1@LIL:6", "o.2@LYS:2"])
        // 10: fewest skips PAR (3 + 6 < 10) and takes LIL + LYS.
        #expect(lines(10, .fewest) == ["o.1@LIL:6", "o.2@LYS:4"])
        #expect(lines(13, .fewest) == ["o.1@PAR:3", "o.2@LIL:6", "o.3@LYS:4"])
    }

    /// fewest: the smallest k whose k largest capacities cover qty (k = 2 here: 7 + 5), then in rank
    /// order each warehouse kept while a k-cover stays possible.
    @Test func fewestKeepsTheRankOrderAmongCoversOfTheSmallestSize() throws {
        var ledger = LedgerHarness()
        try ledger.stock(AllocationTests.sku, ["A": 4, "B": 7, "C": 5, "D": 3])
        let order = ["A", "B", "C", "D"]
        func lines(_ quantity: Int64) -> [String] {
            AllocationTests.lines(ledger, AllocationTests.allocate(quantity, warehouses: order, alloc: "o"))
        }
        #expect(lines(7) == ["o.1@B:7"])                       // B alone; A (4) cannot cover alone
        #expect(lines(4) == ["o.1@A:4"])                       // A covers alone and ranks first
        #expect(lines(11) == ["o.1@A:4", "o.2@B:7"])           // A + B = 11 still a 2-cover
        #expect(lines(12) == ["o.1@B:7", "o.2@C:5"])           // A + B = 11 < 12: A skipped
        #expect(lines(13) == ["o.1@A:4", "o.2@B:7", "o.3@C:2"]) // k = 3; filled in rank order
        #expect(lines(19) == ["o.1@A:4", "o.2@B:7", "o.3@C:5", "o.4@D:3"])
    }

    /// surplus: largest `capacity − safety` first (ties rank), surplus only; then dips into safety
    /// stock in rank order, and those lines say below_safety.
    @Test func surplusProtectsSafetyStockUntilItMustDip() throws {
        var ledger = try AllocationTests.ledger(["PAR": 3, "LIL": 6, "LYS": 4])
        try ledger.accept(AllocationTests.safety("LIL", 4))
        try ledger.accept(AllocationTests.safety("LYS", 1))
        // Surplus: PAR 3, LIL 2, LYS 3.
        func lines(_ quantity: Int64, split: Int = Limits.allocationLinesMax) -> [String] {
            AllocationTests.lines(ledger, AllocationTests.allocate(quantity, .surplus, split: split, partial: true, alloc: "o"))
        }
        #expect(lines(5) == ["o.1@PAR:3", "o.2@LYS:2"])        // PAR and LYS tie at 3: rank
        #expect(lines(8) == ["o.1@PAR:3", "o.2@LYS:3", "o.3@LIL:2"])
        #expect(lines(10) == ["o.1@PAR:3", "o.2@LYS:3", "o.3@LIL:4!"])
        #expect(lines(13) == ["o.1@PAR:3", "o.2@LYS:4!", "o.3@LIL:6!"])
        // split=2: the dip stays in the two lines it has.
        #expect(lines(10, split: 2) == ["o.1@PAR:3", "o.2@LYS:4!"])
        // A plain "most stock" rule would take LIL's safety stock first.
        #expect(AllocationTests.lines(ledger, AllocationTests.allocate(5, .stock, alloc: "o")) == ["o.1@LIL:5"])
        let made = try ledger.accept(AllocationTests.allocate(10, .surplus, alloc: "s"))
        #expect(made.allocationText == ["s.1@PAR:3", "s.2@LYS:3", "s.3@LIL:4!"])
        expectChecked(ledger)
    }

    // MARK: split, partial, all or nothing

    @Test func splitLimitsTheLines() throws {
        let ledger = try AllocationTests.ledger(["PAR": 3, "LIL": 6, "LYS": 4])
        func lines(_ quantity: Int64, _ strategy: AllocationStrategy, split: Int, partial: Bool = true) -> [String] {
            AllocationTests.lines(ledger, AllocationTests.allocate(quantity, strategy, split: split, partial: partial, alloc: "o"))
        }
        #expect(lines(6, .fewest, split: 1) == ["o.1@LIL:6"])
        #expect(lines(6, .rank, split: 1) == ["o.1@PAR:3"])
        #expect(lines(13, .rank, split: 2) == ["o.1@PAR:3", "o.2@LIL:6"])
        #expect(lines(13, .stock, split: 2) == ["o.1@LIL:6", "o.2@LYS:4"])
        // No single warehouse covers 10: split=no is refused when all or nothing...
        #expect(lines(10, .fewest, split: 1, partial: false)
                == ["\(Refusal.unallocatable(available: 6, requested: 10, byWarehouse: [("PAR", 3), ("LIL", 6), ("LYS", 4)]))"])
        // ...and with partial=yes, fewest takes the most one line can hold (not the first in rank).
        #expect(lines(10, .fewest, split: 1) == ["o.1@LIL:6"])
        #expect(lines(13, .fewest, split: 2) == ["o.1@LIL:6", "o.2@LYS:4"])
    }

    @Test func allOrNothingRefusesAndWritesNothingPartialReservesWhatFits() throws {
        var ledger = try AllocationTests.ledger(["PAR": 3, "LIL": 2, "LYS": 1])
        let before = ledger.state
        // FEATURES.md §1c: ERR INSUFFICIENT available=6 requested=9 avail=PAR:3,LIL:2,LYS:1.
        for strategy in AllocationStrategy.allCases {
            #expect(ledger.refusal(AllocationTests.allocate(9, strategy))
                    == .unallocatable(available: 6, requested: 9, byWarehouse: [("PAR", 3), ("LIL", 2), ("LYS", 1)]))
        }
        #expect(ledger.run(AllocationTests.allocate(9)).isFailure && ledger.state.sameEntities(as: before))
        let partial = try ledger.accept(AllocationTests.allocate(9, partial: true, alloc: "p"))
        #expect(partial.allocationText == ["p.1@PAR:3", "p.2@LIL:2", "p.3@LYS:1"])
        guard case let .allocated(_, _, _, _, requested, _) = partial.body else { return }
        #expect(requested == 9)
        // Nothing left: even partial=yes is refused, naming every candidate's capacity.
        #expect(ledger.refusal(AllocationTests.allocate(1, partial: true))
                == .unallocatable(available: 0, requested: 1, byWarehouse: [("PAR", 0), ("LIL", 0), ("LYS", 0)]))
        expectChecked(ledger)
    }

    // MARK: Candidates

    @Test func excludeAndWarehousesNeverSeen() throws {
        let ledger = try AllocationTests.ledger(["PAR": 3, "LIL": 6, "LYS": 4])
        #expect(AllocationTests.lines(ledger, AllocationTests.allocate(5, exclude: ["LIL"], alloc: "o")) == ["o.1@PAR:3", "o.2@LYS:2"])
        #expect(AllocationTests.lines(ledger, AllocationTests.allocate(1, exclude: ["PAR", "LIL", "LYS"], alloc: "o"))
                == ["\(Refusal.unallocatable(available: 0, requested: 1, byWarehouse: []))"])
        // A warehouse never seen has capacity 0: not an error.
        #expect(AllocationTests.lines(ledger, AllocationTests.allocate(4, warehouses: ["BER", "LYS"], alloc: "o")) == ["o.1@LYS:4"])
        #expect(AllocationTests.lines(ledger, AllocationTests.allocate(1, warehouses: ["BER"], alloc: "o"))
                == ["\(Refusal.unallocatable(available: 0, requested: 1, byWarehouse: [("BER", 0)]))"])
    }

    @Test func routesReplaceDeleteAndUnknownRegions() throws {
        var ledger = try AllocationTests.ledger(["PAR": 3, "LIL": 6])
        #expect(ledger.refusal(AllocationTests.allocate(1, region: "FR-Z")) == .notFound(.region, "FR-Z"))
        #expect(ledger.refusal(.route(region: "FR-Z", warehouses: [])) == .notFound(.region, "FR-Z"))
        // A warehouse twice would count its stock twice: refused in decide too (an import is decided there).
        #expect(ledger.refusal(.route(region: "FR-Z", warehouses: ["PAR", "LIL", "PAR"])) == .argument("wh: PAR twice"))
        #expect(ledger.refusal(AllocationTests.allocate(4, warehouses: ["LIL", "LIL"])) == .argument("wh: LIL twice"))
        let route = try ledger.accept(.route(region: "FR-N", warehouses: ["LIL", "PAR"]))
        #expect(route.sku == "*" && ledger.state.pair(PairKey.configuration)?.routes["FR-N"] == ["LIL", "PAR"])
        #expect(AllocationTests.lines(ledger, AllocationTests.allocate(2, .rank, alloc: "o")) == ["o.1@LIL:2"])
        // A past allocation keeps its lines whatever the route becomes (the event records them).
        try ledger.accept(AllocationTests.allocate(2, .rank, alloc: "kept"))
        try ledger.accept(.route(region: "FR-N", warehouses: []))
        #expect(ledger.refusal(AllocationTests.allocate(1)) == .notFound(.region, "FR-N"))
        #expect(ledger.reservation("kept.1")?.wh == "LIL")
        expectChecked(ledger)
    }

    @Test func anAllocIdIsUsedOnceAndItsLinesNeverTakeAnExistingReservation() throws {
        var ledger = try AllocationTests.ledger(["PAR": 3, "LIL": 6, "LYS": 4])
        try ledger.accept(AllocationTests.allocate(2, alloc: "ORD-9"))
        #expect(ledger.refusal(AllocationTests.allocate(2, alloc: "ORD-9")) == .state("alloc=ORD-9 exists"))
        // A reservation named like a second line: the allocation must not overwrite it.
        try ledger.accept(.reserve(sku: AllocationTests.sku, wh: "LYS", quantity: 1, reservation: "ORD-7.2", ttlSeconds: nil))
        let refusal = ledger.refusal(AllocationTests.allocate(8, alloc: "ORD-7"))
        #expect(refusal?.isState == true, "\(String(describing: refusal))")
        #expect(ledger.reservation("ORD-7.2")?.held == 1 && ledger.reservation("ORD-7.2")?.alloc == nil)
        // Without alloc=, the id is a<seq>; a reservation named like its lines moves it aside.
        let seq = ledger.nextSeq
        try ledger.accept(.reserve(sku: AllocationTests.sku, wh: "LYS", quantity: 1, reservation: "a\(seq + 1).1", ttlSeconds: nil))
        let made = try ledger.accept(AllocationTests.allocate(1))
        guard case let .allocated(alloc, _, _, _, _, _) = made.body else { return }
        #expect(alloc != "a\(seq + 1)" && ledger.reservation("a\(seq + 1).1")?.alloc == nil, "\(alloc)")
        expectChecked(ledger)
    }

    // MARK: Channels, priority, backorder

    @Test func anAllocationDrawsOnTheChannelViewAndRecordsEachLinesFencePart() throws {
        var ledger = try AllocationTests.ledger(["PAR": 10, "LIL": 6])
        try ledger.allot(AllocationTests.sku, "PAR", "b2b", 4)
        try ledger.allot(AllocationTests.sku, "LIL", "b2b", 1)
        try ledger.accept(.channel(channel: "mkp", rules: ChannelRules(share: 50)))
        // mkp sees PAR floor(6 / 2) = 3, LIL floor(5 / 2) = 2: 5 in all.
        #expect(ledger.refusal(AllocationTests.allocate(6, terms: ReserveTerms(channel: "mkp")))
                == .unallocatable(available: 5, requested: 6, byWarehouse: [("PAR", 3), ("LIL", 2), ("LYS", 0)]))
        let desk = try ledger.accept(AllocationTests.allocate(12, .rank, alloc: "B", terms: ReserveTerms(priority: 2, channel: "b2b")))
        // b2b sees PAR 4 + 6 and LIL 1 + 5: 10 from PAR (4 fenced), 2 from LIL (1 fenced).
        #expect(desk.allocationText == ["B.1@PAR:10+f4", "B.2@LIL:2+f1"])
        #expect(desk.decisions.channel == "b2b" && desk.decisions.fence == nil && desk.decisions.priority == 2)
        #expect(ledger.fences(AllocationTests.sku, "PAR") == "b2b:0" && ledger.fences(AllocationTests.sku, "LIL") == "b2b:0")
        #expect(ledger.reservation("B.1")?.fence == 4 && ledger.reservation("B.1")?.channel == "b2b" && ledger.reservation("B.1")?.priority == 2)
        // RELEASE alloc= gives each line's fence part back.
        let released = try ledger.runAll(.releaseAllocation(alloc: "B")).get()
        #expect(released.map(\.decisions.fenceBack) == [4, 1])
        #expect(ledger.fences(AllocationTests.sku, "PAR") == "b2b:4" && ledger.fences(AllocationTests.sku, "LIL") == "b2b:1")
        expectChecked(ledger)
    }

    /// backorder=po: what stock cannot cover awaits on the candidate whose first order with room
    /// promises earliest (its ETA plus its pad); a tie goes to a chosen line, then to rank.
    @Test func aBackorderAwaitsOnTheEarliestPromise() throws {
        var ledger = try AllocationTests.ledger(["PAR": 3])
        try ledger.expect(AllocationTests.sku, "LIL", 10, day: 4, po: "PO-L")
        try ledger.expect(AllocationTests.sku, "LYS", 10, day: 6, po: "PO-Y")
        let backorder = ReserveTerms(backorder: .order)
        let made = try ledger.accept(AllocationTests.allocate(5, alloc: "b", terms: backorder))
        #expect(made.allocationText == ["b.1@PAR:3", "b.2@LIL:0"] && made.decisions.backorder == .order)
        #expect(ledger.lines("b.2") == "PO-L:2" && ledger.reservation("b.2")?.promise == .date(LedgerHarness.day(4)))
        #expect(ledger.pair(AllocationTests.sku, "LIL").promised == 2)
        // The pad is part of the promise: LIL's day 4 + 3 days comes after LYS's day 6.
        try ledger.accept(.policy(sku: AllocationTests.sku, wh: "LIL", safety: nil, reorder: nil, max: nil,
                                  promises: PromisePolicy(padSeconds: 3 * 86_400)))
        let padded = try ledger.accept(AllocationTests.allocate(2, alloc: "p", terms: backorder))
        #expect(padded.allocationText == ["p.1@LYS:0"] && ledger.lines("p.1") == "PO-Y:2")
        expectChecked(ledger)
    }

    @Test func aBackorderTieGoesToTheChosenLine() throws {
        var ledger = try AllocationTests.ledger(["LYS": 2])
        try ledger.expect(AllocationTests.sku, "PAR", 10, day: 5, po: "PO-P")
        try ledger.expect(AllocationTests.sku, "LYS", 10, day: 5, po: "PO-Y")
        let made = try ledger.accept(AllocationTests.allocate(5, alloc: "t", terms: ReserveTerms(backorder: .order)))
        // LYS holds 2 and its order ties with PAR's (which ranks first): the awaiting units join LYS's line.
        #expect(made.allocationText == ["t.1@LYS:2"] && ledger.lines("t.1") == "PO-Y:3")
        // With nothing chosen, the tie goes to rank: PAR.
        let ranked = try ledger.accept(AllocationTests.allocate(3, alloc: "r", terms: ReserveTerms(backorder: .order)))
        #expect(ranked.allocationText == ["r.1@PAR:0"] && ledger.lines("r.1") == "PO-P:3")
        expectChecked(ledger)
    }

    /// A reservation awaits on at most `Limits.awaitingLinesMax` orders, allocated or not.
    @Test func aBackorderLineAwaitsOnAtMostEightOrders() throws {
        var ledger = try AllocationTests.ledger([:])
        for day in 1...10 { try ledger.expect(AllocationTests.sku, "LIL", 1, day: Int64(day), po: "PO-\(day)") }
        let backorder = ReserveTerms(backorder: .order)
        #expect(ledger.refusal(AllocationTests.allocate(10, terms: backorder))
                == .unallocatable(available: 0, requested: 10, byWarehouse: [("PAR", 0), ("LIL", 0), ("LYS", 0)]))
        let made = try ledger.accept(AllocationTests.allocate(10, partial: true, alloc: "b", terms: backorder))
        #expect(made.allocationText == ["b.1@LIL:0"] && ledger.reservation("b.1")?.lines.count == Limits.awaitingLinesMax)
        #expect(Ledger.promiseProblems(in: ledger.state) == [])
        expectChecked(ledger)
    }

    @Test func aBackorderThatNoOrderCanCoverIsRefusedWhole() throws {
        var ledger = try AllocationTests.ledger(["PAR": 3])
        try ledger.expect(AllocationTests.sku, "LYS", 1, day: 5, po: "PO-Y")
        #expect(ledger.refusal(AllocationTests.allocate(5, terms: ReserveTerms(backorder: .order)))
                == .unallocatable(available: 3, requested: 5, byWarehouse: [("PAR", 3), ("LIL", 0), ("LYS", 0)]))
        // split=no: the one line is PAR's, and LYS's order is not on it.
        #expect(ledger.refusal(AllocationTests.allocate(4, split: 1, terms: ReserveTerms(backorder: .order)))
                == .unallocatable(available: 3, requested: 4, byWarehouse: [("PAR", 3), ("LIL", 0), ("LYS", 0)]))
        let made = try ledger.accept(AllocationTests.allocate(4, alloc: "b", terms: ReserveTerms(backorder: .order)))
        #expect(made.allocationText == ["b.1@PAR:3", "b.2@LYS:0"] && ledger.lines("b.2") == "PO-Y:1")
        expectChecked(ledger)
    }

    // MARK: RELEASE alloc=

    @Test func releaseAllocReleasesEveryOpenLineInOneCommit() throws {
        var ledger = try AllocationTests.ledger(["PAR": 3, "LIL": 6, "LYS": 4])
        try ledger.accept(AllocationTests.allocate(12, .rank, alloc: "R"))
        #expect((1...3).map { ledger.reservation("R.\($0)")?.held } == [3, 6, 3])
        try ledger.accept(.sellReserved(reservation: "R.2", quantity: nil))
        let seq = ledger.nextSeq
        let events = try ledger.runAll(.releaseAllocation(alloc: "R"), ref: "undo").get()
        #expect(events.map(\.seq) == [seq, seq + 1] && events.allSatisfy { $0.ref == "undo" })
        #expect(events.map(\.body) == [.released(reservation: "R.1", sku: AllocationTests.sku, wh: "PAR", quantity: 3),
                                       .released(reservation: "R.3", sku: AllocationTests.sku, wh: "LYS", quantity: 3)])
        #expect(["R.1", "R.2", "R.3"].map { ledger.reservation($0)?.status } == [.released, .sold, .released])
        #expect(["PAR", "LIL", "LYS"].map { ledger.pair(AllocationTests.sku, $0).reserved } == [0, 0, 0])
        #expect(ledger.refusal(.releaseAllocation(alloc: "R")) == .state("allocation R has no open line"))
        #expect(ledger.refusal(.releaseAllocation(alloc: "nope")) == .notFound(.alloc, "nope"))
        expectChecked(ledger)
    }

    /// A plain reservation named like a line (`X.1`) is not an allocation's.
    @Test func releaseAllocReleasesOnlyLinesOfThatAllocation() throws {
        var ledger = try AllocationTests.ledger(["PAR": 3])
        try ledger.accept(.reserve(sku: AllocationTests.sku, wh: "PAR", quantity: 1, reservation: "X.1", ttlSeconds: nil))
        #expect(ledger.refusal(.releaseAllocation(alloc: "X")) == .notFound(.alloc, "X"))
        #expect(ledger.reservation("X.1")?.status == .open)
    }

    // MARK: Ledger.check of allocated events

    /// `Ledger.check` does not decide an `allocated` event again (its choice is a fact, P1): it asks
    /// `allocationFits`. Each event here would be refused by decide, and is accepted by check. None
    /// is folded: (a) would stop the fold (fenced above available). `stockctl import` refuses
    /// `allocated` events by name for now, so only a log written otherwise could carry them.
    @Test func checkGapsInAllocationFits() throws {
        var ledger = try AllocationTests.ledger(["PAR": 10, "LIL": 5])
        try ledger.allot(AllocationTests.sku, "PAR", "b2b", 10)
        for day in 1...9 { try ledger.expect(AllocationTests.sku, "LIL", 1, day: Int64(day), po: "PO-\(day)") }
        func forged(_ lines: [AllocationLine], requested: Int64, channel: String? = nil, moves: [LineMove] = []) -> Event {
            var decisions = Decisions(moves: moves, backorder: moves.isEmpty ? nil : .order)
            decisions.channel = channel
            return Event(seq: ledger.nextSeq, recordedAt: ledger.now, actor: 0,
                         body: .allocated(alloc: "F", sku: AllocationTests.sku, lines: lines, expiresAt: ledger.now.adding(seconds: 900),
                                          requested: requested, strategy: "fewest"),
                         decisions: decisions)
        }
        // Sanity: a line beyond its view is refused.
        #expect(Ledger.check(forged([AllocationLine(reservation: "F.1", wh: "LIL", quantity: 6, fence: 0, belowSafety: false)],
                                    requested: 6), in: ledger.state) != nil)
        // PAR's 10 are all fenced for b2b: a line of 10 that says 0 came from the fence.
        let allFenced = AllocationLine(reservation: "F.1", wh: "PAR", quantity: 10, fence: 0, belowSafety: false)
        #expect(Ledger.check(forged([allFenced], requested: 10, channel: "b2b"), in: ledger.state) != nil)
        // A line that holds nothing and awaits nothing.
        let empty = AllocationLine(reservation: "F.1", wh: "LIL", quantity: 0, fence: 0, belowSafety: false)
        #expect(Ledger.check(forged([empty], requested: 1), in: ledger.state) != nil)
        // Lines that sum to more than the request.
        let more = AllocationLine(reservation: "F.1", wh: "LIL", quantity: 5, fence: 0, belowSafety: false)
        #expect(Ledger.check(forged([more], requested: 1), in: ledger.state) != nil)
        // A line awaiting on more than Limits.awaitingLinesMax orders.
        let moves = (1...9).map { LineMove(reservation: "F.1", from: nil, to: .line(.order("PO-\($0)"), date: LedgerHarness.day(Int64($0))),
                                           quantity: 1) }
        #expect(Ledger.check(forged([empty], requested: 9, moves: moves), in: ledger.state) != nil)
    }

    /// Several ALLOCATEs decided one after the other (a batch) each see the ones before.
    @Test func eachAllocationSeesThePreviousOnes() throws {
        var ledger = try AllocationTests.ledger(["PAR": 3, "LIL": 6])
        try ledger.accept(AllocationTests.allocate(5, alloc: "a"))
        try ledger.accept(AllocationTests.allocate(3, alloc: "b"))
        #expect(ledger.refusal(AllocationTests.allocate(2)) == .unallocatable(available: 1, requested: 2,
                                                                               byWarehouse: [("PAR", 0), ("LIL", 1), ("LYS", 0)]))
        #expect(ledger.reservation("a.1")?.wh == "LIL" && ledger.reservation("b.1")?.wh == "PAR")
        expectChecked(ledger)
    }
}

extension Result {
    var isFailure: Bool { if case .failure = self { true } else { false } }
}
