import CervellaTestSupport
import CurlHTTP
import Foundation
import Testing

/// Issue 11, finding 3: slow clients are closed and open connections are capped. Raw sockets
/// do what an attacker does; the bounds are four times the configured timeouts (one second),
/// as other suites load the machine meanwhile; without the guards nothing is ever closed.
@Suite(.timeLimit(.minutes(2))) struct GatewayHardeningConnectionTests {
    @Test func aClientDrippingHeaderLinesIsClosedAfterTheHeaderTimeout() async throws {
        try await withTestPool(workers: 0) { pool in
            let (gateway, client) = try await Hardening.start(pool) { $0.gateway.headerReadTimeoutSeconds = 1 }
            let started = ContinuousClock.now
            let connection = try RawConnection(port: Hardening.port(of: gateway.baseURL))
            connection.send("GET /healthz HTTP/1.1\r\nHost: cervella\r\n")
            // One more header line every 300 ms: activity, but never a complete head.
            var closed = false
            var received = ""
            for index in 0..<20 where !closed {
                connection.send("X-Drip-\(index): x\r\n")
                (closed, received) = await connection.readUntilClosed(seconds: 0.3)
            }
            #expect(closed, "the connection was still open after \(Hardening.seconds(since: started)) s")
            #expect(Hardening.seconds(since: started) < 4, "closed after \(Hardening.seconds(since: started)) s")
            #expect(received.isEmpty, "a half-sent head got an answer: \(received)")
            // An idle connection that never sends anything is closed as well.
            let idle = try RawConnection(port: Hardening.port(of: gateway.baseURL))
            #expect(await idle.readUntilClosed(seconds: 4).closed)
            #expect(try await client.send("GET", "/healthz", key: nil).status == 200)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func aBodyShorterThanItsContentLengthGets408AndIsClosed() async throws {
        try await withTestPool(workers: 0) { pool in
            let (gateway, client) = try await Hardening.start(pool) { $0.gateway.bodyReadTimeoutSeconds = 1 }
            let started = ContinuousClock.now
            let connection = try RawConnection(port: Hardening.port(of: gateway.baseURL))
            connection.send(
                "POST /api/chat HTTP/1.1\r\nHost: cervella\r\nAuthorization: Bearer \(Hardening.userKey)\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"message\""
            )
            // One byte every 200 ms: the body never stalls long, it just never ends.
            var closed = false
            var received = ""
            for _ in 0..<20 where !closed {
                connection.send(" ")
                (closed, received) = await connection.readUntilClosed(seconds: 0.2)
            }
            #expect(closed, "the connection was still open after \(Hardening.seconds(since: started)) s")
            #expect(Hardening.seconds(since: started) < 4, "closed after \(Hardening.seconds(since: started)) s")
            #expect(received.hasPrefix("HTTP/1.1 408"), "got: \(received)")
            #expect(received.contains("request_timeout"))
            #expect(pool.simulator.stats.total == 0)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    /// The read timeouts stop while the gateway works: a slow answer is not cut off.
    @Test func aSlowAnswerOutlastsTheReadTimeouts() async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await Hardening.start(pool) { settings in
                settings.gateway.headerReadTimeoutSeconds = 1
                settings.gateway.bodyReadTimeoutSeconds = 1
            }
            let response = try await client.send("POST", "/api/chat", json: #"{"message":"Summarize slowly.\n#sim latency_ms=2500"}"#)
            #expect(response.status == 200)
            // And the connection is reused for the next request.
            #expect(try await client.send("GET", "/v1/models").status == 200)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func connectionsPastTheCapAreRefusedAndServedOnceSlotsFree() async throws {
        try await withTestPool(workers: 0) { pool in
            let (gateway, client) = try await Hardening.start(pool) { $0.gateway.maxConnections = 4 }
            let port = Hardening.port(of: gateway.baseURL)
            var holders: [RawConnection] = []
            for _ in 0..<4 {
                let holder = try RawConnection(port: port)
                holder.send("GET /healthz HTTP/1.1\r\n")  // half a head: holds its slot
                holders.append(holder)
            }
            try await Task.sleep(for: .milliseconds(300))
            // Several refusals in a row: each is answered and closed, and the gateway lives on.
            for attempt in 0..<10 {
                let extra = try RawConnection(port: port)
                extra.send("GET /healthz HTTP/1.1\r\nHost: cervella\r\n\r\n")
                let (closed, received) = await extra.readUntilClosed(seconds: 3)
                #expect(closed, "connection \(attempt) past the cap stayed open")
                #expect(!received.contains("200 OK"), "connection \(attempt) past the cap was served: \(received)")
                if !received.isEmpty {
                    #expect(received.hasPrefix("HTTP/1.1 503"))
                    #expect(received.contains("too_many_connections"))
                }
            }
            // Two slots free: ordinary requests are served again.
            holders[0].close()
            holders[1].close()
            var status = 0
            for _ in 0..<20 where status != 200 {
                try await Task.sleep(for: .milliseconds(100))
                status = (try? await client.send("GET", "/healthz", key: nil, timeout: .seconds(5)).status) ?? 0
            }
            #expect(status == 200)
            for holder in holders { holder.close() }
            await gateway.stop()
            client.http.shutdown()
        }
    }
}
