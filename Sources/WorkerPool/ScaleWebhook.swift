import CurlHTTP
import Foundation
import Logging

/// Posts the auto-scale signal to `scaling.webhook_url` (an operator's script that adds a GPU
/// host): on a task of its own, so a slow or failing receiver never holds up a job or the
/// next decision; tried three times (after 1 s and 4 s), each within 5 s. The URL may hold a
/// token: logs name its host only.
struct ScaleWebhook: Sendable {
    let url: String
    let http: HTTPClient
    let logger: Logger

    static let attempts = 3

    func send(_ body: [UInt8]) {
        let url = self.url, http = self.http, logger = self.logger
        let host = URL(string: url)?.host ?? "the webhook"
        Task.detached {
            for attempt in 1...Self.attempts {
                let request = HTTPRequest(
                    method: "POST", url: url, headers: [HTTPHeader(name: "Content-Type", value: "application/json")], body: Data(body),
                    timeout: .seconds(5))
                do {
                    let response = try await http.execute(request)
                    if (200..<300).contains(response.status) { return }
                    logger.warning(
                        "scale webhook refused",
                        metadata: ["cervella.webhook.host": "\(host)", "cervella.status": "\(response.status)", "cervella.attempt": "\(attempt)"])
                } catch {
                    logger.warning(
                        "scale webhook unreachable",
                        metadata: [
                            "cervella.webhook.host": "\(host)", "cervella.error": "\((error as? HTTPClientError).map { "\($0.code)" } ?? "unknown")",
                            "cervella.attempt": "\(attempt)",
                        ])
                }
                if attempt < Self.attempts { try? await Task.sleep(for: .seconds(attempt == 1 ? 1 : 4)) }
            }
            logger.error("scale webhook not delivered after \(Self.attempts) attempts", metadata: ["cervella.webhook.host": "\(host)"])
        }
    }
}
