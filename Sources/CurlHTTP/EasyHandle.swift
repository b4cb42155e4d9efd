internal import CCurl
internal import CCurlShim

/// Owns a libcurl easy handle and the error buffer libcurl writes into.
///
/// Used only on the client's loop thread. Handles are reset and reused between requests,
/// which saves an allocation and keeps libcurl's per-handle caches (DNS, TLS sessions)
/// warm; connections themselves live in the multi handle's cache.
final class EasyHandle {
    let raw: UnsafeMutableRawPointer
    /// CURLOPT_ERRORBUFFER: libcurl's specific explanation of a failure, which is far more
    /// useful in logs than the generic text for the code.
    private let errorBuffer: UnsafeMutablePointer<CChar>

    init() throws(HTTPClientError) {
        guard let raw = curl_easy_init() else {
            throw HTTPClientError(code: .other, message: "curl_easy_init failed (out of memory?)")
        }
        self.raw = raw
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        curl_easy_cleanup(raw)
        errorBuffer.deallocate()
    }

    /// Clears every option so the handle can carry an unrelated request, and re-arms the
    /// error buffer (curl_easy_reset forgets it).
    func reset() throws(EasyHandleError) {
        curl_easy_reset(raw)
        errorBuffer[0] = 0
        try check(cervella_curl_easy_setopt_ptr(raw, CURLOPT_ERRORBUFFER, errorBuffer))
    }

    /// The text libcurl left in the error buffer for the last failure, if any.
    var errorText: String? {
        errorBuffer[Int(CURL_ERROR_SIZE) - 1] = 0
        let text = String(cString: errorBuffer)
        return text.isEmpty ? nil : text
    }

    func set(_ option: CURLoption, _ value: Int) throws(EasyHandleError) {
        try check(cervella_curl_easy_setopt_long(raw, option, value))
    }

    func set(_ option: CURLoption, _ value: Int64) throws(EasyHandleError) {
        try check(cervella_curl_easy_setopt_int64(raw, option, curl_off_t(value)))
    }

    /// Sets a string option; libcurl copies the string (since 7.17), so it need not outlive
    /// the call.
    func set(_ option: CURLoption, _ value: String) throws(EasyHandleError) {
        let result = value.withCString { cervella_curl_easy_setopt_ptr(raw, option, $0) }
        try check(result)
    }

    /// Sets a pointer option; the caller keeps the pointee alive for as long as libcurl may
    /// use it.
    func set(_ option: CURLoption, pointer: UnsafeRawPointer?) throws(EasyHandleError) {
        try check(cervella_curl_easy_setopt_ptr(raw, option, pointer))
    }

    func set(_ option: CURLoption, headers: HeaderList) throws(EasyHandleError) {
        try check(cervella_curl_easy_setopt_slist(raw, option, headers.pointer))
    }

    func set(_ option: CURLoption, callback: cervella_curl_data_callback) throws(EasyHandleError) {
        try check(cervella_curl_easy_setopt_data_callback(raw, option, callback))
    }

    /// Copies `bytes` into libcurl (CURLOPT_COPYPOSTFIELDS) so the request body's storage
    /// does not have to outlive this call.
    func setBody(_ bytes: UnsafeRawBufferPointer) throws(EasyHandleError) {
        try set(CURLOPT_POSTFIELDSIZE_LARGE, Int64(bytes.count))
        // A zero-length body still needs a valid pointer, or libcurl reads from a callback.
        let empty: StaticString = ""
        let base = bytes.baseAddress ?? UnsafeRawPointer(empty.utf8Start)
        try set(CURLOPT_COPYPOSTFIELDS, pointer: base)
    }

    /// The status code of the last response (0 when none arrived).
    func responseCode() -> Int {
        var code = 0
        _ = cervella_curl_easy_getinfo_long(raw, CURLINFO_RESPONSE_CODE, &code)
        return code
    }

    private func check(_ result: CURLcode) throws(EasyHandleError) {
        guard result == CURLE_OK else { throw EasyHandleError(code: result) }
    }
}

/// A failed `curl_easy_setopt`; carries the code so it maps like any transfer failure
/// (an unsupported URL scheme or a malformed URL can be reported at this point).
struct EasyHandleError: Error {
    var code: CURLcode
}
