// TokenRowStream: documents → token rows of fixed length with BOS in column 0 (SPEC §1.2, decision 6).
import Tensor
import Transformer
import SparseAutoencoder

/// Cuts a document stream into rows `[rows, rowLength]` the way the paper's pipeline does (SPEC §1.2):
/// each document is tokenized with BOS prepended and truncated to `nCtx` tokens (TransformerLens
/// `to_tokens`), documents are concatenated, rows are cut in order and **column 0 of every row is set
/// to BOS**. One deviation (SPEC decision 6, allowed): the tail of the last document of a block is
/// carried into the next row instead of being dropped, so no text is lost between blocks. At the end of
/// the corpus a final partial row (< rowLength tokens) is dropped and counted in `droppedTailTokens`.
public struct TokenRowStream {
    public private(set) var documents: DocumentStream
    public let tokenizer: GPT2Tokenizer?
    public let rowLength: Int
    public let nCtx: Int
    public let bos: Int
    private var pending: [Int] = []
    /// Tokens delivered in rows so far.
    public private(set) var tokensDelivered = 0
    /// Tokens left over at the end of the corpus (less than one row).
    public private(set) var droppedTailTokens = 0

    /// `tokenizer` is required for text corpora (token files need none). `bos` defaults to the
    /// tokenizer's `<|endoftext|>` (GPT-2's 50256 without a tokenizer).
    public init(documents: DocumentStream, tokenizer: GPT2Tokenizer?, rowLength: Int = 128, nCtx: Int = 1024,
                bos: Int? = nil) {
        precondition(rowLength >= 2 && nCtx >= 1)
        self.documents = documents
        self.tokenizer = tokenizer
        self.rowLength = rowLength
        self.nCtx = nCtx
        self.bos = bos ?? tokenizer?.endOfTextID ?? GPT2Config.endOfText
    }

    /// The next `count` rows, `[count, rowLength]`; fewer (or nil for none) when the corpus ends.
    public mutating func nextRows(_ count: Int) throws -> IndexTensor? {
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
