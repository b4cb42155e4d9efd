import Foundation
import JobProtocol
import RedisClient
import Testing

@testable import WorkerPool

/// The guarded commit script's arguments, as the Lua script reads them.
@Suite struct GuardedCommitTests {
    static func text(_ argument: RedisArgument) -> String { String(decoding: argument.bytes, as: UTF8.self) }

    @Test func blocksAreCountedCommandByCommand() {
        let first = [RedisCommand("LPUSH", "cv:reply:j1", "answer"), RedisCommand("PUBLISH", "cv:replies", "answer")]
        let always = [RedisCommand("LREM", "cv:processing:tier1:w1", -1, "payload")]
        let arguments = GuardedCommit.arguments(ttlSeconds: 300, owner: "w1", first: first, always: always).map(Self.text)
        #expect(
            arguments == [
                "300", "w1",
                "2", "3", "LPUSH", "cv:reply:j1", "answer", "3", "PUBLISH", "cv:replies", "answer",
                "1", "4", "LREM", "cv:processing:tier1:w1", "-1", "payload",
                "0", "0", "0",
            ])
    }

    @Test func aGroupChildsRecordFollowsTheBlocks() {
        let record = GuardedCommit.GroupRecord(key: "cv:group:g1", child: "j1", outcome: "succeeded", result: Array("{}".utf8))
        let arguments = GuardedCommit.arguments(ttlSeconds: 60, owner: "w", first: [], always: [], group: record).map(Self.text)
        #expect(arguments == ["60", "w", "0", "0", "1", "cv:group:g1", "j1", "succeeded", "{}", "0", "0"])
    }

    @Test func theGuardLivesAtLeastASecond() {
        let arguments = GuardedCommit.arguments(ttlSeconds: 0, owner: "w", first: [], always: []).map(Self.text)
        #expect(arguments == ["1", "w", "0", "0", "0", "0", "0"])
    }

    /// A fallback hop's settlement and a leader's flight follow the group record, in that order.
    @Test func theBudgetSettlementAndTheFlightReleaseFollow() {
        let flight = GuardedCommit.FlightRelease(
            key: "cv:flight:d", jobID: "j1", promote: true, head: Array("{".utf8), tail: Array("}".utf8), savedUSD: 0.5)
        let arguments = GuardedCommit.arguments(
            ttlSeconds: 60, owner: "w", first: [], always: [], budget: ("cv", BudgetSettlement(jobID: "j1", costUSD: 0.0123)), flight: flight,
            keys: KeySpace(prefix: "cv"), replyTTLSeconds: 300, now: Date(timeIntervalSince1970: 1_796_237_970)
        ).map(Self.text)
        #expect(
            arguments == [
                "60", "w", "0", "0", "0",
                "1", "cv", "j1", "12300", "2026120218", "20261202",
                "1", "cv:flight:d", "j1", "1", "{", "}", "cv:replies", "300", "cv:reply:", "cv:queue:",
            ])
    }
}
