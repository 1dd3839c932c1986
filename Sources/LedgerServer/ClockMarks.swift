import LedgerCore

/// Where the log stood by the wall clock while the clock was behind the newest event time.
///
/// Event times never go backwards, so while the clock reads earlier than the newest event (it was
/// set back), every event written carries that newest time: by their times alone, `at=<time>`
/// could not place them. The writer notes here, for each second of such a hold, the last seq it
/// published by then, and `at=<time>` takes the later of that and what the event times say.
/// Memory only: after a restart the events written in an earlier hold are placed by their times.
///
/// Guarantees: marks are in clock order; a mark `(clock, seq)` means every event up to `seq` was
/// published by `clock`, so an answer from the marks never shows an event written after the time.
struct ClockMarks: Sendable {
    private(set) var marks: [(clock: Timestamp, seq: UInt64)] = []

    /// Notes that the log was published up to `seq` by `clock`. A clock that went back again within
    /// the hold is skipped until it passes the last mark, so the marks stay in clock order.
    mutating func record(clock: Timestamp, seq: UInt64) {
        if let last = marks.last {
            guard clock >= last.clock else { return }
            if clock.microseconds / 1_000_000 == last.clock.microseconds / 1_000_000 {
                marks[marks.count - 1] = (clock, seq)
                return
            }
        }
        if marks.count >= Limits.clockMarksMax {
            // Every other mark goes, the newest stays: the marks left still hold, only coarser.
            marks = stride(from: (marks.count - 1) % 2, to: marks.count, by: 2).map { marks[$0] }
        }
        marks.append((clock, seq))
    }

    /// The last seq published at or before `time` by the clock, or nil when the marks start later.
    func seq(at time: Timestamp) -> UInt64? {
        var low = 0, high = marks.count
        while low < high {
            let middle = (low + high) / 2
            if marks[middle].clock <= time { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? nil : marks[low - 1].seq
    }
}
