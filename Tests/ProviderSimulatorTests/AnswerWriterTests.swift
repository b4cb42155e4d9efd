import Testing

@testable import ProviderSimulator

/// The deterministic answers, the token split and the logprob maths.
@Suite("AnswerWriter and SimTokens")
struct AnswerWriterTests {
    static let evasivePhrases = ["not sure", "maybe", "perhaps", "i think", "might", "non sono sicuro", "forse", "non so", "potrei"]

    static let prompts = [
        "What is Redis and why would a worker pool use it?",
        "Summarize the following text: The pool routes jobs to tiers. Small models answer first.",
        "Riassumi questo testo: il sistema usa Redis per le code e Claude come fallback.",
        "Write a commit message for: fix crash in RedisClient when the reply is nil",
        "Translate to Italian: Good morning, my friend",
        "Traduci in inglese: buongiorno a tutti",
        "Spiega come funziona una coda FIFO in Redis",
        "",
        "?",
    ]

    @Test("default answers are long, confident and deterministic", arguments: prompts)
    func defaultAnswers(prompt: String) {
        let answer = AnswerWriter.answer(prompt: prompt, directives: SimDirectives(), allowThinking: true)
        #expect(answer.count >= AnswerWriter.minimumDefaultLength)
        let lowered = answer.lowercased()
        for phrase in Self.evasivePhrases {
            #expect(!lowered.contains(phrase), "\(phrase) in \(answer)")
        }
        #expect(answer == AnswerWriter.answer(prompt: prompt, directives: SimDirectives(), allowThinking: true))
    }

    @Test("answers follow the prompt's intent and words")
    func intents() {
        let none = SimDirectives()
        let summary = AnswerWriter.answer(prompt: Self.prompts[1], directives: none, allowThinking: true)
        #expect(summary.hasPrefix("Summary: The pool routes jobs to tiers."))
        let riassunto = AnswerWriter.answer(prompt: Self.prompts[2], directives: none, allowThinking: true)
        #expect(riassunto.hasPrefix("Summary: "))
        #expect(riassunto.contains("Redis"))
        let commit = AnswerWriter.answer(prompt: Self.prompts[3], directives: none, allowThinking: true)
        let subject = commit.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(subject[0].hasPrefix("fix(") && subject[0].contains("): "))
        #expect(subject[0].count <= 72)
        #expect(subject[1].isEmpty && subject.count > 2)
        let translation = AnswerWriter.answer(prompt: Self.prompts[4], directives: none, allowThinking: true)
        #expect(translation.hasPrefix("Translation (Italian): «Buongiorno, mio amico»"))
        let traduzione = AnswerWriter.answer(prompt: Self.prompts[5], directives: none, allowThinking: true)
        #expect(traduzione.hasPrefix("Traduzione (inglese): «good morning to tutti»"))
        let general = AnswerWriter.answer(prompt: Self.prompts[0], directives: none, allowThinking: true)
        #expect(general.lowercased().contains("redis"))
        let italian = AnswerWriter.answer(prompt: Self.prompts[6], directives: none, allowThinking: true)
        #expect(PromptFeatures(prompt: Self.prompts[6]).isItalian)
        #expect(italian.contains("coda") || italian.contains("funziona") || italian.contains("redis"))
    }

    @Test("different prompts give different answers")
    func differentPrompts() {
        let first = AnswerWriter.answer(prompt: "Explain vector clocks", directives: SimDirectives(), allowThinking: true)
        let second = AnswerWriter.answer(prompt: "Explain consistent hashing", directives: SimDirectives(), allowThinking: true)
        #expect(first != second)
    }

    @Test("content directives: empty, short, evasive in two languages, think")
    func contentDirectives() {
        var directives = SimDirectives()
        directives.empty = true
        #expect(AnswerWriter.answer(prompt: "Q", directives: directives, allowThinking: true) == "")
        directives = SimDirectives()
        directives.short = true
        #expect(AnswerWriter.answer(prompt: "What is Redis?", directives: directives, allowThinking: true).count < 20)
        directives = SimDirectives()
        directives.evasive = true
        #expect(
            AnswerWriter.answer(prompt: "What is the capital of France?", directives: directives, allowThinking: true).hasPrefix(
                "I'm not sure, maybe"))
        #expect(
            AnswerWriter.answer(prompt: "Qual è la capitale della Francia?", directives: directives, allowThinking: true).hasPrefix(
                "Non sono sicuro, forse"))
        directives = SimDirectives()
        directives.think = true
        let plain = AnswerWriter.answer(prompt: "What is Redis?", directives: SimDirectives(), allowThinking: true)
        let thinking = AnswerWriter.answer(prompt: "What is Redis?", directives: directives, allowThinking: true)
        #expect(thinking.hasPrefix("<think>\n"))
        #expect(thinking.hasSuffix("\n</think>\n\n" + plain))
        #expect(AnswerWriter.answer(prompt: "What is Redis?", directives: directives, allowThinking: false) == plain)
    }

    @Test("tokens keep their leading whitespace and rebuild the text exactly")
    func tokenSplit() {
        #expect(SimTokens.split("Hello big  world\nok ") == ["Hello", " big", "  world", "\nok", " "])
        #expect(SimTokens.split("") == [])
        let text = AnswerWriter.answer(prompt: "Explain Redis streams", directives: SimDirectives(), allowThinking: true)
        #expect(SimTokens.split(text).joined() == text)
        #expect(SimTokens.approximateCount("abcde") == 2)
        #expect(SimTokens.approximateCount("abcd") == 1)
        #expect(SimTokens.approximateCount("") == 0)
    }

    @Test("logprob means hit their target and stay non-positive", arguments: [-0.05, -2.5, -0.001, -7.0, 0.0])
    func logprobMean(target: Double) {
        let tokens = SimTokens.split(AnswerWriter.answer(prompt: "Describe \(target)", directives: SimDirectives(), allowThinking: true))
        let values = SimTokens.logprobs(for: tokens, mean: target, seed: 99)
        #expect(values.count == tokens.count)
        let mean = values.reduce(0, +) / Double(values.count)
        #expect(abs(mean - target) < 0.001)
        #expect(values.allSatisfy { $0 <= 0 })
        if target < -0.01 { #expect(Set(values).count > 1, "per-token variation expected") }
        #expect(values == SimTokens.logprobs(for: tokens, mean: target, seed: 99))
    }

    @Test("top logprobs list the chosen token among sorted alternatives")
    func topEntries() {
        let entries = SimTokens.topEntries(token: " the", logprob: -0.2, count: 4)
        #expect(entries.count == 4)
        let serialized = JSONValue.array(entries).serialized()
        #expect(serialized.hasPrefix("[{\"token\":\" the\",\"logprob\":-0.2,"))
        #expect(SimTokens.topEntries(token: "x", logprob: -1, count: 0).isEmpty)
    }

    @Test("JSON writer escapes strings and keeps explicit nulls in order")
    func jsonWriter() {
        let value: JSONValue = ["a": "q\"\\\n\u{01}é", "b": nil, "c": [1, 2.5, true], "d": 0.0]
        #expect(value.serialized() == "{\"a\":\"q\\\"\\\\\\n\\u0001é\",\"b\":null,\"c\":[1,2.5,true],\"d\":0.0}")
    }
}
