/// Capped exponential backoff between attempts of the relay loop: 100 ms, 200 ms, 400 ms, ... up to
/// the cap, with up to a quarter of jitter so relays of several sites restarting together (after
/// PostgreSQL comes back) do not all knock at once. Reset after progress.
struct Backoff {
    static let initialDelay: Duration = .milliseconds(100)
    let maxDelay: Duration
    private(set) var nextDelay: Duration = Backoff.initialDelay

    init(maxDelay: Duration) {
        precondition(maxDelay >= Backoff.initialDelay, "the cap is at least the first delay")
        self.maxDelay = maxDelay
    }

    /// The delay to wait now; the one after it is twice as long, up to the cap.
    mutating func next() -> Duration {
        let delay = nextDelay
        nextDelay = min(nextDelay * 2, maxDelay)
        let jitter = delay / 4 * Double.random(in: 0...1)
        return min(delay - jitter, maxDelay)
    }

    mutating func reset() {
        nextDelay = Backoff.initialDelay
    }
}
