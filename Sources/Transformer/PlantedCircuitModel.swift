// PlantedCircuitModel: a GPT-2-architecture model whose circuits are planted by construction — the
// project's offline default and its ground truth.

import Foundation
import Tensor

/// A deterministic GPT-2-architecture model (GPT-2's vocabulary, 2 layers of 12 heads × 64, d_model
/// 768, n_ctx 256, real layer norms, zero MLPs) with four heads whose jobs are known:
///
/// - layer 0, **previous-token head** (0.3): attends one position back and copies that token's code;
/// - layer 0, **two-back head** (0.7): attends two positions back and copies that token's code;
/// - layer 1, **short-prefix induction head** (1.5): at destination `p` attends to the source `q`
///   whose previous token equals the current token (`t[q−1] = t[p]`) and copies `t[q]`;
/// - layer 1, **long-prefix induction head** (1.1): attends to `q` only when the two preceding tokens
///   match (`t[q−1] = t[p]` and `t[q−2] = t[p−1]`), and otherwise rests on BOS.
///
/// The other 20 heads have small random weights, so `hook_z` is not trivially clean.
///
/// ## Construction
/// The residual stream is split into orthogonal *logical* directions `uᵢ = (e₂ᵢ − e₂ᵢ₊₁)/√2`
/// (384 of them). Each is mean-free across d_model, so layer norm's centring leaves the planted
/// content alone and layer norm is the rescaling `x ↦ x · √d_model / |x|`. The logical directions are
/// grouped into subspaces:
///
/// | subspace | written by | content |
/// |---|---|---|
/// | `TOK` (C dims) | `W_E` | the token's random unit code `c_t` (BOS has none) |
/// | `FLAG` (1) | `W_E` | BOS only, with norm √3 so that BOS's residual norm equals other positions' in layer 1 |
/// | `POS` (2K) | `W_pos` | `(cos ω_k p, sin ω_k p)/√K` for K random frequencies in [0.2π, 0.8π] |
/// | `PREV1`, `PREV2` (C each) | heads 0.3, 0.7 | `c` of the token one and two back |
/// | `OUT` (C) | heads 1.1, 1.5 | `c` of the token they attend to; the unembedding reads only this |
/// | `JUNK` (the rest) | the random heads | noise |
///
/// Scores: the previous-token heads' query rotates the position code by −ω (or −2ω), so their score
/// is `β · (1/K) Σ_k cos(ω_k (p − 1 − q))`, maximal at `q = p − 1`. The short-prefix head scores
/// `α_s · c_{t[p]} · c_{t[q−1]}` (1 on a match, noise of standard deviation `1/√C` otherwise); the
/// long-prefix head scores `α_l · (c_{t[p]} + R c_{t[p−1]}) · (c_{t[q−1]} + R c_{t[q−2]})` with a signed
/// permutation `R` (≈ 2 when both tokens match, ≈ 1 for one); both get a constant query bias that
/// meets BOS's flag in the key, an attention sink at `λ α` with `λ_s = 0.6` (between no and one
/// match) and `λ_l = 1.5` (between one and two matches). With `C = 56` random codes the noise of
/// a non-match is `α/√56` per term, so `α_s = 30`, `α_l = 24` keep the sink several noise
/// standard deviations from both neighbours (see ``Settings``).
public enum PlantedCircuitModel {
    /// A head as (layer, head); prints as TransformerLens does, e.g. `1.5`.
    public struct Head: Sendable, Hashable, Codable, CustomStringConvertible {
        public var layer: Int, head: Int
        public init(layer: Int, head: Int) { self.layer = layer; self.head = head }
        public var description: String { "\(layer).\(head)" }
    }

    /// Where the planted heads are.
    public struct Roles: Sendable, Equatable, Codable {
        public var previousToken: Head, twoBack: Head, shortInduction: Head, longInduction: Head
        public init(previousToken: Head, twoBack: Head, shortInduction: Head, longInduction: Head) {
            self.previousToken = previousToken; self.twoBack = twoBack
            self.shortInduction = shortInduction; self.longInduction = longInduction
        }
        /// The layout of every model this code builds.
        public static let standard = Roles(previousToken: Head(layer: 0, head: 3), twoBack: Head(layer: 0, head: 7),
                                           shortInduction: Head(layer: 1, head: 5), longInduction: Head(layer: 1, head: 1))

        /// The roles as file attributes (`planted.previous_token = "0.3"`, …).
        public var attributes: [String: HDF5Attribute] {
            ["planted.previous_token": .string(previousToken.description), "planted.two_back": .string(twoBack.description),
             "planted.short_induction": .string(shortInduction.description), "planted.long_induction": .string(longInduction.description)]
        }

        /// Reads the roles from a model file's attributes; nil when the file is not a planted model.
        public init?(hdf5 path: String) throws {
            let f = try HDF5File(path: path)
            let names = Set(try f.attributeNames())
            func head(_ key: String) throws -> Head? {
                guard names.contains(key) else { return nil }
                guard let s = try f.attribute(key).stringValue, let dot = s.firstIndex(of: "."),
                      let l = Int(s[..<dot]), let h = Int(s[s.index(after: dot)...]) else {
                    throw TransformerError.invalidModelFile(file: path, detail: "attribute '\(key)' is not a head 'layer.head'")
                }
                return Head(layer: l, head: h)
            }
            guard let p = try head("planted.previous_token"), let t = try head("planted.two_back"),
                  let s = try head("planted.short_induction"), let l = try head("planted.long_induction") else { return nil }
            self.init(previousToken: p, twoBack: t, shortInduction: s, longInduction: l)
        }
    }

    /// The constants of the construction. The defaults are the offline default model.
    public struct Settings: Sendable, Equatable {
        /// Seed of the token codes, frequencies and random heads.
        public var seed: UInt64 = 0
        /// Dimension C of the token codes.
        public var codeDims = 56
        /// Number K of position frequencies (2K logical dimensions; 2K ≤ d_head).
        public var positionPairs = 32
        public var nCtx = 256
        /// Score scale β of the previous-token heads: the target scores β, others β · f(Δ) with
        /// |f| ≲ 0.5 for these frequencies.
        public var previousTokenSharpness: Float = 40
        /// Score α of one code match for the short- and long-prefix heads.
        public var shortInductionStrength: Float = 30
        public var longInductionStrength: Float = 24
        /// The BOS sink's score in units of α.
        public var shortSink: Float = 0.6
        public var longSink: Float = 1.5
        /// Norm of the random heads' values (before attention) and of their writes into JUNK.
        public var randomValueNorm: Float = 0.5
        public var randomOutputNorm: Float = 0.2
        /// Standard deviation of the random heads' attention scores.
        public var randomScoreScale: Float = 2
        /// Gain γ of the unembedding: the logit of the copied token is about γ · √d_model / |x| · |OUT|.
        public var unembedGain: Float = 1.1
        /// The vocabulary: its size (`d_vocab`), BOS (which carries the flag instead of a code) and the
        /// tokens whose codes are made orthogonal. GPT-2's by default; ``Vocabulary/init(tokenizer:)``
        /// makes one for any tokenizer (e.g. GELU-2L's NeoX-style one).
        public var vocabulary = Vocabulary.gpt2
        /// Standard (GPT-2) or shortformer positions (GELU-2L's family, the attn-only shortformer models).
        public var positions = GPT2Config.PositionalEmbedding.standard
        public init() {}
    }

    /// The token side of the construction: `d_vocab`, BOS, and the commonest tokens.
    public struct Vocabulary: Sendable, Equatable {
        public var size: Int
        public var bos: Int
        /// Tokens whose codes are mutually orthogonal (the first C of them, in this order).
        public var commonTokens: [Int]
        /// The first `reservedDims` common tokens get code dimensions of their own, which no other token's
        /// code touches (0, GPT-2's default: every code spans all C dimensions). A small vocabulary, whose
        /// commonest tokens are copied at a large share of positions, needs this for their features to be
        /// as clean as on GPT-2's vocabulary (Docs/PlantedModel.md).
        public var reservedDims = 0
        public init(size: Int, bos: Int, commonTokens: [Int], reservedDims: Int = 0) {
            self.size = size; self.bos = bos; self.commonTokens = commonTokens; self.reservedDims = reservedDims
        }

        /// GPT-2's: 50257 tokens, BOS 50256, ``PlantedCircuitModel/commonTokens``.
        public static let gpt2 = Vocabulary(size: 50257, bos: GPT2Config.endOfText, commonTokens: PlantedCircuitModel.commonTokens)

        /// A tokenizer's: its size, its `<|endoftext|>` as BOS, and as common tokens either `commonTokens`
        /// (e.g. the most frequent tokens of the corpus the model will read, which for a small vocabulary
        /// are far more often copied than any fixed list), or else ``PlantedCircuitModel/commonStrings``
        /// that are one token in it (for GPT-2's tokenizer this is exactly ``gpt2``).
        public init(tokenizer: GPT2Tokenizer, commonTokens: [Int]? = nil) {
            size = tokenizer.idLimit
            bos = tokenizer.endOfTextID
            self.commonTokens = commonTokens ?? PlantedCircuitModel.commonStrings.compactMap { s in
                let ids = tokenizer.encode(s)
                return ids.count == 1 ? ids[0] : nil
            }
        }
    }

    /// The model's configuration: GPT-2 small's widths, two layers, the vocabulary and positions of `s`.
    public static func config(_ s: Settings = Settings()) -> GPT2Config {
        GPT2Config(nLayers: 2, dModel: 768, nHeads: 12, dHead: 64, dMLP: 3072, nCtx: s.nCtx, dVocab: s.vocabulary.size,
                   positionalEmbedding: s.positions)
    }

    /// Version of the construction; part of the cache file name, bumped whenever the weights change.
    public static let version = 2

    /// The texts of ``commonTokens``: whitespace, ASCII punctuation and the commonest English words —
    /// the tokens copied most often in text and code.
    public static let commonStrings: [String] = [" ", "\n", "\n\n"] + "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".map(String.init)
        + [" the", " a", " to", " of", " and", " in", " is", " for", " that", " be",
           " it", " as", " with", " on", " The", " an", " or", " this", " are", " if", " ("]

    /// GPT-2's ids of ``commonStrings``: the tokens whose codes are orthogonal to each other (the first C of them).
    public static let commonTokens: [Int] = [
        220, 198, 628,                                              // " ", "\n", "\n\n"
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,           // ! " # $ % & ' ( ) * + , - . /
        25, 26, 27, 28, 29, 30, 31, 58, 59, 60, 61, 62, 63,         // : ; < = > ? @ [ \ ] ^ _ `
        90, 91, 92, 93,                                             // { | } ~
        262, 257, 284, 286, 290, 287, 318, 329, 326, 307,           // the a to of and in is for that be
        340, 355, 351, 319, 383, 281, 393, 428, 389, 611, 357,      // it as with on The an or this are if " ("
    ]

    /// Builds the weights (unprocessed, in TransformerLens layout). Deterministic in `settings`.
    public static func build(_ settings: Settings = Settings(), roles: Roles = .standard) -> GPT2Weights {
        let s = settings
        let cfg = config(s)
        let (dm, nh, dh, C, K) = (cfg.dModel, cfg.nHeads, cfg.dHead, s.codeDims, s.positionPairs)
        precondition(2 * K <= dh && C < dh && 4 * C + 2 * K + 1 < dm / 2, "planted model: subspaces do not fit")
        let tok = 0, prev1 = C, prev2 = 2 * C, out = 3 * C, pos = 4 * C, flag = 4 * C + 2 * K, junk = flag + 1
        let nJunk = dm / 2 - junk
        let r = Float(0.5).squareRoot()
        // Adds `value` along logical direction i to row `row` of a [rows, d_model] buffer.
        func put(_ w: inout [Float], _ row: Int, _ i: Int, _ value: Float) {
            w[row * dm + 2 * i] += value * r
            w[row * dm + 2 * i + 1] -= value * r
        }
        var rng = RandomStream(seed: s.seed)
        // Token codes: random unit vectors in C dims (the BOS row of W_U gets one too) ...
        var codes = [Float](repeating: 0, count: cfg.dVocab * C)
        for t in 0..<cfg.dVocab {
            var n: Float = 0
            for i in 0..<C { let v = Float(rng.nextNormal()); codes[t * C + i] = v; n += v * v }
            n = n.squareRoot()
            for i in 0..<C { codes[t * C + i] /= n }
        }
        // ... except the commonest tokens, whose codes are made mutually orthogonal (Gram–Schmidt in list
        // order), so that their frequent copies do not leak into each other's features.
        let common = s.vocabulary.commonTokens.filter { $0 >= 0 && $0 < cfg.dVocab }.prefix(C)
        // With reserved dimensions, the first R common tokens own code dimensions 0..<R and every other
        // token's code lives in the rest, so copying any other token never reads as copying one of them.
        let reserved = min(s.vocabulary.reservedDims, common.count, C - 1)
        if reserved > 0 {
            for t in 0..<cfg.dVocab {
                for i in 0..<reserved { codes[t * C + i] = 0 }
                let n = (reserved..<C).reduce(Float(0)) { $0 + codes[t * C + $1] * codes[t * C + $1] }.squareRoot()
                for i in reserved..<C { codes[t * C + i] /= n }
            }
            for (i, t) in common.prefix(reserved).enumerated() {
                for j in 0..<C { codes[t * C + j] = j == i ? 1 : 0 }
            }
        }
        for (k, t) in common.enumerated() {
            for u in common.prefix(k) {
                let d = (0..<C).reduce(Float(0)) { $0 + codes[t * C + $1] * codes[u * C + $1] }
                for i in 0..<C { codes[t * C + i] -= d * codes[u * C + i] }
            }
            let n = (0..<C).reduce(Float(0)) { $0 + codes[t * C + $1] * codes[t * C + $1] }.squareRoot()
            for i in 0..<C { codes[t * C + i] /= n }
        }
        let frequencies = (0..<K).map { _ in Float.pi * (0.2 + 0.6 * rng.nextFloat()) }
        // Layer norm gain at a residual of squared norm n2 (all content mean-free).
        func lnGain(_ n2: Float) -> Float { 1 / (n2 / Float(dm) + cfg.eps).squareRoot() }
        // Standard positions: token code + position (1 + 1), then + PREV1 + PREV2 (BOS: flag 3 + position 1).
        // Shortformer: no position in the residual (1, then 3; BOS: flag 3), and the position code
        // joins the queries' and keys' inputs after ln1, unscaled (gain 1).
        let shortformer = s.positions == .shortformer
        let g0 = lnGain(shortformer ? 1 : 2)
        let g1 = lnGain(shortformer ? 3 : 4)
        let positionGain = shortformer ? 1 : g0
        let scale = Float(dh).squareRoot()

        // Embeddings.
        let bos = s.vocabulary.bos
        precondition(bos >= 0 && bos < cfg.dVocab, "planted model: BOS \(bos) outside the vocabulary of \(cfg.dVocab)")
        var wE = [Float](repeating: 0, count: cfg.dVocab * dm)
        for t in 0..<cfg.dVocab where t != bos { for i in 0..<C { put(&wE, t, tok + i, codes[t * C + i]) } }
        put(&wE, bos, flag, Float(3).squareRoot())
        var wPos = [Float](repeating: 0, count: s.nCtx * dm)
        let pn = 1 / Float(K).squareRoot()
        for p in 0..<s.nCtx {
            for k in 0..<K {
                put(&wPos, p, pos + 2 * k, pn * cos(frequencies[k] * Float(p)))
                put(&wPos, p, pos + 2 * k + 1, pn * sin(frequencies[k] * Float(p)))
            }
        }

        var blocks: [BlockWeights] = []
        for layer in 0..<cfg.nLayers {
            var wQ = [Float](repeating: 0, count: nh * dm * dh), wK = wQ, wV = wQ
            var bQ = [Float](repeating: 0, count: nh * dh)
            var wO = [Float](repeating: 0, count: nh * dh * dm)
            for h in 0..<nh {
                let head = Head(layer: layer, head: h)
                let (qOff, oOff) = (h * dm * dh, h * dh * dm)
                // Reads of logical direction i into head column `col` (W_Q, W_K, W_V), writes of a head
                // column into logical direction i (W_O).
                func q(_ i: Int, _ col: Int, _ x: Float) { wQ[qOff + 2 * i * dh + col] += x * r; wQ[qOff + (2 * i + 1) * dh + col] -= x * r }
                func k(_ i: Int, _ col: Int, _ x: Float) { wK[qOff + 2 * i * dh + col] += x * r; wK[qOff + (2 * i + 1) * dh + col] -= x * r }
                func v(_ i: Int, _ col: Int, _ x: Float) { wV[qOff + 2 * i * dh + col] += x * r; wV[qOff + (2 * i + 1) * dh + col] -= x * r }
                func o(_ col: Int, _ i: Int, _ x: Float) { wO[oOff + col * dm + 2 * i] += x * r; wO[oOff + col * dm + 2 * i + 1] -= x * r }
                if head == roles.previousToken || head == roles.twoBack {
                    // Query: the position code rotated back by `shift` steps; key: the position code.
                    let shift: Float = head == roles.previousToken ? 1 : 2
                    let sq = (scale * s.previousTokenSharpness).squareRoot() / positionGain
                    for kk in 0..<K {
                        let (c, sn) = (cos(frequencies[kk] * shift), sin(frequencies[kk] * shift))
                        let (ci, si) = (pos + 2 * kk, pos + 2 * kk + 1)
                        q(ci, 2 * kk, sq * c); q(si, 2 * kk, sq * sn)
                        q(si, 2 * kk + 1, sq * c); q(ci, 2 * kk + 1, -sq * sn)
                        k(ci, 2 * kk, sq); k(si, 2 * kk + 1, sq)
                    }
                    // Value: the token code (|z| = 1); output: into PREV1 or PREV2.
                    let target = head == roles.previousToken ? prev1 : prev2
                    for i in 0..<C { v(tok + i, i, 1 / g0); o(i, target + i, 1) }
                } else if head == roles.shortInduction || head == roles.longInduction {
                    let long = head == roles.longInduction
                    let alpha = long ? s.longInductionStrength : s.shortInductionStrength
                    let sq = (scale * alpha).squareRoot() / g1
                    for i in 0..<C {
                        q(tok + i, i, sq)
                        k(prev1 + i, i, sq)
                        if long {
                            // R: a signed cyclic shift of the code coordinates.
                            let (j, sign): (Int, Float) = ((i + 1) % C, i % 2 == 0 ? 1 : -1)
                            q(prev1 + j, i, sign * sq)
                            k(prev2 + j, i, sign * sq)
                        }
                        v(tok + i, i, 1 / g1)
                        o(i, out + i, 1)
                    }
                    // Attention sink: a constant query meets BOS's flag (LN'd to √3 · g1; key √3).
                    let lambda = long ? s.longSink : s.shortSink
                    k(flag, dh - 1, 1 / g1)
                    bQ[h * dh + dh - 1] = scale * lambda * alpha / Float(3).squareRoot()
                } else {
                    // A random head: random queries, keys and values over the whole residual, writing into JUNK.
                    var hr = RandomStream(seed: s.seed &+ 1 &+ UInt64(layer * nh + h) &* 0x9E37_79B9)
                    let sqk = (s.randomScoreScale * scale / (Float(dm) * Float(dh).squareRoot())).squareRoot()
                    let sv = s.randomValueNorm / (Float(dm) * Float(dh)).squareRoot()
                    let so = s.randomOutputNorm / (s.randomValueNorm * Float(nJunk).squareRoot())
                    for idx in 0..<(dm * dh) {
                        wQ[qOff + idx] = sqk * Float(hr.nextNormal())
                        wK[qOff + idx] = sqk * Float(hr.nextNormal())
                        wV[qOff + idx] = sv * Float(hr.nextNormal())
                    }
                    for col in 0..<dh { for i in 0..<nJunk { o(col, junk + i, so * Float(hr.nextNormal())) } }
                }
            }
            let ones = Tensor(repeating: 1, shape: [dm]), zeros = Tensor(zeros: [dm])
            blocks.append(BlockWeights(
                ln1: LayerNormWeights(w: ones, b: zeros),
                wQ: Tensor(shape: [nh, dm, dh], scalars: wQ), wK: Tensor(shape: [nh, dm, dh], scalars: wK),
                wV: Tensor(shape: [nh, dm, dh], scalars: wV),
                bQ: Tensor(shape: [nh, dh], scalars: bQ), bK: Tensor(zeros: [nh, dh]), bV: Tensor(zeros: [nh, dh]),
                wO: Tensor(shape: [nh, dh, dm], scalars: wO), bO: zeros,
                ln2: LayerNormWeights(w: ones, b: zeros),
                wIn: Tensor(zeros: [dm, cfg.dMLP]), bIn: Tensor(zeros: [cfg.dMLP]),
                wOut: Tensor(zeros: [cfg.dMLP, dm]), bOut: zeros))
        }
        // Unembedding: reads OUT against each token's code.
        var wU = [Float](repeating: 0, count: dm * cfg.dVocab)
        for i in 0..<C {
            for t in 0..<cfg.dVocab {
                let v = s.unembedGain * codes[t * C + i] * r
                wU[2 * (out + i) * cfg.dVocab + t] += v
                wU[(2 * (out + i) + 1) * cfg.dVocab + t] -= v
            }
        }
        return GPT2Weights(config: cfg, wE: Tensor(shape: [cfg.dVocab, dm], scalars: wE), wPos: Tensor(shape: [s.nCtx, dm], scalars: wPos),
                           blocks: blocks, lnFinal: LayerNormWeights(w: Tensor(repeating: 1, shape: [dm]), b: Tensor(zeros: [dm])),
                           wU: Tensor(shape: [dm, cfg.dVocab], scalars: wU), bU: Tensor(zeros: [cfg.dVocab]), processing: .none)
    }

    /// Writes the model in our HDF5 layout with the head roles and the construction's version and
    /// seed as root attributes (atomically: a temporary file, then a rename).
    public static func write(_ weights: GPT2Weights, settings: Settings = Settings(), roles: Roles = .standard, to path: String) throws {
        var attributes = roles.attributes
        attributes["planted.version"] = .int(Int64(version))
        attributes["planted.seed"] = .int(Int64(bitPattern: settings.seed))
        try weights.writeHDF5(to: path, extraAttributes: attributes)
    }

    /// The default cache file of the model with `settings`:
    /// `$ATTN_SAE_CACHE/planted/planted-circuit-v<version>-seed<seed>.h5`.
    public static func cachePath(_ settings: Settings = Settings()) -> String {
        return ProjectCache.root + "/planted/planted-circuit-v\(version)-seed\(settings.seed).h5"
    }

    /// Loads the model from `path` (default ``cachePath(_:)``), building and writing it first if the
    /// file does not exist. The default name holds the version and seed only, so settings other than
    /// the seed are built in memory unless a `path` is given.
    public static func loadOrBuild(_ settings: Settings = Settings(), at path: String? = nil) throws -> GPT2Weights {
        var defaults = Settings()
        defaults.seed = settings.seed
        if path == nil && settings != defaults { return build(settings) }
        let file = path ?? cachePath(settings)
        if FileManager.default.fileExists(atPath: file) {
            let f = try HDF5File(path: file)
            guard (try? f.attribute("planted.version").intValue) == Int64(version),
                  (try? f.attribute("planted.seed").intValue) == Int64(bitPattern: settings.seed) else {
                throw TransformerError.invalidModelFile(file: file, detail: "not planted-circuit model v\(version) with seed \(settings.seed); delete it to rebuild")
            }
            return try GPT2Weights.load(hdf5: file)
        }
        let weights = build(settings)
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try write(weights, settings: settings, to: file)
        return weights
    }
}
