import Hummingbird

/// Response builders and header names shared by the routes.
///
/// Both wire formats need the same plumbing: JSON bodies written by ``JSONValue`` with the
/// right content type, the HTML "garbage" body, `retry-after` on 429, and status lines
/// with a reason phrase (Anthropic's 529 has none in the HTTP registry, so it is given
/// "Overloaded" here rather than an empty phrase).
enum SimResponse {
    /// A JSON response with the given status and extra headers.
    static func json(_ value: JSONValue, status: Int = 200, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(
            status: httpStatus(status),
            headers: fields,
            body: ResponseBody(byteBuffer: ByteBuffer(string: value.serialized()))
        )
    }

    /// The `#sim garbage` response: a 200 whose HTML body breaks any JSON parser, as a
    /// misconfigured proxy in front of a model server does.
    static func garbage(headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "text/html; charset=utf-8"
        let body = "<html><head><title>502 Bad Gateway</title></head><body><h1>upstream error</h1></body></html>"
        return Response(status: .ok, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    /// Headers every error of `status` carries: `retry-after: 1` for 429 (both APIs send
    /// one, and the pool's retry logic should honour it).
    static func errorHeaders(status: Int) -> HTTPFields {
        var fields = HTTPFields()
        if status == 429 { fields[retryAfter] = "1" }
        return fields
    }

    /// Header field names; spelled through `HTTPFields.Element` because Hummingbird
    /// re-exports `HTTPFields` but not `HTTPField`, and this target declares no direct
    /// dependency on swift-http-types.
    typealias HeaderName = HTTPFields.Element.Name
    static let retryAfter = HeaderName("retry-after")!
    static let requestID = HeaderName("request-id")!
    static let apiKey = HeaderName("x-api-key")!
    static let anthropicVersion = HeaderName("anthropic-version")!

    /// An `HTTPResponse.Status` with the usual reason phrase (HTTP/1.1 prints it).
    static func httpStatus(_ code: Int) -> HTTPResponse.Status {
        HTTPResponse.Status(code: code, reasonPhrase: reasonPhrase(code))
    }

    /// Reason phrases of the statuses a provider plausibly returns.
    static func reasonPhrase(_ code: Int) -> String {
        switch code {
        case 200: "OK"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 413: "Payload Too Large"
        case 422: "Unprocessable Entity"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 529: "Overloaded"
        case 400..<500: "Client Error"
        default: "Server Error"
        }
    }
}
