// swift-tools-version: 6.1
// stockrelay: relays one site's stockd event log, exactly once, into PostgreSQL (docs/network.md).
//
// A package of its own, next to the daemon's: postgres-nio and its dependencies (swift-nio-ssl,
// swift-crypto, ...) take minutes to build, and the daemon's build should never pay for them. The relay
// does not depend on the main package either: it speaks the line protocol over the socket like any
// other client (docs/protocol.md).
import PackageDescription

let package = Package(
    name: "stockrelay",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "stockrelay", targets: ["stockrelay"]),
    ],
    dependencies: [
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        .executableTarget(
            name: "stockrelay",
            dependencies: [
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "StockRelayTests",
            dependencies: [
                "stockrelay",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
