// CommonOptions: the options every experiment executable shares (model, tokenizer, corpus, output, seed).

import ArgumentParser
import Experiments
import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

public struct CommonOptions: ParsableArguments {
    @Option(help: "Model: a folder as its hub repository ships it, or a file (tf_model.h5, model.safetensors, TransformerLens model_final.pth, our HDF5); default: the planted-circuit model.")
    public var model: String?
    @Option(help: "The model's config.json when it is not beside the weights (HuggingFace's, or a TransformerLens repository's).")
    public var config: String?
    @Option(help: "Folder with encoder.json and vocab.bpe, or a HuggingFace tokenizer.json; default: the model's folder if it has one, else the cache's gpt2-tokenizer.")
    public var tokenizer: String?
    @Option(parsing: .upToNextOption, help: "Corpus files or folders: text, JSON lines (.jsonl, also .gz/.zst), .json, nanoGPT/llm.c .bin, Parquet, Arrow (datasets' cache and save_to_disk folders); `inspect corpus` shows what a run would read. Default: the Python documentation.")
    public var corpus: [String] = []
    @Option(help: "The field holding each document's text in JSON, Parquet and Arrow corpora.")
    public var textField: String = "text"
    @Option(help: "How documents become rows: 'documents' (Docs/Method.md §1.2, GPT-2's) or 'tl-concatenate' (TransformerLens's tokenize_and_concatenate of the GELU-2L era, Docs/Method.md §3.1).")
    public var rowRecipe: String = "documents"
    @Option(help: "With --row-recipe tl-concatenate: the tokenizer's pad token, whose id is dropped from the text (default: none, as TransformerLens adds <PAD>).")
    public var padToken: String?
    @Option(help: "Report folder (default: out/<command>).")
    public var output: String?
    @Option(help: "Seed.")
    public var seed: UInt64 = 0

    public init() {}

    /// Runs once per command: warns when OpenBLAS runs generic kernels on a CPU that has better ones.
    public func validate() throws {
        guard ["documents", "tl-concatenate"].contains(rowRecipe) else { throw ValidationError("--row-recipe \(rowRecipe); allowed: documents, tl-concatenate") }
        if padToken != nil && rowRecipe != "tl-concatenate" { throw ValidationError("--pad-token is for --row-recipe tl-concatenate") }
        if let warning = BLAS.genericKernelWarning { log("warning: " + warning) }
    }

    public var inputs: ExperimentInputs {
        var i = ExperimentInputs(modelPath: model, modelConfigPath: config, tokenizerDirectory: tokenizer, corpus: corpus)
        i.textField = textField
        i.rowRecipe = rowRecipe == "tl-concatenate" ? .transformerLensConcatenate(padToken: padToken) : .documents
        return i
    }
}

/// The training recipe's options: each one given overrides the default recipe — the planted one on the
/// planted model, the paper's on GPT-2 (layer 5 unless `--layer`). `--layers`, and lists for `--d-sae`
/// and `--l1`, train several SAEs in one run from one model run per batch.
public struct TrainingOptions: ParsableArguments {
    @Option(help: "Layer whose hook_z the SAE reads (default: 1 on the planted model, 5 on GPT-2).") public var layer: Int?
    @Option(help: "Several layers in one run, from one model pass per batch: a list or ranges, e.g. 0-11 or 0,3,5-7.") public var layers: String?
    @Option(help: "The hook each layer's SAE reads: z (blocks.L.attn.hook_z, the paper's), resid_pre (blocks.L.hook_resid_pre, residual SAEs), or z,resid_pre for both from one model pass.") public var hook: String?
    @Option(help: "Training tokens (default: 1,600,000 on the planted model, 100 million on GPT-2).") public var tokens: Int?
    @Option(name: .customLong("d-sae"), help: "SAE width, or a comma-separated list to sweep (e.g. 12288,24576).") public var dSAE: String?
    @Option(help: "Batch size.") public var batch: Int?
    @Option(help: "l1 coefficient, or a comma-separated list to sweep (e.g. 0.5,1,2).") public var l1: String?
    @Option(help: "standard (the paper's ReLU + L1), topk, batchtopk or jumprelu; a comma-separated list trains each side by side.") public var architecture: String?
    @Option(help: "TopK/BatchTopK: features kept per token (default 32 on GPT-2, 4 on the planted model), or a list to sweep (e.g. 8,16,32,64).") public var k: String?
    @Option(name: .customLong("l0-coeff"), help: "JumpReLU: the L0 coefficient λ, or a list to sweep.") public var l0Coeff: String?
    @Option(help: "TopK/BatchTopK: the AuxK loss coefficient (SAELens's default 1; 0 = off).") public var auxCoeff: Double?
    @Option(help: "TopK/BatchTopK: AuxK's k_aux, the dead features' pre-activations kept per token (default d_in/2).") public var auxK: Int?
    @Option(help: "TopK/BatchTopK: steps without firing after which a feature is dead for AuxK (default 1000).") public var deadWindow: Int?
    @Option(help: "JumpReLU: the straight-through estimators' bandwidth ε (default 0.05).") public var bandwidth: Double?
    @Option(help: "JumpReLU: the thresholds' initial value (default 0.01).") public var initialThreshold: Double?
    @Option(name: .customLong("l0-warmup"), help: "JumpReLU: steps over which λ grows linearly from 0 (default 0).") public var l0Warmup: Int?
    @Option(name: .customLong("init"), help: "How the SAEs start: paper (the paper's random initialisation) or active-subspace (decoder directions inside the activations' principal subspace, Wang et al. 2026, from the first buffer fill); paper,active-subspace trains both side by side.") public var initialization: String?
    @Option(help: "With --init active-subspace: the subspace's dimension (default: the fewest directions holding 99% of the variance).") public var activeSubspaceDim: Int?
    @Option(help: "Learning rate.") public var lr: Double?
    @Option(help: "Rows of the shuffling buffer (default: 32768 planted; the paper's 4096·384 on GPT-2, shared by the layers of a run up to 6 GB).") public var bufferRows: Int?
    @Option(help: "Keep this many random positions of each 128-token row (default: all): a small buffer then spans more contexts.") public var positionsPerRow: Int?
    public init() {}

    /// Parses `0-11`, `0,3,5-7` (ascending ranges, no repeats).
    public static func parseLayers(_ text: String) throws -> [Int] {
        var out: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard (1...2).contains(bounds.count), let lo = bounds.first!, let hi = bounds.last!, lo >= 0, lo <= hi, hi < 1 << 16 else {
                throw ValidationError("--layers \(text): '\(part)' is not a layer or a range such as 0-11")
            }
            out += Array(lo...hi)
        }
        guard Set(out).count == out.count else { throw ValidationError("--layers \(text) names a layer twice") }
        return out
    }

    static func list<T: LosslessStringConvertible>(_ text: String, _ option: String) throws -> [T] {
        let values = text.split(separator: ",", omittingEmptySubsequences: false).map { T(String($0).trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { throw ValidationError("--\(option) \(text): expected a number or a comma-separated list") }
        return values.map { $0! }
    }

    /// A comma-separated list of `E`'s names (`--architecture topk,jumprelu`, `--hook z,resid_pre`, `--init paper,active-subspace`).
    static func names<E: RawRepresentable & CaseIterable>(_ text: String, _ option: String) throws -> [E] where E.RawValue == String {
        try text.split(separator: ",", omittingEmptySubsequences: false).map { name in
            guard let e = E(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--\(option) \(text): '\(name)' is not one of " + E.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return e
        }
    }

    /// `--hook` parsed: `z`, `resid_pre` or a comma-separated list of them, distinct.
    public func hooks() throws -> [TrainingHook]? {
        guard let hook else { return nil }
        let hooks: [TrainingHook] = try Self.names(hook, "hook")
        guard Set(hooks).count == hooks.count else { throw ValidationError("--hook \(hook) names a hook twice") }
        return hooks
    }

    public func validate() throws {
        _ = try hooks()
        let sweep = try sweep()
        try OptionCheck.range("--layer", layer, 0...(1 << 16))
        try OptionCheck.range("--tokens", tokens, 1...(1 << 50))
        try OptionCheck.each("--d-sae", sweep.dSAEs, SAEConfig.dSAERange)
        try OptionCheck.range("--batch", batch, 1...(1 << 20))
        for l1 in sweep.l1Coeffs where !(l1.isFinite && l1 >= 0 && l1 <= 1e6) { throw ValidationError("--l1 is \(l1); allowed: 0…1e6") }
        if let lr, !(lr.isFinite && lr > 0 && lr <= 1) { throw ValidationError("--lr is \(lr); allowed: 0 < lr ≤ 1") }
        try OptionCheck.range("--buffer-rows", bufferRows, 4...(1 << 31))
        try OptionCheck.range("--positions-per-row", positionsPerRow, 1...128)
        // The architectures' knobs and Active Subspace Initialisation's dimension.
        for k in sweep.ks where !(k.isFinite && k > 0 && k <= Double(1 << 24)) { throw ValidationError("--k is \(k); allowed: 0 < k ≤ 16777216") }
        for c in sweep.l0Coeffs where !(c.isFinite && c >= 0 && c <= 1e6) { throw ValidationError("--l0-coeff is \(c); allowed: 0…1e6") }
        if let auxCoeff, !(auxCoeff.isFinite && auxCoeff >= 0 && auxCoeff <= 1e6) { throw ValidationError("--aux-coeff is \(auxCoeff); allowed: 0…1e6") }
        try OptionCheck.range("--aux-k", auxK, 1...(1 << 24))
        try OptionCheck.range("--dead-window", deadWindow, 1...(1 << 40))
        if let bandwidth, !(bandwidth.isFinite && bandwidth > 0 && bandwidth <= 1e3) { throw ValidationError("--bandwidth is \(bandwidth); allowed: 0 < ε ≤ 1000") }
        if let initialThreshold, !(initialThreshold.isFinite && initialThreshold >= 0 && initialThreshold <= 1e3) {
            throw ValidationError("--initial-threshold is \(initialThreshold); allowed: 0…1000")
        }
        try OptionCheck.range("--l0-warmup", l0Warmup, 0...(1 << 40))
        try OptionCheck.range("--active-subspace-dim", activeSubspaceDim, 1...(1 << 20))
    }

    func sweep() throws -> TrainingSweep {
        return TrainingSweep(layers: try layers.map(Self.parseLayers) ?? [], dSAEs: try dSAE.map { try Self.list($0, "d-sae") } ?? [],
                             l1Coeffs: try l1.map { try Self.list($0, "l1") } ?? [], architectures: try architecture.map { try Self.names($0, "architecture") } ?? [],
                             ks: try k.map { try Self.list($0, "k") } ?? [], l0Coeffs: try l0Coeff.map { try Self.list($0, "l0-coeff") } ?? [],
                             initializations: try initialization.map { try Self.names($0, "init") } ?? [])
    }

    /// The recipe for `model` (``TrainSAESettings/recipe(for:planted:)``) with these options applied.
    public func settings(_ common: CommonOptions, model: LoadedModel) throws -> TrainSAESettings {
        try settings(common, config: model.model.config)
    }

    /// The recipe for a model of shape `c` (the planted recipe when `common` names no model) with these
    /// options applied.
    public func settings(_ common: CommonOptions, config c: GPT2Config) throws -> TrainSAESettings {
        let sweep = try sweep()
        let first = layer ?? sweep.layers.first
        var s = TrainSAESettings.recipe(for: c, planted: common.model == nil)
        if let first { s.layer = first }
        if let tokens { s.trainingTokens = tokens }
        if let d = sweep.dSAEs.first {
            s.dSAE = d
            s.layerRecipes = s.layerRecipes?.mapValues { var r = $0; r.dSAE = nil; return r }
        }
        if let batch { s.batchSize = batch }
        if let c = sweep.l1Coeffs.first {
            s.training.l1Coeff = c
            s.layerRecipes = s.layerRecipes?.mapValues { var r = $0; r.l1Coeff = nil; return r }
        }
        if let a = sweep.architectures.first { s.training.architecture = a }
        if let k = sweep.ks.first { s.training.k = k }
        if let c = sweep.l0Coeffs.first { s.training.l0Coeff = c }
        if let auxCoeff { s.training.auxKCoeff = auxCoeff }
        if let deadWindow { s.training.deadWindow = deadWindow }
        if let auxK { s.training.auxK = auxK }
        if let bandwidth { s.training.bandwidth = bandwidth }
        if let initialThreshold { s.training.initialThreshold = initialThreshold }
        if let l0Warmup { s.training.l0WarmupSteps = l0Warmup }
        if let lr { s.training.lr = lr }
        if let i = sweep.initializations.first { s.training.initialization = i }
        if let activeSubspaceDim { s.training.activeSubspaceDim = activeSubspaceDim }
        s.sweep = TrainingSweep(layers: sweep.layers.count > 1 ? sweep.layers : [], dSAEs: sweep.dSAEs.count > 1 ? sweep.dSAEs : [],
                                l1Coeffs: sweep.l1Coeffs.count > 1 ? sweep.l1Coeffs : [],
                                architectures: sweep.architectures.count > 1 ? sweep.architectures : [],
                                ks: sweep.ks.count > 1 ? sweep.ks : [], l0Coeffs: sweep.l0Coeffs.count > 1 ? sweep.l0Coeffs : [],
                                initializations: sweep.initializations.count > 1 ? sweep.initializations : [])
        if let bufferRows {
            s.bufferRows = bufferRows
        } else if s.sites.count > 1 {
            // One buffer row holds every layer's activations: keep the buffer within 6 GB (bfloat16).
            let width = 2 * s.sites.reduce(0) { $0 + $1.saeInputWidth(c)! }
            s.bufferRows = min(s.bufferRows, max(4 * s.batchSize, (6_000_000_000 / width) / s.batchSize * s.batchSize))
        }
        s.positionsPerRow = positionsPerRow
        s.hooks = try hooks()
        s.seed = common.seed
        return s
    }
}

/// The SAE a section runs on.
public struct SAEOptions: ParsableArguments {
    @Option(help: "SAE: a SAELens folder, the paper's .pt, a release id (gpt2-small-hook-z-kk, with --layer) or a cached hub repository (default on the planted model: the cached one).")
    public var sae: String?
    @Option(help: "The .pt's _cfg.json when it is not beside it.")
    public var cfg: String?
    public init() {}

    /// The SAE of these options in `workspace` (the planted model's default one when none is given);
    /// `layer` picks one SAE of a release or repository.
    public func load(in workspace: Workspace, layer: Int? = nil) throws -> AttentionSAE { try workspace.attentionSAE(sae, cfg: cfg, layer: layer) }
}

/// `--layer` for the commands that read one SAE: which layer of a release or hub repository.
public struct SAELayerOption: ParsableArguments {
    @Option(help: "With --sae naming a release or hub repository of per-layer SAEs: the layer.")
    public var layer: Int?
    public init() {}
    public func validate() throws { try OptionCheck.range("--layer", layer, 0...(1 << 16)) }
}

extension CommonOptions {
    /// The command's workspace: tokenizer, corpus and model, checked in that order, logging to standard output.
    public func workspace() throws -> Workspace { try Workspace(inputs, log: log) }

    /// The report folder: `--output`, or `out/<command>`.
    public func output(_ command: String) -> String { output ?? "out/" + command }
}

/// Progress and summaries go to standard output, line by line.
package func log(_ line: String) { FileHandle.standardOutput.write((line + "\n").data(using: .utf8)!) }

/// The absolute path of a written file, for the last line of a run.
package func absolutePath(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
