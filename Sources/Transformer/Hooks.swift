// Hooks: scoped hook functions and the activation cache of one run.
import Tensor

/// A hook function: reads the activation at a hook point and returns a replacement (same shape)
/// or `nil` to leave it unchanged. Hooks live for one call only — there is no registry to reset.
public typealias HookFunction = (_ activation: Tensor, _ hook: HookName) throws -> Tensor?

/// The activations a run kept, keyed by hook name (values after any edit at that hook).
public struct ActivationCache: Sendable {
    public private(set) var values: [HookName: Tensor] = [:]

    public init() {}

    /// The activation at `hook`, or nil if it was not cached.
    public subscript(_ hook: HookName) -> Tensor? {
        get { values[hook] }
        set { values[hook] = newValue }
    }

    /// Cached hook names in firing order for a model with `nLayers` blocks.
    public func names(nLayers: Int) -> [HookName] { HookName.all(nLayers: nLayers).filter { values[$0] != nil } }
}

/// What one forward pass records and edits; checks afterwards that every requested hook fired.
struct HookContext {
    let cacheNames: Set<HookName>
    let edits: [HookName: HookFunction]
    /// When set, the run ends right after this hook fires (nothing later is needed).
    var stopAfter: HookName? = nil
    var cache = ActivationCache()
    var fired: Set<HookName> = []

    /// True when the value at `hook` is needed by the caller (cached or edited).
    func wants(_ hook: HookName) -> Bool { cacheNames.contains(hook) || edits[hook] != nil }

    func hasEdit(_ hook: HookName) -> Bool { edits[hook] != nil }

    /// Applies the edit at `hook` (if any), caches the result (if asked) and returns it.
    mutating func fire(_ hook: HookName, _ value: Tensor) throws -> Tensor {
        var x = value
        if let edit = edits[hook] {
            if let y = try edit(x, hook) {
                guard y.shape == x.shape else {
                    throw TransformerError.hookShapeMismatch(hook: hook.description, expected: x.shape, found: y.shape)
                }
                x = y
            }
            fired.insert(hook)
        }
        if cacheNames.contains(hook) {
            cache[hook] = x
            fired.insert(hook)
        }
        if hook == stopAfter { throw EarlyStop() }
        return x
    }

    /// Thrown by ``fire(_:_:)`` after the `stopAfter` hook; caught by the run.
    struct EarlyStop: Error {}

    /// Throws for the first requested hook (in firing order) that did not fire.
    func checkAllFired(_ config: GPT2Config) throws {
        let requested = cacheNames.union(edits.keys)
        let nLayers = config.nLayers
        for h in requested where h.layer.map({ $0 >= nLayers }) ?? false {
            throw TransformerError.hookLayerOutOfRange(hook: h.description, nLayers: nLayers)
        }
        let all = HookName.all(config)
        // A hook of a block this architecture does not have (only attention-only blocks lack some).
        if let h = requested.first(where: { !all.contains($0) }) {
            throw TransformerError.hookNotInModel(hook: h.description, detail: "an attention-only model has no ln2, MLP or resid_mid hooks")
        }
        for h in all where requested.contains(h) && !fired.contains(h) {
            throw TransformerError.hookDidNotFire(h.description)
        }
    }
}
