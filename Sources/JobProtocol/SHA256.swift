/// SHA-256 (FIPS 180-4), enough for cache keys.
///
/// Written here rather than pulling in swift-crypto: the cache key is the only digest the pool
/// needs, and swift-crypto would add a minute to every clean CI build. Checked against the
/// FIPS test vectors in JobProtocolTests.
///
/// Every job that asks for the cache is hashed twice (producer and worker), so this is on the
/// hot path: blocks are read straight from the caller's bytes, the schedule lives in one stack
/// buffer, and nothing is allocated but the answer.
public enum SHA256 {
    private static let roundConstants: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    /// The digest as 64 lowercase hex characters.
    public static func hex<Bytes: Collection>(_ message: Bytes) -> String where Bytes.Element == UInt8 {
        let state = hash(message)
        return String(unsafeUninitializedCapacity: 64) { text in
            let digits: StaticString = "0123456789abcdef"
            state.withWords { words in
                digits.withUTF8Buffer { digits in
                    for (index, word) in words.enumerated() {
                        for nibble in 0..<8 {
                            text[index * 8 + nibble] = digits[Int(truncatingIfNeeded: word >> UInt32(28 - nibble * 4)) & 0xF]
                        }
                    }
                }
            }
            return 64
        }
    }

    public static func digest<Bytes: Collection>(_ message: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        let state = hash(message)
        return [UInt8](unsafeUninitializedCapacity: 32) { bytes, count in
            state.withWords { words in
                for (index, word) in words.enumerated() {
                    for byte in 0..<4 { bytes[index * 4 + byte] = UInt8(truncatingIfNeeded: word >> UInt32(24 - byte * 8)) }
                }
            }
            count = 32
        }
    }

    private static func hash<Bytes: Collection>(_ message: Bytes) -> State where Bytes.Element == UInt8 {
        if let state = message.withContiguousStorageIfAvailable({ hash(UnsafeRawBufferPointer($0)) }) { return state }
        return Array(message).withUnsafeBytes { hash($0) }
    }

    private static func hash(_ message: UnsafeRawBufferPointer) -> State {
        roundConstants.withUnsafeBufferPointer { k in hash(message, k: k) }
    }

    private static func hash(_ message: UnsafeRawBufferPointer, k: UnsafeBufferPointer<UInt32>) -> State {
        var state = State()
        let whole = message.count & ~63
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { schedule in
            var offset = 0
            while offset < whole {
                state.compress(UnsafeRawBufferPointer(rebasing: message[offset..<offset + 64]), schedule: schedule, k: k)
                offset += 64
            }
            // The tail, the 0x80 marker and the bit length: one block, or two when the tail
            // leaves fewer than 8 bytes for the length.
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { last in
                let tail = message.count - whole
                let blocks = tail < 56 ? 1 : 2
                last.initialize(repeating: 0)
                for index in 0..<tail { last[index] = message[whole + index] }
                last[tail] = 0x80
                let bits = UInt64(truncatingIfNeeded: message.count) &<< 3
                for byte in 0..<8 { last[blocks * 64 - 1 - byte] = UInt8(truncatingIfNeeded: bits >> UInt64(byte * 8)) }
                let padded = UnsafeRawBufferPointer(last)
                for block in 0..<blocks {
                    state.compress(UnsafeRawBufferPointer(rebasing: padded[block * 64..<block * 64 + 64]), schedule: schedule, k: k)
                }
            }
        }
        return state
    }

    private struct State {
        var a: UInt32 = 0x6a09e667, b: UInt32 = 0xbb67ae85, c: UInt32 = 0x3c6ef372, d: UInt32 = 0xa54ff53a
        var e: UInt32 = 0x510e527f, f: UInt32 = 0x9b05688c, g: UInt32 = 0x1f83d9ab, h: UInt32 = 0x5be0cd19

        /// Calls `body` with the eight words in order, without allocating.
        func withWords<R>(_ body: (UnsafeBufferPointer<UInt32>) -> R) -> R {
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 8) { words in
                (words[0], words[1], words[2], words[3]) = (a, b, c, d)
                (words[4], words[5], words[6], words[7]) = (e, f, g, h)
                return body(UnsafeBufferPointer(words))
            }
        }

        mutating func compress(_ block: UnsafeRawBufferPointer, schedule w: UnsafeMutableBufferPointer<UInt32>, k: UnsafeBufferPointer<UInt32>) {
            for i in 0..<16 { w[i] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)) }
            for i in 16..<64 {
                let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
                let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, h) = (self.a, self.b, self.c, self.d, self.e, self.f, self.g, self.h)
            for i in 0..<64 {
                let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                let choice = (e & f) ^ (~e & g)
                let t1 = h &+ s1 &+ choice &+ k[i] &+ w[i]
                let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                let majority = (a & b) ^ (a & c) ^ (b & c)
                (h, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ s0 &+ majority)
            }
            self.a &+= a; self.b &+= b; self.c &+= c; self.d &+= d
            self.e &+= e; self.f &+= f; self.g &+= g; self.h &+= h
        }
    }

    @inline(__always)
    private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
}
