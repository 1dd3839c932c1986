import Foundation
import LedgerClient
import Testing

/// Many clients at once: no oversell, and writes share commits.
@Suite("concurrency end to end", .serialized)
struct ConcurrencyTests {
    @Test("many threads selling the same sku never oversell")
    func noOversell() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let received: Int64 = 2_000
        _ = try daemon.request("RECEIVE sku=HOT wh=W qty=\(received)")
        let sold = Counter()
        let group = DispatchGroup()
        let socketPath = daemon.socketPath  // a String crosses threads; the process object stays here
        for thread in 0..<32 {
            DispatchQueue.global().async(group: group) {
                guard let c = try? LineClient(path: socketPath) else { return }
                let quantity = Int64(thread % 3 + 1)
                while let reply = try? c.request("SELL sku=HOT wh=W qty=\(quantity)") {
                    if reply.status.hasPrefix("OK") { sold.add(quantity) } else { return }
                }
            }
        }
        group.wait()
        let stock = try daemon.request("STOCK sku=HOT wh=W")
        #expect(sold.value <= received)
        #expect(number("on_hand", stock[0]) == received - sold.value)
        #expect((number("available", stock[0]) ?? -1) >= 0 && (number("available", stock[0]) ?? 9) < 3)
    }

    @Test("64 concurrent clients share commits (group commit)")
    func groupCommit() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        _ = try daemon.request("RECEIVE sku=G wh=W qty=1000000")
        let before = try daemon.request("INFO")[0]
        let group = DispatchGroup()
        let acknowledged = Counter()
        let socketPath = daemon.socketPath  // a String crosses threads; the process object stays here
        for _ in 0..<64 {
            DispatchQueue.global().async(group: group) {
                guard let c = try? LineClient(path: socketPath) else { return }
                for _ in 0..<100 {
                    if (try? c.request("SELL sku=G wh=W qty=1"))?.status.hasPrefix("OK") == true { acknowledged.add(1) }
                }
            }
        }
        group.wait()
        let after = try daemon.request("INFO")[0]
        let commits = (number("commits", after) ?? 0) - (number("commits", before) ?? 0)
        let writes = (number("writes_committed", after) ?? 0) - (number("writes_committed", before) ?? 0)
        #expect(acknowledged.value == 6_400 && writes == 6_400)
        #expect(commits < writes, "every write had its own commit")
        print("group commit: 64 clients, \(writes) writes in \(commits) commits = \(Double(writes) / Double(max(commits, 1))) writes/commit")
    }
}

// Shared across threads safely: its stored state is touched only with `lock` held.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var total: Int64 = 0
    func add(_ amount: Int64) { lock.lock(); total += amount; lock.unlock() }
    var value: Int64 { lock.lock(); defer { lock.unlock() }; return total }
}
