import Foundation

/// The exact-match cache key of a job: SHA-256 of a canonical form of everything that can
/// change the answer.
///
/// What goes in: the messages (with their names and tool calls), the parameters (sampling,
/// tools, tool choice, response format, seed), the model choice (`force_model`, or the routed
/// model) and the tier hint: two requests that differ only in their tools never share an entry. What stays out: ids, timestamps, deadlines, metadata.
/// The canonical form is JSON with sorted keys and no spaces, written by this one function, so
/// the producer (which looks the key up) and the worker (which fills it) always agree.
public enum CacheKey {
    public static func digest(for job: Job) -> String {
        SHA256.hex(canonicalIdentity(of: job))
    }

    /// `{"messages":[{"content":…,"role":…}],"model":…,"params":{…},"tier_hint":…}`, every
    /// object's keys sorted, no spaces, as JSONEncoder with `.sortedKeys` wrote it when it was
    /// the implementation (its keys are still the reference, `CacheKeyTests`); written
    /// directly, since JSONEncoder cost the producer and the worker a fifth of a job's CPU.
    static func canonicalIdentity(of job: Job) -> [UInt8] {
        var w = JSONWriter(capacity: 256, encoderCompatible: true)
        w.object { w in
            w.key("messages");
            w.array(job.messages) { w, message in
                w.object { w in
                    w.key("content")
                    switch message.content {
                    case .text(let text)?: w.string(text)
                    case .parts(let parts)?: w.array(parts) { $0.value($1) }
                    case nil: w.null()
                    }
                    if let name = message.name { w.key("name"); w.string(name) }
                    w.key("role"); w.string(message.role)
                    if let id = message.toolCallID { w.key("tool_call_id"); w.string(id) }
                    if let calls = message.toolCalls {
                        w.key("tool_calls")
                        w.array(calls) { w, call in
                            w.object { w in
                                w.key("function")
                                w.object { w in
                                    w.key("arguments"); w.string(call.arguments)
                                    w.key("name"); w.string(call.name)
                                }
                                w.key("id"); w.string(call.id)
                                w.key("type"); w.string(call.type)
                            }
                        }
                    }
                }
            }
            w.key("model"); w.string(job.forceModel ?? job.route?.model ?? "")
            let params = job.params
            w.key("params");
            w.object { w in
                if let format = params.expectedFormat { w.key("expected_format"); w.string(format) }
                if let maxTokens = params.maxTokens { w.key("max_tokens"); w.int(maxTokens) }
                if let parallel = params.parallelToolCalls { w.key("parallel_tool_calls"); w.bool(parallel) }
                if let format = params.responseFormat { w.key("response_format"); w.value(format) }
                if let seed = params.seed { w.key("seed"); w.int(seed) }
                if let stop = params.stop { w.key("stop"); w.array(stop) { $0.string($1) } }
                if let temperature = params.temperature { w.key("temperature"); w.double(temperature) }
                if let choice = params.toolChoice { w.key("tool_choice"); w.value(choice) }
                if let tools = params.tools { w.key("tools"); w.array(tools) { $0.value($1) } }
                if let topP = params.topP { w.key("top_p"); w.double(topP) }
            }
            w.key("tier_hint"); w.string(job.tierHint)
        }
        return w.bytes
    }
}
