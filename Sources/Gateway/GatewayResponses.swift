import Foundation
import Hummingbird

/// JSON responses and the error shape every route uses.
enum GatewayResponse {
    typealias HeaderName = HTTPFields.Element.Name
    static let retryAfter = HeaderName("retry-after")!
    static let authorization = HeaderName("authorization")!

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

    /// The JSON of `error(...)`, for the channel handlers that answer below Hummingbird.
    static func errorBody(_ status: HTTPResponse.Status, code: String, message: String) -> [UInt8] {
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
        let object: [String: Any] = ["error": ["code": code, "message": message, "type": type]]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Array(data)
    }
}
