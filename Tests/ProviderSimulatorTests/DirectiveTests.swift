import Testing

@testable import ProviderSimulator

/// Parsing of `#sim` lines: which lines count, how values are read, what is ignored.
@Suite("SimDirectives")
struct DirectiveTests {
    @Test("directive lines are removed and every directive is read")
    func parsesAllDirectives() {
        let text = """
            #sim latency_ms=1500 status=503
            What is Redis?
              #sim hang empty evasive garbage short think logprob=-2.5
            Explain briefly.
            """
        let (directives, prompt) = SimDirectives.parse(text)
        #expect(prompt == "What is Redis?\nExplain briefly.")
        #expect(directives.latencyMs == 1500)
        #expect(directives.status == 503)
        #expect(directives.hang && directives.empty && directives.evasive)
        #expect(directives.garbage && directives.short && directives.think)
        #expect(directives.meanLogprob == -2.5)
        #expect(directives.ignored.isEmpty)
    }

    @Test("text without directives is returned unchanged and trimmed")
    func noDirectives() {
        let (directives, prompt) = SimDirectives.parse("\n  Hello #sim status=500 inline is not a directive \n")
        #expect(directives == SimDirectives())
        #expect(prompt == "Hello #sim status=500 inline is not a directive")
        #expect(!directives.decidesOutcome)
    }

    @Test("malformed or unknown directives are ignored, not applied")
    func ignoresBadValues() {
        let (directives, prompt) = SimDirectives.parse("#sim status=200 status=abc latency_ms=-3 logprob=x teleport\nHi")
        #expect(directives.status == nil)
        #expect(directives.latencyMs == nil)
        #expect(directives.meanLogprob == nil)
        #expect(directives.ignored == ["status=200", "status=abc", "latency_ms=-3", "logprob=x", "teleport"])
        #expect(prompt == "Hi")
    }

    @Test("later directives override earlier ones; CRLF lines are handled")
    func laterWins() {
        let (directives, prompt) = SimDirectives.parse("#sim status=500\r\n#sim status=429\r\nQuestion")
        #expect(directives.status == 429)
        #expect(prompt == "Question")
    }

    @Test("a line needs the exact word #sim")
    func exactKeyword() {
        let (directives, prompt) = SimDirectives.parse("#simulate status=500\n#SIM empty\nQ")
        #expect(directives.status == nil)
        #expect(!directives.empty)
        #expect(prompt == "#simulate status=500\n#SIM empty\nQ")
    }

    @Test("outcome directives suppress random errors; latency and think do not")
    func decidesOutcome() {
        #expect(SimDirectives.parse("#sim latency_ms=5 think logprob=-1\nQ").directives.decidesOutcome == false)
        for word in ["status=503", "hang", "empty", "evasive", "garbage", "short"] {
            #expect(SimDirectives.parse("#sim \(word)\nQ").directives.decidesOutcome, "\(word)")
        }
    }
}

@Suite struct StreamingDirectiveParsingTests {
    @Test func streamingDirectivesAreReadAndDroppedForNonStreamingRequests() {
        let (directives, prompt) = SimDirectives.parse("#sim token_ms=40 cut midstream_error latency_ms=5\nQ")
        #expect(prompt == "Q")
        #expect(directives.tokenMs == 40 && directives.cut && directives.midstreamError)
        #expect(directives.ignored.isEmpty)
        #expect(directives.summary == "latency_ms=5 token_ms=40 cut midstream_error")
        #expect(directives.decidesOutcome)
        let plain = directives.withoutStreamingDirectives
        #expect(plain.tokenMs == nil && !plain.cut && !plain.midstreamError)
        #expect(plain.latencyMs == 5 && !plain.decidesOutcome)
        #expect(SimDirectives.parse("#sim token_ms=0 token_ms=60000").directives.tokenMs == 60000)
        let bad = SimDirectives.parse("#sim token_ms=60001 token_ms=-1 token_ms=x cut=1").directives
        #expect(bad.tokenMs == nil && !bad.cut)
        #expect(bad.ignored == ["token_ms=60001", "token_ms=-1", "token_ms=x", "cut=1"])
    }
}

@Suite struct ScopedDirectiveTests {
    @Test func scopedLinesApplyOnlyToTheirWireFormat() {
        let text = "Explain queues.\n#sim openai status=503\n#sim anthropic latency_ms=10\n#sim think"
        let (openai, prompt) = SimDirectives.parse(text, scope: .openai)
        #expect(openai.status == 503)
        #expect(openai.latencyMs == nil)
        #expect(openai.think)
        #expect(prompt == "Explain queues.")
        let (anthropic, _) = SimDirectives.parse(text, scope: .anthropic)
        #expect(anthropic.status == nil)
        #expect(anthropic.latencyMs == 10)
        #expect(anthropic.think)
    }
}

@Suite struct SelfEvaluationAnswerTests {
    static let prompt = "Domanda originale: Quanto fa 2+2?\nTua risposta: 4\n\nConfidence score (solo numero 0-10):"

    @Test func selfEvaluationPromptsGetABareScore() {
        let (plain, text) = SimDirectives.parse(Self.prompt, scope: .openai)
        #expect(AnswerWriter.answer(prompt: text, directives: plain, allowThinking: true) == "8")
        let (directed, directedText) = SimDirectives.parse(Self.prompt + "\n#sim openai self_eval=3 evasive", scope: .openai)
        #expect(directed.selfEval == 3)
        #expect(AnswerWriter.answer(prompt: directedText, directives: directed, allowThinking: true) == "3")
        let (badValue, _) = SimDirectives.parse("#sim self_eval=11", scope: .openai)
        #expect(badValue.selfEval == nil)
        #expect(badValue.ignored == ["self_eval=11"])
    }
}
