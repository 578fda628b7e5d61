// HDF5File: reading and writing HDF5 datasets (Float32/Float16, int64) and attributes through libhdf5.

import CHDF5
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

/// An open HDF5 file (libhdf5's C API; Debian `libhdf5-dev`).
///
/// Datasets live at slash-separated paths (`/group/sub/name`); writing creates intermediate
/// groups. Float32 datasets are written as IEEE little-endian `f32`, Float16 ones with the same
/// 16-bit IEEE type h5py uses; any float or integer dataset reads as Float32 (HDF5 converts) and
/// any integer dataset as ``IndexTensor``. Attributes are numbers, strings (fixed- or
/// variable-length on reading; variable-length UTF-8 on writing, as h5py writes them) or arrays of
/// them.
///
/// Every failure throws ``FileFormatError`` naming the file, the object and HDF5's own innermost
/// message. Before any allocation the element count is checked for overflow and against the bytes
/// the dataset occupies, so a corrupt header cannot ask for a huge buffer. libhdf5 is thread-safe
/// (a global lock) in Debian's build. Use ``write(to:_:)`` to create files atomically.
public final class HDF5File: @unchecked Sendable {
    static let format = "HDF5"

    /// The path the file was opened at.
    public let path: String
    private var id: hid_t
    public let isWritable: Bool

    /// Opens an existing file for reading (or reading and writing).
    public init(path: String, writable: Bool = false) throws {
        HDF5File.silenceLibraryErrors()
        self.path = path
        self.isWritable = writable
        guard FileManager.default.fileExists(atPath: path) else {
            throw FileFormatError(path: path, format: Self.format, reason: .cannotOpen, detail: "no such file")
        }
        let fid = H5Fopen(path, writable ? chdf5_acc_rdwr() : chdf5_acc_rdonly(), chdf5_p_default())
        guard fid >= 0 else {
            throw FileFormatError(path: path, format: Self.format, reason: .corrupt,
                                  detail: "not a readable HDF5 file (\(HDF5File.libraryMessage()))")
        }
        self.id = fid
    }

    /// Creates (or truncates) a file at `path`.
    public init(creating path: String) throws {
        HDF5File.silenceLibraryErrors()
        self.path = path
        self.isWritable = true
        let fid = H5Fcreate(path, chdf5_acc_trunc(), chdf5_p_default(), chdf5_p_default())
        guard fid >= 0 else {
            throw FileFormatError(path: path, format: Self.format, reason: .cannotWrite,
                                  detail: "cannot create (\(HDF5File.libraryMessage()))")
        }
        self.id = fid
    }

    /// Creates `path` atomically: `body` fills a temporary file, which is renamed to `path` only
    /// after it was written and closed without error.
    public static func write(to path: String, _ body: (HDF5File) throws -> Void) throws {
        try AtomicFile.write(to: path, format: format) { tmp in
            let f = try HDF5File(creating: tmp)
            do {
                try body(f)
                try f.close()
            } catch {
                try? f.close()
                throw error
            }
        }
    }

    deinit { if id >= 0 { H5Fclose(id) } }

    /// Flushes and closes the file; later calls on it throw.
    public func close() throws {
        guard id >= 0 else { return }
        let status = H5Fclose(id)
        id = -1
        if status < 0 { throw fail(.cannotWrite, "closing failed (\(HDF5File.libraryMessage()))") }
    }

    // MARK: Errors

    private func fail(_ reason: FileFormatError.Reason, _ detail: String) -> FileFormatError {
        FileFormatError(path: path, format: Self.format, reason: reason, detail: detail)
    }

    private func checkOpen() throws {
        if id < 0 { throw fail(.cannotOpen, "the file was closed") }
    }

    private static let silenced: Bool = {
        H5open()
        H5Eset_auto2(hid_t(chdf5_e_default()), nil, nil)
        return true
    }()

    static func silenceLibraryErrors() { _ = silenced }

    /// The most specific message on this thread's HDF5 error stack.
    static func libraryMessage() -> String {
        final class Box { var messages: [String] = [] }
        let box = Box()
        let unmanaged = Unmanaged.passRetained(box)
        defer { unmanaged.release() }
        H5Ewalk2(hid_t(chdf5_e_default()), H5E_WALK_DOWNWARD, { _, err, data in
            guard let err, let data else { return 0 }
            let b = Unmanaged<Box>.fromOpaque(data).takeUnretainedValue()
            if let d = err.pointee.desc { b.messages.append(String(cString: d)) }
            return 0
        }, unmanaged.toOpaque())
        H5Eclear2(hid_t(chdf5_e_default()))
        return box.messages.last(where: { !$0.isEmpty }) ?? box.messages.last ?? "HDF5 reported no detail"
    }

    // MARK: Listing

    /// Every dataset in the file with its shape and element type, in name order.
    public func datasets() throws -> [HDF5DatasetInfo] {
        try checkOpen()
        final class Box { var names: [String] = [] }
        let box = Box()
        let unmanaged = Unmanaged.passRetained(box)
        defer { unmanaged.release() }
        let status = H5Lvisit(id, H5_INDEX_NAME, H5_ITER_INC, { _, name, _, data in
            guard let name, let data else { return 0 }
            let b = Unmanaged<Box>.fromOpaque(data).takeUnretainedValue()
            if b.names.count >= 1_000_000 { return -1 }
            b.names.append(String(cString: name))
            return 0
        }, unmanaged.toOpaque())
        guard status >= 0 else { throw fail(.corrupt, "cannot list the file's objects (\(HDF5File.libraryMessage()))") }
        var out: [HDF5DatasetInfo] = []
        for name in box.names {
            let oid = H5Oopen(id, name, chdf5_p_default())
            guard oid >= 0 else { continue }  // dangling or external links are not datasets here
            defer { H5Oclose(oid) }
            guard H5Iget_type(oid) == H5I_DATASET else { continue }
            let (shape, type) = try describe(dataset: oid, name: name)
            out.append(HDF5DatasetInfo(path: "/" + name, shape: shape, elementType: type))
        }
        return out
    }

    /// True if a dataset or group exists at `path`.
    public func contains(_ path: String) -> Bool {
        guard id >= 0 else { return false }
        // H5Lexists requires every intermediate link to exist: check each prefix in turn.
        var prefix = ""
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if H5Lexists(id, prefix, chdf5_p_default()) <= 0 { return false }
        }
        return true
    }

    private func describe(dataset: hid_t, name: String) throws -> ([Int], HDF5ElementType) {
        let space = H5Dget_space(dataset)
        guard space >= 0 else { throw fail(.corrupt, "dataset '\(name)': no dataspace (\(HDF5File.libraryMessage()))") }
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard rank >= 0, rank <= 32 else { throw fail(.corrupt, "dataset '\(name)': invalid rank") }
        var dims = [hsize_t](repeating: 0, count: Swift.max(rank, 1))
        guard H5Sget_simple_extent_dims(space, &dims, nil) >= 0 else {
            throw fail(.corrupt, "dataset '\(name)': unreadable extent (\(HDF5File.libraryMessage()))")
        }
        var shape: [Int] = []
        for d in dims.prefix(rank) {
            guard d <= UInt64(Int.max) else { throw fail(.corrupt, "dataset '\(name)': extent \(d) is too large") }
            shape.append(Int(d))
        }
        let type = H5Dget_type(dataset)
        guard type >= 0 else { throw fail(.corrupt, "dataset '\(name)': no datatype (\(HDF5File.libraryMessage()))") }
        defer { H5Tclose(type) }
        return (shape, HDF5File.elementType(type))
    }

    private static func elementType(_ type: hid_t) -> HDF5ElementType {
        let bits = H5Tget_size(type) * 8
        switch H5Tget_class(type) {
        case H5T_FLOAT: return .float(bits: bits)
        case H5T_INTEGER: return .integer(bits: bits, signed: H5Tget_sign(type) != H5T_SGN_NONE)
        case H5T_STRING: return .string
        default: return .other("class \(H5Tget_class(type).rawValue)")
        }
    }

    // MARK: Reading datasets

    /// Opens dataset `path`, checks its size, and hands its id, shape and type to `body`.
    private func withDataset<R>(_ path: String, _ body: (hid_t, [Int], HDF5ElementType) throws -> R) throws -> R {
        try checkOpen()
        guard contains(path) else { throw fail(.notFound, "no dataset '\(path)'") }
        let ds = H5Dopen2(id, path, chdf5_p_default())
        guard ds >= 0 else { throw fail(.corrupt, "cannot open dataset '\(path)' (\(HDF5File.libraryMessage()))") }
        defer { H5Dclose(ds) }
        let (shape, type) = try describe(dataset: ds, name: path)
        guard let bytes = CheckedSize.bytes(shape, itemSize: 8) else {
            throw fail(.corrupt, "dataset '\(path)': shape \(shape) overflows")
        }
        // A corrupt header must not make us allocate more than the data can hold: contiguous data
        // occupies exactly its bytes; compressed chunks can expand at most about 1000-fold (deflate).
        let stored = Int(clamping: H5Dget_storage_size(ds))
        let typeSize: Int = { if case .float(let b) = type { return b / 8 }; if case .integer(let b, _) = type { return b / 8 }; return 8 }()
        let needed = bytes / 8 * typeSize
        if needed > (1 << 26) && needed > stored.multipliedReportingOverflow(by: 1100).partialValue {
            throw fail(.corrupt, "dataset '\(path)': shape \(shape) needs \(needed) bytes but only \(stored) are stored")
        }
        return try body(ds, shape, type)
    }

    /// Dataset `path` as a Float32 tensor (from any float or integer type; HDF5 converts).
    public func readTensor(_ path: String) throws -> Tensor {
        try withDataset(path) { ds, shape, type in
            switch type {
            case .float, .integer: break
            default: throw fail(.unsupported, "dataset '\(path)' holds \(type), not numbers")
            }
            var failed = false
            let t = Tensor(shape: shape) { out in
                if out.isEmpty { return }
                failed = H5Dread(ds, chdf5_native_float(), chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), out.baseAddress) < 0
                if failed { out.initialize(repeating: 0) }
            }
            if failed { throw fail(.corrupt, "cannot read dataset '\(path)' (\(HDF5File.libraryMessage()))") }
            return t
        }
    }

    /// Integer dataset `path` as an ``IndexTensor``.
    public func readIndices(_ path: String) throws -> IndexTensor {
        try withDataset(path) { ds, shape, type in
            guard case .integer = type else { throw fail(.unsupported, "dataset '\(path)' holds \(type), not integers") }
            var values = [Int64](repeating: 0, count: Tensor.elementCount(shape))
            if !values.isEmpty {
                let status = values.withUnsafeMutableBufferPointer {
                    H5Dread(ds, chdf5_native_int64(), chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), $0.baseAddress)
                }
                if status < 0 { throw fail(.corrupt, "cannot read dataset '\(path)' (\(HDF5File.libraryMessage()))") }
            }
            return IndexTensor(shape: shape, values: values.map { Int($0) })
        }
    }

    // MARK: Writing datasets

    /// How to store a Float32 tensor.
    public enum StorageType: Sendable {
        case float32
        /// IEEE binary16, as h5py's `float16` (values rounded to nearest-even).
        case float16
    }

    /// Writes `tensor` as dataset `path` (creating intermediate groups; an existing dataset at the
    /// path is an error).
    public func write(_ tensor: Tensor, at path: String, as storage: StorageType = .float32) throws {
        switch storage {
        case .float32:
            try tensor.withUnsafeBufferPointer { buf in
                try createDataset(path, shape: tensor.shape, fileType: chdf5_ieee_f32le(), memType: chdf5_native_float(),
                                  data: UnsafeRawPointer(buf.baseAddress!))
            }
        case .float16:
            try write(HalfTensor(tensor, precision: .float16), at: path)
        }
    }

    /// Writes a Float16 ``HalfTensor`` as an IEEE binary16 dataset (bfloat16 has no HDF5 type h5py
    /// reads: store it as Float32 instead).
    public func write(_ half: HalfTensor, at path: String) throws {
        guard half.precision == .float16 else {
            throw fail(.unsupported, "dataset '\(path)': HDF5 has no standard bfloat16 type; write it as float32")
        }
        let t = HDF5File.float16Type()
        defer { H5Tclose(t) }
        try half.bits.withUnsafeBufferPointer { buf in
            try createDataset(path, shape: half.shape, fileType: t, memType: t, data: UnsafeRawPointer(buf.baseAddress!))
        }
    }

    /// Writes integers as an int64 dataset.
    public func write(_ indices: IndexTensor, at path: String) throws {
        let values = indices.values.map { Int64($0) }
        try values.withUnsafeBufferPointer { buf in
            try createDataset(path, shape: indices.shape, fileType: chdf5_std_i64le(), memType: chdf5_native_int64(),
                              data: UnsafeRawPointer(buf.baseAddress!))
        }
    }

    /// h5py's half type: IEEE f32 LE re-fielded to 1 sign, 5 exponent, 10 mantissa bits, bias 15.
    private static func float16Type() -> hid_t {
        let t = H5Tcopy(chdf5_ieee_f32le())
        H5Tset_fields(t, 15, 10, 5, 0, 10)
        H5Tset_size(t, 2)
        H5Tset_ebias(t, 15)
        return t
    }

    private func createDataset(_ path: String, shape: [Int], fileType: hid_t, memType: hid_t, data: UnsafeRawPointer) throws {
        try checkOpen()
        guard isWritable else { throw fail(.cannotWrite, "the file is open read-only") }
        guard !contains(path) else { throw fail(.cannotWrite, "'\(path)' already exists") }
        let dims = shape.map { hsize_t($0) }
        let space = shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), dims, nil)
        guard space >= 0 else { throw fail(.cannotWrite, "dataset '\(path)': cannot create dataspace \(shape)") }
        defer { H5Sclose(space) }
        let lcpl = H5Pcreate(chdf5_p_link_create())
        defer { H5Pclose(lcpl) }
        H5Pset_create_intermediate_group(lcpl, 1)
        let ds = H5Dcreate2(id, path, fileType, space, lcpl, chdf5_p_default(), chdf5_p_default())
        guard ds >= 0 else { throw fail(.cannotWrite, "cannot create dataset '\(path)' (\(HDF5File.libraryMessage()))") }
        defer { H5Dclose(ds) }
        if Tensor.elementCount(shape) > 0 {
            guard H5Dwrite(ds, memType, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), data) >= 0 else {
                throw fail(.cannotWrite, "cannot write dataset '\(path)' (\(HDF5File.libraryMessage()))")
            }
        }
    }

    /// Creates group `path` and any missing parents.
    public func createGroup(_ path: String) throws {
        try checkOpen()
        if contains(path) { return }
        let lcpl = H5Pcreate(chdf5_p_link_create())
        defer { H5Pclose(lcpl) }
        H5Pset_create_intermediate_group(lcpl, 1)
        let g = H5Gcreate2(id, path, lcpl, chdf5_p_default(), chdf5_p_default())
        guard g >= 0 else { throw fail(.cannotWrite, "cannot create group '\(path)' (\(HDF5File.libraryMessage()))") }
        H5Gclose(g)
    }

    // MARK: Attributes

    private func withObject<R>(_ path: String, _ body: (hid_t) throws -> R) throws -> R {
        try checkOpen()
        guard path == "/" || contains(path) else { throw fail(.notFound, "no object '\(path)'") }
        let oid = H5Oopen(id, path, chdf5_p_default())
        guard oid >= 0 else { throw fail(.corrupt, "cannot open object '\(path)' (\(HDF5File.libraryMessage()))") }
        defer { H5Oclose(oid) }
        return try body(oid)
    }

    /// Names of the attributes of the object at `path` ("/" is the root group).
    public func attributeNames(of path: String = "/") throws -> [String] {
        try withObject(path) { oid in
            final class Box { var names: [String] = [] }
            let box = Box()
            let unmanaged = Unmanaged.passRetained(box)
            defer { unmanaged.release() }
            var idx: hsize_t = 0
            let status = H5Aiterate2(oid, H5_INDEX_NAME, H5_ITER_INC, &idx, { _, name, _, data in
                guard let name, let data else { return 0 }
                let b = Unmanaged<Box>.fromOpaque(data).takeUnretainedValue()
                if b.names.count >= 100_000 { return -1 }
                b.names.append(String(cString: name))
                return 0
            }, unmanaged.toOpaque())
            guard status >= 0 else { throw fail(.corrupt, "cannot list attributes of '\(path)' (\(HDF5File.libraryMessage()))") }
            return box.names
        }
    }

    /// Attribute `name` of the object at `path`.
    public func attribute(_ name: String, of path: String = "/") throws -> HDF5Attribute {
        try withObject(path) { oid in
            guard H5Aexists(oid, name) > 0 else { throw fail(.notFound, "no attribute '\(name)' on '\(path)'") }
            let attr = H5Aopen(oid, name, chdf5_p_default())
            guard attr >= 0 else { throw fail(.corrupt, "cannot open attribute '\(name)' of '\(path)' (\(HDF5File.libraryMessage()))") }
            defer { H5Aclose(attr) }
            let space = H5Aget_space(attr)
            guard space >= 0 else { throw fail(.corrupt, "attribute '\(name)' of '\(path)' has no dataspace") }
            defer { H5Sclose(space) }
            let n = Int(H5Sget_simple_extent_npoints(space))
            let isScalar = H5Sget_simple_extent_type(space) == H5S_SCALAR
            guard n >= 0, n <= 1 << 24 else { throw fail(.corrupt, "attribute '\(name)' of '\(path)' has \(n) elements") }
            let type = H5Aget_type(attr)
            guard type >= 0 else { throw fail(.corrupt, "attribute '\(name)' of '\(path)' has no datatype") }
            defer { H5Tclose(type) }
            let what = "attribute '\(name)' of '\(path)'"
            switch H5Tget_class(type) {
            case H5T_INTEGER:
                var v = [Int64](repeating: 0, count: n)
                if n > 0 {
                    guard v.withUnsafeMutableBufferPointer({ H5Aread(attr, chdf5_native_int64(), $0.baseAddress) }) >= 0 else {
                        throw fail(.corrupt, "cannot read \(what) (\(HDF5File.libraryMessage()))")
                    }
                }
                return isScalar && n == 1 ? .int(v[0]) : .ints(v)
            case H5T_FLOAT:
                var v = [Double](repeating: 0, count: n)
                if n > 0 {
                    guard v.withUnsafeMutableBufferPointer({ H5Aread(attr, chdf5_native_double(), $0.baseAddress) }) >= 0 else {
                        throw fail(.corrupt, "cannot read \(what) (\(HDF5File.libraryMessage()))")
                    }
                }
                return isScalar && n == 1 ? .double(v[0]) : .doubles(v)
            case H5T_STRING:
                let strings = try readStrings(attr: attr, type: type, space: space, count: n, what: what)
                return isScalar && strings.count == 1 ? .string(strings[0]) : .strings(strings)
            default:
                throw fail(.unsupported, "\(what) is neither a number nor a string")
            }
        }
    }

    private func readStrings(attr: hid_t, type: hid_t, space: hid_t, count n: Int, what: String) throws -> [String] {
        if n == 0 { return [] }
        let mem = H5Tcopy(chdf5_c_s1())
        defer { H5Tclose(mem) }
        H5Tset_cset(mem, H5Tget_cset(type))
        if H5Tis_variable_str(type) > 0 {
            H5Tset_size(mem, chdf5_variable())
            var ptrs = [UnsafeMutablePointer<CChar>?](repeating: nil, count: n)
            guard ptrs.withUnsafeMutableBufferPointer({ H5Aread(attr, mem, $0.baseAddress) }) >= 0 else {
                throw fail(.corrupt, "cannot read \(what) (\(HDF5File.libraryMessage()))")
            }
            defer { _ = ptrs.withUnsafeMutableBufferPointer { H5Dvlen_reclaim(mem, space, chdf5_p_default(), $0.baseAddress) } }
            return ptrs.map { $0.map { String(cString: $0) } ?? "" }
        }
        let size = H5Tget_size(type)
        guard size > 0, size <= 1 << 20, let total = CheckedSize.bytes([n], itemSize: size), total <= 1 << 28 else {
            throw fail(.corrupt, "\(what) has an invalid string size \(size)")
        }
        H5Tset_size(mem, size)
        H5Tset_strpad(mem, H5T_STR_NULLPAD)
        var buf = [UInt8](repeating: 0, count: total)
        guard buf.withUnsafeMutableBufferPointer({ H5Aread(attr, mem, $0.baseAddress) }) >= 0 else {
            throw fail(.corrupt, "cannot read \(what) (\(HDF5File.libraryMessage()))")
        }
        return (0..<n).map { i in
            let chunk = buf[(i * size)..<((i + 1) * size)]
            let end = chunk.firstIndex(of: 0) ?? chunk.endIndex
            return String(decoding: chunk[chunk.startIndex..<end], as: UTF8.self)
        }
    }

    /// Sets attribute `name` of the object at `path` (replacing an existing one). Strings are
    /// written variable-length UTF-8, as h5py does.
    public func setAttribute(_ name: String, _ value: HDF5Attribute, of path: String = "/") throws {
        guard isWritable else { throw fail(.cannotWrite, "the file is open read-only") }
        try withObject(path) { oid in
            if H5Aexists(oid, name) > 0 { H5Adelete(oid, name) }
            let what = "attribute '\(name)' of '\(path)'"
            func create(_ type: hid_t, count: Int?, _ write: (hid_t, hid_t) -> herr_t) throws {
                let space: hid_t
                if let count {
                    var d = hsize_t(count)
                    space = H5Screate_simple(1, &d, nil)
                } else {
                    space = H5Screate(H5S_SCALAR)
                }
                defer { H5Sclose(space) }
                let attr = H5Acreate2(oid, name, type, space, chdf5_p_default(), chdf5_p_default())
                guard attr >= 0 else { throw fail(.cannotWrite, "cannot create \(what) (\(HDF5File.libraryMessage()))") }
                defer { H5Aclose(attr) }
                guard write(attr, space) >= 0 else { throw fail(.cannotWrite, "cannot write \(what) (\(HDF5File.libraryMessage()))") }
            }
            switch value {
            case .int(let v):
                var x = v
                try create(chdf5_std_i64le(), count: nil) { a, _ in H5Awrite(a, chdf5_native_int64(), &x) }
            case .ints(let v):
                try create(chdf5_std_i64le(), count: v.count) { a, _ in v.withUnsafeBufferPointer { H5Awrite(a, chdf5_native_int64(), $0.baseAddress) } }
            case .double(let v):
                var x = v
                try create(chdf5_ieee_f64le(), count: nil) { a, _ in H5Awrite(a, chdf5_native_double(), &x) }
            case .doubles(let v):
                try create(chdf5_ieee_f64le(), count: v.count) { a, _ in v.withUnsafeBufferPointer { H5Awrite(a, chdf5_native_double(), $0.baseAddress) } }
            case .string(let s):
                try writeStrings([s], scalar: true, create)
            case .strings(let s):
                try writeStrings(s, scalar: false, create)
            }
        }
    }

    private func writeStrings(_ strings: [String], scalar: Bool,
                              _ create: (hid_t, Int?, (hid_t, hid_t) -> herr_t) throws -> Void) throws {
        let type = H5Tcopy(chdf5_c_s1())
        defer { H5Tclose(type) }
        H5Tset_size(type, chdf5_variable())
        H5Tset_cset(type, H5T_CSET_UTF8)
        let cStrings = strings.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        var ptrs: [UnsafePointer<CChar>?] = cStrings.map { UnsafePointer($0) }
        try create(type, scalar ? nil : strings.count) { a, _ in
            ptrs.withUnsafeMutableBufferPointer { H5Awrite(a, type, $0.baseAddress) }
        }
    }
}
