internal import CCurl
internal import CCurlShim
import Foundation

/// A request that is running inside libcurl: the easy handle, what it needs kept alive,
/// and the response being assembled.
///
/// Lives only on the loop thread. libcurl's write and header callbacks receive a pointer
/// to this object as their user data; the loop's table of active transfers keeps it alive
/// until the easy handle has been removed from the multi handle, after which libcurl no
/// longer calls back.
final class Transfer {
    let pending: PendingTransfer
    let easy: EasyHandle
    /// Referenced by libcurl through CURLOPT_HTTPHEADER until the transfer ends.
    private var headerList: HeaderList?
    private var responseHeaders: [HTTPHeader] = []
    private var responseBody = Data()
    /// For a streamed request: whether this response's body goes to the stream (a 2xx),
    /// decided at its first byte, when the status is known.
    private var streamsBody: Bool?
    /// Set when the stream refused bytes (its reader fell too far behind).
    private(set) var streamOverflowed = false

    init(pending: PendingTransfer, easy: EasyHandle) {
        self.pending = pending
        self.easy = easy
    }

    /// Applies the request to the easy handle.
    func configure(connectTimeout: Duration) throws(HTTPClientError) {
        let request = pending.request
        let headerList = try HeaderList(request.headers)
        self.headerList = headerList
        let userData = UnsafeRawPointer(Unmanaged.passUnretained(self).toOpaque())
        do {
            try easy.reset()
            // Signals cannot be used from a multi-threaded process; timeouts still work
            // because the threaded resolver does not need SIGALRM.
            try easy.set(CURLOPT_NOSIGNAL, 1)
            // Only HTTP(S): a provider URL taken from configuration must not read files.
            try easy.set(CURLOPT_PROTOCOLS_STR, "http,https")
            try easy.set(CURLOPT_URL, request.url)
            try easy.set(CURLOPT_TIMEOUT_MS, request.timeout.curlMilliseconds)
            try easy.set(CURLOPT_CONNECTTIMEOUT_MS, connectTimeout.curlMilliseconds)
            // Over TLS (where HTTP/2 is negotiated) prefer waiting for a multiplexed stream over
            // opening a new connection. Never over plain http: there curl cannot learn that the
            // server is HTTP/1.1 until the first response, so every concurrent call would queue
            // behind a ten-second generation (vLLM and llama.cpp serve cleartext HTTP/1.1).
            try easy.set(CURLOPT_PIPEWAIT, request.url.lowercased().hasPrefix("https:") ? 1 : 0)
            // Long generations can idle a connection for minutes; keep NATs from dropping it.
            try easy.set(CURLOPT_TCP_KEEPALIVE, 1)
            // A worker holds one handle per call in flight (a thousand at a time); chat bodies
            // are small, so smaller receive and upload buffers than curl's 16 and 64 KiB
            // defaults keep that memory down at the cost of a few more callbacks on big answers.
            try easy.set(CURLOPT_BUFFERSIZE, 4096)
            try easy.set(CURLOPT_UPLOAD_BUFFERSIZE, 16384)
            // libcurl's defaults, stated so that nobody "fixes" them away.
            try easy.set(CURLOPT_SSL_VERIFYPEER, 1)
            try easy.set(CURLOPT_SSL_VERIFYHOST, 2)
            try applyMethodAndBody(request)
            try easy.set(CURLOPT_HTTPHEADER, headers: headerList)
            try easy.set(CURLOPT_WRITEFUNCTION, callback: Transfer.receiveBody)
            try easy.set(CURLOPT_WRITEDATA, pointer: userData)
            try easy.set(CURLOPT_HEADERFUNCTION, callback: Transfer.receiveHeader)
            try easy.set(CURLOPT_HEADERDATA, pointer: userData)
        } catch {
            throw HTTPClientError(curlCode: error.code, detail: easy.errorText, host: pending.host)
        }
    }

    /// Chooses libcurl's method options. POSTFIELDS implies POST; other methods with a body
    /// keep the body and override the verb, and HEAD must not wait for a body.
    private func applyMethodAndBody(_ request: HTTPRequest) throws(EasyHandleError) {
        if request.method == "POST" || request.body != nil {
            let body = request.body ?? Data()
            let easy = easy
            let result = body.withUnsafeBytes { bytes in
                Result { () throws(EasyHandleError) in try easy.setBody(bytes) }
            }
            try result.get()
            if request.method != "POST" {
                try easy.set(CURLOPT_CUSTOMREQUEST, request.method)
            }
        } else if request.method == "HEAD" {
            try easy.set(CURLOPT_NOBODY, 1)
        } else if request.method != "GET" {
            try easy.set(CURLOPT_CUSTOMREQUEST, request.method)
        }
    }

    /// The outcome for libcurl's result code.
    func result(for code: CURLcode) -> Result<HTTPResponse, HTTPClientError> {
        if streamOverflowed {
            return .failure(
                HTTPClientError(
                    code: .other,
                    message: "\(pending.host) sent more than \(pending.bodyStream?.limit ?? 0) bytes that the reader had not taken; transfer aborted")
            )
        }
        guard code == CURLE_OK else {
            return .failure(HTTPClientError(curlCode: code, detail: easy.errorText, host: pending.host))
        }
        return .success(
            HTTPResponse(status: easy.responseCode(), headers: responseHeaders, body: responseBody)
        )
    }

    /// Drops what libcurl referenced, once the handle is out of the multi handle.
    func release() {
        headerList = nil
    }

    /// Without surrounding spaces, tabs and line ends (header lines are ASCII-framed).
    private static func trimmed(_ text: Substring) -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        guard let first = text.firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = text.lastIndex(where: { !isSpace($0) })!
        return String(text[first...last])
    }

    private func appendHeaderLine(_ bytes: UnsafeRawBufferPointer) {
        let line = String(decoding: bytes, as: UTF8.self)
        if line.hasPrefix("HTTP/") {
            // A status line starts a new response; forget interim ones (100 Continue).
            responseHeaders.removeAll()
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }  // the blank end line
        let name = Self.trimmed(line[..<colon])
        let value = Self.trimmed(line[line.index(after: colon)...])
        responseHeaders.append(HTTPHeader(name: name, value: value))
    }

    /// CURLOPT_WRITEFUNCTION: appends body bytes. Returning the full count tells libcurl
    /// the data was taken.
    private static let receiveBody: cervella_curl_data_callback = { data, size, count, userData in
        let length = size * count
        guard let data, let userData, length > 0 else { return length }
        let transfer = Unmanaged<Transfer>.fromOpaque(userData).takeUnretainedValue()
        if let stream = transfer.pending.bodyStream {
            if transfer.streamsBody == nil { transfer.streamsBody = (200..<300).contains(transfer.easy.responseCode()) }
            if transfer.streamsBody == true {
                // Returning less than `length` makes libcurl abort the transfer.
                guard stream.append(UnsafeRawBufferPointer(start: data, count: length)) else {
                    transfer.streamOverflowed = true
                    return 0
                }
                return length
            }
        }
        transfer.responseBody.append(UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: length)
        return length
    }

    /// CURLOPT_HEADERFUNCTION: libcurl passes one complete header line per call.
    private static let receiveHeader: cervella_curl_data_callback = { data, size, count, userData in
        let length = size * count
        guard let data, let userData, length > 0 else { return length }
        let transfer = Unmanaged<Transfer>.fromOpaque(userData).takeUnretainedValue()
        transfer.appendHeaderLine(UnsafeRawBufferPointer(start: data, count: length))
        return length
    }
}
