import CurlHTTP
import Foundation
import Testing

/// `execute(_:streamingTo:)`: a 2xx body reaches the reader as it arrives; other statuses keep
/// their whole body; a reader that falls too far behind, or leaves, ends the transfer.
@Suite struct HTTPClientStreamingTests {
    @Test func aSuccessfulBodyArrivesPieceByPieceBeforeTheTransferEnds() async throws {
        let server = try await HTTPFixture.start()
        defer { server.stop() }
        let client = try HTTPClient()
        defer { client.shutdown() }
        let body = BodyStream()
        let url = server.url("/chunks/5/100")
        let transfer = Task { try await client.execute(HTTPRequest(url: url), streamingTo: body) }
        var pieces: [String] = []
        var firstAt: ContinuousClock.Instant?
        while let bytes = await body.next() {
            if firstAt == nil { firstAt = .now }
            pieces.append(String(decoding: bytes, as: UTF8.self))
        }
        let response = try await transfer.value
        let endedAt = ContinuousClock.now
        #expect(response.status == 200)
        #expect(response.body.isEmpty, "a streamed body is not collected")
        #expect(pieces.joined() == (0..<5).map { "chunk \($0)\n" }.joined())
        #expect(pieces.count >= 2, "the reader saw the body before its end")
        // Four 100 ms pauses came after the first chunk: a body held to its end would show none
        // of them (the margin is for a loaded machine, where the first chunk is read late).
        #expect(endedAt - (firstAt ?? endedAt) >= .milliseconds(200))
        #expect(body.receivedBytes == pieces.joined().utf8.count)
    }

    @Test func anErrorStatusKeepsItsWholeBodyForTheCaller() async throws {
        let server = try await HTTPFixture.start()
        defer { server.stop() }
        let client = try HTTPClient()
        defer { client.shutdown() }
        let body = BodyStream()
        let response = try await client.execute(HTTPRequest(url: server.url("/status/503")), streamingTo: body)
        #expect(response.status == 503)
        #expect(String(decoding: response.body, as: UTF8.self) == "status 503")
        #expect(await body.next() == nil)
        #expect(body.receivedBytes == 0)
    }

    @Test func aReaderThatFallsBehindPastTheLimitAbortsTheTransfer() async throws {
        let server = try await HTTPFixture.start()
        defer { server.stop() }
        let client = try HTTPClient()
        defer { client.shutdown() }
        // Nobody reads: 4 MiB arrive against a 64 KiB limit.
        let body = BodyStream(limit: 64 << 10)
        await #expect(throws: HTTPClientError.self) {
            _ = try await client.execute(HTTPRequest(url: server.url("/flood/4096")), streamingTo: body)
        }
        #expect(body.receivedBytes <= 64 << 10)
    }

    @Test func cancellingTheCallEndsTheStreamAtOnce() async throws {
        let server = try await HTTPFixture.start()
        defer { server.stop() }
        let client = try HTTPClient()
        defer { client.shutdown() }
        let body = BodyStream()
        let url = server.url("/chunks/100/200")
        let transfer = Task { try await client.execute(HTTPRequest(url: url), streamingTo: body) }
        #expect(await body.next() != nil)
        let cancelledAt = ContinuousClock.now
        transfer.cancel()
        while await body.next() != nil {}
        #expect(ContinuousClock.now - cancelledAt < .seconds(5), "the stream ended without waiting for the body")
        await #expect(throws: HTTPClientError.self) { _ = try await transfer.value }
    }
}
