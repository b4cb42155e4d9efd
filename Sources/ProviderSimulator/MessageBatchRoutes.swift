import Foundation
import Hummingbird
import Logging

/// Anthropic's Message Batches API: `POST /v1/messages/batches` (create), `GET
/// /v1/messages/batches` (list), `GET /v1/messages/batches/{id}` (retrieve, with
/// `request_counts`), `GET /v1/messages/batches/{id}/results` (JSONL, one line per entry, in no
/// particular order, as the real results come) and `POST /v1/messages/batches/{id}/cancel`.
///
/// Each entry's `params` are a Messages request and are answered as `/v1/messages` would
/// answer them (`AnthropicRoutes.compose`), so a prompt reads the same either way. Per entry,
/// `#sim batch=errored` or `#sim batch=expired` ends it that way, and `#sim status=N` ends it
/// `errored` with that status's error type. Timing comes from the configuration
/// (`batchProcessingSeconds`, `batchExpirySeconds`). The limits are the real API's: at most
/// 100,000 entries and 256 MB per batch, custom ids `^[a-zA-Z0-9_-]{1,64}$`, each unique.
struct MessageBatchRoutes: Sendable {
    let configuration: SimulatorConfiguration
    let store: MessageBatchStore
    let stats: SimulatorStats

    static let maxEntries = 100_000
    static let maxBodyBytes = 256 << 20

    func register(on router: Router<BasicRequestContext>) {
        router.post("/v1/messages/batches") { request, context in
            stats.record(SimulatorStats.messageBatches)
            return try await create(request, context: context)
        }
        router.get("/v1/messages/batches") { request, _ in
            stats.record(SimulatorStats.messageBatchList)
            if let refused = Self.refusal(request) { return refused }
            let base = Self.base(request)
            let data = store.all.prefix(100).map { MessageBatchStore.json($0, resultsBase: base) }
            return SimResponse.json([
                "data": .array(Array(data)), "has_more": .bool(store.all.count > 100), "first_id": .optional(store.all.first?.id),
                "last_id": .optional(store.all.prefix(100).last?.id),
            ])
        }
        router.get("/v1/messages/batches/:id") { request, context in
            stats.record(SimulatorStats.messageBatchRetrieve)
            if let refused = Self.refusal(request) { return refused }
            guard let batch = store.batch(context.parameters.get("id") ?? "") else { return Self.notFound() }
            return SimResponse.json(MessageBatchStore.json(batch, resultsBase: Self.base(request)))
        }
        router.get("/v1/messages/batches/:id/results") { request, context in
            stats.record(SimulatorStats.messageBatchResults)
            if let refused = Self.refusal(request) { return refused }
            guard let batch = store.batch(context.parameters.get("id") ?? "") else { return Self.notFound() }
            guard MessageBatchStore.endedAt(batch, now: Date().timeIntervalSince1970) != nil else {
                return AnthropicRoutes.error(status: 400, message: "Batch \(batch.id) is still processing: its results are not ready")
            }
            // Out of order, as the real service writes them: clients match by custom_id.
            let lines = MessageBatchStore.results(batch).shuffled().map { MessageBatchStore.resultLine($0) + "\n" }
            var headers = HTTPFields()
            headers[.contentType] = "application/binary"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: lines.joined())))
        }
        router.post("/v1/messages/batches/:id/cancel") { request, context in
            stats.record(SimulatorStats.messageBatchCancel)
            if let refused = Self.refusal(request) { return refused }
            guard let batch = store.cancel(context.parameters.get("id") ?? "") else { return Self.notFound() }
            var body = MessageBatchStore.json(batch, resultsBase: Self.base(request))
            if case .object(var fields) = body, batch.cancelInitiatedAt != nil,
                let index = fields.firstIndex(where: { $0.0 == "processing_status" })
            {
                // The reply to the cancel itself still says `canceling`, as the real one does.
                fields[index].1 = "canceling"
                body = .object(fields)
            }
            return SimResponse.json(body)
        }
    }

    /// A create request: every entry decided now, answered once the batch ends.
    private func create(_ request: Request, context: BasicRequestContext) async throws -> Response {
        if let refused = Self.refusal(request) { return refused }
        let buffer = try await request.body.collect(upTo: Self.maxBodyBytes)
        let body: MessageBatchCreateRequest
        switch Conversation.decode(MessageBatchCreateRequest.self, from: buffer) {
        case .success(let decoded): body = decoded
        case .failure(let failure): return AnthropicRoutes.error(status: 400, message: failure.message)
        }
        guard let requests = body.requests, !requests.isEmpty else {
            return AnthropicRoutes.error(status: 400, message: "requests: at least one request is required")
        }
        guard requests.count <= Self.maxEntries else {
            return AnthropicRoutes.error(status: 400, message: "requests: at most \(Self.maxEntries) requests per batch")
        }
        var seen = Set<String>()
        var entries: [MessageBatchStore.Entry] = []
        entries.reserveCapacity(requests.count)
        for (index, entry) in requests.enumerated() {
            guard let customID = entry.customID, Self.isValidCustomID(customID) else {
                return AnthropicRoutes.error(status: 400, message: "requests.\(index).custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'")
            }
            guard seen.insert(customID).inserted else {
                return AnthropicRoutes.error(status: 400, message: "requests: custom_id '\(customID)' is used more than once")
            }
            guard let params = entry.params else {
                return AnthropicRoutes.error(status: 400, message: "requests.\(index).params: Field required")
            }
            entries.append(MessageBatchStore.Entry(customID: customID, outcome: Self.outcome(params)))
        }
        stats.record(SimulatorStats.messageBatchEntries, count: entries.count)
        let batch = store.create(
            entries: entries, processingSeconds: configuration.batchProcessingSeconds, expirySeconds: configuration.batchExpirySeconds)
        context.logger.debug(
            "sim request", metadata: ["endpoint": "\(SimulatorStats.messageBatches)", "entries": "\(entries.count)", "batch": "\(batch.id)"])
        return SimResponse.json(MessageBatchStore.json(batch, resultsBase: Self.base(request)))
    }

    /// How one entry ends: its answer, or what its directives ask for.
    static func outcome(_ params: AnthropicMessagesRequest) -> MessageBatchStore.Outcome {
        let model: String, maxTokens: Int, messages: [ChatMessage]
        switch AnthropicRoutes.validated(params) {
        case .success(let valid): (model, maxTokens, messages) = valid
        case .failure(let failure): return .errored(errorObject(status: 400, message: failure.message))
        }
        let (parsed, prompt) = SimDirectives.parse(Conversation.lastUserText(messages), scope: .anthropic)
        let directives = parsed.withoutStreamingDirectives
        switch directives.batchOutcome {
        case "errored"?: return .errored(errorObject(status: 500, message: "Internal server error (simulated)"))
        case "expired"?: return .expired
        default: break
        }
        if let status = directives.status {
            return .errored(errorObject(status: status, message: "\(SimResponse.reasonPhrase(status)) (simulated)"))
        }
        let answer = AnthropicRoutes.compose(params, model: model, maxTokens: maxTokens, messages: messages, prompt: prompt, directives: directives)
        return .succeeded(AnthropicRoutes.message(answer))
    }

    /// An `errored` result's `error`: Anthropic's error response.
    static func errorObject(status: Int, message: String) -> JSONValue {
        ["type": "error", "error": ["type": .string(AnthropicRoutes.errorType(status)), "message": .string(message)]]
    }

    static func isValidCustomID(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count)
            && id.utf8.allSatisfy { byte in
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x2D || byte == 0x5F
            }
    }

    /// The headers every Anthropic route checks first.
    static func refusal(_ request: Request) -> Response? {
        guard let key = request.headers[SimResponse.apiKey], !key.isEmpty else {
            return AnthropicRoutes.error(status: 401, message: "x-api-key header is required")
        }
        guard let version = request.headers[SimResponse.anthropicVersion], !version.isEmpty else {
            return AnthropicRoutes.error(status: 400, message: "anthropic-version: header is required")
        }
        return nil
    }

    static func notFound() -> Response {
        AnthropicRoutes.error(status: 404, message: "Message batch not found")
    }

    /// The scheme and host the client used, for `results_url`.
    static func base(_ request: Request) -> String {
        "http://\(request.head.authority ?? "127.0.0.1")"
    }
}

/// The body of `POST /v1/messages/batches`.
struct MessageBatchCreateRequest: Decodable, Sendable {
    struct Entry: Decodable, Sendable {
        let customID: String?
        let params: AnthropicMessagesRequest?

        enum CodingKeys: String, CodingKey {
            case customID = "custom_id"
            case params
        }
    }

    let requests: [Entry]?
}
