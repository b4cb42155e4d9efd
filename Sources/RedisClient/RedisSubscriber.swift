import Foundation
import Logging

/// A SUBSCRIBE connection on its own thread, delivering each message to a handler.
///
/// Messages are notifications, not data: a subscriber that reconnects may have missed some,
/// so `onSubscribed` runs after every (re)subscription and the owner re-checks whatever
/// state the notifications are about. The thread (`SubscriberLoop`) calls `onMessage`
/// itself for each message, with no queue in between. It runs until `close()`, which shuts
/// the socket down to wake the blocked read (hiredis cannot continue after a read timeout,
/// so the read has none).
public final class RedisSubscriber: Sendable {
    public let configuration: RedisConfiguration
    private let control: SubscriberControl

    public init(
        configuration: RedisConfiguration, channel: String, name: String = "subscriber", logger: Logger = Logger(label: "cervella.redis"),
        onSubscribed: @escaping @Sendable () -> Void = {}, onLost: @escaping @Sendable () -> Void = {},
        onMessage: @escaping @Sendable ([UInt8]) -> Void
    ) {
        BrokenPipes.ignore()
        let control = SubscriberControl()
        self.configuration = configuration
        self.control = control
        _ = SentinelWatch.shared(for: configuration, listener: control)
        // The loop is created on its thread and never leaves it.
        let thread = Thread {
            SubscriberLoop(
                configuration: configuration, channel: channel, name: name, logger: logger, control: control,
                onSubscribed: onSubscribed, onLost: onLost, onMessage: onMessage
            ).run()
        }
        thread.name = "redis-sub"  // at most 15 bytes, or Linux drops it
        thread.start()
    }

    public func close() {
        control.close()
    }
}
