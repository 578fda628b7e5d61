// GPT2Weights+Loading: loaders for HuggingFace model.safetensors and tf_model.h5, and our own HDF5
// layout (TransformerLens names) with its writer.

import Foundation
import Tensor

extension GPT2Weights {
    // MARK: Our HDF5 layout

    /// Format tag and version of our HDF5 layout (root attributes `format`, `version`). Version 2 adds
    /// the string attributes `act_fn` and `positional_embedding_type` and the integer `attn_only`; a GPT-2-architecture model is
    /// still written as version 1 (which earlier builds read), any other as version 2 (which they refuse
    /// rather than run as GPT-2).
    public static let hdf5Format = "attention-saes.gpt2"
    public static let hdf5Version: Int64 = 2

    /// Writes the weights in our HDF5 layout: one dataset per TransformerLens state-dict name at the
    /// root (`/blocks.0.attn.W_Q`), the config and the processing flags as root attributes.
    /// `extraAttributes` adds root attributes (e.g. the planted model's head roles).
    public func writeHDF5(to path: String, extraAttributes: [String: HDF5Attribute] = [:]) throws {
        try HDF5Writer.write(to: path) { w in
            for (name, t) in stateDict { try w.write(t, at: "/" + name) }
            let c = config
            let attrs: [String: HDF5Attribute] = [
                "format": .string(GPT2Weights.hdf5Format),
                "n_layers": .int(Int64(c.nLayers)), "d_model": .int(Int64(c.dModel)), "n_heads": .int(Int64(c.nHeads)),
                "d_head": .int(Int64(c.dHead)), "d_mlp": .int(Int64(c.dMLP)), "n_ctx": .int(Int64(c.nCtx)),
                "d_vocab": .int(Int64(c.dVocab)), "eps": .double(Double(c.eps)),
                "version": .int(c.isGPT2Architecture ? 1 : GPT2Weights.hdf5Version),
                "act_fn": .string(c.actFn.rawValue), "positional_embedding_type": .string(c.positionalEmbedding.rawValue),
                "attn_only": .int(c.attnOnly ? 1 : 0),
                "fold_ln": .int(processing.foldLN ? 1 : 0), "center_writing_weights": .int(processing.centerWritingWeights ? 1 : 0),
                "center_unembed": .int(processing.centerUnembed ? 1 : 0), "fold_value_biases": .int(processing.foldValueBiases ? 1 : 0),
            ]
            for (k, v) in attrs.merging(extraAttributes, uniquingKeysWith: { a, _ in a }).sorted(by: { $0.key < $1.key }) {
                try w.setAttribute(k, v)
            }
        }
    }

    /// Loads weights written by ``writeHDF5(to:extraAttributes:)``.
    public static func load(hdf5 path: String) throws -> GPT2Weights {
        let f = try HDF5File(path: path)
        func int(_ key: String) throws -> Int {
            guard let v = try? f.attribute(key).intValue else {
                throw TransformerError.invalidModelFile(file: path, detail: "root attribute '\(key)' (an integer) is missing; is this a model written by GPT2Weights.writeHDF5?")
            }
            return Int(v)
        }
        guard (try? f.attribute("format").stringValue) == hdf5Format else {
            throw TransformerError.invalidModelFile(file: path, detail: "not a model in our HDF5 layout (root attribute format != '\(hdf5Format)')")
        }
        let version = try int("version")
        guard (1...hdf5Version).contains(Int64(version)) else {
            throw TransformerError.invalidModelFile(file: path, detail: "layout version \(version), this build reads versions 1…\(hdf5Version)")
        }
        let present = Set(try f.attributeNames())
        /// A string attribute naming one case of `T` (absent: `fallback`, as version 1 files are).
        func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ fallback: T) throws -> T where T.RawValue == String {
            guard present.contains(key) else { return fallback }
            guard let raw = try? f.attribute(key).stringValue, let v = T(rawValue: raw) else {
                let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
                throw TransformerError.invalidConfig(file: path, key: key, detail: "is \(String(describing: try? f.attribute(key).stringValue)), expected one of \(allowed)")
            }
            return v
        }
        let eps = (try? f.attribute("eps").doubleValue).flatMap { $0 }.map { Float($0) } ?? 1e-5
        let config = GPT2Config(nLayers: try int("n_layers"), dModel: try int("d_model"), nHeads: try int("n_heads"),
                                dHead: try int("d_head"), dMLP: try int("d_mlp"), nCtx: try int("n_ctx"),
                                dVocab: try int("d_vocab"), eps: eps, actFn: try choice("act_fn", GPT2Config.ActivationFunction.geluNew),
                                positionalEmbedding: try choice("positional_embedding_type", GPT2Config.PositionalEmbedding.standard),
                                attnOnly: try present.contains("attn_only") && int("attn_only") != 0)
        let processing = WeightProcessing(foldLN: try int("fold_ln") != 0, centerWritingWeights: try int("center_writing_weights") != 0,
                                          centerUnembed: try int("center_unembed") != 0, foldValueBiases: try int("fold_value_biases") != 0)
        return try fromStateDict({ name in f.contains("/" + name) ? try f.readTensor("/" + name) : nil },
                                 config: config, processing: processing, file: path)
    }

    // MARK: HuggingFace

    /// Where the head count (and the rest of the configuration) of HuggingFace weights comes from.
    public enum HuggingFaceConfigSource: Sendable {
        /// `config.json` in the weights' folder when there is one; otherwise `d_head = 64` is assumed and
        /// a warning says so.
        case beside
        /// This config (e.g. from `--config`), checked against the tensors.
        case config(HuggingFaceGPT2Config)
        /// No config: this many heads (`d_head = d_model / nHeads`), other values from the tensors.
        case heads(Int)
    }

    /// The warning of a HuggingFace load without `config.json`.
    public static func assumedHeadsWarning(file: String, dModel: Int, nHeads: Int) -> String {
        "no config.json beside \(file): assuming d_head = 64, so \(nHeads) heads of d_model \(dModel) (GPT-2's shape); if the model has another head count, put its config.json beside the weights or give --config"
    }

    /// Converts HuggingFace GPT-2 tensors (Conv1D `[in, out]` layout) to TransformerLens layout.
    /// `get(name)` returns the tensor under a HuggingFace name without prefix (`h.0.attn.c_attn.weight`);
    /// biases may be `[N]` or `[1, N]` (Keras). A config is checked against every tensor shape it
    /// implies (`n_layer`, `n_embd`, `vocab_size`, `n_positions`, `n_inner`).
    static func fromHuggingFace(_ get: (String) throws -> Tensor?, layers: Int, source: HuggingFaceConfigSource, file: String,
                                warn: (String) -> Void) throws -> GPT2Weights {
        func need(_ name: String, _ shape: [Int]?) throws -> Tensor {
            guard var t = try get(name) else {
                throw TransformerError.missingTensor(file: file, name: name, expectedShape: shape ?? [])
            }
            if let shape {
                if t.shape != shape && t.shape == [1] + shape { t = t.reshaped(shape) }
                guard t.shape == shape else { throw TransformerError.shapeMismatch(file: file, name: name, expected: shape, found: t.shape) }
            }
            return t
        }
        let wte = try need("wte.weight", nil)
        guard wte.rank == 2 else { throw TransformerError.shapeMismatch(file: file, name: "wte.weight", expected: [-1, -1], found: wte.shape) }
        let (vocab, dm) = (wte.shape[0], wte.shape[1])
        let wpe = try need("wpe.weight", nil)
        guard wpe.rank == 2, wpe.shape[1] == dm else { throw TransformerError.shapeMismatch(file: file, name: "wpe.weight", expected: [-1, dm], found: wpe.shape) }
        guard layers > 0 else { throw TransformerError.invalidModelFile(file: file, detail: "no transformer blocks (h.0...) found") }
        let fc = try need("h.0.mlp.c_fc.weight", nil)
        guard fc.rank == 2, fc.shape[0] == dm else { throw TransformerError.shapeMismatch(file: file, name: "h.0.mlp.c_fc.weight", expected: [dm, -1], found: fc.shape) }
        let resolved: HuggingFaceGPT2Config?
        switch source {
        case .config(let c): resolved = c
        case .beside: resolved = try HuggingFaceGPT2Config.beside(file)
        case .heads: resolved = nil
        }
        var config: GPT2Config
        if let hf = resolved {
            for (key, said, found) in [("n_embd", hf.nEmbd, dm), ("vocab_size", hf.vocabSize, vocab), ("n_positions", hf.nPositions, wpe.shape[0]),
                                       ("n_layer", hf.nLayer, layers), (hf.nInner == nil ? "n_inner (null: 4·n_embd)" : "n_inner", hf.dMLP, fc.shape[1])]
            where said != found {
                throw TransformerError.configMismatch(config: hf.file, key: key, configValue: said, weights: file, weightsValue: found)
            }
            config = hf.modelConfig
        } else {
            var nh = max(1, dm / 64)
            if case .heads(let n) = source { nh = n } else { warn(assumedHeadsWarning(file: file, dModel: dm, nHeads: nh)) }
            guard nh > 0, dm % nh == 0 else { throw TransformerError.invalidModelFile(file: file, detail: "d_model \(dm) is not divisible by \(nh) heads") }
            config = GPT2Config(nLayers: layers, dModel: dm, nHeads: nh, dHead: dm / nh, dMLP: fc.shape[1], nCtx: wpe.shape[0], dVocab: vocab)
        }
        let (nh, dh, dmlp) = (config.nHeads, config.dHead, config.dMLP)
        var blocks: [BlockWeights] = []
        for l in 0..<layers {
            let p = "h.\(l)."
            let cAttn = try need(p + "attn.c_attn.weight", [dm, 3 * dm])
            let cAttnB = try need(p + "attn.c_attn.bias", [3 * dm])
            // Columns are Q|K|V, each head-major (n_heads × d_head): "m (i h) -> i m h".
            func headWeight(_ i: Int) -> Tensor {
                cAttn.sliced(axis: 1, (i * dm)..<((i + 1) * dm)).reshaped([dm, nh, dh]).permuted([1, 0, 2]).contiguous()
            }
            func headBias(_ i: Int) -> Tensor { cAttnB.sliced(axis: 0, (i * dm)..<((i + 1) * dm)).reshaped([nh, dh]).contiguous() }
            let proj = try need(p + "attn.c_proj.weight", [dm, dm])
            blocks.append(BlockWeights(
                ln1: LayerNormWeights(w: try need(p + "ln_1.weight", [dm]), b: try need(p + "ln_1.bias", [dm])),
                wQ: headWeight(0), wK: headWeight(1), wV: headWeight(2),
                bQ: headBias(0), bK: headBias(1), bV: headBias(2),
                wO: proj.reshaped([nh, dh, dm]), bO: try need(p + "attn.c_proj.bias", [dm]),
                ln2: LayerNormWeights(w: try need(p + "ln_2.weight", [dm]), b: try need(p + "ln_2.bias", [dm])),
                wIn: try need(p + "mlp.c_fc.weight", [dm, dmlp]), bIn: try need(p + "mlp.c_fc.bias", [dmlp]),
                wOut: try need(p + "mlp.c_proj.weight", [dmlp, dm]), bOut: try need(p + "mlp.c_proj.bias", [dm])))
        }
        // The unembedding is tied to the token embedding: W_U = W_Eᵀ, b_U = 0.
        return GPT2Weights(config: config, wE: wte, wPos: wpe, blocks: blocks,
                           lnFinal: LayerNormWeights(w: try need("ln_f.weight", [dm]), b: try need("ln_f.bias", [dm])),
                           wU: wte.transposed().contiguous(), bU: Tensor(zeros: [vocab]), processing: .none)
    }

    /// Number of blocks `h.0 ... h.(n−1)` among `names` (HuggingFace names without prefix).
    static func countLayers(_ names: [String]) -> Int {
        var n = 0
        while names.contains("h.\(n).attn.c_attn.weight") { n += 1 }
        return n
    }

    /// Loads HuggingFace `model.safetensors` (keys with or without the `transformer.` prefix; the
    /// `attn.bias`/`attn.masked_bias` mask buffers and a tied `lm_head.weight` are ignored).
    /// The weights come back unprocessed; call ``processed(_:)`` for the TransformerLens defaults.
    /// The configuration comes from `config` (by default the `config.json` beside the file; `warn` is
    /// told when there is none and GPT-2's d_head = 64 is assumed).
    public static func load(huggingFaceSafetensors path: String, config: HuggingFaceConfigSource = .beside,
                            warn: (String) -> Void = defaultWarning) throws -> GPT2Weights {
        let f = try SafeTensorsFile(contentsOf: path)
        var byName: [String: String] = [:]
        for n in f.names {
            let short = n.hasPrefix("transformer.") ? String(n.dropFirst("transformer.".count)) : n
            byName[short] = n
        }
        return try fromHuggingFace({ name in try byName[name].map { try f.tensor($0) } },
                                   layers: countLayers(Array(byName.keys)), source: config, file: path, warn: warn)
    }

    /// Loads HuggingFace `tf_model.h5` (a Keras HDF5 save of TFGPT2LMHeadModel). Datasets are found
    /// by their path after `.../transformer/` whatever the model scope is called
    /// (`tfgp_t2lm_head_model`, `tfgpt2lm_head_model`); `wte/weight:0` and `wte/embeddings:0` are both
    /// accepted; biases may be `[N]` or `[1, N]`. Unprocessed, and configured, like the safetensors loader.
    public static func load(tfH5 path: String, config: HuggingFaceConfigSource = .beside,
                            warn: (String) -> Void = defaultWarning) throws -> GPT2Weights {
        let f = try HDF5File(path: path)
        var byName: [String: String] = [:]
        for d in try f.datasets() {
            guard let r = d.path.range(of: "/transformer/", options: .backwards) else { continue }
            var rest = String(d.path[r.upperBound...])
            guard rest.hasSuffix(":0") else { continue }
            rest.removeLast(2)
            // Keras names → HuggingFace names.
            rest = rest.replacingOccurrences(of: "h_._", with: "h.")
                .replacingOccurrences(of: "/gamma", with: ".weight").replacingOccurrences(of: "/beta", with: ".bias")
                .replacingOccurrences(of: "wte/embeddings", with: "wte.weight").replacingOccurrences(of: "wpe/embeddings", with: "wpe.weight")
                .replacingOccurrences(of: "/", with: ".")
            byName[rest] = d.path
        }
        return try fromHuggingFace({ name in try byName[name].map { try f.readTensor($0) } },
                                   layers: countLayers(Array(byName.keys)), source: config, file: path, warn: warn)
    }
}

/// The layouts a GPT-2-architecture model file can have, told apart by name and content.
public enum ModelFileFormat: Sendable, Equatable {
    /// HuggingFace `model.safetensors` (by the `.safetensors` suffix).
    case huggingFaceSafetensors
    /// A TransformerLens state dict saved by `torch.save` (`model_final.pth`; by the `.pth`/`.pt`
    /// suffix), configured by its repository's `config.json` (``TransformerLensRepoConfig``).
    case transformerLensCheckpoint
    /// This toolkit's HDF5 layout (an HDF5 file whose root attribute `format` is ``GPT2Weights/hdf5Format``);
    /// it carries its own configuration.
    case ours
    /// HuggingFace `tf_model.h5` (any other HDF5 file).
    case huggingFaceTF

    /// The format of the file at `path` (an HDF5 file is opened to read its root attribute).
    public static func detect(_ path: String) throws -> ModelFileFormat {
        if path.hasSuffix(".safetensors") { return .huggingFaceSafetensors }
        if path.hasSuffix(".pth") || path.hasSuffix(".pt") { return .transformerLensCheckpoint }
        let f = try HDF5File(path: path)
        return (try? f.attribute("format").stringValue) == GPT2Weights.hdf5Format ? .ours : .huggingFaceTF
    }

    /// The weights file in a model folder as its hub repository ships it: `model.safetensors`,
    /// `tf_model.h5`, or a TransformerLens `*final.pth` (the file TransformerLens's loader takes from
    /// such a repository) — the first that exists, in that order; nil when there is none.
    public static func weightsFile(inFolder folder: String) -> String? {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
        for candidate in ["model.safetensors", "tf_model.h5"] where names.contains(candidate) { return folder + "/" + candidate }
        return names.first { $0.hasSuffix("final.pth") }.map { folder + "/" + $0 }
    }
}

extension GPT2Weights {
    /// Loads a model file of any ``ModelFileFormat``, unprocessed; `config` configures HuggingFace
    /// weights (our layout carries its own and ignores it; a TransformerLens checkpoint reads the
    /// repository `config.json` beside it — see ``load(transformerLensCheckpoint:config:)`` for another).
    public static func load(file path: String, config: HuggingFaceConfigSource = .beside,
                            warn: (String) -> Void = defaultWarning) throws -> GPT2Weights {
        switch try ModelFileFormat.detect(path) {
        case .huggingFaceSafetensors: return try load(huggingFaceSafetensors: path, config: config, warn: warn)
        case .ours: return try load(hdf5: path)
        case .huggingFaceTF: return try load(tfH5: path, config: config, warn: warn)
        case .transformerLensCheckpoint:
            guard case .beside = config else {
                throw TransformerError.invalidModelFile(file: path, detail: "a TransformerLens checkpoint is configured by its repository's config.json, not a HuggingFace config")
            }
            return try load(transformerLensCheckpoint: path)
        }
    }
}

/// Prints a loader's warning to standard error.
public func defaultWarning(_ message: String) {
    FileHandle.standardError.write(("warning: " + message + "\n").data(using: .utf8)!)
}
