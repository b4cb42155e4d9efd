import Hummingbird

/// Authenticates each request of the routes it guards and puts the caller in the context.
///
/// A missing key is refused at once; a wrong key is counted against the client's address
/// first (`AdmissionControl.countFailedAuthentication`), so that its answer becomes 429 once
/// the address has spent its failure budget.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext

    let access: RouteAccess
    let authenticator: Authenticator
    let admission: AdmissionControl

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // Anthropic's SDK sends its key as `x-api-key`; either header is read, Authorization first.
        let authorization = request.headers[GatewayResponse.authorization] ?? request.headers[GatewayResponse.apiKey].map { "Bearer \($0)" }
        switch authenticator.authenticate(authorization: authorization, access: access) {
        case .refused(let denial, let wrongKey):
            guard wrongKey else { return denial.response }
            return await admission.countFailedAuthentication(from: context.clientAddress, refusal: denial.response, probe: access == .probe)
        case .accepted(let caller):
            var context = context
            context.caller = caller
            return try await next(request, context)
        }
    }
}
