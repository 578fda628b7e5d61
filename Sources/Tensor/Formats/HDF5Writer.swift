// HDF5Writer: creating HDF5 files (datasets and attributes) through libhdf5, atomically.

import CHDF5
import Foundation

/// Writes HDF5 files through libhdf5 (Debian `libhdf5-dev`), in the layout h5py produces with its
/// defaults, so h5py, libhdf5 tools and ``HDF5File`` all read them.
///
/// Datasets live at slash-separated paths (`/group/sub/name`); writing creates intermediate
/// groups. Float32 data is stored as IEEE little-endian `f32`, Float16 with the 16-bit IEEE type
/// h5py uses, integers as `i64`. Attributes are numbers, variable-length UTF-8 strings (as h5py
/// writes them) or arrays of them. Create files with ``write(to:_:)``, which writes a temporary file
/// and renames it into place only when everything succeeded.
public final class HDF5Writer: @unchecked Sendable {
    static let format = "HDF5"

    /// The path the file was opened at.
    public let path: String
    private var id: hid_t

    /// Creates (or truncates) a file at `path`.
    public init(creating path: String) throws {
        HDF5Writer.silenceLibraryErrors()
        self.path = path
        let fid = H5Fcreate(path, chdf5_acc_trunc(), chdf5_p_default(), chdf5_p_default())
        guard fid >= 0 else {
            throw FileFormatError(path: path, format: Self.format, reason: .cannotWrite,
                                  detail: "cannot create (\(HDF5Writer.libraryMessage()))")
        }
        self.id = fid
    }

    /// Creates `path` atomically: `body` fills a temporary file, which is renamed to `path` only
    /// after it was written and closed without error. `durable` also flushes the file to disk before
    /// the rename and the folder after it (for checkpoints: after a crash or power loss the path holds
    /// either the old file or the complete new one).
    public static func write(to path: String, durable: Bool = false, _ body: (HDF5Writer) throws -> Void) throws {
        try AtomicFile.write(to: path, format: format, durable: durable) { tmp in
            let f = try HDF5Writer(creating: tmp)
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
        if status < 0 { throw fail(.cannotWrite, "closing failed (\(HDF5Writer.libraryMessage()))") }
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
        let t = HDF5Writer.float16Type()
        defer { H5Tclose(t) }
        try half.bits.withUnsafeBufferPointer { buf in
            try createDataset(path, shape: half.shape, fileType: t, memType: t, data: UnsafeRawPointer(buf.baseAddress!))
        }
    }

    /// Writes the encoded elements of a ``HalfTensor`` of either precision as a `uint16` dataset with
    /// an attribute `precision` (`float16`/`bfloat16`) — bit for bit, for state that must come back
    /// exactly (``HDF5File/readHalfBits(_:)`` reads it).
    public func writeBits(_ half: HalfTensor, at path: String) throws {
        try half.bits.withUnsafeBufferPointer { buf in
            try createDataset(path, shape: half.shape, fileType: chdf5_std_u16le(), memType: chdf5_native_uint16(),
                              data: UnsafeRawPointer(buf.baseAddress!))
        }
        try setAttribute("precision", .string(half.precision.rawValue), of: path)
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
        guard !contains(path) else { throw fail(.cannotWrite, "'\(path)' already exists") }
        let dims = shape.map { hsize_t($0) }
        let space = shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), dims, nil)
        guard space >= 0 else { throw fail(.cannotWrite, "dataset '\(path)': cannot create dataspace \(shape)") }
        defer { H5Sclose(space) }
        let lcpl = H5Pcreate(chdf5_p_link_create())
        defer { H5Pclose(lcpl) }
        H5Pset_create_intermediate_group(lcpl, 1)
        let ds = H5Dcreate2(id, path, fileType, space, lcpl, chdf5_p_default(), chdf5_p_default())
        guard ds >= 0 else { throw fail(.cannotWrite, "cannot create dataset '\(path)' (\(HDF5Writer.libraryMessage()))") }
        defer { H5Dclose(ds) }
        if Tensor.elementCount(shape) > 0 {
            guard H5Dwrite(ds, memType, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), data) >= 0 else {
                throw fail(.cannotWrite, "cannot write dataset '\(path)' (\(HDF5Writer.libraryMessage()))")
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
        guard g >= 0 else { throw fail(.cannotWrite, "cannot create group '\(path)' (\(HDF5Writer.libraryMessage()))") }
        H5Gclose(g)
    }

    // MARK: Attributes

    private func withObject<R>(_ path: String, _ body: (hid_t) throws -> R) throws -> R {
        try checkOpen()
        guard path == "/" || contains(path) else { throw fail(.notFound, "no object '\(path)'") }
        let oid = H5Oopen(id, path, chdf5_p_default())
        guard oid >= 0 else { throw fail(.corrupt, "cannot open object '\(path)' (\(HDF5Writer.libraryMessage()))") }
        defer { H5Oclose(oid) }
        return try body(oid)
    }

    /// Sets attribute `name` of the object at `path` (replacing an existing one). Strings are
    /// written variable-length UTF-8, as h5py does.
    public func setAttribute(_ name: String, _ value: HDF5Attribute, of path: String = "/") throws {
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
                guard attr >= 0 else { throw fail(.cannotWrite, "cannot create \(what) (\(HDF5Writer.libraryMessage()))") }
                defer { H5Aclose(attr) }
                guard write(attr, space) >= 0 else { throw fail(.cannotWrite, "cannot write \(what) (\(HDF5Writer.libraryMessage()))") }
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
