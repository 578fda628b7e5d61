// ArchitectureTests: TopK, BatchTopK and JumpReLU — SAELens's own folders read with identical
// encodings, ours written and read back, and training steps against PyTorch references of the papers'
// definitions (Scripts/reference/make_modern_sae_fixtures.py, which checks them against SAELens's
// training SAEs too).

import Foundation
import Testing
import TensorTestSupport
@testable import SparseAutoencoder
import Tensor

struct ModernReference {
    let file: HDF5File
    init(_ name: String) throws { file = try HDF5File(path: fixtures.appendingPathComponent(name).path) }
    subscript(_ name: String) -> Tensor { get throws { try file.readTensor("/" + name) } }
}

@Suite struct ArchitectureFormatTests {
    static let folders = ["topk", "topk-rescaled", "jumprelu", "batchtopk"]

    @Test(arguments: folders) func saeLensFoldersEncodeAsSAELensDoes(name: String) throws {
        let ref = try ModernReference("modern_sae_reference.h5")
        let sae = try SAE.load(saeLens: fixtures.appendingPathComponent("saelens-" + name).path)
        switch name {
        case "topk", "topk-rescaled": #expect(sae.config.architecture == .topK(k: 4))
        default: #expect(sae.config.architecture == .jumpReLU && sae.threshold != nil)
        }
        let x = try ref["x"]
        let acts = sae.encode(x), expected = try ref[name + "/acts"]
        // The same features fire in every row, with the same values (rescaled: up to the folding's rounding).
        #expect(acts.scalars.map { $0 != 0 } == expected.scalars.map { $0 != 0 })
        expectClose(acts, expected, atol: 1e-5, rtol: 1e-5)
        expectClose(sae.decode(acts), try ref[name + "/recons"], atol: 1e-5, rtol: 1e-5)
        if name == "batchtopk" { #expect(sae.threshold!.scalars.allSatisfy { $0 == 0.37 }) }
        if name == "topk-rescaled" {
            #expect(sae.wDec.l2Norm(axis: -1).scalars.allSatisfy { Swift.abs($0 - 1) < 1e-5 })
            #expect(sae.config.provenance.notes["rescale_acts_by_decoder_norm"] != nil)
        }
    }

    @Test(arguments: ["topk", "jumprelu"]) func ourFoldersRoundTripWithSAELensFields(name: String) throws {
        let sae = try SAE.load(saeLens: fixtures.appendingPathComponent("saelens-" + name).path, headLayout: HeadLayout(nHeads: 2, dHead: 8))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("arch-\(name)-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try sae.save(saeLens: dir)
        let cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/cfg.json"))) as! [String: Any]
        #expect(cfg["architecture"] as? String == name)
        if name == "topk" {
            #expect(cfg["k"] as? Int == 4 && cfg["rescale_acts_by_decoder_norm"] as? Bool == false)
        } else {
            #expect(try cfg["k"] == nil && (SafeTensorsFile(contentsOf: dir + "/sae_weights.safetensors")).names.contains("threshold"))
        }
        var back = try SAE.load(saeLens: dir)
        back.config.provenance = sae.config.provenance
        back.config.headLayout = sae.config.headLayout
        #expect(back == sae)
    }

    @Test func badArchitectureFieldsAreNamed() throws {
        let src = fixtures.appendingPathComponent("saelens-topk").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("arch-bad-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: src + "/sae_weights.safetensors", toPath: dir + "/sae_weights.safetensors")
        let base = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: src + "/cfg.json"))) as! [String: Any]
        func attempt(_ edit: (inout [String: Any]) -> Void) throws -> String {
            var cfg = base
            edit(&cfg)
            try JSONSerialization.data(withJSONObject: cfg).write(to: URL(fileURLWithPath: dir + "/cfg.json"))
            do { _ = try SAE.load(saeLens: dir); return "loaded" } catch { return "\(error)" }
        }
        #expect(try attempt { $0["k"] = 33 }.contains("'k' is 33, expected an integer in 1…32"))
        #expect(try attempt { $0["k"] = nil }.contains("missing 'k'"))
        #expect(try attempt { $0["rescale_acts_by_decoder_norm"] = "yes" }.contains("'rescale_acts_by_decoder_norm' is yes"))
        #expect(try attempt { $0["architecture"] = "gated" }.contains("architecture 'gated'"))
        // A JumpReLU folder without its thresholds.
        #expect(try attempt { $0["architecture"] = "jumprelu" }.contains("missing 'threshold'"))
    }

    @Test func encodingAFewFeaturesEqualsTheFullEncoding() throws {
        let ref = try ModernReference("modern_sae_reference.h5")
        let x = try ref["x"]
        for name in ["topk", "jumprelu"] {
            let sae = try SAE.load(saeLens: fixtures.appendingPathComponent("saelens-" + name).path)
            let features = [30, 2, 17, 5]
            let full = sae.encode(x), few = sae.encode(x, features: features), picked = full.gathering(axis: 1, IndexTensor(features))
            if name == "topk" {
                #expect(few == picked)                                  // TopK encodes in full, then picks: the same numbers
            } else {
                // JumpReLU multiplies fewer columns (another BLAS call): the same firings, values to rounding.
                #expect(few.scalars.map { $0 != 0 } == picked.scalars.map { $0 != 0 })
                expectClose(few, picked, atol: 1e-5, rtol: 1e-5)
            }
            let fwd = sae.forward(x)
            #expect(fwd.acts == full)
        }
    }
}

extension SAETrainer {
    /// TopK's or BatchTopK's AuxK state.
    var auxK: AuxK? { (architecture as? TopKArchitecture)?.auxK ?? (architecture as? BatchTopKArchitecture)?.auxK }
    /// BatchTopK's threshold.
    var batchThreshold: Double { (architecture as! BatchTopKArchitecture).threshold }
    mutating func setStepsSinceFired(_ counts: [Int]) {
        if var a = architecture as? TopKArchitecture { a.auxK.stepsSinceFired = counts; architecture = a }
        if var a = architecture as? BatchTopKArchitecture { a.auxK.stepsSinceFired = counts; architecture = a }
    }
}

@Suite struct ArchitectureTrainingTests {
    static func trainer(_ arch: TrainingArchitecture, _ ref: ModernReference) throws -> SAETrainer {
        let config = SAEConfig(dIn: 16, dSAE: 32, hookName: "blocks.1.attn.hook_z")
        var sae = SAE(config: config, wEnc: try ref["\(arch)/init/W_enc"], bEnc: try ref["\(arch)/init/b_enc"],
                      wDec: try ref["\(arch)/init/W_dec"], bDec: try ref["\(arch)/init/b_dec"])
        var t = SAETrainingConfig()
        t.architecture = arch
        t.lr = 1e-2
        t.cosineWarmup = false
        t.k = 4
        t.auxKCoeff = 0.7
        t.deadWindow = 1
        t.l0Coeff = 0.5
        t.l0WarmupSteps = 2
        t.bandwidth = 0.05
        t.initialThreshold = 0.01
        if arch == .jumprelu { sae.config.architecture = .jumpReLU; sae.threshold = try ref["\(arch)/init/threshold"] }
        return SAETrainer(sae: sae, config: t)
    }

    /// Four steps (AuxK from step 2, when five features have not fired for two steps) match PyTorch,
    /// through the entry path and the dense one.
    @Test(arguments: [TrainingArchitecture.topk, .batchtopk, .jumprelu], [GradientPath.sparse, .dense])
    func fourStepsMatchPyTorch(arch: TrainingArchitecture, path: GradientPath) throws {
        let ref = try ModernReference("modern_train_reference.h5")
        var trainer = try Self.trainer(arch, ref)
        trainer = SAETrainer(sae: trainer.sae, config: { var c = trainer.config; c.gradientPath = path; return c }())
        for i in 0..<4 {
            // AuxK's dead features (JumpReLU keeps no such counters).
            if let auxK = trainer.auxK {
                #expect(auxK.deadFeatures.count == Int(try ref["\(arch)/step\(i)/dead"].scalar), "step \(i) dead features")
            }
            let m = try trainer.step(try ref["\(arch)/step\(i)/x"])
            #expect(m.sparse == (path == .sparse))
            let mse = try ref["\(arch)/step\(i)/mse"].scalar, side = try ref["\(arch)/step\(i)/side"].scalar
            // The side loss: JumpReLU's L0 penalty, TopK's and BatchTopK's AuxK loss.
            let mine = arch == .jumprelu ? m.sparsityPenalty : m.auxiliaryLoss
            #expect((arch == .jumprelu ? m.auxiliaryLoss : m.sparsityPenalty) == 0)
            #expect(Swift.abs(m.mse - mse) <= 1e-4 * mse, "step \(i) mse \(m.mse) vs \(mse)")
            #expect(Swift.abs(mine - side) <= 1e-4 * Swift.max(side, 1e-3), "step \(i) side loss \(mine) vs \(side)")
            #expect(m.l0 == (try ref["\(arch)/step\(i)/l0"].scalar), "step \(i) L0")
            var params = [("W_enc", trainer.sae.wEnc), ("W_dec", trainer.sae.wDec), ("b_enc", trainer.sae.bEnc), ("b_dec", trainer.sae.bDec)]
            if arch == .jumprelu { params.append(("threshold", trainer.sae.threshold!)) }
            for (name, t) in params {
                expectClose(t, try ref["\(arch)/step\(i)/\(name)"], atol: 2e-5, rtol: 1e-4, Comment(rawValue: "\(arch) \(path) step \(i) \(name)"))
            }
            if arch == .batchtopk {
                let expected = Double(try ref["\(arch)/step\(i)/topk_threshold"].scalar)
                #expect(Swift.abs(trainer.batchThreshold - expected) < 1e-6 * expected)
                #expect(trainer.sae.threshold!.scalars.allSatisfy { $0 == Float(trainer.batchThreshold) })
            }
        }
        switch arch {
        case .topk: #expect(trainer.sae.config.architecture == .topK(k: 4))
        default: #expect(trainer.sae.config.architecture == .jumpReLU)
        }
    }

    /// The entry path and the dense path compute the same gradients (larger, random case with AuxK).
    @Test(arguments: [TrainingArchitecture.topk, .batchtopk, .jumprelu])
    func entryAndDensePathsAgree(arch: TrainingArchitecture) throws {
        var rng = RandomStream(seed: 7)
        let config = SAEConfig(dIn: 24, dSAE: 96, hookName: "h")
        var t = SAETrainingConfig()
        t.architecture = arch
        t.k = 5
        t.initialThreshold = 0.4
        var trainer = SAETrainer(sae: SAETrainer.initialSAE(config, seed: 3), config: t)
        trainer.setStepsSinceFired((0..<96).map { $0 % 3 == 0 ? 5000 : 0 })         // a third dead
        let x = Tensor.randomNormal([200, 24], using: &rng)
        let d = trainer.gradients(x, path: .dense), s = trainer.gradients(x, path: .sparse)
        #expect(d.fired == s.fired && d.l0 == s.l0 && d.statistic == s.statistic && !d.sparse && s.sparse)
        #expect(Swift.abs(d.sparsityPenalty - s.sparsityPenalty) <= 1e-5 * Swift.max(d.sparsityPenalty, 1))
        #expect(Swift.abs(d.auxiliaryLoss - s.auxiliaryLoss) <= 1e-5 * Swift.max(d.auxiliaryLoss, 1))
        #expect(d.gradients.names == s.gradients.names)
        #expect(d.gradients.names == ["W_enc", "W_dec", "b_enc", "b_dec"] + (arch == .jumprelu ? ["threshold"] : []))
        for name in d.gradients.names { expectClose(d.gradients[name]!, s.gradients[name]!, atol: 1e-5, rtol: 1e-4, Comment(rawValue: name)) }
        if arch != .jumprelu { #expect(d.auxiliaryLoss > 0) }                     // AuxK ran
        // The fast kernels against the naive entry path (Double, entry by entry).
        let naive = trainer.gradients(x, path: .naive)
        #expect(naive.fired == s.fired && naive.l0 == s.l0)
        #expect(Swift.abs(naive.mse - s.mse) <= 1e-5 * naive.mse && Swift.abs(naive.auxiliaryLoss - s.auxiliaryLoss) <= 1e-5 * Swift.max(naive.auxiliaryLoss, 1e-6))
        for name in naive.gradients.names { expectClose(s.gradients[name]!, naive.gradients[name]!, atol: 1e-6, rtol: 1e-4, Comment(rawValue: "naive " + name)) }
    }

    @Test func batchTopKKeepsKTimesBatchEntries() {
        var rng = RandomStream(seed: 1)
        let pre = Tensor.randomNormal([50, 40], using: &rng)
        let (s, minKept) = BatchTopKArchitecture.batchTopK(pre, total: 137)
        #expect(s.count == 137)
        var all = pre.scalars.filter { $0 > 0 }.sorted(by: >)
        let t = Selection.kthLargest(&all, 137)
        #expect(t == pre.scalars.filter { $0 > 0 }.sorted(by: >)[136] && minKept == t)
        // Fewer positives than the budget: all of them, the smallest positive kept.
        #expect(BatchTopKArchitecture.batchTopK(pre, total: 5000).minKept == pre.scalars.filter { $0 > 0 }.min())
        // Ties: the first entries in row-major order.
        let tied = BatchTopKArchitecture.batchTopK(Tensor(shape: [2, 3], scalars: [1, 2, 1, 1, 0, 1]), total: 3).support
        #expect(tied.rowStart == [0, 3, 3] && tied.col == [0, 1, 2])
    }

    @Test func checkpointsKeepThresholdsAndDeadCounters() throws {
        var rng = RandomStream(seed: 2)
        for arch in [TrainingArchitecture.batchtopk, .jumprelu] {
            var t = SAETrainingConfig()
            t.architecture = arch
            t.k = 3
            var trainer = SAETrainer(sae: SAETrainer.initialSAE(SAEConfig(dIn: 8, dSAE: 16, hookName: "h"), seed: 1), config: t)
            for _ in 0..<3 { try trainer.step(Tensor.randomNormal([32, 8], using: &rng)) }
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("arch-ckpt-\(UUID().uuidString).h5").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            try trainer.saveCheckpoint(to: path)
            var back = try SAETrainer.loadCheckpoint(from: path).trainer
            #expect(back.sae == trainer.sae && back.auxK == trainer.auxK)
            if arch == .batchtopk { #expect(back.batchThreshold == trainer.batchThreshold && trainer.batchThreshold > 0) }
            #expect(back.adam == trainer.adam)
            let x = Tensor.randomNormal([32, 8], using: &rng)
            var copy = trainer
            try copy.step(x)
            try back.step(x)
            #expect(back.sae == copy.sae)
        }
    }

    @Test func badSettingsAreNamed() throws {
        func message(_ edit: (inout SAETrainingConfig) -> Void) -> String {
            var c = SAETrainingConfig()
            edit(&c)
            do { try c.validate(for: SAEConfig(dIn: 8, dSAE: 16, hookName: "h")); return "valid" } catch { return "\(error)" }
        }
        // In the library's terms (the config's property names): the command maps them to its options.
        #expect(message { $0.architecture = .topk; $0.k = 2.5 }.hasPrefix("k is 2.5"))
        #expect(message { $0.architecture = .topk; $0.k = 17 }.contains("k is 17.0; allowed: an integer 1…d_sae (16)"))
        #expect(message { $0.architecture = .batchtopk; $0.k = 0 }.hasPrefix("k is 0"))
        #expect(message { $0.architecture = .jumprelu; $0.bandwidth = 0 }.hasPrefix("bandwidth is 0"))
        #expect(message { $0.architecture = .jumprelu; $0.l0Coeff = -1 }.hasPrefix("l0Coeff is -1"))
        #expect(message { $0.architecture = .topk; $0.k = 4; $0.deadWindow = 0 }.hasPrefix("deadWindow is 0"))
        #expect(message { $0.architecture = .topk; $0.k = 4; $0.auxK = 0 }.hasPrefix("auxK is 0"))
        #expect(message { $0.architecture = .batchtopk; $0.k = 4; $0.auxK = 17 }.contains("auxK is 17; allowed: 1…d_sae (16)"))
        #expect(message { $0.architecture = .topk; $0.k = 4 } == "valid")
    }
}

/// Residual-stream SAEs (`blocks.L.hook_resid_pre`, d_in = d_model): SAELens 6's save, and the older layout
/// of SAELens's `gpt2-small-res-jb` release (`hook_point`, no `architecture`), both read with SAELens's
/// encodings (Scripts/reference/make_residual_sae_fixtures.py), and ours written and read back.
@Suite struct ResidualSAEFormatTests {
    @Test(arguments: ["resid", "resid-jb"]) func saeLensFoldersEncodeAsSAELensDoes(name: String) throws {
        let ref = try ModernReference("resid_sae_reference.h5")
        let sae = try SAE.load(saeLens: fixtures.appendingPathComponent("saelens-" + name).path)
        #expect(sae.config.hookName == "blocks.1.hook_resid_pre" && sae.config.dIn == 16 && sae.config.dSAE == 32)
        #expect(sae.config.architecture == .standard && sae.config.applyBDecToInput && sae.config.headLayout == nil)
        let acts = sae.encode(try ref["x"]), expected = try ref[name + "/acts"]
        #expect(acts.scalars.map { $0 != 0 } == expected.scalars.map { $0 != 0 })
        expectClose(acts, expected, atol: 1e-5, rtol: 1e-5)
        expectClose(sae.decode(acts), try ref[name + "/recons"], atol: 1e-5, rtol: 1e-5)
        // Ours, written and read back: the same SAE, saved without a head layout ("reshape_activations": "none").
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("resid-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try sae.save(saeLens: dir)
        let back = try SAE.load(saeLens: dir)
        #expect(back.wEnc == sae.wEnc && back.wDec == sae.wDec && back.bEnc == sae.bEnc && back.bDec == sae.bDec && back.config.hookName == sae.config.hookName)
        #expect((sae.saeLensConfig["reshape_activations"] as? String) == "none")
    }

    /// Pre-6.0 configs stored `normalize_activations` as a boolean: false is none, true is refused by name.
    @Test func legacyNormalizationFlags() throws {
        let src = fixtures.appendingPathComponent("saelens-resid-jb").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("resid-jb-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: src + "/sae_weights.safetensors", toPath: dir + "/sae_weights.safetensors")
        var cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: src + "/cfg.json"))) as! [String: Any]
        func load(_ value: Any?) throws -> String {
            cfg["normalize_activations"] = value
            try JSONSerialization.data(withJSONObject: cfg).write(to: URL(fileURLWithPath: dir + "/cfg.json"))
            do { _ = try SAE.load(saeLens: dir); return "loaded" } catch { return "\(error)" }
        }
        #expect(try load(false) == "loaded")
        #expect(try load(true).contains("normalize_activations 'expected_average_only_in'"))
        #expect(try load(3).contains("'normalize_activations' is 3"))
        cfg["hook_point"] = nil
        #expect(try load(false).contains("missing 'metadata.hook_name'"))
    }
}

/// The listing of a step's entries: each rule's sixteen-at-a-time test against its one-at-a-time test,
/// and the bounded listing against a plain one.
@Suite struct EntryListingTests {
    /// Values at and around each rule's boundaries (0, θ, θ − ε/2), signed zeros, infinities and NaN.
    static func edgeRow(features: Int, theta: [Float], bandwidth: Float, seed: UInt64) -> [Float] {
        var r = RandomStream(seed: seed)
        return (0..<features).map { j -> Float in
            let t = theta[j]
            switch r.next() % 12 {
            case 0: return 0
            case 1: return -0.0
            case 2: return t
            case 3: return t - bandwidth / 2
            case 4: return (t - bandwidth / 2).nextUp
            case 5: return (t - bandwidth / 2).nextDown
            case 6: return t.nextUp
            case 7: return .infinity
            case 8: return -.infinity
            case 9: return .nan
            default: return (r.nextFloat() * 2 - 1) * 0.2
            }
        }
    }

    static func vectorAgreesWithScalar<R: EntryRule>(_ rule: R, _ row: [Float]) -> Bool {
        var ok = true
        for j in stride(from: 0, to: row.count - 15, by: 16) {
            let v = SIMD16<Float>(row[j..<(j + 16)])
            let m = rule.takesPart(v, features: j)
            for l in 0..<16 where m[l] != rule.takesPart(row[j + l], feature: j + l) { ok = false }
        }
        return ok
    }

    @Test func sixteenAtATimeEqualsOneAtATime() {
        let f = 256
        var r = RandomStream(seed: 3)
        let theta = (0..<f).map { _ in r.nextFloat() * 0.1 }
        let jump = JumpReLUArchitecture.Rule(theta: theta, bandwidth: 0.05, l0Coeff: 1, stepGradient: 0.1, normalizer: 8)
        let standard = StandardArchitecture.Rule(l1Coeff: 1, l1Gradient: 0.1, normalizer: 8)
        for seed in 0..<20 as Range<UInt64> {
            let row = Self.edgeRow(features: f, theta: theta, bandwidth: 0.05, seed: seed)
            let zeroRow = Self.edgeRow(features: f, theta: [Float](repeating: 0, count: f), bandwidth: 0.05, seed: seed)
            #expect(Self.vectorAgreesWithScalar(jump, row))
            #expect(Self.vectorAgreesWithScalar(standard, zeroRow))
            #expect(Self.vectorAgreesWithScalar(KeptEntriesRule(), zeroRow))
        }
    }

    @Test(arguments: [1, 15, 16, 17, 100]) func boundedListingEqualsAPlainOne(features: Int) {
        var r = RandomStream(seed: UInt64(features))
        let rows = 37
        let pre = Tensor.randomNormal([rows, features], using: &r) - 1.2
        let rule = KeptEntriesRule()
        let plain = EntrySupport(rows: (0..<rows).map { n in (0..<features).filter { pre[n, $0] > 0 }.map(Int32.init) })
        #expect(EntrySupport.filter(pre, rule) == plain)
        #expect(EntrySupport.filter(pre, rule, limit: plain.count) == plain)
        #expect(EntrySupport.filter(pre, rule, limit: plain.count - 1) == nil)
        #expect(EntrySupport.filter(pre, rule, limit: -1) == nil)
    }
}
