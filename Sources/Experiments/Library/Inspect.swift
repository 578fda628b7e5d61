// Inspect: small utilities for users — tokenize text, test a prompt (TransformerLens's test_prompt),
// convert model and SAE files, dump hook values for comparison with other tools.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

public enum Inspect {
    /// Token ids and their strings.
    public struct Tokenized: Codable, Sendable, Equatable {
        public var tokens: [Int]
        public var strings: [String]
    }

    public static func tokenize(_ text: String, tokenizer: GPT2Tokenizer, prependBOS: Bool) -> Tokenized {
        let ids = tokenizer.toTokens(text, prependBOS: prependBOS)
        return Tokenized(tokens: ids, strings: tokenizer.stringTokens(ids))
    }

    /// One candidate token at a position.
    public struct Candidate: Codable, Sendable, Equatable {
        public var token: Int, string: String, logit: Float, probability: Float
    }

    /// TransformerLens's `test_prompt`: for each answer token, its rank (0 = top), logit and probability
    /// at the position that predicts it, and the top-k there.
    public struct PromptTest: Codable, Sendable, Equatable {
        public var promptTokens: [String]
        public var answerTokens: [String]
        public var answers: [Answer]
        public struct Answer: Codable, Sendable, Equatable {
            public var token: Candidate
            public var rank: Int
            public var top: [Candidate]
        }
    }

    /// Runs `prompt + answer` (BOS first when `prependBOS`) and reads the logits that predict each answer token.
    public static func testPrompt(model: GPT2, tokenizer: GPT2Tokenizer, prompt: String, answer: String, topK: Int = 10,
                                  prependBOS: Bool = true) throws -> PromptTest {
        let p = tokenizer.toTokens(prompt, prependBOS: prependBOS)
        let a = tokenizer.encode(answer)
        guard topK >= 1, topK <= model.config.dVocab else { throw ExperimentInputError("top-k is \(topK); allowed: 1…\(model.config.dVocab)") }
        guard !a.isEmpty else { throw ExperimentInputError("the answer \"\(answer)\" has no tokens") }
        guard !p.isEmpty else { throw ExperimentInputError("the prompt has no tokens; give text or allow BOS") }
        let all = p + a
        guard all.count <= model.config.nCtx else { throw ExperimentInputError("prompt and answer are \(all.count) tokens; the model takes at most \(model.config.nCtx)") }
        let logits = try model.logits(IndexTensor(shape: [1, all.count], values: all)).selecting(axis: 0, 0)   // [pos, d_vocab]
        var answers: [PromptTest.Answer] = []
        for (i, t) in a.enumerated() {
            let row = logits.selecting(axis: 0, p.count - 1 + i).contiguous()
            let probs = row.softmax()
            let v = row.scalars, pr = probs.scalars
            let rank = v.enumerated().filter { $0.element > v[t] || ($0.element == v[t] && $0.offset < t) }.count
            let (tv, ti) = row.topK(topK)
            let top = zip(ti.values, tv.scalars).map { Candidate(token: $0, string: tokenizer.decode([$0]), logit: $1, probability: pr[$0]) }
            answers.append(PromptTest.Answer(token: Candidate(token: t, string: tokenizer.decode([t]), logit: v[t], probability: pr[t]), rank: rank, top: top))
        }
        return PromptTest(promptTokens: tokenizer.stringTokens(p), answerTokens: tokenizer.stringTokens(a), answers: answers)
    }

    /// The test as TransformerLens prints it.
    public static func render(_ t: PromptTest) -> String {
        func list(_ x: [String]) -> String { "[" + x.map(\.debugDescription).joined(separator: ", ") + "]" }
        var out = "Tokenized prompt: \(list(t.promptTokens))\nTokenized answer: \(list(t.answerTokens))\n"
        for a in t.answers {
            out += String(format: "Performance on answer token:\nRank: %d  Logit: %.2f  Prob: %6.2f%%  Token: %@\n", a.rank, a.token.logit, a.token.probability * 100, a.token.string.debugDescription)
            for (i, c) in a.top.enumerated() {
                out += String(format: "Top %d-th token. Logit: %.2f  Prob: %6.2f%%  Token: %@\n", i, c.logit, c.probability * 100, c.string.debugDescription)
            }
        }
        return out
    }

    /// Converts a model file (tf_model.h5, model.safetensors or ours) to our HDF5 layout, unprocessed.
    public static func convertModel(from input: String, config: String? = nil, to output: String,
                                    warn: (String) -> Void = defaultWarning) throws {
        let inputs = ExperimentInputs(modelPath: input, modelConfigPath: config)
        let weights = try inputs.loadWeights(warn: warn)
        let file = try inputs.modelFile() ?? input                  // a folder's weights file
        var attributes: [String: HDF5Attribute] = ["source": .string((input as NSString).lastPathComponent)]
        if try ModelFileFormat.detect(file) == .ours, let roles = try? PlantedCircuitModel.Roles(hdf5: file) { attributes.merge(roles.attributes) { a, _ in a } }
        try weights.writeHDF5(to: output, extraAttributes: attributes)
    }

    /// Converts the paper's SAE checkpoint (`.pt` + optional `_cfg.json`) to SAELens format
    /// (`sae_weights.safetensors` + `cfg.json` in `folder`).
    public static func convertSAE(pt: String, cfg: String?, headLayout: HeadLayout?, to folder: String) throws {
        let sae = try SAE.load(kissanePT: pt, cfg: cfg, headLayout: headLayout)
        try sae.save(saeLens: folder)
    }

    /// Reads a SAELens folder (any architecture we read) and writes it again with our writer, with the
    /// given head layout (`reshape_activations: "hook_z"`).
    public static func convertSAE(saeLens input: String, headLayout: HeadLayout?, to folder: String) throws {
        try SAE.load(saeLens: input, headLayout: headLayout).save(saeLens: folder)
    }

    /// Hook values for `tokens` `[batch, pos]` → one safetensors file: each hook under its
    /// TransformerLens name, and for each of `saes` its activations, reconstruction and error as SAELens's
    /// `HookedSAE` names them (`<hook>.hook_sae_acts_post` `[batch, pos, d_sae]`, `.hook_sae_recons` and
    /// `.hook_sae_error` in the hook's shape); the tokens in the metadata (`tokens`, JSON).
    public static func dump(model: GPT2, tokens: IndexTensor, hooks: [HookName], saes: [SAE] = [], to path: String) throws {
        let sites = try saes.map { sae -> HookName in
            let site = try HookName(parsing: sae.config.hookName, nLayers: model.config.nLayers)
            guard let width = site.saeInputWidth(model.config), width == sae.config.dIn else {
                throw ExperimentInputError("SAE on \(sae.config.hookName) has d_in \(sae.config.dIn), which does not fit that hook of the model")
            }
            return site
        }
        let cache = try model.runWithCache(tokens, names: Set(hooks).union(sites))
        var tensors: [String: Tensor] = [:]
        for h in hooks { tensors[h.description] = cache[h]! }
        // Each SAE's hooks as SAELens's HookedSAE names them: the activations, the reconstruction and the
        // error, in the hook's own shape (hook_z's [batch, pos, head_index, d_head]).
        for (sae, site) in zip(saes, sites) {
            let z = cache[site]!
            let x = z.rank == 4 ? SAE.flattenHeads(z) : z
            let acts = sae.encode(x), recons = sae.decode(acts).reshaped(z.shape)
            tensors[site.description + ".hook_sae_acts_post"] = acts.contiguous()
            tensors[site.description + ".hook_sae_recons"] = recons.contiguous()
            tensors[site.description + ".hook_sae_error"] = (z - recons).contiguous()
        }
        let json = String(decoding: try JSONEncoder().encode(tokens.values), as: UTF8.self)
        try SafeTensorsFile.write(tensors, metadata: ["tokens": json, "shape": "\(tokens.shape)"], to: path)
    }

    // MARK: Corpora

    /// What a run would read from a corpus: each file's format, its documents, and their start.
    public struct CorpusReport: Codable, Sendable, Equatable {
        public struct File: Codable, Sendable, Equatable {
            public var path: String
            public var format: CorpusFormat
            public var compression: CompressionCodec?
            /// Documents (all of them when counted, else those previewed).
            public var documents: Int
            public var counted: Bool
            /// Null values of the text field/column, passed over.
            public var nulls: Int
            /// Documents cut at the per-document byte limit.
            public var truncated: Int
            /// The start of the first documents (text, or token ids for token files).
            public var preview: [String]
        }
        public var textField: String
        public var files: [File]
        public var skipped: [CorpusSpec.Skipped]
    }

    /// Reads `paths` as a corpus would be read (``CorpusSpec/detect(_:textField:)``): per file, its
    /// format, documents (counted to the end unless `count` is false) and the first `preview`
    /// documents' first `characters` characters.
    public static func corpus(_ paths: [String], textField: String = "text", preview: Int = 3, characters: Int = 200,
                              count: Bool = true) throws -> CorpusReport {
        let spec = try CorpusSpec.detect(paths, textField: textField)
        var files: [CorpusReport.File] = []
        for f in spec.files {
            var stream = try DocumentStream(CorpusSpec(files: [f], textField: textField))
            var shown: [String] = []
            var n = 0
            while count || shown.count < preview, let doc = try stream.next() {
                n += 1
                guard shown.count < preview else { continue }
                switch doc {
                case .text(let t): shown.append(t.count > characters ? String(t.prefix(characters)) + "…" : t)
                case .tokens(let ids): shown.append("\(ids.count) tokens: " + ids.prefix(16).map(String.init).joined(separator: " ") + (ids.count > 16 ? " …" : ""))
                }
            }
            files.append(.init(path: f.path, format: f.format, compression: f.compression, documents: n, counted: count,
                               nulls: stream.nullDocuments, truncated: stream.truncatedDocuments, preview: shown))
        }
        return CorpusReport(textField: textField, files: files, skipped: spec.skipped)
    }

    /// The report as text: one block per file, previews with control characters made visible.
    public static func render(_ r: CorpusReport) -> String {
        var out: [String] = []
        for f in r.files {
            let kind = f.format.rawValue + (f.compression.map { " (\($0.rawValue))" } ?? "")
            var line = "\(f.path)\n  \(kind), \(f.documents)\(f.counted ? "" : "+") documents"
            if f.nulls > 0 { line += ", \(f.nulls) null \(f.format.hasFields ? "'\(r.textField)' values" : "values") passed over" }
            if f.truncated > 0 { line += ", \(f.truncated) cut at \(DocumentStream.maxDocumentBytes >> 20) MiB" }
            out.append(line)
            for (i, p) in f.preview.enumerated() {
                let visible = p.unicodeScalars.map { s -> String in
                    switch s {
                    case "\n": return "\\n"
                    case "\t": return "\\t"
                    case "\r": return "\\r"
                    default: return s.value < 0x20 || s.value == 0x7F ? String(format: "\\x%02x", s.value) : String(s)
                    }
                }.joined()
                out.append("  [\(i)] \(visible)")
            }
        }
        let total = r.files.reduce(0) { $0 + $1.documents }
        out.append("\(r.files.count) file\(r.files.count == 1 ? "" : "s"), \(total)\(r.files.allSatisfy(\.counted) ? "" : "+") documents")
        if !r.skipped.isEmpty {
            out.append("passed over \(r.skipped.count): " + r.skipped.prefix(8).map { "\(($0.path as NSString).lastPathComponent) (\($0.reason))" }.joined(separator: ", ")
                       + (r.skipped.count > 8 ? ", …" : ""))
        }
        return out.joined(separator: "\n")
    }
}

