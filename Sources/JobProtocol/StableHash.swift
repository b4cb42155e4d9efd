/// FNV-1a (64 bits) with a final mix: a hash that is the same in every process, run and
/// language, unlike Swift's seeded `Hasher`. For sticky draws (rollout, shadow sampling) and
/// stable splits (calibrate's held-out part).
public enum StableHash {
    public static func of(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        // Mix the high bits down: FNV's low bits are weak for short, similar ids.
        hash ^= hash >> 33
        hash &*= 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        return hash
    }
}
