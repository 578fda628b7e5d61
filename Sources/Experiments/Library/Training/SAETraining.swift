// SAETraining: the training recipe of Docs/Method.md §1.12–§1.13 on one or more layers' hook_z — several layers
// and settings from one model run per batch — with the evaluation of Table 2 (L0, alive features, CE
// loss recovered) on held-out rows. The loop itself is SparseAutoencoder's TrainingRun; this feeds it
// the model's activations. The page is TrainingSection's.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

/// What to train and for how long.
///
/// One SAE by default: `layer`, `dSAE`, `training.l1Coeff`. A ``TrainingSweep`` trains more in the same
/// run — every combination of its layers, widths and l1 coefficients (an empty list keeps the single
/// value) — all on the same batches, from one model run per batch that stops after the last layer.
public struct TrainSAESettings: Codable, Sendable, Equatable {
    public var layer: Int
    public var dSAE: Int
    public var batchSize: Int
    /// Activation rows (tokens) to train on; steps = trainingTokens / batchSize.
    public var trainingTokens: Int
    /// Rows of the shuffling buffer (Docs/Method.md §1.3); a run uses at most its training rows (see ``effectiveBufferRows``).
    public var bufferRows: Int
    public var training: SAETrainingConfig
    /// Dead-feature resampling, or nil for none.
    public var resampling: ResamplingConfig?
    /// Held-out rows (of 128 tokens) for the evaluation.
    public var evaluationRows: Int
    public var seed: UInt64
    /// More SAEs trained side by side in the same run.
    public var sweep = TrainingSweep()
    /// Positions kept of each 128-token row (nil: all): fewer spread the buffer over more contexts
    /// (better shuffling for a small buffer) for more model work per trained token.
    public var positionsPerRow: Int?
    /// The hooks each layer's SAEs read (nil: `hook_z` alone, the paper's). With `[.z, .residPre]` every
    /// layer gets an attention SAE and a residual SAE, all from the same model pass.
    public var hooks: [TrainingHook]?
    /// Per-layer width and l1 coefficient of `hook_z` SAEs, replacing `dSAE` and `training.l1Coeff` at the
    /// layers listed: the paper's GPT-2-small recipe (``LayerRecipe/gpt2SmallPaper``) by default on
    /// GPT-2 small; `--d-sae` and `--l1` clear what they set. Nil: one width and one l1 for all layers.
    public var layerRecipes: [Int: LayerRecipe]?

    public var steps: Int { trainingTokens / batchSize }

    public init(layer: Int, dSAE: Int, batchSize: Int, trainingTokens: Int, bufferRows: Int, training: SAETrainingConfig,
                resampling: ResamplingConfig?, evaluationRows: Int, seed: UInt64, sweep: TrainingSweep = TrainingSweep()) {
        self.layer = layer; self.dSAE = dSAE; self.batchSize = batchSize; self.trainingTokens = trainingTokens
        self.bufferRows = bufferRows; self.training = training; self.resampling = resampling
        self.evaluationRows = evaluationRows; self.seed = seed; self.sweep = sweep
    }

    /// The paper's GPT-2-small recipe (Docs/Method.md, "Training"): batch 4096, lr 1.2e-3, resampling
    /// every 25000 steps, and per layer the width and l1 coefficient of its published SAE
    /// (``LayerRecipe/gpt2SmallPaper``: layer 5's 49152 features and l1 1.0 for `layer` 5); SAEs the
    /// table does not cover (residual SAEs) get 24576 = 32 × d_in features and l1 1. The paper trained on
    /// about 2 billion tokens; the default here is 100 million.
    public static func gpt2(layer: Int) -> TrainSAESettings {
        var t = SAETrainingConfig()
        t.lr = 1.2e-3
        let recipes = LayerRecipe.gpt2SmallPaper
        t.l1Coeff = 1
        t.k = 32
        var r = ResamplingConfig()
        r.reinitEvery = 25_000
        var s = TrainSAESettings(layer: layer, dSAE: 24576, batchSize: 4096, trainingTokens: 100_000_000,
                                 bufferRows: 4096 * 384, training: t, resampling: r, evaluationRows: 256, seed: 0)
        s.layerRecipes = recipes
        return s
    }

    /// The width, l1 coefficient and dead-feature cutoff of one layer's SAE.
    public struct LayerRecipe: Codable, Sendable, Equatable {
        public var dSAE: Int?
        public var l1Coeff: Double?
        /// The resampling's dead-feature cutoff (`dead_direction_cutoff`) for this layer's SAE.
        public var deadCutoff: Double?
        public init(dSAE: Int?, l1Coeff: Double?, deadCutoff: Double? = nil) { self.dSAE = dSAE; self.l1Coeff = l1Coeff; self.deadCutoff = deadCutoff }

        /// The paper's GPT-2-small SAEs as their published names record them
        /// (`gpt2-small_L{l}_Hcat_z_lr1.20e-03_l1{c}_ds{F}_bs4096_dc{cutoff}_…`): l1 1.8, 0.8, 1.0, 0.9, 1.1, 1.0,
        /// 1.1, 1.1, 1.3, 1.2, 1.3, 3.0 for layers 0–11; 49152 features at layers 5 and 7, 24576 elsewhere;
        /// dead-feature cutoff 1e-5 at layers 8 and 10, 3.16e-6 at 11, 1e-6 elsewhere.
        public static let gpt2SmallPaper: [Int: LayerRecipe] = Dictionary(uniqueKeysWithValues:
            [1.8, 0.8, 1.0, 0.9, 1.1, 1.0, 1.1, 1.1, 1.3, 1.2, 1.3, 3.0].enumerated().map { l, c in
                (l, LayerRecipe(dSAE: l == 5 || l == 7 ? 49152 : 24576, l1Coeff: c,
                                deadCutoff: l == 8 || l == 10 ? 1e-5 : l == 11 ? 3.16e-6 : 1e-6))
            })
    }

    /// The paper's GELU-2L recipe (its SAE `gelu-2l_L1_Hcat_z_lr1.00e-03_l12.00e+00_ds16384_bs4096_…`):
    /// layer 1, 16384 features (32 × d_in 512), batch 4096, lr 1e-3, l1 = 2, resampling every 25000 steps;
    /// 100 million tokens by default.
    public static func gelu2L(layer: Int = 1) -> TrainSAESettings {
        var s = gpt2(layer: layer)
        (s.dSAE, s.training.lr, s.training.l1Coeff) = (16384, 1e-3, 2)
        s.layerRecipes = nil
        return s
    }

    /// The recipe for a model: the planted model's (``planted()``) when `planted`, GELU-2L's for a
    /// model of its shape (2 layers, d_model 512, 8 heads × 64), GPT-2 small's otherwise — with
    /// 32 × d_in features, and layer 5 (or the last layer when the model has fewer).
    public static func recipe(for model: GPT2Config, planted: Bool) -> TrainSAESettings {
        if planted { return .planted() }
        if model.nLayers == 2 && model.dModel == 512 && model.nHeads == 8 && model.dHead == 64 { return .gelu2L() }
        var s = gpt2(layer: min(5, model.nLayers - 1))
        // The per-layer recipe is GPT-2 small's; other shapes get 32 × d_in features and one l1.
        if !(model.nLayers == 12 && model.dModel == 768 && model.nHeads == 12 && model.dHead == 64) {
            s.dSAE = 32 * model.nHeads * model.dHead
            s.layerRecipes = nil
        }
        return s
    }

    /// The planted-circuit model's defaults, sized for about ten minutes on two cores with the analysis.
    /// Its `hook_z` norms are about 1 (the planted heads' values are unit codes, the random heads'
    /// smaller), so the paper's l1 ≈ 1 silences nearly every feature; l1 = 0.25 gives L0 ≈ 4
    /// (Docs/PlantedModel.md has the sweep).
    public static func planted() -> TrainSAESettings {
        var t = SAETrainingConfig()
        t.lr = 1e-3
        t.l1Coeff = 0.25
        t.schedWarmupEpochs = 100
        t.schedEpochs = 100
        t.k = 4
        t.l0Coeff = 0.01
        return TrainSAESettings(layer: 1, dSAE: 3072, batchSize: 512, trainingTokens: 1_600_000,
                                bufferRows: 32_768, training: t, resampling: nil, evaluationRows: 48, seed: 0)
    }

    /// One SAE of the run: its layer, width, architecture and that architecture's sparsity knob
    /// (standard: the l1 coefficient; TopK and BatchTopK: k; JumpReLU: the L0 coefficient λ).
    public struct Member: Codable, Sendable, Equatable, Hashable {
        public var layer: Int, dSAE: Int
        public var architecture: TrainingArchitecture
        /// The knob's value.
        public var sparsity: Double
        /// The hook read (nil: `hook_z`).
        public var hook: TrainingHook?
        /// How the SAE starts (nil: the paper's initialisation).
        public var initialization: SAEInitialization?

        public init(layer: Int, dSAE: Int, architecture: TrainingArchitecture = .standard, sparsity: Double, hook: TrainingHook? = nil,
                    initialization: SAEInitialization? = nil) {
            self.layer = layer; self.dSAE = dSAE; self.architecture = architecture; self.sparsity = sparsity
            self.hook = hook == .z ? nil : hook
            self.initialization = initialization == .paper ? nil : initialization
        }

        /// The hook point the member's SAE reads: `blocks.L.attn.hook_z` or `blocks.L.hook_resid_pre`.
        public var site: HookName { (hook ?? .z).site(layer) }

        /// The layer, with the hook when it is not `hook_z`: `5`, `5 resid_pre`.
        public var layerLabel: String { "\(layer)" + (hook.map { " " + $0.rawValue } ?? "") }

        /// The knob's name: `l1`, `k` or `l0`.
        public var knob: String {
            switch architecture {
            case .standard: "l1"
            case .topk, .batchtopk: "k"
            case .jumprelu: "l0"
            }
        }

        /// The knob and its value, e.g. `l1 0.5`, `k 32`.
        public var sparsityLabel: String { "\(knob) \(value)" }

        /// The knob's value as written in names: an integer without a decimal point (`4`, not `4.0`).
        var value: String { sparsity.rounded() == sparsity && Swift.abs(sparsity) < 1e15 ? "\(Int(sparsity))" : "\(sparsity)" }

        /// A folder name: `L5`, or `L5-d24576-l1_2` (`L5-d24576-topk_k32`, `L5-d24576-jumprelu_l0_0.01`) when
        /// the run sweeps widths, architectures or knobs.
        public func name(sweeping: Bool) -> String {
            let base = "L\(layer)" + (hook.map { "-" + $0.rawValue } ?? "")
            guard sweeping else { return base }
            return base + "-d\(dSAE)-" + (architecture == .standard ? "" : architecture.rawValue + "_") + knob + "_" + value
                + (initialization == .activeSubspace ? "-asi" : "")
        }

        /// The architecture, with ` (active subspace)` for Active Subspace Initialisation.
        public var architectureLabel: String { architecture.rawValue + (initialization == .activeSubspace ? " (active subspace)" : "") }

        /// `training` with this member's architecture and knob.
        public func training(_ base: SAETrainingConfig) -> SAETrainingConfig {
            var t = base
            t.architecture = architecture
            t.initialization = initialization ?? .paper
            switch architecture {
            case .standard: t.l1Coeff = sparsity
            case .topk, .batchtopk: t.k = sparsity
            case .jumprelu: t.l0Coeff = sparsity
            }
            return t
        }
    }

    /// The architectures of the run (the sweep's, else the training config's).
    public var architectures: [TrainingArchitecture] { sweep.architectures.isEmpty ? [training.architecture] : sweep.architectures }

    /// The knob values swept for `architecture` (each list defaulting to the training config's value,
    /// or for the l1 coefficient of a `hook_z` SAE to the layer's recipe).
    public func sparsityValues(_ architecture: TrainingArchitecture, layer: Int? = nil, hook: TrainingHook = .z) -> [Double] {
        switch architecture {
        case .standard:
            sweep.l1Coeffs.isEmpty ? [recipe(layer, hook)?.l1Coeff ?? training.l1Coeff] : sweep.l1Coeffs
        case .topk, .batchtopk: sweep.ks.isEmpty ? [training.k] : sweep.ks
        case .jumprelu: sweep.l0Coeffs.isEmpty ? [training.l0Coeff] : sweep.l0Coeffs
        }
    }

    /// The initialisations of the run (the sweep's, else the training config's).
    public var initializations: [SAEInitialization] { sweep.initializations.isEmpty ? [training.initialization] : sweep.initializations }

    /// Every SAE of the run: layers (outer) × hooks × widths × architectures × each architecture's knob
    /// values × initialisations (inner), each list defaulting to the single value.
    public var members: [Member] {
        let layers = sweep.layers.isEmpty ? [layer] : sweep.layers
        return layers.flatMap { l in (hooks ?? [.z]).flatMap { h in
            let widths = sweep.dSAEs.isEmpty ? [recipe(l, h)?.dSAE ?? dSAE] : sweep.dSAEs
            return widths.flatMap { d in architectures.flatMap { a in
                sparsityValues(a, layer: l, hook: h).flatMap { v in initializations.map { i in
                    Member(layer: l, dSAE: d, architecture: a, sparsity: v, hook: h, initialization: i) } } } } } }
    }

    /// The per-layer recipe that applies to `layer`'s SAE on `hook` (hook_z only).
    func recipe(_ layer: Int?, _ hook: TrainingHook) -> LayerRecipe? {
        guard hook == .z, let layer else { return nil }
        return layerRecipes?[layer]
    }

    /// Whether members differ in more than their layer (their folders then name width, architecture and knob).
    public var sweepsSettings: Bool {
        sweep.dSAEs.count > 1 || sweep.l1Coeffs.count > 1 || sweep.architectures.count > 1 || sweep.ks.count > 1 || sweep.l0Coeffs.count > 1
            || sweep.initializations.count > 1
    }

    /// The distinct layers, in the order the members read them.
    public var layers: [Int] {
        var seen = Set<Int>()
        return members.map(\.layer).filter { seen.insert($0).inserted }
    }

    /// The distinct hook points, in the order the members read them (the model run feeds them all).
    public var sites: [HookName] {
        var seen = Set<HookName>()
        return members.map(\.site).filter { seen.insert($0).inserted }
    }

    /// The buffer a run uses: the setting, but no more rows than it trains on (rounded up to whole
    /// batches, at least four), so a short run does not read more than it trains on plus one refill.
    public var effectiveBufferRows: Int {
        let trained = (trainingTokens + batchSize - 1) / batchSize * batchSize
        return min(bufferRows, max(4 * batchSize, trained))
    }

    /// Checks every value before any work, naming the option and its allowed range.
    public func validate(nLayers: Int) throws {
        func check(_ ok: Bool, _ option: String, _ value: Any, _ allowed: String) throws {
            if !ok { throw ExperimentInputError("\(option) is \(value); allowed: \(allowed)") }
        }
        for l in sweep.layers.isEmpty ? [layer] : sweep.layers {
            try check(l >= 0 && l < nLayers, sweep.layers.isEmpty ? "--layer" : "--layers", l, "0…\(nLayers - 1) (the model has \(nLayers) layers)")
        }
        try check(Set(sweep.layers).count == sweep.layers.count, "--layers", sweep.layers, "distinct layers")
        for d in Set(members.map(\.dSAE)) { try check(d >= 1 && d <= 1 << 22, "--d-sae", d, "1…4194304") }
        for c in Set(members.filter { $0.architecture == .standard }.map(\.sparsity)) { try check(c >= 0 && c.isFinite, "--l1", c, "a finite number ≥ 0") }
        try check(Set(initializations).count == initializations.count, "--init", initializations.map(\.rawValue).joined(separator: ","), "distinct initialisations")
        try check(Set(architectures).count == architectures.count, "--architecture", architectures.map(\.rawValue).joined(separator: ","), "distinct architectures")
        if let hooks { try check(!hooks.isEmpty && Set(hooks).count == hooks.count, "--hook", hooks.map(\.rawValue).joined(separator: ","), "distinct hooks among z, resid_pre") }
        for m in members {
            do {
                try m.training(training).validate(for: SAEConfig(dIn: 1, dSAE: m.dSAE, hookName: "h"))
            } catch let e as TrainingRunError {
                throw Self.namingOption(e)
            }
        }
        try check(batchSize >= 1 && batchSize <= 1 << 20, "--batch", batchSize, "1…1048576")
        try check(trainingTokens >= batchSize, "--tokens", trainingTokens, "at least one batch (\(batchSize))")
        try check(bufferRows >= 4 * batchSize, "--buffer-rows", bufferRows, "at least four batches (\(4 * batchSize))")
        try check(training.lr > 0 && training.lr.isFinite, "--lr", training.lr, "a finite number > 0")
        try check(evaluationRows >= 1 && evaluationRows <= 1 << 20, "--eval-rows", evaluationRows, "1…1048576")
        try check(members.count <= 256, "SAEs in one run", members.count, "at most 256")
        if let k = positionsPerRow { try check(k >= 1 && k <= 128, "--positions-per-row", k, "1…128") }
    }
}

extension TrainSAESettings {
    /// The `train-sae` option behind each setting the library names in
    /// ``TrainingRunError/invalidSetting(name:value:allowed:)`` (its property names).
    static let optionForSetting: [String: String] = [
        "lr": "--lr", "l1Coeff": "--l1", "k": "--k", "auxKCoeff": "--aux-coeff", "auxK": "--aux-k", "deadWindow": "--dead-window",
        "l0Coeff": "--l0-coeff", "l0WarmupSteps": "--l0-warmup", "bandwidth": "--bandwidth", "initialThreshold": "--initial-threshold",
        "batchSize": "--batch", "bufferRows": "--buffer-rows", "checkpointEvery": "--checkpoint-every",
        "batchSize and bufferRows": "--batch and --buffer-rows", "activeSubspaceDim": "--active-subspace-dim",
    ]

    /// A library setting error as the command's: the option, the value and the allowed range.
    static func namingOption(_ e: TrainingRunError) -> any Error {
        guard case .invalidSetting(let name, let value, let allowed) = e, let option = optionForSetting[name] else { return e }
        return ExperimentInputError("\(option) is \(value); allowed: \(allowed)")
    }
}

/// The hook an SAE of a run reads at its layer.
public enum TrainingHook: String, Codable, Sendable, CaseIterable {
    /// `blocks.L.attn.hook_z`, heads flattened head-major (the paper's attention SAEs).
    case z
    /// `blocks.L.hook_resid_pre` (residual SAEs, as SAELens's `gpt2-small-res-jb`).
    case residPre = "resid_pre"

    public func site(_ layer: Int) -> HookName {
        switch self {
        case .z: .z(layer)
        case .residPre: .residPre(layer)
        }
    }
}

/// More SAEs in the same run: layers, widths, architectures and their knobs (l1 coefficients, k, L0
/// coefficients); an empty list keeps the settings' single value.
public struct TrainingSweep: Codable, Sendable, Equatable {
    public var layers: [Int] = []
    public var dSAEs: [Int] = []
    public var l1Coeffs: [Double] = []
    public var architectures: [TrainingArchitecture] = []
    public var ks: [Double] = []
    public var l0Coeffs: [Double] = []
    /// Initialisations side by side (`--init paper,active-subspace`).
    public var initializations: [SAEInitialization] = []
    public init(layers: [Int] = [], dSAEs: [Int] = [], l1Coeffs: [Double] = [], architectures: [TrainingArchitecture] = [],
                ks: [Double] = [], l0Coeffs: [Double] = [], initializations: [SAEInitialization] = []) {
        self.layers = layers; self.dSAEs = dSAEs; self.l1Coeffs = l1Coeffs
        self.architectures = architectures; self.ks = ks; self.l0Coeffs = l0Coeffs; self.initializations = initializations
    }

    /// Decodes a sweep; one written before initialisations were swept has none.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        layers = try c.decode([Int].self, forKey: .layers); dSAEs = try c.decode([Int].self, forKey: .dSAEs)
        l1Coeffs = try c.decode([Double].self, forKey: .l1Coeffs); architectures = try c.decode([TrainingArchitecture].self, forKey: .architectures)
        ks = try c.decode([Double].self, forKey: .ks); l0Coeffs = try c.decode([Double].self, forKey: .l0Coeffs)
        initializations = try c.decodeIfPresent([SAEInitialization].self, forKey: .initializations) ?? []
    }
}

/// Where and how often training writes its checkpoint, and whether it resumes from one.
public struct CheckpointPlan: Sendable {
    public var path: String
    public var every: Int
    public var resume: Bool
    public init(path: String, every: Int, resume: Bool) { self.path = path; self.every = every; self.resume = resume }
}

/// The evaluation of Table 2 on held-out rows.
public struct SAEEvaluationSummary: Codable, Sendable, Equatable {
    public var l0: Double
    public var aliveFraction: Double
    public var deadFraction: Double
    public var ceClean: Float, ceSpliced: Float, ceZeroAblated: Float
    public var ceLossRecovered: Float
    public var ceDiff: Float
    public var tokens: Int
    /// The headline metrics of SAELens's evaluation (``CoreEvaluation``, BOS positions left out) on the same rows.
    public var explainedVariance: Double, mse: Double, cossim: Double, l2Ratio: Double, relativeReconstructionBias: Double
    public var klDivScore: Double, klDivWithSAE: Double, ceLossScore: Double, l1: Double
}

/// One trained SAE of a run.
public struct TrainedSAE: Sendable {
    public var member: TrainSAESettings.Member
    public var sae: SAE
    public var history: [TrainingRecord]
    public var evaluation: SAEEvaluationSummary
    /// Firing frequencies on the held-out rows.
    public var frequencies: FeatureFrequencies
    /// SAELens's evaluation on the held-out rows (written as SAEBench's core-evaluation JSON).
    public var core: CoreEvaluation
}

/// What training produced: one ``TrainedSAE`` per member, in the settings' order.
public struct TrainSAEResult: Sendable {
    public var saes: [TrainedSAE]
    public var seconds: Double
    public var modelTokensPerSecond: Double
    /// The first member's (the only one's, without a sweep).
    public var sae: SAE { saes[0].sae }
    public var history: [TrainingRecord] { saes[0].history }
    public var evaluation: SAEEvaluationSummary { saes[0].evaluation }
    public var frequencies: FeatureFrequencies { saes[0].frequencies }
}

/// Trains and evaluates SAEs on a workspace's model and corpus.
public enum SAETraining {
    /// What a checkpoint records about the run, compared on resume: the settings, model and corpus.
    struct RunIdentity: Codable, Equatable {
        var settings: TrainSAESettings
        var model: String
        var corpus: [String]
        var ranks: Int
    }

    /// Trains every member of `settings` from one model run per batch, then evaluates each on held-out rows.
    ///
    /// With `ranks` of a data-parallel launch (MPI), each rank runs the model on its share of the corpus
    /// rows and trains on its share of each batch; gradients are summed across ranks. Rank 0 logs and
    /// evaluates; the other ranks return after training with no evaluations (`saes` empty).
    public static func run(_ workspace: Workspace, settings s: TrainSAESettings, checkpoint: CheckpointPlan? = nil,
                           ranks: any Collective = SingleProcess()) throws -> TrainSAEResult {
        let log: (String) -> Void = ranks.rank == 0 ? workspace.log : { _ in }
        let (model, inputs) = (workspace.model, workspace.inputs)
        let cfg = model.model.config
        try s.validate(nLayers: cfg.nLayers)
        guard s.batchSize % ranks.size == 0, s.effectiveBufferRows % ranks.size == 0 else {
            throw ExperimentInputError("--batch \(s.batchSize) and the buffer's \(s.effectiveBufferRows) rows must be multiples of the \(ranks.size) ranks")
        }
        if let c = checkpoint, c.every < 1 { throw ExperimentInputError("--checkpoint-every is \(c.every); allowed: ≥ 1") }
        let start = Date()
        // Each SAE's recipe, before any work: the per-layer values are easy to miss otherwise.
        for m in s.members {
            let paper = m.architecture == .standard && s.recipe(m.layer, m.hook ?? .z) != nil
            let cutoff = paper ? s.recipe(m.layer, m.hook ?? .z)?.deadCutoff : nil
            log("SAE on \(m.site): d_sae \(m.dSAE), \(m.architectureLabel) \(m.sparsityLabel), batch \(s.batchSize), lr \(s.training.lr)"
                + (cutoff.map { ", dead-feature cutoff \($0)" } ?? "")
                + (paper ? (m.initialization == nil ? " (the paper's layer-\(m.layer) SAE)" : " (the paper's layer-\(m.layer) recipe)") : ""))
        }
        let sites = s.sites
        let plan = TrainingRunPlan(steps: s.steps, batchSize: s.batchSize, bufferRows: s.effectiveBufferRows, bufferSeed: s.seed,
                                   resampling: s.resampling, recordEvery: max(1, s.steps / 80))
        do { try plan.validate() } catch let e as TrainingRunError { throw TrainSAESettings.namingOption(e) }
        let identity = RunIdentity(settings: s, model: model.name, corpus: inputs.corpus, ranks: ranks.size)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let metadata = String(decoding: try encoder.encode(identity), as: UTF8.self)
        let source = ModelActivationSource(model: model.model, sites: sites, rows: try workspace.rows(heldOut: false),
                                           shard: (ranks.rank, ranks.size), positionsPerRow: s.positionsPerRow, positionSeed: s.seed)
        let interactive = isatty(STDOUT_FILENO) != 0
        let reporter = ProgressReporter(interactive: interactive, steps: s.steps, log: log)

        var run: TrainingRun<ModelActivationSource>
        if let c = checkpoint, c.resume, FileManager.default.fileExists(atPath: c.path) {
            let info = try TrainingRun<ModelActivationSource>.checkpointInfo(c.path)
            guard info.metadata == metadata else {
                throw ExperimentInputError("checkpoint \(c.path) was written by another run (its settings, model or corpus differ); delete it to start afresh, or give the settings it was written with")
            }
            log("resuming from \(c.path) at step \(info.step)/\(s.steps) (skipping the corpus rows already read)")
            run = try TrainingRun.resume(from: c.path, source: source, metadata: metadata, ranks: ranks)
        } else {
            let members = initialMembers(s, model: model, source: source)
            let bufferBytes = Double(plan.bufferRows) * Double(source.dIn) * 2
            let from = sites.allSatisfy({ if case .z = $0 { true } else { false } })
                ? "layer" + (sites.count == 1 ? " " : "s ") + s.layers.map(String.init).joined(separator: ",")
                : sites.map(\.description).joined(separator: ", ")
            log(String(format: "filling the shuffling buffer: %d rows × %d (%.2f GB) from %@%@", plan.bufferRows, source.dIn,
                       bufferBytes / 1e9, from, ranks.size == 1 ? "" : ", split over \(ranks.size) ranks"))
            do {
                run = try TrainingRun(plan: plan, members: members, source: source, metadata: metadata, ranks: ranks, progress: reporter.report)
            } catch let e as TrainingRunError { throw TrainSAESettings.namingOption(e) }
            var said = Set<String>()                                     // members on one site share one subspace
            for (m, member) in zip(s.members, run.members) {
                if let a = member.activeSubspace, said.insert("\(m.site) \(a.dimension)").inserted {
                    log(String(format: "active-subspace initialisation of %@: %d of %d directions, holding %.2f%% of the variance",
                               m.site.description, a.dimension, member.trainer.sae.config.dIn, 100 * a.heldVariance))
                }
            }
        }
        try run.run(checkpoint: checkpoint.map { ($0.path, $0.every) }, progress: reporter.report)
        let forward = run.buffer.source.tokensPerSecond
        var saes: [TrainedSAE] = []
        guard ranks.rank == 0 else { return TrainSAEResult(saes: [], seconds: Date().timeIntervalSince(start), modelTokensPerSecond: forward) }
        // Every SAE from one clean run per batch, the SAEs on one site sharing its zero-ablated run.
        log(s.members.count == 1
            ? "evaluating \(s.members[0].site) (d_sae \(s.members[0].dSAE), \(s.members[0].architectureLabel), \(s.members[0].sparsityLabel)) on \(s.evaluationRows) held-out rows"
            : "evaluating \(s.members.count) SAEs on \(Set(s.members.map(\.site)).count) site(s) on \(s.evaluationRows) held-out rows (one clean run per batch, one zero-ablated run per site)")
        let evaluations = try evaluate(workspace, saes: run.members.map(\.trainer.sae), rows: s.evaluationRows)
        for ((m, member), (evaluation, frequencies, core)) in zip(zip(s.members, run.members), evaluations) {
            saes.append(TrainedSAE(member: m, sae: member.trainer.sae, history: member.history, evaluation: evaluation, frequencies: frequencies, core: core))
        }
        return TrainSAEResult(saes: saes, seconds: Date().timeIntervalSince(start), modelTokensPerSecond: forward)
    }

    /// The SAEs a fresh run starts from, one per member, each reading its site's columns of the buffer.
    static func initialMembers(_ s: TrainSAESettings, model: LoadedModel, source: ModelActivationSource) -> [TrainingRunMember] {
        let cfg = model.model.config
        return s.members.map { m -> TrainingRunMember in
            let columns = source.columns(of: m.site)
            let layout: HeadLayout? = if case .z = m.site { HeadLayout(nHeads: cfg.nHeads, dHead: cfg.dHead) } else { nil }
            let config = SAEConfig(dIn: columns.count, dSAE: m.dSAE, hookName: m.site.description, headLayout: layout,
                                   provenance: SAEProvenance(source: "trained", notes: ["model": model.name, "tokens": "\(s.trainingTokens)"]))
            var t = m.training(s.training)
            if m.architecture == .standard, let cutoff = s.recipe(m.layer, m.hook ?? .z)?.deadCutoff { t.deadCutoff = cutoff }
            // Every member starts where training it alone would: the run's seed, whatever its place in the
            // sweep. An l1 or k sweep then compares its settings from one initial SAE, and a member does not
            // depend on which others trained beside it (they also share the batches — see TrainingRun for
            // the one exception, the paper's resampling drawing from the shared buffer).
            return TrainingRunMember(sae: SAETrainer.initialSAE(config, seed: s.seed &+ 49), config: t,
                                     columns: columns, resampleSeed: s.seed &+ 7)
        }
    }

    /// Progress lines: on a terminal about every two seconds; otherwise (CI, logs) a line per 5% of
    /// training and per quarter of the buffer's first fill.
    final class ProgressReporter {
        let interactive: Bool, steps: Int, log: (String) -> Void
        var last = Date.distantPast, lastFillQuarter = -1, lastStepTwentieth = -1
        init(interactive: Bool, steps: Int, log: @escaping (String) -> Void) { self.interactive = interactive; self.steps = steps; self.log = log }

        func report(_ p: TrainingProgress) {
            let now = Date()
            func eta(_ s: Double?) -> String {
                guard let s, s.isFinite else { return "" }
                return s >= 3600 ? String(format: ", ETA %.1f h", s / 3600) : s >= 60 ? String(format: ", ETA %.0f min", s / 60) : String(format: ", ETA %.0f s", s)
            }
            switch p.phase {
            case .filling(let rows, let total):
                let quarter = rows * 4 / max(1, total)
                guard interactive ? now.timeIntervalSince(last) >= 2 || rows == total : quarter > lastFillQuarter else { return }
                lastFillQuarter = quarter
                log(String(format: "  buffer %d/%d rows (%.0f%%), %.0f tokens/s%@", rows, total, 100 * Double(rows) / Double(total), p.rowsPerSecond, eta(p.eta)))
            case .training:
                let twentieth = p.step * 20 / max(1, steps)
                guard interactive ? now.timeIntervalSince(last) >= 2 || p.step == steps : twentieth > lastStepTwentieth else { return }
                lastStepTwentieth = twentieth
                let curves = p.latest.compactMap { $0 }
                let l0 = curves.map { String(format: "%.1f", $0.l0) }.joined(separator: "/")
                let loss = curves.map { String(format: "%.4f", $0.loss) }.joined(separator: "/")
                log(String(format: "  step %d/%d  loss %@  L0 %@  %.0f tokens/s%@", p.step, p.steps, loss, l0, p.rowsPerSecond, eta(p.eta)))
            }
            last = now
        }
    }

    /// Table 2 (L0, alive fraction and CE loss recovered as the paper's code computes them) and SAELens's
    /// evaluation (``CoreEvaluation``, BOS positions left out) of `sae` on `rows` held-out rows, in batches of 8 rows.
    public static func evaluate(_ workspace: Workspace, sae: SAE, rows: Int) throws -> (SAEEvaluationSummary, FeatureFrequencies, CoreEvaluation) {
        try evaluate(workspace, saes: [sae], rows: rows)[0]
    }

    /// ``evaluate(_:sae:rows:)`` of several SAEs from one clean model run per batch (Table 2 of a whole
    /// release): each SAE's numbers are those of its evaluation alone.
    public static func evaluate(_ workspace: Workspace, saes: [SAE], rows: Int) throws -> [(SAEEvaluationSummary, FeatureFrequencies, CoreEvaluation)] {
        let tokens = try workspace.heldOutRows(rows), model = workspace.model.model
        let batches = stride(from: 0, to: tokens.shape[0], by: 8).map { tokens.rows($0..<min($0 + 8, tokens.shape[0])) }
        return try SAEEvaluation.evaluate(model: model, saes: saes, batches: batches, ignoredTokens: [workspace.tokenizer.endOfTextID]).map { ce, l0, freq, core in
            (SAEEvaluationSummary(l0: l0, aliveFraction: freq.aliveFraction, deadFraction: freq.deadFraction,
                                  ceClean: ce.clean, ceSpliced: ce.spliced, ceZeroAblated: ce.zeroAblated,
                                  ceLossRecovered: ce.score, ceDiff: ce.ceDiff, tokens: tokens.count,
                                  explainedVariance: core.reconstructionQuality.explainedVariance, mse: core.reconstructionQuality.mse,
                                  cossim: core.reconstructionQuality.cossim, l2Ratio: core.shrinkage.l2Ratio,
                                  relativeReconstructionBias: core.shrinkage.relativeReconstructionBias,
                                  klDivScore: core.modelBehaviorPreservation.klDivScore, klDivWithSAE: core.modelBehaviorPreservation.klDivWithSAE,
                                  ceLossScore: core.modelPerformancePreservation.ceLossScore, l1: core.sparsity.l1), freq, core)
        }
    }

    /// SAEBench's core-evaluation JSON of an SAE evaluated on `rows` held-out rows of the workspace's corpus.
    public static func coreEvaluationOutput(_ core: CoreEvaluation, sae: SAE, workspace: Workspace, rows: Int) -> CoreEvaluationOutput {
        CoreEvaluationOutput(evaluation: core, sae: sae, modelName: workspace.model.name, dataset: workspace.inputs.corpus.isEmpty ? "the default corpus" : workspace.inputs.corpus.joined(separator: ", "),
                             contextSize: 128, batchSizePrompts: 8, batches: (rows + 7) / 8, excludedSpecialTokens: true)
    }
}
