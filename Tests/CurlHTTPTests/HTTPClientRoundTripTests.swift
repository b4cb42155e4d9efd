import CurlHTTP
import Foundation
import Testing

/// Requests that succeed: methods, bodies, headers and status codes arrive intact.
@Suite struct HTTPClientRoundTripTests {
    @Test func getReturnsStatusHeadersAndBody() async throws {
        let server = try await HTTPFixture.start()
        defer { server.stop() }
        let client = try HTTPClient()
        defer { client.shutdown() }

        let response = try await client.execute(HTTPRequest(url: server.url("/status/200")))

        #expect(response.status == 200)
        #expect(String(decoding: response.body, as: UTF8.self) == "status 200")
        #expect(response.header("Content-Length") == "10")
    }

    @Test func postSendsBodyAndHeadersWithoutExpectContinue() async throws {
        let server = try await HTTPFixture.start()
        defer { server.stop() }
        let client = try HTTPClient()
        defer { client.shutdown() }
        // Over 1 MiB: libcurl would send "Expect: 100-continue" (and wait for it) unless suppressed.
        let payload = "{\"prompt\":\"" + String(repeating: "x", count: 1_500_000) + "\"}"

        let response = try await client.execute(
            HTTPRequest(
                method: "POST",
                url: server.url("/echo?trace=1"),
                headers: [
                    HTTPHeader(name: "Content-Type", value: "application/json"),
                    HTTPHeader(name: "X-Api-Key", value: "test-key"),
                ],
                body: Data(payload.utf8)
            )
        )

        #expect(response.status == 200)
        let echo = try JSONDecoder().decode(EchoReply.self, from: response.body)
        #expect(echo.method == "POST")
        #expect(echo.path == "/echo?trace=1")
        #expect(echo.body == payload)
        #expect(echo.headers["content-type"] == "application/json")
        #expect(echo.headers["x-api-key"] == "test-key")
        #expect(echo.headers["expect"] == nil)
    }

    @Test func otherMethodsCarryTheirVerbAndBody() async throws {
        let server = try await HTTPFixture.start()
        defer { server.stop() }
        let client = try HTTPClient()
        defer { client.shutdown() }

        let put = try await client.execute(
            HTTPRequest(method: "PUT", url: server.url("/echo"), body: Data("replace".utf8))
        )
        let putEcho = try JSONDecoder().decode(EchoReply.self, from: put.body)
        #expect(putEcho.method == "PUT")
        #expect(putEcho.body == "replace")

        let delete = try await client.execute(HTTPRequest(method: "DELETE", url: server.url("/echo")))
        let deleteEcho = try JSONDecoder().decode(EchoReply.self, from: delete.body)
        #expect(deleteEcho.method == "DELETE")
        #expect(deleteEcho.body == "")

        let emptyPost = try await client.execute(HTTPRequest(method: "POST", url: server.url("/echo")))
        let emptyPostEcho = try JSONDecoder().decode(EchoReply.self, from: emptyPost.body)
        #expect(emptyPostEcho.method == "POST")
        #expect(emptyPostEcho.headers["content-length"] == "0")

        // HEAD must not wait for the 123 body bytes its Content-Length announces.
        let head = try await client.execute(
            HTTPRequest(method: "HEAD", url: server.url("/anything"), timeout: .seconds(5))
        )
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
    }

    @Test func responseHeadersAreFoundCaseInsensitively() async throws {
        let server = try await HTTPFixture.start()
        defer { server.stop() }
        let client = try HTTPClient()
        defer { client.shutdown() }

        let response = try await client.execute(HTTPRequest(url: server.url("/headers")))

        #expect(response.header("X-Cervella-Test") == "hello")
        #expect(response.header("x-cervella-test") == "hello")
        #expect(response.header("X-CERVELLA-TEST") == "hello")
        #expect(response.header("X-Missing") == nil)
        // Repeated headers are all kept, in order.
        #expect(response.headers.filter { $0.name.lowercased() == "set-cookie" }.map(\.value) == ["a=1", "b=2"])
        // The status line is not mistaken for a header.
        #expect(!response.headers.contains { $0.name.hasPrefix("HTTP/") })
    }

    @Test(arguments: [201, 204, 400, 404, 429, 500, 503])
    func errorStatusesAreResponsesNotErrors(status: Int) async throws {
        let server = try await HTTPFixture.start()
        defer { server.stop() }
        let client = try HTTPClient()
        defer { client.shutdown() }

        let response = try await client.execute(HTTPRequest(url: server.url("/status/\(status)")))

        #expect(response.status == status)
        #expect(String(decoding: response.body, as: UTF8.self) == (status == 204 ? "" : "status \(status)"))
    }

    @Test func sequentialRequestsReuseTheConnection() async throws {
        let server = try await HTTPFixture.start()
        defer { server.stop() }
        let client = try HTTPClient()
        defer { client.shutdown() }

        var clientPorts: Set<Int> = []
        for _ in 0..<5 {
            let response = try await client.execute(HTTPRequest(url: server.url("/echo")))
            clientPorts.insert(try JSONDecoder().decode(EchoReply.self, from: response.body).clientPort)
        }

        #expect(clientPorts.count == 1)
    }
}
