import Hummingbird
import Logging
import RedisClient

/// Turns what a route throws into the gateway's JSON errors: a refusal into its response,
/// Redis trouble into 503 `redis_unavailable`, anything else into 500 `internal_error`, never
/// a crash, a hang or an error text that might quote a provider.
struct ErrorResponseMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let refusal as GatewayServer.Refusal {
            return refusal.response
        } catch let error as RedisError {
            logger.error("redis unavailable while serving a request", metadata: ["cervella.error": "\(error)"])
            return GatewayResponse.error(
                .serviceUnavailable, code: "redis_unavailable", message: "the queue store is unreachable; try again shortly",
                headers: [GatewayResponse.retryAfter: "2"]
            )
        } catch {
            // The description of an unexpected error may hold anything; it goes to the log only.
            logger.error("unexpected error while serving a request", metadata: ["cervella.error": "\(error)"])
            return GatewayResponse.error(
                .internalServerError, code: "internal_error", message: "the gateway could not serve this request; its log says why")
        }
    }
}
