import Synchronization

/// A tiny SplitMix64 generator shared by all request handlers of one simulator.
///
/// The standard library's generator cannot be seeded, and tests that set an error rate
/// want the same sequence of injected failures on every run. SplitMix64 is small, fast
/// and good enough for picking "fail or not" and a jitter value. The state sits in a
/// `Mutex` because handlers run concurrently on the cooperative pool.
final class SeededRandom: Sendable {
    private let state: Mutex<UInt64>

    /// Creates a generator whose sequence is fully determined by `seed`.
    init(seed: UInt64) {
        self.state = Mutex(seed)
    }

    /// The next raw 64-bit value of the sequence.
    func next() -> UInt64 {
        state.withLock { value in
            value &+= 0x9E37_79B9_7F4A_7C15
            return Self.mix(value)
        }
    }

    /// A value uniformly drawn from `0..<1`.
    func nextUnit() -> Double {
        Double(next() >> 11) * (1.0 / Double(UInt64(1) << 53))
    }

    /// A value uniformly drawn from `0...upperBound` (returns 0 when the bound is not positive).
    func nextInt(upTo upperBound: Int) -> Int {
        guard upperBound > 0 else { return 0 }
        return Int(next() % UInt64(upperBound + 1))
    }

    /// The SplitMix64 finaliser; also used on its own to derive stable per-token noise
    /// from a hash without touching the shared state.
    static func mix(_ input: UInt64) -> UInt64 {
        var z = input
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A stable value in `0..<1` derived from `key` alone (no shared state involved).
    static func unit(_ key: UInt64) -> Double {
        Double(mix(key &+ 0x9E37_79B9_7F4A_7C15) >> 11) * (1.0 / Double(UInt64(1) << 53))
    }
}
