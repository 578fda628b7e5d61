// swift-tools-version:6.0
// A libFuzzer executable for every file reader of the toolkit: a separate package, so that the flags
// fuzzing needs (-sanitize=fuzzer,address, -parse-as-library) never reach the main Package.swift.
// Built and run by Scripts/fuzz; see Docs/Reliability.md.
import Foundation
import PackageDescription

/// The main package is the folder above; SwiftPM names a path dependency after its folder.
let main = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "AttentionSAEsFuzz",
    dependencies: [.package(path: "..")],
    targets: [
        .target(name: "FuzzEntry", dependencies: [.product(name: "FormatHarness", package: main)]),
        // One executable for every reader: `fuzz-readers <target> [libFuzzer arguments]`.
        .executableTarget(name: "fuzz-readers", dependencies: ["FuzzEntry"],
                          // libFuzzer's runtime provides main(); SwiftPM's renamed entry point calls its driver.
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
    ]
)
