import Foundation
import Settings

/// The statistics behind `cervella calibrate`: isotonic calibration, expected calibration error,
/// AUROC and threshold choice. Pure functions over arrays.
public enum CalibrationMath {
    /// Equal-count bins before the pool-adjacent-violators pass: a map of at most this many
    /// points, whatever the number of outcomes.
    public static let isotonicBins = 32

    /// Fits a non-decreasing map from raw score to the probability of a good answer.
    ///
    /// Isotonic regression (pool adjacent violators) on up to 32 equal-count bins of the raw
    /// scores, the map linear between the bins' mean scores. Isotonic rather than Platt scaling:
    /// Platt fits one sigmoid in the score, and a token-probability score's reliability curve
    /// is not one (it is flat at the top, where every fluent answer lands, and steep in the
    /// middle); isotonic assumes only that a higher score is never worse, which is what the
    /// gate relies on. Its known weakness, overfitting small samples, is what the bins and the
    /// minimum sample count per task type are for.
    public static func isotonicMap(raw: [Double], good: [Bool]) -> [CalibrationTable.Entry.Point] {
        precondition(raw.count == good.count)
        guard !raw.isEmpty else { return [] }
        let order = raw.indices.sorted { raw[$0] < raw[$1] }
        let binCount = Swift.min(isotonicBins, order.count)
        // Bins of (sum of raw, sum of good, count), never splitting equal raw scores.
        var bins: [(x: Double, y: Double, n: Double)] = []
        var start = 0
        for bin in 0..<binCount {
            var end = (bin + 1) * order.count / binCount
            guard end > start else { continue }
            while end < order.count && raw[order[end]] == raw[order[end - 1]] { end += 1 }
            var x = 0.0
            var y = 0.0
            for index in order[start..<end] {
                x += raw[index]
                y += good[index] ? 1 : 0
            }
            bins.append((x, y, Double(end - start)))
            start = end
            if start >= order.count { break }
        }
        // Pool adjacent violators on the bins' means.
        var blocks: [(x: Double, y: Double, n: Double)] = []
        for bin in bins {
            blocks.append(bin)
            while blocks.count >= 2 {
                let last = blocks[blocks.count - 1]
                let previous = blocks[blocks.count - 2]
                guard previous.y / previous.n >= last.y / last.n else { break }
                // Equal means are pooled too: the map stays strictly increasing in raw.
                blocks.removeLast(2)
                blocks.append((previous.x + last.x, previous.y + last.y, previous.n + last.n))
            }
        }
        // Nine decimals, as the table is written to worker.toml. Blocks whose means round to
        // the same raw score (saturated probabilities: 0.9999999996 and 1) are pooled, not
        // dropped: the map at that score is their joint rate.
        func rounded(_ value: Double) -> Double { (Swift.max(0, Swift.min(1, value)) * 1e9).rounded() / 1e9 }
        var pooled: [(x: Double, y: Double, n: Double)] = []
        for block in blocks {
            if let last = pooled.last, rounded(block.x / block.n) <= rounded(last.x / last.n) {
                pooled[pooled.count - 1] = (last.x + block.x, last.y + block.y, last.n + block.n)
            } else {
                pooled.append(block)
            }
        }
        var points: [CalibrationTable.Entry.Point] = []
        for block in pooled {
            let x = rounded(block.x / block.n)
            let y = Swift.max(points.last?.calibrated ?? 0, rounded(block.y / block.n))
            if let last = points.last, x <= last.raw { continue }
            points.append(.init(raw: x, calibrated: y))
        }
        return points
    }

    /// Expected calibration error over 10 equal-width bins: the count-weighted mean gap between
    /// the mean predicted probability and the share of good answers in each bin.
    public static func expectedCalibrationError(probabilities: [Double], good: [Bool], bins: Int = 10) -> Double {
        precondition(probabilities.count == good.count)
        guard !probabilities.isEmpty, bins > 0 else { return 0 }
        var predicted = [Double](repeating: 0, count: bins)
        var observed = [Double](repeating: 0, count: bins)
        var counts = [Double](repeating: 0, count: bins)
        for (p, ok) in zip(probabilities, good) {
            let clamped = Swift.max(0, Swift.min(1, p.isFinite ? p : 0))
            let bin = Swift.min(bins - 1, Int(clamped * Double(bins)))
            predicted[bin] += clamped
            observed[bin] += ok ? 1 : 0
            counts[bin] += 1
        }
        var error = 0.0
        for bin in 0..<bins where counts[bin] > 0 {
            error += abs(predicted[bin] - observed[bin])
        }
        return error / Double(probabilities.count)
    }

    /// The area under the ROC curve of `scores` telling good (true) from bad: the chance that a
    /// random good answer scores above a random bad one, ties counting half. Nil when one of the
    /// two classes is missing.
    public static func auroc(scores: [Double], good: [Bool]) -> Double? {
        precondition(scores.count == good.count)
        let positives = good.filter { $0 }.count
        let negatives = good.count - positives
        guard positives > 0, negatives > 0 else { return nil }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var rankSum = 0.0
        var index = 0
        while index < order.count {
            var end = index + 1
            while end < order.count && scores[order[end]] == scores[order[index]] { end += 1 }
            // Ranks index+1 … end share their mean.
            let meanRank = Double(index + 1 + end) / 2
            for k in index..<end where good[order[k]] { rankSum += meanRank }
            index = end
        }
        let p = Double(positives)
        return (rankSum - p * (p + 1) / 2) / (p * Double(negatives))
    }

    /// The threshold on raw scores under which `rate` of them lie: the midpoint between the
    /// last score that falls back and the first that does not. Ties at the boundary stay above.
    public static func threshold(fallbackRate rate: Double, raw: [Double]) -> Double {
        guard !raw.isEmpty else { return 0 }
        let sorted = raw.sorted()
        let count = Int((Swift.max(0, Swift.min(1, rate)) * Double(sorted.count)).rounded())
        if count <= 0 { return 0 }
        if count >= sorted.count { return 1 }
        return Swift.max(0, Swift.min(1, (sorted[count - 1] + sorted[count]) / 2))
    }

    /// The cheapest threshold (fewest fallbacks) whose routed quality is at least `share` of
    /// always-Claude's: answers under the threshold count Claude's outcome (`claudeGood`, its
    /// known rate where missing, 1 when nothing is known), the others the small model's.
    public static func threshold(qualityShare share: Double, raw: [Double], good: [Bool], claudeGood: [Bool?])
        -> (threshold: Double, fallbackRate: Double, quality: Double, claudeQuality: Double)
    {
        precondition(raw.count == good.count && raw.count == claudeGood.count)
        guard !raw.isEmpty else { return (0, 0, 0, 0) }
        let known = claudeGood.compactMap { $0 }
        let claudeRate = known.isEmpty ? 1 : Double(known.filter { $0 }.count) / Double(known.count)
        let order = raw.indices.sorted { raw[$0] < raw[$1] }
        let n = Double(raw.count)
        let claudeValue = order.map { claudeGood[$0].map { $0 ? 1.0 : 0.0 } ?? claudeRate }
        let claudeQuality = claudeValue.reduce(0, +) / n
        let target = share * claudeQuality
        var quality = Double(good.filter { $0 }.count) / n
        var k = 0
        // Fall back the lowest scores, a whole group of equal scores at a time, until the
        // quality is reached.
        while quality < target - 1e-12 && k < order.count {
            var end = k + 1
            while end < order.count && raw[order[end]] == raw[order[k]] { end += 1 }
            for i in k..<end {
                quality += (claudeValue[i] - (good[order[i]] ? 1 : 0)) / n
            }
            k = end
        }
        let threshold: Double
        if k == 0 {
            threshold = 0
        } else if k >= order.count {
            threshold = 1
        } else {
            threshold = (raw[order[k - 1]] + raw[order[k]]) / 2
        }
        return (threshold, Double(k) / n, quality, claudeQuality)
    }
}
