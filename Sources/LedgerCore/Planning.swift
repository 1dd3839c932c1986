/// Demand-driven planning (FEATURES.md §1e): what SUGGEST, KANBAN and the demand spikes compute from the
/// log and the state. Nothing here writes: levels change only through POLICY (P3).
public enum Planning {
    /// `days` and `review` are whole days from 1 to this; so is a `lead=` (a decimal).
    public static let daysMax = 730
    /// A day on which available was 0 for at least this long is a stockout day, left out of demand.
    public static let stockoutMicrosecondsMin: Int64 = 12 * 3_600 * 1_000_000
    /// Lead times come from the last this-many purchase orders with a receipt...
    public static let leadOrdersMax = 20
    /// ...and need at least this many, else the next source is tried.
    public static let leadOrdersMin = 3
    /// Fewer counted days than this make `confidence=low`.
    public static let countedDaysMin = 14
    /// A spike needs at least this many units in the hour, whatever the baseline.
    public static let spikeUnitsMin: Int64 = 3
    /// The baseline of a spike is the mean hourly demand over this many days.
    public static let baselineDays: Int64 = 28
    /// The baseline is recomputed from the log when older than this.
    public static let baselineRefreshMicroseconds: Int64 = 3_600 * 1_000_000
    public static let hourMicroseconds: Int64 = 3_600 * 1_000_000
    public static let dayMicroseconds: Int64 = 86_400 * 1_000_000

    /// The inverse of the standard normal distribution at `p` (0 < p < 1), by Peter Acklam's rational
    /// approximation: relative error below 1.15e-9 over the whole range.
    public static func inverseNormal(_ p: Double) -> Double {
        precondition(p > 0 && p < 1, "inverseNormal needs 0 < p < 1")
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                 -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        let low = 0.02425
        func tail(_ q: Double) -> Double {
            (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        if p < low { return tail((-2 * naturalLog(p)).squareRoot()) }
        if p > 1 - low { return -tail((-2 * naturalLog(1 - p)).squareRoot()) }
        let q = p - 0.5, r = q * q
        return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    }

    /// ln(x) for x > 0, without Foundation (LedgerCore depends on nothing): x = m · 2^e with m in
    /// [1, 2), then ln(m) = 2·atanh((m − 1)/(m + 1)) by its series, which converges fast there.
    static func naturalLog(_ x: Double) -> Double {
        precondition(x > 0)
        let exponent = Double(x.exponent)
        let m = x.significand
        let s = (m - 1) / (m + 1), s2 = s * s
        var term = s, sum = 0.0, k = 1.0
        while true {
            let next = sum + term / k
            if next == sum { break }
            sum = next
            term *= s2
            k += 2
        }
        return 2 * sum + exponent * 0.693_147_180_559_945_3
    }

    public static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }

    /// The sample standard deviation (n − 1); 0 for fewer than two values.
    public static func sampleSD(_ values: [Double]) -> Double {
        guard values.count > 1 else { return 0 }
        let mean = mean(values)
        return (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)).squareRoot()
    }

    /// The 80th percentile by nearest rank: the smallest value at or above 80 % of them.
    public static func percentile80(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        return sorted[(sorted.count * 4 + 4) / 5 - 1]
    }

    /// Rounds a level up to whole units. A value within 1e-9 of a whole number is that number, so that
    /// 3 · (7/3) is 7, not 8.
    public static func roundUp(_ value: Double) -> Int64 {
        Swift.max(0, Int64((value - 1e-9).rounded(.up)))
    }

    /// Whether units sold in the last hour are a spike against the baseline (units per hour).
    public static func isSpike(rate: Int64, baseline: Double, ratio: Double) -> Bool {
        rate >= spikeUnitsMin && Double(rate) >= ratio * baseline
    }

    static func ceilDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        value <= 0 ? 0 : (value + divisor - 1) / divisor
    }

    static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        value >= 0 ? value / divisor : -((-value + divisor - 1) / divisor)
    }
}

/// What a SUGGEST asks for, with FEATURES.md's defaults.
public struct SuggestOptions: Equatable, Sendable {
    public var days = 56
    public var service = 0.95
    /// `lead=`: a lead time in days that replaces the measured one.
    public var leadDays: Double?
    public var review = 7
    public var factor = 1.0
    /// `channel=`: only the sales (and shipments) that drew on that channel.
    public var channel: String?
    /// `transfers=yes`: shipments out count as demand.
    public var transfers = false
    /// `net=yes`: returns are taken off demand.
    public var net = false
    /// `tz=±hh:mm`: days run from local midnight to midnight.
    public var utcOffsetSeconds: Int64 = 0

    public init(days: Int = 56, service: Double = 0.95, leadDays: Double? = nil, review: Int = 7, factor: Double = 1,
                channel: String? = nil, transfers: Bool = false, net: Bool = false, utcOffsetSeconds: Int64 = 0) {
        self.days = days; self.service = service; self.leadDays = leadDays; self.review = review; self.factor = factor
        self.channel = channel; self.transfers = transfers; self.net = net; self.utcOffsetSeconds = utcOffsetSeconds
    }
}

/// A lead time in days, and where it comes from.
public struct LeadTime: Equatable, Sendable {
    public enum Source: String, Sendable {
        /// Measured on the pair's own purchase orders, or on the sku's in every warehouse.
        case pair, sku
        /// `POLICY lead=`, or the SUGGEST's own `lead=`.
        case policy, request
    }
    public var days: Double
    public var sd: Double
    /// Purchase orders it was measured on (0 when typed in).
    public var count: Int
    public var source: Source
    /// The 80th percentile of how many days late the measured orders came against their first ETA.
    public var lateP80: Double?

    public init(days: Double, sd: Double, count: Int, source: Source, lateP80: Double? = nil) {
        self.days = days; self.sd = sd; self.count = count; self.source = source; self.lateP80 = lateP80
    }
}

/// The levels SUGGEST proposes.
public struct PlanningLevels: Equatable, Sendable {
    public var safety: Int64
    public var safetyBasic: Int64
    public var reorder: Int64
    public var max: Int64
    /// Only with `POLICY bin=`.
    public var cards: Int64?

    public init(safety: Int64, safetyBasic: Int64, reorder: Int64, max: Int64, cards: Int64?) {
        self.safety = safety; self.safetyBasic = safetyBasic; self.reorder = reorder; self.max = max; self.cards = cards
    }

    /// FEATURES.md §1e: `mean` and `sd` are daily demand, `lead` in days, `review` in days.
    public init(mean: Double, sd: Double, lead: LeadTime, z: Double, review: Int, bin: Int64) {
        let demandDuringLead = mean * lead.days
        safety = Planning.roundUp(z * (lead.days * sd * sd + mean * mean * lead.sd * lead.sd).squareRoot())
        safetyBasic = Planning.roundUp(z * sd * lead.days.squareRoot())
        reorder = Planning.roundUp(demandDuringLead) + safety
        max = reorder + Planning.roundUp(mean * Double(review))
        cards = bin > 0 ? Planning.roundUp((demandDuringLead + Double(safety)) / Double(bin)) + 1 : nil
    }
}

/// One `suggest` row.
public struct Suggestion: Equatable, Sendable {
    public var key: PairKey
    public var days: Int
    public var counted: Int
    public var stockoutDays: Int
    /// Units waitlisted on stockout days.
    public var lost: Int64
    /// Daily demand over the counted days, times `factor`.
    public var mean: Double
    public var sd: Double
    /// nil: no lead time at all, so no levels.
    public var lead: LeadTime?
    public var service: Double
    public var z: Double
    public var levels: PlanningLevels?
    /// The pair's levels now, to compare.
    public var current: PairState
    public var confident: Bool {
        counted >= Planning.countedDaysMin && (lead?.count ?? 0) >= Planning.leadOrdersMin
    }
}

/// Units sold per warehouse and channel since a time (CHANNELS `sold_7d`), from one sku's events
/// folded in log order. A sale's channel is the one it drew on (`SELL channel=`), or for `SELL res=`
/// the reservation's, looked up in the fold before the sale is applied.
public struct ChannelSales {
    public let since: Timestamp
    private var state = LedgerState()
    public private(set) var units: [PairKey: [String: Int64]] = [:]

    public init(since: Timestamp) { self.since = since }

    /// Folds the sku's next event (in log order).
    public mutating func add(_ event: Event) {
        if event.recordedAt >= since, case let .sold(sku, wh, quantity, reservation) = event.body,
           let channel = event.decisions.channel ?? reservation.flatMap({ state.reservation($0)?.channel }) {
            units[PairKey(sku: sku, wh: wh), default: [:]][channel, default: 0] += quantity
        }
        Ledger.apply(event, to: &state)
    }
}

/// One sku's log read for SUGGEST: every event of the sku is folded with the same `Ledger.apply` as live
/// state, in log order, and what planning needs is kept on the way — per warehouse, the units sold
/// and the time available was 0 on each day of the window, the units waitlisted, and every purchase
/// order's expected time, first ETA and receipts.
///
/// The window is the `days` whole days before the day `end` falls in (that day is not over yet), in
/// the time zone of `tz=`. Events after the window (up to `end`) are folded but counted nowhere.
public struct DemandLog {
    public let options: SuggestOptions
    /// The window's first microsecond and the one after its last, UTC.
    public let window: Range<Int64>
    public private(set) var state = LedgerState()
    private var tracks: [String: PairTrack] = [:]
    /// Units waitlisted for any warehouse of the sku, per day.
    private var anyWarehouseWaits: [Int64]
    private var orders: [String: OrderTrack] = [:]
    /// Purchase orders in the order they were expected.
    private var orderIDs: [String] = []

    public init(options: SuggestOptions, end: Timestamp) {
        self.options = options
        let offset = options.utcOffsetSeconds * 1_000_000
        let endDay = Planning.floorDivide(end.microseconds + offset, Planning.dayMicroseconds)
        let windowEnd = endDay * Planning.dayMicroseconds - offset
        window = windowEnd - Int64(options.days) * Planning.dayMicroseconds ..< windowEnd
        anyWarehouseWaits = Array(repeating: 0, count: options.days)
    }

    /// The window's day of a time, or nil outside it.
    private func day(_ time: Timestamp) -> Int? {
        window.contains(time.microseconds) ? Int((time.microseconds - window.lowerBound) / Planning.dayMicroseconds) : nil
    }

    /// Whether a sale or shipment counts for `channel=`: its channel is the one it drew on (`SELL
    /// channel=`), or for `SELL res=` the reservation's. A return names no channel.
    private func counts(_ event: Event) -> Bool {
        guard let channel = options.channel else { return true }
        if let drawn = event.decisions.channel { return drawn == channel }
        if case let .sold(_, _, _, reservation?) = event.body { return state.reservation(reservation)?.channel == channel }
        return false
    }

    /// Folds the sku's next event (in log order).
    public mutating func add(_ event: Event) {
        Ledger.apply(event, to: &state)
        let time = event.recordedAt, window = self.window, days = options.days
        var warehouses = event.body.warehouses
        for move in event.decisions.moves {
            if let wh = state.reservation(move.reservation)?.wh, !warehouses.contains(wh) { warehouses.append(wh) }
        }
        for wh in warehouses where wh != PairKey.anyWarehouse {
            let available = state.pairs[PairKey(sku: event.sku, wh: wh)]?.available ?? 0
            tracks[wh, default: PairTrack(days: days)].observe(available, at: time.microseconds, in: window)
        }
        let today = day(time)
        switch event.body {
        case let .sold(_, wh, quantity, _):
            if let today, counts(event) { tracks[wh]!.demand[today] += quantity }
        case let .returned(_, wh, quantity):
            if let today, options.net, counts(event) { tracks[wh]!.demand[today] -= quantity }
        case let .transferShipped(_, _, from, _, quantity, _):
            if let today, options.transfers, counts(event) { tracks[from]!.demand[today] += quantity }
        case let .waitlisted(_, wh, _, quantity, _):
            guard let today else { break }
            if let wh { tracks[wh, default: PairTrack(days: days)].waited[today] += quantity }
            else { anyWarehouseWaits[today] += quantity }
        case let .expected(po, _, wh, _, eta):
            if orders[po] == nil { orderIDs.append(po) }
            orders[po] = OrderTrack(wh: wh, expected: time.microseconds, eta: eta.microseconds)
        case let .received(_, wh, quantity, po?):
            if var order = orders[po], order.wh == wh {
                order.units += quantity
                order.leadUnitSeconds += Double(quantity) * Double(time.microseconds - order.expected) / 1e6
                order.lateUnitSeconds += Double(quantity) * Double(time.microseconds - order.eta) / 1e6
                orders[po] = order
            }
        default:
            break
        }
    }

    /// One suggestion per warehouse of the sku (only `wh` when given), sorted by warehouse.
    public func suggestions(wh: String? = nil) -> [Suggestion] {
        let z = Planning.inverseNormal(options.service)
        let keys = state.pairs.keys.filter { !$0.isAnyWarehouse && (wh == nil || $0.wh == wh) }.sorted()
        return keys.map { key in
            let pair = state.pairs[key]!
            var track = tracks[key.wh] ?? PairTrack(days: options.days)
            track.finish(in: window)
            var counted: [Double] = [], stockoutDays = 0, lost: Int64 = 0
            for day in 0..<options.days {
                if track.zero[day] >= Planning.stockoutMicrosecondsMin {
                    stockoutDays += 1
                    lost += track.waited[day] + anyWarehouseWaits[day]
                } else {
                    counted.append(Double(track.demand[day]))
                }
            }
            let mean = Planning.mean(counted) * options.factor, sd = Planning.sampleSD(counted) * options.factor
            let lead = leadTime(wh: key.wh, policySeconds: pair.leadSeconds)
            let levels = lead.map { PlanningLevels(mean: Swift.max(0, mean), sd: sd, lead: $0, z: z, review: options.review, bin: pair.bin) }
            return Suggestion(key: key, days: options.days, counted: counted.count, stockoutDays: stockoutDays, lost: lost,
                              mean: mean, sd: sd, lead: lead, service: options.service, z: z, levels: levels, current: pair)
        }
    }

    /// The request's `lead=`; else measured on the pair's last 20 orders with a receipt (at least 3);
    /// else on the sku's in every warehouse; else `POLICY lead=`; else none.
    func leadTime(wh: String, policySeconds: Int64) -> LeadTime? {
        if let days = options.leadDays { return LeadTime(days: days, sd: 0, count: 0, source: .request) }
        let received = orderIDs.compactMap { orders[$0] }.filter { $0.units > 0 }
        let own = received.filter { $0.wh == wh }.suffix(Planning.leadOrdersMax)
        if own.count >= Planning.leadOrdersMin { return measured(Array(own), .pair) }
        let all = received.suffix(Planning.leadOrdersMax)
        if all.count >= Planning.leadOrdersMin { return measured(Array(all), .sku) }
        if policySeconds > 0 { return LeadTime(days: Double(policySeconds) / 86_400, sd: 0, count: 0, source: .policy) }
        return nil
    }

    private func measured(_ orders: [OrderTrack], _ source: LeadTime.Source) -> LeadTime {
        let leads = orders.map { $0.leadUnitSeconds / Double($0.units) / 86_400 }
        let lateness = orders.map { $0.lateUnitSeconds / Double($0.units) / 86_400 }
        return LeadTime(days: Planning.mean(leads), sd: Planning.sampleSD(leads), count: orders.count, source: source,
                        lateP80: Planning.percentile80(lateness))
    }

    /// One warehouse's days in the window.
    struct PairTrack {
        /// Available now, and since when (Int64.min: since before the log).
        var available: Int64 = 0
        var since = Int64.min
        /// Per day: microseconds with nothing available, units of demand, units waitlisted.
        var zero: [Int64]
        var demand: [Int64]
        var waited: [Int64]

        init(days: Int) {
            zero = Array(repeating: 0, count: days)
            demand = zero
            waited = zero
        }

        mutating func observe(_ now: Int64, at time: Int64, in window: Range<Int64>) {
            guard now != available else { return }
            if available == 0 { addZero(from: since, to: time, in: window) }
            available = now
            since = time
        }

        /// Closes the stretch still open at the end of the window.
        mutating func finish(in window: Range<Int64>) {
            if available == 0 { addZero(from: since, to: window.upperBound, in: window) }
            since = window.upperBound
        }

        /// Adds the time from `start` to `end` (clipped to the window) to the days it falls on.
        private mutating func addZero(from start: Int64, to end: Int64, in window: Range<Int64>) {
            var from = Swift.max(start, window.lowerBound)
            let to = Swift.min(end, window.upperBound)
            while from < to {
                let day = Int((from - window.lowerBound) / Planning.dayMicroseconds)
                let dayEnd = window.lowerBound + Int64(day + 1) * Planning.dayMicroseconds
                let until = Swift.min(to, dayEnd)
                zero[day] += until - from
                from = until
            }
        }
    }

    /// A purchase order of the sku: where, when it was expected, its first ETA and its receipts (units,
    /// and the sums of units × seconds from the expected time and from the ETA to each receipt).
    struct OrderTrack {
        var wh: String
        var expected: Int64
        var eta: Int64
        var units: Int64 = 0
        var leadUnitSeconds = 0.0
        var lateUnitSeconds = 0.0
    }
}

extension PairState {
    /// `ceil(on_hand / bin)`: bins with anything in them (0 without a Kanban loop).
    public var onHandBins: Int64 { bin > 0 ? Planning.ceilDivide(onHand, bin) : 0 }
    /// `ceil((inbound + incoming) / bin)`: bins on their way.
    public var replenishingBins: Int64 { bin > 0 ? Planning.ceilDivide(inbound + incoming, bin) : 0 }
    /// Bins to order now: `max(0, cards − on_hand_bins − replenishing)`.
    public var kanbanSignal: Int64 { bin > 0 ? Swift.max(0, cards - onHandBins - replenishingBins) : 0 }

    /// Bins emptied going from `before` to this state: on hand fell across a multiple of `bin` (a bin
    /// is empty when its last unit goes, so 25 → 24 empties one bin of 24).
    public func binsEmptied(since before: PairState) -> Int64 {
        guard bin > 0, onHand < before.onHand else { return 0 }
        return Swift.max(0, Planning.ceilDivide(before.onHand, bin) - onHandBins)
    }
}

/// A sale the spike counters keep: when, how many units, and its seq.
public struct Sale: Equatable, Sendable {
    public var at: Int64
    public var units: Int64
    public var seq: UInt64
    public init(at: Int64, units: Int64, seq: UInt64) { self.at = at; self.units = units; self.seq = seq }
}

/// One sku's recent sales as the log tells them, for the spike baseline: per warehouse, units sold in
/// the 28 days up to `now`, and the sales of the last hour.
public struct SalesHistory: Sendable {
    /// Sales of a warehouse in every channel (`channel` nil), or in one channel.
    public struct Key: Hashable, Sendable {
        public var wh: String
        public var channel: String?
        public init(wh: String, channel: String?) { self.wh = wh; self.channel = channel }
    }

    public let now: Int64
    public private(set) var units: [Key: Int64] = [:]
    public private(set) var lastHour: [Key: [Sale]] = [:]
    /// The sku folded so far: a sale of a reservation counts for the reservation's channel.
    private var state = LedgerState()

    public init(now: Timestamp) { self.now = now.microseconds }

    /// The first time a sale counts in the baseline.
    public var start: Timestamp {
        Timestamp(microseconds: now - Planning.baselineDays * Planning.dayMicroseconds)
    }

    /// Folds the sku's next event (all of its events, in log order, from the first): a sale in the 28
    /// days counts for its warehouse, and for its channel when it has one (`SELL channel=`, or the
    /// channel of the reservation it sells).
    public mutating func add(_ event: Event) {
        defer { Ledger.apply(event, to: &state) }
        guard case let .sold(_, wh, quantity, reservation) = event.body else { return }
        let at = event.recordedAt.microseconds
        guard at >= start.microseconds, at <= now else { return }
        let channel = event.decisions.channel ?? reservation.flatMap { state.reservation($0)?.channel }
        for key in [Key(wh: wh, channel: nil)] + (channel.map { [Key(wh: wh, channel: $0)] } ?? []) {
            units[key, default: 0] += quantity
            if at > now - Planning.hourMicroseconds { lastHour[key, default: []].append(Sale(at: at, units: quantity, seq: event.seq)) }
        }
    }

    /// Mean units per hour over the 28 days.
    public func baseline(_ key: Key) -> Double {
        Double(units[key] ?? 0) / Double(Planning.baselineDays * 24)
    }
}
