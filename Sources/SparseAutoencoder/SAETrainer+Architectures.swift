// SAETrainer+Architectures: the gradients of TopK (with AuxK), BatchTopK (with AuxK) and JumpReLU
// (straight-through estimators, L0 loss) — through the active entries only when few are active (always,
// for TopK: its L0 is fixed), densely otherwise. Both paths compute the same sums (tested against
// each other and against PyTorch references of the papers' definitions).
//
// Notation (rows n of the batch, N = normalizer, features j, inputs x [N, d_in]):
//   pre = (x − b_dec)·W_enc + b_enc,  f = pre·M (M the architecture's active mask),
//   x̂ = f·W_dec + b_dec,  e = x̂ − x,  L_mse = mean_n Σ_a e²,  dR = 2e/N = ∂L_mse/∂x̂.
// TopK / BatchTopK add AuxK (see SAETrainingConfig.auxKCoeff): z = pre on A (the k_aux largest dead
//   pre-activations of each row), ê = z·W_dec, L_aux = c·s·mean_n Σ_a (ê + e)², dA = 2cs(ê + e)/N
//   (x − x̂ = −e is detached).
// JumpReLU: M = 1[pre > θ], L_0 = λ·mean_n Σ_j 1[pre_nj > θ_j]; with rect(u) = 1[−½ < u < ½],
//   u = (pre − θ)/ε: ∂L/∂θ_j = −Σ_n rect(u_nj)·(θ_j/ε · ∂L/∂f_nj + λ/(N ε)), and ∂L/∂pre = M·∂L/∂f
//   (SAELens's JumpReLU and Step autograd functions with ste_to_input = false: DeepMind's estimator).

import Foundation
import Tensor

/// Which entries of a batch's pre-activations take part in a step, row by row (CSR, features ascending).
struct EntrySupport {
    var rowStart: [Int]
    var col: [Int32]

    var count: Int { col.count }

    init(rows: [[Int32]]) {
        rowStart = [0]
        rowStart.reserveCapacity(rows.count + 1)
        var total = 0
        for r in rows { total += r.count; rowStart.append(total) }
        col = []
        col.reserveCapacity(total)
        for r in rows { col.append(contentsOf: r) }
    }

    /// A dense `[rows, features]` 0/1 mask of the entries.
    func mask(features: Int) -> Tensor {
        let rows = rowStart.count - 1
        var m = Tensor(zeros: [rows, features])
        m.withUnsafeMutableBufferPointer { p in
            for r in 0..<rows { for e in rowStart[r]..<rowStart[r + 1] { p[r * features + Int(col[e])] = 1 } }
        }
        return m
    }

    /// Per row, the entries of `pre [rows, features]` that `keep(row, feature, value)` accepts.
    static func filter(_ pre: Tensor, _ keep: @escaping @Sendable (Int, Int, Float) -> Bool) -> EntrySupport {
        let (rows, f) = (pre.shape[0], pre.shape[1])
        var perRow = [[Int32]](repeating: [], count: rows)
        pre.contiguous().withUnsafeBufferPointer { p in
            perRow.withUnsafeMutableBufferPointer { out in
                let box = UnsafeSendableBox((p.baseAddress!, out.baseAddress!))
                Parallel.forEach(in: 0..<rows, minChunk: 16) { r in
                    let (src, dst) = box.value
                    var entries: [Int32] = []
                    let row = src + r * f
                    for j in 0..<f where keep(r, j, row[j]) { entries.append(Int32(j)) }
                    dst[r] = entries
                }
            }
        }
        return EntrySupport(rows: perRow)
    }

    /// The `k` largest entries of each row with a positive value (TopK's active set; ties: lower index).
    static func topK(_ pre: Tensor, k: Int) -> EntrySupport {
        let rows = pre.shape[0]
        let picked = pre.topK(k)
        var perRow = [[Int32]](repeating: [], count: rows)
        picked.values.withUnsafeBufferPointer { v in
            for r in 0..<rows {
                var entries: [Int32] = []
                for t in 0..<k where v[r * k + t] > 0 { entries.append(Int32(picked.indices.values[r * k + t])) }
                entries.sort()
                perRow[r] = entries
            }
        }
        return EntrySupport(rows: perRow)
    }

    /// BatchTopK's active set: the `total` largest entries of `ReLU(pre)` over the whole batch (ties: the
    /// first in row-major order), positive ones only (a selected zero contributes nothing), and the
    /// smallest activation kept (nil when none is positive) — what the threshold's moving average follows.
    static func batchTopK(_ pre: Tensor, total: Int) -> (support: EntrySupport, minKept: Float?) {
        var positives: [Float] = []
        pre.withUnsafeBufferPointer { p in for v in p where v > 0 { positives.append(v) } }
        guard total < positives.count else { return (filter(pre) { _, _, v in v > 0 }, positives.min()) }
        guard total > 0 else { return (EntrySupport(rows: [[Int32]](repeating: [], count: pre.shape[0])), nil) }
        // The total-th largest positive value t: everything above t is kept, and the first entries equal to t.
        let t = Selection.kthLargest(&positives, total)
        var above = 0
        pre.withUnsafeBufferPointer { p in for v in p where v > t { above += 1 } }
        var ties = total - above
        let (rows, f) = (pre.shape[0], pre.shape[1])
        var perRow = [[Int32]](repeating: [], count: rows)
        pre.contiguous().withUnsafeBufferPointer { p in
            for r in 0..<rows {
                var entries: [Int32] = []
                for j in 0..<f {
                    let v = p[r * f + j]
                    if v > t || (v == t && ties > 0) {
                        if v == t { ties -= 1 }
                        entries.append(Int32(j))
                    }
                }
                perRow[r] = entries
            }
        }
        return (EntrySupport(rows: perRow), t)
    }

    /// AuxK's entries: per row, the `kAux` largest pre-activations among the `dead` features (any sign).
    static func auxK(_ pre: Tensor, dead: [Int], kAux: Int) -> EntrySupport {
        let rows = pre.shape[0]
        let k = min(kAux, dead.count)
        let picked = pre.gathering(axis: 1, IndexTensor(dead)).topK(k)
        var perRow = [[Int32]](repeating: [], count: rows)
        for r in 0..<rows {
            perRow[r] = picked.indices.values[(r * k)..<((r + 1) * k)].map { Int32(dead[$0]) }.sorted()
        }
        return EntrySupport(rows: perRow)
    }
}

enum Selection {
    /// The `k`-th largest of `values` (1 ≤ k ≤ count), by quickselect (reorders `values`).
    static func kthLargest(_ values: inout [Float], _ k: Int) -> Float {
        precondition(k >= 1 && k <= values.count)
        var lo = 0, hi = values.count - 1
        let target = k - 1
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        while lo < hi {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let pivot = values[lo + Int((state >> 33) % UInt64(hi - lo + 1))]
            // Three-way partition, descending: [> pivot | == pivot | < pivot].
            var i = lo, lt = lo, gt = hi
            while i <= gt {
                if values[i] > pivot { values.swapAt(i, lt); lt += 1; i += 1 }
                else if values[i] < pivot { values.swapAt(i, gt); gt -= 1 }
                else { i += 1 }
            }
            if target < lt { hi = lt - 1 } else if target > gt { lo = gt + 1 } else { return pivot }
        }
        return values[target]
    }
}

/// What one step's gradients need beyond the parameters.
struct ArchitectureStep {
    /// Entries where `f = pre` (the active set), and for JumpReLU the straight-through band too.
    var support: EntrySupport
    /// AuxK's entries (nil: no dead feature, or AuxK off).
    var aux: EntrySupport?
    /// AuxK's `c · s` (coefficient × `min(dead / k_aux, 1)`).
    var auxScale: Float
    /// BatchTopK: the smallest activation kept.
    var minKept: Float?
    /// JumpReLU's clamped thresholds, λ at this step and ε.
    var threshold: Tensor?
    var l0Coeff: Float
    var bandwidth: Float
}

extension SAETrainer {
    /// The features dead for AuxK: not fired for more than `deadWindow` steps.
    public var deadFeatures: [Int] { stepsSinceFired.indices.filter { stepsSinceFired[$0] > config.deadWindow } }

    /// The entries taking part in this step for `pre` `[N, d_sae]`, and the AuxK entries.
    /// JumpReLU's entries are listed only when `listJumpReLU` (the entry path); the dense path needs none.
    func architectureStep(pre: Tensor, rowsPerRankBatch n: Int, listJumpReLU: Bool) -> ArchitectureStep {
        var step = ArchitectureStep(support: EntrySupport(rows: []), aux: nil, auxScale: 0, threshold: nil, l0Coeff: 0,
                                    bandwidth: Float(config.bandwidth))
        switch config.architecture {
        case .standard: preconditionFailure("the standard recipe has its own gradients")
        case .topk: step.support = .topK(pre, k: Int(config.k))
        case .batchtopk: (step.support, step.minKept) = EntrySupport.batchTopK(pre, total: Int(config.k * Double(n)))
        case .jumprelu:
            let theta = sae.threshold!.contiguous()
            step.threshold = theta
            step.l0Coeff = Float(config.l0Coefficient(atStep: self.step))
            let eps = step.bandwidth
            let t = theta.scalars
            // Active (pre > θ) or inside the estimator's band ((pre − θ)/ε > −½).
            if listJumpReLU { step.support = .filter(pre) { _, j, v in Self.inJumpReLUSupport(v, t[j], eps) } }
        }
        if config.architecture == .topk || config.architecture == .batchtopk, config.auxKCoeff > 0 {
            let dead = deadFeatures
            if !dead.isEmpty {
                let kAux = config.kAux(dIn: sae.config.dIn)
                step.aux = .auxK(pre, dead: dead, kAux: kAux)
                step.auxScale = Float(config.auxKCoeff * min(Double(dead.count) / Double(kAux), 1))
            }
        }
        return step
    }

    /// Gradients (W_enc, W_dec, b_enc, b_dec and, for JumpReLU, θ), metrics, firing counts, whether the
    /// entry path was taken, and (BatchTopK) the smallest activation kept.
    func architectureGradients(centred: Tensor, x: Tensor, pre: Tensor, normalizer: Int, path: GradientPath)
        -> (grads: [Tensor], metrics: (l2: Float, l1: Float, l0: Float), fired: [Int], sparse: Bool, minKept: Float?) {
        var useEntries: Bool
        switch path {
        case .dense: useEntries = false
        case .sparse: useEntries = true
        case .automatic:
            if config.architecture == .jumprelu {
                let t = sae.threshold!.contiguous().scalars, f = pre.shape[1], eps = Float(config.bandwidth)
                var listed = 0
                pre.withUnsafeBufferPointer { p in for i in 0..<p.count where Self.inJumpReLUSupport(p[i], t[i % f], eps) { listed += 1 } }
                useEntries = Double(listed) < SAETrainer.sparseDensityThreshold * Double(pre.count)
            } else {
                useEntries = true                                                 // decided below, from the entries
            }
        }
        let s = architectureStep(pre: pre, rowsPerRankBatch: x.shape[0], listJumpReLU: useEntries)
        if path == .automatic && config.architecture != .jumprelu {
            useEntries = Double(s.support.count + (s.aux?.count ?? 0)) < SAETrainer.sparseDensityThreshold * Double(pre.count)
        }
        let r = useEntries ? entryGradients(s, centred: centred, x: x, pre: pre, normalizer: normalizer)
                           : denseGradients(s, centred: centred, x: x, pre: pre, normalizer: normalizer)
        return (r.grads, r.metrics, r.fired, useEntries, s.minKept)
    }

    /// Whether a JumpReLU entry takes part in the step: active (`pre > θ`) or in the estimators' band.
    @inline(__always)
    static func inJumpReLUSupport(_ v: Float, _ t: Float, _ eps: Float) -> Bool { v > t || (v - t) / eps > -0.5 }

    /// Whether entry (value `v`, threshold `t`) is active under this step's rule.
    @inline(__always)
    static func isActive(_ v: Float, _ t: Float?) -> Bool { t.map { v > $0 } ?? (v > 0) }

    /// The dense path: masks of the step's entries, then matrix products.
    func denseGradients(_ s: ArchitectureStep, centred: Tensor, x: Tensor, pre: Tensor, normalizer: Int)
        -> (grads: [Tensor], metrics: (l2: Float, l1: Float, l0: Float), fired: [Int]) {
        let (n, fDim, a) = (Float(normalizer), sae.config.dSAE, sae.config.dIn)
        let theta = s.threshold?.reshaped([1, fDim])
        // M: active entries (TopK/BatchTopK: the support; JumpReLU: pre > θ).
        let m = theta.map { th in Tensor.elementwise(pre, th) { p, t in p > t ? 1 : 0 } } ?? s.support.mask(features: fDim)
        let f = pre * m
        let recons = Tensor.affine(f, sae.wDec, sae.bDec)
        let e = recons - x
        let l2 = e.squared().sum() / n
        let dR = e * (2 / n)
        let dF = Tensor.matmul(dR, sae.wDec, transposeB: true)                   // ∂L/∂f [N, F]
        var dPre = dF * m
        var gDec = Tensor.matmul(f, dR, transposeA: true)
        var sparsity: Float = 0
        let fired = FeatureFrequencies.firingCounts(f)
        let active = Float(fired.reduce(0, +))
        var grads: [Tensor] = []
        if let aux = s.aux {
            let ma = aux.mask(features: fDim)
            let z = pre * ma
            let diff = Tensor.matmul(z, sae.wDec) + e                              // ê − (x − x̂)
            sparsity = s.auxScale * diff.squared().sum() / n
            let dA = diff * (2 * s.auxScale / n)
            dPre = dPre + Tensor.matmul(dA, sae.wDec, transposeB: true) * ma
            gDec = gDec + Tensor.matmul(z, dA, transposeA: true)
        }
        var gTheta: Tensor?
        if let theta {
            let eps = s.bandwidth, stepGrad = s.l0Coeff / n
            let band = Tensor.elementwise(pre, theta) { p, t in let u = (p - t) / eps; return u > -0.5 && u < 0.5 ? 1 : 0 }
            // −rect·(θ/ε·∂L/∂f + λ/(N ε)), summed over rows.
            let perEntry = Tensor.elementwise(dF, theta) { g, t in -((t / eps) * g + stepGrad / eps) } * band
            gTheta = perEntry.sum(axis: 0)
            sparsity = s.l0Coeff * active / n
        }
        let gEnc = Tensor.matmul(centred, dPre, transposeA: true)
        let gBEnc = dPre.sum(axis: 0)
        var gBDec = dR.sum(axis: 0)
        if sae.config.applyBDecToInput {
            gBDec = gBDec - sae.wEnc.matmul(gBEnc.reshaped([fDim, 1])).reshaped([a])
        }
        grads = [gEnc, gDec, gBEnc, gBDec] + (gTheta.map { [$0] } ?? [])
        return (grads, (l2, sparsity, active / n), fired)
    }

    /// The entry path: only the support's (and AuxK's) entries are touched after the encoder product.
    func entryGradients(_ s: ArchitectureStep, centred: Tensor, x: Tensor, pre: Tensor, normalizer: Int)
        -> (grads: [Tensor], metrics: (l2: Float, l1: Float, l0: Float), fired: [Int]) {
        let (rows, a, fDim) = (x.shape[0], sae.config.dIn, sae.config.dSAE)
        let n = Float(normalizer), scale = 2 / n
        let sup = s.support, aux = s.aux ?? EntrySupport(rows: [[Int32]](repeating: [], count: rows))
        let hasAux = s.aux != nil, auxGrad = 2 * s.auxScale / n
        let theta = s.threshold?.scalars
        let eps = s.bandwidth, stepGrad = s.l0Coeff / n
        let preC = pre.contiguous()
        // Per support entry: its value f (0 in JumpReLU's band below θ), ∂L/∂pre, and ∂L/∂θ's term.
        var val = [Float](repeating: 0, count: sup.count), dPre = val, dTheta = val
        var auxVal = [Float](repeating: 0, count: aux.count), auxDPre = auxVal
        var dR = Tensor(zeros: [rows, a]), dA = Tensor(zeros: [hasAux ? rows : 0, a])
        var rowErr = [Double](repeating: 0, count: rows), auxErr = rowErr
        let wDec = sae.wDec.contiguous(), bDec = sae.bDec.contiguous(), xc = x.contiguous()
        wDec.withUnsafeBufferPointer { wd in bDec.withUnsafeBufferPointer { bd in xc.withUnsafeBufferPointer { xp in
        preC.withUnsafeBufferPointer { pp in dR.withUnsafeMutableBufferPointer { dr in dA.withUnsafeMutableBufferPointer { da in
        rowErr.withUnsafeMutableBufferPointer { re in auxErr.withUnsafeMutableBufferPointer { ae in
        val.withUnsafeMutableBufferPointer { vp in dPre.withUnsafeMutableBufferPointer { gp in dTheta.withUnsafeMutableBufferPointer { tp in
        auxVal.withUnsafeMutableBufferPointer { avp in auxDPre.withUnsafeMutableBufferPointer { agp in
            let box = UnsafeSendableBox((wd.baseAddress!, bd.baseAddress!, xp.baseAddress!, pp.baseAddress!, dr.baseAddress!, da.baseAddress,
                                         re.baseAddress!, ae.baseAddress!, vp.baseAddress, gp.baseAddress, tp.baseAddress, avp.baseAddress, agp.baseAddress))
            Parallel.forEach(in: 0..<rows, minChunk: 8) { r in
                let (wdP, bdP, xP, pP, drP, daP, reP, aeP, vP, gP, tP, avP, agP) = box.value
                let preRow = pP + r * fDim, xr = xP + r * a
                let out = drP + r * a
                out.update(from: bdP, count: a)
                for e in sup.rowStart[r]..<sup.rowStart[r + 1] {
                    let j = Int(sup.col[e]), v = preRow[j]
                    let f: Float = SAETrainer.isActive(v, theta?[j]) ? v : 0
                    vP![e] = f
                    if f != 0 {
                        let w = wdP + j * a
                        for k in 0..<a { out[k] += f * w[k] }
                    }
                }
                var err: Double = 0
                for k in 0..<a {
                    let d = out[k] - xr[k]
                    err += Double(d * d)
                    out[k] = d                                                    // e, scaled below
                }
                if hasAux {
                    // ê + e, then dA = 2cs(ê + e)/N.
                    let o = daP! + r * a
                    o.update(from: out, count: a)
                    for e in aux.rowStart[r]..<aux.rowStart[r + 1] {
                        let j = Int(aux.col[e]), z = preRow[j]
                        avP![e] = z
                        let w = wdP + j * a
                        for k in 0..<a { o[k] += z * w[k] }
                    }
                    var s2: Double = 0
                    for k in 0..<a { s2 += Double(o[k] * o[k]); o[k] *= auxGrad }
                    aeP[r] = s2
                    for e in aux.rowStart[r]..<aux.rowStart[r + 1] {
                        let w = wdP + Int(aux.col[e]) * a
                        var dot: Float = 0
                        for k in 0..<a { dot += o[k] * w[k] }
                        agP![e] = dot
                    }
                }
                for k in 0..<a { out[k] *= scale }
                reP[r] = err
                for e in sup.rowStart[r]..<sup.rowStart[r + 1] {
                    let j = Int(sup.col[e])
                    let w = wdP + j * a
                    var dot: Float = 0
                    for k in 0..<a { dot += out[k] * w[k] }                       // ∂L/∂f
                    gP![e] = vP![e] != 0 ? dot : 0
                    if let theta {
                        let t = theta[j], u = (preRow[j] - t) / eps
                        tP![e] = u > -0.5 && u < 0.5 ? -((t / eps) * dot + stepGrad / eps) : 0
                    }
                }
            }
        }}}}}}}}}}}}}
        let l2 = Float(rowErr.reduce(0, +) / Double(normalizer))
        let active = val.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }
        let sparsity: Float = theta != nil ? s.l0Coeff * Float(active) / n : (hasAux ? s.auxScale * Float(auxErr.reduce(0, +) / Double(normalizer)) : 0)
        // Per feature: W_dec rows Σ f·dR + Σ z·dA, W_enc columns Σ ∂pre·x_cent, b_enc Σ ∂pre, θ Σ terms.
        let main = Self.byFeature(sup, features: fDim), side = Self.byFeature(aux, features: fDim)
        var fired = [Int](repeating: 0, count: fDim)
        for j in 0..<fDim { for idx in main.start[j]..<main.start[j + 1] where val[main.entries[idx]] != 0 { fired[j] += 1 } }
        var gDec = Tensor(zeros: [fDim, a]), gEncT = Tensor(zeros: [fDim, a]), gBEnc = Tensor(zeros: [fDim]), gTheta = Tensor(zeros: [fDim])
        let cen = centred.contiguous()
        dR.withUnsafeBufferPointer { drp in dA.withUnsafeBufferPointer { dap in cen.withUnsafeBufferPointer { cp in
        gDec.withUnsafeMutableBufferPointer { gd in gEncT.withUnsafeMutableBufferPointer { ge in
        gBEnc.withUnsafeMutableBufferPointer { gb in gTheta.withUnsafeMutableBufferPointer { gt in
            let box = UnsafeSendableBox((drp.baseAddress!, dap.baseAddress, cp.baseAddress!, gd.baseAddress!, ge.baseAddress!, gb.baseAddress!, gt.baseAddress!))
            Parallel.forEach(in: 0..<fDim, minChunk: 64) { j in
                let (drP, daP, cP, gdP, geP, gbP, gtP) = box.value
                let od = gdP + j * a, oe = geP + j * a
                var b: Float = 0, t: Float = 0
                for idx in main.start[j]..<main.start[j + 1] {
                    let e = main.entries[idx], r = main.row[e]
                    let v = val[e], g = dPre[e]
                    t += dTheta[e]
                    if v == 0 && g == 0 { continue }
                    let dr = drP + r * a, c = cP + r * a
                    for k in 0..<a { od[k] += v * dr[k]; oe[k] += g * c[k] }
                    b += g
                }
                for idx in side.start[j]..<side.start[j + 1] {
                    let e = side.entries[idx], r = side.row[e]
                    let z = auxVal[e], g = auxDPre[e]
                    let d = daP! + r * a, c = cP + r * a
                    for k in 0..<a { od[k] += z * d[k]; oe[k] += g * c[k] }
                    b += g
                }
                gbP[j] = b
                gtP[j] = t
            }
        }}}}}}}
        let gEnc = gEncT.transposed().contiguous()
        var gBDec = dR.sum(axis: 0)
        if sae.config.applyBDecToInput {
            gBDec = gBDec - sae.wEnc.matmul(gBEnc.reshaped([fDim, 1])).reshaped([a])
        }
        return ([gEnc, gDec, gBEnc, gBDec] + (theta != nil ? [gTheta] : []), (l2, sparsity, Float(active) / n), fired)
    }

    /// For each feature, the support's entry indices in row order (CSC), and each entry's row.
    static func byFeature(_ s: EntrySupport, features: Int) -> (start: [Int], entries: [Int], row: [Int]) {
        var start = [Int](repeating: 0, count: features + 1)
        for j in s.col { start[Int(j) + 1] += 1 }
        for j in 0..<features { start[j + 1] += start[j] }
        var fill = start
        var entries = [Int](repeating: 0, count: s.count), row = entries
        for r in 0..<(s.rowStart.count - 1) {
            for e in s.rowStart[r]..<s.rowStart[r + 1] {
                row[e] = r
                let j = Int(s.col[e])
                entries[fill[j]] = e
                fill[j] += 1
            }
        }
        return (start, entries, row)
    }
}
