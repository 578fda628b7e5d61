// inspect: utilities for users — tokenize, test-prompt, convert, dump. Thin: options → Inspect.

import ArgumentParser
import Experiments
import ExperimentsCLI
import Foundation
import SparseAutoencoder
import Tensor
import Transformer

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Look at a model, its tokenizer, its activations and a corpus; convert files.",
        subcommands: [Tokenize.self, TestPrompt.self, Convert.self, Dump.self, Corpus.self, KernelsCommand.self])
}

func printJSON<T: Encodable>(_ value: T) throws {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    log(String(decoding: try e.encode(value), as: UTF8.self))
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Text → token ids and strings (JSON).")
    @Argument(help: "The text.") var text: String
    @Option(help: "Folder with encoder.json and vocab.bpe, or a tokenizer.json (default: the model's folder if it has one, else GPT-2's).") var tokenizer: String?
    @Flag(help: "Prepend <|endoftext|> as BOS.") var bos = false
    func run() throws {
        let tok = try ExperimentInputs(tokenizerDirectory: tokenizer).loadTokenizer()
        try printJSON(Inspect.tokenize(text, tokenizer: tok, prependBOS: bos))
    }
}

struct TestPrompt: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "test-prompt", abstract: "TransformerLens's test_prompt: the answer's rank, logit and probability, and the top-k.")
    @Option(help: "The prompt.") var prompt: String
    @Option(help: "The answer (mind its leading space, e.g. \" Mary\").") var answer: String
    @Option(help: "Model folder or file (tf_model.h5, model.safetensors, TransformerLens model_final.pth, ours); default: the planted-circuit model.") var model: String?
    @Option(help: "The model's config.json when it is not beside the weights (HuggingFace's, or a TransformerLens repository's).") var config: String?
    @Option(help: "Folder with encoder.json and vocab.bpe, or a tokenizer.json (default: the model's folder if it has one, else GPT-2's).") var tokenizer: String?
    @Option(help: "Candidates to list per answer token.") var topK = 10
    @Flag(help: "Do not prepend BOS.") var noBOS = false
    @Flag(help: "Print JSON instead of text.") var json = false
    func validate() throws { try OptionCheck.range("--top-k", topK, 1...1000) }
    func run() throws {
        let inputs = ExperimentInputs(modelPath: model, modelConfigPath: config, tokenizerDirectory: tokenizer)
        let tok = try inputs.loadTokenizer()
        let m = try inputs.loadModel()
        let t = try Inspect.testPrompt(model: m.model, tokenizer: tok, prompt: prompt, answer: answer, topK: topK, prependBOS: !noBOS)
        if json { try printJSON(t) } else { log(Inspect.render(t)) }
    }
}

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Model file → our HDF5 layout; the paper's SAE .pt (+ cfg) or a SAELens folder → a SAELens folder written by us.")
    @Option(help: "A model folder or file (tf_model.h5, model.safetensors, TransformerLens model_final.pth, ours) to convert.") var model: String?
    @Option(help: "The model's config.json when it is not beside the weights (HuggingFace's, or a TransformerLens repository's).") var config: String?
    @Option(help: "The paper's SAE checkpoint (.pt) to convert.") var saePt: String?
    @Option(help: "The SAE's _cfg.json (default: next to the .pt).") var saeCfg: String?
    @Option(help: "A SAELens SAE folder (standard, topk, jumprelu) to rewrite with our writer.") var sae: String?
    @Option(help: "Heads × d_head of a hook_z SAE (default 12x64).") var heads = "12x64"
    @Option(help: "Output: an .h5 file for a model, a folder for an SAE.") var to: String
    func validate() throws {
        guard [model, saePt, sae].compactMap({ $0 }).count == 1 else { throw ValidationError("give exactly one of --model, --sae-pt and --sae") }
        _ = try headLayout()
    }
    /// `--heads AxB`: A heads of B dimensions, each 1…65536 (checked against the SAE's d_in on loading).
    func headLayout() throws -> HeadLayout {
        let parts = heads.split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count == 2, let n = parts[0], let d = parts[1], (1...65536).contains(n), (1...65536).contains(d) else {
            throw ValidationError("--heads is \(heads); allowed: <heads>x<d_head>, each 1…65536, e.g. 12x64")
        }
        return HeadLayout(nHeads: n, dHead: d)
    }
    func run() throws {
        if let model {
            try Inspect.convertModel(from: model, config: config, to: to, warn: { log("warning: " + $0) })
        } else if let saePt {
            try Inspect.convertSAE(pt: saePt, cfg: saeCfg, headLayout: try headLayout(), to: to)
        } else if let sae {
            try Inspect.convertSAE(saeLens: sae, headLayout: try headLayout(), to: to)
        }
        log("wrote \(absolutePath(to))")
    }
}

struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Hook values for a text or token ids → safetensors (TransformerLens names).")
    @Option(help: "Text to run (BOS prepended).") var text: String?
    @Option(help: "Token ids, comma-separated (used as given).") var tokens: String?
    @Option(parsing: .upToNextOption, help: "Hook names, e.g. blocks.1.attn.hook_z blocks.1.attn.hook_pattern.") var hooks: [String] = []
    @Option(help: "Model folder or file (tf_model.h5, model.safetensors, TransformerLens model_final.pth, ours); default: the planted-circuit model.") var model: String?
    @Option(help: "The model's config.json when it is not beside the weights (HuggingFace's, or a TransformerLens repository's).") var config: String?
    @Option(help: "Folder with encoder.json and vocab.bpe, or a tokenizer.json (default: the model's folder if it has one, else GPT-2's).") var tokenizer: String?
    @Option(parsing: .upToNextOption, help: "SAEs whose activations, reconstruction and error to write too (<hook>.hook_sae_acts_post, .hook_sae_recons, .hook_sae_error): SAELens folders, the paper's .pt, release ids (with --layer) or cached hub repositories.")
    var sae: [String] = []
    @Option(help: "With --sae naming a release or hub repository of per-layer SAEs: the layer.") var layer: Int?
    @Option(help: "Output .safetensors file.") var to: String
    func validate() throws {
        guard (text == nil) != (tokens == nil) else { throw ValidationError("give exactly one of --text and --tokens") }
        guard !hooks.isEmpty || !sae.isEmpty else { throw ValidationError("give at least one --hooks name or --sae") }
        try OptionCheck.range("--layer", layer, 0...(1 << 16))
        if let layer, sae.isEmpty { throw ValidationError("--layer is \(layer); allowed: only with --sae (it picks one SAE of a release or hub repository)") }
    }
    func run() throws {
        let inputs = ExperimentInputs(modelPath: model, modelConfigPath: config, tokenizerDirectory: tokenizer)
        let m = try inputs.loadModel()
        let names = try hooks.map { try HookName(parsing: $0, nLayers: m.model.config.nLayers) }
        var ids: [Int]
        if let text { ids = try inputs.loadTokenizer().toTokens(text) } else {
            ids = try tokens!.split(separator: ",").map { s in
                guard let v = Int(s.trimmingCharacters(in: .whitespaces)), v >= 0, v < m.model.config.dVocab else {
                    throw ValidationError("--tokens has '\(s)'; allowed: token ids 0…\(m.model.config.dVocab - 1)")
                }
                return v
            }
        }
        let saes = try sae.flatMap { try SAEReference.resolve($0, layer: layer, cache: inputs.hubCache) }.map { try SAEReference.load($0) }
        try Inspect.dump(model: m.model, tokens: IndexTensor(shape: [1, ids.count], values: ids), hooks: names, saes: saes, to: to)
        log("wrote \(names.count) hooks\(saes.isEmpty ? "" : " and \(saes.count) SAEs' activations, reconstructions and errors") for \(ids.count) tokens to \(absolutePath(to))")
    }
}

struct Corpus: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "What a run would read from a corpus: each file's detected format, its documents and the start of the first ones.")
    @Argument(help: "Corpus files or folders, as --corpus takes them.") var paths: [String]
    @Option(help: "The field holding each document's text in JSON, Parquet and Arrow files.") var textField = "text"
    @Option(help: "Documents to show per file.") var documents = 3
    @Option(help: "Characters shown per document.") var characters = 200
    @Flag(help: "Show the first documents only; do not read each file to the end to count them.") var noCount = false
    @Flag(help: "Print JSON instead of text.") var json = false
    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("give at least one corpus path") }
        try OptionCheck.range("--documents", documents, 0...1000)
        try OptionCheck.range("--characters", characters, 1...100_000)
    }
    func run() throws {
        let r = try Inspect.corpus(paths, textField: textField, preview: documents, characters: characters, count: !noCount)
        if json { try printJSON(r) } else { log(Inspect.render(r)) }
    }
}

struct KernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kernels", abstract: "Which BLAS library, which OpenBLAS kernels and which of our C kernels' paths this process runs, and why.")
    func run() throws {
        let blas = ProcessInfo.processInfo.environment["ATTN_SAE_BLAS"]
        BLAS.configure()
        log("products (BLAS): \(BLAS.libraryName)" + (blas.map { " (ATTN_SAE_BLAS=\($0))" } ?? " (the default; ATTN_SAE_BLAS=blis or a library's path to change)"))
        let set = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"]
        log("OpenBLAS kernels: \(BLAS.coreName)" + (set.map { " (OPENBLAS_CORETYPE=\($0))" } ?? " (OpenBLAS's own choice)"))
        if let w = BLAS.genericKernelWarning { log("warning: " + w) }
        let asked = ProcessInfo.processInfo.environment["ATTN_SAE_KERNELS"]
        log("C kernels (CKernels): \(KernelPath.active.rawValue)" + (asked.map { " (ATTN_SAE_KERNELS=\($0))" } ?? " (the widest this CPU runs)")
            + "; this CPU runs \(KernelPath.supported.map(\.rawValue).joined(separator: ", "))")
        log("arithmetic peak: \(Kernels.arithmeticPeak()) — no product runs faster")
    }
}

BLAS.relaunchWithBetterKernelsIfNeeded()   // before any product: OpenBLAS reads OPENBLAS_CORETYPE only when it loads
InspectCommand.main()
