// FormatHarness: one function per reader that reads everything a file offers, shared by the fuzz
// targets (Fuzz/) and the tests that replay their seeds and every crash they found. Not API: it
// exists so that the fuzzers and the test suite run exactly the same code.

import Foundation
import Interp
import Tensor
import Transformer
import SparseAutoencoder

/// What happened to one input.
public enum HarnessOutcome: Equatable, Sendable {
    /// The reader accepted the input and everything in it was read.
    case read
    /// The reader refused it with one of the toolkit's typed errors (the expected outcome for junk).
    case refused(String)
    /// Anything else: an untyped error is a bug too (a crash ends the process before this).
    case problem(String)
}

public enum FormatHarness {
    /// The readers under test, by the name of their fuzz target.
    public enum Target: String, CaseIterable, Sendable {
        /// `SafeTensorsFile`, and the HuggingFace GPT-2 loader on it.
        case safetensors
        /// `TorchCheckpoint` (zip + pickle), and the paper's SAE loader on it.
        case torch
        /// `HDF5File`: every dataset and attribute; our model loader and the Keras loader on it.
        case hdf5
        /// JSON configs: SAELens `cfg.json`, the paper's `_cfg.json`, HuggingFace `config.json`.
        case configs
        /// Tokenizer files (`encoder.json` + `vocab.bpe`, split at the first NUL byte), a HuggingFace
        /// `tokenizer.json` (first byte 0xFE), and the real GPT-2 tokenizer on arbitrary text (first byte 0xFF).
        case tokenizer
        /// Corpora: the first byte picks text, JSONL, nanoGPT `.bin`, llm.c `.bin`, or a file named
        /// `.jsonl.gz`, `.jsonl.zst`, `.json` or nothing telling, whose format detection decides.
        case corpus
        /// `ParquetFile`: every top-level string column, read value by value; then the file as a corpus.
        case parquet
        /// `ArrowIPCFile` (stream or file format): every string column; then the file as a corpus.
        case arrow
        /// SAE training checkpoints (`SAETrainer.loadCheckpoint`, `TrainingRun.checkpointInfo`).
        case checkpoint
    }

    /// Runs `target`'s reader on `bytes`, written to files under `scratch` (a folder this call may
    /// fill and reuse). Never throws: the outcome says what happened.
    public static func run(_ target: Target, bytes: [UInt8], scratch: String) -> HarnessOutcome {
        do {
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            try read(target, bytes, scratch)
            return .read
        } catch {
            return isTyped(error) ? .refused("\(error)") : .problem("\(type(of: error)): \(error)")
        }
    }

    /// One of the toolkit's typed input errors (anything else from a reader is a bug).
    static func isTyped(_ e: Error) -> Bool {
        e is FileFormatError || e is SAEFormatError || e is TransformerError || e is CorpusError || e is TrainingRunError
    }

    static func write(_ bytes: some Collection<UInt8>, _ path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw FileFormatError(path: path, format: "harness", reason: .cannotWrite, detail: "cannot write the input")
        }
    }

    /// The folder of a valid 4 × 8 SAE in SAELens layout — with a JumpReLU `threshold` beside the four
    /// weights, so a cfg.json of any architecture gets past the tensors — written once per scratch folder.
    static func companionSAE(_ scratch: String) throws -> String {
        let folder = scratch + "/sae"
        if !FileManager.default.fileExists(atPath: folder + "/sae_weights.safetensors") {
            var rng = RandomStream(seed: 1)
            let sae = SAE(config: SAEConfig(dIn: 4, dSAE: 8, hookName: "blocks.0.attn.hook_z", architecture: .jumpReLU),
                          wEnc: Tensor.randomNormal([4, 8], using: &rng), bEnc: Tensor(zeros: [8]),
                          wDec: Tensor.randomNormal([8, 4], using: &rng), bDec: Tensor(zeros: [4]), threshold: Tensor(repeating: 0.1, shape: [8]))
            try sae.save(saeLens: folder)
        }
        return folder
    }

    /// Whether `body` succeeded (false on one of the toolkit's typed errors); an untyped error is
    /// rethrown as a problem. For the loaders that build on a reader (a model or an SAE from a file
    /// the reader accepted): they must refuse cleanly too, but refusing is not the reader's failure.
    static func attempt(_ body: () throws -> Void) throws -> Bool {
        switch Result(catching: body) {
        case .success: return true
        case .failure(let e) where isTyped(e): return false
        case .failure(let e): throw HarnessFailure("\(type(of: e)): \(e)")
        }
    }

    static func read(_ target: Target, _ bytes: [UInt8], _ scratch: String) throws {
        switch target {
        case .safetensors:
            let path = scratch + "/model.safetensors"
            try write(bytes, path)
            let f = try SafeTensorsFile(contentsOf: path)
            for e in f.entries where [.F32, .F16, .BF16, .F64].contains(e.dtype) { _ = try f.tensor(e.name).scalars }
            for e in f.entries where [.F16, .BF16].contains(e.dtype) { _ = try f.halfTensor(e.name) }
            _ = try attempt { _ = try GPT2Weights.load(huggingFaceSafetensors: path, config: .heads(2)) }
        case .torch:
            let path = scratch + "/sae.pt"
            try write(bytes, path)
            let f = try TorchCheckpoint(contentsOf: path)
            for e in f.entries where e.storageType != "LongStorage" { _ = try f.tensor(e.name).scalars }
            try write(Array(#"{"act_size": 4, "dict_size": 8, "act_name": "blocks.0.attn.hook_z"}"#.utf8), scratch + "/sae_cfg.json")
            _ = try attempt { _ = try SAE.load(kissanePT: path) }
        case .hdf5:
            let path = scratch + "/file.h5"
            try write(bytes, path)
            let f = try HDF5File(path: path)
            for d in try f.datasets() {
                if case .integer = d.elementType { _ = try f.readIndices(d.path) } else if case .float = d.elementType { _ = try f.readTensor(d.path) }
                for name in try f.attributeNames(of: d.path) { _ = try f.attribute(name, of: d.path) }
            }
            for name in try f.attributeNames() { _ = try f.attribute(name) }
            _ = try attempt { _ = try GPT2Weights.load(hdf5: path) }
            _ = try attempt { _ = try GPT2Weights.load(tfH5: path, config: .heads(2)) }
        case .configs:
            // The same JSON as a SAELens cfg.json (beside valid 4 × 8 weights), a HuggingFace
            // config.json, a TransformerLens repository's config.json and the paper's _cfg.json (read and checked before its .pt is opened):
            // read when any of them accepts it.
            let folder = try companionSAE(scratch)
            try write(bytes, folder + "/cfg.json")
            try write(bytes, scratch + "/config.json")
            try write(bytes, scratch + "/paper_cfg.json")
            let accepted = [
                try attempt { _ = try SAE.load(saeLens: folder) },
                try attempt { _ = try HuggingFaceGPT2Config(contentsOf: scratch + "/config.json") },
                try attempt { _ = try TransformerLensRepoConfig(contentsOf: scratch + "/config.json") },
                try attempt { _ = try SAE.load(kissanePT: scratch + "/paper.pt") },
            ]
            // The paper's loader always ends at the missing .pt: a cfg it accepted gets that far.
            guard accepted.contains(true) || (try? JSONSerialization.jsonObject(with: Data(bytes))) is [String: Any] else {
                throw FileFormatError(path: scratch + "/config.json", format: "JSON", reason: .corrupt, detail: "no config reader accepts it")
            }
        case .tokenizer:
            if bytes.first == 0xFE {                       // a HuggingFace tokenizer.json
                try write(bytes.dropFirst(), scratch + "/tokenizer.json")
                let tok = try GPT2Tokenizer(tokenizerJSON: scratch + "/tokenizer.json")
                let text = "Hello world, <|endoftext|> ünïcödé 123 \u{1F600}"
                guard tok.decode(tok.encode(text)) == text else { throw HarnessFailure("decode(encode(text)) differs from the text") }
                return
            }
            if bytes.first == 0xFF {
                let tok = try sharedTokenizer()
                let ids = tok.encode(bytes: Array(bytes.dropFirst()))
                guard tok.decodeBytes(ids) == Array(String(decoding: bytes.dropFirst(), as: UTF8.self).utf8) else {
                    throw HarnessFailure("the real tokenizer's decode(encode(text)) differs from the text")
                }
                return
            }
            let cut = bytes.firstIndex(of: 0) ?? bytes.count
            try write(bytes[..<cut], scratch + "/encoder.json")
            try write(bytes[Swift.min(cut + 1, bytes.count)...], scratch + "/vocab.bpe")
            let tok = try GPT2Tokenizer(encoderJSON: scratch + "/encoder.json", mergesFile: scratch + "/vocab.bpe")
            let text = "Hello world, <|endoftext|> ünïcödé 123 \u{1F600}"
            guard tok.decode(tok.encode(text)) == text else { throw HarnessFailure("decode(encode(text)) differs from the text") }
        case .corpus:
            guard let kind = bytes.first else { return }
            let path = scratch + "/corpus"
            try write(bytes.dropFirst(), path)
            let spec: CorpusSpec
            switch kind % 8 {
            case 0: spec = .textFiles([path])
            case 1: spec = .jsonl([path], field: "text")
            case 2: spec = .nanoGPTBin([path])
            case 3: spec = .llmcBin([path])
            default:
                let named = scratch + "/" + ["corpus.jsonl.gz", "corpus.jsonl.zst", "corpus.json", "corpus.dat"][Int(kind % 8) - 4]
                try? FileManager.default.removeItem(atPath: named)
                try FileManager.default.moveItem(atPath: path, toPath: named)
                spec = try CorpusSpec.detect([named])
            }
            try readAll(spec)
        case .parquet:
            let path = scratch + "/data.parquet"
            try write(bytes, path)
            let file = try ParquetFile(path: path)
            for c in file.columns where c.physicalType == .byteArray && c.maxRepetitionLevel == 0 {
                var r = try file.strings(column: c.name)
                var n = 0
                while try r.nextCell() != nil, n < 1_000_000 { n += 1 }
            }
            if file.columns.contains(where: { $0.name == "text" }) { try readAll(try CorpusSpec.detect([path])) }
        case .arrow:
            let path = scratch + "/data.arrow"
            try write(bytes, path)
            let file = try ArrowIPCFile(path: path)
            for f in file.fields where f.isText {
                var r = try file.strings(column: f.name)
                var n = 0
                while try r.nextCell(limit: 1 << 20) != nil, n < 1_000_000 { n += 1 }
            }
            if file.fields.contains(where: { $0.name == "text" }) { try readAll(try CorpusSpec.detect([path])) }
        case .checkpoint:
            let path = scratch + "/checkpoint.h5"
            try write(bytes, path)
            _ = try attempt { _ = try TrainingRun<EmptySource>.checkpointInfo(path) }
            _ = try SAETrainer.loadCheckpoint(from: path)
        }
    }

    /// Every document of a corpus (at most 100,000).
    static func readAll(_ spec: CorpusSpec) throws {
        var stream = try DocumentStream(spec)
        var n = 0
        while try stream.next() != nil, n < 100_000 { n += 1 }
    }

    nonisolated(unsafe) private static var tokenizer: GPT2Tokenizer?
    /// The GPT-2 tokenizer from the cache (loaded once per process).
    static func sharedTokenizer() throws -> GPT2Tokenizer {
        if let tokenizer { return tokenizer }
        let t = try GPT2Tokenizer()
        tokenizer = t
        return t
    }

    /// A tiny valid SAE training checkpoint (a seed for the checkpoint target).
    public static func writeSeedCheckpoint(to path: String) throws {
        let trainer = SAETrainer(sae: SAETrainer.initialSAE(SAEConfig(dIn: 4, dSAE: 8, hookName: "blocks.0.attn.hook_z"), seed: 1))
        try trainer.saveCheckpoint(to: path, rngs: ["resample": RandomStream(seed: 2)],
                                   history: [StepMetrics(loss: 1, mse: 0.5, sparsityPenalty: 0.5, l0: 3, lr: 1e-3)])
    }
}

struct HarnessFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A source that has no rows: `TrainingRun.checkpointInfo` is generic over sources but reads none.
public struct EmptySource: ResumableActivationSource {
    public var dIn: Int { 4 }
    public var rowsDelivered: Int { 0 }
    public mutating func nextChunk() throws -> Tensor { throw HarnessFailure("no rows") }
    public mutating func skip(rows: Int) throws {}
}
