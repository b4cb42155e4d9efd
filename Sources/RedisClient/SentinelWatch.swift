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

    /// The process's watch of the configuration's master, started on first use, with
    /// `listener` registered; nil without Sentinels.
    static func shared(for configuration: RedisConfiguration, listener: any FailoverListener) -> SentinelWatch? {
        guard !configuration.sentinels.isEmpty, let master = configuration.masterName else { return nil }
        let key = configuration.sentinels.map(\.description).joined(separator: ",") + "#" + master
        // Under the registry's lock: a watch that finds itself unwanted retires under it too,
        // so a listener never joins a watch that is leaving.
        return watches.withLock { watches in
            if let watch = watches[key] {
                watch.register(listener)
                return watch
            }
            let watch = SentinelWatch()
            watch.register(listener)
            watches[key] = watch
            let thread = Thread { watch.run(configuration: configuration, master: master, key: key) }
            thread.name = "redis-sentinel"
            thread.start()
            return watch
        }
    }

    /// Removes this watch from the registry if no listener is left; true when it did.
    private func retireIfUnwanted(key: String) -> Bool {
        Self.watches.withLock { watches in
            guard !isWanted else { return false }
            watches.removeValue(forKey: key)
            return true
        }
    }

    /// Tells `listener` of each switch, for as long as it exists.
    private func register(_ listener: any FailoverListener) {
        listeners.withLock { list in
            list.removeAll { $0.listener == nil }
            list.append(WeakListener(listener: listener))
        }
    }

    /// True while a connection or subscriber that registered is still alive.
    private var isWanted: Bool {
        listeners.withLock { list in
            list.removeAll { $0.listener == nil }
            return !list.isEmpty
        }
    }

    private func switched() {
        generationCount.add(1, ordering: .releasing)
        for entry in listeners.withLock({ $0 }) { entry.listener?.primarySwitched() }
    }

    /// Subscribes to one Sentinel after the other, until no connection or subscriber of this
    /// master is left (checked after a failure: a healthy subscription just waits).
    private func run(configuration: RedisConfiguration, master: String, key: String) {
        let logger = Logger(label: "cervella.redis")
        var index = 0
        var subscribedBefore = false
        var failures = 0
        while !retireIfUnwanted(key: key) {
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
                failures = 0
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
                // The first failure of a run of them, then one a minute: Sentinels that stay away
                // must not fill the log.
                if failures % 60 == 0 {
                    logger.warning(
                        "cannot hear failovers from Sentinel \(sentinel); trying the next",
                        metadata: ["cervella.error": "\(error)", "cervella.failures": "\(failures + 1)"])
                }
                failures += 1
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
