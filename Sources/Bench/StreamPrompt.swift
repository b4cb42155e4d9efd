import Foundation

/// The requests of the streaming scenario: prompts whose answers have a chosen length.
///
/// A translation prompt, because the simulator's answer to one is the passage itself in a
/// fixed frame (`Translation (French): «…»` and a closing note, about 25 tokens): the answer's
/// length follows the passage's, whatever unique reference each request carries. References
/// are unique so that no request is answered from the cache.
enum StreamPrompt {
    static let passage = """
        the queue holds every job until a worker takes it, and the worker answers with the text the model wrote for the \
        question it was asked. Each stream sends its tokens one by one so that the reader sees the answer grow while the \
        model is still writing the rest of it, and the gateway relays them as they come.
        """

    /// "Translate into French: <`words` words of the passage> ref <reference>", then a `#sim`
    /// line for each entry of `directives` (for example "token_ms=20").
    static func text(words: Int, reference: String, directives: [String]) -> String {
        let source = passage.split(separator: " ")
        let chosen = (0..<max(1, words)).map { source[$0 % source.count] }.joined(separator: " ")
        return "Translate into French: \(chosen) ref \(reference)" + directives.map { "\n#sim \($0)" }.joined()
    }

    /// A streamed chat completion's body. `asWorker`: the body the worker sends its provider
    /// (token logprobs for the confidence score, usage in a last chunk), for the direct
    /// baseline; otherwise what a client sends the gateway.
    static func body(model: String, text: String, asWorker: Bool) -> Data {
        var body: [String: Any] = [
            "model": model, "messages": [["role": "user", "content": text]], "stream": true, "max_tokens": 1000,
        ]
        if asWorker {
            body["logprobs"] = true
            body["stream_options"] = ["include_usage": true]
        }
        return (try? JSONSerialization.data(withJSONObject: body)) ?? Data()
    }
}
