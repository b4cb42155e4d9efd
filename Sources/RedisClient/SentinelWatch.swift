import Foundation
import Logging
import Synchronization

/// Hears of failovers as they happen: one thread per process and master, subscribed to a
/// Sentinel's `+switch-master` channel (Redis' guidelines for Sentinel clients).
///
/// A planned failover (`SENTINEL FAILOVER`) leaves the old primary running, and it takes
/// writes until Sentinel turns it into a replica, which took 20 s here; those writes are then
/// lost. On each switch of its master the watch moves `generation` on: every connection
/// compares it before its next command and reconnects through the Sentinels, and subscribers
/// are woken to subscribe again. After its own subscription broke (a switch may have been
/// missed meanwhile) the watch moves `generation` on as well.
final class SentinelWatch: Sendable {
    private let generationCount = Atomic<Int>(0)
    private let listeners = Mutex<[WeakListener]>([])

    /// Moves on at each switch of the master; connections made under an older value reconnect.
    var generation: Int { generationCount.load(ordering: .acquiring) }

    /// Weak, so that a closed connection or subscriber is not kept alive by the watch.
    private struct WeakListener: @unchecked Sendable {
        weak var listener: (any FailoverListener)?
    }

    private static let watches = Mutex<[String: SentinelWatch]>([:])

    /// The process's watch of the configuration's master, started on first use; nil without
    /// Sentinels.
    static func shared(for configuration: RedisConfiguration) -> SentinelWatch? {
        guard !configuration.sentinels.isEmpty, let master = configuration.masterName else { return nil }
        let key = configuration.sentinels.map(\.description).joined(separator: ",") + "#" + master
        return watches.withLock { watches in
            if let watch = watches[key] { return watch }
            let watch = SentinelWatch()
            watches[key] = watch
            let thread = Thread { watch.run(configuration: configuration, master: master) }
            thread.name = "redis-sentinel"
            thread.start()
            return watch
        }
    }

    /// Tells `listener` of each switch, for as long as it exists.
    func register(_ listener: any FailoverListener) {
        listeners.withLock { list in
            list.removeAll { $0.listener == nil }
            list.append(WeakListener(listener: listener))
        }
    }

    private func switched() {
        generationCount.add(1, ordering: .releasing)
        for entry in listeners.withLock({ $0 }) { entry.listener?.primarySwitched() }
    }

    /// Subscribes to one Sentinel after the other, for the life of the process.
    private func run(configuration: RedisConfiguration, master: String) {
        let logger = Logger(label: "cervella.redis")
        var index = 0
        var subscribedBefore = false
        while true {
            let sentinel = configuration.sentinels[index % configuration.sentinels.count]
            index += 1
            do {
                let context = try HiredisContext.connect(
                    host: sentinel.host, port: sentinel.port, connectTimeout: min(configuration.connectTimeout, PrimaryLocator.sentinelTimeout),
                    readTimeout: .zero)
                var commands: [RedisCommand] = []
                if let password = configuration.sentinelPassword { commands.append(RedisCommand("AUTH", RedisArgument(password))) }
                commands.append(RedisCommand("SUBSCRIBE", "+switch-master"))
                for command in commands { try context.append(encoded: command.encoded[...]) }
                for _ in commands {
                    if case .error(let message) = try context.readReply() { throw RedisError(.authenticationFailed, message) }
                }
                if subscribedBefore { switched() }
                subscribedBefore = true
                while true {
                    // "+switch-master" messages: "<master> <old ip> <old port> <new ip> <new port>".
                    let reply = try context.readReply()
                    guard let parts = reply.array, parts.count == 3, parts[0].string == "message", let text = parts[2].string,
                        text.split(separator: " ").first == Substring(master)
                    else { continue }
                    logger.notice("Sentinel switched the Redis primary; reconnecting", metadata: ["cervella.redis.switch": "\(text)"])
                    switched()
                }
            } catch {
                logger.warning(
                    "cannot hear failovers from Sentinel \(sentinel); trying the next", metadata: ["cervella.error": "\(error)"])
                Thread.sleep(forTimeInterval: 1)
            }
        }
    }
}

/// What wants to know at once that the primary changed: a connection's inbox (its parked loop
/// wakes, drops the old connection, and callers stop writing to that socket) and a subscriber
/// (its blocked read is broken, and it subscribes again).
protocol FailoverListener: AnyObject, Sendable {
    func primarySwitched()
}

extension SubscriberControl: FailoverListener {
    func primarySwitched() { kick() }
}

extension RedisInbox: FailoverListener {
    func primarySwitched() { wake() }
}
