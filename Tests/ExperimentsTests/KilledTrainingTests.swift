// KilledTrainingTests: SIGKILL a real `train-sae` process at random points — between steps and during a
// checkpoint write — resume it each time, and require the final SAE to equal an uninterrupted run's bit
// for bit.

import Foundation
import Testing
import TensorTestSupport
@testable import Experiments
import Interp
import SparseAutoencoder
import Tensor
import Transformer

@Suite(.serialized) struct KilledTrainingTests {
    /// The `train-sae` executable next to the test bundle (the test target depends on it).
    static var executable: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("train-sae").path
    }

    static func launch(_ output: String, resume: Bool) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = ["--tokens", "\(128 * 60)", "--batch", "128", "--d-sae", "256", "--buffer-rows", "1024", "--eval-rows", "2",
                       "--checkpoint-every", "1", "--output", output] + (resume ? ["--resume"] : [])
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Whether `dir` holds a checkpoint being written (its temporary file).
    static func writing(_ dir: String) -> Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).contains { $0.hasPrefix(".checkpoint.h5.tmp-") }
    }

    @Test func killedAndResumedRunsEndBitIdentical() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.executable), "missing \(Self.executable)")
        _ = try PlantedCircuitModel.loadOrBuild()                 // the process loads the cached model
        let dir = temporaryDirectory().path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Uninterrupted.
        let t0 = Date()
        let a = try Self.launch(dir + "/a", resume: false)
        a.waitUntilExit()
        let seconds = Date().timeIntervalSince(t0)
        try #require(a.terminationStatus == 0)
        // Killed: once while a checkpoint is being written, then between steps — each time once the run
        // has checkpointed past the previous kill, after a random 0–40 ms more; resumed each time.
        var rng = RandomStream(seed: 2024)
        var killedAtSteps: [Int] = [], killedWhileWriting = false
        func checkpointStep() -> Int { (try? TrainingRun<ModelActivationSource>.checkpointInfo(dir + "/b/checkpoint.h5").step) ?? 0 }
        for attempt in 0..<6 {
            let b = try Self.launch(dir + "/b", resume: true)
            let deadline = Date().addingTimeInterval(seconds * 3)
            if attempt == 0 {
                while Date() < deadline && b.isRunning && !Self.writing(dir + "/b") { usleep(200) }
                killedWhileWriting = b.isRunning && Self.writing(dir + "/b")
            } else {
                let previous = killedAtSteps.last ?? 0
                while Date() < deadline && b.isRunning && checkpointStep() <= previous { usleep(1000) }
                usleep(UInt32(rng.nextInt(below: 40_000)))
            }
            guard b.isRunning else { b.waitUntilExit(); break }
            kill(b.processIdentifier, SIGKILL)
            b.waitUntilExit()
            #expect(b.terminationReason == .uncaughtSignal)
            killedAtSteps.append(checkpointStep())
        }
        let last = try Self.launch(dir + "/b", resume: true)
        last.waitUntilExit()
        try #require(last.terminationStatus == 0)
        print("train-sae killed at checkpoint steps \(killedAtSteps) (the first during a checkpoint write: \(killedWhileWriting)), resumed each time")
        let midRun = Set(killedAtSteps.filter { $0 > 0 && $0 < 60 })
        #expect(midRun.count >= 2 && killedWhileWriting, "killed at checkpoint steps \(killedAtSteps), one during a checkpoint write: \(killedWhileWriting)")
        #expect(!Self.writing(dir + "/b"))
        // Bit-identical final weights and the same curve.
        // (The loaded SAEs' provenance names their folders, so the weights are compared.)
        let (x, y) = (try SAE.load(saeLens: dir + "/a/sae"), try SAE.load(saeLens: dir + "/b/sae"))
        #expect(x.wEnc == y.wEnc && x.bEnc == y.bEnc && x.wDec == y.wDec && x.bDec == y.bDec)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/a/sae/sae_weights.safetensors")) == Data(contentsOf: URL(fileURLWithPath: dir + "/b/sae/sae_weights.safetensors")))
        #expect(try String(contentsOfFile: dir + "/a/training.csv", encoding: .utf8) == String(contentsOfFile: dir + "/b/training.csv", encoding: .utf8))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/a/evaluation.json")) == Data(contentsOf: URL(fileURLWithPath: dir + "/b/evaluation.json")))
    }
}
