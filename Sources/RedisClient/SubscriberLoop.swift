import Foundation
import Logging

/// The body of a subscriber's thread: it owns the SUBSCRIBE connection and its backoff.
///
/// Subscribes (AUTH and CLIENT SETNAME first), runs `onSubscribed`, then reads messages and
/// hands each payload to `onMessage` on this thread. A lost connection is re-subscribed after
/// a backoff that doubles up to `maxReconnectDelay`.
final class SubscriberLoop {
    private let configuration: RedisConfiguration
    private let channel: String
    private let name: String
    private let logger: Logger
    private let control: SubscriberControl
    private let onSubscribed: @Sendable () -> Void
    /// Runs when the subscription breaks, before the wait to resubscribe: messages may be missed
    /// from now until `onSubscribed` runs again.
    private let onLost: @Sendable () -> Void
    private let onMessage: @Sendable ([UInt8]) -> Void
    private var reconnectDelay: Duration

    init(
        configuration: RedisConfiguration, channel: String, name: String, logger: Logger, control: SubscriberControl,
        onSubscribed: @escaping @Sendable () -> Void, onLost: @escaping @Sendable () -> Void = {},
        onMessage: @escaping @Sendable ([UInt8]) -> Void
    ) {
        self.configuration = configuration
        self.channel = channel
        self.name = name
        self.logger = logger
        self.control = control
        self.onSubscribed = onSubscribed
        self.onLost = onLost
        self.onMessage = onMessage
        self.reconnectDelay = configuration.reconnectDelay
    }

    /// Runs until the subscriber is closed.
    func run() {
        while !control.isClosed {
            do {
                let context = try subscribe()
                try withExtendedLifetime(context) {
                    defer { control.detach() }
                    guard control.attach(socket: context.fileDescriptor) else { return }
                    reconnectDelay = configuration.reconnectDelay
                    onSubscribed()
                    while true {
                        let reply = try context.readReply()
                        guard let parts = reply.array, parts.count == 3, parts[0].string == "message", let payload = parts[2].bytes else { continue }
                        onMessage(payload)
                    }
                }
            } catch {
                onLost()
                if control.isClosed { break }
                logger.warning("redis subscription lost; resubscribing", metadata: ["cervella.error": "\(error)", "cervella.channel": "\(channel)"])
                let (seconds, attoseconds) = reconnectDelay.components
                Thread.sleep(forTimeInterval: Double(seconds) + Double(attoseconds) / 1e18)
                reconnectDelay = min(reconnectDelay * 2, configuration.maxReconnectDelay)
            }
        }
    }

    /// A fresh connection, authenticated, named and subscribed.
    private func subscribe() throws -> HiredisContext {
        let (context, address) = try PrimaryLocator.connect(configuration, readTimeout: .zero)
        var setup: [RedisCommand] = []
        if let password = configuration.password {
            setup.append(RedisCommand("AUTH", arguments: (configuration.username.map { [RedisArgument($0)] } ?? []) + [RedisArgument(password)]))
        }
        setup.append(RedisCommand("CLIENT", "SETNAME", RedisArgument(name)))
        // Behind Sentinel, only the primary: a replica hears only what it replicates.
        if !configuration.sentinels.isEmpty { setup.append(RedisCommand("ROLE")) }
        setup.append(RedisCommand("SUBSCRIBE", RedisArgument(channel)))
        var payload: [UInt8] = []
        for command in setup { command.encode(into: &payload) }
        try context.append(encoded: payload[...])
        for command in setup {
            let reply = try context.readReply()
            if case .error(let message) = reply {
                throw RedisError(.authenticationFailed, "subscribe refused by \(address): \(message)")
            }
            if command.description == "ROLE" { try RedisConnectionLoop.checkPrimary(reply, address: address) }
        }
        return context
    }
}
