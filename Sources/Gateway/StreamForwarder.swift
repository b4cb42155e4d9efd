import Hummingbird
import JobProtocol
import Producer

/// What a streaming response sends for each entry of the job's stream, in one API's shape:
/// the pure part of the gateway's streaming, apart from Redis and the connection.
///
/// The client gets each released piece once. The `end` entry carries the whole result, so
/// whatever the entries did not carry (a `verified` answer, released whole; a cached one; a
/// piece whose write failed) is sent from it before the end. A second attempt (a worker lost
/// mid-answer, whose job another worker restarts) after part of an answer went out cannot be
/// shown without repeating it: the client gets an error instead.
struct StreamForwarder<Encoder: StreamEncoder>: Sendable {
    var encoder: Encoder
    private(set) var begun = false
    private(set) var sentText = ""
    private(set) var sentToolCalls = false
    private(set) var attempts = 0
    /// The result, once the stream ended with one.
    private(set) var result: JobResult?

    init(encoder: Encoder) {
        self.encoder = encoder
    }

    struct Step {
        var bytes: [UInt8]
        /// The stream is over: nothing more is to be written.
        var done: Bool
    }

    mutating func handle(_ entry: StreamEntry) -> Step {
        switch entry.kind {
        case .start(let tier, let model, let mode):
            attempts += 1
            if attempts > 1 && (!sentText.isEmpty || sentToolCalls) {
                return Step(
                    bytes: failure(
                        .badGateway, code: "stream_interrupted",
                        message: "the worker answering was lost after part of the answer was sent, and the answer restarted; retry the request"),
                    done: true)
            }
            var bytes = begin(model: model)
            bytes += encoder.attempt(tier: tier, model: model, mode: mode, entryID: entry.id)
            return Step(bytes: bytes, done: false)
        case .delta(let text, let toolCalls):
            var bytes = begin(model: "")
            sentText += text
            sentToolCalls = sentToolCalls || !toolCalls.isEmpty
            bytes += encoder.delta(text: text, toolCalls: toolCalls, entryID: entry.id)
            return Step(bytes: bytes, done: false)
        case .end(let result):
            self.result = result
            return Step(bytes: end(result, entryID: entry.id), done: true)
        case .unknown:
            return Step(bytes: [], done: false)
        }
    }

    /// The end of an answer: what the client still lacks of it, then the API's end; for a
    /// failed job, its error in the API's shape.
    mutating func end(_ result: JobResult, entryID: String) -> [UInt8] {
        guard result.ok, let metadata = result.metadata else {
            let code = JobErrorTable.publicCode(result.error?.code)
            let entry = JobErrorTable.entry(for: code)
            return failure(entry.status, code: code, message: entry.message)
        }
        var bytes = begin(model: metadata.modelUsed)
        let answer = result.response ?? ""
        var rest = ""
        if sentText.isEmpty {
            rest = answer
        } else if answer.utf8.starts(with: sentText.utf8) {
            rest = String(decoding: answer.utf8.dropFirst(sentText.utf8.count), as: UTF8.self)
        }
        var pieces: [ToolCallPiece] = []
        if !sentToolCalls {
            pieces = (result.toolCalls ?? []).enumerated().map {
                ToolCallPiece(index: $0.offset, id: $0.element.id, name: $0.element.name, arguments: $0.element.arguments)
            }
        }
        if !rest.isEmpty || !pieces.isEmpty {
            sentText += rest
            sentToolCalls = sentToolCalls || !pieces.isEmpty
            bytes += encoder.delta(text: rest, toolCalls: pieces, entryID: entryID)
        }
        bytes += encoder.finish(result, metadata: metadata, entryID: entryID)
        return bytes
    }

    mutating func failure(_ status: HTTPResponse.Status, code: String, message: String) -> [UInt8] {
        begin(model: "") + encoder.failure(status: status, code: code, message: message)
    }

    private mutating func begin(model: String) -> [UInt8] {
        guard !begun else { return [] }
        begun = true
        return encoder.begin(model: model)
    }
}
