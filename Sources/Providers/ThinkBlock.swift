/// Splits R1-style `<think>…</think>` reasoning off an answer.
///
/// DeepSeek-R1-Distill writes its reasoning before the answer; vLLM without a reasoning parser
/// leaves it in `content`. An unclosed block (the model ran out of tokens while thinking)
/// leaves no answer at all, which the fallback policy then treats as empty.
public enum ThinkBlock {
    public static func split(_ text: String) -> (answer: String, reasoning: String?) {
        guard let open = text.range(of: "<think>") else {
            // vLLM's chat template for R1 may emit only the closing tag.
            if let close = text.range(of: "</think>") {
                let reasoning = String(text[..<close.lowerBound])
                return (String(text[close.upperBound...]).trimmingLeadingWhitespace(), reasoning)
            }
            return (text, nil)
        }
        let before = String(text[..<open.lowerBound])
        guard let close = text.range(of: "</think>", range: open.upperBound..<text.endIndex) else {
            return (before.trimmingLeadingWhitespace(), String(text[open.upperBound...]))
        }
        let reasoning = String(text[open.upperBound..<close.lowerBound])
        let answer = before + String(text[close.upperBound...])
        return (answer.trimmingLeadingWhitespace(), reasoning)
    }
}

extension String {
    func trimmingLeadingWhitespace() -> String {
        String(drop { $0.isWhitespace })
    }
}
