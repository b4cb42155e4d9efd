import Foundation
import JobProtocol

/// A request body whose fields the gateway checks by name: each field it does not carry to the
/// job is refused with 400 `unsupported_parameter` naming it, never silently dropped (a client
/// that sends `tools` must learn that no tool will be called, not get plain text back).
protocol HonouredFields: Decodable {
    /// The top-level fields this route carries to the job (or checks itself, like `stream`).
    static var honoured: Set<String> { get }
    /// The fields each element of `messages` may hold; nil when the body has no `messages`.
    static var messageFields: Set<String>? { get }
}

extension HonouredFields {
    static var messageFields: Set<String>? { nil }
}

enum FieldCheck {
    /// Fields the pool cannot honour, accepted when their value asks for nothing (what some
    /// clients send by default). A field sent as `null` counts as not sent.
    static let neutral: [String: JSONValue] = [
        "frequency_penalty": .integer(0), "presence_penalty": .integer(0), "logprobs": .bool(false),
    ]

    /// Why the body holds a field `T` does not honour, or nil when it holds none.
    static func problem<T: HonouredFields>(in body: [UInt8], for type: T.Type) -> String? {
        guard case .object(let fields)? = JSONValue.read(body) else { return nil }
        return problem(fields: fields, for: type)
    }

    /// Why an object (a body, or one request of a group's) holds a field `T` does not honour.
    static func problem<T: HonouredFields>(fields: [String: JSONValue], for type: T.Type) -> String? {
        let unknown = fields.filter { name, value in
            !T.honoured.contains(name) && value != .null && !isNeutral(name, value)
        }.keys.sorted()
        if !unknown.isEmpty {
            return
                "unsupported field\(unknown.count == 1 ? "" : "s") \(list(unknown)): this route honours \(list(T.honoured.sorted(), limit: .max)); remove \(unknown.count == 1 ? "it" : "them")"
        }
        guard let allowed = T.messageFields, case .array(let messages)? = fields["messages"] else { return nil }
        for (index, message) in messages.enumerated() {
            guard case .object(let parts) = message else { continue }
            let extra = parts.filter { !allowed.contains($0.key) && $0.value != .null }.keys.sorted()
            if !extra.isEmpty {
                return
                    "messages[\(index)]: unsupported field\(extra.count == 1 ? "" : "s") \(list(extra)): a message may hold \(list(allowed.sorted(), limit: .max))"
            }
        }
        return nil
    }

    static func isNeutral(_ name: String, _ value: JSONValue) -> Bool {
        guard let neutral = neutral[name] else { return false }
        if value == neutral { return true }
        if case .number(let number) = value, case .integer(let zero) = neutral { return number == Double(zero) }
        return false
    }

    /// `'a', 'b' and 'c'`: at most `limit` names (a hostile body may send thousands), each cut
    /// to 64 characters.
    static func list(_ names: [String], limit: Int = 10) -> String {
        let quoted = names.prefix(limit).map { "'\($0.prefix(64))'" }
        let more = names.count > limit ? " and \(names.count - limit) more" : ""
        guard quoted.count > 1 else { return (quoted.first ?? "") + more }
        return quoted.dropLast().joined(separator: ", ") + (more.isEmpty ? " and \(quoted.last!)" : ", \(quoted.last!)\(more)")
    }
}

extension ChatRequest: HonouredFields {
    static let honoured: Set<String> = ["message", "context", "tier_hint", "force_model", "enable_fallback", "stream"]
}

/// The fields of an agent's step, carried in the job's `params` (`tools`, …) and messages.
enum AgentFields {
    static let request: Set<String> = ["tools", "tool_choice", "response_format", "parallel_tool_calls", "seed"]
    static let message: Set<String> = ["role", "content", "tool_calls", "tool_call_id"]
}

extension CompletionRequest: HonouredFields {
    static let honoured: Set<String> = AgentFields.request.union([
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "stream", "n", "stream_options",
    ])
    static let messageFields: Set<String>? = AgentFields.message
}

extension AsyncJobRequest: HonouredFields {
    static let honoured: Set<String> = AgentFields.request.union([
        "messages", "message", "context", "tier_hint", "force_model", "enable_fallback", "cache", "max_tokens", "temperature",
        "timeout_seconds", "metadata", "stream", "priority",
    ])
    static let messageFields: Set<String>? = AgentFields.message
}

extension GroupRequest: HonouredFields {
    /// Each of `requests` is checked as an `/api/jobs` body.
    static let honoured: Set<String> = ["requests", "wait", "n", "on_failure", "timeout_seconds", "priority"]
}

extension ToggleTierRequest: HonouredFields {
    static let honoured: Set<String> = ["tier", "enabled"]
}
