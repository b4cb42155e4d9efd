import Foundation
import Hummingbird
import JobProtocol

/// The gateway's status page at `/`: one self-contained HTML document (inline CSS and script,
/// no external assets, no build step) that reads `GET /api/status` every two seconds with the
/// API key it is given, has a chat box on `/api/chat`, and flips tier switches with the admin
/// key (`POST /api/admin/toggle-tier`).
///
/// A string in the binary rather than a SwiftPM resource: `cervella` stays one standalone
/// file to copy onto a machine. The page holds no data, so serving it needs no key; every URL
/// in it is relative (`api/status`), so it works behind nginx at `/` or under a sub-path.
enum StatusPage {
    static let html = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Cervella status</title>
        <link rel="icon" href="data:,">
        <style>\(style)</style>
        </head>
        <body>
        \(body)
        <script>\(script)</script>
        </body>
        </html>

        """

    static let bytes = Array(html.utf8)

    /// `script-src` and `style-src` allow exactly the page's own inline script and style, by
    /// their SHA-256, computed here from the same strings the page is made of, so they cannot
    /// drift apart. Hashes rather than `'unsafe-inline'`: should a figure from Redis ever reach
    /// the DOM as markup, a script it carried would still not run. `connect-src 'self'` lets
    /// the page call its own gateway (through nginx too: same origin) and nothing else.
    static let contentSecurityPolicy = [
        "default-src 'none'", "script-src \(sourceHash(script))", "style-src \(sourceHash(style))", "connect-src 'self'", "img-src data:",
        "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
    ].joined(separator: "; ")

    static let headers: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        .contentSecurityPolicy: contentSecurityPolicy,
        .xContentTypeOptions: "nosniff",
        GatewayResponse.HeaderName("referrer-policy")!: "no-referrer",
        // A new gateway version brings a new page: always revalidate rather than cache it.
        .cacheControl: "no-cache",
    ]

    /// `'sha256-<base64>'`, a CSP source that allows one inline element with this content.
    static func sourceHash(_ text: String) -> String {
        "'sha256-\(Data(SHA256.digest(Array(text.utf8))).base64EncodedString())'"
    }

    static let style = """

        :root { color-scheme: light dark; --muted: #666; --ok: #1a7f37; --bad: #b42318; --line: #8884; }
        body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem 1.5rem 3rem; }
        h1 { font-size: 1.5rem; margin: 0.5rem 0 0; }
        h2 { font-size: 1.1rem; margin: 1.8rem 0 0.6rem; border-bottom: 1px solid var(--line); padding-bottom: 0.2rem; }
        .hint, caption { color: var(--muted); font-size: 0.85rem; }
        caption { text-align: left; caption-side: bottom; padding-top: 0.3rem; }
        form { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin: 0.4rem 0; }
        form .hint { flex-basis: 100%; margin: 0; }
        label { font-weight: 600; min-width: 6rem; }
        input, textarea, select, button { font: inherit; }
        input[type=password] { min-width: 16rem; }
        textarea { flex-basis: 100%; min-height: 4rem; }
        button { padding: 0.25rem 0.8rem; cursor: pointer; }
        button:disabled { cursor: progress; }
        [data-state=ok] { color: var(--ok); }
        [data-state=error], .error { color: var(--bad); font-weight: 600; }
        .figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(10rem, 1fr)); gap: 0.6rem; margin: 0; }
        .figures div { border: 1px solid var(--line); border-radius: 6px; padding: 0.4rem 0.7rem; }
        .figures dt { color: var(--muted); font-size: 0.85rem; }
        .figures dd { margin: 0; font-size: 1.3rem; font-variant-numeric: tabular-nums; }
        table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
        th, td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        td.number { text-align: right; }
        .off { color: var(--bad); }
        .columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(20rem, 1fr)); gap: 1.5rem; }
        #chat-log { list-style: none; padding: 0; }
        #chat-log li { border: 1px solid var(--line); border-radius: 6px; padding: 0.5rem 0.8rem; margin: 0.6rem 0; }
        .question { color: var(--muted); margin: 0; }
        .answer-text { white-space: pre-wrap; margin: 0.4rem 0; }
        .meta { display: flex; flex-wrap: wrap; gap: 0.2rem 1rem; margin: 0; font-size: 0.85rem; }
        .meta div { display: flex; gap: 0.3rem; }
        .meta dt { color: var(--muted); }
        .meta dd { margin: 0; }
        .feedback { display: flex; gap: 0.4rem; align-items: center; margin-top: 0.3rem; font-size: 0.85rem; }
        .feedback button { padding: 0.1rem 0.5rem; }

        """

    static let body = """
        <header>
        <h1>Cervella status</h1>
        <p id="connection" role="status" aria-live="polite" data-state="idle">Loading…</p>
        </header>
        <main>
        <section aria-labelledby="keys-title">
        <h2 id="keys-title">Keys</h2>
        <form id="api-key-form">
        <label for="api-key">API key</label>
        <input id="api-key" type="password" autocomplete="off" spellcheck="false">
        <button id="save-api-key" type="submit">Use key</button>
        <button id="forget-api-key" type="button">Forget</button>
        <p class="hint">For the figures and the chat. Kept in this browser (localStorage) and sent only to this gateway.</p>
        </form>
        <form id="admin-key-form">
        <label for="admin-key">Admin key</label>
        <input id="admin-key" type="password" autocomplete="off" spellcheck="false">
        <button id="save-admin-key" type="submit">Use for this tab</button>
        <button id="forget-admin-key" type="button">Forget</button>
        <p class="hint">Only for switching tiers. Kept for this tab only (sessionStorage).</p>
        </form>
        <p id="key-message" role="status" aria-live="polite"></p>
        </section>

        <section aria-labelledby="overview-title">
        <h2 id="overview-title">Last 24 hours</h2>
        <dl class="figures">
        <div><dt>Requests</dt><dd id="requests-total">–</dd></div>
        <div><dt>Cost today</dt><dd id="cost-today">–</dd></div>
        <div><dt>Month projection</dt><dd id="cost-month">–</dd></div>
        <div><dt>Saved against Claude alone</dt><dd id="savings">–</dd></div>
        <div><dt>Error rate</dt><dd id="error-rate">–</dd></div>
        <div><dt>Cache hits</dt><dd id="cache-hits">–</dd></div>
        <div><dt>Workers alive</dt><dd id="workers-alive">–</dd></div>
        <div><dt>Jobs in flight / slots</dt><dd id="in-flight">–</dd></div>
        </dl>
        <ul id="alerts" class="error"></ul>
        </section>

        <section aria-labelledby="tiers-title">
        <h2 id="tiers-title">Tiers</h2>
        <table id="tiers">
        <caption>Latency percentiles are the upper bounds of the histogram's buckets. Switching a tier needs the admin key.</caption>
        <thead><tr>
        <th scope="col">Tier</th><th scope="col">Model</th><th scope="col">Switch</th><th scope="col">Health</th>
        <th scope="col">Share</th><th scope="col">Requests</th><th scope="col">Fallback rate</th>
        <th scope="col">p50</th><th scope="col">p90</th><th scope="col">p95</th><th scope="col">p99</th>
        </tr></thead>
        <tbody>
        \([1, 2, 3].map(tierRow).joined(separator: "\n"))
        </tbody>
        </table>
        <p id="switch-message" role="alert"></p>
        </section>

        <div class="columns">
        <section aria-labelledby="fallbacks-title">
        <h2 id="fallbacks-title">Fallbacks to Claude</h2>
        <p>Fallback is <span id="fallback-enabled">–</span>.</p>
        <ul id="fallback-reasons"><li>none</li></ul>
        </section>
        <section aria-labelledby="queues-title">
        <h2 id="queues-title">Queues</h2>
        <table id="queues">
        <thead><tr><th scope="col">Queue</th><th scope="col">Waiting jobs</th></tr></thead>
        <tbody id="queue-rows"></tbody>
        </table>
        </section>
        </div>

        <section aria-labelledby="chat-title">
        <h2 id="chat-title">Chat</h2>
        <form id="chat-form">
        <label for="chat-message">Message</label>
        <textarea id="chat-message" rows="3" required></textarea>
        <label for="chat-tier">Tier hint</label>
        <select id="chat-tier">
        <option value="auto">auto (the classifier decides)</option>
        <option value="simple">simple (tier 1)</option>
        <option value="medium">medium (tier 2)</option>
        <option value="complex">complex (tier 3, Claude)</option>
        </select>
        <button id="chat-send" type="submit">Send</button>
        <p class="hint">Sent to /api/chat with the API key; Ctrl+Enter sends too.</p>
        </form>
        <p id="chat-state" role="status" aria-live="polite"></p>
        <ol id="chat-log" aria-live="polite"></ol>
        </section>
        </main>
        """

    /// One tier's row; the script fills its cells by id.
    static func tierRow(_ tier: Int) -> String {
        let cells = ["health", "share", "requests", "fallback", "p50", "p90", "p95", "p99"].map { field in
            "<td id=\"tier-\(tier)-\(field)\"\(field == "health" ? "" : " class=\"number\"")>–</td>"
        }
        return """
            <tr id="tier-\(tier)"><th scope="row">\(tier)</th><td id="tier-\(tier)-model">–</td>\
            <td><span id="tier-\(tier)-state">–</span> <button id="toggle-tier-\(tier)" type="button" disabled>Switch</button></td>\
            \(cells.joined())</tr>
            """
    }
}
