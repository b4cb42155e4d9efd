/// The report's confidence method 3: ask the same model to rate its own answer from 0 to 10.
///
/// It costs one more (short) call per answer, which is why it is off by default.
public enum SelfEvaluation {
    /// The report's prompt (3.3), word for word; multilingual models answer it in any language.
    public static func prompt(question: String, answer: String) -> String {
        """
        Domanda originale: \(question)
        Tua risposta: \(answer)

        Valuta su scala 0-10 quanto sei confident della tua risposta:
        - 10 = completamente sicuro, risposta corretta
        - 5 = incerto, potrebbero esserci alternative
        - 0 = molto insicuro, risposta potenzialmente errata

        Confidence score (solo numero 0-10):
        """
    }

    /// The first whole number 0–10 in the reply, as 0–1; nil when there is none.
    public static func parse(_ reply: String) -> Double? {
        var digits = ""
        for character in reply {
            if character.isASCII && character.isNumber {
                digits.append(character)
            } else if !digits.isEmpty {
                break
            }
        }
        guard let value = Int(digits), (0...10).contains(value) else { return nil }
        return Double(value) / 10
    }
}
