/// Per-request behaviour requested by `#sim` lines in the last user message.
///
/// Tests of the worker pool need a provider that times out, fails, answers badly or
/// hangs on demand, for one request only, without reconfiguring the server. The prompt
/// is the one thing every test already controls, so the simulator reads instructions
/// from it: any line whose first word is `#sim` carries space-separated directives,
/// for example
///
///     #sim latency_ms=1500 status=503
///     #sim logprob=-2.5
///     #sim openai status=503      (only the OpenAI endpoint; Claude answers normally)
///     #sim anthropic hang         (only the Anthropic endpoint)
///     #sim openai badtool         (the small model's tool call has arguments that are not JSON)
///     #sim token_ms=50 cut        (a streamed answer: 50 ms per token, then it breaks off halfway)
///     #sim judge_score=2          (the POC judge scores any answer to this task 2)
///     #sim anthropic batch=errored (a Message Batches entry ends `errored`; `expired` likewise)
///
/// A scope word right after `#sim` limits the line to one wire format, which is how a test
/// makes the small model fail while the fallback to Claude, which sees the same prompt,
/// succeeds.
/// Those lines are removed before the answer is written, so the answer reads as if the
/// directives were never there. Unknown or malformed directives are kept in ``ignored``
/// (and logged) rather than failing the request: a typo must not look like an outage.
///
/// `token_ms`, `cut` and `midstream_error` shape a streamed answer (`"stream": true`) and
/// mean nothing to a single JSON body, so a non-streaming request drops them (see
/// ``withoutStreamingDirectives``); `latency_ms` stays the wait before the first byte.
struct SimDirectives: Sendable, Equatable {
    /// `latency_ms=N`: wait N milliseconds before answering (replaces default + jitter).
    var latencyMs: Int?
    /// `status=N` (400...599): answer with that status in the endpoint's error shape.
    var status: Int?
    /// `hang`: never answer (until shutdown or cancellation).
    var hang = false
    /// `empty`: answer 200 with an empty text.
    var empty = false
    /// `evasive`: answer with an unsure, hedging text.
    var evasive = false
    /// `garbage`: answer 200 with a body that is not JSON.
    var garbage = false
    /// `short`: answer with a very short text ("OK.").
    var short = false
    /// `think`: prefix the OpenAI answer with an R1-style `<think>` block.
    var think = false
    /// `logprob=X`: the mean of the returned token logprobs.
    var meanLogprob: Double?
    /// `bad_span=X`: confident tokens except one span of an eighth of the answer at logprob X.
    var badSpan: Double?
    /// `self_eval=N` (0–10): the score given when the prompt asks the model to rate its own
    /// answer (the report's confidence method 3); 8 without the directive.
    var selfEval: Int?
    /// `judge_score=N` (1–5): the score the simulated POC judge gives an answer to a task whose
    /// prompt carries this line (`cervella poc`; the judge request quotes the task, so the line
    /// reaches the judge). Ignored by every other request.
    var judgeScore: Int?
    /// `notool`: answer text even when the request offers tools.
    var noTool = false
    /// `badtool`: a tool call whose arguments are not JSON (OpenAI's wire; Anthropic's input is always an object).
    var badTool = false
    /// `wrongargs`: a tool call without its schema's required fields.
    var wrongArgs = false
    /// `badjson`: prose where `response_format` asks for JSON (`json`, the default, answers JSON).
    var badJSON = false
    /// `token_ms=N` (0...60000): pause N milliseconds before each streamed token, so a client
    /// sees a stream arrive at a model's pace (streaming only; 0 when absent).
    var tokenMs: Int?
    /// `cut`: end a streamed answer after about half its tokens without its end marker (no
    /// `[DONE]`, no `message_stop`), as a proxy that drops the upstream does (streaming only).
    var cut = false
    /// `midstream_error`: after about half its tokens, a streamed answer carries the server's
    /// in-stream error and ends; wins over `cut` (streaming only).
    var midstreamError = false
    /// `batch=errored` / `batch=expired`: a Message Batches entry carrying this line ends that
    /// way instead of answered (`MessageBatchRoutes`); a plain `/v1/messages` call ignores it.
    var batchOutcome: String?
    /// Directives that were not understood, as written.
    var ignored: [String] = []

    /// Whether a directive already decides the outcome, in which case the configured
    /// random error rate must not override it (a test asking for `empty` gets `empty`).
    var decidesOutcome: Bool {
        status != nil || hang || empty || evasive || garbage || short || cut || midstreamError
    }

    /// The directives a non-streaming request obeys: these without `token_ms`, `cut` and
    /// `midstream_error`, which only shape a stream. Dropping them here rather than ignoring
    /// them later also keeps `cut` from shielding a JSON answer from the random error rate.
    var withoutStreamingDirectives: SimDirectives {
        var directives = self
        directives.tokenMs = nil
        directives.cut = false
        directives.midstreamError = false
        return directives
    }

    /// The understood directives in a stable order, for the debug log line.
    var summary: String {
        var parts: [String] = []
        if let latencyMs { parts.append("latency_ms=\(latencyMs)") }
        if let status { parts.append("status=\(status)") }
        if hang { parts.append("hang") }
        if empty { parts.append("empty") }
        if evasive { parts.append("evasive") }
        if garbage { parts.append("garbage") }
        if short { parts.append("short") }
        if think { parts.append("think") }
        if let meanLogprob { parts.append("logprob=\(meanLogprob)") }
        if let selfEval { parts.append("self_eval=\(selfEval)") }
        if let judgeScore { parts.append("judge_score=\(judgeScore)") }
        if let badSpan { parts.append("bad_span=\(badSpan)") }
        if noTool { parts.append("notool") }
        if badTool { parts.append("badtool") }
        if wrongArgs { parts.append("wrongargs") }
        if badJSON { parts.append("badjson") }
        if let tokenMs { parts.append("token_ms=\(tokenMs)") }
        if cut { parts.append("cut") }
        if midstreamError { parts.append("midstream_error") }
        if let batchOutcome { parts.append("batch=\(batchOutcome)") }
        return parts.joined(separator: " ")
    }

    /// The wire format a request arrived in, for scoped directive lines.
    enum Scope: String, Sendable {
        case openai, anthropic
    }

    /// Splits `text` into its directives and the remaining prompt (directive lines removed,
    /// surrounding blank lines trimmed).
    static func parse(_ text: String, scope: Scope? = nil) -> (directives: SimDirectives, prompt: String) {
        var directives = SimDirectives()
        var kept: [Substring] = []
        // `isNewline` also matches "\r\n", which Swift treats as a single Character.
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.first == "#sim" else {
                kept.append(line)
                continue
            }
            var directiveWords = words.dropFirst()
            if let first = directiveWords.first, let lineScope = Scope(rawValue: first.lowercased()) {
                directiveWords = directiveWords.dropFirst()
                if let scope, scope != lineScope { continue }
            }
            for word in directiveWords {
                directives.apply(String(word))
            }
        }
        let prompt = kept.joined(separator: "\n").trimmed()
        return (directives, prompt)
    }

    /// Applies one `name` or `name=value` directive; later directives override earlier ones.
    private mutating func apply(_ word: String) {
        let parts = word.split(separator: "=", maxSplits: 1).map(String.init)
        let name = parts[0].lowercased()
        let value = parts.count > 1 ? parts[1] : nil
        switch (name, value) {
        case ("latency_ms", let value?):
            guard let milliseconds = Int(value), milliseconds >= 0 else { return ignored.append(word) }
            latencyMs = milliseconds
        case ("status", let value?):
            guard let code = Int(value), (400...599).contains(code) else { return ignored.append(word) }
            status = code
        case ("logprob", let value?):
            guard let mean = Double(value), mean.isFinite else { return ignored.append(word) }
            meanLogprob = min(mean, 0)
        case ("bad_span", let value?):
            guard let logprob = Double(value), logprob.isFinite else { return ignored.append(word) }
            badSpan = min(logprob, 0)
        case ("self_eval", let value?):
            guard let score = Int(value), (0...10).contains(score) else { return ignored.append(word) }
            selfEval = score
        case ("judge_score", let value?):
            guard let score = Int(value), (1...5).contains(score) else { return ignored.append(word) }
            judgeScore = score
        case ("token_ms", let value?):
            guard let milliseconds = Int(value), (0...60000).contains(milliseconds) else { return ignored.append(word) }
            tokenMs = milliseconds
        case ("batch", let value?):
            guard ["errored", "expired"].contains(value) else { return ignored.append(word) }
            batchOutcome = value
        case ("hang", nil): hang = true
        case ("empty", nil): empty = true
        case ("evasive", nil): evasive = true
        case ("garbage", nil): garbage = true
        case ("short", nil): short = true
        case ("think", nil): think = true
        case ("notool", nil): noTool = true
        case ("badtool", nil): badTool = true
        case ("wrongargs", nil): wrongArgs = true
        case ("json", nil): badJSON = false
        case ("badjson", nil): badJSON = true
        case ("cut", nil): cut = true
        case ("midstream_error", nil): midstreamError = true
        default: ignored.append(word)
        }
    }
}

extension StringProtocol {
    /// The text without leading and trailing whitespace or newlines.
    func trimmed() -> String {
        var view = Substring(self)
        while let first = view.first, first.isWhitespace { view = view.dropFirst() }
        while let last = view.last, last.isWhitespace { view = view.dropLast() }
        return String(view)
    }
}
