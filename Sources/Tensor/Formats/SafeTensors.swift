// SafeTensors: reading (memory-mapped, fully validated) and writing the safetensors format.

import Foundation

/// A safetensors file: an 8-byte little-endian header length `N`, `N` bytes of JSON describing each
/// tensor (`dtype`, `shape`, `data_offsets` relative to the data section) plus optional string
/// `__metadata__`, then the data.
///
/// Opening maps the file and validates the whole header before anything is read: the header size
/// is bounded (100 MB, as the reference implementation) and within the file; every entry has a known
/// dtype, non-negative extents whose byte size does not overflow and equals its offset range; ranges
/// lie in the data section and do not overlap. ``tensor(_:)`` returns F32 data without copying when
/// it is 4-byte aligned (the tensor keeps the mapping alive) and converts F16/BF16/F64 to Float32.
public struct SafeTensorsFile: Sendable {
    /// Element types of the format (`dtype` strings as written in headers).
    public enum DType: String, Sendable, CaseIterable {
        case F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, F8_E4M3, F8_E5M2

        /// Bytes per element.
        public var byteSize: Int {
            switch self {
            case .F64, .I64, .U64: 8
            case .F32, .I32, .U32: 4
            case .F16, .BF16, .I16, .U16: 2
            case .I8, .U8, .BOOL, .F8_E4M3, .F8_E5M2: 1
            }
        }

        var storedFloat: StoredFloat? {
            switch self {
            case .F32: .float32
            case .F16: .float16
            case .BF16: .bfloat16
            case .F64: .float64
            default: nil
            }
        }
    }

    /// One tensor's header entry.
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Byte range within the data section.
        public let dataRange: Range<Int>
    }

    /// Upper bound on the JSON header size, as in the reference implementation.
    public static let maxHeaderSize = 100_000_000
    static let format = "safetensors"

    /// The file's path.
    public let path: String
    /// The `__metadata__` strings (empty when absent).
    public let metadata: [String: String]
    /// Entries in order of their data offsets.
    public let entries: [Entry]
    private let byName: [String: Int]

    /// The JSON header: tensor entries plus the optional `__metadata__` map of strings.
    private struct Header: Decodable {
        struct RawEntry: Decodable {
            let dtype: String
            let shape: [Int]
            let data_offsets: [Int]
        }
        struct Key: CodingKey {
            let stringValue: String
            init(stringValue: String) { self.stringValue = stringValue }
            var intValue: Int? { nil }
            init?(intValue: Int) { nil }
        }
        var tensors: [(String, RawEntry)] = []
        var metadata: [String: String] = [:]

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Key.self)
            for key in c.allKeys {
                if key.stringValue == "__metadata__" {
                    metadata = try c.decode([String: String].self, forKey: key)
                } else {
                    tensors.append((key.stringValue, try c.decode(RawEntry.self, forKey: key)))
                }
            }
        }
    }
    private let file: MappedFile
    private let dataStart: Int

    /// Maps and validates `path`.
    /// - Throws: ``FileFormatError`` naming the file and the first problem found.
    public init(contentsOf path: String) throws {
        let file = try MappedFile(path: path, format: Self.format)
        func fail(_ reason: FileFormatError.Reason, _ detail: String) -> FileFormatError {
            FileFormatError(path: path, format: Self.format, reason: reason, detail: detail)
        }
        guard file.size >= 8 else { throw fail(.truncated, "the file has \(file.size) bytes; the 8-byte header length is missing") }
        let n64 = file.bytes(0..<8).loadUnaligned(as: UInt64.self).littleEndian
        guard n64 <= UInt64(Self.maxHeaderSize) else {
            throw fail(.corrupt, "header length \(n64) exceeds the limit of \(Self.maxHeaderSize) bytes")
        }
        let n = Int(n64)
        guard n <= file.size - 8 else { throw fail(.truncated, "header length \(n) runs past the end of the file (\(file.size) bytes)") }
        let headerBytes = Data(file.bytes(8..<(8 + n)))
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: headerBytes)
        } catch DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c),
                DecodingError.keyNotFound(_, let c), DecodingError.dataCorrupted(let c) {
            let location = c.codingPath.map(\.stringValue).joined(separator: ".")
            throw fail(.corrupt, "invalid header\(location.isEmpty ? "" : " at '\(location)'"): \(c.debugDescription)")
        } catch {
            throw fail(.corrupt, "the header is not valid JSON")
        }
        let dataSize = file.size - 8 - n
        var entries: [Entry] = []
        for (name, raw) in header.tensors {
            guard let dtype = DType(rawValue: raw.dtype) else { throw fail(.unsupported, "tensor '\(name)' has unknown dtype '\(raw.dtype)'") }
            let shape = raw.shape, offs = raw.data_offsets
            guard offs.count == 2, offs[0] >= 0, offs[0] <= offs[1] else {
                throw fail(.corrupt, "tensor '\(name)' has invalid data_offsets \(offs)")
            }
            guard let bytes = CheckedSize.bytes(shape, itemSize: dtype.byteSize) else {
                throw fail(.corrupt, "tensor '\(name)' has a negative or overflowing shape \(shape)")
            }
            guard offs[1] - offs[0] == bytes else {
                throw fail(.corrupt, "tensor '\(name)': data_offsets [\(offs[0]), \(offs[1])) hold \(offs[1] - offs[0]) bytes but \(dtype.rawValue) \(shape) needs \(bytes)")
            }
            guard offs[1] <= dataSize else {
                throw fail(.truncated, "tensor '\(name)': data_offsets end at \(offs[1]) but the data section has \(dataSize) bytes")
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, dataRange: offs[0]..<offs[1]))
        }
        let metadata = header.metadata
        entries.sort { ($0.dataRange.lowerBound, $0.name) < ($1.dataRange.lowerBound, $1.name) }
        for (a, b) in Swift.zip(entries, entries.dropFirst()) where a.dataRange.upperBound > b.dataRange.lowerBound && !a.dataRange.isEmpty && !b.dataRange.isEmpty {
            throw fail(.corrupt, "tensors '\(a.name)' and '\(b.name)' overlap in the data section")
        }
        self.path = path
        self.file = file
        self.metadata = metadata
        self.entries = entries
        self.dataStart = 8 + n
        self.byName = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
    }

    /// Tensor names in data order.
    public var names: [String] { entries.map(\.name) }

    /// The header entry of `name`.
    public func entry(_ name: String) throws -> Entry {
        guard let i = byName[name] else {
            throw FileFormatError(path: path, format: Self.format, reason: .notFound,
                                  detail: "no tensor '\(name)' (the file has: \(names.prefix(20).joined(separator: ", "))\(names.count > 20 ? ", …" : ""))")
        }
        return entries[i]
    }

    /// Tensor `name` as Float32 (F32 without copying when aligned; F16, BF16 and F64 converted).
    public func tensor(_ name: String) throws -> Tensor {
        let e = try entry(name)
        guard let stored = e.dtype.storedFloat else {
            throw FileFormatError(path: path, format: Self.format, reason: .unsupported,
                                  detail: "tensor '\(name)' has dtype \(e.dtype.rawValue); only F32, F16, BF16 and F64 read as Float32")
        }
        let bytes = file.bytes((dataStart + e.dataRange.lowerBound)..<(dataStart + e.dataRange.upperBound))
        if stored == .float32, let base = bytes.baseAddress, Int(bitPattern: base) % 4 == 0 {
            return Tensor(borrowing: base.assumingMemoryBound(to: Float.self), shape: e.shape, owner: file)
        }
        return Tensor(shape: e.shape) { out in
            if let base = bytes.baseAddress { stored.decode(base, count: out.count, into: out.baseAddress!) }
        }
    }

    /// Tensor `name` kept in 16 bits (F16 or BF16 entries only, copied without rounding).
    public func halfTensor(_ name: String) throws -> HalfTensor {
        let e = try entry(name)
        let precision: HalfPrecision
        switch e.dtype {
        case .F16: precision = .float16
        case .BF16: precision = .bfloat16
        default:
            throw FileFormatError(path: path, format: Self.format, reason: .unsupported,
                                  detail: "tensor '\(name)' has dtype \(e.dtype.rawValue), not F16 or BF16")
        }
        let bytes = file.bytes((dataStart + e.dataRange.lowerBound)..<(dataStart + e.dataRange.upperBound))
        let count = bytes.count / 2
        var bits = [UInt16](repeating: 0, count: count)
        for i in 0..<count { bits[i] = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        return HalfTensor(shape: e.shape, bits: bits, precision: precision)
    }

    /// All float tensors, by name.
    public func allTensors() throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for e in entries { out[e.name] = try tensor(e.name) }
        return out
    }

    // MARK: Writing

    /// What to write for one tensor.
    public enum Payload: Sendable {
        /// Stored as `dtype` (F32, F16 or BF16), converted from Float32 with round-to-nearest-even.
        case float(Tensor, DType)
        /// Stored as-is in its own half format.
        case half(HalfTensor)
    }

    /// Writes tensors and metadata to `path` atomically (temporary file, then rename).
    ///
    /// Entries are laid out like the reference writer: by element size (largest first), then by
    /// name; the header is padded with spaces to a multiple of 8 bytes so the data is aligned.
    public static func write(_ tensors: [String: Payload], metadata: [String: String] = [:], to path: String) throws {
        func size(_ p: Payload) -> Int {
            switch p {
            case .float(_, let d): d.byteSize
            case .half: 2
            }
        }
        for (name, p) in tensors {
            if case .float(_, let d) = p, d != .F32 && d != .F16 && d != .BF16 {
                throw FileFormatError(path: path, format: format, reason: .unsupported,
                                      detail: "cannot write tensor '\(name)' as \(d.rawValue); use F32, F16 or BF16")
            }
        }
        let order = tensors.keys.sorted { (size(tensors[$1]!), $0) < (size(tensors[$0]!), $1) }
        var header = "{"
        var parts: [String] = []
        if !metadata.isEmpty {
            let m = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }.joined(separator: ",")
            parts.append("\"__metadata__\":{\(m)}")
        }
        var offset = 0
        var blobs: [Data] = []
        for name in order {
            let (dtype, shape, data): (DType, [Int], Data)
            switch tensors[name]! {
            case .float(let t, let d):
                dtype = d
                shape = t.shape
                data = t.withUnsafeBufferPointer { buf -> Data in
                    if d == .F32 { return Data(buffer: buf) }
                    let p: HalfPrecision = d == .F16 ? .float16 : .bfloat16
                    var bits = [UInt16](repeating: 0, count: buf.count)
                    bits.withUnsafeMutableBufferPointer { p.encode(buf.baseAddress!, into: $0.baseAddress!, count: buf.count) }
                    return bits.withUnsafeBufferPointer { Data(buffer: $0) }
                }
            case .half(let h):
                dtype = h.precision == .float16 ? .F16 : .BF16
                shape = h.shape
                data = h.bits.withUnsafeBufferPointer { Data(buffer: $0) }
            }
            let shapeText = shape.map(String.init).joined(separator: ",")
            parts.append("\(jsonString(name)):{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(shapeText)],\"data_offsets\":[\(offset),\(offset + data.count)]}")
            offset += data.count
            blobs.append(data)
        }
        header += parts.joined(separator: ",") + "}"
        var headerData = Data(header.utf8)
        while headerData.count % 8 != 0 { headerData.append(0x20) }
        var out = Data()
        out.reserveCapacity(8 + headerData.count + offset)
        withUnsafeBytes(of: UInt64(headerData.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(headerData)
        for b in blobs { out.append(b) }
        try AtomicFile.write(out, to: path, format: format)
    }

    /// Writes Float32 tensors as F32.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String) throws {
        try write(tensors.mapValues { Payload.float($0, .F32) }, metadata: metadata, to: path)
    }
}

/// A JSON string literal for `s`.
func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 {
                out += String(format: "\\u%04x", u.value)
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}
