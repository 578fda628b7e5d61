// SAEParameters: what training keeps per parameter — the parameters themselves, their gradients, Adam's
// moments and step counts — under the parameters' names, never as positions in an array.

import Tensor

/// One value per trained parameter of an SAE: `W_enc [d_in, d_sae]`, `W_dec [d_sae, d_in]`, `b_enc [d_sae]`,
/// `b_dec [d_in]`, and the architecture's own parameters (JumpReLU's `threshold [d_sae]`), each a `[d_sae]`
/// vector, by name. `Value` is a `Tensor` for parameters, gradients and moments, an `Int` for step counts.
public struct SAEParameters<Value> {
    public var wEnc: Value, wDec: Value, bEnc: Value, bDec: Value
    /// The architecture's own parameters by name (see ``TrainableArchitecture/ownParameterNames``).
    public var own: [String: Value]

    public init(wEnc: Value, wDec: Value, bEnc: Value, bDec: Value, own: [String: Value] = [:]) {
        self.wEnc = wEnc; self.wDec = wDec; self.bEnc = bEnc; self.bDec = bDec; self.own = own
    }

    /// The names in PyTorch's optimiser order (the four shared parameters, then the architecture's own
    /// in name order): the order in which updates are applied and files list them.
    public var names: [String] { ["W_enc", "W_dec", "b_enc", "b_dec"] + own.keys.sorted() }

    /// The value of the parameter `name` (one of ``names``).
    public subscript(name: String) -> Value? {
        get {
            switch name {
            case "W_enc": wEnc
            case "W_dec": wDec
            case "b_enc": bEnc
            case "b_dec": bDec
            default: own[name]
            }
        }
        set {
            guard let newValue else { own[name] = nil; return }
            switch name {
            case "W_enc": wEnc = newValue
            case "W_dec": wDec = newValue
            case "b_enc": bEnc = newValue
            case "b_dec": bDec = newValue
            default: own[name] = newValue
            }
        }
    }

    /// Calls `body` with each parameter's name and value, in place, in ``names`` order.
    public mutating func forEach(_ body: (String, inout Value) throws -> Void) rethrows {
        try body("W_enc", &wEnc)
        try body("W_dec", &wDec)
        try body("b_enc", &bEnc)
        try body("b_dec", &bDec)
        for name in own.keys.sorted() { try body(name, &own[name]!) }
    }

    /// The same names with `transform` applied to each value.
    public func map<T>(_ transform: (String, Value) throws -> T) rethrows -> SAEParameters<T> {
        SAEParameters<T>(wEnc: try transform("W_enc", wEnc), wDec: try transform("W_dec", wDec), bEnc: try transform("b_enc", bEnc),
                         bDec: try transform("b_dec", bDec), own: try own.reduce(into: [:]) { $0[$1.key] = try transform($1.key, $1.value) })
    }
}

extension SAEParameters: Sendable where Value: Sendable {}
extension SAEParameters: Equatable where Value: Equatable {}

extension SAEParameters where Value == Tensor {
    /// The trained parameters of `sae`: its four tensors and `architecture`'s own.
    init(of sae: SAE, _ architecture: any TrainableArchitecture) {
        self.init(wEnc: sae.wEnc, wDec: sae.wDec, bEnc: sae.bEnc, bDec: sae.bDec, own: architecture.ownParameters(of: sae))
    }

    /// Zeros shaped like `parameters`.
    init(zerosLike parameters: SAEParameters<Tensor>) {
        self = parameters.map { _, t in Tensor(zeros: t.shape) }
    }
}

/// Adam's state (PyTorch's `torch.optim.Adam`): both moments and the step count of every parameter.
public struct AdamState: Sendable, Equatable {
    /// First moments.
    public var m: SAEParameters<Tensor>
    /// Second moments.
    public var v: SAEParameters<Tensor>
    /// Per-parameter step counts (never reset, as in PyTorch).
    public var steps: SAEParameters<Int>

    init(zerosLike parameters: SAEParameters<Tensor>) {
        m = SAEParameters(zerosLike: parameters)
        v = m
        steps = parameters.map { _, _ in 0 }
    }
}

/// What one step measured on its batch (means over the batch — the global batch with several ranks).
public struct StepMetrics: Sendable, Equatable {
    /// `mse + sparsityPenalty + auxiliaryLoss`.
    public let loss: Float
    /// Mean over the batch of `Σ_a (x̂ − x)²`.
    public let mse: Float
    /// The architecture's sparsity penalty: the L1 term `l1_coeff · mean_n Σ_j f_nj` (standard), the L0
    /// term `λ · mean_n Σ_j 1[f_nj > 0]` (JumpReLU), 0 for TopK and BatchTopK (whose sparsity is a selection).
    public let sparsityPenalty: Float
    /// An auxiliary loss that is not a sparsity penalty: AuxK's (TopK, BatchTopK), else 0.
    public let auxiliaryLoss: Float
    /// Mean number of active features per row.
    public let l0: Float
    /// The learning rate this step used.
    public let lr: Double
    /// Whether the gradients went through the active entries only (the entry path), not the dense one.
    public var sparse: Bool = false

    public init(loss: Float, mse: Float, sparsityPenalty: Float, auxiliaryLoss: Float = 0, l0: Float, lr: Double, sparse: Bool = false) {
        self.loss = loss; self.mse = mse; self.sparsityPenalty = sparsityPenalty; self.auxiliaryLoss = auxiliaryLoss
        self.l0 = l0; self.lr = lr; self.sparse = sparse
    }

    /// Equal numbers (the path taken is not compared).
    public static func == (a: StepMetrics, b: StepMetrics) -> Bool {
        a.loss == b.loss && a.mse == b.mse && a.sparsityPenalty == b.sparsityPenalty && a.auxiliaryLoss == b.auxiliaryLoss
            && a.l0 == b.l0 && a.lr == b.lr
    }
}
