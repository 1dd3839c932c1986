import Histogram
import LedgerClient
#if canImport(Glibc)
import Glibc
#endif

/// One connection of the load: builds requests of its mix, sends `pipeline` at a time, reads the
/// replies and records each request's latency (from the send of its window to its reply).
final class Worker {
    let index: Int
    let socket: String
    let pipeline: Int
    let mix: String
    let skus: Int
    let warehouses: Int
    let popularity: Popularity
    let deadline: Double
    let budget: Budget
    /// With `--rate`: the time between this worker's windows. Each window is scheduled, and its
    /// latency counts from the scheduled time, so a stall shows up in the percentiles (no
    /// coordinated omission).
    let intervalSeconds: Double?
    var random: SplitMix64

    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    var codes: [String: Int] = [:]
    var completed = 0
    /// Reservations this worker made and has not sold or released yet (the mixed load closes them).
    private var openReservations: [String] = []
    private var openTransfers: [String] = []
    private var counter = 0

    init(index: Int, socket: String, pipeline: Int, mix: String, skus: Int, warehouses: Int, popularity: Popularity,
         seed: UInt64, deadline: Double, budget: Budget, intervalSeconds: Double?) {
        self.intervalSeconds = intervalSeconds
        self.index = index; self.socket = socket; self.pipeline = pipeline; self.mix = mix; self.skus = skus
        self.warehouses = warehouses; self.popularity = popularity; self.deadline = deadline; self.budget = budget
        self.random = SplitMix64(state: seed)
    }

    static func skuName(_ index: Int) -> String { "SKU-\(index)" }
    static func whName(_ index: Int) -> String { "WH\(index)" }

    func run() {
        guard let client = try? LineClient(path: socket) else {
            codes["CONNECT", default: 0] += 1
            return
        }
        var window: [String] = []
        window.reserveCapacity(pipeline)
        // Spread the workers' first windows over one interval so they do not all fire at once.
        var scheduled = monotonicNow() + (intervalSeconds ?? 0) * Double(index % 97) / 97
        while monotonicNow() < deadline {
            if let intervalSeconds {
                let wait = scheduled - monotonicNow()
                if wait > 0 { usleep(useconds_t(wait * 1e6)) }
            }
            let granted = budget.take(pipeline)
            if granted == 0 { break }
            window.removeAll(keepingCapacity: true)
            var bytes: [UInt8] = []
            for _ in 0..<granted {
                let line = nextRequest()
                window.append(line)
                bytes.append(contentsOf: line.utf8)
                bytes.append(UInt8(ascii: "\n"))
            }
            let sent = intervalSeconds == nil ? monotonicNow() : scheduled
            if let intervalSeconds { scheduled += intervalSeconds }
            do {
                try client.sendRaw(bytes)
                for line in window {
                    if mix == "mixed" && (line.hasPrefix("RESERVE") || line.hasPrefix("TRANSFER")) {
                        let reply = try client.readReply()
                        note(line, reply)
                        record(reply.last!.hasPrefix("OK") ? "OK" : String(reply.last!.split(separator: " ")[1]), since: sent)
                    } else {
                        record(try client.skipReply() ?? "OK", since: sent)
                    }
                }
            } catch {
                codes["IO", default: 0] += 1
                return
            }
        }
    }

    private func record(_ code: String, since sent: Double) {
        histogram.record(UInt64(max(1, (monotonicNow() - sent) * 1e6)))
        codes[code, default: 0] += 1
        completed += 1
    }

    private func note(_ line: String, _ reply: [String]) {
        guard let status = reply.last, status.hasPrefix("OK") else { return }
        if line.hasPrefix("RESERVE"), let res = ReplyFields.value("res", in: status) { openReservations.append(res) }
        if line.hasPrefix("TRANSFER"), let xfer = ReplyFields.value("xfer", in: status) { openTransfers.append(xfer) }
    }

    private func pair() -> (String, String) {
        (Worker.skuName(popularity.pick(&random)), Worker.whName(random.below(warehouses)))
    }

    private func nextRequest() -> String {
        let (sku, wh) = pair()
        switch mix {
        case "sell": return "SELL sku=\(sku) wh=\(wh) qty=1"
        case "reserve": return "RESERVE sku=\(sku) wh=\(wh) qty=1 ttl=60s"
        case "stock": return "STOCK sku=\(sku)"
        default: return mixedRequest(sku: sku, wh: wh)
        }
    }

    /// A blend that looks like a shop and a warehouse at once: mostly reads, then sells, reservations
    /// that end in a sell or a release, receipts, transfers and their arrivals.
    private func mixedRequest(sku: String, wh: String) -> String {
        let roll = random.below(100)
        counter += 1
        switch roll {
        case 0..<40: return "STOCK sku=\(sku)"
        case 40..<60: return "SELL sku=\(sku) wh=\(wh) qty=1"
        case 60..<72: return "RESERVE sku=\(sku) wh=\(wh) qty=1 ttl=10m"
        case 72..<84:
            if let res = openReservations.popLast() {
                return roll < 80 ? "SELL res=\(res)" : "RELEASE res=\(res)"
            }
            return "SELL sku=\(sku) wh=\(wh) qty=1"
        case 84..<90: return "RECEIVE sku=\(sku) wh=\(wh) qty=\(1 + random.below(50)) ref=ASN-\(index)-\(counter)"
        case 90..<95:
            let to = Worker.whName((random.below(warehouses - 1 > 0 ? warehouses - 1 : 1) + 1 + Int(wh.dropFirst(2))!) % warehouses)
            if to == wh { return "STOCK sku=\(sku) wh=\(wh)" }
            return "TRANSFER sku=\(sku) from=\(wh) to=\(to) qty=1"
        default:
            if let xfer = openTransfers.popLast() { return "ARRIVE xfer=\(xfer)" }
            return "STOCK sku=\(sku) wh=\(wh)"
        }
    }
}

/// Appends receipts and sells, pipelined 256 deep, for `--fill`.
final class Filler {
    let index: Int, socket: String, skus: Int, warehouses: Int, budget: Budget, perClient: Int
    var random: SplitMix64

    init(index: Int, socket: String, skus: Int, warehouses: Int, budget: Budget, perClient: Int, seed: UInt64) {
        self.index = index; self.socket = socket; self.skus = skus; self.warehouses = warehouses
        self.budget = budget; self.perClient = perClient; self.random = SplitMix64(state: seed)
    }

    func run() {
        guard let client = try? LineClient(path: socket) else { return }
        while true {
            let granted = budget.take(256)
            if granted == 0 { return }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(granted * 48)
            for _ in 0..<granted {
                let sku = Worker.skuName(random.below(skus)), wh = Worker.whName(random.below(warehouses))
                let line = random.below(3) == 0 ? "SELL sku=\(sku) wh=\(wh) qty=1\n" : "RECEIVE sku=\(sku) wh=\(wh) qty=2\n"
                bytes.append(contentsOf: line.utf8)
            }
            do {
                try client.sendRaw(bytes)
                for _ in 0..<granted { _ = try client.skipReply() }
            } catch { return }
        }
    }
}
