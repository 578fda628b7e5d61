// TokenRowStream: documents → token rows of fixed length with BOS in column 0 (Docs/Method.md §1.2, decision 6).
import Tensor
import Transformer
import SparseAutoencoder

/// Cuts a document stream into rows `[rows, rowLength]` the way the paper's pipeline does (Docs/Method.md §1.2):
/// each document is tokenized with BOS prepended and truncated to `nCtx` tokens (TransformerLens
/// `to_tokens`), documents are concatenated, rows are cut in order and **column 0 of every row is set
/// to BOS**. One deviation (Docs/Deviations.md #6, allowed): the tail of the last document of a block is
/// carried into the next row instead of being dropped, so no text is lost between blocks. At the end of
/// the corpus a final partial row (< rowLength tokens) is dropped and counted in `droppedTailTokens`.
public struct TokenRowStream {
    /// How documents become rows.
    public enum Recipe: Sendable, Equatable {
        /// Docs/Method.md §1.2 (the paper's GPT-2 pipeline): each document tokenized with BOS and cut at `n_ctx`,
        /// concatenated, column 0 of every row set to BOS.
        case documents
        /// TransformerLens's `utils.tokenize_and_concatenate` as it was when the paper made its GELU-2L
        /// rows (Docs/Method.md §3.1), with `max_length` = the row length: per batch of 1000 documents (a
        /// `datasets.map` batch) the texts are joined with `<|endoftext|>`, the string is cut into 20
        /// chunks of `⌈len/20⌉` code points (which may split a word or the separator), the chunks are
        /// tokenized, tokens equal to `padID` are dropped — the pad token TransformerLens gets from the
        /// tokenizer, or none when it has none (TransformerLens then adds `<PAD>`, an id no text has);
        /// **quirk**: when the pad token is `<|endoftext|>` this also drops every separator — the tail
        /// that does not fill a row of `rowLength − 1` is dropped, and BOS is prepended to every row.
        /// No shuffle (the reference's `.shuffle(seed=42)` is a HuggingFace permutation; Docs/Deviations).
        case transformerLensConcatenate(padID: Int?)
    }

    public private(set) var documents: DocumentStream
    public let tokenizer: GPT2Tokenizer?
    public let rowLength: Int
    public let nCtx: Int
    public let bos: Int
    public let recipe: Recipe
    private var pending: [Int] = []
    /// Rows made by the concatenation recipe and not yet delivered.
    private var queued: [[Int]] = []
    /// Tokens delivered in rows so far.
    public private(set) var tokensDelivered = 0
    /// Tokens left over at the end of the corpus (less than one row).
    public private(set) var droppedTailTokens = 0

    /// `tokenizer` is required for text corpora (token files need none). `bos` defaults to the
    /// tokenizer's `<|endoftext|>` (GPT-2's 50256 without a tokenizer).
    public init(documents: DocumentStream, tokenizer: GPT2Tokenizer?, rowLength: Int = 128, nCtx: Int = 1024,
                bos: Int? = nil, recipe: Recipe = .documents) {
        precondition(rowLength >= 2 && nCtx >= 1)
        self.documents = documents
        self.tokenizer = tokenizer
        self.rowLength = rowLength
        self.nCtx = nCtx
        self.bos = bos ?? tokenizer?.endOfTextID ?? GPT2Config.endOfText
        self.recipe = recipe
    }

    /// The next `count` rows, `[count, rowLength]`; fewer (or nil for none) when the corpus ends.
    public mutating func nextRows(_ count: Int) throws -> IndexTensor? {
        guard case .transformerLensConcatenate(let padID) = recipe else { return try nextDocumentRows(count) }
        while queued.count < count {
            var batch: [String] = []
            while batch.count < 1000, let doc = try documents.next() {
                guard case .text(let s) = doc else {
                    throw CorpusError(path: "\(documents.spec)", position: 0, detail: "TransformerLens's concatenation tokenizes text; this corpus holds tokens")
                }
                batch.append(s)
            }
            if batch.isEmpty { break }
            guard let tokenizer else { throw CorpusError(path: "\(documents.spec)", position: 0, detail: "a text corpus needs a tokenizer") }
            queued += Self.concatenate(batch, tokenizer: tokenizer, rowLength: rowLength, padID: padID, bos: bos)
        }
        guard !queued.isEmpty else { return nil }
        let rows = queued.prefix(count)
        queued.removeFirst(rows.count)
        tokensDelivered += rows.count * rowLength
        return IndexTensor(shape: [rows.count, rowLength], values: rows.flatMap { $0 })
    }

    /// One `datasets.map` batch of ``Recipe/transformerLensConcatenate(padID:)``: rows of `rowLength`
    /// tokens, BOS first.
    public static func concatenate(_ texts: [String], tokenizer: GPT2Tokenizer, rowLength: Int, padID: Int?, bos: Int) -> [[Int]] {
        let full = Array(texts.joined(separator: GPT2Tokenizer.endOfText).unicodeScalars)
        let chunkLength = full.isEmpty ? 0 : (full.count - 1) / 20 + 1
        var tokens: [Int] = []
        for i in 0..<20 where i * chunkLength < full.count {
            var chunk = String.UnicodeScalarView()
            chunk.append(contentsOf: full[(i * chunkLength)..<min((i + 1) * chunkLength, full.count)])
            tokens += tokenizer.encode(String(chunk)).filter { $0 != padID }
        }
        let seqLen = rowLength - 1
        return (0..<(tokens.count / seqLen)).map { [bos] + tokens[($0 * seqLen)..<(($0 + 1) * seqLen)] }
    }

    /// ``Recipe/documents``.
    private mutating func nextDocumentRows(_ count: Int) throws -> IndexTensor? {
        var values: [Int] = []
        values.reserveCapacity(count * rowLength)
        var rows = 0
        while rows < count {
            while pending.count < rowLength {
                guard let doc = try documents.next() else {
                    droppedTailTokens += pending.count
                    pending = []
                    return rows == 0 ? nil : IndexTensor(shape: [rows, rowLength], values: values)
                }
                pending += try tokens(of: doc)
            }
            var row = Array(pending.prefix(rowLength))
            row[0] = bos
            pending.removeFirst(rowLength)
            values += row
            rows += 1
            tokensDelivered += rowLength
        }
        return IndexTensor(shape: [rows, rowLength], values: values)
    }

    /// A document's tokens: BOS first, at most `nCtx` in all.
    func tokens(of doc: Document) throws -> [Int] {
        switch doc {
        case .text(let s):
            guard let tokenizer else {
                throw CorpusError(path: "\(documents.spec)", position: 0, detail: "a text corpus needs a tokenizer")
            }
            return tokenizer.toTokens(s, prependBOS: true, maxLength: nCtx)
        case .tokens(let t):
            let withBOS = t.first == bos ? t : [bos] + t
            return Array(withBOS.prefix(nCtx))
        }
    }
}
