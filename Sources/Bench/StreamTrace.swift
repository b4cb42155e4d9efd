/// What one streamed request saw, each time counted from just before it was sent.
struct StreamTrace: Sendable {
    /// Milliseconds to the first non-empty content delta (time to first token).
    var firstToken: Double?
    /// Milliseconds between consecutive content deltas of this stream.
    var gaps: [Double] = []
    /// Milliseconds to the end marker (`data: [DONE]`): the whole answer in hand.
    var complete: Double?
    /// Non-empty content deltas received.
    var contentDeltas = 0
    /// Characters of content received, to check that every series streamed answers of one length.
    var contentCharacters = 0
    /// The gateway's `x-cervella-job-id` (nil straight from the simulator).
    var jobID: String?
    /// Wall-clock times (seconds since 1970) of the request and of its first token, to set
    /// beside the times in the job's stream entry ids, which Redis stamps from the same clock.
    var sentAt = 0.0
    var firstTokenAt: Double?
}
