import Testing

@testable import WorkerPool

/// The reaper's reading of `CLIENT LIST` and of a heartbeat, without Redis.
@Suite struct ReaperLivenessTests {
    static let line: Substring =
        "id=7 addr=127.0.0.1:51234 laddr=127.0.0.1:6379 fd=9 name=cervella/worker/commands/host:42 age=12 idle=0 flags=N db=0 cmd=client|list"

    @Test func fieldsOfAClientListLineAreReadByExactKey() {
        #expect(Reaper.field("name", in: Self.line) == "cervella/worker/commands/host:42")
        #expect(Reaper.field("age", in: Self.line) == "12")
        #expect(Reaper.field("id", in: Self.line) == "7")
        // `laddr` is not `addr`, and a missing field is nil.
        #expect(Reaper.field("addr", in: Self.line) == "127.0.0.1:51234")
        #expect(Reaper.field("user", in: Self.line) == nil)
        #expect(Reaper.field("name", in: "id=8 name= age=3") == "")
    }

    @Test func onlyHeartbeatsThatSaySoAreJudgedByConnections() {
        #expect(Reaper.namesItsConnections(Array(#"{"queues":"tier1","named_connections":true,"at":1}"#.utf8)))
        #expect(!Reaper.namesItsConnections(Array(#"{"queues":"tier1","in_flight":3,"at":1}"#.utf8)))
        #expect(!Reaper.namesItsConnections(Array(#"{"named_connections":false}"#.utf8)))
        #expect(!Reaper.namesItsConnections([]))
    }
}
