import Foundation
import Hummingbird
import HummingbirdTesting
import JobProtocol
import Testing

@testable import Gateway

/// The status page at `/`, served by the real route table (no Redis needed: the page is
/// static). The browser half is `scripts/check-status-page`.
@Suite struct StatusPageTests {
    @Test func thePageIsServedWithoutAKeyWithAPolicyThatAllowsOnlyItsOwnScriptAndStyle() async throws {
        try await GatewayRoutesTests.withGateway(GatewayRoutesTests.settings()) { (client) async throws in
            let response = try await client.execute(uri: "/", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/html; charset=utf-8")
            let html = String(buffer: response.body)
            #expect(html.hasPrefix("<!doctype html>"))
            let policy = response.headers[.contentSecurityPolicy] ?? ""
            // The hashes are of the text the browser finds between the tags of the page served.
            for (open, close, directive) in [("<script>", "</script>", "script-src"), ("<style>", "</style>", "style-src")] {
                let inline = try #require(Self.between(open, close, in: html))
                #expect(policy.contains("\(directive) \(StatusPage.sourceHash(inline));"))
            }
            #expect(policy.contains("default-src 'none'"))
            #expect(policy.contains("connect-src 'self'"))
            #expect(!policy.contains("unsafe-inline"))
            #expect(response.headers[.xContentTypeOptions] == "nosniff")
        }
    }

    @Test func thePageUsesRelativeURLsAndNoMarkupFromData() throws {
        let html = StatusPage.html
        // Behind nginx, under any prefix: no origin and no absolute path in the page.
        #expect(!html.contains("http://") && !html.contains("https://"))
        for call in ["\"api/status\"", "\"api/chat\"", "\"api/admin/toggle-tier\""] { #expect(html.contains(call)) }
        #expect(!html.contains("\"/api/"))
        // Text from the gateway goes in as text.
        for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("] { #expect(!StatusPage.script.contains(sink)) }
        #expect(StatusPage.script.unicodeScalars.allSatisfy { $0.isASCII })
        #expect(!StatusPage.script.contains("</script"))
        // Every control the test drives has a label.
        for id in ["api-key", "admin-key", "chat-message", "chat-tier"] { #expect(html.contains("<label for=\"\(id)\">")) }
        for tier in 1...3 { #expect(html.contains("id=\"toggle-tier-\(tier)\"")) }
    }

    @Test func theStatusNeedsAKey() async throws {
        try await GatewayRoutesTests.withGateway(GatewayRoutesTests.settings()) { (client) async throws in
            let missing = try await client.execute(uri: "/api/status", method: .get)
            #expect(missing.status == .unauthorized)
            #expect(GatewayRoutesTests.error(missing)["code"] == "missing_api_key")
            // A valid key reaches Redis, which does not listen here: the documented 503.
            let valid = try await client.execute(uri: "/api/status", method: .get, headers: GatewayRoutesTests.bearer("alpha-key"))
            #expect(valid.status == .serviceUnavailable)
            #expect(GatewayRoutesTests.error(valid)["code"] == "redis_unavailable")
        }
    }

    static func between(_ open: String, _ close: String, in text: String) -> String? {
        guard let start = text.range(of: open), let end = text.range(of: close, range: start.upperBound..<text.endIndex) else { return nil }
        return String(text[start.upperBound..<end.lowerBound])
    }
}
