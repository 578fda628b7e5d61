// TraceInputs: the SAEs a trace runs on — given as files or folders, or the planted model's defaults —
// each checked against the model before any work.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

extension Workspace {
    /// The SAE files named by `references`: each is an SAE (a SAELens folder with `cfg.json`, or the paper's
    /// `.pt` with its `_cfg.json`), a folder of them (its sub-folders with a `cfg.json` and its `.pt` files,
    /// in name order), or a release id or cached hub repository (``SAEReference``).
    func saeFiles(_ references: [String]) throws -> [String] {
        var out: [String] = []
        let fm = FileManager.default
        for p in try references.flatMap({ try SAEReference.resolve($0, cache: inputs.hubCache) }) {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: p, isDirectory: &isDir) else { throw ExperimentInputError("SAE \(p) does not exist") }
            if !isDir.boolValue || fm.fileExists(atPath: p + "/cfg.json") { out.append(p); continue }
            let entries = try fm.contentsOfDirectory(atPath: p).sorted()
            let found = entries.map { p + "/" + $0 }.filter { fm.fileExists(atPath: $0 + "/cfg.json") || $0.hasSuffix(".pt") }
            guard !found.isEmpty else { throw ExperimentInputError("\(p) holds no SAE: expected a cfg.json (a SAELens folder), sub-folders with one, or .pt files") }
            out += found
        }
        return out
    }

    /// The attention SAEs `references` name, for Table 2 (``SAEReference``: files, folders of them, release
    /// ids, cached repositories), keeping those of `layers` when given — a release's other layers are not
    /// even looked for. `cfg` is the `_cfg.json` of a single `.pt`.
    public func givenSAEs(_ references: [String], layers: [Int]? = nil, cfg: String? = nil) throws -> [TrainingSection.GivenSAE] {
        var paths: [String] = []
        for r in references {
            if let release = SAERelease.named(r) {
                paths += try release.localPaths(layers: layers.map { $0.filter { release.paths[$0] != nil } }, cache: inputs.hubCache)
            } else {
                paths += try saeFiles([r])
            }
        }
        if cfg != nil && paths.count != 1 { throw ExperimentInputError("--cfg is the _cfg.json of one .pt; \(paths.count) SAEs were given") }
        var out: [TrainingSection.GivenSAE] = []
        for p in paths {
            let sae = try loadSAE(p, cfg: cfg)
            if let layers, !layers.contains(sae.layer) { continue }
            out.append(.init(sae, path: p))
        }
        guard !out.isEmpty else {
            throw ExperimentInputError("no SAE to evaluate: \(references.joined(separator: ", ")) hold\(references.count == 1 ? "s" : "") none" + (layers.map { " of layers \($0.map(String.init).joined(separator: ","))" } ?? ""))
        }
        return out
    }

    /// Loads an SAE file of any format we read — a SAELens folder, or the paper's `.pt` with its `_cfg.json`
    /// (`cfg`, when not beside it) — without checking its hook or width.
    func loadAnySAE(_ path: String, cfg: String? = nil) throws -> SAE { try SAEReference.load(path, cfg: cfg) }

    /// A tracer on this workspace's model with the attention SAEs at `attention` and the residual SAEs at
    /// `residual` (paths as ``saeFiles(_:)`` reads them). With no attention SAE given on the planted model,
    /// its default SAE (``attentionSAE(_:cfg:)``). Returns the tracer and the SAEs' names.
    /// - Throws: ``ExperimentInputError`` naming the file whose hook or width does not fit, or two SAEs for one layer.
    public func tracer(attention: [String], residual: [String]) throws -> (tracer: CircuitTracer, names: [String]) {
        let c = model.model.config
        var attn: [AttentionSAE] = [], resid: [ResidualSAE] = [], names: [String] = []
        if attention.isEmpty {
            attn.append(try attentionSAE(nil))
            names.append(attn[0].sae.config.provenance.path ?? "the planted model's default SAE")
        }
        for path in try saeFiles(attention) {
            let sae = try loadAnySAE(path)
            do { attn.append(try AttentionSAE(sae, model: c)) } catch let e as InterpError {
                throw ExperimentInputError("attention SAE \(path): \(e)")
            }
            names.append(path)
        }
        for path in try saeFiles(residual) {
            let sae = try loadAnySAE(path)
            do { resid.append(try ResidualSAE(sae, model: c)) } catch let e as InterpError {
                throw ExperimentInputError("residual SAE \(path): \(e)")
            }
            names.append(path)
        }
        do {
            return (try CircuitTracer(model: model.model, attentionSAEs: attn, residualSAEs: resid), names)
        } catch let e as TraceError {
            throw ExperimentInputError("\(e): give one SAE of each kind per layer")
        }
    }
}
