import Foundation
import JobProtocol
import Testing

private struct UnexpectedSuccess: Error {}

@Suite struct JobDecodingTests {
    static let keys = KeySpace()

    static func decode(_ json: String, keys: KeySpace = keys) -> Result<Job, JobDecoding.Failure> {
        JobDecoding.decode(Array(json.utf8), keys: keys)
    }

    static func failure(_ json: String, keys: KeySpace = keys, sourceLocation: SourceLocation = #_sourceLocation) throws -> JobDecoding.Failure {
        switch decode(json, keys: keys) {
        case .success(let job):
            Issue.record("expected a failure, decoded job \(job.id)", sourceLocation: sourceLocation)
            throw UnexpectedSuccess()
        case .failure(let failure):
            return failure
        }
    }

    static let message = #"[{"role":"user","content":"hi"}]"#

    // MARK: Success

    @Test func validJobDecodesAndKeepsItsReplyKey() throws {
        let job = try Self.decode(#"{"v":1,"id":"j1","reply_to":"cervella:reply:j1","messages":\#(Self.message)}"#).get()
        #expect(job.id == "j1")
        #expect(job.replyTo == "cervella:reply:j1")
        #expect(job.messages == [ChatMessage(role: "user", content: "hi")])
    }

    @Test func missingReplyToDefaultsToTheReplyKeyOfTheID() throws {
        let job = try Self.decode(#"{"v":1,"id":"j1","messages":\#(Self.message)}"#).get()
        #expect(job.replyTo == "cervella:reply:j1")
    }

    @Test func emptyReplyToDefaultsToTheReplyKeyOfTheID() throws {
        let job = try Self.decode(#"{"v":1,"id":"j1","reply_to":"","messages":\#(Self.message)}"#).get()
        #expect(job.replyTo == "cervella:reply:j1")
    }

    @Test func defaultReplyKeyUsesTheDeploymentPrefix() throws {
        let job = try Self.decode(#"{"v":1,"id":"j1","messages":\#(Self.message)}"#, keys: KeySpace(prefix: "t42")).get()
        #expect(job.replyTo == "t42:reply:j1")
    }

    @Test func idOfExactlyTwoHundredBytesIsAccepted() throws {
        let id = String(repeating: "è", count: 100)  // 200 UTF-8 bytes
        let job = try Self.decode(#"{"v":1,"id":"\#(id)","messages":\#(Self.message)}"#).get()
        #expect(job.id == id)
    }

    // MARK: Failures name the field

    @Test func missingMessagesIsReportedByName() throws {
        let failure = try Self.failure(#"{"v":1,"id":"j1"}"#)
        #expect(failure.reason.contains("missing"))
        #expect(failure.reason.contains("'messages'"))
        #expect(failure.jobID == "j1")
        #expect(failure.replyTo == "cervella:reply:j1")
    }

    @Test func missingIDIsReportedAndNoReplyKeyIsInvented() throws {
        let failure = try Self.failure(#"{"v":1,"messages":\#(Self.message)}"#)
        #expect(failure.reason.contains("'id'"))
        #expect(failure.jobID == nil)
        #expect(failure.replyTo == nil)
    }

    @Test func missingVersionIsReported() throws {
        let failure = try Self.failure(#"{"id":"j1","messages":\#(Self.message)}"#)
        #expect(failure.reason.contains("'v'"))
        #expect(failure.replyTo == "cervella:reply:j1")
    }

    @Test func wrongTypeNamesTheField() throws {
        let failure = try Self.failure(#"{"v":1,"id":"j1","attempt":"zero","messages":\#(Self.message)}"#)
        #expect(failure.reason.contains("'attempt'"))
        #expect(failure.reason.contains("wrong type"))
        #expect(failure.jobID == "j1")
        #expect(failure.replyTo == "cervella:reply:j1")
    }

    @Test func wrongTypeInsideAMessageNamesTheNestedPath() throws {
        let failure = try Self.failure(#"{"v":1,"id":"j1","messages":[{"role":"user","content":"ok"},{"role":"user","content":42}]}"#)
        #expect(failure.reason.contains("messages"))
        #expect(failure.reason.contains("[1]"))
        #expect(failure.reason.contains("content"))
    }

    @Test func missingRoleInsideAMessageNamesTheMessage() throws {
        let failure = try Self.failure(#"{"v":1,"id":"j1","messages":[{"content":"hi"}]}"#)
        #expect(failure.reason.contains("'role'"))
        #expect(failure.reason.contains("messages"))
    }

    @Test func nullRequiredFieldIsReportedAsNull() throws {
        let failure = try Self.failure(#"{"v":1,"id":"j1","messages":null}"#)
        #expect(failure.reason.contains("messages"))
    }

    /// A payload cut off after its id still names its job: the producer gets `invalid_job`
    /// instead of waiting for its deadline.
    @Test func invalidJSONStillGivesUpTheIDReadBeforeTheError() throws {
        let failure = try Self.failure(#"{"v":1,"id":"j1","messages":["#)
        #expect(failure.reason.contains("not valid JSON"))
        #expect(failure.jobID == "j1")
        #expect(failure.replyTo == "cervella:reply:j1")
    }

    @Test func garbageBeforeAnyIDIsReportedWithoutIdentity() throws {
        let failure = try Self.failure(#"{"v":1,"messages":[}"id":"j1"}"#)
        #expect(failure.jobID == nil)
        #expect(failure.replyTo == nil)
    }

    @Test func aRepeatedIDIsRefusedWithoutIdentity() throws {
        let failure = try Self.failure(#"{"v":1,"id":"j1","id":"j2","messages":\#(Self.message)}"#)
        #expect(failure.reason.contains("'id' appears more than once"))
        #expect(failure.jobID == nil)
        #expect(failure.replyTo == nil)
    }

    @Test func nonObjectPayloadIsRejected() throws {
        let failure = try Self.failure(#"[1,2,3]"#)
        #expect(failure.reason.contains("wrong type"))
        #expect(failure.replyTo == nil)
    }

    @Test func invalidUTF8IsReported() {
        var bytes = Array(#"{"v":1,"id":"j1","messages":[{"role":"user","content":"caff"#.utf8)
        bytes.append(0xE8)  // Latin-1 è, not UTF-8
        bytes += Array(#""}]}"#.utf8)
        guard case .failure(let failure) = JobDecoding.decode(bytes, keys: Self.keys) else {
            Issue.record("invalid UTF-8 was accepted")
            return
        }
        #expect(failure.reason.contains("UTF-8"))
        #expect(failure.replyTo == nil)
    }

    @Test func unsupportedVersionIsRefusedButStillAnswered() throws {
        let failure = try Self.failure(#"{"v":2,"id":"j1","messages":\#(Self.message)}"#)
        #expect(failure.reason.contains("v=2"))
        #expect(failure.jobID == "j1")
        #expect(failure.replyTo == "cervella:reply:j1")
    }

    @Test func emptyMessagesIsRefusedButStillAnswered() throws {
        let failure = try Self.failure(#"{"v":1,"id":"j1","messages":[]}"#)
        #expect(failure.reason.contains("'messages'"))
        #expect(failure.reason.contains("empty"))
        #expect(failure.jobID == "j1")
        #expect(failure.replyTo == "cervella:reply:j1")
    }

    @Test func emptyIDIsRefused() throws {
        let failure = try Self.failure(#"{"v":1,"id":"","messages":\#(Self.message)}"#)
        #expect(failure.reason.contains("'id'"))
        #expect(failure.replyTo == nil)
    }

    @Test func idLongerThanTwoHundredBytesIsRefused() throws {
        let id = String(repeating: "è", count: 101)  // 202 UTF-8 bytes, 101 characters
        let failure = try Self.failure(#"{"v":1,"id":"\#(id)","messages":\#(Self.message)}"#)
        #expect(failure.reason.contains("'id'"))
        #expect(failure.replyTo == nil)
    }

    // MARK: The reply key never leaves <prefix>:reply:

    @Test(arguments: ["other:reply:j1", "cervella:queue:tier1", "cervella:reply:", "cervella:dead", "cervellareply:j1", " cervella:reply:j1"])
    func replyToOutsideTheReplyPrefixIsRefused(replyTo: String) throws {
        let failure = try Self.failure(#"{"v":1,"id":"j1","reply_to":"\#(replyTo)","messages":\#(Self.message)}"#)
        #expect(failure.reason.contains("'reply_to'"))
        #expect(failure.reason.contains("cervella:reply:"))
        #expect(failure.jobID == "j1")
        #expect(failure.replyTo == nil)
    }

    @Test func replyToOfAnotherDeploymentIsRefused() throws {
        let failure = try Self.failure(
            #"{"v":1,"id":"j1","reply_to":"cervella:reply:j1","messages":\#(Self.message)}"#, keys: KeySpace(prefix: "staging"))
        #expect(failure.reason.contains("staging:reply:"))
        #expect(failure.replyTo == nil)
    }

    /// Payloads that fail for some other reason but name a bad reply key: the failure may carry
    /// the job id, but never a key the worker must not write.
    @Test(arguments: [
        #"{"v":2,"id":"j1","reply_to":"evil:key","messages":[{"role":"user","content":"hi"}]}"#,
        #"{"v":1,"id":"j1","reply_to":"evil:key"}"#,
        #"{"v":1,"id":"j1","reply_to":"evil:key","messages":[]}"#,
        #"{"v":1,"id":"j1","reply_to":"evil:key","attempt":"x","messages":[{"role":"user","content":"hi"}]}"#,
        #"{"v":1,"id":"j1","reply_to":"cervella:queue:tier1","messages":7}"#,
    ])
    func failuresNeverCarryAReplyKeyOutsideThePrefix(payload: String) throws {
        let failure = try Self.failure(payload)
        #expect(failure.replyTo == nil)
    }

    @Test func salvagedReplyKeyIsTheOneTheJobNamed() throws {
        let failure = try Self.failure(#"{"v":1,"id":"j1","reply_to":"cervella:reply:custom-7","attempt":"x","messages":\#(Self.message)}"#)
        #expect(failure.jobID == "j1")
        #expect(failure.replyTo == "cervella:reply:custom-7")
    }

    @Test func nullReplyToIsSalvagedFromTheID() throws {
        let failure = try Self.failure(#"{"v":2,"id":"j1","reply_to":null,"messages":\#(Self.message)}"#)
        #expect(failure.replyTo == "cervella:reply:j1")
    }

    /// Decoding treats `"reply_to":""` as absent (see `emptyReplyToDefaultsToTheReplyKeyOfTheID`),
    /// so a failing job with an empty reply_to should be answered on `<prefix>:reply:<id>` too.
    @Test func emptyReplyToIsSalvagedFromTheIDLikeAMissingOne() throws {
        let unsupported = try Self.failure(#"{"v":2,"id":"j1","reply_to":"","messages":\#(Self.message)}"#)
        let malformed = try Self.failure(#"{"v":1,"id":"j1","reply_to":"","attempt":"x","messages":\#(Self.message)}"#)
        #expect(unsupported.replyTo == "cervella:reply:j1")
        #expect(malformed.replyTo == "cervella:reply:j1")
    }

    @Test func salvageUsesTheDeploymentPrefix() throws {
        let failure = try Self.failure(#"{"v":9,"id":"j1","messages":\#(Self.message)}"#, keys: KeySpace(prefix: "t7"))
        #expect(failure.replyTo == "t7:reply:j1")
    }

    @Test func nonStringIDIsNotSalvaged() throws {
        let failure = try Self.failure(#"{"v":1,"id":42,"messages":\#(Self.message)}"#)
        #expect(failure.reason.contains("'id'"))
        #expect(failure.jobID == nil)
        #expect(failure.replyTo == nil)
    }
}
