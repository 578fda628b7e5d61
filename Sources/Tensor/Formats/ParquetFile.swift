// ParquetFile: a streaming reader of Apache Parquet files — the footer (Thrift compact FileMetaData),
// the schema's leaf columns, and one byte-array (string) column read page by page: plain and
// dictionary encodings, RLE/bit-packed definition levels, data pages v1 and v2, any number of row
// groups and pages, codecs none, Snappy, gzip and Zstandard. Memory: the mapping plus one decoded page
// (and the column chunk's dictionary); a page's sizes come from its header and are checked against
// the chunk before anything is allocated.

import Foundation

/// One value of a string column (Parquet or Arrow).
public enum TextCell: Equatable, Sendable {
    case null
    /// The value's bytes (UTF-8 for string columns; a view into the decoded page or batch).
    case bytes(ArraySlice<UInt8>)
}

/// A string column read value by value: ``ParquetStringReader`` and ``ArrowStringReader``.
public protocol TextColumnReader {
    /// The next value (its first `limit` bytes at most), or nil after the last row.
    mutating func nextCell(limit: Int) throws -> TextCell?
    /// The full length in bytes of the value last returned.
    var lastValueLength: Int { get }
}

/// A Parquet file: its columns and row groups, read from a read-only mapping.
public final class ParquetFile: @unchecked Sendable {
    /// Parquet's physical types.
    public enum PhysicalType: Int, Sendable {
        case boolean = 0, int32, int64, int96, float, double, byteArray, fixedLengthByteArray
    }

    /// A leaf column of the schema.
    public struct Column: Sendable, Equatable {
        /// The column's path, dotted (`meta.source` for a field of a struct).
        public let name: String
        public let physicalType: PhysicalType
        /// Whether the column is annotated as UTF-8 text (STRING logical type or UTF8 converted type).
        public let isString: Bool
        public let maxDefinitionLevel: Int
        public let maxRepetitionLevel: Int
    }

    struct Chunk {
        let codec: CompressionCodec?
        let codecNumber: Int
        let valueCount: Int
        let start: Int
        let length: Int
    }

    struct RowGroup {
        let rows: Int
        let chunks: [Chunk]
    }

    public let path: String
    /// Rows in the file, from its footer.
    public let rowCount: Int
    public let columns: [Column]
    let rowGroups: [RowGroup]
    let file: MappedFile
    /// Row groups in the file.
    public var rowGroupCount: Int { rowGroups.count }
    /// The footer's `created_by` (the writer and its version), if present.
    public let createdBy: String?

    static let format = "Parquet"
    /// A page (or dictionary) decoding to more bytes than this is refused (pyarrow writes 1 MiB pages).
    public static let maxPageBytes = 1 << 28

    func failure(_ reason: FileFormatError.Reason, _ detail: String) -> FileFormatError {
        FileFormatError(path: path, format: Self.format, reason: reason, detail: detail)
    }

    /// Whether `prefix` starts with Parquet's magic `PAR1`.
    public static func hasMagic(_ prefix: some Collection<UInt8>) -> Bool { Array(prefix.prefix(4)) == Array("PAR1".utf8) }

    /// Opens `path` and reads its footer and schema.
    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path, format: Self.format)
        let size = file.size
        guard size >= 12 else { throw FileFormatError(path: path, format: Self.format, reason: .truncated, detail: "\(size) bytes: shorter than the 12 of magic and footer length") }
        let all = file.bytes(0..<size)
        guard Self.hasMagic(all), Array(all[(size - 4)...]) == Array("PAR1".utf8) else {
            throw FileFormatError(path: path, format: Self.format, reason: .corrupt, detail: "no PAR1 magic at the start and the end (a cut-off download ends without it)")
        }
        let footerLength = Int(all.loadUnaligned(fromByteOffset: size - 8, as: UInt32.self).littleEndian)
        guard footerLength <= size - 12 else {
            throw FileFormatError(path: path, format: Self.format, reason: .corrupt, detail: "footer of \(footerLength) bytes in a \(size)-byte file")
        }
        let footerStart = size - 8 - footerLength
        let meta: FileMetaData
        do {
            var r = ThriftCompactReader(UnsafeRawBufferPointer(rebasing: all[footerStart..<(size - 8)]))
            meta = try FileMetaData(&r)
        } catch let e as ThriftCompactReader.Failure {
            throw FileFormatError(path: path, format: Self.format, reason: .corrupt, detail: "footer: \(e.message)")
        }
        createdBy = meta.createdBy
        guard meta.rows >= 0 else { throw FileFormatError(path: path, format: Self.format, reason: .corrupt, detail: "footer: \(meta.rows) rows") }
        rowCount = meta.rows
        columns = try Self.leaves(meta.schema, path: path)
        var groups: [RowGroup] = []
        var total = 0
        for (g, group) in meta.rowGroups.enumerated() {
            guard group.columns.count == columns.count else {
                throw FileFormatError(path: path, format: Self.format, reason: .corrupt, detail: "row group \(g) has \(group.columns.count) column chunks for \(columns.count) columns")
            }
            guard group.rows >= 0 else { throw FileFormatError(path: path, format: Self.format, reason: .corrupt, detail: "row group \(g): \(group.rows) rows") }
            total += group.rows
            var chunks: [Chunk] = []
            for (c, m) in group.columns.enumerated() {
                let name = columns[c].name
                guard let m else {
                    throw FileFormatError(path: path, format: Self.format, reason: .unsupported, detail: "row group \(g), column '\(name)': no metadata (data in another file)")
                }
                let start = (m.dictionaryPageOffset.map { $0 > 0 && $0 < m.dataPageOffset } ?? false) ? m.dictionaryPageOffset! : m.dataPageOffset
                guard start >= 4, m.compressedSize >= 0, start <= footerStart, m.compressedSize <= footerStart - start, m.valueCount >= 0 else {
                    throw FileFormatError(path: path, format: Self.format, reason: .corrupt,
                                          detail: "row group \(g), column '\(name)': bytes [\(start), \(start + m.compressedSize)) lie outside the data (4..<\(footerStart))")
                }
                let codec: CompressionCodec?
                switch m.codec {
                case 0: codec = nil
                case 1: codec = .snappy
                case 2: codec = .gzip
                case 6: codec = .zstd
                default: codec = nil
                }
                chunks.append(Chunk(codec: codec, codecNumber: m.codec, valueCount: m.valueCount, start: start, length: m.compressedSize))
            }
            groups.append(RowGroup(rows: group.rows, chunks: chunks))
        }
        guard total == rowCount else {
            throw FileFormatError(path: path, format: Self.format, reason: .corrupt, detail: "the row groups hold \(total) rows, the footer says \(rowCount)")
        }
        rowGroups = groups
    }

    /// The leaf columns of a flattened schema (depth-first, root first), with their levels.
    static func leaves(_ schema: [SchemaElement], path: String) throws -> [Column] {
        guard let root = schema.first else { throw FileFormatError(path: path, format: format, reason: .corrupt, detail: "footer: empty schema") }
        var out: [Column] = []
        var index = 1
        func visit(_ count: Int, _ prefix: [String], def: Int, rep: Int, depth: Int) throws {
            guard depth < 64 else { throw FileFormatError(path: path, format: format, reason: .corrupt, detail: "schema nested deeper than 64") }
            for _ in 0..<count {
                guard index < schema.count else {
                    throw FileFormatError(path: path, format: format, reason: .corrupt, detail: "schema: the groups claim more children than the \(schema.count - 1) elements listed")
                }
                let e = schema[index]
                index += 1
                let d = def + (e.repetition == 0 ? 0 : 1)
                let r = rep + (e.repetition == 2 ? 1 : 0)
                if let n = e.children, n > 0 {
                    try visit(n, prefix + [e.name], def: d, rep: r, depth: depth + 1)
                } else {
                    guard let t = e.type.flatMap(PhysicalType.init(rawValue:)) else {
                        throw FileFormatError(path: path, format: format, reason: .corrupt, detail: "schema: column '\((prefix + [e.name]).joined(separator: "."))' has no valid physical type")
                    }
                    out.append(Column(name: (prefix + [e.name]).joined(separator: "."), physicalType: t, isString: e.isString,
                                      maxDefinitionLevel: d, maxRepetitionLevel: r))
                }
            }
        }
        let n = root.children ?? 0
        guard n >= 0, n < schema.count else { throw FileFormatError(path: path, format: format, reason: .corrupt, detail: "schema: root claims \(n) children") }
        try visit(n, [], def: 0, rep: 0, depth: 0)
        guard index == schema.count else {
            throw FileFormatError(path: path, format: format, reason: .corrupt, detail: "schema: \(schema.count - index) elements belong to no group")
        }
        return out
    }

    /// A reader of the top-level byte-array column `name`, row by row across all row groups.
    public func strings(column name: String) throws -> ParquetStringReader {
        guard let index = columns.firstIndex(where: { $0.name == name }) else {
            throw failure(.notFound, "no column '\(name)' (columns: \(columns.map(\.name).joined(separator: ", ")))")
        }
        let c = columns[index]
        guard c.physicalType == .byteArray else {
            throw failure(.unsupported, "column '\(name)' holds \(c.physicalType), not strings")
        }
        guard c.maxRepetitionLevel == 0 else {
            throw failure(.unsupported, "column '\(name)' is inside a list (repetition level \(c.maxRepetitionLevel)); a text column is one string per row")
        }
        for (g, group) in rowGroups.enumerated() where group.chunks[index].codec == nil && group.chunks[index].codecNumber != 0 {
            let names = [3: "LZO", 4: "Brotli", 5: "LZ4 (Hadoop)", 7: "LZ4_RAW"]
            throw failure(.unsupported, "row group \(g), column '\(name)': codec \(names[group.chunks[index].codecNumber] ?? "number \(group.chunks[index].codecNumber)") (readable: none, Snappy, gzip, Zstandard; rewrite with pyarrow, e.g. compression='zstd')")
        }
        return ParquetStringReader(file: self, column: index)
    }
}

/// Reads one byte-array column of a ``ParquetFile`` value by value; see ``ParquetFile/strings(column:)``.
public struct ParquetStringReader: TextColumnReader {
    let file: ParquetFile
    let column: Int
    private var group = -1
    private var position = 0
    private var end = 0
    private var valuesLeft = 0
    private var rowsLeft = 0
    private var dictionary: [ArraySlice<UInt8>]? = nil
    private var cells: [TextCell] = []
    private var next = 0

    init(file: ParquetFile, column: Int) {
        self.file = file
        self.column = column
    }

    var name: String { file.columns[column].name }

    private func failure(_ detail: String, _ reason: FileFormatError.Reason = .corrupt) -> FileFormatError {
        file.failure(reason, "row group \(group), column '\(name)': \(detail)")
    }

    /// The full length in bytes of the value last returned (it may have been cut to the limit).
    public private(set) var lastValueLength = 0

    /// The next value (its first `limit` bytes at most), or nil after the last row.
    public mutating func nextCell(limit: Int = .max) throws -> TextCell? {
        while next == cells.count {
            cells.removeAll(keepingCapacity: true)
            next = 0
            if valuesLeft == 0 {
                guard rowsLeft == 0 else { throw failure("the chunk ends \(rowsLeft) values before its row group's rows") }
                group += 1
                guard group < file.rowGroups.count else { return nil }
                let chunk = file.rowGroups[group].chunks[column]
                position = chunk.start
                end = chunk.start + chunk.length
                valuesLeft = chunk.valueCount
                rowsLeft = file.rowGroups[group].rows
                guard valuesLeft == rowsLeft else { throw failure("\(valuesLeft) values for \(rowsLeft) rows") }
                dictionary = nil
                continue
            }
            try readPage()
        }
        defer { next += 1 }
        guard case .bytes(let b) = cells[next] else { lastValueLength = 0; return .null }
        lastValueLength = b.count
        return b.count <= limit ? .bytes(b) : .bytes(b.prefix(max(limit, 0)))
    }

    private mutating func readPage() throws {
        let chunk = file.rowGroups[group].chunks[column]
        guard position < end else { throw failure("the chunk's bytes end with \(valuesLeft) values unread") }
        let region = file.file.bytes(position..<end)
        var r = ThriftCompactReader(region)
        let header: PageHeader
        do { header = try PageHeader(&r) } catch let e as ThriftCompactReader.Failure { throw failure("page header at byte \(position): \(e.message)") }
        let bodyStart = r.position
        guard header.compressedSize >= 0, header.uncompressedSize >= 0, header.compressedSize <= region.count - bodyStart else {
            throw failure("a page of \(header.compressedSize) bytes at byte \(position + bodyStart) runs past the chunk's end (\(end))")
        }
        guard header.uncompressedSize <= ParquetFile.maxPageBytes else {
            throw failure("a page of \(header.uncompressedSize) bytes (limit \(ParquetFile.maxPageBytes))", .unsupported)
        }
        let body = UnsafeRawBufferPointer(rebasing: region[bodyStart..<(bodyStart + header.compressedSize)])
        position += bodyStart + header.compressedSize
        switch header.type {
        case 2:   // dictionary page
            guard let d = header.dictionary else { throw failure("dictionary page without its header") }
            guard dictionary == nil else { throw failure("a second dictionary page") }
            guard d.encoding == 0 || d.encoding == 2 else { throw failure("dictionary encoded as \(encodingName(d.encoding)), not PLAIN", .unsupported) }
            let data = try decode(body, chunk, header.uncompressedSize)
            var values: [ArraySlice<UInt8>] = []
            var p = 0
            guard d.count >= 0, d.count <= data.count / 4 + 1 else { throw failure("dictionary of \(d.count) values in \(data.count) bytes") }
            values.reserveCapacity(d.count)
            for _ in 0..<d.count { values.append(try plainByteArray(data, &p)) }
            dictionary = values
        case 0, 3:   // data page v1, v2
            try readDataPage(header, body, chunk)
        default:
            break   // index pages and unknown kinds: skipped, as readers do
        }
    }

    private mutating func readDataPage(_ header: PageHeader, _ body: UnsafeRawBufferPointer, _ chunk: ParquetFile.Chunk) throws {
        let c = file.columns[column]
        let count: Int, encoding: Int
        var levels: [UInt8]
        let values: [UInt8]
        if header.type == 0 {
            guard let h = header.dataV1 else { throw failure("data page without its header") }
            count = h.count
            encoding = h.encoding
            guard count >= 0, count <= valuesLeft else { throw failure("a page of \(h.count) values where \(valuesLeft) are left") }
            let data = try decode(body, chunk, header.uncompressedSize)
            var p = 0
            if c.maxDefinitionLevel > 0 {
                guard h.definitionEncoding == 3 else { throw failure("definition levels encoded as \(encodingName(h.definitionEncoding)), not RLE", .unsupported) }
                guard data.count >= 4 else { throw failure("page too short for its definition levels") }
                let n = Int(data[0]) | Int(data[1]) << 8 | Int(data[2]) << 16 | Int(data[3]) << 24
                guard n <= data.count - 4 else { throw failure("definition levels of \(n) bytes in a \(data.count)-byte page") }
                levels = try hybrid(data[4..<(4 + n)], bitWidth: bitWidth(c.maxDefinitionLevel), count: count)
                p = 4 + n
            } else {
                levels = []
            }
            values = Array(data[p...])
        } else {
            guard let h = header.dataV2 else { throw failure("data page v2 without its header") }
            count = h.count
            encoding = h.encoding
            guard count >= 0, count <= valuesLeft else { throw failure("a page of \(h.count) values where \(valuesLeft) are left") }
            guard h.repetitionBytes >= 0, h.definitionBytes >= 0, h.repetitionBytes + h.definitionBytes <= body.count else {
                throw failure("levels of \(h.repetitionBytes) + \(h.definitionBytes) bytes in a \(body.count)-byte page")
            }
            let levelBytes = Array(body[h.repetitionBytes..<(h.repetitionBytes + h.definitionBytes)])
            levels = c.maxDefinitionLevel > 0 ? try hybrid(levelBytes[...], bitWidth: bitWidth(c.maxDefinitionLevel), count: count) : []
            let rest = UnsafeRawBufferPointer(rebasing: body[(h.repetitionBytes + h.definitionBytes)...])
            let restSize = header.uncompressedSize - h.repetitionBytes - h.definitionBytes
            guard restSize >= 0 else { throw failure("uncompressed size \(header.uncompressedSize) smaller than the levels") }
            values = h.compressed ? try decode(rest, chunk, restSize) : Array(rest)
        }
        if levels.isEmpty { levels = [UInt8](repeating: UInt8(c.maxDefinitionLevel), count: count) }
        let present = levels.reduce(0) { $0 + ($1 == UInt8(c.maxDefinitionLevel) ? 1 : 0) }
        var strings: [ArraySlice<UInt8>] = []
        strings.reserveCapacity(present)
        switch encoding {
        case 0:
            var p = 0
            for _ in 0..<present { strings.append(try plainByteArray(values, &p)) }
        case 2, 8:
            guard let dictionary else { throw failure("dictionary-encoded page before any dictionary page") }
            guard let width = values.first else {
                guard present == 0 else { throw failure("dictionary indices missing") }
                break
            }
            guard width <= 32 else { throw failure("dictionary index width \(width) > 32") }
            let indices = try hybridIndices(values[1...], bitWidth: Int(width), count: present)
            for i in indices {
                guard i < dictionary.count else { throw failure("dictionary index \(i) ≥ \(dictionary.count) entries") }
                strings.append(dictionary[i])
            }
        default:
            throw failure("values encoded as \(encodingName(encoding)) (readable: PLAIN, dictionary); rewrite with pyarrow's defaults", .unsupported)
        }
        var s = 0
        cells.reserveCapacity(count)
        for l in levels {
            if l == UInt8(c.maxDefinitionLevel) { cells.append(.bytes(strings[s])); s += 1 } else { cells.append(.null) }
        }
        valuesLeft -= count
        rowsLeft -= count
    }

    private func encodingName(_ e: Int) -> String {
        let names = [0: "PLAIN", 2: "PLAIN_DICTIONARY", 3: "RLE", 4: "BIT_PACKED", 5: "DELTA_BINARY_PACKED",
                     6: "DELTA_LENGTH_BYTE_ARRAY", 7: "DELTA_BYTE_ARRAY", 8: "RLE_DICTIONARY", 9: "BYTE_STREAM_SPLIT"]
        return names[e] ?? "encoding \(e)"
    }

    private func bitWidth(_ maxLevel: Int) -> Int { maxLevel == 0 ? 0 : Int.bitWidth - maxLevel.leadingZeroBitCount }

    /// The chunk's codec applied to a page body that decodes to `size` bytes.
    private func decode(_ body: UnsafeRawBufferPointer, _ chunk: ParquetFile.Chunk, _ size: Int) throws -> [UInt8] {
        guard let codec = chunk.codec else {
            guard body.count == size else { throw failure("an uncompressed page of \(body.count) bytes claims \(size)") }
            return Array(body)
        }
        do { return try BlockDecoder.decode(body, codec: codec, expectedSize: size) } catch let e as BlockDecoder.Failure {
            throw failure("page at byte \(position - body.count): \(e.message)")
        }
    }

    /// A PLAIN byte array: a 4-byte little-endian length, then the bytes.
    private func plainByteArray(_ data: [UInt8], _ p: inout Int) throws -> ArraySlice<UInt8> {
        guard data.count - p >= 4 else { throw failure("a value's length runs past the page's end") }
        let n = Int(UInt32(data[p]) | UInt32(data[p + 1]) << 8 | UInt32(data[p + 2]) << 16 | UInt32(data[p + 3]) << 24)
        p += 4
        guard n <= data.count - p else { throw failure("a \(n)-byte value runs past the page's end") }
        defer { p += n }
        return data[p..<(p + n)]
    }

    /// `count` small values (levels) of the RLE/bit-packed hybrid encoding.
    private func hybrid(_ data: ArraySlice<UInt8>, bitWidth: Int, count: Int) throws -> [UInt8] {
        try hybridIndices(data, bitWidth: bitWidth, count: count).map { v in
            guard v <= 255 else { throw failure("level \(v) out of range") }
            return UInt8(v)
        }
    }

    /// `count` values of the RLE/bit-packed hybrid encoding (runs of one value; groups of 8 packed
    /// values, least significant bit first).
    private func hybridIndices(_ data: ArraySlice<UInt8>, bitWidth: Int, count: Int) throws -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(count)
        var p = data.startIndex
        let byteWidth = (bitWidth + 7) / 8
        while out.count < count {
            var header: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard p < data.endIndex, shift < 64 else { throw failure("RLE/bit-packed data ends after \(out.count) of \(count) values") }
                let b = data[p]; p += 1
                header |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { break }
                shift += 7
            }
            if header & 1 == 0 {
                let run = Int(min(header >> 1, UInt64(count - out.count)))
                guard data.endIndex - p >= byteWidth else { throw failure("an RLE run's value runs past the end") }
                var v = 0
                for i in 0..<byteWidth { v |= Int(data[p + i]) << (8 * i) }
                p += byteWidth
                guard bitWidth == 0 || v >> bitWidth == 0 else { throw failure("RLE value \(v) wider than \(bitWidth) bits") }
                out.append(contentsOf: repeatElement(v, count: run))
            } else {
                let groups = header >> 1
                guard groups <= UInt64(data.endIndex - p) else { throw failure("\(groups) bit-packed groups run past the end") }
                let bytes = Int(groups) * bitWidth
                guard bytes <= data.endIndex - p else { throw failure("bit-packed values run past the end") }
                let values = min(Int(groups) * 8, count - out.count)
                for i in 0..<values {
                    var v = 0
                    for b in 0..<bitWidth {
                        let bit = i * bitWidth + b
                        if data[p + bit / 8] & (1 << (bit % 8)) != 0 { v |= 1 << b }
                    }
                    out.append(v)
                }
                p += bytes
            }
        }
        return out
    }
}

// MARK: - Footer and page structures (the fields this reader uses; others are skipped)

struct SchemaElement {
    var type: Int?
    var repetition = 0
    var name = ""
    var children: Int?
    var isString = false

    init(_ r: inout ThriftCompactReader) throws {
        try r.structure { r, id, t in
            switch id {
            case 1: type = try r.int32(t)
            case 3: repetition = try r.int32(t)
            case 4: name = try r.string(t)
            case 5: children = try r.int32(t)
            case 6: if try r.int32(t) == 0 { isString = true }   // ConvertedType UTF8
            case 10:   // LogicalType union: field 1 = STRING
                try r.structure { r, lid, lt in
                    if lid == 1 { isString = true }
                    try r.skip(lt)
                }
            default: try r.skip(t)
            }
        }
    }
}

struct ColumnMetaData {
    var codec = 0
    var valueCount = 0
    var compressedSize = 0
    var dataPageOffset = 0
    var dictionaryPageOffset: Int?

    init(_ r: inout ThriftCompactReader) throws {
        try r.structure { r, id, t in
            switch id {
            case 4: codec = try r.int32(t)
            case 5: valueCount = Int(try r.int(t))
            case 7: compressedSize = Int(try r.int(t))
            case 9: dataPageOffset = Int(try r.int(t))
            case 11: dictionaryPageOffset = Int(try r.int(t))
            default: try r.skip(t)
            }
        }
    }
}

struct RowGroupMeta {
    var columns: [ColumnMetaData?] = []
    var rows = 0

    init(_ r: inout ThriftCompactReader) throws {
        try r.structure { r, id, t in
            switch id {
            case 1:
                try r.list(t) { r, et in
                    var meta: ColumnMetaData?
                    try r.structure { r, cid, ct in
                        if cid == 3 { meta = try ColumnMetaData(&r) } else { try r.skip(ct) }
                    }
                    columns.append(meta)
                }
            case 3: rows = Int(try r.int(t))
            default: try r.skip(t)
            }
        }
    }
}

struct FileMetaData {
    var schema: [SchemaElement] = []
    var rows = 0
    var rowGroups: [RowGroupMeta] = []
    var createdBy: String?

    init(_ r: inout ThriftCompactReader) throws {
        try r.structure { r, id, t in
            switch id {
            case 2: try r.list(t) { r, _ in schema.append(try SchemaElement(&r)) }
            case 3: rows = Int(try r.int(t))
            case 4: try r.list(t) { r, _ in rowGroups.append(try RowGroupMeta(&r)) }
            case 6: createdBy = try r.string(t)
            default: try r.skip(t)
            }
        }
    }
}

struct PageHeader {
    struct DataV1 { var count = 0, encoding = 0, definitionEncoding = 3 }
    struct DataV2 { var count = 0, encoding = 0, definitionBytes = 0, repetitionBytes = 0, compressed = true }
    struct Dictionary { var count = 0, encoding = 0 }
    var type = -1
    var uncompressedSize = -1
    var compressedSize = -1
    var dataV1: DataV1?
    var dataV2: DataV2?
    var dictionary: Dictionary?

    init(_ r: inout ThriftCompactReader) throws {
        try r.structure { r, id, t in
            switch id {
            case 1: type = try r.int32(t)
            case 2: uncompressedSize = try r.int32(t)
            case 3: compressedSize = try r.int32(t)
            case 5:
                var h = DataV1()
                try r.structure { r, f, ft in
                    switch f {
                    case 1: h.count = try r.int32(ft)
                    case 2: h.encoding = try r.int32(ft)
                    case 3: h.definitionEncoding = try r.int32(ft)
                    default: try r.skip(ft)
                    }
                }
                dataV1 = h
            case 7:
                var h = Dictionary()
                try r.structure { r, f, ft in
                    switch f {
                    case 1: h.count = try r.int32(ft)
                    case 2: h.encoding = try r.int32(ft)
                    default: try r.skip(ft)
                    }
                }
                dictionary = h
            case 8:
                var h = DataV2()
                try r.structure { r, f, ft in
                    switch f {
                    case 1: h.count = try r.int32(ft)
                    case 4: h.encoding = try r.int32(ft)
                    case 5: h.definitionBytes = try r.int32(ft)
                    case 6: h.repetitionBytes = try r.int32(ft)
                    case 7: h.compressed = try r.bool(ft)
                    default: try r.skip(ft)
                    }
                }
                dataV2 = h
            default: try r.skip(t)
            }
        }
    }
}
