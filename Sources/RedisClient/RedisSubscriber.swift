import Foundation
import Glibc
import Logging
import Synchronization

/// A SUBSCRIBE connection on its own thread, delivering each message to a handler.
///
/// Messages are notifications, not data: a subscriber that reconnects may have missed some,
/// so `onSubscribed` runs after every (re)subscription and the owner re-checks whatever
/// state the notifications are about. The read blocks without a timeout (hiredis cannot
/// continue after one); `close()` shuts the socket down to wake it.
public final class RedisSubscriber: @unchecked Sendable {
    public let configuration: RedisConfiguration
    private let channel: String
    private let name: String
    private let logger: Logger
    private let onMessage: @Sendable ([UInt8]) -> Void
    private let onSubscribed: @Sendable () -> Void
    // Guarded by `lock`.
    private let lock = NSLock()
    private var closed = false
    private var socket: Int32 = -1

    public init(
        configuration: RedisConfiguration, channel: String, name: String = "subscriber", logger: Logger = Logger(label: "cervella.redis"),
        onSubscribed: @escaping @Sendable () -> Void = {}, onMessage: @escaping @Sendable ([UInt8]) -> Void
    ) {
        self.configuration = configuration
        self.channel = channel
        self.name = name
        self.logger = logger
        self.onMessage = onMessage
        self.onSubscribed = onSubscribed
        let thread = Thread { [self] in self.runLoop() }
        thread.name = "redis-subscriber"
        thread.start()
    }

    public func close() {
        lock.lock()
        closed = true
        let fd = socket
        lock.unlock()
        if fd >= 0 { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private var isClosed: Bool {
        lock.lock()
        defer { lock.unlock() }
        return closed
    }

    private func runLoop() {
        var delay = configuration.reconnectDelay
        while !isClosed {
            do {
                let context = try HiredisContext.connect(
                    host: configuration.host, port: configuration.port,
                    connectTimeout: configuration.connectTimeout, readTimeout: .zero
                )
                var setup: [RedisCommand] = []
                if let password = configuration.password {
                    setup.append(RedisCommand("AUTH", arguments: (configuration.username.map { [RedisArgument($0)] } ?? []) + [RedisArgument(password)]))
                }
                setup.append(RedisCommand("CLIENT", "SETNAME", RedisArgument(name)))
                setup.append(RedisCommand("SUBSCRIBE", RedisArgument(channel)))
                for command in setup { try context.append(command) }
                for _ in setup {
                    if case .error(let message) = try context.readReply() {
                        throw RedisError(.authenticationFailed, "subscribe refused: \(message)")
                    }
                }
                lock.lock()
                socket = context.fileDescriptor
                let stop = closed
                lock.unlock()
                if stop { break }
                delay = configuration.reconnectDelay
                onSubscribed()
                while true {
                    let reply = try context.readReply()
                    guard let parts = reply.array, parts.count == 3, parts[0].string == "message", let payload = parts[2].bytes else { continue }
                    onMessage(payload)
                }
            } catch {
                lock.lock()
                socket = -1
                lock.unlock()
                if isClosed { break }
                logger.warning("redis subscription lost; resubscribing", metadata: ["cervella.error": "\(error)", "cervella.channel": "\(channel)"])
                Thread.sleep(forTimeInterval: Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18)
                delay = min(delay * 2, configuration.maxReconnectDelay)
            }
        }
    }
}
