// FeatureScan: one streamed pass over token rows — model to hook_z, the SAE's encoder, and every
// firing of the features asked for — shared by the dashboards and the induction-feature test.

import Foundation
import SparseAutoencoder
import Tensor
import Transformer

/// A non-zero activation of a feature at (row, position).
public struct FeatureFiring: Sendable, Equatable {
    public var value: Float
    public var row: Int32, position: Int32
    public init(value: Float, row: Int32, position: Int32) { self.value = value; self.row = row; self.position = position }
}

/// Every firing of some features of an attention SAE on a token set `[rows, pos]`.
public struct FeatureScan: Sendable {
    /// The scanned features (every feature of the SAE when none were named).
    public let features: [Int]
    /// `firings[j]`: the firings of `features[j]`, in (row, position) order.
    public var firings: [[FeatureFiring]]
    public let rows: Int, positions: Int

    /// Seconds in the model forward, the encoder product and collecting firings.
    public struct Timings: Sendable {
        public var model = 0.0, encoder = 0.0, bookkeeping = 0.0
        public init() {}
    }

    /// Runs the model on `tokens` `[rows, pos]` in chunks of `rowsPerForward` rows, up to the SAE's
    /// layer, and keeps the non-zero activations of `features` (nil: all). `alsoCache` hooks are cached
    /// in the same run and handed to `onChunk` with the chunk's row range; `onEncoded` gets each chunk's
    /// SAE inputs `[n·pos, d_in]` and the features' activations `[n·pos, k]`.
    public static func run(model: GPT2, sae: AttentionSAE, tokens: IndexTensor, features: [Int]? = nil, rowsPerForward: Int = 16,
                           alsoCache: Set<HookName> = [], timings: inout Timings,
                           onChunk: (Range<Int>, ActivationCache) -> Void = { _, _ in },
                           onEncoded: (Range<Int>, Tensor, Tensor) -> Void = { _, _, _ in }) throws -> FeatureScan {
        let (nRows, pos) = (tokens.shape[0], tokens.shape[1])
        let encoder = features.map { sae.sae.encoder(features: $0) }
        let scanned = features ?? Array(0..<sae.dSAE)
        let k = scanned.count
        var firings = [[FeatureFiring]](repeating: [], count: k)
        func now() -> Double { Date().timeIntervalSince1970 }
        for start in stride(from: 0, to: nRows, by: max(1, rowsPerForward)) {
            let rows = start..<min(start + max(1, rowsPerForward), nRows)
            var t0 = now()
            let cache = try model.runWithCache(tokens.rows(rows), names: alsoCache.union([sae.site]))
            onChunk(rows, cache)
            timings.model += now() - t0
            t0 = now()
            let x = sae.inputRows(cache[sae.site]!)
            let acts = encoder?.encode(x) ?? sae.sae.encode(x)                                 // [n·pos, k]
            timings.encoder += now() - t0
            onEncoded(rows, x, acts)
            t0 = now()
            acts.withUnsafeBufferPointer { a in
                for r in 0..<(rows.count * pos) {
                    let row = Int32(start + r / pos), p = Int32(r % pos)
                    let base = a.baseAddress! + r * k
                    for j in 0..<k where base[j] > 0 { firings[j].append(FeatureFiring(value: base[j], row: row, position: p)) }
                }
            }
            timings.bookkeeping += now() - t0
        }
        return FeatureScan(features: scanned, firings: firings, rows: nRows, positions: pos)
    }

    /// As above, without timings.
    public static func run(model: GPT2, sae: AttentionSAE, tokens: IndexTensor, features: [Int]? = nil, rowsPerForward: Int = 16) throws -> FeatureScan {
        var t = Timings()
        return try run(model: model, sae: sae, tokens: tokens, features: features, rowsPerForward: rowsPerForward, timings: &t)
    }

    /// The activation of `features[j]` at (row, position): its firing there, or 0 (binary search).
    public func activation(_ j: Int, row r: Int, position p: Int) -> Float {
        let f = firings[j], key = r * positions + p
        var (lo, hi) = (0, f.count)
        while lo < hi {
            let mid = (lo + hi) / 2
            if Int(f[mid].row) * positions + Int(f[mid].position) < key { lo = mid + 1 } else { hi = mid }
        }
        return lo < f.count && Int(f[lo].row) == r && Int(f[lo].position) == p ? f[lo].value : 0
    }
}
