import Foundation
import JobProtocol

/// Per task type gate settings, fitted by `cervella calibrate` from labelled outcomes
/// (docs/ROUTING.md, "Calibration"): which confidence signal to read, the map that turns it into
/// "the probability that the answer is good", and the threshold under which the job goes to
/// Claude.
///
/// Keys are `"<tier>/<task type>"`, the task type being the job's `metadata.task_type` tag or
/// its routing reason; `"<tier>/*"` serves the task types that have no entry of their own.
public struct CalibrationTable: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var signal: ConfidenceSignal
        /// The gate, on the raw signal's scale: a signal under it falls back. Raw rather than
        /// calibrated, because an isotonic map is flat in places and a threshold on flat ground
        /// would move the fallback rate in jumps.
        public var threshold: Double
        /// Points (raw, calibrated) with raw strictly increasing and calibrated not decreasing;
        /// between points the map is linear, outside them flat. Empty: no map, the raw signal is
        /// the confidence.
        public var map: [Point]
        /// The share of requests calibrate aimed to send to Claude, for the metrics; nil when
        /// the threshold was set by hand or for a quality target.
        public var targetFallbackRate: Double?

        public struct Point: Sendable, Equatable {
            public var raw: Double
            public var calibrated: Double
            public init(raw: Double, calibrated: Double) {
                self.raw = raw
                self.calibrated = calibrated
            }
        }

        public init(signal: ConfidenceSignal, threshold: Double, map: [Point] = [], targetFallbackRate: Double? = nil) {
            self.signal = signal
            self.threshold = threshold
            self.map = map
            self.targetFallbackRate = targetFallbackRate
        }

        /// The calibrated confidence of a raw signal value.
        public func calibrated(_ raw: Double) -> Double {
            guard let first = map.first, let last = map.last else { return raw }
            if raw <= first.raw { return first.calibrated }
            if raw >= last.raw { return last.calibrated }
            // Binary search for the segment holding `raw`.
            var low = 0
            var high = map.count - 1
            while high - low > 1 {
                let middle = (low + high) / 2
                if map[middle].raw <= raw { low = middle } else { high = middle }
            }
            let a = map[low]
            let b = map[high]
            let t = (raw - a.raw) / (b.raw - a.raw)
            return a.calibrated + t * (b.calibrated - a.calibrated)
        }
    }

    public var entries: [String: Entry]

    public init(entries: [String: Entry] = [:]) {
        self.entries = entries
    }

    public var isEmpty: Bool { entries.isEmpty }

    /// The entry for a tier's task type, else the tier's `*` entry.
    public func entry(tier: Int, taskType: String) -> Entry? {
        entries["\(tier)/\(taskType)"] ?? entries["\(tier)/*"]
    }

    // MARK: - Limits

    public static let maxEntries = 256
    public static let maxPoints = 64
    public static let maxJSONBytes = 262_144

    /// A key `<tier>/<task type>`: tier 1 or 2, a task type of 1–64 characters without spaces or
    /// `/` (it becomes a metric label), or `*`.
    public static func isValidKey(_ key: String) -> Bool {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == "1" || parts[0] == "2" else { return false }
        return isValidTaskType(String(parts[1]))
    }

    public static func isValidTaskType(_ name: String) -> Bool {
        guard !name.isEmpty, name.count <= 64 else { return false }
        return name == "*"
            || name.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.:".unicodeScalars.contains($0))
            }
    }

    // MARK: - JSON (the `calibration` field of `cervella:config`)

    /// `{"1/simple_task_pattern_matched":{"signal":"p10","threshold":0.42,"map":[[0.1,0.05],…],
    /// "target_fallback_rate":0.2},…}`
    public func json() -> String {
        var writer = JSONWriter(capacity: 256 + entries.count * 256)
        writer.object { w in
            for key in entries.keys.sorted() {
                let entry = entries[key]!
                w.key(key)
                w.object { e in
                    e.key("signal")
                    e.string(entry.signal.rawValue)
                    e.key("threshold")
                    e.double(entry.threshold)
                    e.key("map")
                    e.array(entry.map) { p, point in
                        p.array([point.raw, point.calibrated]) { $0.double($1) }
                    }
                    if let target = entry.targetFallbackRate {
                        e.key("target_fallback_rate")
                        e.double(target)
                    }
                }
            }
        }
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Parses and checks a table: every key, signal and number in range; the message names what
    /// is wrong.
    public static func parse(json text: String) throws(SettingsError) -> CalibrationTable {
        let bytes = Array(text.utf8)
        guard bytes.count <= maxJSONBytes else { throw SettingsError(key: "calibration", "\(bytes.count) bytes, over \(maxJSONBytes)") }
        guard let value = JSONValue.read(bytes), case .object(let object) = value else {
            throw SettingsError(key: "calibration", "not a JSON object of \"<tier>/<task type>\" entries")
        }
        guard object.count <= maxEntries else { throw SettingsError(key: "calibration", "\(object.count) entries, over \(maxEntries)") }
        var entries: [String: Entry] = [:]
        for (key, value) in object {
            entries[key] = try parseEntry(key: key, value)
        }
        return CalibrationTable(entries: entries)
    }

    static func parseEntry(key: String, _ value: JSONValue) throws(SettingsError) -> Entry {
        let at = "calibration.\"\(key)\""
        guard isValidKey(key) else {
            throw SettingsError(key: at, "a key is \"<tier>/<task type>\", tier 1 or 2, a task type of letters, digits, _-.: or *")
        }
        guard case .object(let fields) = value else { throw SettingsError(key: at, "must be an object") }
        for name in fields.keys where !["signal", "threshold", "map", "target_fallback_rate"].contains(name) {
            throw SettingsError(key: "\(at).\(name)", "is not a calibration field (signal, threshold, map, target_fallback_rate)")
        }
        guard let raw = fields["signal"]?.stringValue, let signal = ConfidenceSignal(rawValue: raw) else {
            throw SettingsError(key: "\(at).signal", "must be one of \(ConfidenceSignal.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let threshold = fields["threshold"]?.doubleValue, threshold.isFinite, (0...1).contains(threshold) else {
            throw SettingsError(key: "\(at).threshold", "must be a number in 0...1")
        }
        var target: Double?
        if let value = fields["target_fallback_rate"], value != .null {
            guard let rate = value.doubleValue, rate.isFinite, (0...1).contains(rate) else {
                throw SettingsError(key: "\(at).target_fallback_rate", "must be a number in 0...1")
            }
            target = rate
        }
        var points: [Entry.Point] = []
        if let value = fields["map"], value != .null {
            guard let items = value.arrayValue, items.count <= maxPoints else {
                throw SettingsError(key: "\(at).map", "must be an array of at most \(maxPoints) [raw, calibrated] pairs")
            }
            for item in items {
                guard let pair = item.arrayValue, pair.count == 2, let x = pair[0].doubleValue, let y = pair[1].doubleValue, x.isFinite,
                    y.isFinite, (0...1).contains(x), (0...1).contains(y)
                else { throw SettingsError(key: "\(at).map", "each point is [raw, calibrated], both numbers in 0...1") }
                if let last = points.last, x <= last.raw || y < last.calibrated {
                    throw SettingsError(key: "\(at).map", "raw must increase and calibrated must not decrease from point to point")
                }
                points.append(Entry.Point(raw: x, calibrated: y))
            }
        }
        return Entry(signal: signal, threshold: threshold, map: points, targetFallbackRate: target)
    }
}
