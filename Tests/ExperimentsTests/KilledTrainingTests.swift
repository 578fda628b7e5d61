// KilledTrainingTests: SIGKILL a real `train-sae` process — training one SAE of every architecture side
// by side — at random points between steps and provably during a checkpoint write, resume it each time,
// and require the final SAEs to equal an uninterrupted run's bit for bit.

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

    /// Every architecture, each one SAE of the run.
    static let architectures = TrainingArchitecture.allCases.map(\.rawValue)

    /// The SAE folders of a run's report (`saes/<name>`), by name.
    static func saeFolders(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir + "/saes").sorted()
    }

    static func launch(_ output: String, resume: Bool) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = ["--tokens", "\(128 * 60)", "--batch", "128", "--d-sae", "256", "--buffer-rows", "1024", "--eval-rows", "2",
                       "--architecture", architectures.joined(separator: ","), "--dead-window", "5",
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
        // Killed: while a checkpoint is being written — proven afterwards by the temporary file the killed
        // writer left (a finished write renames it) — retried until that happened, then between steps, each
        // time once the run has checkpointed past the previous kill, after a random 0–40 ms more; resumed each time.
        var rng = RandomStream(seed: 2024)
        var killedAtSteps: [Int] = [], killedWhileWriting = false, attempts = 0
        func checkpointStep() -> Int { (try? TrainingRun<ModelActivationSource>.checkpointInfo(dir + "/b/checkpoint.h5").step) ?? 0 }
        while killedAtSteps.count < 6 && attempts < 20 {
            attempts += 1
            let b = try Self.launch(dir + "/b", resume: true)
            let deadline = Date().addingTimeInterval(seconds * 3)
            if !killedWhileWriting {
                while Date() < deadline && b.isRunning && !Self.writing(dir + "/b") { usleep(100) }
            } else {
                let previous = killedAtSteps.last ?? 0
                while Date() < deadline && b.isRunning && checkpointStep() <= previous { usleep(1000) }
                usleep(UInt32(rng.nextInt(below: 40_000)))
            }
            guard b.isRunning else { b.waitUntilExit(); break }
            kill(b.processIdentifier, SIGKILL)
            b.waitUntilExit()
            #expect(b.terminationReason == .uncaughtSignal)
            // The temporary file is still there only if the kill landed before the rename.
            if !killedWhileWriting && Self.writing(dir + "/b") { killedWhileWriting = true }
            killedAtSteps.append(checkpointStep())
        }
        let last = try Self.launch(dir + "/b", resume: true)
        last.waitUntilExit()
        try #require(last.terminationStatus == 0)
        print("train-sae killed at checkpoint steps \(killedAtSteps) (the first during a checkpoint write: \(killedWhileWriting)), resumed each time")
        let midRun = Set(killedAtSteps.filter { $0 > 0 && $0 < 60 })
        #expect(midRun.count >= 2 && killedWhileWriting, "killed at checkpoint steps \(killedAtSteps), one during a checkpoint write: \(killedWhileWriting)")
        #expect(!Self.writing(dir + "/b"))
        // Bit-identical final weights of every architecture's SAE, and the same curves.
        // (The loaded SAEs' provenance names their folders, so the weights are compared.)
        let names = try Self.saeFolders(dir + "/a")
        #expect(try names.count == 4 && names == Self.saeFolders(dir + "/b"))
        for name in names {
            let (x, y) = (try SAE.load(saeLens: dir + "/a/saes/" + name), try SAE.load(saeLens: dir + "/b/saes/" + name))
            #expect(x.wEnc == y.wEnc && x.bEnc == y.bEnc && x.wDec == y.wDec && x.bDec == y.bDec && x.threshold == y.threshold, "\(name)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/a/saes/\(name)/sae_weights.safetensors"))
                    == Data(contentsOf: URL(fileURLWithPath: dir + "/b/saes/\(name)/sae_weights.safetensors")), "\(name)")
        }
        #expect(try String(contentsOfFile: dir + "/a/training.csv", encoding: .utf8) == String(contentsOfFile: dir + "/b/training.csv", encoding: .utf8))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/a/evaluation.json")) == Data(contentsOf: URL(fileURLWithPath: dir + "/b/evaluation.json")))
    }
}
