/// The keys of Claude's Message Batches for bulk fallbacks (docs/PROTOCOL.md, docs/ROUTING.md
/// "Message Batches"). A job is always in exactly one of: a processing list, the pending list,
/// a batch's entries, or a queue again; each move between them is one script.
extension KeySpace {
    /// List of `fallback_bulk` job payloads waiting to be sent in a batch, newest at the head.
    public var messageBatchPending: String { "\(prefix):mbatch:pending" }
    /// Unix seconds (a string) at which the oldest job now pending was parked.
    public var messageBatchPendingSince: String { "\(prefix):mbatch:pending_since" }
    /// Hash: each batch being sent or answered → its record (JSON: `state` `staged` or
    /// `submitted`, `batch` id, `at`, `owner`, `entries`, `earliest_deadline`). A staged batch's
    /// field is `staged-<token>` until its create call returned its id.
    public var messageBatchOpen: String { "\(prefix):mbatch:open" }
    /// Hash of one batch's unanswered entries: custom id → the job's payload.
    public func messageBatchEntries(_ handle: String) -> String { "\(prefix):mbatch:entries:\(handle)" }
    /// Lease of the one worker that sends and polls batches.
    public var messageBatchLease: String { "\(prefix):mbatch:lease" }
}
