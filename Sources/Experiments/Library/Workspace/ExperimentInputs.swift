// ExperimentInputs: where the model, tokenizer and corpus come from — the planted-circuit model and the
// default corpus unless files are given — and the checks that name what is missing.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

/// An input that cannot be used, named with what to do about it.
public struct ExperimentInputError: Error, CustomStringConvertible, Sendable, Equatable {
    public let detail: String
    public init(_ detail: String) { self.detail = detail }
    public var description: String { detail }
}

/// Where the model, tokenizer and corpus come from.
public struct ExperimentInputs: Sendable {
    /// A GPT-2 model file (`tf_model.h5`, `model.safetensors`, or our HDF5); nil = the planted-circuit model.
    public var modelPath: String?
    /// The HuggingFace `config.json` of the model file when it is not beside it (`--config`).
    public var modelConfigPath: String?
    /// Folder with `encoder.json` and `vocab.bpe` (default: ``GPT2Tokenizer/defaultDirectory``).
    public var tokenizerDirectory: String?
    /// Corpus files or folders (text, `.jsonl`, nanoGPT/llm.c `.bin`); empty = the default corpus.
    public var corpus: [String] = []
    public init(modelPath: String? = nil, modelConfigPath: String? = nil, tokenizerDirectory: String? = nil, corpus: [String] = []) {
        self.modelPath = modelPath; self.modelConfigPath = modelConfigPath; self.tokenizerDirectory = tokenizerDirectory; self.corpus = corpus
    }

    /// The default corpus: the Python documentation sources the setup links into the cache.
    public static var defaultCorpus: String { ProjectCache.root + "/corpus/python3-doc" }

    /// Whether every input is the default one (the planted model, the default corpus).
    public var isDefault: Bool { modelPath == nil && corpus.isEmpty }

    /// The tokenizer: GPT-2's `encoder.json` + `vocab.bpe` in the folder, or else a HuggingFace
    /// `tokenizer.json` there (byte-level BPE, e.g. GPT-NeoX-style; ``GPT2Tokenizer/init(tokenizerJSON:)``).
    public func loadTokenizer() throws -> GPT2Tokenizer {
        let dir = tokenizerDirectory ?? GPT2Tokenizer.defaultDirectory
        let exists = { (f: String) in FileManager.default.fileExists(atPath: dir + "/" + f) }
        if !exists("encoder.json") && exists("tokenizer.json") { return try GPT2Tokenizer(tokenizerJSON: dir + "/tokenizer.json") }
        for f in ["encoder.json", "vocab.bpe"] where !exists(f) {
            throw ExperimentInputError("tokenizer file \(dir)/\(f) is missing; run Scripts/setup (it fetches the GPT-2 tokenizer files) or pass --tokenizer <folder> (with encoder.json and vocab.bpe, or a tokenizer.json)")
        }
        return try GPT2Tokenizer(directory: dir)
    }

    /// The corpus as a spec (``CorpusSpec/detect(_:)`` tells the formats apart), after checking the paths exist.
    public func corpusSpec() throws -> CorpusSpec {
        let paths = corpus.isEmpty ? [Self.defaultCorpus] : corpus
        for p in paths where !FileManager.default.fileExists(atPath: p) {
            throw ExperimentInputError(corpus.isEmpty
                ? "the default corpus \(p) is missing; run Scripts/setup (it installs Debian's python3-doc) or pass --corpus <files>"
                : "corpus path \(p) does not exist")
        }
        return CorpusSpec.detect(paths)
    }

    /// The model file's weights as stored (no processing). HuggingFace weights are configured by
    /// ``modelConfigPath`` or the `config.json` beside them; without either, `warn` is told what was assumed.
    public func loadWeights(warn: (String) -> Void = defaultWarning) throws -> GPT2Weights {
        guard let path = modelPath else {
            if let c = modelConfigPath { throw ExperimentInputError("--config \(c) was given without --model; it configures HuggingFace weights") }
            return try PlantedCircuitModel.loadOrBuild()
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw ExperimentInputError("model file \(path) does not exist; give a tf_model.h5, model.safetensors or a model written by this toolkit")
        }
        var source = GPT2Weights.HuggingFaceConfigSource.beside
        if let c = modelConfigPath {
            guard FileManager.default.fileExists(atPath: c) else { throw ExperimentInputError("model config \(c) does not exist") }
            guard try ModelFileFormat.detect(path) != .ours else {
                throw ExperimentInputError("\(path) is in this toolkit's layout, which carries its own configuration; --config \(c) is for HuggingFace weights")
            }
            source = .config(try HuggingFaceGPT2Config(contentsOf: c))
        }
        return try GPT2Weights.load(file: path, config: source, warn: warn)
    }

    /// Loads the model (TransformerLens-processed, as the paper's SAEs expect).
    public func loadModel(log: (String) -> Void = { _ in }) throws -> LoadedModel {
        guard let path = modelPath else {
            let file = PlantedCircuitModel.cachePath()
            if !FileManager.default.fileExists(atPath: file) { log("building the planted-circuit model into \(file)") }
            let weights = try PlantedCircuitModel.loadOrBuild()
            return LoadedModel(model: GPT2(weights: weights.processed()), roles: .standard,
                               name: "planted-circuit model v\(PlantedCircuitModel.version)", path: file)
        }
        let weights = try loadWeights(warn: { log("warning: " + $0) })
        let roles = try ModelFileFormat.detect(path) == .ours ? PlantedCircuitModel.Roles(hdf5: path) : nil     // only our layout carries roles
        return LoadedModel(model: GPT2(weights: weights.processed()), roles: roles, name: (path as NSString).lastPathComponent, path: path)
    }
}
