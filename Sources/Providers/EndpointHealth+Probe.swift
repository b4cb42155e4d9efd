import CurlHTTP

extension EndpointHealth {
    /// Sends `GET <base>/health` to every endpoint at once and records what each showed.
    ///
    /// vLLM and llama.cpp answer 200 once the model is loaded, so a 200 closes an open or
    /// half-open circuit at once: the host is back before any request had to be its trial.
    /// A refused connection, a timeout or a 5xx (vLLM while loading) counts as a failure,
    /// like a failed call, so a dead backup is known before the primary fails over to it.
    /// Any other status (a proxy without the route answers 404) says nothing and changes
    /// nothing. Does nothing when `activeProbing` is false (the Anthropic kind: its API has
    /// no health route, and a probe costing a real request would not be free).
    ///
    /// Run it every few seconds from one task per tier; a probe interval close to the
    /// request rate would let probe successes keep resetting the failure count of a host
    /// whose `/health` is fine but whose completions fail.
    public func probe(http: HTTPClient, timeout: Duration) async {
        guard activeProbing else { return }
        await withTaskGroup(of: Void.self) { group in
            for endpoint in endpoints {
                group.addTask { await self.probe(endpoint, http: http, timeout: timeout) }
            }
        }
    }

    private func probe(_ endpoint: String, http: HTTPClient, timeout: Duration) async {
        let host = ProviderTransport.host(endpoint)
        let request = HTTPRequest(method: "GET", url: ProviderTransport.join(endpoint, "/health"), timeout: timeout)
        let outcome: EndpointCircuit.Outcome
        do {
            let response = try await http.execute(request)
            switch response.status {
            case 200..<300: outcome = .success
            case 500...: outcome = .failure("health check: \(host) answered \(response.status)")
            default: outcome = .neutral
            }
        } catch {
            outcome = ProviderTransport.breakerOutcome(for: error, host: host, context: "health check: ")
        }
        logger.trace("endpoint probed", metadata: ["cervella.endpoint": "\(host)", "cervella.probe.outcome": "\(outcome)"])
        record(outcome, for: endpoint, admission: .bypass)
    }
}
