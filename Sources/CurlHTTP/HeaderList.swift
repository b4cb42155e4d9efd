internal import CCurl

/// Owns a libcurl `curl_slist` of request header lines.
///
/// libcurl keeps only a pointer to the list set with CURLOPT_HTTPHEADER, so the list must
/// outlive the transfer; the transfer holds this object until libcurl is done with it.
final class HeaderList {
    private(set) var pointer: UnsafeMutablePointer<curl_slist>?

    /// Builds "Name: value" lines; libcurl copies each string.
    ///
    /// An empty "Expect:" is added unless the caller set Expect: otherwise libcurl sends
    /// `Expect: 100-continue` for larger POST bodies and waits up to a second for a reply
    /// that many servers never send.
    init(_ headers: [HTTPHeader]) throws(HTTPClientError) {
        var lines = headers.map { "\($0.name): \($0.value)" }
        if !headers.contains(where: { $0.name.lowercased() == "expect" }) {
            lines.append("Expect:")
        }
        for line in lines {
            guard let extended = curl_slist_append(pointer, line) else {
                throw HTTPClientError(code: .other, message: "out of memory building request headers")
            }
            pointer = extended
        }
    }

    deinit {
        curl_slist_free_all(pointer)
    }
}
