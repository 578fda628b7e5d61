// TrainableArchitecture: what an SAE architecture gives the trainer — which entries of the
// pre-activations take part in a step, their activations, the sparsity penalty and its derivative per
// entry, any auxiliary loss, and its own parameters and state. The backward passes (Backward.swift) are
// the same for every architecture; each architecture is one file (Standard, TopK, BatchTopK, JumpReLU).
//
// Notation (rows n of the batch, N = normalizer, features j, inputs x [N, d_in]):
//   pre = (x − b_dec)·W_enc + b_enc,  f = σ(pre) on the step's entries (0 elsewhere),
//   x̂ = f·W_dec + b_dec,  e = x̂ − x,  L_mse = mean_n Σ_a e²,  dR = 2e/N = ∂L_mse/∂x̂,
//   ∂L_mse/∂f_nj = dR_n · W_dec[j] (what an EntryRule turns into ∂L/∂pre_nj).

import Foundation
import Tensor

/// How an SAE's sparsity is trained: one type per architecture (``StandardArchitecture``,
/// ``TopKArchitecture``, ``BatchTopKArchitecture``, ``JumpReLUArchitecture``), chosen by
/// ``TrainingArchitecture/make(_:dSAE:)``. Adding an architecture means adding a type (and its name).
public protocol TrainableArchitecture: Sendable {
    /// The name a training config gives it.
    var kind: TrainingArchitecture { get }
    /// The architecture of the SAE it trains (what inference and the saved files use).
    var saeArchitecture: SAEArchitecture { get }
    /// Its own parameters besides `W_enc`, `W_dec`, `b_enc`, `b_dec` (each `[d_sae]`; JumpReLU: `threshold`).
    var ownParameterNames: [String] { get }
    /// Its own parameters' values in `sae`, by name.
    func ownParameters(of sae: SAE) -> [String: Tensor]
    /// Stores its own parameters (updated by Adam) back into `sae`.
    func setOwnParameters(_ parameters: [String: Tensor], in sae: inout SAE)
    /// Gives an SAE that another architecture trained (or a fresh one) this architecture (and its
    /// parameters' initial values where it has none), and takes any state the SAE holds (BatchTopK:
    /// its threshold).
    mutating func adopt(_ sae: inout SAE)
    /// Checks its settings (`dSAE`: the SAE's width, for the checks that need it).
    /// - Throws: ``TrainingRunError/invalidSetting(name:value:allowed:)`` naming the setting.
    func validate(dSAE: Int?) throws
    /// Before a step's forward pass (JumpReLU keeps `θ ≥ 0`, as SAELens does).
    func prepare(_ sae: inout SAE)
    /// One step's gradients and measurements (``StepBackward/run(_:_:_:)`` with its rule and selection).
    func gradients(_ input: StepInput) -> StepGradients
    /// After the update: its state — dead counters, BatchTopK's threshold — from what the step measured
    /// (`fired`: the global batch's firing counts). May exchange numbers with the other ranks.
    mutating func finishStep(_ step: StepGradients, fired: [Int], sae: inout SAE, across ranks: (any Collective)?) throws
    /// Its state in a checkpoint group (datasets and attributes beside the trainer's).
    func write(into w: HDF5Writer, group: String) throws
    /// Reads what ``write(into:group:)`` wrote; `path` names the file in errors.
    mutating func read(from f: HDF5File, group: String, path: String, dSAE: Int, step: Int) throws
}

extension TrainableArchitecture {
    public var ownParameterNames: [String] { [] }
    public func ownParameters(of sae: SAE) -> [String: Tensor] { [:] }
    public func setOwnParameters(_ parameters: [String: Tensor], in sae: inout SAE) {}
    public func prepare(_ sae: inout SAE) {}
    public mutating func finishStep(_ step: StepGradients, fired: [Int], sae: inout SAE, across ranks: (any Collective)?) throws {}
    public func write(into w: HDF5Writer, group: String) throws {}
    public mutating func read(from f: HDF5File, group: String, path: String, dSAE: Int, step: Int) throws {}
}

extension TrainingArchitecture {
    /// The architecture `config` trains, for SAEs of width `dSAE`.
    public static func make(_ config: SAETrainingConfig, dSAE: Int) -> any TrainableArchitecture {
        switch config.architecture {
        case .standard: StandardArchitecture(l1Coeff: config.l1Coeff)
        case .topk: TopKArchitecture(k: config.k, auxK: AuxK(config, dSAE: dSAE))
        case .batchtopk: BatchTopKArchitecture(k: config.k, thresholdRate: config.thresholdLR, auxK: AuxK(config, dSAE: dSAE))
        case .jumprelu: JumpReLUArchitecture(l0Coeff: config.l0Coeff, l0WarmupSteps: config.l0WarmupSteps,
                                             bandwidth: config.bandwidth, initialThreshold: config.initialThreshold)
        }
    }
}

/// What a step's gradients are computed from.
public struct StepInput: Sendable {
    public let sae: SAE
    /// The batch `[N, d_in]` and `x − b_dec` (or `x` when the SAE does not subtract `b_dec`).
    public let x: Tensor, centred: Tensor
    /// `centred · W_enc + b_enc` `[N, d_sae]`.
    public let pre: Tensor
    /// The rows means are taken over: the global batch (all ranks' shares), so the ranks' parts sum to it.
    public let normalizer: Int
    /// Steps taken before this one.
    public let step: Int
    public let path: GradientPath
}

/// One step's gradients (over this rank's rows, normalised by the global batch) and measurements.
public struct StepGradients: Sendable {
    public var gradients: SAEParameters<Tensor>
    public var mse: Float, sparsityPenalty: Float, auxiliaryLoss: Float
    /// Active entries / N.
    public var l0: Float
    /// Per feature, the rows it fired on.
    public var fired: [Int]
    /// Whether the entry path computed them.
    public var sparse: Bool
    /// A number the architecture keeps for after the step (BatchTopK: the smallest activation kept).
    public var statistic: Float?
}

/// The rule one step applies entry by entry (an entry: row n, feature j, pre-activation v). The backward
/// kernels are generic over it, so each architecture's rule is compiled into them.
public protocol EntryRule: Sendable {
    /// Whether the entry takes part in the step, for selections made entry by entry.
    func takesPart(_ v: Float, feature j: Int) -> Bool
    /// ``takesPart(_:feature:)`` for the 16 features `j ..< j + 16` of a row at once (what the listing of
    /// a step's entries tests; by default lane by lane).
    func takesPart(_ v: SIMD16<Float>, features j: Int) -> SIMDMask<SIMD16<Int32>>
    /// `f` of an entry taking part (0 when it takes part only through a straight-through estimator).
    func activation(_ v: Float, feature j: Int) -> Float
    /// `∂L/∂pre` of an entry taking part, from `g = ∂L_mse/∂f` and its activation.
    func preGradient(_ v: Float, activation f: Float, outputGradient g: Float, feature j: Int) -> Float
    /// The architecture's own parameter (a `[d_sae]` vector) whose gradient sums ``ownGradient(_:activation:outputGradient:feature:)``, if any.
    var ownParameter: String? { get }
    /// The entry's term of `∂L/∂own_j`, summed over the rows.
    func ownGradient(_ v: Float, activation f: Float, outputGradient g: Float, feature j: Int) -> Float
    /// The sparsity penalty from the sum of the activations and the count of active entries.
    func sparsityPenalty(activationSum: Float, active: Int) -> Float
}

extension EntryRule {
    public func takesPart(_ v: SIMD16<Float>, features j: Int) -> SIMDMask<SIMD16<Int32>> {
        var m = SIMDMask<SIMD16<Int32>>()
        for l in 0..<16 { m[l] = takesPart(v[l], feature: j + l) }
        return m
    }
    public var ownParameter: String? { nil }
    public func ownGradient(_ v: Float, activation f: Float, outputGradient g: Float, feature j: Int) -> Float { 0 }
}

/// The entries of a step: listed (TopK, BatchTopK: chosen among a row or the batch), or nil for those
/// where the rule's ``EntryRule/takesPart(_:feature:)`` holds; and AuxK's entries.
public struct StepSelection: Sendable {
    public var support: EntrySupport?
    public var auxiliary: AuxiliaryEntries?
    /// A number the architecture keeps for after the step (BatchTopK: the smallest activation kept).
    public var statistic: Float?

    public init(support: EntrySupport? = nil, auxiliary: AuxiliaryEntries? = nil, statistic: Float? = nil) {
        self.support = support; self.auxiliary = auxiliary; self.statistic = statistic
    }
}

/// An auxiliary reconstruction of the residual (AuxK): `ê = Σ_{j∈A} pre_j W_dec[j]` over the entries `A`, and the loss
/// `scale · mean_n Σ_a (ê + e)²` (the residual `x − x̂ = −e` detached).
public struct AuxiliaryEntries: Sendable {
    public var entries: EntrySupport
    /// AuxK's `c · min(dead / k_aux, 1)`.
    public var scale: Float
}

/// Which entries of a batch's pre-activations take part in a step, row by row (CSR, features ascending).
public struct EntrySupport: Sendable, Equatable {
    /// The entries of row n are `rowStart[n] ..< rowStart[n + 1]`.
    public var rowStart: [Int]
    public var col: [Int32]

    public var count: Int { col.count }
    public var rows: Int { rowStart.count - 1 }

    public init(rows: [[Int32]]) {
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
        var m = Tensor(zeros: [rows, features])
        m.withUnsafeMutableBufferPointer { p in
            for r in 0..<rows { for e in rowStart[r]..<rowStart[r + 1] { p[r * features + Int(col[e])] = 1 } }
        }
        return m
    }

    /// Per row, the entries of `pre [rows, features]` where `rule.takesPart` holds, or nil as soon as
    /// there are more than `limit` (so a dense step lists nothing: each of the parallel parts stops at
    /// `limit`). Sixteen features at a time, in parallel over rows.
    static func filter<R: EntryRule>(_ pre: Tensor, _ rule: R, limit: Int = .max) -> EntrySupport? {
        let (rows, f) = (pre.shape[0], pre.shape[1])
        if limit < 0 { return nil }
        let parts = max(1, min(rows, Parallel.workerCount * 4))
        // Per part: its rows' columns, each row's count, and whether it passed the limit.
        var listed = [(cols: [Int32], counts: [Int], over: Bool)](repeating: ([], [], false), count: parts)
        pre.contiguous().withUnsafeBufferPointer { p in
            listed.withUnsafeMutableBufferPointer { out in
                let box = UnsafeSendableBox((p.baseAddress!, out.baseAddress!))
                Parallel.forEach(in: 0..<parts, minChunk: 1) { part in
                    let (src, dst) = box.value
                    var cols: [Int32] = [], counts: [Int] = []
                    for r in rows * part / parts ..< rows * (part + 1) / parts {
                        let before = cols.count
                        appendRow(src + r * f, features: f, rule, to: &cols)
                        counts.append(cols.count - before)
                        if cols.count > limit { dst[part].over = true; return }
                    }
                    dst[part] = (cols, counts, false)
                }
            }
        }
        if listed.contains(where: \.over) || listed.reduce(0, { $0 + $1.cols.count }) > limit { return nil }
        var support = EntrySupport(rows: [])
        support.rowStart.reserveCapacity(rows + 1)
        for part in listed { for c in part.counts { support.rowStart.append(support.rowStart.last! + c) } }
        support.col.reserveCapacity(support.rowStart.last!)
        for part in listed { support.col.append(contentsOf: part.cols) }
        return support
    }

    /// Appends to `cols` the features of one row where the rule takes the entry: sixteen at a time
    /// (most blocks of a sparse step hold none), then the rest one by one.
    @inline(__always)
    static func appendRow<R: EntryRule>(_ row: UnsafePointer<Float>, features f: Int, _ rule: R, to cols: inout [Int32]) {
        var j = 0
        while j + 16 <= f {
            let m = rule.takesPart(UnsafeRawPointer(row + j).loadUnaligned(as: SIMD16<Float>.self), features: j)
            if any(m) { for l in 0..<16 where m[l] { cols.append(Int32(j + l)) } }
            j += 16
        }
        while j < f {
            if rule.takesPart(row[j], feature: j) { cols.append(Int32(j)) }
            j += 1
        }
    }

    /// For each feature, the entry indices in row order (CSC), and each entry's row.
    func byFeature(features: Int) -> (start: [Int], entries: [Int], row: [Int]) {
        var start = [Int](repeating: 0, count: features + 1)
        for j in col { start[Int(j) + 1] += 1 }
        for j in 0..<features { start[j + 1] += start[j] }
        var fill = start
        var entries = [Int](repeating: 0, count: count), row = entries
        for r in 0..<rows {
            for e in rowStart[r]..<rowStart[r + 1] {
                row[e] = r
                let j = Int(col[e])
                entries[fill[j]] = e
                fill[j] += 1
            }
        }
        return (start, entries, row)
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
