import Foundation
import Settings
import Testing

/// The `[gateway]` table: the hardening keys of issue 11 are read, validated and documented.
@Suite struct GatewaySettingsTests {
    @Test func everyGatewayKeyIsRead() throws {
        let settings = try applying(
            """
            [gateway]
            host = "0.0.0.0"
            port = 9090
            request_body_limit_bytes = 2048
            rate_limit_per_minute = 10
            max_queue_length = 50
            request_timeout_seconds = 30.0
            log_content = true
            header_read_timeout_seconds = 5
            body_read_timeout_seconds = 12.5
            max_connections = 100
            max_tokens_limit = 4096
            auth_failures_per_minute = 3
            redis_timeout_ms = 750
            protect_probes = false
            """)
        let gateway = settings.gateway
        #expect(gateway.host == "0.0.0.0" && gateway.port == 9090)
        #expect(gateway.headerReadTimeoutSeconds == 5)
        #expect(gateway.bodyReadTimeoutSeconds == 12.5)
        #expect(gateway.maxConnections == 100)
        #expect(gateway.maxTokensLimit == 4096)
        #expect(gateway.authFailuresPerMinute == 3)
        #expect(gateway.redisTimeoutMs == 750)
        #expect(gateway.protectProbes == false)
        try settings.validate()
    }

    @Test func protectProbesIsAutoTrueOrFalse() throws {
        #expect(try applying("[gateway]\nprotect_probes = true").gateway.protectProbes == true)
        #expect(try applying("[gateway]\nprotect_probes = \"auto\"").gateway.protectProbes == nil)
        let error = #expect(throws: SettingsError.self) { try applying("[gateway]\nprotect_probes = \"yes\"") }
        #expect(error?.key == "gateway.protect_probes")

        var gateway = CervellaSettings.Gateway()
        #expect(gateway.probesNeedKey(listeningOn: "127.0.0.1") == false)
        #expect(gateway.probesNeedKey(listeningOn: "::1") == false)
        #expect(gateway.probesNeedKey(listeningOn: "0.0.0.0") == true)
        #expect(gateway.probesNeedKey(listeningOn: "10.0.0.5") == true)
        gateway.protectProbes = true
        #expect(gateway.probesNeedKey(listeningOn: "127.0.0.1") == true)
        gateway.protectProbes = false
        #expect(gateway.probesNeedKey(listeningOn: "0.0.0.0") == false)
    }

    @Test(arguments: [
        ("header_read_timeout_seconds = 0", "gateway.header_read_timeout_seconds"),
        ("header_read_timeout_seconds = 4000", "gateway.header_read_timeout_seconds"),
        ("body_read_timeout_seconds = -1", "gateway.body_read_timeout_seconds"),
        ("max_connections = 0", "gateway.max_connections"),
        ("max_tokens_limit = 0", "gateway.max_tokens_limit"),
        ("auth_failures_per_minute = -1", "gateway.auth_failures_per_minute"),
        ("redis_timeout_ms = 5", "gateway.redis_timeout_ms"),
        ("redis_timeout_ms = 120000", "gateway.redis_timeout_ms"),
        ("request_timeout_seconds = 1e300", "gateway.request_timeout_seconds"),
        ("request_timeout_seconds = 0", "gateway.request_timeout_seconds"),
        ("port = 70000", "gateway.port"),
        ("rate_limit_per_minute = -1", "gateway.rate_limit_per_minute"),
    ])
    func outOfRangeGatewayValueIsAnErrorNamingTheKey(line: String, key: String) throws {
        let settings = try applying("[gateway]\n\(line)")
        let error = #expect(throws: SettingsError.self) { try settings.validate() }
        #expect(error?.key == key)
    }

    @Test func unknownGatewayKeyIsAnError() {
        let error = #expect(throws: SettingsError.self) { try applying("[gateway]\nheader_timeout = 3") }
        #expect(error?.key == "gateway.header_timeout")
    }

    /// worker.toml writes every gateway key out with its built-in default.
    @Test func repositoryWorkerTOMLSetsEveryGatewayKeyToItsDefault() throws {
        var changed = CervellaSettings()
        changed.gateway.headerReadTimeoutSeconds = 1
        changed.gateway.bodyReadTimeoutSeconds = 1
        changed.gateway.maxConnections = 1
        changed.gateway.maxTokensLimit = 1
        changed.gateway.authFailuresPerMinute = 1
        changed.gateway.redisTimeoutMs = 11
        changed.gateway.protectProbes = true
        changed.gateway.requestTimeoutSeconds = 1
        changed.gateway.rateLimitPerMinute = 1
        try changed.apply(toml: try String(contentsOfFile: repositoryWorkerTOML, encoding: .utf8))
        #expect(changed.gateway == CervellaSettings.Gateway())
    }
}
