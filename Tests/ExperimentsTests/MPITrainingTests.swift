// MPITrainingTests: `mpirun -np 2 train-sae` on the planted model, one SAE of every architecture side by
// side — the same SAEs, bit for bit, as two in-process ranks summing in the same order; and a killed
// 2-rank run (the whole job, proven dead) resumes exactly.

import Foundation
import Testing
import TensorTestSupport
@testable import Experiments
import Interp
import SparseAutoencoder
import Tensor
import Transformer

@Suite(.serialized) struct MPITrainingTests {
    static let trainSAE = KilledTrainingTests.executable
    static let arguments = ["--tokens", "\(128 * 40)", "--batch", "128", "--d-sae", "256", "--buffer-rows", "1024", "--eval-rows", "2",
                            "--architecture", KilledTrainingTests.architectures.joined(separator: ","), "--dead-window", "5"]

    /// `mpirun` from PATH (Debian's openmpi-bin, which Scripts/test installs).
    static var mpirun: String? {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").map { $0 + "/mpirun" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Starts `mpirun -np 2 train-sae …` (the output folder comes last, so the job can be found by it).
    static func launch(_ extra: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try #require(mpirun))
        p.arguments = ["--oversubscribe", "--allow-run-as-root", "-np", "2", trainSAE] + arguments + extra
        var env = ProcessInfo.processInfo.environment
        env["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"      // containers often forbid the kernel's cross-memory attach
        // The ranks must run this process's OpenBLAS kernels for the bit-for-bit comparison: with
        // OPENBLAS_CORETYPE unset on a CPU OpenBLAS 0.3.21 does not know, they would re-execute themselves
        // with the CPU's kernels while this process keeps the generic ones.
        env["ATTN_SAES_NO_RELAUNCH"] = "1"
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// SIGKILLs every process whose command line contains `pattern`, and waits until none is left.
    static func killAll(matching pattern: String) {
        func run(_ tool: String) -> Int32 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: tool == "pkill" ? "/usr/bin/pkill" : "/usr/bin/pgrep")
            p.arguments = (tool == "pkill" ? ["-KILL"] : []) + ["-f", pattern]
            p.standardOutput = FileHandle.nullDevice
            guard (try? p.run()) != nil else { return 1 }
            p.waitUntilExit()
            return p.terminationStatus
        }
        _ = run("pkill")
        for _ in 0..<500 where run("pgrep") == 0 { usleep(10_000) }
    }

    /// Every SAE's weights file of a run's report, by SAE name.
    static func weights(_ path: String) throws -> [String: Data] {
        try KilledTrainingTests.saeFolders(path).reduce(into: [:]) {
            $0[$1] = try Data(contentsOf: URL(fileURLWithPath: path + "/saes/" + $1 + "/sae_weights.safetensors"))
        }
    }

    /// Whether a process whose command line contains `pattern` is alive.
    static func anyAlive(matching pattern: String) -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
        p.arguments = ["-f", pattern]
        p.standardOutput = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }

    @Test func twoRanksEqualTwoInProcessRanksBitForBit() throws {
        try #require(Self.mpirun != nil, "mpirun is missing: Scripts/test installs openmpi-bin")
        _ = try PlantedCircuitModel.loadOrBuild()
        let dir = temporaryDirectory().path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = try Self.launch(["--output", dir + "/mpi"])
        p.waitUntilExit()
        try #require(p.terminationStatus == 0)
        // The same run as two threads of this process (rank 1's shares, summed in rank order).
        var settings = TrainSAESettings.planted()
        (settings.trainingTokens, settings.batchSize, settings.dSAE, settings.bufferRows, settings.evaluationRows) = (128 * 40, 128, 256, 1024, 2)
        settings.sweep.architectures = TrainingArchitecture.allCases
        settings.training.deadWindow = 5
        let model = LoadedModel(model: GPT2(weights: try PlantedCircuitModel.loadOrBuild().processed()), roles: .standard,
                                name: "planted-circuit model v\(PlantedCircuitModel.version)", path: "")
        let s = settings
        let results = try InProcessRanks(size: 2).run { ranks in
            try SAETraining.run(try plantedWorkspace(model), settings: s, ranks: ranks)
        }
        #expect(results[1].saes.isEmpty && results[0].saes.count == 4)
        let names = try KilledTrainingTests.saeFolders(dir + "/mpi")
        #expect(names.count == 4)
        for name in names {
            let local = try #require(results[0].saes.first { $0.member.name(sweeping: s.sweepsSettings) == name }, "\(name)")
            let mpi = try SAE.load(saeLens: dir + "/mpi/saes/" + name)
            #expect(mpi.wEnc == local.sae.wEnc && mpi.wDec == local.sae.wDec && mpi.bEnc == local.sae.bEnc && mpi.bDec == local.sae.bDec
                    && mpi.threshold == local.sae.threshold, "\(name)")
        }
        // Rank 1 wrote its buffer beside the checkpoint; the report is rank 0's.
        #expect(FileManager.default.fileExists(atPath: dir + "/mpi/checkpoint.h5.rank1-step40"))
    }

    @Test func aKilledTwoRankRunResumesExactly() throws {
        try #require(Self.mpirun != nil, "mpirun is missing: Scripts/test installs openmpi-bin")
        _ = try PlantedCircuitModel.loadOrBuild()
        let dir = temporaryDirectory().path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try Self.launch(["--output", dir + "/a", "--checkpoint-every", "1"])
        a.waitUntilExit()
        try #require(a.terminationStatus == 0)
        // Killed (the whole job: mpirun and both ranks) as soon as it has checkpointed two steps past the
        // previous kill, three times, resumed each time.
        var killedAt: [Int] = []
        for _ in 0..<3 {
            let b = try Self.launch(["--checkpoint-every", "1", "--resume", "--output", dir + "/b"])
            let previous = killedAt.last ?? 0, deadline = Date().addingTimeInterval(60)
            var step = 0
            while Date() < deadline && b.isRunning {
                step = (try? TrainingRun<ModelActivationSource>.checkpointInfo(dir + "/b/checkpoint.h5").step) ?? 0
                if step >= previous + 2 { break }
                usleep(500)
            }
            guard b.isRunning else { b.waitUntilExit(); break }
            // The whole job at once — mpirun and the ranks it started — found by the output folder in their arguments.
            Self.killAll(matching: dir + "/b$")
            b.waitUntilExit()
            // The job died: mpirun by the signal, and no rank is left.
            #expect(b.terminationReason == .uncaughtSignal && !Self.anyAlive(matching: dir + "/b$"))
            killedAt.append(step)
        }
        let last = try Self.launch(["--checkpoint-every", "1", "--resume", "--output", dir + "/b"])
        last.waitUntilExit()
        try #require(last.terminationStatus == 0)
        print("mpirun -np 2 train-sae killed at checkpoint steps \(killedAt), resumed each time")
        #expect(killedAt.filter { $0 > 0 && $0 < 40 }.count >= 2, "killed at \(killedAt)")
        #expect(try Self.weights(dir + "/a") == Self.weights(dir + "/b"))
        #expect(try String(contentsOfFile: dir + "/a/training.csv", encoding: .utf8) == String(contentsOfFile: dir + "/b/training.csv", encoding: .utf8))
        // Rank 1 keeps only the file of the checkpoint's step.
        let rankFiles = try FileManager.default.contentsOfDirectory(atPath: dir + "/b").filter { $0.contains(".rank1-") }
        #expect(rankFiles == ["checkpoint.h5.rank1-step40"])
    }
}
