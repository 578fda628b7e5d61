// swift-tools-version:6.0
// libFuzzer targets for every file reader of the toolkit: a separate package, so that the flags
// fuzzing needs (-sanitize=fuzzer,address, -parse-as-library) never reach the main Package.swift.
// Built and run by Scripts/fuzz; see Docs/Reliability.md.
import Foundation
import PackageDescription

/// The main package is the folder above; SwiftPM names a path dependency after its folder.
let main = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

/// One executable per reader, each two entry points calling FuzzEntry.
func fuzzTarget(_ name: String) -> Target {
    .executableTarget(name: "fuzz-" + name, dependencies: ["FuzzEntry"],
                      // libFuzzer's runtime provides main(): the target must not.
                      swiftSettings: [.unsafeFlags(["-parse-as-library"])])
}

let package = Package(
    name: "AttentionSAEsFuzz",
    dependencies: [.package(path: "..")],
    targets: [.target(name: "FuzzEntry", dependencies: [.product(name: "FormatHarness", package: main)])]
        + ["safetensors", "torch", "hdf5", "configs", "tokenizer", "corpus", "checkpoint"].map(fuzzTarget)
)
