import Foundation
import Hummingbird
import NIOCore

extension GatewayServer {
    /// The body, after its Content-Type is checked; 413 past the configured limit.
    func body(_ request: Request, _ context: GatewayRequestContext) async throws -> Data {
        try Self.checkContentType(request.headers[.contentType])
        do {
            let buffer = try await request.body.collect(upTo: settings.gateway.requestBodyLimitBytes)
            return Data(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw Refusal(
                response: GatewayResponse.error(
                    .contentTooLarge, code: "body_too_large", message: "the request body exceeds \(settings.gateway.requestBodyLimitBytes) bytes"))
        } catch {
            // The connection ended mid-body, or the read timeout closed it: nobody reads this.
            throw Refusal(
                response: GatewayResponse.error(
                    .badRequest, code: "body_unreadable", message: "the request body could not be read completely; send it again"))
        }
    }

    /// JSON bodies only: `application/json` or `application/*+json`, any parameters. A body
    /// without a Content-Type is read as JSON, as before; anything else is 415, so that a form
    /// or an XML document is never half-read as JSON.
    static func checkContentType(_ value: String?) throws {
        guard let value, !value.trimmingCharacters(in: .whitespaces).isEmpty else { return }
        let mediaType =
            value.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        if mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json")) { return }
        let message =
            mediaType == "application/x-www-form-urlencoded"
            ? "the body must be JSON: send Content-Type: application/json (curl -d sends application/x-www-form-urlencoded; add -H 'Content-Type: application/json')"
            : "Content-Type '\(mediaType.prefix(100))' is not supported; send a JSON body with Content-Type: application/json"
        throw Refusal(response: GatewayResponse.error(.unsupportedMediaType, code: "unsupported_media_type", message: message))
    }

    /// Decodes a JSON body, or a 400 refusal that names the field and what is wrong: a field of
    /// the wrong type, or one the route does not honour (`unsupported_parameter`).
    func decode<T: HonouredFields>(_ type: T.Type, from data: Data) throws -> T {
        let decoded: T
        do {
            decoded = try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            let message: String
            switch error {
            case .keyNotFound(let key, let context):
                message = "missing required field '\(Self.fieldPath(context.codingPath + [key]))'"
            case .typeMismatch(_, let context), .valueNotFound(_, let context):
                message = "field '\(Self.fieldPath(context.codingPath))' has the wrong type"
            case .dataCorrupted(let context) where !context.codingPath.isEmpty:
                message = "field '\(Self.fieldPath(context.codingPath))' is not valid (numbers must be finite and fit their type)"
            case .dataCorrupted: message = Self.numberProblem(in: data) ?? "the body is not valid JSON"
            @unknown default: message = "the body could not be decoded"
            }
            throw Refusal(
                response: GatewayResponse.error(.badRequest, code: "invalid_request", message: message), status: .badRequest, code: "invalid_request",
                message: message)
        } catch {
            throw Refusal(response: GatewayResponse.error(.badRequest, code: "invalid_request", message: "the body could not be decoded"))
        }
        if let problem = FieldCheck.problem(in: Array(data), for: type) {
            throw Refusal(
                response: GatewayResponse.error(.badRequest, code: "unsupported_parameter", message: problem), status: .badRequest,
                code: "unsupported_parameter", message: problem)
        }
        return decoded
    }

    /// Top-level fields that hold whole numbers in some request body.
    static let integerFields = ["max_tokens", "max_completion_tokens", "n", "tier"]

    /// Why JSONDecoder called a body "not valid JSON" when the JSON is fine but a number in
    /// it is not (1e999, 2^63, 1e-320 for a whole number), naming the field when it can.
    static func numberProblem(in data: Data) -> String? {
        do {
            guard let fields = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
            for key in integerFields {
                if let number = fields[key] as? NSNumber, Int64(exactly: number.doubleValue) == nil || number.doubleValue.magnitude >= 9.2e18 {
                    return "field '\(key)' must be a whole number within its range, got \(number)"
                }
            }
            return nil
        } catch let error as NSError {
            // "Number 1e999 is not representable in Swift."
            guard let description = error.userInfo[NSDebugDescriptionErrorKey] as? String, description.hasPrefix("Number ") else { return nil }
            let number = String(description.dropFirst(7).prefix { $0 != " " }.prefix(64))
            if let key = key(before: number, in: data) {
                return "field '\(key)' holds \(number), which is not a finite number in range"
            }
            return "the body holds \(number), which is not a finite number in range"
        }
    }

    /// The name of the object key whose value is the number `literal`, from the raw text.
    private static func key(before literal: String, in data: Data) -> String? {
        let text = String(decoding: data.prefix(1_048_576), as: UTF8.self)
        let pattern = #""([^"\\]{1,64})"\s*:\s*\[?\s*"# + NSRegularExpression.escapedPattern(for: literal) + "(?![0-9.eE+-])"
        guard let expression = try? NSRegularExpression(pattern: pattern),
            let match = expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
            let range = Range(match.range(at: 1), in: text)
        else { return nil }
        return String(text[range])
    }

    /// `messages[1].content[0]`, as the validation messages write it.
    static func fieldPath(_ path: [any CodingKey]) -> String {
        var text = ""
        for key in path {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return text
    }

    /// A 400 `invalid_request` naming the field.
    static func invalid(_ message: String) -> Refusal {
        Refusal(
            response: GatewayResponse.error(.badRequest, code: "invalid_request", message: message), status: .badRequest, code: "invalid_request",
            message: message)
    }
}
