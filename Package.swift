// swift-tools-version:6.0
// Attention-output sparse autoencoders (Kissane et al., ICML 2024) in Swift.
//
// Module graph (one way, no cycles — Docs/Architecture.md):
//
//   CBLAS, CHDF5, CZlib, CSnappy, CZstd, CKernels  <-  Tensor  <-  Transformer        <-  Interp  <-  Experiments  <-  ExplorerServer (Hummingbird)
//                     Tensor  <-  SparseAutoencoder  <-  Interp
//
// No unsafeFlags anywhere: other packages must be able to depend on this one.
import PackageDescription

/// A thin experiment executable: its options (ArgumentParser) and one call into `Experiments`.
func experimentCommand(_ name: String, also: [Target.Dependency] = []) -> Target {
    .executableTarget(name: name, dependencies: ["Experiments", "ExperimentsCLI", "Interp", .product(name: "ArgumentParser", package: "swift-argument-parser")] + also,
                      path: "Sources/Experiments/Commands/" + name)
}

let package = Package(
    name: "AttentionSAEs",
    products: [
        // MARK: - Public API
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "Transformer", targets: ["Transformer"]),
        .library(name: "SparseAutoencoder", targets: ["SparseAutoencoder"]),
        .library(name: "Interp", targets: ["Interp"]),
        .library(name: "SAEDistributed", targets: ["SAEDistributed"]),
        .library(name: "Experiments", targets: ["Experiments"]),
        // Not API: the readers' harness, a product only so the fuzz package (Fuzz/) can link it.
        .library(name: "FormatHarness", targets: ["FormatHarness"]),
        // MARK: - Executables (thin: options → one runner)
        .executable(name: "reproduce", targets: ["reproduce"]),
        .executable(name: "long-prefix-induction", targets: ["long-prefix-induction"]),
        .executable(name: "inspect", targets: ["inspect"]),
        .executable(name: "train-sae", targets: ["train-sae"]),
        .executable(name: "feature-dashboards", targets: ["feature-dashboards"]),
        .executable(name: "top-features", targets: ["top-features"]),
        .executable(name: "induction-deep-dive", targets: ["induction-deep-dive"]),
        .executable(name: "ioi-circuit", targets: ["ioi-circuit"]),
        .executable(name: "circuit-explorer", targets: ["circuit-explorer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The Circuit Explorer's HTTP server (and, for its tests, HummingbirdTesting).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.14.0"),
    ],
    targets: [
        // MARK: - System libraries (Debian: libopenblas-dev, libhdf5-dev, pkg-config)
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5",
                       providers: [.apt(["libhdf5-dev"])]),
        // zlib (Debian: zlib1g-dev): deflate-compressed HDF5 chunks and zip CRC-32s.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        // Snappy and Zstandard (Debian: libsnappy-dev, libzstd-dev): Parquet's codecs, Arrow's compressed
        // buffers and `.jsonl.zst` corpora.
        .systemLibrary(name: "CSnappy", pkgConfig: "snappy",
                       providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),
        // OpenMPI (Debian: libopenmpi-dev, openmpi-bin), for data-parallel training only.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),

        // Kernels compiled for AVX-512, AVX2 and the baseline by per-function target attributes and
        // chosen at run time (no unsafeFlags); Tensor/Kernels.swift is their Swift face.
        .target(name: "CKernels"),

        // MARK: - Library modules
        .target(name: "Tensor", dependencies: ["CBLAS", "CHDF5", "CZlib", "CSnappy", "CZstd", "CKernels"]),
        .target(name: "Transformer", dependencies: ["Tensor"]),
        .target(name: "SparseAutoencoder", dependencies: ["Tensor"]),
        .target(name: "Interp", dependencies: ["Tensor", "Transformer", "SparseAutoencoder"]),
        // Data-parallel training over MPI: its own module, so `import SparseAutoencoder` needs no MPI.
        .target(name: "SAEDistributed", dependencies: ["Tensor", "SparseAutoencoder", "CMPI"]),
        // The runners: a workspace, the paper's sections behind one protocol, the report site.
        .target(name: "Experiments", dependencies: ["Tensor", "Transformer", "SparseAutoencoder", "Interp"], path: "Sources/Experiments/Library"),
        .target(name: "ExperimentsCLI", dependencies: ["Experiments", "Interp", .product(name: "ArgumentParser", package: "swift-argument-parser")],
                path: "Sources/Experiments/CLI"),
        experimentCommand("long-prefix-induction"),
        experimentCommand("inspect", also: ["Tensor", "Transformer", "SparseAutoencoder"]),
        experimentCommand("train-sae", also: ["SAEDistributed", "SparseAutoencoder"]),     // runs under mpirun too
        experimentCommand("feature-dashboards"),
        experimentCommand("top-features"),
        experimentCommand("induction-deep-dive"),
        experimentCommand("ioi-circuit"),
        experimentCommand("reproduce"),
        experimentCommand("circuit-explorer", also: ["ExplorerServer", .product(name: "Hummingbird", package: "hummingbird")]),
        // The Circuit Explorer's server and page: its own target, so Experiments and Interp need no networking.
        .target(name: "ExplorerServer", dependencies: ["Experiments", "Interp", .product(name: "Hummingbird", package: "hummingbird"),
                                                       .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "Logging", package: "swift-log")],
                path: "Sources/Experiments/Explorer", resources: [.embedInCode("Assets")]),

        // MARK: - Implementation details (not public API)
        // Every reader run on one input, for the fuzz targets (Fuzz/) and the tests that replay their findings.
        .target(name: "FormatHarness", dependencies: ["Tensor", "Transformer", "SparseAutoencoder", "Interp"]),
        // Shared by every test target: approximate comparison, naive reference kernels, fixtures.
        .target(name: "TensorTestSupport", dependencies: ["Tensor"]),
        // `Scripts/bench` runs this in release mode; it prints RESULT lines.
        .executableTarget(name: "bench", dependencies: ["Tensor", "Transformer", "SparseAutoencoder", "Interp", "SAEDistributed", "Experiments", "CBLAS"],
                          path: "Benchmarks/Bench"),

        // MARK: - Unit test bundles (one per module)
        // Fixtures are found next to the test sources (#filePath), written by Scripts/reference.
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "TensorTestSupport", "CZlib"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "TransformerTests", dependencies: ["Transformer", "Tensor", "TensorTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "SparseAutoencoderTests", dependencies: ["SparseAutoencoder", "Tensor", "TensorTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "InterpTests", dependencies: ["Interp", "Transformer", "SparseAutoencoder", "TensorTestSupport"], exclude: ["Fixtures"]),
        // The fuzz targets' seeds and every input they found that crashed, replayed through the same harness.
        .testTarget(name: "FormatHarnessTests", dependencies: ["FormatHarness", "Interp", "TensorTestSupport"], exclude: ["Fixtures"]),
        // train-sae is built for the test that SIGKILLs a real training process and resumes it.
        // The executables are built for the tests that run them (a SIGKILLed training, hostile options).
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "ExperimentsCLI", "Interp", "TensorTestSupport", "train-sae", "reproduce", "inspect",
                                                             "feature-dashboards", "top-features", "induction-deep-dive", "ioi-circuit",
                                                             "long-prefix-induction", "circuit-explorer",
                                                             // The explorer's API through Hummingbird's test client.
                                                             "ExplorerServer", .product(name: "HummingbirdTesting", package: "hummingbird"),
                                                             .product(name: "HTTPTypes", package: "swift-http-types")]),
    ],
    swiftLanguageModes: [.v6]
)
