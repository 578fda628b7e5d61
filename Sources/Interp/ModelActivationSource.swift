// ModelActivationSource: corpus → token rows → GPT-2 up to the SAE's layer → hook_z flattened head-major.

import Foundation
import Tensor
import Transformer
import SparseAutoencoder

/// The corpus ran out while training needed more activations.
public struct CorpusExhausted: Error, CustomStringConvertible, Sendable {
    public let tokensDelivered: Int
    public var description: String { "the corpus ran out after \(tokensDelivered) tokens; give a larger corpus or fewer training tokens" }
}

/// Produces SAE inputs (Docs/Interp.md, "Data for training and evaluation"): rows of tokens run through the model only as far as the last
/// requested hook — the paper's `blocks.L.attn.hook_z`, whose `[batch, pos, n_heads, d_head]` activations
/// are flattened head-major to `[batch·pos, n_heads·d_head]`, or a `d_model`-wide hook such as
/// `blocks.L.hook_resid_pre` (residual SAEs). With several sites, one model run feeds them all: row `i`
/// holds each site's activation of token `i` side by side, in the order of `sites` (``columns(of:)``).
/// Feed it to an `ActivationBuffer` or a `TrainingRun`; it can skip to a recorded position, so a resumed
/// run reads the same rows.
public struct ModelActivationSource: ResumableActivationSource {
    public let model: GPT2
    /// The hooks read, each `hook_z` or a `d_model`-wide hook (``HookName/isSAESite``), distinct.
    public let sites: [HookName]
    public private(set) var rows: TokenRowStream
    /// Sequences per forward pass (the paper: 512; smaller batches cost little on a CPU).
    public let sequencesPerForward: Int
    /// This source's share of the corpus in a data-parallel run: of every `shard.count` consecutive token
    /// rows it keeps the `shard.index`-th (round robin), so the ranks' sources read disjoint rows.
    public let shard: (index: Int, count: Int)
    /// Positions kept of each token row (nil: all of them). Fewer positions per row spread a buffer of
    /// the same size over more contexts — better shuffled batches — for more model work per row kept
    /// (Docs/Scaling.md). Which positions: a uniform draw seeded by `positionSeed` and the row's index
    /// in the corpus stream, so a resumed run keeps the same ones.
    public let positionsPerRow: Int?
    public let positionSeed: UInt64
    /// The layers of the sites, in order (one per site).
    public var layers: [Int] { sites.map { $0.layer! } }
    /// The columns of each row that hold `site`'s activation.
    public func columns(of site: HookName) -> Range<Int> {
        let k = sites.firstIndex(of: site)!
        let start = sites[..<k].reduce(0) { $0 + $1.saeInputWidth(model.config)! }
        return start..<(start + site.saeInputWidth(model.config)!)
    }
    public var dIn: Int { sites.reduce(0) { $0 + $1.saeInputWidth(model.config)! } }
    /// Rows delivered (one per token), including skipped ones.
    public private(set) var rowsDelivered = 0
    /// Tokens run through the model by this source, and the seconds it took.
    public private(set) var tokensProcessed = 0
    public private(set) var seconds = 0.0
    /// Tokens per second so far.
    public var tokensPerSecond: Double { seconds > 0 ? Double(tokensProcessed) / seconds : 0 }

    public init(model: GPT2, sites: [HookName], rows: TokenRowStream, sequencesPerForward: Int = 32, shard: (index: Int, count: Int) = (0, 1),
                positionsPerRow: Int? = nil, positionSeed: UInt64 = 0) {
        precondition(!sites.isEmpty && sites.allSatisfy { $0.isSAESite && $0.layer! < model.config.nLayers } && Set(sites).count == sites.count,
                     "sites \(sites) are not distinct SAE hooks of the model's \(model.config.nLayers) layers")
        precondition(sequencesPerForward >= 1 && shard.count >= 1 && shard.index >= 0 && shard.index < shard.count)
        self.model = model
        self.sites = sites
        self.rows = rows
        self.sequencesPerForward = sequencesPerForward
        self.shard = shard
        precondition(positionsPerRow.map { $0 >= 1 && $0 <= rows.rowLength } ?? true, "positions per row must be in 1…\(rows.rowLength)")
        self.positionsPerRow = positionsPerRow == rows.rowLength ? nil : positionsPerRow
        self.positionSeed = positionSeed
    }

    /// `hook_z` of each of `layers` (the paper's SAEs).
    public init(model: GPT2, layers: [Int], rows: TokenRowStream, sequencesPerForward: Int = 32, shard: (index: Int, count: Int) = (0, 1),
                positionsPerRow: Int? = nil, positionSeed: UInt64 = 0) {
        self.init(model: model, sites: layers.map { .z($0) }, rows: rows, sequencesPerForward: sequencesPerForward, shard: shard,
                  positionsPerRow: positionsPerRow, positionSeed: positionSeed)
    }

    public init(model: GPT2, layer: Int, rows: TokenRowStream, sequencesPerForward: Int = 32) {
        self.init(model: model, layers: [layer], rows: rows, sequencesPerForward: sequencesPerForward)
    }

    /// The next `sequencesPerForward` token rows of this shard with their indices in the corpus stream,
    /// or nil at the corpus's end.
    mutating func nextTokenRows() throws -> (tokens: IndexTensor, indices: [Int])? {
        let first = rows.tokensDelivered / rows.rowLength
        guard shard.count > 1 else {
            return try rows.nextRows(sequencesPerForward).map { ($0, Array(first..<(first + $0.shape[0]))) }
        }
        guard let all = try rows.nextRows(sequencesPerForward * shard.count) else { return nil }
        let mine = stride(from: shard.index, to: all.shape[0], by: shard.count).map { $0 }
        guard !mine.isEmpty else { return nil }
        let n = all.shape[1]
        return (IndexTensor(shape: [mine.count, n], values: mine.flatMap { all.values[($0 * n)..<(($0 + 1) * n)] }), mine.map { first + $0 })
    }

    /// The positions kept of the token row with corpus index `index` (ascending).
    public func keptPositions(row index: Int, rowLength: Int) -> [Int] {
        guard let k = positionsPerRow else { return Array(0..<rowLength) }
        var rng = RandomStream(seed: positionSeed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
        return Array(rng.permutation(rowLength).prefix(k)).sorted()
    }

    public mutating func nextChunk() throws -> Tensor {
        guard let (tokens, indices) = try nextTokenRows() else { throw CorpusExhausted(tokensDelivered: rows.tokensDelivered) }
        let start = Date()
        let cache = try model.runWithCache(tokens, names: Set(sites))
        let perLayer = sites.map { $0.saeInput(cache[$0]!).reshaped([-1, $0.saeInputWidth(model.config)!]) }
        var out = perLayer.count == 1 ? perLayer[0] : Tensor.concatenate(perLayer, axis: 1)
        if positionsPerRow != nil {
            let n = tokens.shape[1]
            let keep = indices.enumerated().flatMap { r, g in keptPositions(row: g, rowLength: n).map { r * n + $0 } }
            out = out.gathering(axis: 0, IndexTensor(keep)).contiguous()
        }
        seconds += Date().timeIntervalSince(start)
        tokensProcessed += tokens.count
        rowsDelivered += out.shape[0]
        return out
    }

    /// Skips `count` rows without running the model (the token rows are still read and tokenized).
    /// `count` must be whole token rows (a position this source reported is).
    public mutating func skip(rows count: Int) throws {
        let perRow = positionsPerRow ?? rows.rowLength
        guard count % perRow == 0 else {
            throw CorpusError(path: "\(rows.documents.spec)", position: count, detail: "cannot resume at activation row \(count): not a whole number of token rows (\(perRow) activation rows each)")
        }
        // Each of this shard's token rows stands for `shard.count` corpus rows.
        var left = count / perRow * shard.count
        while left > 0 {
            guard let r = try rows.nextRows(min(256, left)) else { throw CorpusExhausted(tokensDelivered: rows.tokensDelivered) }
            left -= r.shape[0]
        }
        rowsDelivered += count
    }
}
