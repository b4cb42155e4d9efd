internal import CCurl

extension HTTPClientError {
    /// Builds the error for a failed libcurl call.
    ///
    /// `detail` is the text from CURLOPT_ERRORBUFFER when libcurl filled it (it names the
    /// precise cause, e.g. "Operation timed out after 200 milliseconds with 0 bytes
    /// received"); otherwise the generic `curl_easy_strerror` text is used.
    init(curlCode: CURLcode, detail: String?, host: String) {
        let text: String
        if let detail, !detail.isEmpty {
            text = detail
        } else {
            text = String(cString: curl_easy_strerror(curlCode))
        }
        self.init(
            code: Code(curlCode: curlCode),
            message: "\(text) (host \(host), curl error \(curlCode.rawValue))"
        )
    }
}

extension HTTPClientError.Code {
    /// The single place where libcurl result codes become `HTTPClientError.Code`s.
    ///
    /// Connection-level codes are grouped so callers can treat them as "try another
    /// endpoint"; invalid requests are separated because retrying them is pointless.
    init(curlCode: CURLcode) {
        switch curlCode {
        case CURLE_OPERATION_TIMEDOUT:
            self = .timeout
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY,
            CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE:
            self = .connection
        case CURLE_SSL_CONNECT_ERROR, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED,
            CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_PEER_FAILED_VERIFICATION,
            CURLE_SSL_ENGINE_INITFAILED, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_SHUTDOWN_FAILED,
            CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
            CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CLIENTCERT:
            self = .tls
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL:
            self = .invalidRequest
        default:
            self = .other
        }
    }
}
