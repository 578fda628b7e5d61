// HookName: typed TransformerLens hook points that print (and strictly parse) the exact TL strings.
import Tensor

/// A hook point of a GPT-2 run, printed as the TransformerLens name (`blocks.5.attn.hook_z`).
///
/// Shapes (B = batch, P = pos): `embed`, `posEmbed`, `residPre`, `ln*Normalized`, `attnOut`,
/// `residMid`, `mlpOut`, `residPost` are `[B, P, d_model]`; `ln*Scale` `[B, P, 1]`; `q`, `k`, `v`, `z`
/// `[B, P, n_heads, d_head]`; `attnScores`, `pattern` `[B, n_heads, query_pos, key_pos]` (masked
/// scores are −∞, as in TransformerLens 3); `mlpPre`, `mlpPost` `[B, P, d_mlp]`; `unembedIn`
/// `[B, P, d_model]` and `unembedOut` (the logits) `[B, P, d_vocab]`.
public enum HookName: Hashable, Sendable, CustomStringConvertible {
    case embed, posEmbed
    case residPre(Int), ln1Scale(Int), ln1Normalized(Int)
    case q(Int), k(Int), v(Int), attnScores(Int), pattern(Int), z(Int)
    case attnOut(Int), residMid(Int), ln2Scale(Int), ln2Normalized(Int)
    case mlpPre(Int), mlpPost(Int), mlpOut(Int), residPost(Int)
    case lnFinalScale, lnFinalNormalized
    case unembedIn, unembedOut

    /// The block a hook belongs to (nil for embeddings and the final layer norm).
    public var layer: Int? {
        switch self {
        case .embed, .posEmbed, .lnFinalScale, .lnFinalNormalized, .unembedIn, .unembedOut: nil
        case .residPre(let l), .ln1Scale(let l), .ln1Normalized(let l), .q(let l), .k(let l), .v(let l),
             .attnScores(let l), .pattern(let l), .z(let l), .attnOut(let l), .residMid(let l),
             .ln2Scale(let l), .ln2Normalized(let l), .mlpPre(let l), .mlpPost(let l), .mlpOut(let l),
             .residPost(let l): l
        }
    }

    /// The TransformerLens name.
    public var description: String {
        switch self {
        case .embed: "hook_embed"
        case .posEmbed: "hook_pos_embed"
        case .lnFinalScale: "ln_final.hook_scale"
        case .lnFinalNormalized: "ln_final.hook_normalized"
        case .unembedIn: "unembed.hook_in"
        case .unembedOut: "unembed.hook_out"
        default: "blocks.\(layer!).\(HookName.blockSuffix(self))"
        }
    }

    private static func blockSuffix(_ h: HookName) -> String {
        switch h {
        case .residPre: "hook_resid_pre"
        case .ln1Scale: "ln1.hook_scale"
        case .ln1Normalized: "ln1.hook_normalized"
        case .q: "attn.hook_q"
        case .k: "attn.hook_k"
        case .v: "attn.hook_v"
        case .attnScores: "attn.hook_attn_scores"
        case .pattern: "attn.hook_pattern"
        case .z: "attn.hook_z"
        case .attnOut: "hook_attn_out"
        case .residMid: "hook_resid_mid"
        case .ln2Scale: "ln2.hook_scale"
        case .ln2Normalized: "ln2.hook_normalized"
        case .mlpPre: "mlp.hook_pre"
        case .mlpPost: "mlp.hook_post"
        case .mlpOut: "hook_mlp_out"
        case .residPost: "hook_resid_post"
        default: ""
        }
    }

    /// The hooks of one block, in the order they fire; an attention-only block has no `hook_resid_mid`,
    /// `ln2` or MLP hooks.
    public static func block(_ l: Int, attnOnly: Bool = false) -> [HookName] {
        let attention: [HookName] = [.residPre(l), .ln1Scale(l), .ln1Normalized(l), .q(l), .k(l), .v(l), .attnScores(l), .pattern(l), .z(l), .attnOut(l)]
        if attnOnly { return attention + [.residPost(l)] }
        return attention + [.residMid(l), .ln2Scale(l), .ln2Normalized(l), .mlpPre(l), .mlpPost(l), .mlpOut(l), .residPost(l)]
    }

    /// Every hook of a model with `nLayers` blocks, in the order they fire.
    public static func all(nLayers: Int, attnOnly: Bool = false) -> [HookName] {
        [.embed, .posEmbed] + (0..<nLayers).flatMap { block($0, attnOnly: attnOnly) } + [.lnFinalScale, .lnFinalNormalized, .unembedIn, .unembedOut]
    }

    /// Every hook a model of `config` has, in the order they fire.
    public static func all(_ config: GPT2Config) -> [HookName] { all(nLayers: config.nLayers, attnOnly: config.attnOnly) }

    /// Parses an exact TransformerLens name. No shorthands, no aliases: anything else throws
    /// ``TransformerError/unknownHook(_:)``. `nLayers`, when given, also bounds the layer
    /// (``TransformerError/hookLayerOutOfRange(hook:nLayers:)``).
    public init(parsing name: String, nLayers: Int? = nil) throws {
        switch name {
        case "hook_embed": self = .embed; return
        case "hook_pos_embed": self = .posEmbed; return
        case "ln_final.hook_scale": self = .lnFinalScale; return
        case "ln_final.hook_normalized": self = .lnFinalNormalized; return
        case "unembed.hook_in": self = .unembedIn; return
        case "unembed.hook_out": self = .unembedOut; return
        default: break
        }
        let parts = name.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        // The block's own list is the single source of the names: match the printed form exactly.
        guard parts.count == 3, parts[0] == "blocks", let l = Int(parts[1]), String(l) == parts[1], l >= 0,
              let hook = HookName.block(l).first(where: { $0.description == name }) else {
            throw TransformerError.unknownHook(name)
        }
        if let nLayers, l >= nLayers { throw TransformerError.hookLayerOutOfRange(hook: name, nLayers: nLayers) }
        self = hook
    }
}
