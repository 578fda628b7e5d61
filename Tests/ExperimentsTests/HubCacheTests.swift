// HubCacheTests: hub ids, dataset ids and SAE release ids resolved offline from a cache folder laid out
// as huggingface_hub and datasets lay theirs out (refs/main → snapshots/<commit>/… as symbolic links
// into blobs/), built here from the test fixtures; every miss names the repository, the file and the
// download command.

import Foundation
import Testing
import TensorTestSupport
@testable import Experiments
import Interp
import SparseAutoencoder
import Tensor
import Transformer

/// A Hugging Face cache folder written the way huggingface_hub writes one.
struct FakeHubCache {
    let root: URL
    var cache: HubCache { HubCache(hubRoot: root.path + "/hub", datasetsRoot: root.path + "/datasets") }

    init() { root = temporaryDirectory() }

    /// Adds repository `id` with `files` (path in the repository → source file), as blobs linked from
    /// the snapshot of a commit that refs/main names.
    func add(_ id: String, kind: HubCache.Kind, files: [String: URL], commit: String = "0123456789abcdef0123456789abcdef01234567") throws {
        let fm = FileManager.default
        let repo = cache.repositoryFolder(id, kind: kind)
        try fm.createDirectory(atPath: repo + "/blobs", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: repo + "/refs", withIntermediateDirectories: true)
        try commit.write(toFile: repo + "/refs/main", atomically: true, encoding: .utf8)
        for (i, (path, source)) in files.sorted(by: { $0.key < $1.key }).enumerated() {
            let blob = "blob\(i)" + String(repeating: "0", count: 34)
            try? fm.removeItem(atPath: repo + "/blobs/" + blob)
            try fm.copyItem(at: source, to: URL(fileURLWithPath: repo + "/blobs/" + blob))
            let link = repo + "/snapshots/" + commit + "/" + path
            try fm.createDirectory(atPath: (link as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let depth = path.split(separator: "/").count - 1
            try fm.createSymbolicLink(atPath: link, withDestinationPath: String(repeating: "../", count: depth + 2) + "blobs/" + blob)
        }
    }
}

@Suite struct HubCacheTests {
    static let kissane = fixturesDirectory(ofTarget: "SparseAutoencoderTests").appendingPathComponent("kissane")
    static let kissaneName = "gpt2-small_L1_Hcat_z_lr1.20e-03_l18.00e-01_ds32_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v5"

    @Test func theCacheFoldersFollowTheEnvironmentAsHuggingFaceDoes() {
        #expect(HubCache(environment: ["HOME": "/h"]).hubRoot == "/h/.cache/huggingface/hub")
        #expect(HubCache(environment: ["HOME": "/h"]).datasetsRoot == "/h/.cache/huggingface/datasets")
        #expect(HubCache(environment: ["HOME": "/h", "XDG_CACHE_HOME": "/x"]).hubRoot == "/x/huggingface/hub")
        #expect(HubCache(environment: ["HOME": "/h", "HF_HOME": "/hf"]).hubRoot == "/hf/hub")
        #expect(HubCache(environment: ["HOME": "/h", "HF_HOME": "/hf", "HF_HUB_CACHE": "/c"]).hubRoot == "/c")
        #expect(HubCache(environment: ["HOME": "/h", "HF_HOME": "/hf", "HF_DATASETS_CACHE": "/d"]).datasetsRoot == "/d")
        for id in ["gpt2", "NeelNanda/GELU_2L512W_C4_Code", "Skylion007/openwebtext", "gpt2-small-hook-z-kk"] { #expect(HubCache.looksLikeRepoID(id)) }
        for path in ["./gpt2", "a/b/c", "/abs", "..", "a/..", "dir/", "x y"] { #expect(!HubCache.looksLikeRepoID(path), "\(path)") }
    }

    @Test func hubModelIdsLoadTheSnapshotWithItsTokenizer() throws {
        let hub = FakeHubCache()
        defer { try? FileManager.default.removeItem(at: hub.root) }
        let folder = fixturesDirectory(ofTarget: "TransformerTests").appendingPathComponent("hf_dhead16")
        let tokenizer = URL(fileURLWithPath: GPT2Tokenizer.defaultDirectory)
        try hub.add("gpt2", kind: .model, files: [
            "config.json": folder.appendingPathComponent("config.json"), "model.safetensors": folder.appendingPathComponent("model.safetensors"),
            "vocab.json": tokenizer.appendingPathComponent("encoder.json"), "merges.txt": tokenizer.appendingPathComponent("vocab.bpe"),
        ])
        var inputs = ExperimentInputs(modelPath: "gpt2")
        inputs.hubCache = hub.cache
        let viaHub = try inputs.loadModel()
        let direct = try ExperimentInputs(modelPath: folder.path).loadModel()
        #expect(viaHub.name == "gpt2" && viaHub.model.config == direct.model.config)
        let tokens = IndexTensor(shape: [1, 5], values: [50256, 11, 22, 33, 44].map { $0 % direct.model.config.dVocab })
        #expect(try viaHub.model.logits(tokens) == direct.model.logits(tokens))
        // The snapshot's vocab.json + merges.txt are GPT-2's tokenizer.
        let tok = try inputs.loadTokenizer()
        let text = "The hub's files, offline: ünïcödé 123."
        #expect(tok.encode(text) == (try GPT2Tokenizer()).encode(text))
        // A TransformerLens repository (config.json + model_final.pth), by its id.
        let tl = fixturesDirectory(ofTarget: "TransformerTests").appendingPathComponent("tl-checkpoint/standard")
        try hub.add("NeelNanda/GELU_2L512W_C4_Code", kind: .model, files: [
            "config.json": tl.appendingPathComponent("config.json"), "model_final.pth": tl.appendingPathComponent("model_final.pth"),
        ])
        var gelu = ExperimentInputs(modelPath: "NeelNanda/GELU_2L512W_C4_Code")
        gelu.hubCache = hub.cache
        let g = try gelu.loadModel()
        let tlDirect = try ExperimentInputs(modelPath: tl.path).loadModel()
        #expect(g.name == "NeelNanda/GELU_2L512W_C4_Code" && g.model.config == tlDirect.model.config)
        // Not cached: the error names the repository and the download command.
        var missing = ExperimentInputs(modelPath: "EleutherAI/pythia-70m")
        missing.hubCache = hub.cache
        #expect { try missing.loadModel() } throws: { e in
            let d = (e as? ExperimentInputError)?.detail ?? ""
            return d.contains("EleutherAI/pythia-70m") && d.contains("huggingface-cli download EleutherAI/pythia-70m") && d.contains(hub.cache.hubRoot)
        }
    }

    @Test func datasetIdsReadThePreparedCacheOrTheHubSnapshot() throws {
        let hub = FakeHubCache()
        defer { try? FileManager.default.removeItem(at: hub.root) }
        let corpora = fixturesDirectory(ofTarget: "InterpTests").appendingPathComponent("corpora")
        try hub.add("Skylion007/openwebtext", kind: .dataset, files: [
            "README.md": corpora.appendingPathComponent("notes.txt"),
            "plain_text/train-00000-of-00002.parquet": corpora.appendingPathComponent("dict-snappy.parquet"),
            "plain_text/train-00001-of-00002.parquet": corpora.appendingPathComponent("plain-zstd-v2.parquet"),
        ])
        var inputs = ExperimentInputs(corpus: ["Skylion007/openwebtext"])
        inputs.hubCache = hub.cache
        let spec = try inputs.corpusSpec()
        #expect(spec.files.map { ($0.path as NSString).lastPathComponent } == ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"])
        #expect(spec.files.allSatisfy { $0.format == .parquet })
        // Once `load_dataset` has prepared it, its Arrow files (the train split's) are read instead.
        let prepared = hub.cache.datasetsRoot + "/Skylion007___openwebtext/plain_text/0.0.0/83a1b2c3d4"
        try FileManager.default.createDirectory(atPath: prepared, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: corpora.appendingPathComponent("stream.arrow"), to: URL(fileURLWithPath: prepared + "/openwebtext-train.arrow"))
        try FileManager.default.copyItem(at: corpora.appendingPathComponent("stream.arrow"), to: URL(fileURLWithPath: prepared + "/openwebtext-test.arrow"))
        try FileManager.default.copyItem(at: corpora.appendingPathComponent("stream.arrow"), to: URL(fileURLWithPath: prepared + "/cache-1234.arrow"))
        try "{}".write(toFile: prepared + "/dataset_info.json", atomically: true, encoding: .utf8)
        let again = try inputs.corpusSpec()
        #expect(again.files.map(\.path) == [prepared + "/openwebtext-train.arrow"] && again.files[0].format == .arrow)
        // Unknown ids: the error says how to get the dataset.
        var unknown = ExperimentInputs(corpus: ["allenai/c4"])
        unknown.hubCache = hub.cache
        #expect { try unknown.corpusSpec() } throws: { e in
            let d = (e as? ExperimentInputError)?.detail ?? ""
            return d.contains("allenai/c4") && d.contains("load_dataset('allenai/c4')") && d.contains("--repo-type dataset")
        }
    }

    @Test func saeReleaseIdsResolveEachLayerOrSayWhatToDownload() throws {
        let hub = FakeHubCache()
        defer { try? FileManager.default.removeItem(at: hub.root) }
        let release = try #require(SAERelease.named("gpt2-small-hook-z-kk"))
        let l1 = try #require(release.paths[1])
        try hub.add(release.repository, kind: .model, files: [
            l1: Self.kissane.appendingPathComponent(Self.kissaneName + ".pt"),
            String(l1.dropLast(3)) + "_cfg.json": Self.kissane.appendingPathComponent(Self.kissaneName + "_cfg.json"),
        ])
        let path = try SAEReference.resolveOne("gpt2-small-hook-z-kk", layer: 1, cache: hub.cache)
        #expect(path.hasSuffix("/" + l1))
        let viaRelease = try SAE.load(kissanePT: path, cfg: nil)
        let direct = try SAE.load(kissanePT: Self.kissane.appendingPathComponent(Self.kissaneName + ".pt").path, cfg: nil)
        #expect(viaRelease.wEnc == direct.wEnc && viaRelease.config.dSAE == direct.config.dSAE)
        // SAELens's SAE id names the layer too.
        #expect(try SAEReference.resolve("gpt2-small-hook-z-kk/blocks.1.hook_z", cache: hub.cache) == [path])
        // The repository id with a layer finds the file by its name.
        #expect(try SAEReference.resolve(release.repository, layer: 1, cache: hub.cache) == [path])
        // Layer 5 is not downloaded: the error names both files and the command.
        #expect { try SAEReference.resolve("gpt2-small-hook-z-kk", layer: 5, cache: hub.cache) } throws: { e in
            let d = (e as? ExperimentInputError)?.detail ?? ""
            return d.contains("huggingface-cli download ckkissane/attn-saes-gpt2-small-all-layers " + release.paths[5]!)
                && d.contains(String(release.paths[5]!.dropLast(3)) + "_cfg.json") && d.contains("ds49152")
        }
        #expect(throws: ExperimentInputError.self) { try SAEReference.resolve("gpt2-small-hook-z-kk", layer: 12, cache: hub.cache) }
        #expect(throws: ExperimentInputError.self) { try SAEReference.resolveOne("gpt2-small-hook-z-kk", cache: hub.cache) }
        #expect(throws: ExperimentInputError.self) { try SAEReference.resolve("gpt2-small-hook-z-kk/blocks.x.hook_z", cache: hub.cache) }
        // The residual release: SAELens folders per layer.
        let jb = fixturesDirectory(ofTarget: "SparseAutoencoderTests").appendingPathComponent("saelens-resid-jb")
        try hub.add("jbloom/GPT2-Small-SAEs-Reformatted", kind: .model, files: [
            "blocks.0.hook_resid_pre/cfg.json": jb.appendingPathComponent("cfg.json"),
            "blocks.0.hook_resid_pre/sae_weights.safetensors": jb.appendingPathComponent("sae_weights.safetensors"),
        ])
        let resid = try SAEReference.resolveOne("gpt2-small-res-jb", layer: 0, cache: hub.cache)
        #expect(try SAE.load(saeLens: resid).wDec == SAE.load(saeLens: jb.path).wDec)
    }
}
