import CervellaTestSupport
import Foundation
import JobProtocol
import Producer
import ProviderSimulator
import RedisClient
import Settings
import Testing

/// Job groups: fan-out in one script, fan-in on one key, counted once per child, ended once,
/// and the rest cancelled when the group is done early.
@Suite(.timeLimit(.minutes(5))) struct GroupTests {
    /// `count` children on tier 1, each answered after `latency` ms by the simulator.
    static func children(_ pool: TestPool, count: Int, latency: Int = 0, prefix: String = "Summarise item") throws -> [Job] {
        try (0..<count).map { index in
            let directive = latency > 0 ? "\n#sim latency_ms=\(latency)" : ""
            return try pool.job("\(prefix) \(index): queues hold work.\(directive)", tier: 1, cache: false)
        }
    }

    @Test func aGroupWaitingForAllGetsEveryResultInOrderOnOneKey() async throws {
        try await withTestPool { pool in
            let group = try pool.producer.makeGroup(try Self.children(pool, count: 5), timeoutSeconds: 60)
            try await pool.producer.submitGroup(group)
            let report = try await pool.producer.awaitGroup(group)
            #expect(report.ok == true)
            #expect(report.state == "done")
            #expect(report.reason == "all_ended")
            #expect(report.total == 5 && report.succeeded == 5 && report.failed == 0 && report.pending == 0)
            #expect(report.results.map(\.id) == group.children.map(\.id), "results in the group's order")
            #expect(report.results.allSatisfy { $0.ok && !($0.response ?? "").isEmpty })
            // Each child's own reply is there too, for a caller that waits on one child.
            let own = try await pool.producer.waitForResult(group.children[2])
            #expect(own.ok)
            // The group's reply key holds exactly one result.
            #expect(try await pool.redis.send("LLEN", RedisArgument(pool.keys.reply(group.id))).integer == 0, "awaitGroup took the one result")
            let status = try #require(try await pool.producer.groupStatus(group.id))
            #expect(status.state == "done" && status.succeeded == 5)
        }
    }

    @Test func firstNEndsTheGroupAtTheNthAnswerAndCancelsTheRestWithoutCallingAModel() async throws {
        try await withTestPool(configure: { $0.worker.concurrency = 4 }) { pool in
            let group = try pool.producer.makeGroup(
                try Self.children(pool, count: 50, latency: 150), spec: GroupSpec(wait: .firstN(10)), timeoutSeconds: 120)
            try await pool.producer.submitGroup(group)
            let report = try await pool.producer.awaitGroup(group)
            #expect(report.ok == true)
            #expect(report.reason == "first_n_reached")
            #expect(report.succeeded == 10)
            #expect(report.results.filter(\.ok).count == 10)
            #expect(report.cancelledChildren.count == 50 - report.results.count)
            #expect(report.cancelledChildren.count >= 30, "most children had not started")
            // Every child still ends (queued ones as cancelled, without a provider call).
            let ended = await eventually(timeout: .seconds(60)) {
                let status = try? await pool.producer.groupStatus(group.id)
                return (status?.succeeded ?? 0) + (status?.failed ?? 0) + (status?.cancelled ?? 0) == 50
            }
            #expect(ended)
            let status = try #require(try await pool.producer.groupStatus(group.id))
            #expect(status.state == "done" && status.reason == "first_n_reached")
            // Beyond the ten, only children in flight around the group's end (four slots, which
            // may each have taken one more as it ended) were sent to a model.
            #expect(pool.simulator.stats.total <= 10 + 2 * 4)
            #expect(status.cancelled >= 30)
            let skipped = try await pool.producer.waitForResult(try #require(group.children.last))
            #expect(skipped.error?.code == "cancelled")
        }
    }

    @Test func aChildFinishedTwiceIsCountedOnce() async throws {
        try await withTestPool(workers: 0) { pool in
            let group = try pool.producer.makeGroup(try Self.children(pool, count: 2), timeoutSeconds: 60)
            try await pool.producer.submitGroup(group)
            // The same child taken twice (a worker that only looked dead, and the one the reaper
            // gave it to): push a copy of its payload so that two workers finish it.
            let child = group.children[0]
            _ = try await pool.redis.send("LPUSH", RedisArgument(pool.keys.queue(.tier1)), RedisArgument(bytes: child.jsonBytes()))
            try await pool.startWorkers(2)
            let report = try await pool.producer.awaitGroup(group)
            #expect(report.ok == true)
            #expect(report.total == 2 && report.succeeded == 2)
            #expect(report.results.map(\.id) == group.children.map(\.id))
            try await Task.sleep(for: .milliseconds(300))
            let members = try await pool.redis.send("SCARD", RedisArgument(pool.keys.group(group.id) + ":succeeded")).integer
            #expect(members == 2)
            #expect(try await pool.redis.send("LLEN", RedisArgument(pool.keys.reply(group.id))).integer == 0, "the group ended once")
        }
    }

    @Test func failFastEndsTheGroupAtTheFirstFailure() async throws {
        try await withTestPool(configure: { $0.fallback.enabled = false }) { pool in
            var children = try Self.children(pool, count: 6, latency: 300)
            children[0] = try pool.job("Broken child.\n#sim status=400", tier: 1, cache: false)
            let group = try pool.producer.makeGroup(children, spec: GroupSpec(wait: .all, onFailure: .failFast), timeoutSeconds: 60)
            try await pool.producer.submitGroup(group)
            let report = try await pool.producer.awaitGroup(group)
            #expect(report.ok == false)
            #expect(report.reason == "child_failed")
            #expect(report.error?.code == "group_failed")
            #expect(report.error?.message.contains(children[0].id) == true)
            #expect(report.failed == 1)
            #expect(!report.cancelledChildren.isEmpty)
        }
    }

    @Test func aCancelledGroupEndsAtOnceAndItsQueuedChildrenAreNeverSentToAModel() async throws {
        try await withTestPool(workers: 0) { pool in
            let group = try pool.producer.makeGroup(try Self.children(pool, count: 8), timeoutSeconds: 60)
            try await pool.producer.submitGroup(group)
            #expect(try await pool.producer.cancelGroup(group.id) == .cancelled)
            #expect(try await pool.producer.cancelGroup(group.id) == .alreadyEnded)
            #expect(try await pool.producer.cancelGroup("no-such-group") == .unknown)
            let report = try await pool.producer.awaitGroup(group)
            #expect(report.ok == false && report.reason == "cancelled" && report.error?.code == "cancelled")
            #expect(report.cancelledChildren == group.children.map(\.id))
            try await pool.startWorkers(1)
            for child in group.children {
                let result = try await pool.producer.waitForResult(child)
                #expect(result.error?.code == "cancelled")
            }
            #expect(pool.simulator.stats.total == 0)
        }
    }

    @Test func aGroupIsEnqueuedWholeOrNotAtAll() async throws {
        try await withTestPool(workers: 0) { pool in
            let group = try pool.producer.makeGroup(try Self.children(pool, count: 3), timeoutSeconds: 60)
            try await pool.producer.submitGroup(group)
            // The same group again: refused, and nothing more is queued.
            await #expect(throws: (any Error).self) { try await pool.producer.submitGroup(group) }
            #expect(try await pool.redis.send("LLEN", RedisArgument(pool.keys.queue(.tier1Bulk))).integer == 3)
            #expect(throws: GroupError.self) { try pool.producer.makeGroup([], timeoutSeconds: 60) }
            let three = try Self.children(pool, count: 3)
            #expect(throws: GroupError.self) { try pool.producer.makeGroup(three, spec: GroupSpec(wait: .firstN(4))) }
            #expect(throws: GroupError.self) { try pool.producer.makeGroup(three, spec: GroupSpec(wait: .firstN(0))) }
        }
    }
}

/// Groups through the gateway: the HTTP routes, their refusals, and the Python coordinator of
/// docs/PROTOCOL.md.
@Suite(.timeLimit(.minutes(5))) struct GroupGatewayTests {
    @Test func pythonCoordinatorFromTheProtocolDocumentGetsTheTenthAnswerAndTheRestAreCancelled() async throws {
        // Every answer takes 150 ms and the worker runs four at once: the tenth answer comes
        // long before the fiftieth could.
        let simulator = try await RunningSimulator.start(configuration: .init(port: 0, defaultLatencyMs: 150))
        try await withTestPool(configure: { $0.worker.concurrency = 4 }, simulator: simulator) { pool in
            let (gateway, client) = try await GatewayTests().start(pool)
            let blocks = try ProcessTests.pythonBlocks()
            try #require(blocks.count == 4, "docs/PROTOCOL.md should hold four Python examples")
            let (status, text) = try await TestEnvironment.runPython(
                blocks[3],
                environment: ["REDIS_URL": pool.settings.redis.url, "CERVELLA_GATEWAY": gateway.baseURL, "CERVELLA_API_KEY": GatewayTests.userKey],
                seconds: 150)
            #expect(status == 0, "python said: \(text)")
            #expect(text.contains("50 children"), "\(text)")
            #expect(text.contains("ok=True reason=first_n_reached answers=10"), "\(text)")
            // The children that had not started were never sent to a model.
            let ended = await eventually(timeout: .seconds(60)) {
                (try? await pool.redis.send("KEYS", RedisArgument(pool.keys.prefix + ":group:*:cancelled")).array?.count) == 1
            }
            #expect(ended)
            #expect(pool.simulator.stats.total <= 10 + 2 * 4, "calls: \(pool.simulator.stats.total)")
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func theRoutesShowAndCancelAGroupForItsOwnKeyOnly() async throws {
        try await withTestPool(workers: 0) { pool in
            let (gateway, client) = try await GatewayTests().start(pool)
            let submitted = try await client.send(
                "POST", "/api/groups",
                json: #"{"requests":[{"message":"Summarise: one."},{"messages":[{"role":"user","content":"Summarise: two."}]}],"timeout_seconds":60}"#
            )
            #expect(submitted.status == 202)
            let body = client.object(submitted)
            let id = try #require(body["id"] as? String)
            #expect(body["reply_key"] as? String == pool.keys.reply(id))
            let children = try #require(body["children"] as? [[String: Any]])
            #expect(children.count == 2)
            let status = client.object(try await client.send("GET", "/api/groups/\(id)"))
            #expect(status["state"] as? String == "open")
            #expect(status["total"] as? Int == 2 && status["pending"] as? Int == 2)
            // A child is a job of the same key's.
            let childID = try #require(children.first?["id"] as? String)
            #expect(try await client.send("GET", "/api/jobs/\(childID)").status == 202)
            #expect(try await client.send("GET", "/api/groups/\(id)", key: "second-key").status == 404)
            #expect(try await client.send("DELETE", "/api/groups/\(id)", key: "second-key").status == 404)
            #expect(try await client.send("DELETE", "/api/groups/\(id)").status == 202)
            #expect(try await client.send("DELETE", "/api/groups/\(id)").status == 409)
            let cancelled = client.object(try await client.send("GET", "/api/groups/\(id)"))
            #expect(cancelled["state"] as? String == "done")
            #expect(cancelled["reason"] as? String == "cancelled")
            #expect((cancelled["cancelled_children"] as? [String])?.count == 2)
            #expect(try await client.send("GET", "/api/groups/nope").status == 404)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func aGroupRequestThatCannotBeHonouredIsRefusedNamingTheField() async throws {
        try await withTestPool(workers: 0) { pool in
            let (gateway, client) = try await GatewayTests().start(pool)
            let cases: [(String, String)] = [
                (#"{"requests":[{"message":"a","frequency_penalty":1}]}"#, "requests[0]: unsupported field 'frequency_penalty'"),
                (#"{"requests":[{"message":"a"}],"colour":"blue"}"#, "unsupported field 'colour'"),
                (#"{"requests":[{"message":"a"},{"message":"b","stream":true}]}"#, "requests[1]: 'stream'"),
                (#"{"requests":[{"message":"a","timeout_seconds":5}]}"#, "requests[0]: 'timeout_seconds'"),
                (#"{"requests":[{"message":"a"},{"messages":[]}]}"#, "requests[1]: send messages"),
                (#"{"requests":[{"message":"a"}],"wait":"first_n"}"#, "needs n"),
                (#"{"requests":[{"message":"a"}],"wait":"first_n","n":2}"#, "first_n needs n between 1 and"),
                (#"{"requests":[{"message":"a"}],"wait":"some"}"#, "wait must be all or first_n"),
                (#"{"requests":[{"message":"a"}],"on_failure":"retry"}"#, "on_failure must be"),
                (#"{"requests":[]}"#, "a group has 1 to 10000 children"),
                (#"{"requests":[{"message":"a"}],"timeout_seconds":1e9}"#, "timeout_seconds"),
            ]
            for (json, expected) in cases {
                let response = try await client.send("POST", "/api/groups", json: json)
                #expect(response.status == 400, "\(json)")
                let message = ((client.object(response)["error"] as? [String: Any])?["message"] as? String) ?? ""
                #expect(message.contains(expected), "\(json): \(message)")
            }
            #expect(try await pool.redis.send("KEYS", RedisArgument(pool.keys.prefix + ":queue:*")).array?.isEmpty == true, "nothing was queued")
            await gateway.stop()
            client.http.shutdown()
        }
    }
}
