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
    /// A model file (`tf_model.h5`, `model.safetensors`, a TransformerLens `model_final.pth`, or our HDF5)
    /// or a folder holding one as its hub repository does (``ModelFileFormat/weightsFile(inFolder:)``);
    /// nil = the planted-circuit model.
    public var modelPath: String?
    /// The model's `config.json` when it is not beside the weights (`--config`): HuggingFace's for
    /// HuggingFace weights, the repository's for a TransformerLens checkpoint.
    public var modelConfigPath: String?
    /// Folder with `encoder.json` + `vocab.bpe` or a `tokenizer.json` (default: the model's folder when it
    /// has one of those, else ``GPT2Tokenizer/defaultDirectory``).
    public var tokenizerDirectory: String?
    /// Corpus files or folders (any format ``CorpusSpec/detect(_:textField:)`` reads); empty = the default corpus.
    public var corpus: [String] = []
    /// The field holding the text in JSON, Parquet and Arrow corpora.
    public var textField = "text"
    /// How documents become token rows.
    public enum RowRecipe: Sendable, Equatable {
        /// Docs/Method.md §1.2 (``TokenRowStream/Recipe/documents``).
        case documents
        /// TransformerLens's concatenation of the GELU-2L era (``TokenRowStream/Recipe/transformerLensConcatenate(padID:)``),
        /// with the tokenizer's pad token as text (nil: none).
        case transformerLensConcatenate(padToken: String?)
    }
    public var rowRecipe = RowRecipe.documents
    public init(modelPath: String? = nil, modelConfigPath: String? = nil, tokenizerDirectory: String? = nil, corpus: [String] = []) {
        self.modelPath = modelPath; self.modelConfigPath = modelConfigPath; self.tokenizerDirectory = tokenizerDirectory; self.corpus = corpus
    }

    /// The default corpus: the Python documentation sources the setup links into the cache.
    public static var defaultCorpus: String { ProjectCache.root + "/corpus/python3-doc" }

    /// Whether every input is the default one (the planted model, the default corpus).
    public var isDefault: Bool { modelPath == nil && corpus.isEmpty }

    /// Whether `dir` holds tokenizer files (`encoder.json` + `vocab.bpe`, HuggingFace's `vocab.json` +
    /// `merges.txt`, or `tokenizer.json`).
    static func hasTokenizer(_ dir: String) -> Bool {
        let exists = { (f: String) in FileManager.default.fileExists(atPath: dir + "/" + f) }
        return (exists("encoder.json") && exists("vocab.bpe")) || (exists("vocab.json") && exists("merges.txt")) || exists("tokenizer.json")
    }

    /// The hub cache hub ids are resolved in (``HubCache`` from the environment by default).
    public var hubCache = HubCache()

    /// `modelPath` on disk: the path itself when it exists, else the snapshot of the hub model it names
    /// (`gpt2`, `NeelNanda/GELU_2L512W_C4_Code`) in the Hugging Face cache; nil for the planted model.
    public func localModelPath() throws -> String? {
        guard let path = modelPath else { return nil }
        if FileManager.default.fileExists(atPath: path) || !HubCache.looksLikeRepoID(path) { return path }
        return try hubCache.snapshot(path, kind: .model)
    }

    /// The folder the model lives in: `modelPath` itself when it is a folder, else the file's folder.
    var modelFolder: String? {
        guard let path = try? localModelPath() else { return nil }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return nil }
        if isDir.boolValue { return path }
        let parent = (path as NSString).deletingLastPathComponent
        return parent.isEmpty ? "." : parent
    }

    /// Where the tokenizer is read from: `--tokenizer`, else the model's folder when it holds tokenizer
    /// files (a hub repository's `tokenizer.json`), else GPT-2's files in the cache.
    public var resolvedTokenizerDirectory: String {
        if let t = tokenizerDirectory {
            if !FileManager.default.fileExists(atPath: t), HubCache.looksLikeRepoID(t), let folder = try? hubCache.snapshot(t, kind: .model) { return folder }
            return t
        }
        if let folder = modelFolder, Self.hasTokenizer(folder) { return folder }
        return GPT2Tokenizer.defaultDirectory
    }

    /// The tokenizer: GPT-2's `encoder.json` + `vocab.bpe` in the folder, or else a HuggingFace
    /// `tokenizer.json` there (byte-level BPE, e.g. GPT-NeoX-style; ``GPT2Tokenizer/init(tokenizerJSON:)``).
    public func loadTokenizer() throws -> GPT2Tokenizer {
        let dir = resolvedTokenizerDirectory
        let exists = { (f: String) in FileManager.default.fileExists(atPath: dir + "/" + f) }
        // HuggingFace's GPT-2 repositories ship the same two files as vocab.json and merges.txt.
        if !exists("encoder.json") && exists("vocab.json") && exists("merges.txt") {
            return try GPT2Tokenizer(encoderJSON: dir + "/vocab.json", mergesFile: dir + "/merges.txt")
        }
        if !exists("encoder.json") && exists("tokenizer.json") { return try GPT2Tokenizer(tokenizerJSON: dir + "/tokenizer.json") }
        for f in ["encoder.json", "vocab.bpe"] where !exists(f) {
            throw ExperimentInputError("tokenizer file \(dir)/\(f) is missing; run Scripts/setup (it fetches the GPT-2 tokenizer files) or pass --tokenizer <folder> (with encoder.json and vocab.bpe, vocab.json and merges.txt, or a tokenizer.json)")
        }
        return try GPT2Tokenizer(directory: dir)
    }

    /// The corpus as a spec: every file's format detected and checked (``CorpusSpec/detect(_:textField:)``),
    /// before any model work.
    public func corpusSpec() throws -> CorpusSpec {
        var paths: [String] = []
        for p in corpus.isEmpty ? [Self.defaultCorpus] : corpus {
            if FileManager.default.fileExists(atPath: p) { paths.append(p); continue }
            if !corpus.isEmpty && HubCache.looksLikeRepoID(p) { paths += try hubCache.dataset(p); continue }
            throw ExperimentInputError(corpus.isEmpty
                ? "the default corpus \(p) is missing; run Scripts/setup (it installs Debian's python3-doc) or pass --corpus <files>"
                : "corpus path \(p) does not exist")
        }
        return try CorpusSpec.detect(paths, textField: textField)
    }

    /// The weights file: `modelPath`, or the weights file in it when it is a folder; nil for the planted model.
    public func modelFile() throws -> String? {
        guard let path = try localModelPath() else { return nil }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ExperimentInputError("model \(path) does not exist; give a folder or a tf_model.h5, model.safetensors, model_final.pth (with its config.json) or a model written by this toolkit")
        }
        guard isDir.boolValue else { return path }
        guard let file = ModelFileFormat.weightsFile(inFolder: path) else {
            throw ExperimentInputError("model folder \(path) has no model.safetensors, tf_model.h5 or *final.pth")
        }
        return file
    }

    /// The model file's weights as stored (no processing). HuggingFace weights are configured by
    /// ``modelConfigPath`` or the `config.json` beside them (without either, `warn` is told what was
    /// assumed); a TransformerLens checkpoint by its repository's `config.json`, beside it or given.
    public func loadWeights(warn: (String) -> Void = defaultWarning) throws -> GPT2Weights {
        guard let path = try modelFile() else {
            if let c = modelConfigPath { throw ExperimentInputError("--config \(c) was given without --model; it configures HuggingFace weights") }
            return try PlantedCircuitModel.loadOrBuild()
        }
        guard let c = modelConfigPath else { return try GPT2Weights.load(file: path, warn: warn) }
        guard FileManager.default.fileExists(atPath: c) else { throw ExperimentInputError("model config \(c) does not exist") }
        switch try ModelFileFormat.detect(path) {
        case .ours:
            throw ExperimentInputError("\(path) is in this toolkit's layout, which carries its own configuration; --config \(c) is for HuggingFace weights and TransformerLens checkpoints")
        case .transformerLensCheckpoint:
            return try GPT2Weights.load(transformerLensCheckpoint: path, config: c)
        case .huggingFaceSafetensors, .huggingFaceTF:
            return try GPT2Weights.load(file: path, config: .config(try HuggingFaceGPT2Config(contentsOf: c)), warn: warn)
        }
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
        let file = try modelFile() ?? path
        let roles = try ModelFileFormat.detect(file) == .ours ? PlantedCircuitModel.Roles(hdf5: file) : nil     // only our layout carries roles
        // A hub id is the model's name (the snapshot folder's is a commit hash).
        let name = FileManager.default.fileExists(atPath: path) ? (path as NSString).lastPathComponent : path
        return LoadedModel(model: GPT2(weights: weights.processed()), roles: roles, name: name, path: file)
    }
}
