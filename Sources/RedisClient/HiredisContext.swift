internal import CHiredis
import Foundation

/// Owns one hiredis `redisContext` in blocking mode; the only type that touches hiredis.
///
/// Not thread-safe: a `RedisConnectionLoop` or a `SubscriberLoop` uses it from its own
/// thread only.
final class HiredisContext {
    private let context: UnsafeMutablePointer<redisContext>

    private init(context: UnsafeMutablePointer<redisContext>) {
        self.context = context
    }

    deinit { redisFree(context) }

    /// Connects with a timeout and sets the socket read/write timeout.
    static func connect(host: String, port: Int, connectTimeout: Duration, readTimeout: Duration) throws(RedisError) -> HiredisContext {
        guard let raw = redisConnectWithTimeout(host, Int32(port), timeval(connectTimeout)) else {
            throw RedisError(.connectionFailed, "cannot allocate a hiredis context for \(host):\(port)")
        }
        let owner = HiredisContext(context: raw)
        if raw.pointee.err != 0 {
            throw RedisError(.connectionFailed, "cannot connect to Redis at \(host):\(port): \(owner.errorText); is redis-server running there?")
        }
        // Always set: hiredis leaves the connect timeout as the socket's read timeout. Zero
        // means "block until data" (SO_RCVTIMEO 0), which a subscriber's read wants.
        _ = redisSetTimeout(raw, timeval(readTimeout))
        _ = redisEnableKeepAlive(raw)
        return owner
    }

    /// The socket: polled while the connection is idle, written by callers then, and shut
    /// down to wake a subscriber's blocked read.
    var fileDescriptor: Int32 { context.pointee.fd }

    /// True once hiredis reported an I/O or protocol error; the context is then unusable.
    var isBroken: Bool { context.pointee.err != 0 }

    var errorText: String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Appends commands already in Redis's wire format (`RedisCommand.encode`) to the output
    /// buffer; nothing is sent until a reply is read.
    func append(encoded bytes: ArraySlice<UInt8>) throws(RedisError) {
        guard !bytes.isEmpty else { return }
        let status = bytes.withUnsafeBytes { raw in
            redisAppendFormattedCommand(context, raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count)
        }
        if status != REDIS_OK {
            throw RedisError(.connectionLost, "cannot buffer a command: \(errorText)")
        }
    }

    /// Flushes pending output if needed and reads the next reply.
    func readReply() throws(RedisError) -> RedisValue {
        var raw: UnsafeMutableRawPointer?
        if redisGetReply(context, &raw) != REDIS_OK || raw == nil {
            let reason = errorText
            let timedOut = reason.contains("temporarily unavailable") || reason.contains("timed out")
            throw RedisError(.connectionLost, timedOut ? "read timed out waiting for Redis (\(reason))" : "connection to Redis lost: \(reason)")
        }
        let reply = raw!.assumingMemoryBound(to: redisReply.self)
        defer { freeReplyObject(raw) }
        return Self.convert(reply)
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STRING:
            return .bulk(bytes(value.str, value.len))
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: bytes(value.str, value.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(value.str, value.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(Int(value.integer))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisValue] = []
            elements.reserveCapacity(Int(value.elements))
            for index in 0..<Int(value.elements) {
                if let element = value.element[index] { elements.append(convert(element)) } else { elements.append(.null) }
            }
            return .array(elements)
        default:
            return .null
        }
    }

    private static func bytes(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> [UInt8] {
        guard let pointer, length > 0 else { return [] }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
    }
}

private func timeval(_ duration: Duration) -> timeval {
    let (seconds, attoseconds) = duration.components
    return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
}
