import Hummingbird
import Settings
import Testing

@testable import Gateway

/// Who gets in where, decided from the Authorization header alone (docs/GATEWAY.md).
@Suite struct AuthenticatorTests {
    let keyed = Authenticator(apiKeys: ["alpha-key", "beta-key"], adminKey: "root-key", probesNeedKey: true)

    func denial(_ outcome: Authenticator.Outcome) -> (status: Int, code: String, wrongKey: Bool)? {
        guard case .refused(let denial, let wrongKey) = outcome else { return nil }
        return (Int(denial.status.code), denial.code, wrongKey)
    }

    @Test func aGatewayWithoutKeysLetsEveryoneUseTheAPIAndTheProbes() {
        let open = Authenticator(apiKeys: [], adminKey: nil, probesNeedKey: true)
        #expect(open.authenticate(authorization: nil, access: .user) == .accepted(.anonymous))
        #expect(open.authenticate(authorization: "Bearer anything", access: .userOrAdmin) == .accepted(.anonymous))
        #expect(open.authenticate(authorization: nil, access: .probe) == .accepted(.anonymous))
    }

    @Test func theAdminAPIIsDisabledWithoutAnAdminKey() {
        let noAdmin = Authenticator(apiKeys: ["alpha-key"], adminKey: nil, probesNeedKey: false)
        let refused = denial(noAdmin.authenticate(authorization: "Bearer alpha-key", access: .admin))
        #expect(refused?.status == 403)
        #expect(refused?.code == "admin_disabled")
        #expect(refused?.wrongKey == false)
    }

    @Test func aValidAPIKeyIsKnownOnlyByItsDigest() {
        #expect(keyed.authenticate(authorization: "Bearer beta-key", access: .user) == .accepted(.user(digest: Authenticator.keyDigest("beta-key"))))
        // The scheme in any case, the key trimmed.
        #expect(
            keyed.authenticate(authorization: "bearer   alpha-key ", access: .user) == .accepted(.user(digest: Authenticator.keyDigest("alpha-key"))))
    }

    @Test func aMissingKeyIs401AndDoesNotCountAsAFailure() {
        for authorization in [nil, "", "Basic alpha-key", "alpha-key"] as [String?] {
            let refused = denial(keyed.authenticate(authorization: authorization, access: .user))
            #expect(refused?.status == 401, "\(String(describing: authorization))")
            #expect(refused?.code == "missing_api_key")
            #expect(refused?.wrongKey == false)
        }
    }

    @Test func aWrongKeyIs401AndCountsAsAFailure() {
        let refused = denial(keyed.authenticate(authorization: "Bearer alpha-ke", access: .user))
        #expect(refused?.status == 401)
        #expect(refused?.code == "invalid_api_key")
        #expect(refused?.wrongKey == true)
    }

    @Test func theAdminKeyIsNotAnAPIKeyOnTheChatRoutes() {
        let refused = denial(keyed.authenticate(authorization: "Bearer root-key", access: .user))
        #expect(refused?.code == "invalid_api_key")
        #expect(refused?.wrongKey == true)
    }

    @Test func theAdminKeyReadsEveryJobAndAnAPIKeyOnlyItsOwn() {
        #expect(keyed.authenticate(authorization: "Bearer root-key", access: .userOrAdmin) == .accepted(.admin))
        #expect(
            keyed.authenticate(authorization: "Bearer alpha-key", access: .userOrAdmin)
                == .accepted(.user(digest: Authenticator.keyDigest("alpha-key"))))
    }

    @Test func theAdminAPINeedsTheAdminKey() {
        #expect(keyed.authenticate(authorization: "Bearer root-key", access: .admin) == .accepted(.admin))
        let apiKey = denial(keyed.authenticate(authorization: "Bearer alpha-key", access: .admin))
        #expect(apiKey?.status == 403)
        #expect(apiKey?.code == "not_admin")
        #expect(apiKey?.wrongKey == true)
        let none = denial(keyed.authenticate(authorization: nil, access: .admin))
        #expect(none?.status == 401)
        #expect(none?.code == "missing_api_key")
        #expect(none?.wrongKey == false)
    }

    @Test func protectedProbesTakeAnyKey() {
        #expect(
            keyed.authenticate(authorization: "Bearer alpha-key", access: .probe) == .accepted(.user(digest: Authenticator.keyDigest("alpha-key"))))
        #expect(keyed.authenticate(authorization: "Bearer root-key", access: .probe) == .accepted(.admin))
        #expect(denial(keyed.authenticate(authorization: nil, access: .probe))?.code == "missing_api_key")
        #expect(denial(keyed.authenticate(authorization: "Bearer nope", access: .probe))?.wrongKey == true)
    }

    @Test func openProbesNeedNoKey() {
        let open = Authenticator(apiKeys: ["alpha-key"], adminKey: "root-key", probesNeedKey: false)
        #expect(open.authenticate(authorization: nil, access: .probe) == .accepted(.anonymous))
        // The API routes still need one.
        #expect(denial(open.authenticate(authorization: nil, access: .user))?.status == 401)
    }

    @Test func protectProbesAutoProtectsOnlyBeyondLoopback() {
        var settings = CervellaSettings.Gateway()
        settings.apiKeys = ["alpha-key"]
        #expect(Authenticator(settings: settings, listeningOn: "127.0.0.1").probesNeedKey == false)
        #expect(Authenticator(settings: settings, listeningOn: "::1").probesNeedKey == false)
        #expect(Authenticator(settings: settings, listeningOn: "0.0.0.0").probesNeedKey == true)
        settings.protectProbes = false
        #expect(Authenticator(settings: settings, listeningOn: "0.0.0.0").probesNeedKey == false)
        settings.protectProbes = true
        #expect(Authenticator(settings: settings, listeningOn: "127.0.0.1").probesNeedKey == true)
    }

    @Test func keyDigestsAreShortStableAndHideTheKey() {
        let digest = Authenticator.keyDigest("alpha-key")
        #expect(digest.count == 16)
        #expect(digest.allSatisfy { $0.isHexDigit })
        #expect(digest == Authenticator.keyDigest("alpha-key"))
        #expect(digest != Authenticator.keyDigest("beta-key"))
        #expect(!digest.contains("alpha"))
    }

    @Test func constantTimeEqualsComparesWholeStrings() {
        #expect(Authenticator.constantTimeEquals("secret", "secret"))
        #expect(!Authenticator.constantTimeEquals("secret", "secreT"))
        #expect(!Authenticator.constantTimeEquals("secret", "secret2"))
        #expect(!Authenticator.constantTimeEquals("", "x"))
        #expect(Authenticator.constantTimeEquals("", ""))
    }
}
