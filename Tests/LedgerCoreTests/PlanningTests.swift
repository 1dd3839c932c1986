import LedgerCore
import Testing

/// FEATURES.md §1e against hand computations on a fixed log: demand mean and sd with stockout days left
/// out, lead time mean and sd from EXPECT → RECEIVE, z from the service level, the levels, KANBAN.
@Suite struct PlanningTests {
    /// 2026-11-23T00:00:00Z: the first day of the 7-day window of `log()`.
    static let windowStart = Timestamp(seconds: 1_795_392_000)
    static let day: Int64 = 86_400
    static let hour: Int64 = 3_600

    static func at(days: Double) -> Timestamp {
        windowStart.adding(seconds: Int64(days * Double(day)))
    }

    /// The fixed log. Before the window, three purchase orders of LAMP/PAR:
    ///
    /// | order | expected | ETA | receipts | lead (days) | late (days) |
    /// |---|---|---|---|---|---|
    /// | PO-1 | −30 d | −25 d | 10 at −26 d, 30 at −24 d | (10·4 + 30·6)/40 = 5.5 | (10·−1 + 30·1)/40 = 0.5 |
    /// | PO-2 | −20 d | −14 d | 20 at −12 d | 8 | 2 |
    /// | PO-3 | −10 d | −3 d | 50 at −3.5 d | 6.5 | −0.5 |
    ///
    /// μL = 20/3 = 6.6667, σL = sqrt(((−7/6)² + (4/3)² + (−1/6)²)/2) = 1.2583, late_p80 = 2 (the 3rd of 3).
    ///
    /// Then, in the window (UTC days 0–6 from 2026-11-23), PAR sells 5 (day 0, 10:00), 7 (day 1, 23:00),
    /// 3 (day 2), everything (195, day 3 01:00: nothing available until a receipt at 20:00, 19 h: a
    /// stockout day), 20 (day 4 02:00: nothing until 08:00, 6 h: counted), 4 (day 5, and 2 returned),
    /// 6 (day 6, and 3 shipped to LYS); and 1 on day 7, the day the read is made, which is not over.
    /// Counted: [5, 7, 3, 20, 4, 6]: μd = 7.5, σd = sqrt(197.5/5) = 6.2849. On day 3, sub-1 waits for 4
    /// at PAR and sub-2 for 2 at any warehouse: lost = 6.
    static func log() throws -> LedgerHarness {
        var ledger = LedgerHarness()
        func at(_ days: Double, _ command: Command) throws {
            ledger.now = PlanningTests.at(days: days)
            try ledger.accept(command)
        }
        let hour = 1.0 / 24
        try at(-30, .receive(sku: "LAMP", wh: "PAR", quantity: 100, purchaseOrder: nil))
        try at(-30, .expect(sku: "LAMP", wh: "PAR", quantity: 40, eta: PlanningTests.at(days: -25), purchaseOrder: "PO-1"))
        try at(-26, .receive(sku: "LAMP", wh: "PAR", quantity: 10, purchaseOrder: "PO-1"))
        try at(-24, .receive(sku: "LAMP", wh: "PAR", quantity: 30, purchaseOrder: "PO-1"))
        try at(-20, .expect(sku: "LAMP", wh: "PAR", quantity: 20, eta: PlanningTests.at(days: -14), purchaseOrder: "PO-2"))
        try at(-12, .receive(sku: "LAMP", wh: "PAR", quantity: 20, purchaseOrder: "PO-2"))
        try at(-10, .expect(sku: "LAMP", wh: "PAR", quantity: 50, eta: PlanningTests.at(days: -3), purchaseOrder: "PO-3"))
        try at(-3.5, .receive(sku: "LAMP", wh: "PAR", quantity: 50, purchaseOrder: "PO-3"))
        try at(10 * hour, .sell(sku: "LAMP", wh: "PAR", quantity: 5))
        try at(1 + 23 * hour, .sell(sku: "LAMP", wh: "PAR", quantity: 7))
        try at(2 + 10 * hour, .sell(sku: "LAMP", wh: "PAR", quantity: 3))
        try at(3 + 1 * hour, .sell(sku: "LAMP", wh: "PAR", quantity: 195))
        try at(3 + 5 * hour, .wait(sku: "LAMP", wh: "PAR", subscriber: "sub-1", quantity: 4, channel: nil))
        try at(3 + 6 * hour, .wait(sku: "LAMP", wh: nil, subscriber: "sub-2", quantity: 2, channel: nil))
        try at(3 + 20 * hour, .receive(sku: "LAMP", wh: "PAR", quantity: 20, purchaseOrder: nil))
        try at(4 + 2 * hour, .sell(sku: "LAMP", wh: "PAR", quantity: 20))
        try at(4 + 8 * hour, .receive(sku: "LAMP", wh: "PAR", quantity: 50, purchaseOrder: nil))
        try at(5 + 10 * hour, .sell(sku: "LAMP", wh: "PAR", quantity: 4))
        try at(5 + 11 * hour, .returnGoods(sku: "LAMP", wh: "PAR", quantity: 2))
        try at(6 + 10 * hour, .sell(sku: "LAMP", wh: "PAR", quantity: 6))
        try at(6 + 11 * hour, .transfer(sku: "LAMP", from: "PAR", to: "LYS", quantity: 3, transfer: "x1", eta: nil))
        try at(6 + 12 * hour, .policy(sku: "LAMP", wh: "PAR", safety: 10, reorder: 20, max: 60,
                                      promises: PromisePolicy(bin: 24, cards: 5)))
        try at(7 + 1 * hour, .sell(sku: "LAMP", wh: "PAR", quantity: 1))
        return ledger
    }

    /// SUGGEST of `log()` as of day 7, 10:00.
    static func suggest(_ options: SuggestOptions = SuggestOptions(days: 7), wh: String? = nil) throws -> [Suggestion] {
        var demand = DemandLog(options: options, end: at(days: 7 + 10.0 / 24))
        for event in try log().events { demand.add(event) }
        return demand.suggestions(wh: wh)
    }

    static func close(_ value: Double, _ expected: Double, within tolerance: Double = 5e-5) -> Bool {
        abs(value - expected) <= tolerance
    }

    @Test func demandLeavesStockoutDaysOut() throws {
        let rows = try PlanningTests.suggest()
        #expect(rows.map(\.key.wh) == ["LYS", "PAR"])
        let par = rows[1]
        #expect(par.days == 7 && par.counted == 6 && par.stockoutDays == 1)
        #expect(par.lost == 6)
        #expect(PlanningTests.close(par.mean, 7.5))
        #expect(PlanningTests.close(par.sd, (197.5 / 5).squareRoot()))
    }

    @Test func leadTimeIsMeasuredOnThePairsReceipts() throws {
        let lead = try #require(try PlanningTests.suggest(wh: "PAR").first?.lead)
        #expect(lead.source == .pair && lead.count == 3)
        #expect(PlanningTests.close(lead.days, 20.0 / 3))
        #expect(PlanningTests.close(lead.sd, 1.2583057))
        #expect(lead.lateP80 == 2)
    }

    /// z = 1.6448536 (service 0.95);
    /// safety = ceil(z · sqrt(μL·σd² + μd²·σL²)) = ceil(1.64485 · sqrt(263.33 + 89.06)) = ceil(30.88) = 31;
    /// safety_basic = ceil(z · σd · sqrt(μL)) = ceil(26.69) = 27; reorder = ceil(7.5 · 20/3) + 31 = 50 + 31;
    /// max = 81 + ceil(7.5 · 7) = 134; cards = ceil((50 + 31)/24) + 1 = 5.
    @Test func levelsFollowTheFormulas() throws {
        let par = try #require(try PlanningTests.suggest(wh: "PAR").first)
        #expect(PlanningTests.close(par.z, 1.6448536, within: 1e-6))
        #expect(par.levels == PlanningLevels(safety: 31, safetyBasic: 27, reorder: 81, max: 134, cards: 5))
        #expect(par.current.safety == 10 && par.current.reorder == 20 && par.current.max == 60)
        #expect(!par.confident, "6 counted days are fewer than 14")
    }

    /// LYS has had nothing available all week (its transfer has not arrived): every day is a stockout
    /// day, the any-warehouse waiter counts in its `lost`, and with no order of its own the lead time
    /// comes from the sku's orders in every warehouse.
    @Test func aWarehouseWithoutItsOwnOrdersUsesTheSkus() throws {
        let lys = try #require(try PlanningTests.suggest(wh: "LYS").first)
        #expect(lys.counted == 0 && lys.stockoutDays == 7 && lys.lost == 2)
        #expect(lys.mean == 0 && lys.sd == 0)
        #expect(lys.lead?.source == .sku && lys.lead?.count == 3)
        #expect(lys.levels == PlanningLevels(safety: 0, safetyBasic: 0, reorder: 0, max: 0, cards: nil))
    }

    /// net=yes: day 5 is 4 − 2 = 2; transfers=yes: day 6 is 6 + 3 = 9; factor=2 doubles μd and σd.
    @Test func netTransfersAndFactor() throws {
        let net = try #require(try PlanningTests.suggest(SuggestOptions(days: 7, net: true), wh: "PAR").first)
        #expect(PlanningTests.close(net.mean, 43.0 / 6) && PlanningTests.close(net.sd, 6.5548964))
        #expect(net.levels == PlanningLevels(safety: 32, safetyBasic: 28, reorder: 80, max: 131, cards: 5))
        let shipped = try #require(try PlanningTests.suggest(SuggestOptions(days: 7, transfers: true), wh: "PAR").first)
        #expect(PlanningTests.close(shipped.mean, 8) && PlanningTests.close(shipped.sd, 6.2609903))
        #expect(shipped.levels?.reorder == 86)
        let doubled = try #require(try PlanningTests.suggest(SuggestOptions(days: 7, factor: 2), wh: "PAR").first)
        #expect(PlanningTests.close(doubled.mean, 15) && PlanningTests.close(doubled.sd, 2 * (197.5 / 5).squareRoot()))
        #expect(doubled.levels == PlanningLevels(safety: 62, safetyBasic: 54, reorder: 162, max: 267, cards: 8))
    }

    /// tz=+02:00: the sale of day 1 at 23:00 UTC falls on local day 2: [5, 0, 10, 20, 4, 6].
    @Test func timeZoneShiftsTheDays() throws {
        let local = try #require(try PlanningTests.suggest(SuggestOptions(days: 7, utcOffsetSeconds: 7_200), wh: "PAR").first)
        #expect(local.counted == 6 && local.stockoutDays == 1 && local.lost == 6)
        #expect(PlanningTests.close(local.mean, 7.5) && PlanningTests.close(local.sd, (239.5 / 5).squareRoot()))
        #expect(local.levels == PlanningLevels(safety: 34, safetyBasic: 30, reorder: 84, max: 137, cards: 5))
    }

    /// `channel=` counts the sales that drew on the channel: `SELL channel=`, and `SELL res=` of a
    /// reservation made for it. Plain sales are no channel's.
    @Test func aChannelCountsItsOwnSales() throws {
        let par = try #require(try PlanningTests.suggest(SuggestOptions(days: 7, channel: "web"), wh: "PAR").first)
        #expect(par.counted == 6 && par.mean == 0 && par.sd == 0)
        var ledger = LedgerHarness()
        ledger.now = PlanningTests.at(days: -1)
        try ledger.accept(.receive(sku: "LAMP", wh: "PAR", quantity: 100, purchaseOrder: nil))
        ledger.now = PlanningTests.at(days: 2)
        try ledger.accept(.sell(sku: "LAMP", wh: "PAR", quantity: 2, channel: "web"))
        try ledger.accept(.reserve(sku: "LAMP", wh: "PAR", quantity: 4, reservation: "r-web", ttlSeconds: nil,
                                   terms: ReserveTerms(channel: "web")))
        try ledger.accept(.sellReserved(reservation: "r-web", quantity: 3))
        try ledger.accept(.reserve(sku: "LAMP", wh: "PAR", quantity: 1, reservation: "r-b2b", ttlSeconds: nil,
                                   terms: ReserveTerms(channel: "b2b")))
        try ledger.accept(.sellReserved(reservation: "r-b2b", quantity: nil))
        try ledger.accept(.sell(sku: "LAMP", wh: "PAR", quantity: 5))
        func mean(_ channel: String?) throws -> Double {
            var demand = DemandLog(options: SuggestOptions(days: 7, channel: channel), end: PlanningTests.at(days: 7))
            for event in ledger.events { demand.add(event) }
            let row = try #require(demand.suggestions().first)
            #expect(row.counted == 7)
            return row.mean
        }
        #expect(PlanningTests.close(try mean("web"), 5.0 / 7))
        #expect(PlanningTests.close(try mean("b2b"), 1.0 / 7))
        #expect(PlanningTests.close(try mean(nil), 11.0 / 7))
    }

    /// The window is the `days` whole days before the day of `end`: a longer window counts the days
    /// before the first sale (stock was there, nothing sold) as days of zero demand.
    @Test func theWindowEndsTheDayBefore() throws {
        let par = try #require(try PlanningTests.suggest(SuggestOptions(days: 10), wh: "PAR").first)
        #expect(par.days == 10 && par.counted == 9 && par.stockoutDays == 1)
        #expect(PlanningTests.close(par.mean, 45.0 / 9))
        var sameDay = DemandLog(options: SuggestOptions(days: 7), end: PlanningTests.at(days: 7))
        var nextDay = DemandLog(options: SuggestOptions(days: 7), end: PlanningTests.at(days: 8) .adding(seconds: -1))
        for event in try PlanningTests.log().events {
            sameDay.add(event)
            nextDay.add(event)
        }
        #expect(sameDay.window == nextDay.window)
        #expect(sameDay.suggestions(wh: "PAR") == nextDay.suggestions(wh: "PAR"))
    }

    /// Only the last 20 orders with a receipt count: leads of 1 … 25 days give the mean of 6 … 25.
    @Test func theLastTwentyOrdersCount() throws {
        var ledger = LedgerHarness()
        for lead in 1...25 {
            try ledger.accept(.expect(sku: "B", wh: "W", quantity: 1, eta: ledger.now.adding(seconds: Int64(lead) * PlanningTests.day),
                                      purchaseOrder: "PO-\(lead)"))
            ledger.advance(seconds: Int64(lead) * PlanningTests.day)
            try ledger.accept(.receive(sku: "B", wh: "W", quantity: 1, purchaseOrder: "PO-\(lead)"))
        }
        // One more order with no receipt: it does not count.
        try ledger.accept(.expect(sku: "B", wh: "W", quantity: 1, eta: ledger.now.adding(seconds: PlanningTests.day), purchaseOrder: "PO-open"))
        var demand = DemandLog(options: SuggestOptions(), end: ledger.now)
        for event in ledger.events { demand.add(event) }
        let lead = try #require(demand.suggestions().first?.lead)
        #expect(lead.count == 20 && lead.source == .pair)
        #expect(PlanningTests.close(lead.days, 15.5) && PlanningTests.close(lead.sd, (35.0).squareRoot()))
        #expect(lead.lateP80 == 0, "every order came on its ETA")
    }

    /// Fewer than 3 orders in the sku: `POLICY lead=`, else none (no levels); the request's `lead=` first.
    @Test func leadTimeFallsBackToPolicyThenNone() throws {
        var ledger = LedgerHarness()
        for number in 1...2 {
            try ledger.accept(.expect(sku: "C", wh: "X", quantity: 5, eta: ledger.now.adding(seconds: PlanningTests.day),
                                      purchaseOrder: "PO-\(number)"))
            ledger.advance(seconds: 2 * PlanningTests.day)
            try ledger.accept(.receive(sku: "C", wh: "X", quantity: 5, purchaseOrder: "PO-\(number)"))
        }
        try ledger.accept(.policy(sku: "C", wh: "X", safety: nil, reorder: nil, max: nil, promises: PromisePolicy(leadSeconds: 4 * 86_400)))
        try ledger.accept(.receive(sku: "C", wh: "Y", quantity: 1, purchaseOrder: nil))
        func rows(_ options: SuggestOptions) -> [Suggestion] {
            var demand = DemandLog(options: options, end: ledger.now)
            for event in ledger.events { demand.add(event) }
            return demand.suggestions()
        }
        let measured = rows(SuggestOptions())
        #expect(measured[0].lead == LeadTime(days: 4, sd: 0, count: 0, source: .policy))
        #expect(measured[0].levels != nil && !measured[0].confident)
        #expect(measured[1].lead == nil && measured[1].levels == nil)
        let given = rows(SuggestOptions(leadDays: 2.5))
        #expect(given.map(\.lead) == [LeadTime(days: 2.5, sd: 0, count: 0, source: .request),
                                      LeadTime(days: 2.5, sd: 0, count: 0, source: .request)])
    }

    @Test func planningLevelsAloneLeaveThePromiseBucketsHidden() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.policy(sku: "A", wh: "W", safety: nil, reorder: nil, max: nil,
                                  promises: PromisePolicy(bin: 12, cards: 3, leadSeconds: 864)))
        let pair = ledger.pair("A", "W")
        #expect(pair.bin == 12 && pair.cards == 3 && pair.leadSeconds == 864 && !pair.usesPromises)
        try ledger.accept(.policy(sku: "A", wh: "W", safety: nil, reorder: nil, max: nil, promises: PromisePolicy(bin: 0)))
        #expect(ledger.pair("A", "W").bin == 0 && ledger.pair("A", "W").cards == 3)
        try ledger.accept(.policy(sku: "A", wh: "W", safety: nil, reorder: nil, max: nil, promises: PromisePolicy(preorder: 5)))
        #expect(ledger.pair("A", "W").usesPromises)
    }

    // MARK: the pieces

    /// Acklam's approximation against the quantiles to 16 digits; its relative error is below 1.15e-9.
    @Test(arguments: [(0.5, 0.0), (0.8, 0.8416212335729143), (0.9, 1.2815515655446004), (0.95, 1.6448536269514722),
                      (0.975, 1.959963984540054), (0.99, 2.3263478740408408), (0.9999, 3.7190164854556804),
                      (0.01, -2.3263478740408408), (0.001, -3.090232306167813)])
    func inverseNormal(service: Double, z: Double) {
        #expect(abs(Planning.inverseNormal(service) - z) <= 1.2e-9 * max(1, abs(z)))
    }

    @Test func statistics() {
        #expect(Planning.mean([]) == 0 && Planning.sampleSD([3]) == 0)
        #expect(Planning.sampleSD([2, 4, 4, 4, 5, 5, 7, 9]) == (32.0 / 7).squareRoot())
        #expect(Planning.percentile80([3, 1, 2, 5, 4]) == 4 && Planning.percentile80([7]) == 7 && Planning.percentile80([]) == nil)
        #expect(Planning.percentile80([1, 2, 3, 4, 5, 6]) == 5)
        #expect(Planning.roundUp(3 * (7.0 / 3)) == 7 && Planning.roundUp(7.000001) == 8 && Planning.roundUp(-2) == 0)
    }

    /// on_hand_bins = ceil(on_hand / bin), replenishing = ceil((inbound + incoming) / bin),
    /// signal = max(0, cards − on_hand_bins − replenishing).
    @Test func kanbanSignals() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "K", wh: "W", quantity: 100, purchaseOrder: nil))
        try ledger.accept(.policy(sku: "K", wh: "W", safety: nil, reorder: nil, max: nil, promises: PromisePolicy(bin: 24, cards: 5)))
        try ledger.accept(.expect(sku: "K", wh: "W", quantity: 30, eta: ledger.now.adding(seconds: 86_400), purchaseOrder: "PO-K"))
        try ledger.accept(.receive(sku: "K", wh: "V", quantity: 10, purchaseOrder: nil))
        try ledger.accept(.transfer(sku: "K", from: "V", to: "W", quantity: 10, transfer: "xk", eta: nil))
        var pair = ledger.pair("K", "W")
        #expect([pair.onHandBins, pair.replenishingBins, pair.kanbanSignal] == [5, 2, 0])
        let before = pair
        try ledger.accept(.sell(sku: "K", wh: "W", quantity: 70))
        pair = ledger.pair("K", "W")
        #expect([pair.onHandBins, pair.replenishingBins, pair.kanbanSignal] == [2, 2, 1])
        #expect(pair.binsEmptied(since: before) == 3)
        #expect(ledger.pair("K", "V").kanbanSignal == 0, "no loop, no signal")
    }

    /// A bin is emptied when its last unit goes: 25 → 24 empties one bin of 24, 24 → 23 starts the next.
    @Test func binsEmptied() {
        var before = PairState(), after = PairState()
        before.bin = 24; after.bin = 24
        for (from, to, emptied) in [(25, 24, 1), (24, 23, 0), (49, 1, 2), (48, 0, 2), (10, 12, 0), (1, 0, 1)] as [(Int64, Int64, Int64)] {
            before.onHand = from; after.onHand = to
            #expect(after.binsEmptied(since: before) == emptied, "\(from) → \(to)")
        }
        after.bin = 0
        #expect(after.binsEmptied(since: before) == 0)
    }

    /// Spikes: at least 3 units in the hour and at least ratio × the baseline.
    @Test func spikes() {
        #expect(Planning.isSpike(rate: 3, baseline: 0, ratio: 5))
        #expect(!Planning.isSpike(rate: 2, baseline: 0, ratio: 5))
        #expect(!Planning.isSpike(rate: 12, baseline: 2.5, ratio: 5) && Planning.isSpike(rate: 13, baseline: 2.5, ratio: 5))
    }

    /// The baseline: units sold in the 28 days up to now over 672 hours; the last hour's sales kept apart.
    @Test func salesHistory() throws {
        var ledger = LedgerHarness()
        try ledger.accept(.receive(sku: "S", wh: "W", quantity: 1_000, purchaseOrder: nil))
        try ledger.accept(.sell(sku: "S", wh: "W", quantity: 500))  // more than 28 days before now: not counted
        ledger.advance(seconds: 29 * PlanningTests.day)
        try ledger.accept(.sell(sku: "S", wh: "W", quantity: 336))
        ledger.advance(seconds: 27 * PlanningTests.day)
        try ledger.accept(.sell(sku: "S", wh: "W", quantity: 4))
        try ledger.accept(.returnGoods(sku: "S", wh: "W", quantity: 4))
        ledger.advance(seconds: 1_800)
        // A web reservation sold, and a sale on web: the web counters count both, the pair's all three.
        try ledger.accept(.reserve(sku: "S", wh: "W", quantity: 2, reservation: "r", ttlSeconds: nil,
                                   terms: ReserveTerms(channel: "web")))
        try ledger.accept(.sellReserved(reservation: "r", quantity: nil))
        try ledger.accept(.sell(sku: "S", wh: "W", quantity: 1, channel: "web"))
        var history = SalesHistory(now: ledger.now)
        for event in ledger.events { history.add(event) }
        let all = SalesHistory.Key(wh: "W", channel: nil), web = SalesHistory.Key(wh: "W", channel: "web")
        #expect(history.baseline(all) == 343.0 / 672 && history.baseline(SalesHistory.Key(wh: "V", channel: nil)) == 0)
        #expect(history.baseline(web) == 3.0 / 672)
        #expect(history.lastHour[all]?.map(\.units) == [4, 2, 1] && history.lastHour[web]?.map(\.units) == [2, 1])
    }
}
