/// Whitespace trimming on scalars: Foundation's `trimmingCharacters(in:)` bridges through
/// NSString, which on Linux costs more than the rest of a job's bookkeeping.
extension StringProtocol {
    /// Without leading and trailing Unicode whitespace (spaces, tabs, newlines), like
    /// `trimmingCharacters(in: .whitespacesAndNewlines)`.
    public var trimmedWhitespace: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(String.UnicodeScalarView(scalars[first...last]))
    }

    /// True when empty or only whitespace.
    public var isBlank: Bool { unicodeScalars.allSatisfy(\.properties.isWhitespace) }
}
