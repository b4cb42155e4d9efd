import Hummingbird
import Metrics

/// Counts every request of the routes it guards and times it, by route pattern and status:
/// `cervella_http_requests_total{route,status}` and
/// `cervella_http_request_duration_seconds{route}`.
///
/// The route is the pattern, not the path, so /api/jobs/{id} stays one series. It runs
/// outermost, so the status is that of the answer the client gets, refusals included.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Where the metrics go; nil: the process's `MetricsSystem.factory`, read per request.
    let factory: (any MetricsFactory)?

    init(factory: (any MetricsFactory)? = nil) {
        self.factory = factory
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        do {
            let response = try await next(request, context)
            record(route: context.endpointPath, status: response.status, since: started)
            return response
        } catch {
            // The gateway's error middleware answers every error; anything else is Hummingbird's 500.
            record(route: context.endpointPath, status: (error as? any HTTPResponseError)?.status ?? .internalServerError, since: started)
            throw error
        }
    }

    private func record(route: String?, status: HTTPResponse.Status, since started: ContinuousClock.Instant) {
        let factory = self.factory ?? MetricsSystem.factory
        let route = route ?? "unmatched"
        factory.makeCounter(label: "cervella_http_requests_total", dimensions: [("route", route), ("status", String(status.code))]).increment(by: 1)
        let (seconds, attoseconds) = started.duration(to: .now).components
        factory.makeTimer(label: "cervella_http_request_duration_seconds", dimensions: [("route", route)])
            .recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
