// SAEConfig: what an SAE reads and where its weights came from.

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

/// The configuration of an SAE: its widths, the hook it reads and how that hook's heads are laid out.
public struct SAEConfig: Codable, Sendable, Equatable {
    /// Input width (`d_in`; 768 for GPT-2 small's concatenated `hook_z`).
    public var dIn: Int
    /// Dictionary size (`d_sae`).
    public var dSAE: Int
    /// The TransformerLens hook the SAE reads, e.g. `blocks.1.attn.hook_z`.
    public var hookName: String
    /// The head layout of `hook_z` inputs (nil for inputs that are not per-head).
    public var headLayout: HeadLayout?
    /// Whether `b_dec` is subtracted from the input before encoding (the paper's SAEs: yes).
    public var applyBDecToInput: Bool
    public var provenance: SAEProvenance

    public init(dIn: Int, dSAE: Int, hookName: String, headLayout: HeadLayout? = nil, applyBDecToInput: Bool = true,
                provenance: SAEProvenance = SAEProvenance(source: "unknown")) {
        precondition(headLayout == nil || headLayout!.width == dIn, "head layout \(headLayout!) does not flatten to d_in \(dIn)")
        self.dIn = dIn
        self.dSAE = dSAE
        self.hookName = hookName
        self.headLayout = headLayout
        self.applyBDecToInput = applyBDecToInput
        self.provenance = provenance
    }

    /// The layer in a `blocks.L....` hook name, if any.
    public var layer: Int? {
        let parts = hookName.split(separator: ".")
        guard parts.count >= 2, parts[0] == "blocks" else { return nil }
        return Int(parts[1])
    }
}
