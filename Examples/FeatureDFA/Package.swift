// swift-tools-version:6.0
// An example of using the toolkit from another Swift package, through its public API only.
import PackageDescription

let package = Package(
    name: "FeatureDFA",
    dependencies: [.package(name: "AttentionSAEs", path: "../..")],
    targets: [
        .executableTarget(name: "FeatureDFA", dependencies: ["Tensor", "Transformer", "SparseAutoencoder", "Interp"].map { .product(name: $0, package: "AttentionSAEs") }),
    ],
    swiftLanguageModes: [.v6]
)
