// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "cervella",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cervella", targets: ["cervella"]),
        .library(name: "WorkerPool", targets: ["WorkerPool"]),
        .library(name: "Producer", targets: ["Producer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.5.0"),
        // Already in the graph through Hummingbird; named here because the gateway's connection
        // guards are NIO channel handlers (header/body read timeouts, the connection cap).
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.24.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        // C at the edge: system libraries from Debian, plus typed wrappers for curl's variadics.
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .target(name: "CCurlShim", dependencies: ["CCurl"]),
        .target(name: "CSpawn"),
        .target(name: "Spawn", dependencies: ["CSpawn"]),

        // Libraries.
        .target(
            name: "RedisClient",
            dependencies: ["CHiredis", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "CurlHTTP",
            dependencies: ["CCurl", "CCurlShim", .product(name: "Logging", package: "swift-log")]
        ),
        .target(name: "JobProtocol"),
        .target(
            name: "Settings",
            dependencies: ["JobProtocol", "TOMLKit"]
        ),
        .target(
            name: "Providers",
            dependencies: ["CurlHTTP", "JobProtocol", "Settings", .product(name: "Logging", package: "swift-log")]
        ),
        .target(name: "Scoring", dependencies: ["JobProtocol", "Settings"]),
        .target(name: "Routing", dependencies: ["JobProtocol", "Settings"]),
        .target(
            name: "ControlPlane",
            dependencies: [
                "RedisClient", "JobProtocol", "Settings", "Scoring", .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "Producer",
            dependencies: [
                "RedisClient", "JobProtocol", "Settings", "Routing", "ControlPlane", .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "WorkerPool",
            dependencies: [
                "RedisClient", "JobProtocol", "Settings", "Providers", "Scoring", "ControlPlane", "Spawn", "Producer", "POC",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "Observability",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "Gateway",
            dependencies: [
                "RedisClient", "JobProtocol", "Settings", "Routing", "ControlPlane", "Producer", "Observability", "Scoring",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "Batch",
            dependencies: ["JobProtocol", "Producer", "Settings"]
        ),
        .target(
            name: "POC",
            dependencies: ["CurlHTTP", "JobProtocol", "Settings", "Providers", "Scoring"]
        ),
        .target(
            name: "Bench",
            dependencies: [
                "Spawn", "RedisClient", "CurlHTTP", "JobProtocol", "Settings", "Producer", "WorkerPool",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "ProviderSimulator",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "cervella",
            dependencies: [
                "RedisClient", "JobProtocol", "Settings", "Providers", "WorkerPool", "Producer",
                "ProviderSimulator", "Routing", "ControlPlane", "Gateway", "Observability", "Bench", "Batch", "POC",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // Tests mirror the libraries; IntegrationTests drive the whole pool.
        .target(
            name: "CervellaTestSupport",
            dependencies: [
                "RedisClient", "JobProtocol", "Settings", "WorkerPool", "Producer", "ProviderSimulator", "ControlPlane", "Gateway", "Spawn",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/Support"
        ),
        .testTarget(name: "RedisClientTests", dependencies: ["RedisClient"]),
        .testTarget(name: "CurlHTTPTests", dependencies: ["CurlHTTP", "Spawn"], exclude: ["Fixtures"]),
        .testTarget(name: "JobProtocolTests", dependencies: ["JobProtocol"]),
        .testTarget(name: "ProvidersTests", dependencies: ["Providers", "ProviderSimulator", "CurlHTTP", "Settings", "CervellaTestSupport"]),
        .testTarget(name: "SettingsTests", dependencies: ["Settings"]),
        .testTarget(name: "RoutingTests", dependencies: ["Routing", "Settings", "JobProtocol"]),
        .testTarget(name: "ScoringTests", dependencies: ["Scoring"]),
        .testTarget(name: "POCTests", dependencies: ["POC", "Scoring", "Settings", "Providers", "JobProtocol"]),
        .testTarget(name: "WorkerPoolTests", dependencies: ["WorkerPool", "JobProtocol", "Settings", "Scoring", "Providers", "RedisClient"]),
        .testTarget(
            name: "ProviderSimulatorTests",
            dependencies: [
                "ProviderSimulator",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Hermetic: no Redis, no simulator (a Redis URL where nothing listens, never reached).
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Gateway", "JobProtocol", "RedisClient", "Settings", "Producer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "ProducerTests",
            dependencies: [
                "Producer", "ControlPlane", "JobProtocol", "RedisClient", "Routing", "Settings", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "ControlPlaneTests", dependencies: ["ControlPlane", "JobProtocol", "RedisClient", "Settings"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "CervellaTestSupport", "RedisClient", "ControlPlane", "Routing", "Gateway", "CurlHTTP", "Observability", "JobProtocol", "Settings",
                "Providers", "WorkerPool", "Producer",
                "ProviderSimulator", "Spawn", "Batch", "POC", "Scoring",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
