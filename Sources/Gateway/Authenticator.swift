import Foundation
import Hummingbird
import JobProtocol
import Settings

/// Who may call a route.
enum RouteAccess: Sendable {
    /// An API key (nobody, when the gateway has none and so listens on loopback only).
    case user
    /// An API key, or the admin key, which sees every key's jobs.
    case userOrAdmin
    case admin
    /// /metrics and /readyz: any key when `gateway.protect_probes` applies, else nobody.
    case probe
}

/// Who called, once authenticated.
enum Caller: Equatable, Sendable {
    /// No key was needed (loopback-only gateway, or an open probe).
    case anonymous
    /// An API key, known only by its digest from here on.
    case user(digest: String)
    case admin
}

/// Decides from the `Authorization` header alone who is calling and whether the route admits
/// them: no Redis, no clock, so that every answer can be tested as a table.
///
/// Counting a wrong key against the client's address is `AdmissionControl`'s job; this only
/// says whether a refusal was a wrong key (it counts) or a missing one (it guesses nothing).
struct Authenticator: Sendable {
    let apiKeys: [String]
    let adminKey: String?
    /// `gateway.protect_probes`, resolved for the address the gateway listens on.
    let probesNeedKey: Bool

    init(apiKeys: [String], adminKey: String?, probesNeedKey: Bool) {
        self.apiKeys = apiKeys
        self.adminKey = adminKey
        self.probesNeedKey = probesNeedKey
    }

    init(settings: CervellaSettings.Gateway, listeningOn host: String) {
        self.init(apiKeys: settings.apiKeys, adminKey: settings.adminKey, probesNeedKey: settings.probesNeedKey(listeningOn: host))
    }

    enum Outcome: Equatable {
        case accepted(Caller)
        /// `wrongKey`: a key was presented and is not valid here (it counts against the
        /// address's failure budget; a missing key does not, as it guesses nothing).
        case refused(Denial, wrongKey: Bool)
    }

    /// A refusal, as its JSON error (no headers).
    struct Denial: Equatable {
        var status: HTTPResponse.Status
        var code: String
        var message: String

        var response: Response { GatewayResponse.error(status, code: code, message: message) }
    }

    func authenticate(authorization: String?, access: RouteAccess) -> Outcome {
        let presented = Self.bearerToken(authorization)
        let isAdmin = presented.flatMap { key in adminKey.map { Self.constantTimeEquals(key, $0) } } ?? false
        switch access {
        case .admin:
            guard adminKey != nil else {
                return .refused(
                    Denial(status: .forbidden, code: "admin_disabled", message: "set CERVELLA_ADMIN_KEY to enable the admin API"), wrongKey: false)
            }
            guard presented != nil else {
                return .refused(
                    Denial(status: .unauthorized, code: "missing_api_key", message: "send Authorization: Bearer <admin key>"), wrongKey: false)
            }
            guard isAdmin else {
                return .refused(Denial(status: .forbidden, code: "not_admin", message: "this key may not use the admin API"), wrongKey: true)
            }
            return .accepted(.admin)
        case .probe:
            guard probesNeedKey, !(apiKeys.isEmpty && adminKey == nil) else { return .accepted(.anonymous) }
        case .user, .userOrAdmin:
            guard !apiKeys.isEmpty else { return .accepted(.anonymous) }
        }
        guard let presented else {
            return .refused(Denial(status: .unauthorized, code: "missing_api_key", message: "send Authorization: Bearer <API key>"), wrongKey: false)
        }
        if isAdmin && access != .user { return .accepted(.admin) }
        // Compare against every key, always, so timing says nothing about which one is close.
        var matched = false
        for key in apiKeys where Self.constantTimeEquals(presented, key) { matched = true }
        guard matched else {
            return .refused(Denial(status: .unauthorized, code: "invalid_api_key", message: "the API key is not valid"), wrongKey: true)
        }
        return .accepted(.user(digest: Self.keyDigest(presented)))
    }

    /// The key of `Authorization: Bearer <key>` (the scheme in any case, the key trimmed);
    /// nil for a missing header or another scheme.
    static func bearerToken(_ header: String?) -> String? {
        guard let header, header.lowercased().hasPrefix("bearer ") else { return nil }
        return String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
    }

    /// The digest that stands for an API key in Redis (rate limits, job owners): the key
    /// itself never leaves the process.
    static func keyDigest(_ key: String) -> String {
        String(SHA256.hex(Array(key.utf8)).prefix(16))
    }

    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        var difference = UInt8(truncatingIfNeeded: x.count ^ y.count)
        for index in 0..<max(x.count, y.count) {
            difference |= (index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0)
        }
        return difference == 0
    }
}
