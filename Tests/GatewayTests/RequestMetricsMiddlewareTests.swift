import Hummingbird
import HummingbirdTesting
import Metrics
import MetricsTestKit
import Testing

@testable import Gateway

/// `cervella_http_requests_total{route,status}` and `cervella_http_request_duration_seconds{route}`:
/// one series per route pattern, the status the client got.
@Suite struct RequestMetricsMiddlewareTests {
    @Test func requestsAreCountedByRoutePatternAndStatus() async throws {
        let metrics = TestMetrics()
        let router = Router()
        router.get("/bare") { _, _ in "not counted" }
        router.group()
            .add(middleware: RequestMetricsMiddleware<BasicRequestContext>(factory: metrics))
            .get("/items/{id}") { _, context in
                guard context.parameters.get("id") != "missing" else { throw HTTPError(.notFound) }
                return "found"
            }
        try await Application(router: router).test(.router) { (client) async throws in
            #expect(try await client.execute(uri: "/items/1", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/items/2", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/items/missing", method: .get).status == .notFound)
            #expect(try await client.execute(uri: "/bare", method: .get).status == .ok)
        }
        let ok = try metrics.expectCounter("cervella_http_requests_total", [("route", "/items/{id}"), ("status", "200")])
        #expect(ok.totalValue == 2)
        let notFound = try metrics.expectCounter("cervella_http_requests_total", [("route", "/items/{id}"), ("status", "404")])
        #expect(notFound.totalValue == 1)
        let durations = try metrics.expectTimer("cervella_http_request_duration_seconds", [("route", "/items/{id}")])
        #expect(durations.values.count == 3)
        #expect(durations.values.allSatisfy { $0 >= 0 })
        #expect(metrics.counters.count == 2)
    }
}
