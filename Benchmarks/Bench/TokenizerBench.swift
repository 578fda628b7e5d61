// TokenizerBench: GPT-2 tokenizer throughput on the default corpus against HuggingFace `tokenizers`
// (single-threaded) on the same text.

import Foundation
import Transformer
import Tensor
import SparseAutoencoder
import Interp

enum TokenizerBench {
    static var cache: String { ProjectCache.root }

    /// The benchmark text: the corpus's `.txt` files in sorted path order, whole files, until at
    /// least 2,000,000 bytes (Scripts/baselines/transformer.py builds the same text).
    static func text() -> String? {
        let root = URL(fileURLWithPath: cache + "/corpus/python3-doc").resolvingSymlinksInPath().path
        guard let e = FileManager.default.enumerator(atPath: root) else { return nil }
        var paths: [String] = []
        while let p = e.nextObject() as? String { if p.hasSuffix(".txt") { paths.append(p) } }
        var out = ""
        for p in paths.sorted() {
            guard let s = try? String(contentsOfFile: root + "/" + p, encoding: .utf8) else { continue }
            out += s
            if out.utf8.count >= 2_000_000 { break }
        }
        return out.isEmpty ? nil : out
    }

    static func run(torch: [String: Double]) -> [String] {
        guard let text = text(), (try? GPT2Tokenizer()) != nil else {
            Timing.log("  tokenizer: no corpus or tokenizer files in \(cache) (run Scripts/setup); skipped")
            return []
        }
        var count = 0
        // A fresh tokenizer each time: its BPE cache starts empty, as HuggingFace's does per process.
        let t = Timing.best(reps: 3) {
            let fresh = try! GPT2Tokenizer()
            count = fresh.encode(text).count
        }
        let load = Timing.best(reps: 3) { _ = try! GPT2Tokenizer() }
        let encode = t - load
        Timing.log(String(format: "  tokenizer: %d bytes → %d tokens in %.3f s (%.0f tokens/s)", text.utf8.count, count, encode, Double(count) / encode))
        guard let tt = torch["tokenizer_encode"] else { return [] }
        if let n = torch["tokenizer_tokens"], Int(n) != count {
            Timing.log("  WARNING: HuggingFace produced \(Int(n)) tokens, we produced \(count)")
        }
        return [Timing.result("transformer.tokenizer_encode", Double(count) / encode, "tokens/s", ratio: tt / encode,
                              baseline: "HF_tokenizers(1thread)")]
    }
}
