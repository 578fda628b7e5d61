// SAETrainer+Sparse: the training step's gradients computed over active features only.
//
// With L0 ≈ 20–100 of 24,576 features, only the encoder product x·W_enc has to be dense; the
// decoder product, dL/df at the active entries, and the W_dec / W_enc gradients touch N·L0·d_in
// numbers instead of N·d_sae·d_in. The dense path remains for dense activations; both give the
// same results up to float rounding (tested).

import Foundation
import Tensor

/// The active entries of `f = ReLU(pre)`, row by row (CSR) and feature by feature (CSC).
struct SparseActivations {
    let rows: Int, features: Int
    /// CSR: entries of row n are `rowStart[n] ..< rowStart[n+1]`.
    var rowStart: [Int]
    var col: [Int32]
    var val: [Float]
    /// dL/d pre at each CSR entry (filled by the backward pass).
    var grad: [Float]

    /// Collects the positive entries of `pre` `[rows, features]` (in parallel over rows).
    init(pre: Tensor) {
        let nRows = pre.shape[0], f = pre.shape[1]
        rows = nRows; features = f
        var perRow = [[(Int32, Float)]](repeating: [], count: nRows)
        pre.withUnsafeBufferPointer { p in
            perRow.withUnsafeMutableBufferPointer { out in
                let o = UnsafeSendableBox(out.baseAddress!)
                let base = UnsafeSendableBox(p.baseAddress!)
                Parallel.forEach(in: 0..<nRows, minChunk: 16) { n in
                    var entries: [(Int32, Float)] = []
                    let row = base.value + n * f
                    for j in 0..<f where row[j] > 0 { entries.append((Int32(j), row[j])) }
                    o.value[n] = entries
                }
            }
        }
        rowStart = [0]
        rowStart.reserveCapacity(rows + 1)
        var total = 0
        for r in perRow { total += r.count; rowStart.append(total) }
        col = []; col.reserveCapacity(total)
        val = []; val.reserveCapacity(total)
        for r in perRow { for (j, v) in r { col.append(j); val.append(v) } }
        grad = [Float](repeating: 0, count: total)
    }

    var count: Int { val.count }

    /// For each feature, its CSR entry indices in row order (the CSC view).
    func byFeature() -> (start: [Int], entries: [Int]) {
        var counts = [Int](repeating: 0, count: features + 1)
        for j in col { counts[Int(j) + 1] += 1 }
        for j in 0..<features { counts[j + 1] += counts[j] }
        var fill = counts
        var entries = [Int](repeating: 0, count: count)
        for e in 0..<count {
            let j = Int(col[e])
            entries[fill[j]] = e
            fill[j] += 1
        }
        return (counts, entries)
    }
}

extension SAETrainer {
    /// Below this fraction of active entries the sparse path is used.
    static let sparseDensityThreshold = 0.05

    /// The gradients through the sparse path (same contract as the dense `gradients`).
    func sparseGradients(centred: Tensor, x: Tensor, pre: Tensor, normalizer: Int) -> (grads: [Tensor], metrics: (l2: Float, l1: Float, l0: Float), fired: [Int]) {
        let n = x.shape[0], a = sae.config.dIn, fDim = sae.config.dSAE, norm = normalizer
        var acts = SparseActivations(pre: pre)
        let scale = 2 / Float(norm)
        let l1Grad = Float(config.l1Coeff) / Float(norm)
        // Decoder: x̂[n] = b_dec + Σ_j f[n, j]·W_dec[j]; dR = (x̂ − x)·2/N; per-row squared error.
        var dR = Tensor(zeros: [n, a])
        var rowErr = [Double](repeating: 0, count: n)
        let wDec = sae.wDec.contiguous(), bDec = sae.bDec.contiguous(), xc = x.contiguous()
        wDec.withUnsafeBufferPointer { wd in
            bDec.withUnsafeBufferPointer { bd in
                xc.withUnsafeBufferPointer { xp in
                    dR.withUnsafeMutableBufferPointer { dr in
                        rowErr.withUnsafeMutableBufferPointer { re in
                            acts.val.withUnsafeMutableBufferPointer { vals in
                                acts.grad.withUnsafeMutableBufferPointer { grads in
                                    let box = UnsafeSendableBox((wd.baseAddress!, bd.baseAddress!, xp.baseAddress!, dr.baseAddress!,
                                                                 re.baseAddress!, vals.baseAddress!, grads.baseAddress!))
                                    let rowStart = acts.rowStart, col = acts.col
                                    Parallel.forEach(in: 0..<n, minChunk: 8) { r in
                                        let (wdP, bdP, xP, drP, reP, vP, gP) = box.value
                                        let out = drP + r * a
                                        out.update(from: bdP, count: a)
                                        for e in rowStart[r]..<rowStart[r + 1] {
                                            let v = vP[e], w = wdP + Int(col[e]) * a
                                            for k in 0..<a { out[k] += v * w[k] }
                                        }
                                        var s: Double = 0
                                        let xr = xP + r * a
                                        for k in 0..<a {
                                            let e = out[k] - xr[k]
                                            s += Double(e * e)
                                            out[k] = e * scale
                                        }
                                        reP[r] = s
                                        // dL/dpre at the active entries: dR[n]·W_dec[j] + l1/N.
                                        for e in rowStart[r]..<rowStart[r + 1] {
                                            let w = wdP + Int(col[e]) * a
                                            var dot: Float = 0
                                            for k in 0..<a { dot += out[k] * w[k] }
                                            gP[e] = dot + l1Grad
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let l2 = Float(rowErr.reduce(0, +) / Double(norm))
        let l1 = Float(config.l1Coeff) * acts.val.reduce(0, +) / Float(norm)
        // Per feature: W_dec gradient rows Σ f·dR[n], W_enc gradient (transposed) rows Σ dpre·x_cent[n], b_enc.
        let (start, entries) = acts.byFeature()
        var fired = [Int](repeating: 0, count: fDim)
        for j in 0..<fDim { fired[j] = start[j + 1] - start[j] }
        var gDec = Tensor(zeros: [fDim, a]), gEncT = Tensor(zeros: [fDim, a]), gBEnc = Tensor(zeros: [fDim])
        let rowOf: [Int] = {
            var r = [Int](repeating: 0, count: acts.count)
            for row in 0..<n { for e in acts.rowStart[row]..<acts.rowStart[row + 1] { r[e] = row } }
            return r
        }()
        let cen = centred.contiguous()
        dR.withUnsafeBufferPointer { drp in
            cen.withUnsafeBufferPointer { cp in
                gDec.withUnsafeMutableBufferPointer { gd in
                    gEncT.withUnsafeMutableBufferPointer { ge in
                        gBEnc.withUnsafeMutableBufferPointer { gb in
                            let box = UnsafeSendableBox((drp.baseAddress!, cp.baseAddress!, gd.baseAddress!, ge.baseAddress!, gb.baseAddress!))
                            let vals = acts.val, grads = acts.grad
                            Parallel.forEach(in: 0..<fDim, minChunk: 64) { j in
                                let (drP, cP, gdP, geP, gbP) = box.value
                                let od = gdP + j * a, oe = geP + j * a
                                var b: Float = 0
                                for idx in start[j]..<start[j + 1] {
                                    let e = entries[idx], r = rowOf[e]
                                    let v = vals[e], g = grads[e]
                                    let dr = drP + r * a, c = cP + r * a
                                    for k in 0..<a {
                                        od[k] += v * dr[k]
                                        oe[k] += g * c[k]
                                    }
                                    b += g
                                }
                                gbP[j] = b
                            }
                        }
                    }
                }
            }
        }
        let gEnc = gEncT.transposed().contiguous()
        var gBDec = dR.sum(axis: 0)
        if sae.config.applyBDecToInput {
            gBDec = gBDec - sae.wEnc.matmul(gBEnc.reshaped([fDim, 1])).reshaped([a])
        }
        return ([gEnc, gDec, gBEnc, gBDec], (l2, l1, Float(acts.count) / Float(norm)), fired)
    }
}
