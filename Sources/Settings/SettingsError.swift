/// A configuration problem, naming the key (`tier1.confidence_threshold`, or the environment
/// variable that set it) and what to do about it.
public struct SettingsError: Error, Sendable, Equatable, CustomStringConvertible {
    public var key: String
    public var message: String

    public init(key: String, _ message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { "configuration error at '\(key)': \(message)" }
}
