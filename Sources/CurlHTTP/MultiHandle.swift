internal import CCurl
internal import CCurlShim

/// Owns a libcurl multi handle: the connection cache and the transfers in flight.
///
/// Thread confinement: every method except `wakeup()` is called only on the client's loop
/// thread. `curl_multi_wakeup` is the one multi-interface call libcurl documents as safe
/// from any thread, which is why the class can be shared (`@unchecked Sendable`) for that
/// single purpose. The handle is freed when both the client and the loop have let go, so
/// a late `wakeup()` never touches freed memory.
final class MultiHandle: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer

    init(configuration: HTTPClient.Configuration) throws(HTTPClientError) {
        guard let raw = curl_multi_init() else {
            throw HTTPClientError(code: .other, message: "curl_multi_init failed (out of memory?)")
        }
        self.raw = raw
        // Connection limits queue transfers inside libcurl instead of failing them, so a
        // burst of requests waits for a free connection rather than opening hundreds.
        try set(CURLMOPT_MAX_HOST_CONNECTIONS, configuration.maxConnectionsPerHost)
        try set(CURLMOPT_MAX_TOTAL_CONNECTIONS, configuration.maxTotalConnections)
        // Keep as many idle connections as we may open, so bursts reuse them.
        try set(CURLMOPT_MAXCONNECTS, configuration.maxTotalConnections)
        // HTTP/2 over TLS multiplexes many requests on one connection (Anthropic's API).
        try set(CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))
    }

    deinit {
        curl_multi_cleanup(raw)
    }

    private func set(_ option: CURLMoption, _ value: Int) throws(HTTPClientError) {
        let result = cervella_curl_multi_setopt_long(raw, option, value)
        guard result == CURLM_OK else {
            throw HTTPClientError(code: .other, message: "curl_multi_setopt failed: \(Self.text(result))")
        }
    }

    func add(_ easy: EasyHandle) throws(HTTPClientError) {
        let result = curl_multi_add_handle(raw, easy.raw)
        guard result == CURLM_OK else {
            throw HTTPClientError(code: .other, message: "curl_multi_add_handle failed: \(Self.text(result))")
        }
    }

    func remove(_ easy: EasyHandle) {
        // Fails only for a handle that is not in this multi; nothing to undo then.
        _ = curl_multi_remove_handle(raw, easy.raw)
    }

    /// Drives every transfer as far as it can go without blocking.
    func perform() {
        var running: Int32 = 0
        _ = curl_multi_perform(raw, &running)
    }

    /// Blocks until a socket is ready, libcurl's next internal timeout, `wakeup()`, or
    /// `timeoutMilliseconds`, whichever comes first.
    func poll(timeoutMilliseconds: Int32) {
        var ready: Int32 = 0
        _ = curl_multi_poll(raw, nil, 0, timeoutMilliseconds, &ready)
    }

    /// Interrupts a `poll` in progress, or makes the next one return at once.
    func wakeup() {
        _ = curl_multi_wakeup(raw)
    }

    /// The next finished transfer, if any: the easy handle and its result code.
    func nextCompletion() -> (easy: UnsafeMutableRawPointer, result: CURLcode)? {
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(raw, &remaining) {
            // Copy out at once: the message is invalid after the handle is removed.
            if message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle {
                return (easy, message.pointee.data.result)
            }
        }
        return nil
    }

    private static func text(_ code: CURLMcode) -> String {
        String(cString: curl_multi_strerror(code))
    }
}
