import LedgerCore
import LedgerClient
#if canImport(Glibc)
import Glibc
#endif

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
                let sku = RequestGenerator.skuName(random.below(skus)), wh = RequestGenerator.whName(random.below(warehouses))
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
