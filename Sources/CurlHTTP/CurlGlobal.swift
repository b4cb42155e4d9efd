internal import CCurl

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Process-wide libcurl set-up, done exactly once.
///
/// `curl_global_init` is not guaranteed to be thread-safe on every libcurl build, so it runs
/// inside a Swift global initialiser, which the runtime executes once under a lock no matter
/// how many clients start concurrently. SIGPIPE is ignored at the same time: a peer that
/// closes a socket while libcurl (or OpenSSL beneath it) writes would otherwise kill the
/// whole worker process, and CURLOPT_NOSIGNAL stops libcurl from masking it for us.
enum CurlGlobal {
    private static let initializationResult: UInt32 = {
        _ = signal(SIGPIPE, SIG_IGN)
        return curl_global_init(Int(CURL_GLOBAL_ALL)).rawValue
    }()

    /// Runs the one-time initialisation and reports whether libcurl is usable.
    static func initialize() throws(HTTPClientError) {
        let code = initializationResult
        guard code == CURLE_OK.rawValue else {
            throw HTTPClientError(
                code: .other,
                message: "libcurl global initialisation failed with CURLcode \(code); "
                    + "check that libcurl and its TLS library are installed correctly"
            )
        }
    }
}
