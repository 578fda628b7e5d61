// FuzzReplayTests: every fuzz target's seeds, and every input a fuzzer ever found that crashed or
// hung a reader (Fixtures/regressions/<target>/, added by Scripts/fuzz), run through the same
// harness as the fuzzers. A crash would end this process; an untyped error fails the test.

import Foundation
import Testing
import TensorTestSupport
@testable import FormatHarness
import Tensor
import Transformer
import SparseAutoencoder
import Interp

@Suite struct FuzzReplayTests {
    static let repository = fixturesDirectory().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// (target, file) for the seed manifest, the synthetic seeds and the regressions.
    static func inputs() throws -> [(FormatHarness.Target, URL)] {
        var out: [(FormatHarness.Target, URL)] = []
        let manifest = try String(contentsOf: repository.appendingPathComponent("Fuzz/seeds.txt"), encoding: .utf8)
        for line in manifest.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2, let t = FormatHarness.Target(rawValue: parts[0]) else { throw HarnessFailure("bad seed line '\(line)'") }
            out.append((t, repository.appendingPathComponent(parts[1])))
        }
        for folder in ["seeds", "regressions"] {
            for t in FormatHarness.Target.allCases {
                let dir = fixturesDirectory().appendingPathComponent("\(folder)/\(t.rawValue)")
                for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [] where !name.hasPrefix(".") {
                    out.append((t, dir.appendingPathComponent(name)))
                }
            }
        }
        return out
    }

    @Test func seedsAndRegressionsAreReadOrRefusedWithTypedErrors() throws {
        let scratch = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        var problems: [String] = [], outcomes: [String: Int] = [:]
        let inputs = try Self.inputs()
        #expect(Set(inputs.map(\.0)).count == FormatHarness.Target.allCases.count - 1)   // checkpoint: below
        for (target, file) in inputs {
            let bytes = [UInt8](try Data(contentsOf: file))
            switch FormatHarness.run(target, bytes: bytes, scratch: scratch.appendingPathComponent(target.rawValue).path) {
            case .read: outcomes["\(target) read", default: 0] += 1
            case .refused: outcomes["\(target) refused", default: 0] += 1
            case .problem(let p): problems.append("\(target) \(file.lastPathComponent): \(p)")
            }
        }
        #expect(problems.isEmpty, "\(problems)")
        // The real libraries' files are read in full, not refused.
        for t in ["safetensors", "torch", "hdf5", "configs", "tokenizer", "corpus", "parquet", "arrow"] {
            #expect(outcomes["\(t) read", default: 0] >= 1, "\(outcomes)")
        }
    }

    /// The findings Docs/Reliability.md reports, committed as inputs (Scripts/reference/make_fuzz_seeds.py):
    /// an empty file (Foundation's reader leaked its buffer on one) is refused by name, and a pickle list
    /// appended to itself (a reference cycle) is refused, not read.
    @Test func reportedFindingsAreReplayed() throws {
        let scratch = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let regressions = fixturesDirectory().appendingPathComponent("regressions")
        for (target, name) in [(FormatHarness.Target.configs, "empty-file"), (.tokenizer, "empty-file"), (.torch, "self-appending-list.pt")] {
            let bytes = [UInt8](try Data(contentsOf: regressions.appendingPathComponent("\(target.rawValue)/\(name)")))
            let outcome = FormatHarness.run(target, bytes: bytes, scratch: scratch.appendingPathComponent(target.rawValue).path)
            guard case .refused(let why) = outcome else { Issue.record("\(target) \(name): \(outcome)"); continue }
            if target == .torch { #expect(why.contains("itself"), "\(why)") }
        }
    }

    @Test func theSeedCheckpointIsReadInFull() throws {
        let scratch = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let path = scratch.appendingPathComponent("seed.h5").path
        try FormatHarness.writeSeedCheckpoint(to: path)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(FormatHarness.run(.checkpoint, bytes: bytes, scratch: scratch.appendingPathComponent("run").path) == .read)
    }
}
