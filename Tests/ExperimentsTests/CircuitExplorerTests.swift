// CircuitExplorerTests: `circuit-explorer trace` as a user runs it — on a model folder in Neel Nanda's format
// with SAELens-format attention and residual SAEs — its graph JSON in circuit-tracer's schema (every node's
// links and unexplained part give its value), its page (token text escaped), and typed errors before any work.

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TensorTestSupport
@testable import Experiments
import Interp
import SparseAutoencoder
import Tensor
import Transformer

@Suite struct CircuitExplorerTests {
    /// A model folder (TransformerLens checkpoint, config, NeoX-style tokenizer) and SAELens folders: attention
    /// SAEs for both layers (in a folder of SAEs) and a residual SAE for layer 1.
    static func inputs() throws -> (model: String, attention: String, residual: String, wrongHook: String) {
        let model = try GELU2LTests.folder(["model_final.pth": transformerFixture("tl-checkpoint/standard/model_final.pth"),
                                            "config.json": transformerFixture("tl-checkpoint/standard/config.json"),
                                            "tokenizer.json": transformerFixture("tokenizer-json/neox_style.json")])
        let dir = temporaryDirectory().path
        for l in 0..<2 {
            var sae = SAETrainer.initialSAE(SAEConfig(dIn: 16, dSAE: 48, hookName: "blocks.\(l).attn.hook_z"), seed: UInt64(3 + l))
            var rng = RandomStream(seed: UInt64(40 + l))
            sae.bEnc = Tensor.randomNormal([48], std: 0.05, using: &rng)
            try sae.save(saeLens: dir + "/attention/L\(l)")
        }
        let resid = SAETrainer.initialSAE(SAEConfig(dIn: 16, dSAE: 40, hookName: "blocks.1.hook_resid_pre"), seed: 9)
        try resid.save(saeLens: dir + "/resid-L1")
        try resid.save(saeLens: dir + "/wrong")
        var wrong = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/wrong/cfg.json"))) as! [String: Any]
        wrong["metadata"] = ["hook_name": "blocks.1.hook_mlp_out", "sae_lens_version": "6.0.0"]
        try JSONSerialization.data(withJSONObject: wrong).write(to: URL(fileURLWithPath: dir + "/wrong/cfg.json"))
        return (model, dir + "/attention", dir + "/resid-L1", dir + "/wrong")
    }

    /// Runs the executable; returns status, standard output and standard error.
    static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try runExecutable("circuit-explorer", arguments)
    }

    /// Runs the executable with each case's extra arguments; each must fail, saying the case's text.
    static func expectRefused(_ base: [String], _ cases: [([String], String)]) throws {
        for (extra, says) in cases {
            let r = try run(base + extra)
            #expect(r.status != 0 && r.stderr.contains(says), "\(extra): status \(r.status), \(r.stderr.prefix(400))")
        }
    }

    @Test func traceWritesTheGraphAndThePage() throws {
        let i = try Self.inputs()
        let out = temporaryDirectory().path
        let prompt = "def board(x): <script>alert(1)</script> board(x)"
        let r = try Self.run(["trace", "--model", i.model, "--saes", i.attention, "--resid-saes", i.residual, "--prompt", prompt,
                              "--depth", "3", "--max-children", "4", "--threshold", "0", "--output", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("attn L") && r.stdout.contains("QK "), "\(r.stdout.prefix(2000))")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/trace.json"))) as? [String: Any])
        // circuit-tracer's top level and fields.
        let metadata = try #require(json["metadata"] as? [String: Any])
        #expect(metadata["prompt"] as? String == prompt && (metadata["prompt_tokens"] as? [String])?.first == "<|endoftext|>")
        #expect((metadata["transcoder_list"] as? [String])?.count == 3 && metadata["schema_version"] as? Int == 1)
        let q = try #require(json["qParams"] as? [String: Any])
        for key in ["pinnedIds", "supernodes", "linkType", "clickedId", "sg_pos"] { #expect(q[key] != nil, "qParams.\(key)") }
        let nodes = try #require(json["nodes"] as? [[String: Any]]), links = try #require(json["links"] as? [[String: Any]])
        for n in nodes {
            for key in ["node_id", "feature", "layer", "ctx_idx", "feature_type", "jsNodeId", "clerp", "influence", "activation", "token_prob", "is_target_logit"] {
                #expect(n.keys.contains(key), "node field \(key)")
            }
            #expect(TraceNode(id: n["node_id"] as! String) != nil)
        }
        let ids = Set(nodes.map { $0["node_id"] as! String })
        #expect(ids.count == nodes.count)
        #expect(nodes.contains { $0["feature_type"] as? String == "residual sae feature" }, "the trace went through the residual SAE")
        for l in links { #expect(ids.contains(l["source"] as! String) && ids.contains(l["target"] as! String)) }
        // Each expanded node: its links plus its unexplained part give its value.
        for n in nodes {
            guard let value = n["value"] as? Double, let unexplained = n["unexplained"] as? Double else { continue }
            let incoming = links.filter { $0["target"] as? String == n["node_id"] as? String }.reduce(0.0) { $0 + ($1["weight"] as! Double) }
            #expect(abs(incoming + unexplained - value) <= 1e-4 * max(1, abs(value)), "\(n["node_id"]!)")
        }
        let qk = try #require(json["qk"] as? [[String: Any]])
        #expect(!qk.isEmpty)
        for a in qk {
            let pairs = (a["pairs"] as! [[String: Any]]).reduce(0.0) { $0 + ($1["value"] as! Double) } + (a["other_pairs"] as! Double)
            #expect(abs(pairs - (a["score"] as! Double)) <= 1e-3 * max(1, abs(a["score"] as! Double)))
        }
        // The page: token text is data, never markup.
        let html = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        #expect(!html.contains("<script>") && html.contains("&lt;script&gt;") && html.contains("<svg"))
    }

    /// A GPT-2-architecture model with GPT-2's vocabulary and tokenizer (random weights with layer norms,
    /// in our HDF5 layout, loaded and processed as GPT-2 is) and SAELens SAEs: the trace runs, through the
    /// residual SAE, and its graph accounts for every expanded value.
    @Test func aGPT2ShapedModelWithSAELensSAEs() throws {
        let c = GPT2Config(nLayers: 2, dModel: 64, nHeads: 4, dHead: 16, dMLP: 256, nCtx: 64, dVocab: 50257)
        var rng = RandomStream(seed: 31)
        func r(_ shape: [Int], _ std: Float = 0.1) -> Tensor { Tensor.randomNormal(shape, std: std, using: &rng) }
        func ln() -> LayerNormWeights { LayerNormWeights(w: r([64], 0.2) + 1, b: r([64])) }
        let blocks = (0..<2).map { _ in
            BlockWeights(ln1: ln(), wQ: r([4, 64, 16]), wK: r([4, 64, 16]), wV: r([4, 64, 16]), bQ: r([4, 16]), bK: r([4, 16]), bV: r([4, 16]),
                         wO: r([4, 16, 64]), bO: r([64]), ln2: ln(), wIn: r([64, 256]), bIn: r([256]), wOut: r([256, 64]), bOut: r([64]))
        }
        let weights = GPT2Weights(config: c, wE: r([50257, 64]), wPos: r([64, 64]), blocks: blocks, lnFinal: ln(), wU: r([64, 50257]), bU: r([50257]), processing: .none)
        let dir = temporaryDirectory().path
        try weights.writeHDF5(to: dir + "/gpt2-shaped.h5")
        for l in 0..<2 { try SAETrainer.initialSAE(SAEConfig(dIn: 64, dSAE: 96, hookName: "blocks.\(l).attn.hook_z"), seed: UInt64(l)).save(saeLens: dir + "/saes/L\(l)") }
        try SAETrainer.initialSAE(SAEConfig(dIn: 64, dSAE: 80, hookName: "blocks.1.hook_resid_pre"), seed: 7).save(saeLens: dir + "/res-L1")
        let out = dir + "/out"
        let r0 = try Self.run(["trace", "--model", dir + "/gpt2-shaped.h5", "--saes", dir + "/saes", "--resid-saes", dir + "/res-L1",
                               "--prompt", "The cat sat on the mat. The cat sat on the", "--threshold", "0", "--output", out])
        #expect(r0.status == 0, "\(r0.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/trace.json"))) as? [String: Any])
        #expect((json["metadata"] as? [String: Any])?["prompt_tokens"] as? [String] == ["<|endoftext|>", "The", " cat", " sat", " on", " the", " mat", ".", " The", " cat", " sat", " on", " the"])
        let nodes = try #require(json["nodes"] as? [[String: Any]]), links = try #require(json["links"] as? [[String: Any]])
        #expect(nodes.contains { $0["feature_type"] as? String == "residual sae feature" })
        for n in nodes {
            guard let value = n["value"] as? Double, let unexplained = n["unexplained"] as? Double else { continue }
            let incoming = links.filter { $0["target"] as? String == n["node_id"] as? String }.reduce(0.0) { $0 + ($1["weight"] as! Double) }
            #expect(abs(incoming + unexplained - value) <= 1e-4 * max(1, abs(value)), "\(n["node_id"]!)")
        }
    }

    @Test func badRequestsStopBeforeAnyWork() throws {
        let i = try Self.inputs()
        let out = temporaryDirectory().path
        let base = ["trace", "--model", i.model, "--saes", i.attention, "--output", out]
        let cases: [([String], String)] = [
            (["--depth", "9"], "--depth is 9; allowed: 0…8"),
            (["--threshold", "2"], "--threshold is 2.0; allowed: 0…1"),
            (["--max-children", "0"], "--max-children is 0"),
            (["--top", "0"], "--top is 0"),
            (["--feature", "1.2"], "--feature is 1.2; allowed: layer.feature@position"),
            (["--feature", "1.2@1", "--position", "3"], "not both"),
            (["--feature", "1.48@1"], "--feature is 1.48@1; allowed: layer.feature@position with an attention SAE's layer and feature — layers 0 (features 0…47), 1 (features 0…47)"),
            (["--feature", "1.2@400"], "--feature is 1.2@400; allowed"),
            (["--feature", "3.2@1"], "--feature is 3.2@1; allowed"),
            (["--position", "99"], "--position is 99; allowed: positions 0…"),
            (["--prompt", String(repeating: "board ", count: 200)], "the model takes at most n_ctx = 128"),
            (["--resid-saes", i.wrongHook], "residual SAE \(i.wrongHook)"),
            (["--resid-saes", i.attention + "/L1"], "it must read blocks.L.hook_resid_pre"),
        ]
        try Self.expectRefused(base, cases)
        #expect(!FileManager.default.fileExists(atPath: out + "/trace.json"))
    }

    /// `serve` as a user starts it: on 127.0.0.1, saying so, answering on the address it prints; bad options and
    /// inputs refused before it listens.
    @Test func serveListensOnLoopbackAndSaysSo() async throws {
        let i = try Self.inputs()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("circuit-explorer")
        p.arguments = ["serve", "--model", i.model, "--saes", i.attention, "--resid-saes", i.residual, "--port", "0"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = Pipe()
        try p.run()
        defer { p.terminate(); p.waitUntilExit() }
        var text = ""
        let deadline = Date().addingTimeInterval(120)
        while !text.contains("Listening") && Date() < deadline && p.isRunning {
            text += String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        }
        let address = try #require(text.split(separator: "\n").first { $0.hasPrefix("Circuit Explorer: ") }.map { String($0.dropFirst(18)) }, "\(text)")
        #expect(address.hasPrefix("http://127.0.0.1:"))
        #expect(text.contains("Listening on 127.0.0.1 only"))
        let (info, _) = try await URLSession.shared.data(from: URL(string: address + "api/info")!)
        let json = try #require(try JSONSerialization.jsonObject(with: info) as? [String: Any])
        #expect(json["attentionLayers"] as? [Int] == [0, 1] && json["residualLayers"] as? [Int] == [1])
        let (page, _) = try await URLSession.shared.data(from: URL(string: address)!)
        #expect(String(decoding: page, as: UTF8.self).contains("Attention Circuit Explorer"))

        let base = ["serve", "--model", i.model, "--saes", i.attention, "--port", "0"]
        let cases: [([String], String)] = [
            (["--port", "70000"], "--port is 70000; allowed: 0…65535"),
            (["--max-prompt-bytes", "0"], "--max-prompt-bytes is 0"),
            (["--cache-mb", "0"], "--cache-mb is 0"),
            (["--concurrency", "0"], "--concurrency is 0"),
            (["--host", ""], "--host is empty"),
            (["--dashboards", "/nonexistent"], "give LAYER=DIR"),
            (["--dashboards", "5=/nonexistent"], "layer 5, which has no attention SAE"),
            (["--dashboards", "1=/nonexistent"], "has no features/ folder"),
        ]
        try Self.expectRefused(base, cases)
    }
}
