import Hummingbird
import ServiceLifecycle

/// A streamed answer (`"stream": true`) in server-sent events, laid out in full before the
/// first byte and then written with a pause before each token.
///
/// Everything a stream says is decided before it starts, from the same answer a
/// non-streaming request gets, so streamed and non-streamed content cannot drift apart;
/// only time passes while writing. The routes therefore stay plain functions from an answer
/// to frames, and one loop here owns what is hard to get right: pacing without holding a
/// thread (`Task.sleep`), noticing a client that went away, and counting both in
/// ``SimulatorStats``.
struct SimEventStream: Sendable {
    /// One thing the writer does: send bytes, or wait.
    enum Step: Sendable, Equatable {
        case send(String)
        case pause(Duration)
    }

    /// The content type both real servers send with a stream (Starlette adds the charset
    /// to vLLM's `text/event-stream`; Anthropic sends the same).
    static let contentType = "text/event-stream; charset=utf-8"

    /// What the writer will do, in order.
    private(set) var steps: [Step] = []

    /// The frames without the pauses: the body a client receives.
    var text: String {
        steps.reduce(into: "") { text, step in
            if case .send(let frame) = step { text += frame }
        }
    }

    /// Appends `data: <json>`, an unnamed event: every vLLM chunk has this form.
    mutating func data(_ value: JSONValue) {
        send("data: " + value.serialized() + "\n\n")
    }

    /// Appends `event: <name>` with `data: <json>`: every Anthropic event has this form.
    mutating func event(_ name: String, _ value: JSONValue) {
        send("event: " + name + "\ndata: " + value.serialized() + "\n\n")
    }

    /// Appends raw text. Frames with no pause between them go out in one write, as a server
    /// that has several chunks ready flushes them together; a client must cope either way.
    mutating func send(_ text: String) {
        if case .send(let pending)? = steps.last {
            steps[steps.count - 1] = .send(pending + text)
        } else {
            steps.append(.send(text))
        }
    }

    /// Appends a wait; a zero duration adds nothing.
    mutating func pause(_ duration: Duration) {
        guard duration > .zero else { return }
        steps.append(.pause(duration))
    }

    /// The 200 response that writes this stream, with `headers` added.
    ///
    /// The body counts itself in `stats` when it starts and again if it ends early: a failed
    /// write (the client disconnected) or a cancelled pause (the handler was cancelled, or
    /// the server shuts down gracefully, which, as for `hang`, does not wait out a slow
    /// stream). The error is rethrown so that Hummingbird closes the connection.
    func response(headers: HTTPFields = [:], stats: SimulatorStats) -> Response {
        var fields = headers
        fields[.contentType] = Self.contentType
        let steps = self.steps
        let body = ResponseBody { writer in
            stats.recordStreamStarted()
            do {
                for step in steps {
                    switch step {
                    case .send(let frame):
                        try await writer.write(ByteBuffer(string: frame))
                    case .pause(let duration):
                        try await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
                    }
                }
                try await writer.finish(nil)
            } catch {
                stats.recordStreamCancelled()
                throw error
            }
        }
        return Response(status: .ok, headers: fields, body: body)
    }
}

/// How much of an answer a stream sends and how it ends, from the streaming directives.
///
/// Both wire formats break a stream at the same point for `cut` and `midstream_error`, so
/// that a test can fault either provider in the same way and expect the same partial text.
struct StreamPlan: Sendable, Equatable {
    /// How a stream ends.
    enum Ending: Sendable, Equatable {
        /// Every token, then the format's closing events and end marker.
        case complete
        /// The body ends after ``tokensSent`` tokens, with no end marker.
        case cut
        /// The format's in-stream error after ``tokensSent`` tokens, then the body ends.
        case error
    }

    /// The pause before each token (`token_ms`).
    let tokenDelay: Duration
    /// How the stream ends.
    let ending: Ending
    /// Tokens sent before the ending: all of them, or the first half (rounded up, so that
    /// an answer of one token or more shows some content before a fault).
    let tokensSent: Int

    init(directives: SimDirectives, tokenCount: Int) {
        tokenDelay = .milliseconds(directives.tokenMs ?? 0)
        ending = directives.midstreamError ? .error : directives.cut ? .cut : .complete
        tokensSent = ending == .complete ? tokenCount : (tokenCount + 1) / 2
    }

    /// Longest piece of tool-call arguments one delta carries.
    static let argumentPieceLength = 8

    /// `token` of a tool call's arguments cut into the pieces a stream sends, in order.
    ///
    /// The arguments are compact JSON, which the simulator's whitespace tokenizer leaves as
    /// one or two long tokens; a real tokenizer cuts JSON into many short ones, and both
    /// vLLM and Anthropic stream those. Sending each token in pieces of at most
    /// ``argumentPieceLength`` characters makes a client join several pieces, so one that
    /// keeps only the last piece fails against the simulator as it would against a real
    /// server. Token counts (usage, pacing, where `cut` falls) still count whole tokens.
    static func argumentPieces(_ token: String) -> [String] {
        guard !token.isEmpty else { return [token] }
        var pieces: [String] = []
        var rest = Substring(token)
        while !rest.isEmpty {
            pieces.append(String(rest.prefix(argumentPieceLength)))
            rest = rest.dropFirst(argumentPieceLength)
        }
        return pieces
    }
}
