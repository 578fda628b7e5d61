// SAE+Formats: the paper's `.pt` + `_cfg.json` checkpoints (read) and SAELens folders (read and write).

import Foundation
import Tensor

/// A problem with an SAE file that is not about the file's byte format (those are `FileFormatError`).
public enum SAEFormatError: Error, CustomStringConvertible, Sendable, Equatable {
    case missingKey(file: String, key: String)
    case shapeMismatch(file: String, tensor: String, expected: [Int], found: [Int])
    case unsupported(file: String, detail: String)
    /// A value outside its allowed range (named in `detail`).
    case invalidValue(file: String, key: String, detail: String)

    public var description: String {
        switch self {
        case .invalidValue(let f, let k, let d): "\(f): '\(k)' \(d)"
        case .missingKey(let f, let k): "\(f): missing '\(k)'"
        case .shapeMismatch(let f, let t, let e, let s): "\(f): tensor '\(t)' has shape \(s), expected \(e)"
        case .unsupported(let f, let d): "\(f): \(d)"
        }
    }
}

extension SAE {
    /// A JSON integer in `range` (an integral number: `1.5`, `1e30` or `true` are refused).
    static func jsonInt(_ cfg: [String: Any], _ key: String, _ range: ClosedRange<Int>, file: String) throws -> Int {
        guard let raw = cfg[key] else { throw SAEFormatError.missingKey(file: file, key: key) }
        // JSON's true/false arrive as NSNumber too (objCType "c"); they are not numbers here.
        guard let n = raw as? NSNumber, String(cString: n.objCType) != "c", let d = Double(exactly: n.doubleValue),
              d.rounded() == d, d >= Double(range.lowerBound), d <= Double(range.upperBound) else {
            throw SAEFormatError.invalidValue(file: file, key: key, detail: "is \(raw), expected an integer in \(range.lowerBound)…\(range.upperBound)")
        }
        return Int(d)
    }

    /// The config, with `headLayout` if given (checked against `d_in`). None is guessed from the hook
    /// name: the files do not record `d_head`; the model does (Interp's `AttentionSAE` sets it from there).
    static func config(dIn: Int, dSAE: Int, hook: String, headLayout: HeadLayout?, applyBDec: Bool, architecture: SAEArchitecture = .standard,
                       provenance: SAEProvenance, file: String) throws -> SAEConfig {
        try SAEConfig.check(dIn: dIn, dSAE: dSAE, headLayout: headLayout, file: file)
        let config = SAEConfig(dIn: dIn, dSAE: dSAE, hookName: hook, headLayout: headLayout, applyBDecToInput: applyBDec,
                               architecture: architecture, provenance: provenance)
        try config.validate(file: file)
        return config
    }

    /// Checks and assembles the four tensors (five with JumpReLU's `threshold`).
    static func assemble(_ config: SAEConfig, file: String, _ get: (String) throws -> Tensor?) throws -> SAE {
        try config.validate(file: file)
        let expected = ["W_enc": [config.dIn, config.dSAE], "b_enc": [config.dSAE], "W_dec": [config.dSAE, config.dIn], "b_dec": [config.dIn],
                        "threshold": [config.dSAE]]
        var t: [String: Tensor] = [:]
        for name in ["W_enc", "b_enc", "W_dec", "b_dec"] + (config.architecture == .jumpReLU ? ["threshold"] : []) {
            guard let v = try get(name) else { throw SAEFormatError.missingKey(file: file, key: name) }
            guard v.shape == expected[name]! else {
                throw SAEFormatError.shapeMismatch(file: file, tensor: name, expected: expected[name]!, found: v.shape)
            }
            t[name] = v
        }
        if let th = t["threshold"], th.withUnsafeBufferPointer({ $0.contains { !$0.isFinite } }) {
            throw SAEFormatError.invalidValue(file: file, key: "threshold", detail: "has a non-finite entry")
        }
        return SAE(config: config, wEnc: t["W_enc"]!, bEnc: t["b_enc"]!, wDec: t["W_dec"]!, bDec: t["b_dec"]!, threshold: t["threshold"])
    }

    static func readJSON(_ path: String) throws -> [String: Any] {
        let data = Data(try SmallFile.read(path, format: "JSON", maxBytes: 1 << 24))
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw FileFormatError(path: path, format: "JSON", reason: .corrupt, detail: "not a JSON object")
        }
        return object
    }

    // MARK: The paper's checkpoints

    /// Loads one of the paper's SAEs: `<run>.pt` (a `torch.save`d state_dict with `W_enc`, `W_dec`,
    /// `b_enc`, `b_dec`) and its `<run>_cfg.json` (default: the `.pt` path with `.pt` replaced by
    /// `_cfg.json`). `d_in`, `d_sae` and the hook come from the cfg's `act_size`, `dict_size` and
    /// `act_name`; the head layout defaults to GPT-2's (`d_head` 64) for `hook_z`.
    public static func load(kissanePT path: String, cfg cfgPath: String? = nil, headLayout: HeadLayout? = nil) throws -> SAE {
        let cfgFile = cfgPath ?? (path.hasSuffix(".pt") ? String(path.dropLast(3)) + "_cfg.json" : path + "_cfg.json")
        let cfg = try readJSON(cfgFile)
        let dIn = try jsonInt(cfg, "act_size", SAEConfig.dInRange, file: cfgFile)
        let dSAE = try jsonInt(cfg, "dict_size", SAEConfig.dSAERange, file: cfgFile)
        guard let hook = cfg["act_name"] as? String else { throw SAEFormatError.missingKey(file: cfgFile, key: "act_name") }
        var notes: [String: String] = ["cfg": cfgFile]
        for key in ["name", "l1_coeff", "lr", "seed", "layer", "model_name"] {
            if let v = cfg[key] { notes[key] = "\(v)" }
        }
        let config = try config(dIn: dIn, dSAE: dSAE, hook: hook, headLayout: headLayout, applyBDec: true,
                                provenance: SAEProvenance(source: "kissane-pt", path: path, notes: notes), file: cfgFile)
        let ckpt = try TorchCheckpoint(contentsOf: path)
        return try assemble(config, file: path) { name in ckpt.names.contains(name) ? try ckpt.tensor(name) : nil }
    }

    // MARK: SAELens

    /// Loads a SAELens folder (`sae_weights.safetensors` + `cfg.json`) of architecture "standard", "topk"
    /// (`k`) or "jumprelu" (a `threshold [d_sae]` tensor) — what SAELens 6 saves, BatchTopK included (it
    /// is saved as "jumprelu"), and the older layout of SAELens's `gpt2-small-res-jb` release. The hook
    /// name is read from `metadata.hook_name` (SAELens ≥ 6), `hook_name` or `hook_point` (older); any hook
    /// is accepted (attention SAEs on `hook_z`, residual SAEs on `hook_resid_pre`, …). A TopK SAE with `rescale_acts_by_decoder_norm: true` has its decoder norms
    /// folded in as SAELens folds them when saving a trained one (`b_enc ← b_enc·‖W_dec‖`,
    /// `W_enc[:, j] ← W_enc[:, j]·‖W_dec[j]‖`, `W_dec[j] ← W_dec[j]/‖W_dec[j]‖`): the same encoding up to
    /// rounding. Activation normalisation other than "none" is refused: the weights would not be usable as
    /// they are.
    public static func load(saeLens folder: String, headLayout: HeadLayout? = nil) throws -> SAE {
        let cfgFile = folder + "/cfg.json", weights = folder + "/sae_weights.safetensors"
        let cfg = try readJSON(cfgFile)
        let dIn = try jsonInt(cfg, "d_in", SAEConfig.dInRange, file: cfgFile)
        let dSAE = try jsonInt(cfg, "d_sae", SAEConfig.dSAERange, file: cfgFile)
        let metadata = cfg["metadata"] as? [String: Any] ?? [:]
        // SAELens ≥ 6: metadata.hook_name; before: hook_name, or hook_point (the gpt2-small-res-jb release's layout).
        guard let hook = (metadata["hook_name"] ?? cfg["hook_name"] ?? cfg["hook_point"]) as? String else {
            throw SAEFormatError.missingKey(file: cfgFile, key: "metadata.hook_name")
        }
        let architecture: SAEArchitecture, rescale: Bool
        switch cfg["architecture"] as? String ?? "standard" {
        case "standard": (architecture, rescale) = (.standard, false)
        case "jumprelu": (architecture, rescale) = (.jumpReLU, false)
        case "topk":
            architecture = .topK(k: try jsonInt(cfg, "k", 1...dSAE, file: cfgFile))
            let raw = cfg["rescale_acts_by_decoder_norm"] ?? false
            guard let r = raw as? Bool else {
                throw SAEFormatError.invalidValue(file: cfgFile, key: "rescale_acts_by_decoder_norm", detail: "is \(raw), expected true or false")
            }
            rescale = r
        case let other:
            throw SAEFormatError.unsupported(file: cfgFile, detail: "architecture '\(other)'; supported: 'standard', 'topk', 'jumprelu' (BatchTopK SAEs are saved as 'jumprelu')")
        }
        // Before SAELens 6 the field was a boolean (false: none; true: "expected_average_only_in"); absent: none.
        let normalize: String
        switch cfg["normalize_activations"] {
        case nil, is NSNull: normalize = "none"
        case let n as NSNumber where String(cString: n.objCType) == "c": normalize = n.boolValue ? "expected_average_only_in" : "none"
        case let text as String: normalize = text
        case let other?:
            throw SAEFormatError.invalidValue(file: cfgFile, key: "normalize_activations", detail: "is \(other), expected a string or a boolean")
        }
        guard normalize == "none" else {
            throw SAEFormatError.unsupported(file: cfgFile, detail: "normalize_activations '\(normalize)'; fold the normalisation into the weights first")
        }
        let applyBDec = (cfg["apply_b_dec_to_input"] as? Bool) ?? true
        var notes: [String: String] = [:]
        if let v = metadata["sae_lens_version"] as? String { notes["sae_lens_version"] = v }
        if rescale { notes["rescale_acts_by_decoder_norm"] = "folded into W_enc, b_enc and W_dec on loading" }
        let config = try config(dIn: dIn, dSAE: dSAE, hook: hook, headLayout: headLayout, applyBDec: applyBDec, architecture: architecture,
                                provenance: SAEProvenance(source: "saelens", path: folder, notes: notes), file: cfgFile)
        let file = try SafeTensorsFile(contentsOf: weights)
        var sae = try assemble(config, file: weights) { name in file.names.contains(name) ? try file.tensor(name) : nil }
        if rescale { sae.foldDecoderNorms() }
        return sae
    }

    /// Folds the decoder row norms into the encoder so every `W_dec` row has unit norm and the
    /// reconstruction is unchanged: `n_j = ‖W_dec[j]‖`, `W_enc[:, j] ← W_enc[:, j]·n_j`, `b_enc[j] ← b_enc[j]·n_j`,
    /// `W_dec[j] ← W_dec[j]/n_j` (and JumpReLU's `θ_j ← θ_j·n_j`), as SAELens's `fold_W_dec_norm`.
    /// Activations scale by `n_j` (for a TopK SAE trained with `rescale_acts_by_decoder_norm` this is
    /// exactly its encoding).
    public mutating func foldDecoderNorms() {
        let norms = wDec.l2Norm(axis: -1)                                     // [d_sae]
        wEnc = (wEnc * norms.reshaped([1, config.dSAE])).contiguous()
        bEnc = (bEnc * norms).contiguous()
        wDec = (wDec / norms.reshaped([config.dSAE, 1])).contiguous()
        threshold = threshold.map { ($0 * norms).contiguous() }
    }

    /// The `cfg.json` ``save(saeLens:)`` writes (also SAEBench's `sae_cfg_dict`).
    public var saeLensConfig: [String: Any] {
        var cfg: [String: Any] = [
            "architecture": config.architecture.saeLensName, "d_in": config.dIn, "d_sae": config.dSAE, "dtype": "float32", "device": "cpu",
            "apply_b_dec_to_input": config.applyBDecToInput, "normalize_activations": "none",
            "reshape_activations": config.headLayout != nil ? "hook_z" : "none",
            // SAELens reads a folder as its 6.x layout only when metadata.sae_lens_version is ≥ 6.0.0
            // (otherwise it looks for a top-level hook_name): name the layout version we write.
            "metadata": ["hook_name": config.hookName, "sae_lens_version": SAE.saeLensFormatVersion,
                         "sae_lens_training_version": "attention-saes-swift"],
        ]
        if case .topK(let k) = config.architecture {
            cfg["k"] = k
            cfg["rescale_acts_by_decoder_norm"] = false
        }
        return cfg
    }

    /// The SAELens layout version ``save(saeLens:)`` writes (checked with SAELens 6.54).
    public static let saeLensFormatVersion = "6.0.0"

    /// Writes a SAELens folder (`sae_weights.safetensors` with F32 `W_enc`, `W_dec`, `b_enc`, `b_dec` and,
    /// for JumpReLU, `threshold`; a SAELens-6 `cfg.json` with `architecture` and, for TopK, `k` and
    /// `rescale_acts_by_decoder_norm: false`), so SAELens's `SAE.load_from_disk` reads it as a
    /// `StandardSAE`, `TopKSAE` or `JumpReLUSAE`. Each file is written atomically; the folder is created if needed.
    public func save(saeLens folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var tensors = ["W_enc": wEnc, "W_dec": wDec, "b_enc": bEnc, "b_dec": bDec]
        if let threshold { tensors["threshold"] = threshold }
        try SafeTensorsFile.write(tensors, to: folder + "/sae_weights.safetensors")
        let cfg = saeLensConfig
        let data = try JSONSerialization.data(withJSONObject: cfg, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data, to: folder + "/cfg.json", format: "JSON")
    }
}
