// Backward+Naive: the entry path written out entry by entry, in Double, with no pointers, no
// parallelism and no by-feature lists — the reference the fast kernels (RowPass, FeaturePass) are
// tested against, beside the dense path.

import Foundation
import Tensor

extension StepBackward {
    /// The gradients of ``entryPath(_:_:_:_:)`` by their definitions (see TrainableArchitecture.swift),
    /// accumulated in Double row by row: slow, and obviously the formulas.
    static func naiveEntryPath<R: EntryRule>(_ rule: R, _ sup: EntrySupport, _ aux: AuxiliaryEntries?, _ input: StepInput) -> StepGradients {
        let sae = input.sae
        let (rows, a, fDim) = (input.x.shape[0], sae.config.dIn, sae.config.dSAE)
        let n = Double(input.normalizer)
        let x = input.x.contiguous().scalars, c = input.centred.contiguous().scalars, pre = input.pre.contiguous().scalars
        let wDec = sae.wDec.contiguous().scalars, bDec = sae.bDec.scalars, wEnc = sae.wEnc.contiguous().scalars
        var gDec = [Double](repeating: 0, count: fDim * a), gEnc = [Double](repeating: 0, count: a * fDim)
        var gBEnc = [Double](repeating: 0, count: fDim), gOwn = gBEnc, gBDec = [Double](repeating: 0, count: a)
        var fired = [Int](repeating: 0, count: fDim)
        var mse = 0.0, auxLoss = 0.0, activationSum = Float(0), active = 0
        for r in 0..<rows {
            let entries = sup.rowStart[r]..<sup.rowStart[r + 1]
            // x̂ = b_dec + Σ f_j W_dec[j]; e = x̂ − x.
            var e = (0..<a).map { Double(bDec[$0]) }
            var f: [Int: Float] = [:]
            for i in entries {
                let j = Int(sup.col[i]), value = rule.activation(pre[r * fDim + j], feature: j)
                f[j] = value
                activationSum += value
                if value != 0 { active += 1; fired[j] += 1 }
                for k in 0..<a { e[k] += Double(value) * Double(wDec[j * a + k]) }
            }
            for k in 0..<a { e[k] -= Double(x[r * a + k]) }
            mse += e.reduce(0) { $0 + $1 * $1 } / n
            let dR = e.map { 2 * $0 / n }
            for k in 0..<a { gBDec[k] += dR[k] }
            // The step's entries: ∂L/∂pre from ∂L_mse/∂f = dR · W_dec[j].
            for i in entries {
                let j = Int(sup.col[i]), v = pre[r * fDim + j], value = f[j]!
                let g = Float((0..<a).reduce(0.0) { $0 + dR[$1] * Double(wDec[j * a + $1]) })
                let dPre = Double(rule.preGradient(v, activation: value, outputGradient: g, feature: j))
                gOwn[j] += Double(rule.ownGradient(v, activation: value, outputGradient: g, feature: j))
                gBEnc[j] += dPre
                for k in 0..<a {
                    gDec[j * a + k] += Double(value) * dR[k]
                    gEnc[k * fDim + j] += dPre * Double(c[r * a + k])
                }
            }
            // AuxK: ê + e over its entries, dA = 2·scale·(ê + e)/N.
            if let aux {
                let auxEntries = aux.entries.rowStart[r]..<aux.entries.rowStart[r + 1]
                var residual = e
                for i in auxEntries {
                    let j = Int(aux.entries.col[i])
                    for k in 0..<a { residual[k] += Double(pre[r * fDim + j]) * Double(wDec[j * a + k]) }
                }
                auxLoss += Double(aux.scale) * residual.reduce(0) { $0 + $1 * $1 } / n
                let dA = residual.map { 2 * Double(aux.scale) * $0 / n }
                for i in auxEntries {
                    let j = Int(aux.entries.col[i]), z = Double(pre[r * fDim + j])
                    let g = (0..<a).reduce(0.0) { $0 + dA[$1] * Double(wDec[j * a + $1]) }
                    gBEnc[j] += g
                    for k in 0..<a {
                        gDec[j * a + k] += z * dA[k]
                        gEnc[k * fDim + j] += g * Double(c[r * a + k])
                    }
                }
            }
        }
        if sae.config.applyBDecToInput {
            for k in 0..<a { for j in 0..<fDim { gBDec[k] -= Double(wEnc[k * fDim + j]) * gBEnc[j] } }
        }
        func tensor(_ v: [Double], _ shape: [Int]) -> Tensor { Tensor(shape: shape, scalars: v.map { Float($0) }) }
        var grads = SAEParameters(wEnc: tensor(gEnc, [a, fDim]), wDec: tensor(gDec, [fDim, a]), bEnc: tensor(gBEnc, [fDim]), bDec: tensor(gBDec, [a]))
        if let own = rule.ownParameter { grads.own[own] = tensor(gOwn, [fDim]) }
        return StepGradients(gradients: grads, mse: Float(mse), sparsityPenalty: rule.sparsityPenalty(activationSum: activationSum, active: active),
                             auxiliaryLoss: Float(auxLoss), l0: Float(active) / Float(n), fired: fired, sparse: true, statistic: nil)
    }
}
