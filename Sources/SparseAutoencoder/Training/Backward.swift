// Backward: a training step's gradients for every architecture, by two paths.
//
// - The dense path (the reference): masks over every entry of [N, d_sae], then matrix products — five
//   of them, as the paper's PyTorch step does.
// - The entry path: with L0 ≈ 20–100 of 24,576 features only the encoder product x·W_enc is dense; the
//   decoder product, ∂L/∂f at the step's entries and the W_dec / W_enc gradients touch N·L0·d_in
//   numbers instead of N·d_sae·d_in. Two flat kernels: one over rows (decode, residual, ∂L/∂f), one
//   over features (the parameter gradients, from the entries listed by feature).
//
// Both paths apply the architecture's EntryRule to the same entries and compute the same sums up to
// float rounding (tested against each other, and both against PyTorch). See TrainableArchitecture.swift
// for the notation.

import Foundation
import Tensor

/// Below this fraction of entries taking part (support plus AuxK's) the entry path is used.
let sparseDensityThreshold = 0.05

enum StepBackward {
    /// The gradients of one step: the entries from `selection` (or the rule's), the path from
    /// `input.path` (automatic: the entry path below ``sparseDensityThreshold``).
    static func run<R: EntryRule>(_ rule: R, _ selection: StepSelection, _ input: StepInput) -> StepGradients {
        let total = Double(input.pre.count)
        var support = selection.support
        let useEntries: Bool
        switch input.path {
        case .dense: useEntries = false
        case .sparse, .naive: useEntries = true
        case .automatic:
            // Fewer than the threshold's entries, AuxK's included: the rule's are listed in the same pass
            // that counts them, which gives up once there are too many.
            let limit = Int((sparseDensityThreshold * total).rounded(.up)) - 1 - (selection.auxiliary?.entries.count ?? 0)
            if support == nil { support = EntrySupport.filter(input.pre, rule, limit: limit) }
            useEntries = support.map { $0.count <= limit } ?? false          // a listing from the rule is nil past the limit
        }
        var g: StepGradients
        if useEntries {
            if support == nil { support = EntrySupport.filter(input.pre, rule)! }
            g = input.path == .naive ? naiveEntryPath(rule, support!, selection.auxiliary, input) : entryPath(rule, support!, selection.auxiliary, input)
        } else {
            g = densePath(rule, support, selection.auxiliary, input)
        }
        g.sparse = useEntries
        g.statistic = selection.statistic
        return g
    }

    /// `b_dec`'s gradient: `Σ_n dR_n`, and through `x − b_dec` on the encoder side `− W_enc · Σ_n ∂L/∂pre_n`.
    static func bDecGradient(_ dR: Tensor, gBEnc: Tensor, sae: SAE) -> Tensor {
        var g = dR.sum(axis: 0)
        if sae.config.applyBDecToInput {
            g = g - sae.wEnc.matmul(gBEnc.reshaped([sae.config.dSAE, 1])).reshaped([sae.config.dIn])
        }
        return g
    }

    // MARK: The dense path

    /// Every entry of `[N, d_sae]`: `f`, `∂L/∂pre` and the own parameter's terms row by row from the rule
    /// (masked by `support` when the selection lists its entries), the rest as matrix products.
    static func densePath<R: EntryRule>(_ rule: R, _ support: EntrySupport?, _ aux: AuxiliaryEntries?, _ input: StepInput) -> StepGradients {
        let sae = input.sae, x = input.x, pre = input.pre.contiguous()
        let (rows, fDim) = (x.shape[0], sae.config.dSAE)
        let n = Float(input.normalizer)
        let mask = support?.mask(features: fDim)
        // f, entry by entry: the rule's activation where the entry takes part (by the listed support, or
        // by the rule), 0 elsewhere — every element written once.
        let m = mask?.scalars
        let f = pre.withUnsafeBufferPointer { p in
            Tensor(shape: [rows, fDim], unsafeUninitialized: { fp in
                let box = UnsafeSendableBox((p.baseAddress!, fp.baseAddress!))
                Parallel.forEach(in: 0..<rows, minChunk: 8) { r in
                    let (pr, fr) = (box.value.0 + r * fDim, box.value.1 + r * fDim)
                    if let m {
                        for j in 0..<fDim { fr[j] = m[r * fDim + j] != 0 ? rule.activation(pr[j], feature: j) : 0 }
                    } else {
                        for j in 0..<fDim { fr[j] = rule.takesPart(pr[j], feature: j) ? rule.activation(pr[j], feature: j) : 0 }
                    }
                }
            })
        }
        let recons = Tensor.affine(f, sae.wDec, sae.bDec)                         // [N, d_in]
        let e = recons - x
        let mse = e.squared().sum() / n
        let dR = e * (2 / n)                                                       // ∂L_mse/∂x̂
        let dF = Tensor.matmul(dR, sae.wDec, transposeB: true)                     // ∂L_mse/∂f [N, d_sae]
        var gDec = Tensor.matmul(f, dR, transposeA: true)                          // fᵀ·dR [d_sae, d_in]
        // ∂L/∂pre and the own parameter's terms, entry by entry (0 where the entry takes no part).
        let own = rule.ownParameter
        var ownRows = Tensor(zeros: [own == nil ? 0 : rows, fDim])
        let dFc = dF.contiguous()
        var dPre = pre.withUnsafeBufferPointer { p in f.withUnsafeBufferPointer { fp in dFc.withUnsafeBufferPointer { gp in
        ownRows.withUnsafeMutableBufferPointer { op in
            Tensor(shape: [rows, fDim], unsafeUninitialized: { dp in
                let box = UnsafeSendableBox((p.baseAddress!, fp.baseAddress!, gp.baseAddress!, dp.baseAddress!, own == nil ? nil : op.baseAddress))
                Parallel.forEach(in: 0..<rows, minChunk: 8) { r in
                    let (pP, fP, gP, dP, oP) = box.value
                    @inline(__always) func entry(_ j: Int, _ takesPart: Bool) {
                        let i = r * fDim + j, v = pP[i]
                        dP[i] = takesPart ? rule.preGradient(v, activation: fP[i], outputGradient: gP[i], feature: j) : 0
                        if let oP, takesPart { oP[i] = rule.ownGradient(v, activation: fP[i], outputGradient: gP[i], feature: j) }
                    }
                    if let m {
                        for j in 0..<fDim { entry(j, m[r * fDim + j] != 0) }
                    } else {
                        for j in 0..<fDim { entry(j, rule.takesPart(pP[r * fDim + j], feature: j)) }
                    }
                }
            })
        }}}}
        var auxLoss: Float = 0
        if let aux {
            let ma = aux.entries.mask(features: fDim)
            let z = pre * ma
            let diff = Tensor.matmul(z, sae.wDec) + e                             // ê − (x − x̂)
            auxLoss = aux.scale * diff.squared().sum() / n
            let dA = diff * (2 * aux.scale / n)
            dPre = dPre + Tensor.matmul(dA, sae.wDec, transposeB: true) * ma
            gDec = gDec + Tensor.matmul(z, dA, transposeA: true)
        }
        let fired = FeatureFrequencies.firingCounts(f)
        let active = fired.reduce(0, +)
        let gEnc = Tensor.matmul(input.centred, dPre, transposeA: true)            // [d_in, d_sae]
        let gBEnc = dPre.sum(axis: 0)
        var grads = SAEParameters(wEnc: gEnc, wDec: gDec, bEnc: gBEnc, bDec: bDecGradient(dR, gBEnc: gBEnc, sae: sae))
        if let own { grads.own[own] = ownRows.sum(axis: 0) }
        return StepGradients(gradients: grads, mse: mse, sparsityPenalty: rule.sparsityPenalty(activationSum: f.sum(), active: active),
                             auxiliaryLoss: auxLoss, l0: Float(active) / n, fired: fired, sparse: false, statistic: nil)
    }

    // MARK: The entry path

    /// Only the step's entries (and AuxK's) after the encoder product.
    static func entryPath<R: EntryRule>(_ rule: R, _ sup: EntrySupport, _ aux: AuxiliaryEntries?, _ input: StepInput) -> StepGradients {
        let sae = input.sae, x = input.x.contiguous()
        let (rows, a, fDim) = (x.shape[0], sae.config.dIn, sae.config.dSAE)
        let n = Float(input.normalizer)
        let auxEntries = aux?.entries ?? EntrySupport(rows: [[Int32]](repeating: [], count: rows))
        var rowPass = RowPass(rows: rows, dIn: a, support: sup.count, aux: aux.map { $0.entries.count })
        let wDec = sae.wDec.contiguous(), bDec = sae.bDec.contiguous(), pre = input.pre.contiguous()
        wDec.withUnsafeBufferPointer { wd in bDec.withUnsafeBufferPointer { bd in x.withUnsafeBufferPointer { xp in
        pre.withUnsafeBufferPointer { pp in
            rowPass.run(rule, RowPass.Inputs(wDec: wd.baseAddress!, bDec: bd.baseAddress!, x: xp.baseAddress!, pre: pp.baseAddress!, dSAE: fDim),
                        support: sup, aux: auxEntries, auxGradientScale: 2 * (aux?.scale ?? 0) / n, residualScale: 2 / n)
        }}}}
        let s = rowPass.scratch
        let mse = Float(s.rowError.reduce(0, +) / Double(input.normalizer))
        let auxLoss = aux.map { $0.scale * Float(s.auxError.reduce(0, +) / Double(input.normalizer)) } ?? 0
        let active = s.value.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }
        let grads = FeaturePass.run(sup, rowPass, aux: auxEntries, centred: input.centred.contiguous(), dSAE: fDim, dIn: a, ownParameter: rule.ownParameter)
        var parameters = SAEParameters(wEnc: grads.wEnc, wDec: grads.wDec, bEnc: grads.bEnc,
                                       bDec: bDecGradient(rowPass.dR, gBEnc: grads.bEnc, sae: sae))
        if let own = rule.ownParameter { parameters.own[own] = grads.own }
        return StepGradients(gradients: parameters, mse: mse,
                             sparsityPenalty: rule.sparsityPenalty(activationSum: s.value.reduce(0, +), active: active),
                             auxiliaryLoss: auxLoss, l0: Float(active) / n, fired: grads.fired, sparse: true, statistic: nil)
    }
}

/// The entry path's numbers per entry and per row, in one zeroed allocation freed with its last reference.
final class EntryScratch: @unchecked Sendable {
    /// Per support entry: `f`, `∂L/∂pre`, the own parameter's term.
    let value, preGradient, ownTerm: UnsafeMutableBufferPointer<Float>
    /// Per AuxK entry: `z = pre` and `∂L/∂pre`.
    let auxValue, auxPreGradient: UnsafeMutableBufferPointer<Float>
    /// Per row, `Σ_a e²` and AuxK's `Σ_a (ê + e)²` (in Double; AuxK's empty without AuxK).
    let rowError, auxError: UnsafeMutableBufferPointer<Double>
    private let raw: UnsafeMutableRawPointer

    init(rows: Int, support: Int, aux: Int?) {
        let auxRows = aux == nil ? 0 : rows, auxEntries = aux ?? 0
        let doubles = rows + auxRows, floats = 3 * support + 2 * auxEntries
        let bytes = max(1, 8 * doubles + 4 * floats)
        raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 16)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        let d = raw.bindMemory(to: Double.self, capacity: doubles)
        rowError = UnsafeMutableBufferPointer(start: d, count: rows)
        auxError = UnsafeMutableBufferPointer(start: d + rows, count: auxRows)
        let f = (raw + 8 * doubles).bindMemory(to: Float.self, capacity: floats)
        value = UnsafeMutableBufferPointer(start: f, count: support)
        preGradient = UnsafeMutableBufferPointer(start: f + support, count: support)
        ownTerm = UnsafeMutableBufferPointer(start: f + 2 * support, count: support)
        auxValue = UnsafeMutableBufferPointer(start: f + 3 * support, count: auxEntries)
        auxPreGradient = UnsafeMutableBufferPointer(start: f + 3 * support + auxEntries, count: auxEntries)
    }

    deinit { raw.deallocate() }
}

/// The entry path's pass over rows: for each row n, `x̂_n = b_dec + Σ_e f_e W_dec[j_e]`, the residual
/// `e_n`, `dR_n = 2e_n/N`, AuxK's `dA_n = 2cs(ê_n + e_n)/N`, and per entry `f`, `∂L/∂pre` and the own
/// parameter's term.
struct RowPass {
    /// `dR [rows, d_in]` and AuxK's `dA [rows or 0, d_in]`.
    var dR: Tensor, dA: Tensor
    /// Per entry and per row (see ``EntryScratch``).
    let scratch: EntryScratch

    /// What the pass reads: `W_dec [d_sae, d_in]`, `b_dec [d_in]`, `x [rows, d_in]`, `pre [rows, d_sae]`.
    struct Inputs {
        let wDec: UnsafePointer<Float>, bDec: UnsafePointer<Float>, x: UnsafePointer<Float>, pre: UnsafePointer<Float>
        let dSAE: Int
    }

    /// Where it writes one row's results.
    struct Outputs {
        let dR: UnsafeMutablePointer<Float>, dA: UnsafeMutablePointer<Float>?
        let scratch: EntryScratch
    }

    init(rows: Int, dIn: Int, support: Int, aux: Int?) {
        dR = Tensor(shape: [rows, dIn], unsafeUninitialized: { _ in })        // every row is written by the pass
        dA = Tensor(shape: [aux == nil ? 0 : rows, dIn], unsafeUninitialized: { _ in })
        scratch = EntryScratch(rows: rows, support: support, aux: aux)
    }

    mutating func run<R: EntryRule>(_ rule: R, _ inputs: Inputs, support sup: EntrySupport, aux: EntrySupport,
                                    auxGradientScale: Float, residualScale scale: Float) {
        let rows = dR.shape[0], a = dR.shape[1]
        let scratch = scratch
        dR.withUnsafeMutableBufferPointer { dr in dA.withUnsafeMutableBufferPointer { da in
            let box = UnsafeSendableBox((inputs, Outputs(dR: dr.baseAddress!, dA: da.count > 0 ? da.baseAddress : nil, scratch: scratch)))
            Parallel.forEach(in: 0..<rows, minChunk: 8) { r in
                Self.row(r, rule, box.value.0, box.value.1, sup, aux, a: a, auxGradientScale: auxGradientScale, scale: scale)
            }
        }}
    }

    /// One row of the pass (see the type's documentation).
    @inline(__always)
    static func row<R: EntryRule>(_ r: Int, _ rule: R, _ i: Inputs, _ o: Outputs, _ sup: EntrySupport, _ aux: EntrySupport, a: Int,
                                  auxGradientScale: Float, scale: Float) {
        let s = o.scratch, fDim = i.dSAE
        let preRow = i.pre + r * fDim, xr = i.x + r * a
        let out = o.dR + r * a
        out.update(from: i.bDec, count: a)
        for e in sup.rowStart[r]..<sup.rowStart[r + 1] {
            let j = Int(sup.col[e])
            let f = rule.activation(preRow[j], feature: j)
            s.value[e] = f
            if f != 0 {
                let w = i.wDec + j * a
                for k in 0..<a { out[k] += f * w[k] }
            }
        }
        var err: Double = 0
        for k in 0..<a {
            let d = out[k] - xr[k]
            err += Double(d * d)
            out[k] = d                                                            // e, scaled below
        }
        if let dA = o.dA {
            // ê + e, then dA = 2cs(ê + e)/N.
            let o = dA + r * a
            o.update(from: out, count: a)
            for e in aux.rowStart[r]..<aux.rowStart[r + 1] {
                let j = Int(aux.col[e]), z = preRow[j]
                s.auxValue[e] = z
                let w = i.wDec + j * a
                for k in 0..<a { o[k] += z * w[k] }
            }
            var s2: Double = 0
            for k in 0..<a { s2 += Double(o[k] * o[k]); o[k] *= auxGradientScale }
            s.auxError[r] = s2
            for e in aux.rowStart[r]..<aux.rowStart[r + 1] {
                let w = i.wDec + Int(aux.col[e]) * a
                var dot: Float = 0
                for k in 0..<a { dot += o[k] * w[k] }
                s.auxPreGradient[e] = dot
            }
        }
        for k in 0..<a { out[k] *= scale }
        s.rowError[r] = err
        let hasOwn = rule.ownParameter != nil
        for e in sup.rowStart[r]..<sup.rowStart[r + 1] {
            let j = Int(sup.col[e])
            let w = i.wDec + j * a
            var dot: Float = 0
            for k in 0..<a { dot += out[k] * w[k] }                               // ∂L_mse/∂f
            let v = preRow[j], f = s.value[e]
            s.preGradient[e] = rule.preGradient(v, activation: f, outputGradient: dot, feature: j)
            if hasOwn { s.ownTerm[e] = rule.ownGradient(v, activation: f, outputGradient: dot, feature: j) }
        }
    }
}

/// The entry path's pass over features: `W_dec[j] ← Σ f·dR_n + Σ z·dA_n`, `W_enc[:, j] ← Σ ∂pre·x_cent,n`,
/// `b_enc[j] ← Σ ∂pre`, the own parameter's `Σ` terms, and the firing counts — each feature's entries in
/// row order. Features go in blocks of 16: a block's `W_enc` columns are summed as rows of a small
/// scratch `[16, d_in]` (in cache), then written transposed into `W_enc`'s `[d_in, d_sae]` layout, 64 bytes
/// per row — so the gradient needs no transposed copy and every element is written once.
enum FeaturePass {
    struct Result {
        var wDec: Tensor, wEnc: Tensor, bEnc: Tensor, own: Tensor
        var fired: [Int]
    }

    static let block = 16

    static func run(_ sup: EntrySupport, _ rp: RowPass, aux: EntrySupport, centred: Tensor, dSAE fDim: Int, dIn a: Int, ownParameter: String?) -> Result {
        let main = sup.byFeature(features: fDim), side = aux.byFeature(features: fDim)
        var fired = [Int](repeating: 0, count: fDim)
        for j in 0..<fDim { for idx in main.start[j]..<main.start[j + 1] where rp.scratch.value[main.entries[idx]] != 0 { fired[j] += 1 } }
        // Every element of the four outputs is written below.
        let uninitialised = { (shape: [Int]) in Tensor(shape: shape, unsafeUninitialized: { _ in }) }
        var out = Result(wDec: uninitialised([fDim, a]), wEnc: uninitialised([a, fDim]), bEnc: uninitialised([fDim]),
                         own: uninitialised([ownParameter == nil ? 0 : fDim]), fired: fired)
        let sc = rp.scratch
        let (val, dPre, ownTerm, auxVal, auxDPre) = (sc.value, sc.preGradient, sc.ownTerm, sc.auxValue, sc.auxPreGradient)
        rp.dR.withUnsafeBufferPointer { drp in rp.dA.withUnsafeBufferPointer { dap in centred.withUnsafeBufferPointer { cp in
        out.wDec.withUnsafeMutableBufferPointer { gd in out.wEnc.withUnsafeMutableBufferPointer { ge in
        out.bEnc.withUnsafeMutableBufferPointer { gb in out.own.withUnsafeMutableBufferPointer { gt in
            let box = UnsafeSendableBox((drp.baseAddress!, dap.baseAddress, cp.baseAddress!, gd.baseAddress!, ge.baseAddress!, gb.baseAddress!, ownParameter == nil ? nil : gt.baseAddress))
            let blocks = (fDim + block - 1) / block
            Parallel.forChunks(of: 0..<blocks, minChunk: 4) { range in
                let (drP, daP, cP, gdP, geP, gbP, gtP) = box.value
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: block * a)
                scratch.initialize(repeating: 0, count: block * a)
                defer { scratch.deallocate() }
                for b in range {
                    let j0 = b * block, width = min(block, fDim - j0)
                    scratch.update(repeating: 0, count: width * a)
                    for l in 0..<width {
                        let j = j0 + l
                        let od = gdP + j * a, oe = scratch + l * a
                        od.update(repeating: 0, count: a)
                        var s: Float = 0, t: Float = 0
                        for idx in main.start[j]..<main.start[j + 1] {
                            let e = main.entries[idx], r = main.row[e]
                            let v = val[e], g = dPre[e]
                            t += ownTerm[e]
                            if v == 0 && g == 0 { continue }
                            let dr = drP + r * a, c = cP + r * a
                            for k in 0..<a { od[k] += v * dr[k]; oe[k] += g * c[k] }
                            s += g
                        }
                        for idx in side.start[j]..<side.start[j + 1] {
                            let e = side.entries[idx], r = side.row[e]
                            let z = auxVal[e], g = auxDPre[e]
                            let d = daP! + r * a, c = cP + r * a
                            for k in 0..<a { od[k] += z * d[k]; oe[k] += g * c[k] }
                            s += g
                        }
                        gbP[j] = s
                        gtP?[j] = t
                    }
                    for k in 0..<a {
                        let row = geP + k * fDim + j0
                        for l in 0..<width { row[l] = scratch[l * a + k] }
                    }
                }
            }
        }}}}}}}
        return out
    }
}
