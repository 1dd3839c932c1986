/// SplitMix64: a small, fast generator that gives the same sequence for the same seed on every
/// machine. For the load tool's data and the tests' random streams and damage, never for anything
/// that must be unpredictable.
public struct SplitMix64: RandomNumberGenerator {
    public var state: UInt64

    /// Starts from `state` as given.
    public init(state: UInt64) { self.state = state }

    /// Starts from a scrambled `seed`, so nearby seeds (0, 1, 2…) give unrelated streams.
    public init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// A number in 0..<bound.
    public mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
