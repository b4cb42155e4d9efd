import Foundation
import Hummingbird
import JobProtocol

extension GatewayServer {
    static let anthropicBeta = HTTPFields.Element.Name("anthropic-beta")!

    /// `POST /v1/messages`: Anthropic's Messages API, so that agents written with the Anthropic
    /// SDK (or any Claude-speaking tool) point their base URL here and get the small model where
    /// it is good enough. `model: "auto"` lets the classifier route; a model a tier serves
    /// forces that tier, as on `/v1/chat/completions`. Errors come in Anthropic's shape.
    func messages(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        if let beta = request.headers[Self.anthropicBeta] {
            throw Self.invalid(
                "the anthropic-beta header ('\(RequestValidator.excerpt(beta))') asks for features this gateway does not have; leave it out")
        }
        let body = try decode(MessagesRequest.self, from: try await self.body(request, context))
        let messages: [ChatMessage], params: GenerationParameters
        do {
            messages = try MessagesTranslation.messages(body)
            params = try MessagesTranslation.params(body)
        } catch {
            throw Self.invalid(error.message)
        }
        try validated { validator in
            try validator.check(messages: messages)
            try validator.check(params: params)
            try validator.check(tools: params.tools, toolChoice: params.toolChoice, responseFormat: nil)
        }
        let model = body.model == "auto" || body.model.isEmpty ? nil : body.model
        var job = try makeJob(
            messages: messages, tierHint: "auto", forceModel: model, enableFallback: true, params: params, stream: body.stream == true)
        job.owner = Self.owner(context)
        if job.stream { return try await streamed(job, encoder: AnthropicEventEncoder(id: job.id), endpoint: "/v1/messages", context: context) }
        let result = try await run(job, endpoint: "/v1/messages")
        guard result.ok, let metadata = result.metadata else { throw Refusal(response: JobErrorTable.response(for: result)) }
        return GatewayResponse.bytes(
            MessagesTranslation.body(id: job.id, result: result, metadata: metadata), status: .ok, headers: Self.cervellaHeaders(metadata))
    }
}
