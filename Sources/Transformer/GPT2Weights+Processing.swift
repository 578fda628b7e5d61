// GPT2Weights+Processing: TransformerLens from_pretrained's weight processing, step by step, in TL's order.
import Tensor

extension GPT2Weights {
    /// These weights with the steps of `wanted` applied that are not applied yet, in TransformerLens
    /// order: fold LN → centre writing weights → centre unembed → fold value biases (REFERENCE §1).
    ///
    /// - fold LN: each norm's weight scales the rows of the weights it feeds (`W_Q/K/V`, `W_in`,
    ///   `W_U`), its bias becomes `b += ln.b · W`, those weights are centred over `d_model`, and the
    ///   norm becomes `LNPre` (centre and scale only).
    /// - centre writing weights: `W_E`, `W_pos`, `W_O`, `b_O`, `W_out`, `b_out` lose their mean over
    ///   `d_model`, so the residual stream has zero mean.
    /// - centre unembed: `W_U` loses its mean over the vocabulary (per `d_model` row), `b_U` its mean:
    ///   logits shift by a constant per position, log-probabilities do not change.
    /// - fold value biases: `b_O += Σ_h b_V[h] · W_O[h]`, `b_V = 0` (exact since attention rows sum to 1).
    ///
    /// Each step is exact in real arithmetic; the processed model's log-probabilities equal the
    /// original's to float rounding, and `hook_z` loses the per-head constant `b_V + ln1.b · W_V`.
    ///
    /// A shortformer model gets only the value-bias fold, as in TransformerLens's `from_pretrained`:
    /// its positions join the queries and keys after `ln1`, so folding `ln1` would scale them too, and
    /// TransformerLens turns off centring with it (``applicable(_:)``).
    public func processed(_ wanted: WeightProcessing = .transformerLensDefault) -> GPT2Weights {
        let wanted = applicable(wanted)
        var w = self
        if wanted.foldLN && !processing.foldLN { w.foldLayerNorms() }
        if wanted.centerWritingWeights && !processing.centerWritingWeights { w.centerWritingWeights() }
        if wanted.centerUnembed && !processing.centerUnembed { w.centerUnembed() }
        if wanted.foldValueBiases && !processing.foldValueBiases { w.foldValueBiases() }
        return w
    }

    /// The steps of `wanted` this model's architecture allows, as TransformerLens's `from_pretrained`
    /// decides them: for shortformer positions it turns off folding LN, centring the writing weights
    /// and centring the unembedding, keeping only the value-bias fold.
    public func applicable(_ wanted: WeightProcessing) -> WeightProcessing {
        guard config.positionalEmbedding == .shortformer else { return wanted }
        return WeightProcessing(foldLN: false, centerWritingWeights: false, centerUnembed: false, foldValueBiases: wanted.foldValueBiases)
    }

    /// `x − mean(x)` over `axis`.
    private static func centered(_ x: Tensor, axis: Int) -> Tensor { x - x.mean(axis: axis, keepingAxis: true) }

    /// Folds `ln` into a reading weight whose `d_model` axis is `axis`: returns the new weight
    /// (scaled by `ln.w` along `axis`, then centred over it) and the bias increment `ln.b · W`.
    private static func fold(_ ln: LayerNormWeights, into weight: Tensor, axis: Int) -> (weight: Tensor, biasDelta: Tensor) {
        var shape = [Int](repeating: 1, count: weight.rank)
        shape[axis] = ln.w.count
        let scaled = weight * ln.w.reshaped(shape)
        let delta = (weight * ln.b.reshaped(shape)).sum(axis: axis)
        return (centered(scaled, axis: axis), delta)
    }

    mutating func foldLayerNorms() {
        for l in blocks.indices {
            var b = blocks[l]
            if let ln = b.ln1 {
                // W_Q [n_heads, d_model, d_head]: d_model is axis 1; b_Q [n_heads, d_head].
                var f = GPT2Weights.fold(ln, into: b.wQ, axis: 1); b.wQ = f.weight; b.bQ = b.bQ + f.biasDelta
                f = GPT2Weights.fold(ln, into: b.wK, axis: 1); b.wK = f.weight; b.bK = b.bK + f.biasDelta
                f = GPT2Weights.fold(ln, into: b.wV, axis: 1); b.wV = f.weight; b.bV = b.bV + f.biasDelta
                b.ln1 = nil
            }
            if let ln = b.ln2 {
                let f = GPT2Weights.fold(ln, into: b.wIn, axis: 0)
                b.wIn = f.weight; b.bIn = b.bIn + f.biasDelta
                b.ln2 = nil
            }
            blocks[l] = b
        }
        if let ln = lnFinal {
            let f = GPT2Weights.fold(ln, into: wU, axis: 0)
            wU = f.weight; bU = bU + f.biasDelta
            lnFinal = nil
        }
        processing.foldLN = true
    }

    mutating func centerWritingWeights() {
        wE = GPT2Weights.centered(wE, axis: -1)
        wPos = GPT2Weights.centered(wPos, axis: -1)
        for l in blocks.indices {
            blocks[l].wO = GPT2Weights.centered(blocks[l].wO, axis: -1)
            blocks[l].bO = GPT2Weights.centered(blocks[l].bO, axis: -1)
            blocks[l].wOut = GPT2Weights.centered(blocks[l].wOut, axis: -1)
            blocks[l].bOut = GPT2Weights.centered(blocks[l].bOut, axis: -1)
        }
        processing.centerWritingWeights = true
    }

    mutating func centerUnembed() {
        wU = GPT2Weights.centered(wU, axis: -1)
        bU = GPT2Weights.centered(bU, axis: -1)
        processing.centerUnembed = true
    }

    mutating func foldValueBiases() {
        for l in blocks.indices {
            let b = blocks[l]
            let nh = b.wO.shape[0], dh = b.wO.shape[1], dm = b.wO.shape[2]
            // Σ_h Σ_k b_V[h, k] · W_O[h, k, :]  =  b_V (flattened [1, n_heads·d_head]) · W_O [n_heads·d_head, d_model].
            let delta = b.bV.reshaped([1, nh * dh]).matmul(b.wO.reshaped([nh * dh, dm])).reshaped([dm])
            blocks[l].bO = b.bO + delta
            blocks[l].bV = Tensor(zeros: b.bV.shape)
        }
        processing.foldValueBiases = true
    }
}
