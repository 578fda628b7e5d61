// InspectTests: the inspect utilities against direct computations.

import Foundation
import Testing
import TensorTestSupport
@testable import Experiments
import Interp
import SparseAutoencoder
import Tensor
import Transformer

@Suite struct InspectTests {
    static let planted = plantedModel.model

    @Test func testPromptMatchesTheLogits() throws {
        let tok = try ExperimentInputs().loadTokenizer()
        let (prompt, answer) = ("alpha beta gamma delta alpha beta gamma", " delta epsilon")
        let t = try Inspect.testPrompt(model: Self.planted, tokenizer: tok, prompt: prompt, answer: answer, topK: 5)
        let answerIDs = tok.encode(answer)
        #expect(t.answerTokens == tok.stringTokens(answerIDs) && t.answers.count == answerIDs.count && t.promptTokens.first == "<|endoftext|>")
        // The planted model predicts the repeated token: rank 0 with most of the probability.
        #expect(t.answers[0].rank == 0 && t.answers[0].token.probability > 0.9 && t.answers[0].top[0].token == t.answers[0].token.token)
        // Against the logits directly.
        let promptIDs = tok.toTokens(prompt), ids = promptIDs + answerIDs
        let logits = try Self.planted.logits(IndexTensor(shape: [1, ids.count], values: ids)).selecting(axis: 0, 0)
        for (i, a) in t.answers.enumerated() {
            let row = logits.selecting(axis: 0, promptIDs.count - 1 + i)
            let probs = row.softmax()
            #expect(a.token.logit == row[a.token.token] && Swift.abs(a.token.probability - probs[a.token.token]) < 1e-6)
            #expect(a.rank == row.scalars.filter { $0 > row[a.token.token] }.count)
            #expect(a.top.map(\.logit) == Array(row.scalars.sorted(by: >).prefix(5)))
        }
        #expect(Inspect.render(t).contains("Rank: 0"))
        #expect(throws: ExperimentInputError.self) { try Inspect.testPrompt(model: Self.planted, tokenizer: tok, prompt: "x", answer: "") }
    }

    @Test func dumpWritesTheHookValues() throws {
        let path = temporaryDirectory().path + "/dump.safetensors"
        let tokens = IndexTensor(shape: [1, 6], values: [50256, 11, 22, 33, 11, 22])
        try Inspect.dump(model: Self.planted, tokens: tokens, hooks: [.z(1), .pattern(0)], to: path)
        let f = try SafeTensorsFile(contentsOf: path)
        let cache = try Self.planted.runWithCache(tokens, names: [.z(1), .pattern(0)])
        #expect(try f.tensor("blocks.1.attn.hook_z") == cache[.z(1)]!)
        #expect(try f.tensor("blocks.0.attn.hook_pattern") == cache[.pattern(0)]!)
        #expect(f.metadata["tokens"] == "[50256,11,22,33,11,22]")
        // With an SAE: its activations, reconstruction and error under SAELens's HookedSAE names.
        let sae = Table2Tests.randomSAE(layer: 1, dSAE: 40, seed: 11)
        try Inspect.dump(model: Self.planted, tokens: tokens, hooks: [], saes: [sae], to: path)
        let g = try SafeTensorsFile(contentsOf: path)
        let z = cache[.z(1)]!
        let acts = try g.tensor("blocks.1.attn.hook_z.hook_sae_acts_post"), recons = try g.tensor("blocks.1.attn.hook_z.hook_sae_recons")
        let error = try g.tensor("blocks.1.attn.hook_z.hook_sae_error")
        #expect(acts == sae.encode(SAE.flattenHeads(z)) && acts.shape == [1, 6, 40])
        #expect(recons.shape == z.shape && error.shape == z.shape)
        expectClose(recons + error, z, atol: 1e-6, rtol: 1e-6)
        #expect(recons == sae.decode(acts).reshaped(z.shape))
        // An SAE that does not fit the hook is refused before anything is written.
        let wrong = SAE(config: SAEConfig(dIn: 7, dSAE: 4, hookName: "blocks.1.attn.hook_z"), wEnc: Tensor(zeros: [7, 4]), bEnc: Tensor(zeros: [4]),
                        wDec: Tensor(zeros: [4, 7]), bDec: Tensor(zeros: [7]))
        #expect(throws: ExperimentInputError.self) { try Inspect.dump(model: Self.planted, tokens: tokens, hooks: [], saes: [wrong], to: path + "2") }
        #expect(!FileManager.default.fileExists(atPath: path + "2"))
    }

    /// TransformerLens's names_filter as a predicate: the same cache as the names it accepts.
    @Test func runWithCacheTakesANameFilter() throws {
        let tokens = IndexTensor(shape: [1, 5], values: [50256, 11, 22, 11, 22])
        let filtered = try Self.planted.runWithCache(tokens, namesFilter: { $0.description.hasSuffix("hook_z") })
        let named = try Self.planted.runWithCache(tokens, names: [.z(0), .z(1)])
        #expect(filtered[.z(0)] == named[.z(0)] && filtered[.z(1)] == named[.z(1)] && filtered[.pattern(0)] == nil)
    }

    @Test func convertedModelLoadsBackEqual() throws {
        let fixtures = fixturesDirectory(ofTarget: "TransformerTests")
        let source = fixtures.appendingPathComponent("tiny_gpt2.safetensors").path
        let out = temporaryDirectory().path + "/tiny.h5"
        try Inspect.convertModel(from: source, to: out)
        #expect(try GPT2Weights.load(hdf5: out) == GPT2Weights.load(huggingFaceSafetensors: source))
        #expect(throws: ExperimentInputError.self) { try Inspect.convertModel(from: "/nonexistent.safetensors", to: out) }
        // A TransformerLens checkpoint folder (shortformer) → our layout, architecture kept.
        let folder = fixtures.appendingPathComponent("tl-checkpoint/shortformer").path
        let tl = temporaryDirectory().path + "/gelu.h5"
        try Inspect.convertModel(from: folder, to: tl)
        let back = try GPT2Weights.load(hdf5: tl)
        #expect(back == (try GPT2Weights.load(transformerLensCheckpoint: folder + "/model_final.pth")))
        #expect(back.config.positionalEmbedding == .shortformer && back.config.actFn == .gelu)
    }

    @Test func tokenizeGivesIdsAndStrings() throws {
        let tok = try ExperimentInputs().loadTokenizer()
        let t = Inspect.tokenize("Hello world", tokenizer: tok, prependBOS: true)
        #expect(t.tokens == [50256] + tok.encode("Hello world") && t.strings == tok.stringTokens(t.tokens))
    }
}

@Suite struct InspectDumpParityTests {
    /// `inspect dump` on a HuggingFace folder with d_head 16 (config.json beside the weights): every
    /// TransformerLens hook of the processed model, written to safetensors and read back.
    @Test func everyHookOfAFolderWithItsConfigMatchesTransformerLens() throws {
        let folder = transformerFixture("hf_dhead16")
        let ref = try HDF5File(path: folder + "/reference.h5")
        let names = try #require(try ref.attribute("hook_names", of: "/processed").stringsValue)
        for weights in ["model.safetensors", "tf_model.h5"] {
            let model = try ExperimentInputs(modelPath: folder + "/" + weights).loadModel()
            #expect(model.model.config.nHeads == 4 && model.model.config.dHead == 16)
            let out = temporaryDirectory().path + "/dump.safetensors"
            try Inspect.dump(model: model.model, tokens: try ref.readIndices("/tokens"), hooks: try names.map { try HookName(parsing: $0) }, to: out)
            let dumped = try SafeTensorsFile(contentsOf: out)
            for name in names {
                var expected = try ref.readTensor("/processed/hooks/" + name), actual = try dumped.tensor(name)
                if name.hasSuffix("hook_attn_scores") {       // masked entries: −∞ on both sides, then compared as 0
                    #expect(actual.scalars.map(\.isInfinite) == expected.scalars.map(\.isInfinite), "\(name) mask")
                    (actual, expected) = (actual.map { $0.isFinite ? $0 : 0 }, expected.map { $0.isFinite ? $0 : 0 })
                }
                // fp32 in another summation order; inside a block the rounding scales with the residual entering it.
                let layer = try HookName(parsing: name).layer
                let scale = max(Double(expected.abs().max()), Double(try layer.map { try ref.readTensor("/processed/hooks/blocks.\($0).hook_resid_pre").abs().max() } ?? 0))
                expectClose(actual, expected, atol: max(2e-5, 2e-6 * scale), rtol: 1e-5, Comment(rawValue: "\(weights) \(name)"))
            }
        }
    }

    @Test func corpusShowsEachFilesFormatDocumentsAndStart() throws {
        let corpora = fixturesDirectory(ofTarget: "InterpTests").appendingPathComponent("corpora")
        let paths = ["dict-snappy.parquet", "two-members.jsonl.gz", "save-to-disk", "notes.txt"].map { corpora.appendingPathComponent($0).path }
        let r = try Inspect.corpus(paths, preview: 2, characters: 12)
        #expect(r.files.map(\.format) == [.parquet, .jsonLines, .arrow, .text])
        #expect(r.files[1].compression == .gzip)
        // Counts against a direct read of each file.
        for f in r.files {
            var s = try DocumentStream(CorpusSpec(files: [CorpusFile(path: f.path, format: f.format, compression: f.compression)]))
            var n = 0
            while try s.next() != nil { n += 1 }
            #expect(f.documents == n && f.nulls == s.nullDocuments && f.counted)
        }
        #expect(r.files[0].nulls == 2 && r.files[1].nulls == 0)
        #expect(r.files[0].preview == ["The cat sat …", ""])
        #expect(r.skipped.contains { $0.path.hasSuffix("state.json") })
        let text = Inspect.render(r)
        #expect(text.contains("parquet, 47 documents, 2 null 'text' values passed over") && text.contains("json-lines (gzip)"))
        #expect(text.contains("[0] A plain text…") && text.contains("4 files, "))
        // Without counting: the previews only.
        let quick = try Inspect.corpus([paths[0]], preview: 1, count: false)
        #expect(quick.files[0].documents == 1 && !quick.files[0].counted && Inspect.render(quick).contains("1+ documents"))
        // Control characters are shown, not sent to the terminal.
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try "a\u{1B}[31mred\tb\n".write(toFile: dir.path + "/c.txt", atomically: true, encoding: .utf8)
        #expect(Inspect.render(try Inspect.corpus([dir.path + "/c.txt"])).contains(#"a\x1b[31mred\tb\n"#))
    }

    @Test func inspectCorpusRefusesABinaryFileByName() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.path + "/shard.jsonl"
        try Data([0x50, 0x4B, 0x03, 0x04, 0x00, 0x00, 0x01]).write(to: URL(fileURLWithPath: path))
        let r = try HostileOptionTests.run("inspect", ["corpus", path])
        #expect(r.status != 0 && r.stderr.contains(path) && r.stderr.contains("NUL byte"), "\(r.stderr)")
    }
}


@Suite struct KernelRelaunchTests {
    static func kernels(_ changes: [String: String?]) throws -> (Int32, String, String) {
        try runExecutable("inspect", ["kernels"], environment: changes)
    }

    /// Without OPENBLAS_CORETYPE the executable runs the kernels its CPU has: on a CPU OpenBLAS does not
    /// recognise it says so once and re-executes with them; otherwise it keeps OpenBLAS's choice.
    @Test func executablesChooseTheCPUsKernelsThemselves() throws {
        let (status, out, err) = try Self.kernels(["OPENBLAS_CORETYPE": nil, "ATTN_SAES_NO_RELAUNCH": nil])
        #expect(status == 0 && !out.contains("warning"), "\(out)")
        #expect(out.contains("arithmetic peak: ") && out.contains("GFLOP/s on \(Parallel.workerCount) workers"), "\(out)")
        let notes = err.components(separatedBy: "note: OpenBLAS chose its generic").count - 1
        if notes == 1 {
            let core = try #require(err.split(separator: "OPENBLAS_CORETYPE=").dropFirst().first?.prefix { $0.isLetter })
            #expect(out.contains("OpenBLAS kernels: \(core) (OPENBLAS_CORETYPE=\(core))"), "\(out)")
            // Asked not to, it keeps the generic kernels and warns instead.
            let (_, kept, keptErr) = try Self.kernels(["OPENBLAS_CORETYPE": nil, "ATTN_SAES_NO_RELAUNCH": "1"])
            #expect(kept.contains("(OpenBLAS's own choice)") && kept.contains("warning: OpenBLAS chose its generic") && !keptErr.contains("note:"))
        } else {
            #expect(notes == 0 && out.contains("(OpenBLAS's own choice)"), "\(err)")
        }
        // A value the user set is kept as it is.
        let (_, chosen, chosenErr) = try Self.kernels(["OPENBLAS_CORETYPE": "Haswell"])
        #expect(chosen.contains("OpenBLAS kernels: Haswell (OPENBLAS_CORETYPE=Haswell)") && !chosenErr.contains("note:"), "\(chosen)")
    }
}
