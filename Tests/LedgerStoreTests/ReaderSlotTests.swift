import Foundation
import LedgerStore
import Testing

/// Each thread keeps one renewed read transaction; a thread that ends must give its reader slot back,
/// or a process that churns threads runs out of LMDB's 512 slots.
@Suite struct ReaderSlotTests {
    @Test func threadsThatEndGiveTheirReaderSlotsBack() throws {
        try withTemporaryDirectory { path in
            let store = try LedgerStore(directory: path)
            defer { store.close() }
            let failures = FailureCount()
            // More short-lived threads than LMDB has reader slots (512), one after another.
            for _ in 0..<600 {
                let box = Unmanaged.passRetained(ReadJob(store: store, failures: failures)).toOpaque()
                var thread = pthread_t()
                #expect(pthread_create(&thread, nil, { raw in
                    let job = Unmanaged<ReadJob>.fromOpaque(raw!).takeRetainedValue()
                    do { _ = try job.store.read { $0.checkpointSeq } } catch { job.failures.add() }
                    return nil
                }, box) == 0)
                pthread_join(thread, nil)
            }
            #expect(failures.value == 0)
            #expect(try store.read { $0.checkpointSeq } == 0)
        }
    }
}

final class ReadJob {
    let store: LedgerStore
    let failures: FailureCount
    init(store: LedgerStore, failures: FailureCount) { self.store = store; self.failures = failures }
}

// Shared across threads safely: its stored state is touched only with `lock` held.
final class FailureCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
