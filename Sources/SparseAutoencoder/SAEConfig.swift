// SAEConfig: what an SAE reads and where its weights came from.
import Tensor

/// How a `hook_z` input is laid out: `n_heads × d_head`, flattened head-major
/// (`x[h·d_head + d] = z[h, d]`), as the paper and SAELens (`reshape_activations: "hook_z"`) do.
public struct HeadLayout: Codable, Sendable, Equatable {
    public var nHeads: Int
    public var dHead: Int
    public init(nHeads: Int, dHead: Int) { self.nHeads = nHeads; self.dHead = dHead }
    /// The flattened width, `n_heads · d_head`.
    public var width: Int { nHeads * dHead }
}

/// Where an SAE's weights came from.
public struct SAEProvenance: Codable, Sendable, Equatable {
    /// "kissane-pt" (the paper's `.pt` + `_cfg.json`), "saelens", "hdf5-checkpoint", "trained", "random", ...
    public var source: String
    /// The file or folder it was read from, if any.
    public var path: String?
    /// Free-form details (e.g. the paper's run name, the SAELens version).
    public var notes: [String: String]
    public init(source: String, path: String? = nil, notes: [String: String] = [:]) {
        self.source = source
        self.path = path
        self.notes = notes
    }
}

/// How an SAE turns pre-activations `pre = (x − b_dec)·W_enc + b_enc` into feature activations
/// (SAELens's `architecture` field).
public enum SAEArchitecture: Codable, Sendable, Equatable, CustomStringConvertible {
    /// `f = ReLU(pre)` (the paper; SAELens "standard").
    case standard
    /// `f = ReLU(pre)` on the `k` largest pre-activations of each row, 0 elsewhere (Gao et al. 2024;
    /// SAELens "topk"). Ties go to the lower feature index.
    case topK(k: Int)
    /// `f = pre · 1[pre > θ]` with a learned threshold per feature, `θ ≥ 0` (Rajamanoharan et al. 2024;
    /// SAELens "jumprelu", which computes `ReLU(pre) · 1[pre > θ]`). The thresholds are ``SAE/threshold``.
    case jumpReLU

    /// The name in SAELens's `cfg.json`.
    public var saeLensName: String {
        switch self {
        case .standard: "standard"
        case .topK: "topk"
        case .jumpReLU: "jumprelu"
        }
    }

    public var description: String {
        switch self {
        case .standard: "standard (ReLU)"
        case .topK(let k): "TopK (k = \(k))"
        case .jumpReLU: "JumpReLU"
        }
    }
}

/// The configuration of an SAE: its widths, the hook it reads and how that hook's heads are laid out.
public struct SAEConfig: Codable, Sendable, Equatable {
    /// Input width (`d_in`; 768 for GPT-2 small's concatenated `hook_z`).
    public var dIn: Int
    /// Dictionary size (`d_sae`).
    public var dSAE: Int
    /// The TransformerLens hook the SAE reads, e.g. `blocks.1.attn.hook_z`.
    public var hookName: String
    /// The head layout of `hook_z` inputs: set by whoever knows the model (training, `AttentionSAE`, or a
    /// loader given one); nil when unknown or the input is not per-head. The hook name is never parsed here.
    public var headLayout: HeadLayout?
    /// Whether `b_dec` is subtracted from the input before encoding (the paper's SAEs: yes).
    public var applyBDecToInput: Bool
    /// The activation function (the paper's SAEs: ``SAEArchitecture/standard``).
    public var architecture: SAEArchitecture
    public var provenance: SAEProvenance

    public init(dIn: Int, dSAE: Int, hookName: String, headLayout: HeadLayout? = nil, applyBDecToInput: Bool = true,
                architecture: SAEArchitecture = .standard, provenance: SAEProvenance = SAEProvenance(source: "unknown")) {
        precondition(headLayout == nil || headLayout!.width == dIn, "head layout \(headLayout!) does not flatten to d_in \(dIn)")
        self.dIn = dIn
        self.dSAE = dSAE
        self.hookName = hookName
        self.headLayout = headLayout
        self.applyBDecToInput = applyBDecToInput
        self.architecture = architecture
        self.provenance = provenance
    }

    /// Decodes a config; one written before architectures existed is ``SAEArchitecture/standard``.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dIn = try c.decode(Int.self, forKey: .dIn)
        dSAE = try c.decode(Int.self, forKey: .dSAE)
        hookName = try c.decode(String.self, forKey: .hookName)
        headLayout = try c.decodeIfPresent(HeadLayout.self, forKey: .headLayout)
        applyBDecToInput = try c.decode(Bool.self, forKey: .applyBDecToInput)
        architecture = try c.decodeIfPresent(SAEArchitecture.self, forKey: .architecture) ?? .standard
        provenance = try c.decode(SAEProvenance.self, forKey: .provenance)
    }

    /// The allowed `d_in` (1…2²⁰) and `d_sae` (1…2²⁴); `d_in · d_sae` may be at most 2³⁴ (64 GB per matrix).
    public static let dInRange = 1...(1 << 20), dSAERange = 1...(1 << 24)

    /// Checks the sizes and the head layout before anything is allocated: a config read from a file
    /// (cfg.json, a checkpoint) or an option is not trusted.
    /// - Throws: ``SAEFormatError/invalidValue(file:key:detail:)`` naming `file` and the key.
    public static func check(dIn: Int, dSAE: Int, headLayout: HeadLayout?, file: String) throws {
        guard dInRange.contains(dIn) else { throw SAEFormatError.invalidValue(file: file, key: "d_in", detail: "is \(dIn), expected 1…\(dInRange.upperBound)") }
        guard dSAERange.contains(dSAE) else { throw SAEFormatError.invalidValue(file: file, key: "d_sae", detail: "is \(dSAE), expected 1…\(dSAERange.upperBound)") }
        guard dIn * dSAE <= 1 << 34 else {
            throw SAEFormatError.invalidValue(file: file, key: "d_sae", detail: "d_in × d_sae = \(dIn) × \(dSAE) exceeds 2^34 weights")
        }
        if let h = headLayout {
            guard h.nHeads >= 1, h.dHead >= 1, h.nHeads <= dIn, h.dHead <= dIn, h.width == dIn else {
                throw SAEFormatError.invalidValue(file: file, key: "head layout", detail: "is \(h.nHeads) heads × \(h.dHead), which does not flatten to d_in \(dIn)")
            }
        }
    }

    /// ``check(dIn:dSAE:headLayout:file:)`` of this config, a non-empty hook name and, for TopK, `1 ≤ k ≤ d_sae`.
    public func validate(file: String) throws {
        try Self.check(dIn: dIn, dSAE: dSAE, headLayout: headLayout, file: file)
        guard !hookName.isEmpty else { throw SAEFormatError.invalidValue(file: file, key: "hook_name", detail: "is empty") }
        if case .topK(let k) = architecture, !(1...dSAE).contains(k) {
            throw SAEFormatError.invalidValue(file: file, key: "k", detail: "is \(k), expected 1…d_sae (\(dSAE))")
        }
    }
}
