/// One HTTP header field, as sent or received.
///
/// A struct rather than a tuple so that requests and responses can be `Equatable` and so
/// call sites read `HTTPHeader(name: "x-api-key", value: key)`. Names keep the spelling
/// given or received; compare them case-insensitively (`HTTPResponse.header(_:)` does).
public struct HTTPHeader: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// Only the name: values may be credentials and descriptions end up in logs.
    public var description: String {
        "\(name): <redacted>"
    }
}
