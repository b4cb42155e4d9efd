/// A cheap estimate of a text's token count: the router's context-limit rule, and a
/// provider reply that reports no usage. The one estimator of the code base.
///
/// Qwen's byte-level BPE averages about four bytes of English or Italian text per token, and
/// about one token per CJK character (three UTF-8 bytes). Counting ASCII bytes / 4 plus one
/// token per non-ASCII character lands within roughly 15% of the real tokenizer on prose,
/// which is plenty to tell 20K from 45K, at the cost of one pass over the bytes.
public enum TokenEstimator {
    public static func estimate(_ text: String) -> Int {
        var ascii = 0
        var other = 0
        for scalar in text.unicodeScalars {
            if scalar.isASCII { ascii += 1 } else { other += 1 }
        }
        return (ascii + 3) / 4 + other
    }

    /// All messages plus a few tokens of chat-template overhead each.
    public static func estimate(_ messages: [ChatMessage]) -> Int {
        messages.reduce(0) { $0 + estimate($1.text) + 4 }
    }
}
