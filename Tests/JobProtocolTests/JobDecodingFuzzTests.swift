import Foundation
import JobProtocol
import Testing

/// Property test: whatever bytes arrive on a queue, decoding ends in a job or in a failure
/// with a reason, and never crashes. Fixed seed in the suite; set CERVELLA_FUZZ_ITERATIONS
/// (for example 200000) for a longer run.
@Suite struct JobDecodingFuzzTests {
    static let keys = KeySpace(prefix: "cervella")
    static let valid = Array(
        #"{"v":1,"id":"fz-1","reply_to":"cervella:reply:fz-1","created_at":1767225600.123,"deadline_at":1767225630.5,"attempt":0,"messages":[{"role":"system","content":"Sei un assistente."},{"role":"user","content":[{"type":"text","text":"Riassumi ☕ questo"}]}],"params":{"max_tokens":100,"temperature":0.2,"stop":["\n\n"]},"tier_hint":"auto","force_model":null,"enable_fallback":true,"cache":true,"route":{"tier":1,"model":"qwen3-4b","reason":"simple_task_pattern_matched"},"fallback_from":null,"metadata":{"n":12345678901234567,"nested":{"a":[1,2.5,true,null]}}}"#
            .utf8)

    /// SplitMix64: tiny, fast, and the same sequence on every machine.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let fragments: [[UInt8]] =
        [
            "{", "}", "[", "]", ",", ":", "\"", "null", "true", "-1", "1e999", "\"v\":2", "\"messages\":{}", "\\u0000", "\\ud800",
            "\"id\":\"\"", "\"reply_to\":\"cervella:queue:tier1\"", "\"params\":\"x\"",
        ].map { Array($0.utf8) } + [[0xFF], [0xC3], [0xE2, 0x82], [0x00]]

    static func mutate(_ input: [UInt8], using random: inout Generator) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<5, using: &random) {
            case 0 where !bytes.isEmpty: bytes.remove(at: position)
            case 1: bytes.insert(UInt8.random(in: 0...255, using: &random), at: position)
            case 2: bytes.insert(contentsOf: fragments.randomElement(using: &random)!, at: position)
            case 3 where !bytes.isEmpty: bytes[position] = UInt8.random(in: 0...255, using: &random)
            default: bytes = Array(bytes.prefix(position))
            }
        }
        return bytes
    }

    @Test func mutatedJobsDecodeOrFailWithAReason() {
        let iterations = ProcessInfo.processInfo.environment["CERVELLA_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 5_000
        var random = Generator(state: 0xC0FFEE)
        var decoded = 0
        var rejected = 0
        for _ in 0..<iterations {
            let payload = Self.mutate(Self.valid, using: &random)
            switch JobDecoding.decode(payload, keys: Self.keys) {
            case .success(let job):
                decoded += 1
                #expect(!job.id.isEmpty)
                #expect(!job.messages.isEmpty)
                #expect(Self.keys.isReplyKey(job.replyTo))
                #expect((try? JSONEncoder().encode(job)) != nil)
            case .failure(let failure):
                rejected += 1
                #expect(!failure.reason.isEmpty)
                if let replyTo = failure.replyTo { #expect(Self.keys.isReplyKey(replyTo)) }
            }
        }
        // Both paths were exercised; a fuzzer that only ever hits one proves little.
        #expect(decoded > 0)
        #expect(rejected > iterations / 2)
    }

    static func text(_ string: String) -> [UInt8] { Array(string.utf8) }

    static let hostile: [(String, [UInt8])] = {
        let open = String(repeating: "[", count: 100_000)
        let close = String(repeating: "]", count: 100_000)
        let deep = "{\"v\":1,\"id\":\"d\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"metadata\":{\"a\":" + open + close + "}}"
        let huge = "{\"v\":1,\"id\":\"h\",\"messages\":[{\"role\":\"user\",\"content\":\"" + String(repeating: "a", count: 8_000_000) + "\"}]}"
        var cases: [(String, [UInt8])] = []
        cases.append(("deep nesting", text(deep)))
        cases.append(("huge string", text(huge)))
        cases.append(("unknown version", text(#"{"v":99,"id":"u","messages":[{"role":"user","content":"x"}]}"#)))
        cases.append(("wrong types", text(#"{"v":"1","id":7,"messages":[{"role":1,"content":null}]}"#)))
        cases.append(("empty", []))
        cases.append(("bare null", text("null")))
        cases.append(("array", text("[1,2,3]")))
        cases.append(("invalid UTF-8", [0x7B, 0x22, 0x76, 0x22, 0x3A, 0x31, 0xC3, 0x28, 0x7D]))
        return cases
    }()

    @Test func hostileInputsAreHandled() {
        for (name, payload) in Self.hostile {
            switch JobDecoding.decode(payload, keys: Self.keys) {
            case .success(let job):
                // Only the huge but valid job may decode.
                #expect(name == "huge string", "\(name) decoded as \(job.id)")
            case .failure(let failure):
                #expect(!failure.reason.isEmpty, "\(name)")
                if name == "deep nesting" { #expect(failure.jobID == "d") }
            }
        }
    }
}

/// The fast reader may decline anything, but what it accepts must be exactly what
/// JSONDecoder reads from the same bytes; and the fast writer must say what JSONEncoder says.
@Suite struct FastReaderAgreementTests {
    /// For random values of one contract: the fast writer's bytes read back as the same value
    /// through JSONDecoder and through the fast reader, JSONEncoder's bytes read back through
    /// the fast reader, and wherever the fast reader accepts mutated bytes, JSONDecoder reads the
    /// same value from them.
    static func agree<T: Codable & Equatable>(
        seed: UInt64, make: (inout RandomContracts) -> T, write: (T) -> [UInt8], fastRead: ([UInt8]) -> T?
    ) throws {
        let iterations = ProcessInfo.processInfo.environment["CERVELLA_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 2_000
        var values = RandomContracts(random: JobDecodingFuzzTests.Generator(state: seed))
        var mutations = JobDecodingFuzzTests.Generator(state: ~seed)
        var acceptedMutants = 0
        for _ in 0..<iterations {
            let value = make(&values)
            let written = write(value)
            let shown = String(decoding: written.prefix(400), as: UTF8.self)
            #expect((try? JSONDecoder().decode(T.self, from: Data(written))) == value, "JSONDecoder, written: \(shown)")
            #expect(fastRead(written) == value, "fast reader, written: \(shown)")
            let encoded = try JSONEncoder().encode(value)
            #expect(fastRead(Array(encoded)) == value, "fast reader, encoded: \(String(decoding: encoded.prefix(400), as: UTF8.self))")
            let mutant = JobDecodingFuzzTests.mutate(written, using: &mutations)
            if let fast = fastRead(mutant) {
                acceptedMutants += 1
                #expect(
                    (try? JSONDecoder().decode(T.self, from: Data(mutant))) == fast, "mutant: \(String(decoding: mutant.prefix(400), as: UTF8.self))")
            }
        }
        // A mutator whose every output the fast reader declines compares nothing.
        #expect(acceptedMutants > iterations / 100, "\(acceptedMutants) of \(iterations) mutants accepted")
    }

    @Test func randomJobsReadAndWriteTheSameOnEveryPath() throws {
        try Self.agree(seed: 0x10B, make: { $0.job() }, write: { $0.jsonBytes() }, fastRead: { Job(json: $0) })
    }

    @Test func randomResultsReadAndWriteTheSameOnEveryPath() throws {
        try Self.agree(seed: 0x2E5, make: { $0.result() }, write: { $0.jsonBytes() }, fastRead: { JobResult(json: $0) })
    }

    @Test func mutatedPayloadsReadTheSameBothWays() {
        let iterations = ProcessInfo.processInfo.environment["CERVELLA_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 5_000
        var random = JobDecodingFuzzTests.Generator(state: 0xFA57)
        var accepted = 0
        for index in 0..<iterations {
            let payload = index == 0 ? JobDecodingFuzzTests.valid : JobDecodingFuzzTests.mutate(JobDecodingFuzzTests.valid, using: &random)
            guard let fast = Job(json: payload) else { continue }
            accepted += 1
            let reference = try? JSONDecoder().decode(Job.self, from: Data(payload))
            #expect(reference == fast, "payload: \(String(decoding: payload, as: UTF8.self))")
        }
        #expect(accepted > 0)
    }

    @Test func writtenJobsAndResultsReadBackFast() throws {
        for job in JSONWriterTests.sampleJobs() {
            #expect(Job(json: job.jsonBytes()) == job)
            let reference = try JSONDecoder().decode(Job.self, from: JSONEncoder().encode(job))
            #expect(Job(json: Array(try JSONEncoder().encode(job))) == reference)
        }
        let metadata = ResultMetadata(
            modelUsed: "qwen3-4b", tier: 1, latencyMs: 120, queueMs: 3, confidence: nil, costUSD: 0.000123456,
            tokensInput: 12, tokensOutput: 40, tierDecisionReason: "queue_tier1", worker: "host:1", timestamp: "2026-11-27T12:00:00Z",
            reasoningChars: 9
        )
        for result in [
            JobResult.success(id: "a", response: "x\u{1F600}\"\\", metadata: metadata), .failure(id: "b", code: "invalid_job", message: "bad"),
        ] {
            #expect(JobResult(json: result.jsonBytes()) == result)
            #expect(try JobResult.decode(Array(JSONEncoder().encode(result))) == result)
        }
    }

    @Test func resultIDsArePeekedOnlyFromTheWritersLayout() {
        let result = JobResult.failure(id: "1a2b-xyz", code: "c", message: "m")
        #expect(JobResult.peekID(result.jsonBytes()) == "1a2b-xyz")
        #expect(JobResult.peekID(JobResult.failure(id: "q\"uote", code: "c", message: "m").jsonBytes()) == nil)
        #expect(JobResult.peekID(Array(#"{"id":"x","v":1}"#.utf8)) == nil)
        #expect(JobResult.peekID(Array(#"{"v":1,"id":"unterminated"#.utf8)) == nil)
    }

    @Test func escapesAndNumbersFollowTheReference() throws {
        let cases = [
            #"{"v":1,"id":"e\u00e9\ud83d\ude00\n\/","messages":[{"role":"user","content":"a\tb"}],"created_at":5}"#,
            #"{"v":1,"id":"x","messages":[{"role":"user","content":"hi"}],"created_at":1.5,"metadata":{"big":123456789012345678901234,"neg":-0.25}}"#,
            #"{"v":1,"id":"x","messages":[{"role":"user","content":"hi"}],"created_at":1,"attempt":1.0}"#,
            #"{"v":1,"id":"x","messages":[{"role":"user","content":"hi"}],"created_at":1,"id":"y"}"#,
        ]
        for text in cases {
            let bytes = Array(text.utf8)
            if let fast = Job(json: bytes) {
                #expect(fast == (try? JSONDecoder().decode(Job.self, from: Data(bytes))), "\(text)")
            }
        }
        #expect(Job(json: Array(cases[0].utf8))?.id == "eé😀\n/")
    }
}

@Suite struct SkippingParseTests {
    @Test func skippedKeysAreLeftOutAndTheRestIsIntact() {
        let text = #"{"a":1,"bytes":[1,[2,{"x":"}\"]"}]],"b":{"bytes":"s","c":[true,null]},"top_logprobs":{}}"#
        let parsed = JSONValue.parse(Array(text.utf8), skipping: ["bytes", "top_logprobs"])
        #expect(parsed == .object(["a": .integer(1), "b": .object(["c": .array([.bool(true), .null])])]))
    }

    @Test func unbalancedSkippedValuesAreRejected() {
        for text in [#"{"bytes":[1,2}"#, #"{"bytes":"open}"#, #"{"bytes":]}"#, #"{"bytes":"#] {
            #expect(JSONValue.parse(Array(text.utf8), skipping: ["bytes"]) == nil, "\(text)")
        }
    }
}
