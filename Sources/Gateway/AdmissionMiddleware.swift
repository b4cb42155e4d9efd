import Hummingbird

/// Lets an authenticated caller through only while its address is within the failed-
/// authentication budget and its key within the per-minute rate limit (`AdmissionControl`).
///
/// Runs after `AuthenticationMiddleware`, which set `context.caller`. A refusal is thrown as
/// `GatewayServer.Refusal` (429 with `Retry-After`), Redis trouble as `RedisError` (503);
/// `ErrorResponseMiddleware` answers both.
struct AdmissionMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext

    let access: RouteAccess
    let admission: AdmissionControl

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try await admission.admit(context.caller, address: context.clientAddress, access: access)
        return try await next(request, context)
    }
}
