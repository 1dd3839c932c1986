import Foundation
import LedgerCore
import LedgerStore
import Logging
@testable import LedgerServer

/// A real store in a temporary folder with a started writer on it (unless `start` is false);
/// `close()` stops the writer and removes the folder.
final class TestLedger {
    let directory = NSTemporaryDirectory() + "stockd-test-\(UUID().uuidString)"
    let store: LedgerStore
    private(set) var writer: LedgerWriter
    let policy: LedgerWriter.CheckpointPolicy
    let clock: @Sendable () -> Timestamp
    let logger: Logger

    init(policy: LedgerWriter.CheckpointPolicy = LedgerWriter.CheckpointPolicy(),
         clock: @escaping @Sendable () -> Timestamp = LedgerWriter.systemClock,
         logger: Logger = Logger(label: "test"), start: Bool = true) throws {
        store = try LedgerStore(directory: directory, mapSizeBytes: 64 << 20)
        self.policy = policy
        self.clock = clock
        self.logger = logger
        writer = try LedgerWriter(store: store, logger: logger, checkpointPolicy: policy, clock: clock)
        if start { writer.start() }
    }

    /// Stops the writer and starts a new one on the same store, as a restart of the daemon would.
    func restart() throws {
        writer.shutdown()
        writer = try LedgerWriter(store: store, logger: logger, checkpointPolicy: policy, clock: clock)
        writer.start()
    }

    /// The read service the daemon would build on this writer.
    func reads() -> ReadService {
        let writer = self.writer
        return ReadService(store: store, view: writer.view, version: "test", startedAt: Timestamp(microseconds: 0),
                           clock: clock, connectionCount: { 0 },
                           writerStatistics: { writer.currentStatistics() })
    }

    /// Submits works and waits for their replies.
    func submit(_ works: [LedgerWriter.Work]) -> [[String]] {
        let done = DispatchSemaphore(value: 0)
        let replies = ReplyBox()
        writer.submit(works, actor: 1_000) { lines in
            replies.set(lines)
            done.signal()
        }
        done.wait()
        return replies.value
    }

    func close() {
        writer.shutdown()
        store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

// Shared across threads safely: written by the writer thread before it signals the semaphore the test
// thread waits on, and read only after that wait.
final class ReplyBox: @unchecked Sendable {
    var value: [[String]] = []
    func set(_ lines: [[String]]) { value = lines }
}
