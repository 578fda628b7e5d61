// ModelActivationSource: corpus → token rows → GPT-2 up to the SAE's layer → hook_z flattened head-major.

import Foundation

/// The corpus ran out while training needed more activations.
public struct CorpusExhausted: Error, CustomStringConvertible, Sendable {
    public let tokensDelivered: Int
    public var description: String { "the corpus ran out after \(tokensDelivered) tokens; give a larger corpus or fewer training tokens" }
}

/// Produces the paper's SAE inputs (SPEC §1.2–§1.3): rows of tokens run through the model only as far as
/// `blocks.L.attn.hook_z`, whose `[batch, pos, n_heads, d_head]` activations are flattened head-major
/// to `[batch·pos, n_heads·d_head]`. Feed it to an `ActivationBuffer`.
public struct ModelActivationSource: ActivationSource {
    public let model: GPT2
    public let layer: Int
    public private(set) var rows: TokenRowStream
    /// Sequences per forward pass (the paper: 512; smaller batches cost little on a CPU).
    public let sequencesPerForward: Int
    public var dIn: Int { model.config.nHeads * model.config.dHead }
    /// Tokens run through the model so far, and the seconds it took.
    public private(set) var tokensProcessed = 0
    public private(set) var seconds = 0.0
    /// Tokens per second so far.
    public var tokensPerSecond: Double { seconds > 0 ? Double(tokensProcessed) / seconds : 0 }

    public init(model: GPT2, layer: Int, rows: TokenRowStream, sequencesPerForward: Int = 32) {
        precondition(layer >= 0 && layer < model.config.nLayers, "layer \(layer) is not in the model")
        self.model = model
        self.layer = layer
        self.rows = rows
        self.sequencesPerForward = sequencesPerForward
    }

    public mutating func nextChunk() throws -> Tensor {
        guard let tokens = try rows.nextRows(sequencesPerForward) else { throw CorpusExhausted(tokensDelivered: rows.tokensDelivered) }
        let start = Date()
        let z = try model.runWithCache(tokens, names: [.z(layer)])[.z(layer)]!
        seconds += Date().timeIntervalSince(start)
        tokensProcessed += tokens.count
        return SAE.flattenHeads(z).reshaped([-1, dIn])
    }
}
