import Hummingbird
import HummingbirdTesting

/// A `Response` as a client receives it, through HummingbirdTesting's router framework.
enum Served {
    static func response(_ response: Response) async throws -> TestResponse {
        let router = Router()
        router.get("/") { _, _ in response }
        return try await Application(router: router).test(.router) { (client) async throws in
            try await client.execute(uri: "/", method: .get)
        }
    }
}
