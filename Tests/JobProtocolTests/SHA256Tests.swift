import JobProtocol
import Testing

/// FIPS 180-4 test vectors, plus messages whose length sits on the padding boundaries:
/// 55 bytes is the longest message whose length field fits in the same block, 56 needs a
/// second block, 64 fills a block exactly. Expected digests come from coreutils `sha256sum`.
@Suite struct SHA256Tests {
    @Test func emptyMessageMatchesFIPSVector() {
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func abcMatchesFIPSVector() {
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func twoBlock448BitMessageMatchesFIPSVector() {
        let message = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        #expect(message.utf8.count == 56)
        #expect(SHA256.hex(Array(message.utf8)) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func the896BitMessageMatchesFIPSVector() {
        let message = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
        #expect(SHA256.hex(Array(message.utf8)) == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    @Test(arguments: [
        (55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"),
        (56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"),
        (63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"),
        (64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"),
        (65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"),
        (119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"),
        (120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"),
    ])
    func messagesOnPaddingBoundariesHashCorrectly(length: Int, expected: String) {
        #expect(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: length)) == expected)
    }

    @Test func oneMillionLetterAMatchesFIPSVector() {
        let message = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA256.hex(message) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// The first byte-oriented vectors of NIST's CAVS file SHA256ShortMsg.rsp.
    @Test(
        arguments: [
            ([0xd3], "28969cdfa74a12c82f3bad960b0b000aca2ac329deea5c2328ebc6f2ba9802c1"),
            ([0x11, 0xaf], "5ca7133fa735326081558ac312c620eeca9970d1e70a4b95533d956f072d1f98"),
            ([0xb4, 0x19, 0x0e], "dff2e73091f6c05e528896c4c831b9448653dc2ff043528f6769437bc7b975c2"),
            ([0x74, 0xba, 0x25, 0x21], "b16aa56be3880d18cd41e68384cf1ec8c17680c45a02b1575dc1518923ae8b0e"),
        ] as [([UInt8], String)])
    func shortMessagesMatchNISTVectors(message: [UInt8], expected: String) {
        #expect(SHA256.hex(message) == expected)
    }

    /// Every length from 0 to 299 bytes (every tail a last block can have, over five blocks):
    /// the digest of their 300 digests, laid end to end. Expected value from Python's hashlib:
    /// `sha256(b"".join(sha256(bytes((i * 7 + 3) & 255 for i in range(n))).digest() for n in range(300)))`.
    @Test func everyTailLengthHashesCorrectly() {
        var digests: [UInt8] = []
        for length in 0..<300 {
            digests += SHA256.digest((0..<length).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) })
        }
        #expect(SHA256.hex(digests) == "7b074096cabb18dd0d1b468a173cb2f97f80e952525bca29542e606fd6d0753a")
    }

    @Test func collectionsWithoutContiguousStorageHashTheSame() {
        let letters = repeatElement(UInt8(ascii: "a"), count: 1_000_000)
        #expect(letters.withContiguousStorageIfAvailable { _ in true } == nil)
        #expect(SHA256.hex(letters) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func nonASCIITextIsHashedAsItsUTF8Bytes() {
        #expect(SHA256.hex(Array("caffè".utf8)) == "07f4328075815d92fe80ac02bdfdebcdae3e72964113e430e86f2ac4d4a455c5")
    }

    @Test func digestIsThirtyTwoBytesAndHexIsItsLowercaseSpelling() {
        let digest = SHA256.digest(Array("abc".utf8))
        #expect(digest.count == 32)
        #expect(digest.prefix(4) == [0xba, 0x78, 0x16, 0xbf])
        #expect(digest.last == 0xad)
        let hex = SHA256.hex(Array("abc".utf8))
        #expect(hex.count == 64)
        #expect(hex.allSatisfy { "0123456789abcdef".contains($0) })
    }

    @Test func sliceWithNonZeroStartIndexHashesOnlyItsOwnBytes() {
        let bytes = Array("xxabcxx".utf8)
        let slice = bytes[2..<5]
        #expect(slice.startIndex == 2)
        #expect(SHA256.hex(slice) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
