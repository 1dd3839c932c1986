// swift-tools-version:6.1
import PackageDescription

// Micro-benchmarks of the hot pure code (line parser, fold, event encoding) with package-benchmark.
// A package of its own so that the daemon's build and `make test` never pay for the benchmark
// tooling. Run: `cd Benchmarks && swift package benchmark` (see docs/performance.md).
// SwiftPM names a path dependency after its folder: the repository root's folder name, whatever the
// clone is called.
let rootPackage = Context.packageDirectory.split(separator: "/").dropLast().last.map(String.init) ?? "main"

let package = Package(
    name: "LedgerBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "LedgerBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "LedgerKit", package: rootPackage),
            ],
            path: "Benchmarks/LedgerBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
