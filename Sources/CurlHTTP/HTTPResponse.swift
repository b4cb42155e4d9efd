import Foundation

/// A complete HTTP response: status, headers and the whole body.
///
/// Bodies are collected in memory because provider replies (chat completions) are small
/// and are parsed as a whole. Any status, including 4xx and 5xx, is a response and not an
/// error, so callers can read a provider's error body.
public struct HTTPResponse: Sendable, Equatable {
    /// The HTTP status code of the final response.
    public var status: Int
    /// The final response's headers, in the order received, with names as the server sent
    /// them. Headers of interim responses (100 Continue) are not included.
    public var headers: [HTTPHeader]
    /// The response body, after transfer decoding.
    public var body: Data

    public init(status: Int, headers: [HTTPHeader] = [], body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The value of the first header called `name`, compared case-insensitively as HTTP
    /// requires; `nil` when absent.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}
