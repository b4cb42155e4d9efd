import Foundation

// The job's wire contract (docs/PROTOCOL.md) in its three forms, side by side. The `Codable`
// conformance is the reference: it decides what is accepted and words the errors.
// `init?(json:)` reads plain jobs without JSONDecoder and answers nil for anything else;
// `jsonBytes()` writes them without JSONEncoder. A field added to the contract is added to all
// three, here; JobDecodingFuzzTests and FastReaderAgreementTests hold them equal.

// MARK: - The reference

extension Job: Codable {
    enum CodingKeys: String, CodingKey {
        case v, id
        case replyTo = "reply_to"
        case createdAt = "created_at"
        case deadlineAt = "deadline_at"
        case attempt, messages, params
        case tierHint = "tier_hint"
        case forceModel = "force_model"
        case enableFallback = "enable_fallback"
        case cache, route
        case fallbackFrom = "fallback_from"
        case metadata, recoveries
        case cacheChecked = "cache_checked"
        case stream, group, priority, owner
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        v = try c.decode(Int.self, forKey: .v)
        id = try c.decode(String.self, forKey: .id)
        replyTo = try c.decodeIfPresent(String.self, forKey: .replyTo) ?? ""
        createdAt = try c.decodeIfPresent(Double.self, forKey: .createdAt) ?? Date().timeIntervalSince1970
        deadlineAt = try c.decodeIfPresent(Double.self, forKey: .deadlineAt)
        attempt = try c.decodeIfPresent(Int.self, forKey: .attempt) ?? 0
        messages = try c.decode([ChatMessage].self, forKey: .messages)
        params = try c.decodeIfPresent(GenerationParameters.self, forKey: .params) ?? .init()
        tierHint = try c.decodeIfPresent(String.self, forKey: .tierHint) ?? "auto"
        forceModel = try c.decodeIfPresent(String.self, forKey: .forceModel)
        enableFallback = try c.decodeIfPresent(Bool.self, forKey: .enableFallback) ?? true
        cache = try c.decodeIfPresent(Bool.self, forKey: .cache) ?? true
        route = try c.decodeIfPresent(Route.self, forKey: .route)
        fallbackFrom = try c.decodeIfPresent(FallbackOrigin.self, forKey: .fallbackFrom)
        metadata = try c.decodeIfPresent([String: JSONValue].self, forKey: .metadata) ?? [:]
        recoveries = try c.decodeIfPresent([Recovery].self, forKey: .recoveries) ?? []
        cacheChecked = try c.decodeIfPresent(Bool.self, forKey: .cacheChecked) ?? false
        stream = try c.decodeIfPresent(Bool.self, forKey: .stream) ?? false
        group = try c.decodeIfPresent(String.self, forKey: .group)
        priority = try c.decodeIfPresent(JobPriority.self, forKey: .priority) ?? .interactive
        owner = try c.decodeIfPresent(String.self, forKey: .owner)
    }

    public func encode(to encoder: any Encoder) throws {
        // Optionals are written as explicit nulls, as in the documented contract.
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(v, forKey: .v)
        try c.encode(id, forKey: .id)
        try c.encode(replyTo, forKey: .replyTo)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(deadlineAt, forKey: .deadlineAt)
        try c.encode(attempt, forKey: .attempt)
        try c.encode(messages, forKey: .messages)
        try c.encode(params, forKey: .params)
        try c.encode(tierHint, forKey: .tierHint)
        try c.encode(forceModel, forKey: .forceModel)
        try c.encode(enableFallback, forKey: .enableFallback)
        try c.encode(cache, forKey: .cache)
        try c.encode(route, forKey: .route)
        try c.encode(fallbackFrom, forKey: .fallbackFrom)
        try c.encode(metadata, forKey: .metadata)
        // Written only once there is history, so first-attempt jobs stay as documented.
        if !recoveries.isEmpty { try c.encode(recoveries, forKey: .recoveries) }
        if cacheChecked { try c.encode(cacheChecked, forKey: .cacheChecked) }
        if stream { try c.encode(stream, forKey: .stream) }
        if let group { try c.encode(group, forKey: .group) }
        if priority != .interactive { try c.encode(priority, forKey: .priority) }
        if let owner { try c.encode(owner, forKey: .owner) }
    }
}

// MARK: - The fast reader

extension Job {
    /// The job in `bytes` when it is plainly well-formed; nil means "ask JSONDecoder".
    public init?(json bytes: [UInt8]) {
        guard let root = JSONFields(JSONValue.parse(bytes)) else { return nil }
        guard let v = root.int("v"), let v, let id = root.string("id"), let id,
            let replyTo = root.string("reply_to"), let createdAt = root.double("created_at"),
            let deadlineAt = root.double("deadline_at"), let attempt = root.int("attempt"),
            let messageList = root.array("messages"), let messageList,
            let paramsFields = root.object("params"), let tierHint = root.string("tier_hint"),
            let forceModel = root.string("force_model"), let enableFallback = root.bool("enable_fallback"),
            let cache = root.bool("cache"), let routeFields = root.object("route"),
            let originFields = root.object("fallback_from"), let recoveryList = root.array("recoveries"),
            let cacheChecked = root.bool("cache_checked"), let stream = root.bool("stream"),
            let group = root.string("group"), let priorityName = root.string("priority"), let owner = root.string("owner")
        else { return nil }
        var priority = JobPriority.interactive
        if let priorityName {
            guard let named = JobPriority(rawValue: priorityName) else { return nil }
            priority = named
        }
        var messages: [ChatMessage] = []
        for element in messageList {
            guard let message = Self.message(element) else { return nil }
            messages.append(message)
        }
        var params = GenerationParameters()
        if let paramsFields {
            guard let maxTokens = paramsFields.int("max_tokens"), let temperature = paramsFields.double("temperature"),
                let topP = paramsFields.double("top_p"), let stopList = paramsFields.array("stop"),
                let format = paramsFields.string("expected_format"), let toolList = paramsFields.array("tools"),
                let toolChoice = Self.freeForm(paramsFields.fields["tool_choice"]),
                let responseFormat = Self.freeForm(paramsFields.fields["response_format"]),
                let parallel = paramsFields.bool("parallel_tool_calls"), let seed = paramsFields.int("seed")
            else { return nil }
            var stop: [String]?
            if let stopList {
                stop = []
                for element in stopList {
                    guard case .string(let text) = element else { return nil }
                    stop?.append(text)
                }
            }
            if let toolList, toolList.contains(where: Self.hasWholeDouble) { return nil }
            params = GenerationParameters(
                maxTokens: maxTokens, temperature: temperature, topP: topP, stop: stop, expectedFormat: format, tools: toolList,
                toolChoice: toolChoice, responseFormat: responseFormat, parallelToolCalls: parallel, seed: seed)
        }
        var route: Route?
        if let routeFields {
            guard let tier = routeFields.int("tier"), let tier, let model = routeFields.string("model"), let model,
                let reason = routeFields.string("reason"), let reason
            else { return nil }
            route = Route(tier: tier, model: model, reason: reason)
        }
        var origin: FallbackOrigin?
        if let originFields {
            guard let tier = originFields.int("tier"), let tier, let model = originFields.string("model"), let model,
                let reason = originFields.string("reason"), let reason, let confidence = originFields.double("confidence"),
                let latency = originFields.int("latency_ms"), let cost = originFields.double("cost_usd")
            else { return nil }
            origin = FallbackOrigin(tier: tier, model: model, reason: reason, confidence: confidence, latencyMs: latency, costUSD: cost)
        }
        var metadata: [String: JSONValue] = [:]
        switch root.fields["metadata"] {
        case nil, .null?: break
        case .object(let fields)?:
            // JSONValue's Codable form reads 1.0 as an integer; leave such numbers to it.
            guard !fields.values.contains(where: Self.hasWholeDouble) else { return nil }
            metadata = fields
        default: return nil
        }
        var recoveries: [Recovery] = []
        for element in recoveryList ?? [] {
            guard let recovery = JSONFields(element), let worker = recovery.string("worker"), let worker,
                let at = recovery.double("at"), let at, let queue = recovery.string("queue"), let queue
            else { return nil }
            recoveries.append(Recovery(worker: worker, at: at, queue: queue))
        }
        guard let createdAt = createdAt else { return nil }  // the reference decoder supplies "now"
        self.init(
            id: id, replyTo: replyTo ?? "", createdAt: createdAt, deadlineAt: deadlineAt, attempt: attempt ?? 0,
            messages: messages, params: params, tierHint: tierHint ?? "auto", forceModel: forceModel,
            enableFallback: enableFallback ?? true, cache: cache ?? true, route: route, fallbackFrom: origin,
            metadata: metadata, recoveries: recoveries, cacheChecked: cacheChecked ?? false,
            stream: stream ?? false, group: group, priority: priority
        )
        self.owner = owner
        self.v = v
    }

    /// A message as the contract writes it; nil for anything the reference decoder must judge.
    private static func message(_ element: JSONValue) -> ChatMessage? {
        guard let message = JSONFields(element), let role = message.string("role"), let role, let name = message.string("name"),
            let callID = message.string("tool_call_id"), let calls = message.toolCalls("tool_calls")
        else { return nil }
        var content: ChatMessage.Content?
        switch message.fields["content"] {
        case nil, .null?: content = nil
        case .string(let text)?: content = .text(text)
        case .array(let parts)? where !parts.contains(where: Self.hasWholeDouble): content = .parts(parts)
        default: return nil
        }
        return ChatMessage(role: role, content: content, name: name, toolCalls: calls, toolCallID: callID)
    }

    /// Free-form JSON as JSONValue's Codable form reads it: `.some(nil)` when absent or null,
    /// nil when it holds a whole double (which that form reads back as an integer).
    private static func freeForm(_ value: JSONValue?) -> JSONValue?? {
        switch value {
        case nil, .null?: return .some(nil)
        case let value? where hasWholeDouble(value): return nil
        case let value?: return .some(value)
        }
    }

    private static func hasWholeDouble(_ value: JSONValue) -> Bool {
        switch value {
        case .number(let number): return number.rounded() == number
        case .array(let elements): return elements.contains(where: hasWholeDouble)
        case .object(let fields): return fields.values.contains(where: hasWholeDouble)
        default: return false
        }
    }
}

// MARK: - The writer

extension Job {
    /// The job's JSON, as `encode(to:)` describes it, without JSONEncoder.
    public func jsonBytes() -> [UInt8] {
        var w = JSONWriter()
        w.object { w in
            w.key("v"); w.int(v)
            w.key("id"); w.string(id)
            w.key("reply_to"); w.string(replyTo)
            w.key("created_at"); w.double(createdAt)
            w.key("deadline_at"); w.double(deadlineAt)
            w.key("attempt"); w.int(attempt)
            w.key("messages"); w.array(messages) { $0.message($1) }
            w.key("params");
            w.object { w in
                if let maxTokens = params.maxTokens { w.key("max_tokens"); w.int(maxTokens) }
                if let temperature = params.temperature { w.key("temperature"); w.double(temperature) }
                if let topP = params.topP { w.key("top_p"); w.double(topP) }
                if let stop = params.stop { w.key("stop"); w.array(stop) { $0.string($1) } }
                if let format = params.expectedFormat { w.key("expected_format"); w.string(format) }
                if let tools = params.tools { w.key("tools"); w.array(tools) { $0.value($1) } }
                if let choice = params.toolChoice { w.key("tool_choice"); w.value(choice) }
                if let format = params.responseFormat { w.key("response_format"); w.value(format) }
                if let parallel = params.parallelToolCalls { w.key("parallel_tool_calls"); w.bool(parallel) }
                if let seed = params.seed { w.key("seed"); w.int(seed) }
            }
            w.key("tier_hint"); w.string(tierHint)
            w.key("force_model"); w.string(forceModel)
            w.key("enable_fallback"); w.bool(enableFallback)
            w.key("cache"); w.bool(cache)
            w.key("route")
            if let route {
                w.object { w in
                    w.key("tier"); w.int(route.tier)
                    w.key("model"); w.string(route.model)
                    w.key("reason"); w.string(route.reason)
                }
            } else {
                w.null()
            }
            w.key("fallback_from")
            if let origin = fallbackFrom {
                w.object { w in
                    w.key("tier"); w.int(origin.tier)
                    w.key("model"); w.string(origin.model)
                    w.key("reason"); w.string(origin.reason)
                    if let confidence = origin.confidence { w.key("confidence"); w.double(confidence) }
                    if let latency = origin.latencyMs { w.key("latency_ms"); w.int(latency) }
                    if let cost = origin.costUSD { w.key("cost_usd"); w.double(cost) }
                }
            } else {
                w.null()
            }
            w.key("metadata"); w.value(.object(metadata))
            if !recoveries.isEmpty {
                w.key("recoveries");
                w.array(recoveries) { w, recovery in
                    w.object { w in
                        w.key("worker"); w.string(recovery.worker)
                        w.key("at"); w.double(recovery.at)
                        w.key("queue"); w.string(recovery.queue)
                    }
                }
            }
            if cacheChecked { w.key("cache_checked"); w.bool(true) }
            if stream { w.key("stream"); w.bool(true) }
            if let group { w.key("group"); w.string(group) }
            if priority != .interactive { w.key("priority"); w.string(priority.rawValue) }
            if let owner { w.key("owner"); w.string(owner) }
        }
        return w.bytes
    }
}
