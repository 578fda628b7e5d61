// Inputs: the model, tokenizer and corpus every runner starts from — the planted-circuit model and the
// default corpus unless files are given — checked before any work starts.

import Foundation
@_exported import Interp

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
    public static var defaultCorpus: String {
        let cache = ProcessInfo.processInfo.environment["ATTN_SAE_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/attn-saes").path
        return cache + "/corpus/python3-doc"
    }
}

/// A loaded model with what the runners need to know about it.
public struct LoadedModel: Sendable {
    public let model: GPT2
    /// The planted heads, when the model is the planted-circuit model (or a file carrying its roles).
    public let roles: PlantedCircuitModel.Roles?
    /// A short name for reports ("planted-circuit model v1", or the file name).
    public let name: String
    public let path: String
    public var isPlanted: Bool { roles != nil }
    public init(model: GPT2, roles: PlantedCircuitModel.Roles?, name: String, path: String) {
        self.model = model; self.roles = roles; self.name = name; self.path = path
    }
    /// The planted heads of the SAE's layer that count as induction heads (empty for other models).
    public func inductionHeads(layer: Int) -> [Int] {
        guard let r = roles else { return [] }
        return [r.shortInduction, r.longInduction].filter { $0.layer == layer }.map(\.head)
    }
}

extension ExperimentInputs {
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
        let roles = path.hasSuffix(".safetensors") ? nil : try PlantedCircuitModel.Roles(hdf5: path)
        return LoadedModel(model: GPT2(weights: weights.processed()), roles: roles, name: (path as NSString).lastPathComponent, path: path)
    }

    public func loadTokenizer() throws -> GPT2Tokenizer {
        let dir = tokenizerDirectory ?? GPT2Tokenizer.defaultDirectory
        for f in ["encoder.json", "vocab.bpe"] where !FileManager.default.fileExists(atPath: dir + "/" + f) {
            throw ExperimentInputError("tokenizer file \(dir)/\(f) is missing; run Scripts/setup (it fetches the GPT-2 tokenizer files) or pass --tokenizer <folder>")
        }
        return try GPT2Tokenizer(directory: dir)
    }

    /// The corpus as a spec: `.jsonl` files → JSONL (`text`), `.bin` → nanoGPT or llm.c by header,
    /// anything else → text files.
    public func corpusSpec() throws -> CorpusSpec {
        let paths = corpus.isEmpty ? [Self.defaultCorpus] : corpus
        for p in paths where !FileManager.default.fileExists(atPath: p) {
            throw ExperimentInputError(corpus.isEmpty
                ? "the default corpus \(p) is missing; run Scripts/setup (it installs Debian's python3-doc) or pass --corpus <files>"
                : "corpus path \(p) does not exist")
        }
        if paths.allSatisfy({ $0.hasSuffix(".jsonl") }) { return .jsonl(paths, field: "text") }
        if paths.allSatisfy({ $0.hasSuffix(".bin") }) {
            let isLLMC = paths.allSatisfy { p in
                guard let h = FileHandle(forReadingAtPath: p), let d = try? h.read(upToCount: 4), d.count == 4 else { return false }
                return d.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) } == 20240520
            }
            return isLLMC ? .llmcBin(paths) : .nanoGPTBin(paths)
        }
        return .textFiles(paths)
    }

    /// Token rows of the training (or held-out) part of the corpus; every 20th document is held out.
    /// Given corpora follow SPEC §1.2 (each document cut at 1024 tokens); the default corpus's
    /// documents (whole manual pages, ~6k tokens each) are kept whole, or most of its text would be
    /// dropped.
    public func rows(heldOut: Bool, tokenizer: GPT2Tokenizer, rowLength: Int = 128) throws -> TokenRowStream {
        let docs = try DocumentStream(try corpusSpec(), split: DocumentStream.Split(every: 20, heldOut: heldOut))
        return TokenRowStream(documents: docs, tokenizer: tokenizer, rowLength: rowLength, nCtx: corpus.isEmpty ? Int.max : 1024)
    }
}
