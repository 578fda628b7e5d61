// LoadedModel: a processed model with what the reports say about it — its name and, for the planted
// model, which heads were planted.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

/// A loaded model with what the runners need to know about it.
public struct LoadedModel: Sendable {
    public let model: GPT2
    /// The planted heads, when the model is the planted-circuit model (or a file carrying its roles).
    public let roles: PlantedCircuitModel.Roles?
    /// A short name for reports ("planted-circuit model v1", or the file name).
    public let name: String
    public let path: String
    public var isPlanted: Bool { roles != nil }
    public init(model: GPT2, roles: PlantedCircuitModel.Roles?, name: String, path: String) {
        self.model = model; self.roles = roles; self.name = name; self.path = path
    }

    /// The planted heads of `layer` that count as induction heads (empty for other models).
    public func inductionHeads(layer: Int) -> [Int] {
        guard let r = roles else { return [] }
        return [r.shortInduction, r.longInduction].filter { $0.layer == layer }.map(\.head)
    }

    /// A label per head of `layer`: "L.h", with the planted role when there is one ("1.5 short-prefix induction").
    public func headLabels(layer: Int) -> [String] {
        (0..<model.config.nHeads).map { h in
            guard let r = roles else { return "\(layer).\(h)" }
            let head = PlantedCircuitModel.Head(layer: layer, head: h)
            switch head {
            case r.shortInduction: return "\(head) short-prefix induction"
            case r.longInduction: return "\(head) long-prefix induction"
            case r.previousToken: return "\(head) previous token"
            case r.twoBack: return "\(head) two back"
            default: return "\(head)"
            }
        }
    }
}
