// swift-tools-version:6.1
import PackageDescription

// Targets by layer (see ../shared/STYLE.md): CLMDB is only the C module map; LedgerStore is the only
// target that imports it. LedgerCore and LedgerProtocol are pure: no I/O, no clock of their own.
let package = Package(
    name: "stockd",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "stockd", targets: ["stockd"]),
        .executable(name: "stockctl", targets: ["stockctl"]),
        .executable(name: "stockbench", targets: ["stockbench"]),
        // The pure layers and the store, for the micro-benchmarks package in Benchmarks/.
        .library(name: "LedgerKit", targets: ["LedgerCore", "LedgerProtocol", "LedgerStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.4.0"),
        .package(url: "https://github.com/yaslab/CSV.swift.git", from: "2.5.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        // libedit: line editing and history for stockctl's interactive mode.
        .systemLibrary(name: "CEditLine", pkgConfig: "libedit", providers: [.apt(["libedit-dev"])]),
        .target(name: "LedgerCore"),
        .target(name: "LedgerStore", dependencies: ["CLMDB", "LedgerCore",
                                                    .product(name: "SystemPackage", package: "swift-system")]),
        .target(name: "LedgerProtocol", dependencies: ["LedgerCore"]),
        .target(name: "LedgerClient"),
        .target(name: "LedgerExchange", dependencies: ["LedgerCore", "LedgerProtocol",
                                                       .product(name: "CSV", package: "CSV.swift")]),
        .target(
            name: "LedgerServer",
            dependencies: [
                "LedgerCore", "LedgerStore", "LedgerProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "SystemPackage", package: "swift-system"),
                // Metrics (ServerMetrics.swift): swift-metrics' types, swift-prometheus' registry and
                // text format, NIOHTTP1 for the optional --metrics-listen endpoint.
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "stockd",
            dependencies: [
                "LedgerServer", "LedgerStore", "LedgerProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "stockctl",
            dependencies: [
                "LedgerCore", "LedgerStore", "LedgerProtocol", "LedgerClient", "LedgerExchange", "CEditLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "stockbench",
            dependencies: [
                "LedgerClient", "LedgerCore", "LedgerStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tools/stockbench"
        ),
        .testTarget(name: "LedgerCoreTests", dependencies: ["LedgerCore"]),
        .testTarget(name: "LedgerProtocolTests", dependencies: ["LedgerProtocol", "LedgerCore"]),
        .testTarget(name: "LedgerExchangeTests", dependencies: ["LedgerExchange", "LedgerCore"]),
        .testTarget(name: "LedgerStoreTests", dependencies: ["LedgerStore", "LedgerCore"]),
        .testTarget(
            name: "LedgerServerTests",
            dependencies: ["LedgerServer", "LedgerStore", "LedgerCore", "LedgerProtocol",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
        .testTarget(name: "EndToEndTests", dependencies: ["LedgerClient", "LedgerCore", "LedgerStore", "LedgerServer", "LedgerProtocol"]),
    ],
    swiftLanguageModes: [.v6]
)
