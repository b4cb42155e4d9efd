import JobProtocol

/// `kind = "instant"`: answers at once, with no network and no model. It measures what the
/// pool itself costs per job (queue, worker, commit, reply), the way a no-op task does in
/// Celery or RQ benchmarks; `cervella bench throughput` uses it beside the simulator.
public struct InstantProvider: ChatProvider {
    public let model: String
    public let health = EndpointHealth(endpoints: ["instant"], activeProbing: false)

    static let answer = "An instant answer from the benchmark provider: no model was called for this job."

    public init(model: String) { self.model = model }

    public func complete(_ request: ProviderRequest) async throws(ProviderError) -> ProviderResponse {
        let input = TokenEstimator.estimate(request.messages)
        return ProviderResponse(text: Self.answer, tokensInput: input, tokensOutput: 16, finishReason: "stop", model: model)
    }
}
