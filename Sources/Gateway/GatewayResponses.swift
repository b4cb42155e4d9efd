import Foundation
import Hummingbird
import JobProtocol

/// JSON responses and the error shape every route uses.
enum GatewayResponse {
    typealias HeaderName = HTTPFields.Element.Name
    static let retryAfter = HeaderName("retry-after")!
    static let authorization = HeaderName("authorization")!
    static let apiKey = HeaderName("x-api-key")!

    /// A body written field by field with `JSONWriter`, for the request path (see
    /// `GatewayServer.completionBody`).
    static func written(_ body: (inout JSONWriter) -> Void) -> [UInt8] {
        var writer = JSONWriter(capacity: 256)
        body(&writer)
        return writer.bytes
    }

    /// Any JSON object (sorted keys), for the admin and health routes, which are not hot.
    static func json(_ object: Any, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return bytes(Array(data), status: status, headers: headers)
    }

    static func encoded(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return bytes(Array(data), status: status, headers: headers)
    }

    static func bytes(_ body: [UInt8], status: HTTPResponse.Status, headers: HTTPFields) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// `{"error":{"code":…,"message":…,"type":…}}`: Cervella's own fields, and OpenAI's `type`
    /// so that the openai package raises its usual exceptions.
    static func error(_ status: HTTPResponse.Status, code: String, message: String, headers: HTTPFields = [:]) -> Response {
        bytes(errorBody(status, code: code, message: message), status: status, headers: headers)
    }

    /// How errors are written: Cervella's shape, or Anthropic's on `/v1/messages`
    /// (`{"type":"error","error":{"type":…,"message":…}}`, which the Anthropic SDK reads),
    /// set for a route group by `ErrorShapeMiddleware`.
    enum ErrorShape: Sendable {
        case cervella, anthropic
    }

    @TaskLocal static var errorShape = ErrorShape.cervella

    /// The JSON of `error(...)`, for the channel handlers that answer below Hummingbird.
    static func errorBody(_ status: HTTPResponse.Status, code: String, message: String) -> [UInt8] {
        if errorShape == .anthropic { return anthropicErrorBody(status, message: message) }
        let type: String
        switch status.code {
        case 401: type = "authentication_error"
        case 403: type = "permission_error"
        case 404: type = "not_found_error"
        case 413: type = "request_too_large"
        case 429: type = "rate_limit_error"
        case 400..<500: type = "invalid_request_error"
        default: type = "api_error"
        }
        return written { w in
            w.object { w in
                w.key("error")
                w.object { w in
                    w.key("code"); w.string(code)
                    w.key("message"); w.string(message)
                    w.key("type"); w.string(type)
                }
            }
        }
    }

    /// Anthropic's error body; its `type` is the one Anthropic documents for the status.
    static func anthropicErrorBody(_ status: HTTPResponse.Status, message: String) -> [UInt8] {
        let type: String
        switch status.code {
        case 400, 415, 422: type = "invalid_request_error"
        case 401: type = "authentication_error"
        case 403: type = "permission_error"
        case 404: type = "not_found_error"
        case 413: type = "request_too_large"
        case 429: type = "rate_limit_error"
        case 503, 529: type = "overloaded_error"
        case 504: type = "timeout_error"
        case 400..<500: type = "invalid_request_error"
        default: type = "api_error"
        }
        return written { w in
            w.object { w in
                w.key("type"); w.string("error")
                w.key("error")
                w.object { w in
                    w.key("type"); w.string(type)
                    w.key("message"); w.string(message)
                }
            }
        }
    }
}

/// Errors of the routes it guards in Anthropic's shape (see `GatewayResponse.ErrorShape`).
struct ErrorShapeMiddleware<Context: RequestContext>: RouterMiddleware {
    let shape: GatewayResponse.ErrorShape

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try await GatewayResponse.$errorShape.withValue(shape) { try await next(request, context) }
    }
}
