import Foundation
import Hummingbird
import JobProtocol
import NIOCore
import Producer
import RedisClient

/// OpenAI's Batch API (docs/GATEWAY.md, "Batch API"): files in Redis with a TTL and a size
/// limit, and each batch run on the pool as one job group in the bulk lane.
extension GatewayServer {
    static let batchWindowSeconds = 86_400.0

    // MARK: - Files

    /// `POST /v1/files`: multipart/form-data with `purpose` (`batch`) and `file`.
    func uploadFile(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let contentType = request.headers[.contentType] ?? ""
        guard contentType.lowercased().hasPrefix("multipart/form-data"), let boundary = Self.boundary(contentType) else {
            throw Refusal(
                response: GatewayResponse.error(
                    .unsupportedMediaType, code: "unsupported_media_type",
                    message: "POST /v1/files takes multipart/form-data with 'purpose' and 'file'"))
        }
        let limit = settings.gateway.filesMaxBytes
        let bytes: [UInt8]
        do {
            bytes = Array(try await request.body.collect(upTo: limit + 65_536).readableBytesView)
        } catch is NIOTooManyBytesError {
            throw Self.fileTooLarge(limit)
        }
        let parts = Self.multipart(bytes, boundary: boundary)
        guard let purpose = parts.first(where: { $0.name == "purpose" }).map({ String(decoding: $0.body, as: UTF8.self) }) else {
            throw Self.invalid("missing field 'purpose' (batch)")
        }
        guard purpose == "batch" else { throw Self.invalid("purpose must be 'batch'; this gateway stores files for the Batch API only") }
        guard let file = parts.first(where: { $0.name == "file" }) else { throw Self.invalid("missing field 'file'") }
        if let other = parts.first(where: { $0.name != "purpose" && $0.name != "file" }) {
            throw Refusal(
                response: GatewayResponse.error(
                    .badRequest, code: "unsupported_parameter",
                    message: "unsupported field '\(other.name.prefix(64))': a file upload holds 'purpose' and 'file'"))
        }
        guard file.body.count <= limit else { throw Self.fileTooLarge(limit) }
        guard !file.body.isEmpty else { throw Self.invalid("the file is empty") }
        let id = "file-" + Self.randomHex(24)
        let name = String((file.filename ?? "upload.jsonl").prefix(255))
        let created = Int(Date().timeIntervalSince1970)
        try await storeFile(id: id, owner: Self.owner(context), filename: name, purpose: "batch", content: file.body, created: created)
        return GatewayResponse.bytes(
            Self.fileObject(id: id, bytes: file.body.count, created: created, filename: name, purpose: "batch"), status: .ok, headers: [:])
    }

    /// `GET /v1/files/{id}`.
    func fileInfo(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let (id, fields) = try await ownedFile(context)
        return GatewayResponse.bytes(
            Self.fileObject(
                id: id, bytes: Int(fields["bytes"] ?? "") ?? 0, created: Int(fields["created_at"] ?? "") ?? 0, filename: fields["filename"] ?? "",
                purpose: fields["purpose"] ?? "batch"), status: .ok, headers: [:])
    }

    /// `GET /v1/files/{id}/content`: the file as uploaded, or a batch's output.
    func fileContent(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let (id, _) = try await ownedFile(context)
        let commands = self.commands, keys = self.keys
        let content = try await withRedisDeadline { try await commands.send("HGET", RedisArgument(keys.file(id)), "content") }.bytes ?? []
        return Response(
            status: .ok, headers: [.contentType: "application/octet-stream"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: content)))
    }

    private func storeFile(id: String, owner: String, filename: String, purpose: String, content: [UInt8], created: Int) async throws {
        let commands = self.commands, key = RedisArgument(keys.file(id)), ttl = settings.gateway.filesTTLSeconds
        _ = try await withRedisDeadline {
            try await commands.transaction([
                RedisCommand(
                    "HSET", key, "owner", RedisArgument(owner), "filename", RedisArgument(filename), "purpose", RedisArgument(purpose), "bytes",
                    RedisArgument(content.count), "created_at", RedisArgument(created), "content", RedisArgument(bytes: content)),
                RedisCommand("EXPIRE", key, RedisArgument(ttl)),
            ])
        }
    }

    /// The file named in the path, if the caller's key uploaded it (404 otherwise).
    private func ownedFile(_ context: GatewayRequestContext) async throws -> (String, [String: String]) {
        let id = context.parameters.get("id") ?? ""
        guard !id.isEmpty, id.utf8.count <= 100, !id.contains(":") else { throw Self.invalid("invalid file id") }
        let commands = self.commands, keys = self.keys
        let reply = try await withRedisDeadline {
            try await commands.send("HMGET", RedisArgument(keys.file(id)), "owner", "filename", "purpose", "bytes", "created_at")
        }
        let values = (reply.array ?? []).map(\.string)
        guard values.count == 5, let owner = values[0], Self.mayAct(on: owner, context: context) else {
            throw Refusal(response: GatewayResponse.error(.notFound, code: "file_not_found", message: "no file \(id): unknown, or it expired"))
        }
        return (id, ["filename": values[1] ?? "", "purpose": values[2] ?? "", "bytes": values[3] ?? "0", "created_at": values[4] ?? "0"])
    }

    static func fileObject(id: String, bytes: Int, created: Int, filename: String, purpose: String) -> [UInt8] {
        GatewayResponse.written { w in
            w.object { w in
                w.key("id"); w.string(id)
                w.key("object"); w.string("file")
                w.key("bytes"); w.int(bytes)
                w.key("created_at"); w.int(created)
                w.key("filename"); w.string(filename)
                w.key("purpose"); w.string(purpose)
                w.key("status"); w.string("processed")
            }
        }
    }

    static func fileTooLarge(_ limit: Int) -> Refusal {
        Refusal(
            response: GatewayResponse.error(
                .contentTooLarge, code: "file_too_large",
                message: "the file exceeds gateway.files_max_bytes (\(limit) bytes); split it into several batches"))
    }

    // MARK: - Batches

    /// `POST /v1/batches`: every line of the input file checked as a `/v1/chat/completions`
    /// request (a bad line refuses the batch, naming it), then all run as one job group.
    func createBatch(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let body = try decode(BatchCreateRequest.self, from: try await body(request, context))
        guard body.endpoint == "/v1/chat/completions" else {
            throw Self.invalid("endpoint must be /v1/chat/completions; this gateway runs chat completions only")
        }
        guard body.completionWindow == "24h" else { throw Self.invalid("completion_window must be 24h") }
        if let metadata = body.metadata,
            metadata.count > 16 || metadata.contains(where: { $0.key.utf8.count > 64 || $0.value.utf8.count > 512 })
        {
            throw Self.invalid("metadata holds at most 16 pairs, keys of at most 64 bytes and values of at most 512, as OpenAI's")
        }
        let owner = Self.owner(context)
        let commands = self.commands, keys = self.keys
        let file =
            try await withRedisDeadline {
                try await commands.send("HMGET", RedisArgument(keys.file(body.inputFileID)), "owner", "content", "purpose")
            }.array ?? []
        guard file.count == 3, let fileOwner = file[0].string, Self.mayAct(on: fileOwner, context: context), let content = file[1].bytes else {
            throw Self.invalid("input_file_id: no file \(body.inputFileID.prefix(100)); upload it with POST /v1/files first")
        }
        var customIDs: [String] = []
        var jobs: [Job] = []
        for (index, line) in content.split(separator: UInt8(ascii: "\n")).enumerated() where !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) {
            do {
                let (customID, job) = try batchLine(Array(line))
                guard !customIDs.contains(customID) else { throw Self.invalid("custom_id '\(customID.prefix(64))' is used twice") }
                customIDs.append(customID)
                jobs.append(job)
            } catch let refusal as Refusal {
                throw refusal.prefixed("line \(index + 1) of \(body.inputFileID.prefix(100)): ")
            }
        }
        let group: JobGroup
        do {
            group = try producer.makeGroup(
                jobs, spec: GroupSpec(wait: .all, onFailure: .continue, priority: .bulk), timeoutSeconds: Self.batchWindowSeconds)
        } catch {
            throw Self.invalid("the input file: \(error.description)")
        }
        let id = "batch_" + Self.randomHex(24)
        let created = Int(Date().timeIntervalSince1970)
        let metadata = (try? JSONEncoder().encode(body.metadata ?? [:])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        let key = RedisArgument(keys.batch(id)), ttl = settings.gateway.filesTTLSeconds
        let ids = String(decoding: (try? JSONEncoder().encode(customIDs)) ?? Data("[]".utf8), as: UTF8.self)
        _ = try await withRedisDeadline {
            try await commands.transaction([
                RedisCommand(
                    "HSET", key, "owner", RedisArgument(owner), "input_file_id", RedisArgument(body.inputFileID), "created_at",
                    RedisArgument(created),
                    "group", RedisArgument(group.id), "custom_ids", RedisArgument(ids), "metadata", RedisArgument(metadata)),
                RedisCommand("EXPIRE", key, RedisArgument(ttl)),
            ])
        }
        let producer = self.producer
        try await withRedisDeadline { try await producer.submitGroup(group, owner: owner) }
        logger.info(
            "batch created", metadata: ["cervella.batch.id": "\(id)", "cervella.group.id": "\(group.id)", "cervella.batch.requests": "\(jobs.count)"])
        return try await batchResponse(id, context: context)
    }

    /// One input line: `{"custom_id","method":"POST","url":"/v1/chat/completions","body":{…}}`.
    private func batchLine(_ line: [UInt8]) throws -> (String, Job) {
        guard case .object(let fields)? = JSONValue.read(line) else { throw Self.invalid("not a JSON object") }
        if let other = fields.keys.sorted().first(where: { !["custom_id", "method", "url", "body"].contains($0) }) {
            throw Self.invalid("unsupported field '\(other.prefix(64))': a line holds 'custom_id', 'method', 'url' and 'body'")
        }
        guard case .string(let customID)? = fields["custom_id"], !customID.isEmpty, customID.utf8.count <= 512 else {
            throw Self.invalid("custom_id must be a string of 1 to 512 bytes")
        }
        guard fields["method"] == .string("POST") else { throw Self.invalid("method must be POST") }
        guard fields["url"] == .string("/v1/chat/completions") else { throw Self.invalid("url must be /v1/chat/completions, the batch's endpoint") }
        guard case .object(let request)? = fields["body"] else { throw Self.invalid("body must be a chat completion request") }
        var writer = JSONWriter()
        writer.value(.object(request))
        let body = try decode(CompletionRequest.self, from: Data(writer.bytes))
        if body.stream == true { throw Self.invalid("stream is not available in a batch") }
        if body.streamOptions != nil { throw Self.invalid("stream_options is not available in a batch") }
        return (customID, try completionJob(body, timeoutSeconds: Self.batchWindowSeconds, priority: .bulk))
    }

    /// `GET /v1/batches/{id}`.
    func batchStatus(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        try await batchResponse(try Self.batchID(context), context: context)
    }

    /// `POST /v1/batches/{id}/cancel`: the batch's queued requests are skipped, running ones
    /// stopped; what finished is in its output file.
    func cancelBatch(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let id = try Self.batchID(context)
        let batch = try await ownedBatch(id, context: context)
        let producer = self.producer, commands = self.commands, key = RedisArgument(keys.batch(id))
        if try await withRedisDeadline({ try await producer.cancelGroup(batch["group"] ?? "") }) == .cancelled {
            _ = try await withRedisDeadline {
                try await commands.send("HSETNX", key, "cancelled_at", RedisArgument(Int(Date().timeIntervalSince1970)))
            }
        }
        return try await batchResponse(id, context: context)
    }

    static func batchID(_ context: GatewayRequestContext) throws -> String {
        let id = context.parameters.get("id") ?? ""
        guard !id.isEmpty, id.utf8.count <= 100, !id.contains(":") else { throw invalid("invalid batch id") }
        return id
    }

    private func ownedBatch(_ id: String, context: GatewayRequestContext) async throws -> [String: String] {
        let commands = self.commands, keys = self.keys
        let fields = try await withRedisDeadline { try await commands.send("HGETALL", RedisArgument(keys.batch(id))) }.hashFields
        guard let owner = fields["owner"], Self.mayAct(on: owner, context: context) else {
            throw Refusal(response: GatewayResponse.error(.notFound, code: "batch_not_found", message: "no batch \(id): unknown, or it expired"))
        }
        return fields
    }

    /// The batch object; once its group is done, its output and error files are written (once).
    private func batchResponse(_ id: String, context: GatewayRequestContext) async throws -> Response {
        var batch = try await ownedBatch(id, context: context)
        let producer = self.producer
        let group = batch["group"] ?? ""
        guard let report = try await withRedisDeadline({ try await producer.groupStatus(group) }) else {
            throw Refusal(response: GatewayResponse.error(.notFound, code: "batch_not_found", message: "no batch \(id): its requests expired"))
        }
        if report.state == "done", batch["output_file_id"] == nil {
            batch = try await finalize(id, batch: batch, report: report)
        }
        return GatewayResponse.bytes(Self.batchObject(id, batch: batch, report: report), status: .ok, headers: [:])
    }

    /// Writes the output file (answers) and the error file (failures, and requests the
    /// cancellation skipped), and records them on the batch unless another call did first.
    private func finalize(_ id: String, batch: [String: String], report: GroupReport) async throws -> [String: String] {
        let customIDs = (try? JSONDecoder().decode([String].self, from: Data((batch["custom_ids"] ?? "[]").utf8))) ?? []
        let commands = self.commands, keys = self.keys
        // Results in the group's order; the children's ids are read from the group itself.
        let children =
            try await withRedisDeadline {
                try await commands.send("LRANGE", RedisArgument(keys.group(batch["group"] ?? "") + ":children"), 0, -1)
            }.array?.compactMap(\.string) ?? []
        let results = Dictionary(report.results.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var output: [UInt8] = []
        var errors: [UInt8] = []
        for (index, child) in children.enumerated() {
            let customID = index < customIDs.count ? customIDs[index] : child
            let result = results[child] ?? .failure(id: child, code: "cancelled", message: "the batch was cancelled before this request ran")
            if result.ok, let metadata = result.metadata {
                let body = Self.completionBody(
                    id: "chatcmpl-\(child)", created: Int(saturating: Date().timeIntervalSince1970), content: result.response ?? "",
                    toolCalls: result.toolCalls, finishReason: result.finishReason, metadata: metadata)
                output += Self.batchOutputLine(child: child, customID: customID, status: 200, body: body)
            } else {
                let redacted = JobErrorTable.redacted(result)
                let code = redacted.error?.code ?? "error"
                let status = JobErrorTable.entry(for: code).status
                errors += Self.batchOutputLine(
                    child: child, customID: customID, status: Int(status.code),
                    body: GatewayResponse.errorBody(status, code: code, message: redacted.error?.message ?? ""))
            }
        }
        let owner = batch["owner"] ?? "1"
        let created = Int(Date().timeIntervalSince1970)
        let outputID = "file-" + Self.randomHex(24), errorID = "file-" + Self.randomHex(24)
        try await storeFile(id: outputID, owner: owner, filename: "\(id)_output.jsonl", purpose: "batch_output", content: output, created: created)
        if !errors.isEmpty {
            try await storeFile(id: errorID, owner: owner, filename: "\(id)_error.jsonl", purpose: "batch_output", content: errors, created: created)
        }
        let key = RedisArgument(keys.batch(id))
        var commandsToRun = [
            RedisCommand("HSETNX", key, "output_file_id", RedisArgument(outputID)),
            RedisCommand("HSETNX", key, "completed_at", RedisArgument(created)),
        ]
        if !errors.isEmpty { commandsToRun.append(RedisCommand("HSETNX", key, "error_file_id", RedisArgument(errorID))) }
        let writes = commandsToRun
        _ = try await withRedisDeadline { try await commands.transaction(writes) }

        return try await ownedBatchFields(id)
    }

    private func ownedBatchFields(_ id: String) async throws -> [String: String] {
        let commands = self.commands, keys = self.keys
        return try await withRedisDeadline { try await commands.send("HGETALL", RedisArgument(keys.batch(id))) }.hashFields
    }

    static func batchOutputLine(child: String, customID: String, status: Int, body: [UInt8]) -> [UInt8] {
        var line = GatewayResponse.written { w in
            w.object { w in
                w.key("id"); w.string("batch_req_\(child)")
                w.key("custom_id"); w.string(customID)
                w.key("response")
                w.object { w in
                    w.key("status_code"); w.int(status)
                    w.key("request_id"); w.string(child)
                    w.key("body"); w.value(JSONValue.read(body) ?? .null)
                }
                w.key("error"); w.null()
            }
        }
        line.append(UInt8(ascii: "\n"))
        return line
    }

    /// OpenAI's `batch` object.
    static func batchObject(_ id: String, batch: [String: String], report: GroupReport) -> [UInt8] {
        let created = Int(batch["created_at"] ?? "") ?? 0
        let cancelled = batch["cancelled_at"].flatMap { Int($0) }
        let completed = batch["completed_at"].flatMap { Int($0) }
        let status: String
        if cancelled != nil {
            status = completed == nil ? "cancelling" : "cancelled"
        } else if report.state == "done" {
            status = completed == nil ? "finalizing" : "completed"
        } else {
            status = "in_progress"
        }
        let metadata = JSONValue.read(Array((batch["metadata"] ?? "{}").utf8)) ?? .object([:])
        return GatewayResponse.written { w in
            w.object { w in
                w.key("id"); w.string(id)
                w.key("object"); w.string("batch")
                w.key("endpoint"); w.string("/v1/chat/completions")
                w.key("errors"); w.null()
                w.key("input_file_id"); w.string(batch["input_file_id"] ?? "")
                w.key("completion_window"); w.string("24h")
                w.key("status"); w.string(status)
                w.key("output_file_id"); w.string(batch["output_file_id"])
                w.key("error_file_id"); w.string(batch["error_file_id"])
                w.key("created_at"); w.int(created)
                w.key("in_progress_at"); w.int(created)
                w.key("expires_at"); w.int(created + Int(batchWindowSeconds))
                w.key("finalizing_at"); w.int(completed)
                w.key("completed_at"); w.int(cancelled == nil ? completed : nil)
                w.key("failed_at"); w.null()
                w.key("expired_at"); w.null()
                w.key("cancelling_at"); w.int(cancelled)
                w.key("cancelled_at"); w.int(cancelled == nil ? nil : completed)
                w.key("request_counts")
                w.object { w in
                    w.key("total"); w.int(report.total)
                    w.key("completed"); w.int(report.succeeded)
                    w.key("failed"); w.int(report.failed + report.cancelled + (report.state == "done" ? report.pending : 0))
                }
                w.key("metadata"); w.value(metadata)
            }
        }
    }

    // MARK: - Multipart

    struct FormPart {
        var name: String
        var filename: String?
        var body: [UInt8]
    }

    static func boundary(_ contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                let value = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                return value.isEmpty || value.utf8.count > 200 ? nil : value
            }
        }
        return nil
    }

    /// The parts of a multipart/form-data body (RFC 7578): each with its name, file name and bytes.
    static func multipart(_ body: [UInt8], boundary: String) -> [FormPart] {
        let delimiter = Array("--\(boundary)".utf8)
        var parts: [FormPart] = []
        var starts: [Int] = []
        var index = 0
        while let found = find(delimiter, in: body, from: index) {
            starts.append(found)
            index = found + delimiter.count
        }
        for (position, start) in starts.enumerated() where position + 1 < starts.count {
            var from = start + delimiter.count
            if body[from...].starts(with: Array("\r\n".utf8)) { from += 2 }
            // The part ends with CRLF before the next delimiter.
            var end = starts[position + 1]
            if end >= 2, body[end - 2] == 0x0D, body[end - 1] == 0x0A { end -= 2 }
            guard from <= end, let split = find(Array("\r\n\r\n".utf8), in: body[..<end].map { $0 }, from: from) else { continue }
            let headers = String(decoding: body[from..<split], as: UTF8.self)
            var name: String?
            var filename: String?
            for header in headers.components(separatedBy: "\r\n") where header.lowercased().hasPrefix("content-disposition:") {
                name = parameter("name", in: header)
                filename = parameter("filename", in: header)
            }
            guard let name else { continue }
            parts.append(FormPart(name: name, filename: filename, body: Array(body[(split + 4)..<end])))
        }
        return parts
    }

    private static func parameter(_ key: String, in header: String) -> String? {
        for piece in header.split(separator: ";").dropFirst() {
            let pair = piece.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0].lowercased() == key { return pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        }
        return nil
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        var index = start
        while index <= haystack.count - needle.count {
            if haystack[index] == needle[0], haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }

    static func randomHex(_ count: Int) -> String {
        String((0..<count).map { _ in "0123456789abcdef".randomElement()! })
    }
}

/// `POST /v1/batches`.
struct BatchCreateRequest: Decodable, HonouredFields {
    static let honoured: Set<String> = ["input_file_id", "endpoint", "completion_window", "metadata"]
    var inputFileID: String
    var endpoint: String
    var completionWindow: String
    var metadata: [String: String]?

    enum CodingKeys: String, CodingKey {
        case inputFileID = "input_file_id", endpoint, completionWindow = "completion_window", metadata
    }
}
