import ControlPlane
import Foundation
import JobProtocol
import Logging
import Metrics
import POC
import Providers
import RedisClient
import Scoring
import Settings

/// Shadow labels from live traffic (docs/ROUTING.md, "Shadow labels"): answers the sampled
/// small-model answers waiting in `cervella:shadow` with Claude, has Claude judge both answers
/// with the POC judge prompt, and appends the labelled outcome to `cervella:outcomes`.
///
/// Off the request path: the user got the small model's answer when the job was committed;
/// the commit only pushed the task. A pass takes a task only when the tier-1 queues (both
/// lanes) are empty and the day's shadow spend is under `shadow.daily_budget_usd`; one task at
/// a time per worker, so the cap can be passed by at most one task per worker. A task is a
/// sample, not a request: one whose calls fail, or that is in flight when the worker stops, is
/// dropped and counted.
struct ShadowRunner: Sendable {
    let connection: RedisConnection
    let keys: KeySpace
    let settings: CervellaSettings
    let claude: any ChatProvider
    let logger: Logger

    static let judgeMaxTokens = 200

    func run(interval: Duration) async {
        await repeatEvery(interval, starting: .afterFirstInterval) { _ = await pass() }
    }

    /// One pass; true when a task was taken.
    @discardableResult
    func pass(now: Date = Date()) async -> Bool {
        let budget = settings.shadow.dailyBudgetUSD
        guard budget > 0 else { return false }
        let spendKey = keys.shadowSpend(day: Self.day(now))
        guard
            let state = try? await connection.pipeline([
                RedisCommand("LLEN", RedisArgument(keys.shadowQueue)), RedisCommand("LLEN", RedisArgument(keys.queue(.tier1))),
                RedisCommand("LLEN", RedisArgument(keys.queue(.tier1Bulk))), RedisCommand("GET", RedisArgument(spendKey)),
            ]),
            state.count == 4, (state[0].integer ?? 0) > 0, state[1].integer == 0, state[2].integer == 0
        else { return false }
        let spent = state[3].string.flatMap(Double.init).map { $0.isFinite ? $0 : budget } ?? 0
        guard spent < budget else { return false }
        guard let bytes = try? await connection.send("RPOP", RedisArgument(keys.shadowQueue)).bytes else { return false }
        guard let (task, outcome) = ShadowTask.parse(bytes, maxBytes: settings.shadow.maxTaskBytes) else {
            count(tier: 0, result: "unreadable")
            return true
        }
        await label(task, outcome: outcome, spendKey: spendKey)
        return true
    }

    private func label(_ task: ShadowTask, outcome: LabelledOutcome, spendKey: String) async {
        var spend = 0.0
        var commands: [RedisCommand] = []
        do {
            let labelled = try await judged(task, outcome: outcome, spend: &spend)
            commands.append(OutcomeStream.append(labelled, keys: keys, maxLength: settings.routing.outcomesMaxLength))
            count(tier: outcome.tier, result: labelled.good ? "good" : "bad")
        } catch {
            count(tier: outcome.tier, result: "error")
            logger.notice("a shadow label failed; the sample is dropped", metadata: ["cervella.error": "\(error)"])
        }
        // What the calls cost is spent whether or not the label came out.
        if spend > 0 {
            FloatingPointCounter(label: "cervella_shadow_spend_usd_total").increment(by: spend)
            commands += [
                RedisCommand("INCRBYFLOAT", RedisArgument(spendKey), RedisArgument(String(format: "%.9f", spend))),
                RedisCommand("EXPIRE", RedisArgument(spendKey), 172_800),
            ]
        }
        if !commands.isEmpty { _ = try? await connection.pipeline(commands) }
    }

    /// The outcome once Claude has answered the conversation and judged both answers.
    private func judged(_ task: ShadowTask, outcome: LabelledOutcome, spend: inout Double) async throws -> LabelledOutcome {
        let tier3 = settings.tier(.claude)
        var labelled = outcome
        let claudeAnswer = try await claude.complete(
            ProviderRequest(messages: task.messages, maxTokens: tier3.defaultMaxTokens, timeout: .milliseconds(tier3.timeoutMs)))
        spend += tier3.costUSD(
            inputTokens: claudeAnswer.tokensInput, outputTokens: claudeAnswer.tokensOutput, cachedInputTokens: claudeAnswer.tokensCachedInput)
        labelled.claudeCostUSD = (spend * 1e9).rounded() / 1e9
        let small = try await judge(task, answer: task.answer, spend: &spend)
        labelled.score = small
        labelled.good = LabelledOutcome.isGood(score: small)
        if let claudeScore = try? await judge(task, answer: claudeAnswer.text, spend: &spend) {
            labelled.claudeScore = claudeScore
            labelled.claudeGood = LabelledOutcome.isGood(score: claudeScore)
        }
        labelled.at = Date().timeIntervalSince1970
        return labelled
    }

    struct JudgeFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// Claude's 1–5 score of `answer`, with the POC judge prompt.
    private func judge(_ task: ShadowTask, answer: String, spend: inout Double) async throws -> Int {
        let tier3 = settings.tier(.claude)
        let subject = POCTask(id: "shadow", category: .simple, prompt: task.transcript, expectedFormat: task.expectedFormat)
        let response = try await claude.complete(
            ProviderRequest(
                messages: [
                    ChatMessage(role: "system", content: POCJudgePrompt.text),
                    ChatMessage(role: "user", content: POCJudgePrompt.message(task: subject, answer: answer)),
                ], maxTokens: Self.judgeMaxTokens, temperature: 0, timeout: .milliseconds(tier3.timeoutMs)))
        spend += tier3.costUSD(inputTokens: response.tokensInput, outputTokens: response.tokensOutput, cachedInputTokens: response.tokensCachedInput)
        do {
            return try JudgeReply.parse(response.text).score
        } catch {
            throw JudgeFailure(description: "the judge's reply could not be read: \(error)")
        }
    }

    private func count(tier: Int, result: String) {
        Counter(label: "cervella_shadow_labels_total", dimensions: [("tier", "\(tier)"), ("result", result)]).increment()
    }

    /// The UTC day stamp of the spend counter.
    static func day(_ date: Date) -> String { UTCTime(date).dayStamp }
}
