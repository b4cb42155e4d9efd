import Foundation
import JobProtocol
import Testing

/// Every number in a job is range-checked before a worker does arithmetic with it: a job with
/// `"deadline_at": 1e300` once trapped every worker that took it. Each extreme value, in each
/// numeric field, ends in a failure that names the field and keeps the job's id (so its
/// producer gets `invalid_job`), or in a job whose numbers are all in range.
@Suite struct JobLimitsTests {
    static let keys = KeySpace(prefix: "cervella")

    /// JSON spellings of the numbers that break naive code: huge, infinite (1e999 reads as
    /// infinity or fails), Int64's bounds and one past them, negative zero, subnormal.
    static let extremes = [
        "1e300", "-1e300", "1e999", "-1e999", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
        "-9223372036854775809", "-0.0", "-0", "0", "-1", "4.9e-324", "1.7e308", "18446744073709551616",
    ]

    /// Where a number can stand in a job, as a template with `#` for the number.
    static let fields: [(String, String)] = [
        ("created_at", #""created_at":#"#),
        ("deadline_at", #""deadline_at":#"#),
        ("attempt", #""attempt":#"#),
        ("params.max_tokens", #""params":{"max_tokens":#}"#),
        ("params.temperature", #""params":{"temperature":#}"#),
        ("params.top_p", #""params":{"top_p":#}"#),
        ("route.tier", #""route":{"tier":#,"model":"m","reason":"r"}"#),
        ("fallback_from.tier", #""fallback_from":{"tier":#,"model":"m","reason":"r","confidence":0.5,"latency_ms":5,"cost_usd":0}"#),
        ("fallback_from.confidence", #""fallback_from":{"tier":1,"model":"m","reason":"r","confidence":#,"latency_ms":5,"cost_usd":0}"#),
        ("fallback_from.latency_ms", #""fallback_from":{"tier":1,"model":"m","reason":"r","confidence":0.5,"latency_ms":#,"cost_usd":0}"#),
        ("fallback_from.cost_usd", #""fallback_from":{"tier":1,"model":"m","reason":"r","confidence":0.5,"latency_ms":5,"cost_usd":#}"#),
        ("recoveries[0].at", #""recoveries":[{"worker":"w","at":#,"queue":"tier1"}]"#),
        ("metadata", #""metadata":{"n":#}"#),
        ("v", #""v":#"#),
    ]

    static func payload(field template: String, number: String) -> [UInt8] {
        let base = template.hasPrefix(#""v":"#) ? "" : #""v":1,"#
        return Array(
            #"{\#(base)"id":"x-1","messages":[{"role":"user","content":"hi"}],\#(template.replacingOccurrences(of: "#", with: number))}"#.utf8)
    }

    @Test func extremeNumbersInEveryFieldAreRefusedByNameOrAreInRange() {
        var refused = 0
        for (field, template) in Self.fields {
            for number in Self.extremes {
                let bytes = Self.payload(field: template, number: number)
                switch JobDecoding.decode(bytes, keys: Self.keys) {
                case .success(let job):
                    // Accepted only when every number is one a worker can do arithmetic with.
                    #expect(JobLimits.violation(in: job) == nil, "\(field)=\(number)")
                    #expect(JobLimits.timestamps.contains(job.createdAt), "\(field)=\(number)")
                    _ = job.jsonBytes()
                case .failure(let failure):
                    refused += 1
                    #expect(failure.jobID == "x-1", "\(field)=\(number): \(failure.reason)")
                    #expect(failure.replyTo == "cervella:reply:x-1", "\(field)=\(number)")
                    let name = field.split(separator: ".").last.map(String.init) ?? field
                    #expect(failure.reason.contains(name.replacingOccurrences(of: "[0]", with: "")), "\(field)=\(number): \(failure.reason)")
                }
            }
        }
        #expect(refused > Self.fields.count * Self.extremes.count / 2)
    }

    @Test(arguments: [
        (#""deadline_at":1e300"#, "deadline_at"), (#""deadline_at":-1e300"#, "deadline_at"), (#""created_at":-1e300"#, "created_at"),
        (#""created_at":1767225600123"#, "created_at"), (#""params":{"temperature":1e999}"#, "temperature"),
        (#""params":{"max_tokens":0}"#, "max_tokens"), (#""params":{"max_tokens":-5}"#, "max_tokens"),
        (#""params":{"max_tokens":9223372036854775807}"#, "max_tokens"), (#""attempt":9223372036854775807"#, "attempt"),
        (#""params":{"top_p":1.5}"#, "top_p"), (#""params":{"temperature":-0.1}"#, "temperature"),
        (#""params":{"tools":["# + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "]}", "params.tools"),
        (
            #""params":{"response_format":{"type":"json_schema","json_schema":"# + String(repeating: "[", count: 40)
                + String(repeating: "]", count: 40) + "}}", "params.response_format"
        ),
        (#""params":{"tools":["# + Array(repeating: "{}", count: 129).joined(separator: ",") + "]}", "params.tools"),
        (#""group":"a:b""#, "group"), (#""group":"""#, "group"), (#""group":""# + String(repeating: "g", count: 201) + #"""#, "group"),
    ])
    func theIssuesPoisonNumbersAreRefused(fragment: String, field: String) throws {
        let bytes = Array(#"{"v":1,"id":"p-1","messages":[{"role":"user","content":"hi"}],\#(fragment)}"#.utf8)
        guard case .failure(let failure) = JobDecoding.decode(bytes, keys: Self.keys) else {
            Issue.record("\(fragment) was accepted")
            return
        }
        #expect(failure.reason.contains(field))
        #expect(failure.jobID == "p-1")
        #expect(failure.replyTo == "cervella:reply:p-1")
    }

    @Test func aRefusedGroupChildStillNamesItsGroup() {
        let bytes = Array(#"{"v":1,"id":"p-1","group":"g-1","deadline_at":1e300,"messages":[{"role":"user","content":"hi"}]}"#.utf8)
        guard case .failure(let failure) = JobDecoding.decode(bytes, keys: Self.keys) else {
            Issue.record("accepted")
            return
        }
        #expect(failure.group == "g-1", "so that the group counts the child as failed")
    }

    @Test func plausibleTimestampsAndBoundsAreAccepted() throws {
        let bytes = Array(
            #"{"v":1,"id":"ok","messages":[{"role":"user","content":"hi"}],"created_at":1767225600.5,"deadline_at":1767225660,"attempt":3,"params":{"max_tokens":1,"temperature":0,"top_p":1}}"#
                .utf8)
        guard case .success(let job) = JobDecoding.decode(bytes, keys: Self.keys) else {
            Issue.record("a job within every bound was refused")
            return
        }
        #expect(job.deadlineAt == 1767225660)
    }

    /// A metadata object 100,000 levels deep fails every tree parser, but its id is read from
    /// the top level, so its producer is still answered.
    @Test func aHundredThousandLevelsDeepMetadataStillGivesItsID() {
        let depth = 100_000
        let text =
            #"{"v":1,"id":"deep-1","messages":[{"role":"user","content":"x"}],"metadata":{"a":"# + String(repeating: "[", count: depth)
            + String(repeating: "]", count: depth) + "}}"
        guard case .failure(let failure) = JobDecoding.decode(Array(text.utf8), keys: Self.keys) else {
            Issue.record("a 100k-deep metadata was accepted")
            return
        }
        #expect(failure.jobID == "deep-1")
        #expect(failure.replyTo == "cervella:reply:deep-1")
    }

    @Test func nestingBeyondTheLimitIsRefusedByName() {
        let depth = JobLimits.maxNesting + 2
        let text =
            #"{"v":1,"id":"n-1","messages":[{"role":"user","content":"x"}],"metadata":{"a":"# + String(repeating: "[", count: depth)
            + String(repeating: "]", count: depth) + "}}"
        guard case .failure(let failure) = JobDecoding.decode(Array(text.utf8), keys: Self.keys) else {
            Issue.record("metadata nested \(depth) deep was accepted")
            return
        }
        #expect(failure.reason.contains("metadata"))
        #expect(failure.jobID == "n-1")
    }

    @Test func payloadsOverTheSizeLimitAreRefusedUnreadButAnswered() {
        var bytes = Array(#"{"v":1,"id":"big-1","messages":[{"role":"user","content":""#.utf8)
        bytes += [UInt8](repeating: UInt8(ascii: "a"), count: JobLimits.maxPayloadBytes)
        bytes += Array(#""}]}"#.utf8)
        guard case .failure(let failure) = JobDecoding.decode(bytes, keys: Self.keys) else {
            Issue.record("a payload over the limit was accepted")
            return
        }
        #expect(failure.reason.contains("bytes"))
        #expect(failure.jobID == "big-1")
    }
}

/// The fast reader and the Codable reference may disagree about whether a payload is a job,
/// but never about which job it is: every payload from which an id can be read gets that id,
/// on success and on failure.
@Suite struct JobIdentityAgreementTests {
    @Test func mutatedPayloadsNameTheSameJobOnEveryPath() {
        let iterations = ProcessInfo.processInfo.environment["CERVELLA_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 5_000
        var random = JobDecodingFuzzTests.Generator(state: 0x1D5)
        var failuresWithID = 0
        for _ in 0..<iterations {
            let payload = JobDecodingFuzzTests.mutate(JobDecodingFuzzTests.valid, using: &random)
            let reference = try? JSONDecoder().decode(Job.self, from: Data(payload))
            switch JobDecoding.decode(payload, keys: JobLimitsTests.keys) {
            case .success(let job):
                if let reference { #expect(reference.id == job.id) }
                if let fast = Job(json: payload) { #expect(fast.id == job.id) }
            case .failure(let failure):
                // Whatever the reference decoder could read as the id is the id the failure names.
                if let reference, failure.jobID != nil { #expect(reference.id == failure.jobID) }
                if failure.jobID != nil { failuresWithID += 1 }
            }
        }
        #expect(failuresWithID > 0)
    }

    @Test func topLevelStringsStepOverEverythingElse() {
        let text = #"{"metadata":{"id":"inner"},"x":[1,"\"id\"",{"a":[[]]}],"id":"outer","reply_to":null}"#
        let found = JSONValue.topLevelStrings(Array(text.utf8), wanted: ["id", "reply_to"])
        #expect(found["id"] == ["outer"])
        #expect(found["reply_to"] == [nil])
    }
}

@Suite struct SaturatingConversionTests {
    @Test(arguments: [
        (Double.nan, 0), (Double.infinity, Int.max), (-Double.infinity, Int.min), (1e300, Int.max), (-1e300, Int.min),
        (9.3e18, Int.max), (-9.3e18, Int.min), (-0.0, 0), (42.9, 42), (-42.9, -42),
    ])
    func doublesBecomeIntsWithoutTrapping(value: Double, expected: Int) {
        #expect(Int(saturating: value) == expected)
    }

    @Test func millisecondsNeverGoNegativeOrTrap() {
        #expect(Int.milliseconds(fromSeconds: 1e300) == Int.max)
        #expect(Int.milliseconds(fromSeconds: -1e300) == 0)
        #expect(Int.milliseconds(fromSeconds: .nan) == 0)
        #expect(Int.milliseconds(fromSeconds: 1.2345) == 1235)
    }

    @Test func durationsSaturate() {
        #expect(Duration.seconds(saturating: .infinity) == .seconds(31_536_000))
        #expect(Duration.seconds(saturating: -5) == .zero)
        #expect(Duration.seconds(saturating: .nan) == .zero)
        #expect(Duration.seconds(Int64.max).wholeMilliseconds == Int.max)
        #expect(Duration.milliseconds(1500).wholeMilliseconds == 1500)
    }
}
