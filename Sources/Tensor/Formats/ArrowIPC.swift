// ArrowIPC: a streaming reader of Apache Arrow IPC files — the stream format (HuggingFace `datasets`
// keeps its cache and `save_to_disk` folders as `*.arrow` streams) and the file format (`ARROW1`) —
// giving one string column (utf8, large_utf8, binary, large_binary) record batch by record batch.
// Messages' metadata are FlatBuffers, read by the bounds-checked ``FlatBufferTable``; buffers compressed
// with Zstandard are decoded (LZ4 frames are refused by name).

/// A table of a FlatBuffer: every offset and size is checked against the buffer before it is used.
struct FlatBufferTable {
    struct Failure: Error { let message: String }

    let buffer: UnsafeRawBufferPointer
    let position: Int
    private let vtable: Int
    private let vtableSize: Int

    /// The root table of `buffer`.
    init(root buffer: UnsafeRawBufferPointer) throws {
        try self.init(buffer, at: 0, indirect: true)
    }

    /// The table at `at` (or at the offset stored at `at` when `indirect`).
    init(_ buffer: UnsafeRawBufferPointer, at: Int, indirect: Bool) throws {
        self.buffer = buffer
        var p = at
        if indirect {
            guard at >= 0, at + 4 <= buffer.count else { throw Failure(message: "table offset at \(at) outside the \(buffer.count)-byte buffer") }
            p = at + Int(buffer.loadUnaligned(fromByteOffset: at, as: UInt32.self).littleEndian)
        }
        guard p >= 0, p + 4 <= buffer.count else { throw Failure(message: "table at \(p) outside the \(buffer.count)-byte buffer") }
        position = p
        let v = p - Int(buffer.loadUnaligned(fromByteOffset: p, as: Int32.self).littleEndian)
        guard v >= 0, v + 4 <= buffer.count else { throw Failure(message: "vtable at \(v) outside the buffer") }
        let size = Int(buffer.loadUnaligned(fromByteOffset: v, as: UInt16.self).littleEndian)
        guard size >= 4, size % 2 == 0, v + size <= buffer.count else { throw Failure(message: "vtable of \(size) bytes at \(v) invalid") }
        vtable = v
        vtableSize = size
    }

    /// The absolute position of field `i`'s value (`bytes` long), or nil when absent.
    private func field(_ i: Int, bytes: Int) throws -> Int? {
        let slot = 4 + 2 * i
        guard slot + 2 <= vtableSize else { return nil }
        let o = Int(buffer.loadUnaligned(fromByteOffset: vtable + slot, as: UInt16.self).littleEndian)
        guard o != 0 else { return nil }
        guard position + o + bytes <= buffer.count else { throw Failure(message: "field \(i) at \(position + o) runs past the buffer") }
        return position + o
    }

    func int<T: FixedWidthInteger>(_ i: Int, default d: T) throws -> T {
        guard let p = try field(i, bytes: MemoryLayout<T>.size) else { return d }
        return T(littleEndian: buffer.loadUnaligned(fromByteOffset: p, as: T.self))
    }

    func table(_ i: Int) throws -> FlatBufferTable? {
        guard let p = try field(i, bytes: 4) else { return nil }
        return try FlatBufferTable(buffer, at: p, indirect: true)
    }

    /// A vector's element start and count, checked to hold `count × elementSize` bytes.
    func vector(_ i: Int, elementSize: Int) throws -> (start: Int, count: Int)? {
        guard let p = try field(i, bytes: 4) else { return nil }
        let v = p + Int(buffer.loadUnaligned(fromByteOffset: p, as: UInt32.self).littleEndian)
        guard v + 4 <= buffer.count else { throw Failure(message: "vector of field \(i) at \(v) outside the buffer") }
        let n = Int(buffer.loadUnaligned(fromByteOffset: v, as: UInt32.self).littleEndian)
        guard n <= (buffer.count - v - 4) / max(elementSize, 1) else { throw Failure(message: "vector of \(n) elements at \(v) runs past the buffer") }
        return (v + 4, n)
    }

    func string(_ i: Int) throws -> String? {
        guard let (start, n) = try vector(i, elementSize: 1) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[start..<(start + n)]), as: UTF8.self)
    }

    func tables(_ i: Int) throws -> [FlatBufferTable] {
        guard let (start, n) = try vector(i, elementSize: 4) else { return [] }
        return try (0..<n).map { try FlatBufferTable(buffer, at: start + 4 * $0, indirect: true) }
    }
}

/// An Arrow IPC stream or file, read message by message from a read-only mapping.
public final class ArrowIPCFile: @unchecked Sendable {
    /// A field of the schema (top level), with its Arrow type's name.
    public struct Field: Sendable, Equatable {
        public let name: String
        /// The type, as Arrow names it (`utf8`, `large_utf8`, `int64`, `struct`, …).
        public let typeName: String
        /// Whether values are strings or bytes this reader can give (utf8, large_utf8, binary, large_binary).
        public var isText: Bool { ["utf8", "large_utf8", "binary", "large_binary"].contains(typeName) }
    }

    /// One schema field's place in a record batch: how many nodes and buffers it and its children take.
    struct Layout {
        let typeName: String
        let typeID: UInt8
        let nodes: Int
        let buffers: Int
        let dictionaryEncoded: Bool
    }

    public let path: String
    public let fields: [Field]
    let layouts: [Layout]
    let file: MappedFile
    /// Where the first message after the schema starts, and where messages end.
    let firstMessage: Int
    let end: Int
    /// Whether the file is in the file format (`ARROW1` … `ARROW1`) rather than a bare stream.
    public let isFileFormat: Bool

    static let format = "Arrow IPC"

    func failure(_ reason: FileFormatError.Reason, _ detail: String) -> FileFormatError {
        FileFormatError(path: path, format: Self.format, reason: reason, detail: detail)
    }

    /// Whether `prefix` starts an Arrow IPC file (`ARROW1`) or stream (continuation `ff ff ff ff`).
    public static func hasMagic(_ prefix: some Collection<UInt8>) -> Bool {
        let b = Array(prefix.prefix(6))
        return b == Array("ARROW1".utf8) || (b.count >= 4 && b[0..<4] == [0xFF, 0xFF, 0xFF, 0xFF])
    }

    /// Opens `path` and reads the schema message.
    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path, format: Self.format)
        let size = file.size
        let all = file.bytes(0..<size)
        let magic = Array("ARROW1".utf8)
        if size >= 6, Array(all[0..<6]) == magic {
            guard size >= 18, Array(all[(size - 6)...]) == magic else {
                throw FileFormatError(path: path, format: Self.format, reason: .truncated, detail: "starts with ARROW1 but does not end with it (cut off?)")
            }
            let footer = Int(all.loadUnaligned(fromByteOffset: size - 10, as: Int32.self).littleEndian)
            guard footer >= 0, footer <= size - 18 else {
                throw FileFormatError(path: path, format: Self.format, reason: .corrupt, detail: "footer of \(footer) bytes in a \(size)-byte file")
            }
            isFileFormat = true
            end = size - 10 - footer
        } else {
            isFileFormat = false
            end = size
        }
        var position = isFileFormat ? 8 : 0
        let read = ArrowIPCFile.MessageCursor(bytes: all, end: end, path: path)
        guard let schemaMessage = try read.next(&position) else {
            throw FileFormatError(path: path, format: Self.format, reason: .truncated, detail: "no schema message")
        }
        guard schemaMessage.headerType == 1, let schema = schemaMessage.header else {
            throw FileFormatError(path: path, format: Self.format, reason: .corrupt, detail: "the first message is not a schema (header type \(schemaMessage.headerType))")
        }
        do {
            guard try schema.int(0, default: Int16(0)) == 0 else {
                throw FileFormatError(path: path, format: Self.format, reason: .unsupported, detail: "big-endian data")
            }
            var fields: [Field] = []
            var layouts: [Layout] = []
            for f in try schema.tables(1) {
                let layout = try Self.layout(of: f, depth: 0)
                fields.append(Field(name: try f.string(0) ?? "", typeName: layout.typeName))
                layouts.append(layout)
            }
            self.fields = fields
            self.layouts = layouts
        } catch let e as FlatBufferTable.Failure {
            throw FileFormatError(path: path, format: Self.format, reason: .corrupt, detail: "schema: \(e.message)")
        }
        self.firstMessage = position
    }

    static let typeNames: [UInt8: String] = [
        1: "null", 2: "int", 3: "floating_point", 4: "binary", 5: "utf8", 6: "bool", 7: "decimal", 8: "date", 9: "time",
        10: "timestamp", 11: "interval", 12: "list", 13: "struct", 14: "union", 15: "fixed_size_binary",
        16: "fixed_size_list", 17: "map", 18: "duration", 19: "large_binary", 20: "large_utf8", 21: "large_list",
        22: "run_end_encoded", 23: "binary_view", 24: "utf8_view", 25: "list_view", 26: "large_list_view",
    ]

    /// Nodes and buffers a field takes in a record batch (Arrow's columnar format, "Buffer Listing
    /// for Each Layout"): the field's own, then its children's in order.
    static func layout(of field: FlatBufferTable, depth: Int) throws -> Layout {
        guard depth < 64 else { throw FlatBufferTable.Failure(message: "fields nested deeper than 64") }
        let typeID = try field.int(2, default: UInt8(0))
        let name = typeNames[typeID] ?? "type \(typeID)"
        let dictionary = try field.table(4) != nil
        var nodes = 1
        var buffers: Int
        switch typeID {
        case 1: buffers = 0
        case 2, 3, 6, 7, 8, 9, 10, 11, 15, 18: buffers = 2
        case 4, 5, 19, 20: buffers = 3
        case 12, 17, 21: buffers = 2
        case 13, 16: buffers = 1
        case 22: buffers = 0
        case 14:
            let mode = try field.table(3)?.int(0, default: Int16(0)) ?? 0
            buffers = mode == 1 ? 2 : 1
        default:
            throw FlatBufferTable.Failure(message: "field '\(try field.string(0) ?? "")' has Arrow type \(name), which this reader cannot step over")
        }
        if dictionary { buffers = 2 }   // the indices (an integer column); the values come in dictionary batches
        if !dictionary {
            for child in try field.tables(5) {
                let l = try layout(of: child, depth: depth + 1)
                nodes += l.nodes
                buffers += l.buffers
            }
        }
        return Layout(typeName: name, typeID: typeID, nodes: nodes, buffers: buffers, dictionaryEncoded: dictionary)
    }

    /// A reader of the string field `name`, row by row across all record batches.
    public func strings(column name: String) throws -> ArrowStringReader {
        guard let index = fields.firstIndex(where: { $0.name == name }) else {
            throw failure(.notFound, "no column '\(name)' (columns: \(fields.map(\.name).joined(separator: ", ")))")
        }
        guard !layouts[index].dictionaryEncoded else { throw failure(.unsupported, "column '\(name)' is dictionary-encoded") }
        guard fields[index].isText else { throw failure(.unsupported, "column '\(name)' holds \(fields[index].typeName), not strings") }
        return ArrowStringReader(file: self, column: index)
    }

    /// A message: its header table and its body's place in the file.
    struct Message {
        let headerType: UInt8
        let header: FlatBufferTable?
        let bodyStart: Int
        let bodyLength: Int
    }

    /// Walks encapsulated messages: [0xFFFFFFFF] int32 metadata length, metadata (a Message
    /// FlatBuffer), body; a length of 0 ends the stream.
    struct MessageCursor {
        let bytes: UnsafeRawBufferPointer
        let end: Int
        let path: String

        func corrupt(_ at: Int, _ detail: String) -> FileFormatError {
            FileFormatError(path: path, format: ArrowIPCFile.format, reason: .corrupt, detail: "message at byte \(at): \(detail)")
        }

        func next(_ position: inout Int) throws -> Message? {
            let at = position
            guard end - position >= 4 else {
                guard position == end else { throw corrupt(at, "\(end - position) stray bytes") }
                return nil   // a stream may end without its end-of-stream marker
            }
            var length = Int(bytes.loadUnaligned(fromByteOffset: position, as: Int32.self).littleEndian)
            position += 4
            if length == -1 {
                guard end - position >= 4 else { throw FileFormatError(path: path, format: ArrowIPCFile.format, reason: .truncated, detail: "message at byte \(at): no length") }
                length = Int(bytes.loadUnaligned(fromByteOffset: position, as: Int32.self).littleEndian)
                position += 4
            }
            if length == 0 { return nil }
            guard length > 0, length <= end - position else {
                throw FileFormatError(path: path, format: ArrowIPCFile.format, reason: .truncated, detail: "message at byte \(at): metadata of \(length) bytes, \(end - position) left")
            }
            let meta = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + length)])
            position += length
            do {
                let message = try FlatBufferTable(root: meta)
                let type = try message.int(1, default: UInt8(0))
                let header = try message.table(2)
                let bodyLength = Int(try message.int(3, default: Int64(0)))
                guard bodyLength >= 0, bodyLength <= end - position else {
                    throw FileFormatError(path: path, format: ArrowIPCFile.format, reason: .truncated, detail: "message at byte \(at): body of \(bodyLength) bytes, \(end - position) left")
                }
                defer { position += bodyLength }
                return Message(headerType: type, header: header, bodyStart: position, bodyLength: bodyLength)
            } catch let e as FlatBufferTable.Failure {
                throw corrupt(at, e.message)
            }
        }
    }
}

/// Reads one string field of an ``ArrowIPCFile``, value by value; see ``ArrowIPCFile/strings(column:)``.
/// Uncompressed buffers are read in place from the mapping (a column of large strings beyond 2 GiB of
/// data is never copied whole); only the values asked for are copied, up to the caller's limit.
public struct ArrowStringReader: TextColumnReader {
    /// A buffer of the current batch: in the mapping, or decoded from its compression.
    enum Buffer {
        case mapped(UnsafeRawBufferPointer)
        case decoded([UInt8])

        var count: Int {
            switch self {
            case .mapped(let b): return b.count
            case .decoded(let a): return a.count
            }
        }

        func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
            switch self {
            case .mapped(let b): return try body(b)
            case .decoded(let a): return try a.withUnsafeBytes(body)
            }
        }
    }

    let file: ArrowIPCFile
    let column: Int
    private let large: Bool
    private var position: Int
    private var batch = -1
    private var length = 0
    private var nulls = 0
    private var next = 0
    private var validity = Buffer.decoded([])
    private var offsets = Buffer.decoded([])
    private var data = Buffer.decoded([])
    /// The full length in bytes of the value last returned (it may have been cut to the limit).
    public private(set) var lastValueLength = 0
    /// A compressed buffer decoding to more bytes than this is refused.
    public static let maxDecodedBytes = 1 << 30

    init(file: ArrowIPCFile, column: Int) {
        self.file = file
        self.column = column
        large = ["large_utf8", "large_binary"].contains(file.fields[column].typeName)
        position = file.firstMessage
    }

    private func failure(_ detail: String, _ reason: FileFormatError.Reason = .corrupt) -> FileFormatError {
        file.failure(reason, "record batch \(batch), column '\(file.fields[column].name)': \(detail)")
    }

    /// The next value (its first `limit` bytes at most), or nil after the last row.
    public mutating func nextCell(limit: Int = .max) throws -> TextCell? {
        while next == length {
            next = 0
            length = 0
            let cursor = ArrowIPCFile.MessageCursor(bytes: file.file.bytes(0..<file.file.size), end: file.end, path: file.path)
            guard let message = try cursor.next(&position) else { return nil }
            switch message.headerType {
            case 3:
                batch += 1
                guard let header = message.header else { throw failure("record batch without its header") }
                do { try readBatch(header, message) } catch let e as FlatBufferTable.Failure { throw failure(e.message) }
            case 2:
                continue   // dictionary batches: only dictionary-encoded columns (refused) use them
            default:
                throw file.failure(.corrupt, "message of type \(message.headerType) after the schema")
            }
        }
        let i = next
        next += 1
        if nulls > 0, validity.withBytes({ $0[i / 8] & (1 << (i % 8)) == 0 }) { lastValueLength = 0; return .null }
        let (a, b) = offsets.withBytes { o in
            large ? (Int(o.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self).littleEndian), Int(o.loadUnaligned(fromByteOffset: 8 * i + 8, as: Int64.self).littleEndian))
                  : (Int(o.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self).littleEndian), Int(o.loadUnaligned(fromByteOffset: 4 * i + 4, as: Int32.self).littleEndian))
        }
        guard a >= 0, a <= b, b <= data.count else { throw failure("value \(i): offsets [\(a), \(b)) outside the \(data.count)-byte data") }
        lastValueLength = b - a
        let cut = a + min(b - a, max(limit, 0))
        return .bytes(data.withBytes { ArraySlice($0[a..<cut]) })
    }

    private mutating func readBatch(_ header: FlatBufferTable, _ message: ArrowIPCFile.Message) throws {
        let rows = Int(try header.int(0, default: Int64(0)))
        guard let (nodeStart, nodeCount) = try header.vector(1, elementSize: 16),
              let (bufferStart, bufferCount) = try header.vector(2, elementSize: 16) else { throw failure("no nodes or buffers") }
        let node = file.layouts[..<column].reduce(0) { $0 + $1.nodes }
        let first = file.layouts[..<column].reduce(0) { $0 + $1.buffers }
        guard node < nodeCount, first + 3 <= bufferCount else {
            throw failure("\(nodeCount) nodes and \(bufferCount) buffers: fewer than the schema lays out")
        }
        var codec: CompressionCodec? = nil
        if let c = try header.table(3) {
            guard try c.int(0, default: Int8(0)) == 1 else {
                throw failure("buffers compressed with LZ4 frames (readable: Zstandard; rewrite with compression='zstd')", .unsupported)
            }
            codec = .zstd
        }
        let meta = header.buffer
        let n = Int(meta.loadUnaligned(fromByteOffset: nodeStart + 16 * node, as: Int64.self).littleEndian)
        let nullCount = Int(meta.loadUnaligned(fromByteOffset: nodeStart + 16 * node + 8, as: Int64.self).littleEndian)
        guard n >= 0, n <= rows, nullCount >= 0, nullCount <= n else { throw failure("node of \(n) values, \(nullCount) nulls, in \(rows) rows") }
        let body = file.file.bytes(message.bodyStart..<(message.bodyStart + message.bodyLength))
        func buffer(_ k: Int) throws -> Buffer {
            let at = bufferStart + 16 * (first + k)
            let offset = Int(meta.loadUnaligned(fromByteOffset: at, as: Int64.self).littleEndian)
            let size = Int(meta.loadUnaligned(fromByteOffset: at + 8, as: Int64.self).littleEndian)
            guard offset >= 0, size >= 0, offset <= body.count, size <= body.count - offset else {
                throw failure("buffer \(k) at [\(offset), \(offset &+ size)) outside the \(body.count)-byte body")
            }
            let raw = UnsafeRawBufferPointer(rebasing: body[offset..<(offset + size)])
            guard let codec, size > 0 else { return .mapped(raw) }
            guard size >= 8 else { throw failure("compressed buffer \(k) shorter than its 8-byte length") }
            let decoded = Int(raw.loadUnaligned(as: Int64.self).littleEndian)
            let rest = UnsafeRawBufferPointer(rebasing: raw[8...])
            if decoded == -1 { return .mapped(rest) }
            guard decoded >= 0, decoded <= ArrowStringReader.maxDecodedBytes else {
                throw failure("buffer \(k) claims \(decoded) bytes decoded (limit \(ArrowStringReader.maxDecodedBytes))", .unsupported)
            }
            do { return .decoded(try BlockDecoder.decode(rest, codec: codec, expectedSize: decoded)) } catch let e as BlockDecoder.Failure {
                throw failure("buffer \(k): \(e.message)")
            }
        }
        let v = try buffer(0), o = try buffer(1), d = try buffer(2)
        let width = large ? 8 : 4
        guard n == 0 || o.count / width >= n + 1 else { throw failure("offsets of \(o.count) bytes for \(n) values") }
        guard nullCount == 0 || v.count >= (n + 7) / 8 else { throw failure("validity bitmap of \(v.count) bytes for \(n) values") }
        validity = v
        offsets = o
        data = d
        nulls = nullCount
        length = n
    }
}
