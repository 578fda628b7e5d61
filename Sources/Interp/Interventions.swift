// Interventions: hook functions for zero and mean ablation (whole hooks or single heads, at chosen
// positions) and activation patching from another run; composable at one hook.
import Tensor
import Transformer
import SparseAutoencoder

/// Builders of ``HookFunction``s for the common interventions. Activations are `[batch, pos, ...]`
/// (every hook but the attention scores/pattern); positions are `(prompt, position)` pairs.
public enum Interventions {
    /// `nil` positions means every position of every prompt.
    static func targets(_ positions: [(Int, Int)]?, _ shape: [Int]) -> [(Int, Int)] {
        positions ?? (0..<shape[0]).flatMap { b in (0..<shape[1]).map { (b, $0) } }
    }

    /// Replaces the slice at each position (and, for `[batch, pos, n_heads, d_head]` activations, only
    /// the listed `heads`) by `value(prompt, position, slice)` — a tensor shaped like that slice (e.g.
    /// `[n_heads, d_head]` for `hook_z`, `[d_model]` for `hook_attn_out`).
    public static func replace(at positions: [(Int, Int)]?, heads: [Int]?, _ value: @escaping (Int, Int, Tensor) -> Tensor) -> HookFunction {
        { act, _ in
            var out = act
            for (b, p) in targets(positions, act.shape) {
                let slice = act.selecting(axis: 0, b).selecting(axis: 0, p)       // [...]
                var new = value(b, p, slice)
                if let heads {
                    var merged = slice
                    for h in heads { merged.assign(new.selecting(axis: 0, h).unsqueezed(axis: 0), axis: 0, range: h..<(h + 1)) }
                    new = merged
                }
                precondition(new.shape == slice.shape, "replacement \(new.shape) does not match the activation slice \(slice.shape)")
                var row = out.selecting(axis: 0, b)
                row.assign(new.unsqueezed(axis: 0), axis: 0, range: p..<(p + 1))
                out.assign(row.unsqueezed(axis: 0), axis: 0, range: b..<(b + 1))
            }
            return out
        }
    }

    /// Zero ablation at `positions` (of `heads` only, for per-head activations such as `hook_z`).
    public static func zeroAblate(at positions: [(Int, Int)]? = nil, heads: [Int]? = nil) -> HookFunction {
        replace(at: positions, heads: heads) { _, _, s in Tensor(zeros: s.shape) }
    }

    /// Mean ablation: replaces the slice by `mean` (shaped like one position's slice, e.g.
    /// `[n_heads, d_head]` for `hook_z`, typically the mean over a reference dataset).
    public static func meanAblate(_ mean: Tensor, at positions: [(Int, Int)]? = nil, heads: [Int]? = nil) -> HookFunction {
        replace(at: positions, heads: heads) { _, _, s in
            precondition(mean.shape == s.shape, "mean \(mean.shape) does not match the activation slice \(s.shape)")
            return mean
        }
    }

    /// Activation patching: at each target `(prompt, position)` the activation of the source run
    /// (`source`, the same hook cached on other inputs) at `(prompt, position + offset[prompt])`.
    public static func patch(from source: Tensor, at positions: [(Int, Int)], offsets: [Int]? = nil, heads: [Int]? = nil) -> HookFunction {
        replace(at: positions, heads: heads) { b, p, _ in
            source.selecting(axis: 0, b).selecting(axis: 0, p + (offsets?[b] ?? 0))
        }
    }

    /// Several edits at one hook, applied in order.
    public static func compose(_ edits: [HookFunction]) -> HookFunction {
        { act, name in
            var x = act
            for e in edits { if let y = try e(x, name) { x = y } }
            return x
        }
    }
}
