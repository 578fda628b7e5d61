// Splicing: an SAE inserted at a hook point of a GPT-2 run, with SAELens's inner hook points.
import Tensor
import Transformer
import SparseAutoencoder

/// The inner hook points of a spliced SAE, named as SAELens names them. Shapes for a `hook_z` site
/// (B = batch, P = pos): `input`, `recons`, `error` `[B, P, n_heads·d_head]`; `actsPre`, `actsPost`
/// `[B, P, d_sae]`; `output` `[B, P, n_heads, d_head]` (what replaces `hook_z`).
public enum SAEHookPoint: String, CaseIterable, Sendable {
    case input = "hook_sae_input"
    case actsPre = "hook_sae_acts_pre"
    case actsPost = "hook_sae_acts_post"
    case recons = "hook_sae_recons"
    case error = "hook_sae_error"
    case output = "hook_sae_output"
}

extension HookName {
    /// Whether an SAE can read this hook: `hook_z` (heads flattened head-major) or a `d_model`-wide hook.
    public var isSAESite: Bool {
        switch self {
        case .z, .residPre, .residMid, .residPost, .attnOut, .mlpOut: true
        default: false
        }
    }

    /// The width of an SAE input at this hook: `n_heads · d_head` for `hook_z`, `d_model` for the
    /// residual-stream-wide hooks; nil where no SAE reads (``isSAESite``).
    public func saeInputWidth(_ c: GPT2Config) -> Int? {
        guard isSAESite else { return nil }
        if case .z = self { return c.nHeads * c.dHead }
        return c.dModel
    }

    /// An activation at this hook as SAE input: `hook_z` `[..., n_heads, d_head]` flattened to
    /// `[..., n_heads·d_head]`; the `d_model`-wide hooks as they are.
    public func saeInput(_ activation: Tensor) -> Tensor {
        if case .z = self { return SAE.flattenHeads(activation) }
        return activation
    }
}

/// A hook point inside a spliced SAE: `blocks.L.attn.hook_z.hook_sae_acts_post`.
public struct SAEHookName: Hashable, Sendable, CustomStringConvertible {
    public let site: HookName
    public let point: SAEHookPoint
    public init(_ site: HookName, _ point: SAEHookPoint) { self.site = site; self.point = point }
    public var description: String { "\(site).\(point.rawValue)" }

    /// Parses `<TransformerLens hook>.<SAE point>` exactly.
    public init(parsing name: String, nLayers: Int? = nil) throws {
        guard let dot = name.lastIndex(of: "."), let point = SAEHookPoint(rawValue: String(name[name.index(after: dot)...])) else {
            throw TransformerError.unknownHook(name)
        }
        self.init(try HookName(parsing: String(name[..<dot]), nLayers: nLayers), point)
    }
}

/// An SAE spliced into a run at `site`, with optional caching and editing of its inner hook points.
///
/// Without the error term the site's activation is replaced by the reconstruction. With it, the
/// output is `x̂ + (x − x̂_clean)`, where `x̂_clean` comes from a pass with no edits, so with no edit
/// the run is unchanged (up to rounding) and an edit changes the output by exactly the edit's effect
/// on `x̂` (Docs/Method.md §2.2).
public struct SAESplice {
    public let sae: SAE
    public let site: HookName
    public var useErrorTerm: Bool
    public var cache: Set<SAEHookPoint>
    public var edits: [SAEHookPoint: (Tensor) throws -> Tensor]

    public init(sae: SAE, site: HookName? = nil, useErrorTerm: Bool = false, cache: Set<SAEHookPoint> = [],
                edits: [SAEHookPoint: (Tensor) throws -> Tensor] = [:]) throws {
        let s = try site ?? HookName(parsing: sae.config.hookName)
        guard s.isSAESite else {
            throw InterpError.incompatibleSAE(hook: s.description, reason: "splicing is supported at blocks.L.attn.hook_z and the d_model-wide hooks (hook_resid_pre, hook_resid_mid, hook_resid_post, hook_attn_out, hook_mlp_out)")
        }
        // d_in is checked against the model's width at the site when the splice runs.
        self.sae = sae
        self.site = s
        self.useErrorTerm = useErrorTerm
        self.cache = cache
        self.edits = edits
    }
}

/// The result of a run with spliced SAEs.
public struct SplicedOutput {
    public let model: GPT2.Output
    public let saeCache: [SAEHookName: Tensor]
}

extension GPT2 {
    /// Runs with SAEs spliced in at their sites, plus ordinary caches and hooks at other points.
    public func run(_ tokens: IndexTensor, saes: [SAESplice], cache: Set<HookName> = [], hooks: [HookName: HookFunction] = [:],
                    stopAtLayer: Int? = nil) throws -> SplicedOutput {
        var allHooks = hooks
        final class Store { var values: [SAEHookName: Tensor] = [:] }
        let store = Store()
        for splice in saes {
            guard allHooks[splice.site] == nil else {
                throw InterpError.conflictingEdits(hook: splice.site.description)
            }
            let width = splice.site.saeInputWidth(config)!
            guard splice.sae.config.dIn == width else {
                let what = if case .z = splice.site { "n_heads × d_head = \(config.nHeads)×\(config.dHead)" } else { "d_model = \(config.dModel)" }
                throw InterpError.incompatibleSAE(hook: splice.site.description, reason: "its d_in \(splice.sae.config.dIn) is not this model's \(what)")
            }
            allHooks[splice.site] = { z, _ in
                let shape = z.shape
                func fire(_ p: SAEHookPoint, _ t: Tensor) throws -> Tensor {
                    var v = t
                    if let edit = splice.edits[p] {
                        v = try edit(t)
                        guard v.shape == t.shape else {
                            throw TransformerError.hookShapeMismatch(hook: SAEHookName(splice.site, p).description, expected: t.shape, found: v.shape)
                        }
                    }
                    if splice.cache.contains(p) { store.values[SAEHookName(splice.site, p)] = v }
                    return v
                }
                let x = try fire(.input, splice.site.saeInput(z))
                let pre = try fire(.actsPre, splice.sae.encodePre(x))
                let acts = try fire(.actsPost, splice.sae.activations(pre))
                let recons = try fire(.recons, splice.sae.decode(acts))
                var out = recons
                if splice.useErrorTerm {
                    let clean = splice.sae.decode(splice.sae.encode(x))
                    out = recons + (try fire(.error, x - clean))
                }
                return try fire(.output, out.reshaped(shape))
            }
        }
        let output = try run(tokens, cache: cache, hooks: allHooks, stopAtLayer: stopAtLayer)
        return SplicedOutput(model: output, saeCache: store.values)
    }
}

/// Edits for a spliced SAE's feature activations and error term, at chosen (prompt, position) pairs.
public enum FeatureIntervention {
    /// Sets `features` to `value` (0 = ablate) at `positions` (`(prompt, position)` pairs; nil = everywhere)
    /// in `hook_sae_acts_post` `[batch, pos, d_sae]`.
    public static func set(_ features: [Int], to value: Float = 0, at positions: [(Int, Int)]? = nil) -> (Tensor) throws -> Tensor {
        { acts in
            var a = acts
            let (b, p) = (acts.shape[0], acts.shape[1])
            let targets = positions ?? (0..<b).flatMap { i in (0..<p).map { (i, $0) } }
            for (i, t) in targets { for f in features { a[i, t, f] = value } }
            return a
        }
    }

    /// Zeroes the error term (`hook_sae_error` `[batch, pos, d_in]`) at `positions`.
    public static func ablateError(at positions: [(Int, Int)]) -> (Tensor) throws -> Tensor {
        { err in
            var e = err
            let p = err.shape[1], d = err.shape[2]
            e.withUnsafeMutableBufferPointer { buf in
                for (i, t) in positions { for k in 0..<d { buf[(i * p + t) * d + k] = 0 } }
            }
            return e
        }
    }
}
