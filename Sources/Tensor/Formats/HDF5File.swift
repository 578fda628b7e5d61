// HDF5File: reading HDF5 files (pure Swift, bounds-checked) — datasets, attributes, listing.

import Foundation

/// A value stored as an HDF5 attribute.
public enum HDF5Attribute: Sendable, Equatable {
    case int(Int64)
    case double(Double)
    case string(String)
    case ints([Int64])
    case doubles([Double])
    case strings([String])

    /// The value as one integer, if it is one (or a one-element integer array).
    public var intValue: Int64? {
        switch self {
        case .int(let v): v
        case .ints(let v) where v.count == 1: v[0]
        default: nil
        }
    }

    /// The value as one number (integers convert).
    public var doubleValue: Double? {
        switch self {
        case .double(let v): v
        case .int(let v): Double(v)
        case .doubles(let v) where v.count == 1: v[0]
        case .ints(let v) where v.count == 1: Double(v[0])
        default: nil
        }
    }

    /// The value as one string, if it is one (or a one-element string array).
    public var stringValue: String? {
        switch self {
        case .string(let s): s
        case .strings(let s) where s.count == 1: s[0]
        default: nil
        }
    }

    /// The value as a list of strings (a single string gives a one-element list).
    public var stringsValue: [String]? {
        switch self {
        case .string(let s): [s]
        case .strings(let s): s
        default: nil
        }
    }
}

/// Element type of a dataset on disk.
public enum HDF5ElementType: Sendable, Equatable {
    case float(bits: Int)
    case integer(bits: Int, signed: Bool)
    case string
    case other(String)
}

/// What ``HDF5File/datasets()`` reports for each dataset.
public struct HDF5DatasetInfo: Sendable, Equatable {
    /// Absolute path, e.g. `/blocks.0.attn.W_Q` or `/transformer/.../wte/weight:0`.
    public let path: String
    public let shape: [Int]
    public let elementType: HDF5ElementType
}


/// An HDF5 file opened for reading.
///
/// Reading is done by this package's own parser over a memory mapping, not by libhdf5, because
/// libhdf5 crashes on some corrupt files; every offset, length and count is checked against the
/// file, and element counts against the bytes actually stored, before anything is allocated. It
/// reads what h5py, Keras/TensorFlow (`tf_model.h5`) and ``HDF5Writer`` write with default
/// settings (superblock versions 0–3; symbol-table and compact groups; contiguous, compact and
/// chunked datasets with deflate/shuffle). Float32 contiguous data is returned without copying when
/// aligned; other float and integer types convert to Float32.
///
/// Every failure throws ``FileFormatError`` naming the file, the object and the problem.
public final class HDF5File: @unchecked Sendable {
    static let format = "HDF5"

    /// The path the file was opened at.
    public let path: String
    private let file: MappedFile
    private let parser: HDF5Parser

    /// Maps and opens `path` for reading.
    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path, format: Self.format)
        let fail = { (r: FileFormatError.Reason, d: String) in FileFormatError(path: path, format: Self.format, reason: r, detail: d) }
        parser = try HDF5Parser(file.bytes(0..<file.size), fail: fail)
    }

    private func fail(_ reason: FileFormatError.Reason, _ detail: String) -> FileFormatError {
        FileFormatError(path: path, format: Self.format, reason: reason, detail: detail)
    }

    /// Every dataset in the file with its shape and element type, depth first in name order.
    public func datasets() throws -> [HDF5DatasetInfo] {
        var out: [HDF5DatasetInfo] = []
        for (name, address) in try parser.walk() {
            let o = try parser.object(address)
            guard o.isDataset else { continue }
            out.append(try info(o, name))
        }
        return out
    }

    /// True if a dataset or group exists at `path` (a corrupt file answers false).
    public func contains(_ path: String) -> Bool { ((try? parser.resolve(path)) ?? nil) != nil }

    private func info(_ o: HDF5Object, _ path: String) throws -> HDF5DatasetInfo {
        guard let type = o.type else { throw fail(.corrupt, "dataset '\(path)' has no datatype") }
        guard let shape = o.shape else { throw fail(.unsupported, "dataset '\(path)' has a null dataspace") }
        return HDF5DatasetInfo(path: path.hasPrefix("/") ? path : "/" + path, shape: shape, elementType: type.publicType)
    }

    private func dataset(_ path: String) throws -> (HDF5Object, [Int], HDF5Type) {
        guard let address = try parser.resolve(path) else { throw fail(.notFound, "no dataset '\(path)'") }
        let o = try parser.object(address)
        guard o.isDataset, let type = o.type else { throw fail(.notFound, "'\(path)' is a group, not a dataset") }
        guard let shape = o.shape else { throw fail(.unsupported, "dataset '\(path)' has a null dataspace") }
        return (o, shape, type)
    }

    /// Shape and element type of dataset `path`.
    public func datasetInfo(_ path: String) throws -> HDF5DatasetInfo {
        let (o, _, _) = try dataset(path)
        return try info(o, path)
    }

    /// Dataset `path` as a Float32 tensor (from any IEEE float or integer type).
    public func readTensor(_ path: String) throws -> Tensor {
        let (o, shape, type) = try dataset(path)
        let what = "dataset '\(path)'"
        switch type {
        case .float(let f, let big):
            guard !big else { throw fail(.unsupported, "\(what) is big-endian") }
            if f == .float32, case .contiguous(let address?, _) = o.layout!, o.filters.isEmpty,
               let total = CheckedSize.bytes(shape, itemSize: 4), address % 4 == 0, total > 0 {
                let bytes = try parser.bytes.slice(address, total, what)
                return Tensor(borrowing: bytes.baseAddress!.assumingMemoryBound(to: Float.self), shape: shape, owner: file)
            }
            let raw = try parser.rawData(o, shape: shape, type: type, what: what)
            return Tensor(shape: shape) { out in
                raw.withUnsafeBytes { if let b = $0.baseAddress { f.decode(b, count: out.count, into: out.baseAddress!) } }
            }
        case .fixed:
            let ints = try integers(o, shape, type, what)
            return Tensor(shape: shape, scalars: ints.map { Float($0) })
        default:
            throw fail(.unsupported, "\(what) holds \(type.publicType), not numbers")
        }
    }

    /// A dataset written by ``HDF5Writer/writeBits(_:at:)``: `uint16` elements and their `precision`.
    public func readHalfBits(_ path: String) throws -> HalfTensor {
        let (o, shape, type) = try dataset(path)
        let what = "dataset '\(path)'"
        guard case .fixed(2, false, false) = type else { throw fail(.unsupported, "\(what) holds \(type.publicType), not little-endian uint16") }
        guard let name = try attribute("precision", of: path).stringValue, let precision = HalfPrecision(rawValue: name) else {
            throw fail(.unsupported, "\(what) has no attribute 'precision' (float16 or bfloat16)")
        }
        guard let count = CheckedSize.bytes(shape, itemSize: 2).map({ $0 / 2 }) else { throw fail(.corrupt, "\(what): shape \(shape) overflows") }
        var bits = [UInt16](repeating: 0, count: count)
        if case .contiguous(let address?, _) = o.layout!, o.filters.isEmpty, count > 0 {
            let bytes = try parser.bytes.slice(address, 2 * count, what)
            bits.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(bytes)) }
        } else {
            let raw = try parser.rawData(o, shape: shape, type: type, what: what)
            bits.withUnsafeMutableBytes { $0.copyBytes(from: raw) }
        }
        return HalfTensor(shape: shape, bits: bits, precision: precision)
    }

    /// Integer dataset `path` as an ``IndexTensor``.
    public func readIndices(_ path: String) throws -> IndexTensor {
        let (o, shape, type) = try dataset(path)
        let what = "dataset '\(path)'"
        guard case .fixed = type else { throw fail(.unsupported, "\(what) holds \(type.publicType), not integers") }
        return IndexTensor(shape: shape, values: try integers(o, shape, type, what))
    }

    private func integers(_ o: HDF5Object, _ shape: [Int], _ type: HDF5Type, _ what: String) throws -> [Int] {
        guard case .fixed(let size, let signed, let big) = type else { return [] }
        let raw = try parser.rawData(o, shape: shape, type: type, what: what)
        return (0..<(raw.count / size)).map { i in
            var v: UInt64 = 0
            for b in 0..<size { v |= UInt64(raw[i * size + (big ? size - 1 - b : b)]) << (8 * UInt64(b)) }
            if signed && size < 8 && v & (1 << (8 * UInt64(size) - 1)) != 0 { v |= ~0 << (8 * UInt64(size)) }
            return signed ? Int(Int64(bitPattern: v)) : Int(clamping: v)
        }
    }

    private func attributes(of path: String) throws -> [(name: String, message: Int, size: Int, version: Int)] {
        guard let address = try parser.resolve(path) else { throw fail(.notFound, "no object '\(path)'") }
        return try parser.object(address).attributes
    }

    /// Names of the attributes of the object at `path` ("/" is the root group), in stored order.
    public func attributeNames(of path: String = "/") throws -> [String] {
        try attributes(of: path).map(\.name)
    }

    /// Attribute `name` of the object at `path`.
    public func attribute(_ name: String, of path: String = "/") throws -> HDF5Attribute {
        guard let a = try attributes(of: path).first(where: { $0.name == name }) else {
            throw fail(.notFound, "no attribute '\(name)' on '\(path)'")
        }
        return try parser.attribute(message: a.message, size: a.size, version: a.version, name: name,
                                    what: "attribute '\(name)' of '\(path)'")
    }
}
