// TorchCheckpoint: a read-only loader of torch.save zip files holding a state_dict of float tensors.

import Foundation

/// A `torch.save` checkpoint (the zip format of PyTorch ≥ 1.6) holding a `state_dict`: an
/// `OrderedDict` (or dict) from names to tensors, such as the paper's published SAE files
/// (`W_enc [d_in, d_sae]`, `W_dec [d_sae, d_in]`, `b_enc [d_sae]`, `b_dec [d_in]`).
///
/// The zip directory is read from a memory mapping; `<archive>/data.pkl` is interpreted by a
/// restricted pickle machine that knows only what a state_dict needs (see ``PickleMachine``), so no
/// code is run and anything else is refused with an error. Tensors are rebuilt from
/// `<archive>/data/<key>` with their storage offset, size and stride, all checked against the
/// storage's length. Float32, Float16, BFloat16 and Float64 tensors read as Float32.
public struct TorchCheckpoint: Sendable {
    static let format = "PyTorch checkpoint"

    /// One tensor of the state_dict.
    public struct Entry: Sendable {
        public let name: String
        public let shape: [Int]
        /// The torch storage class, e.g. "FloatStorage".
        public let storageType: String
        let ref: TorchTensorRef
    }

    /// The file's path.
    public let path: String
    /// Tensors in the state_dict's order.
    public let entries: [Entry]
    private let archive: ZipArchiveBox
    private let prefix: String

    /// Opens and parses `path`.
    /// - Throws: ``FileFormatError`` for a missing, truncated, corrupt or unsupported file.
    public init(contentsOf path: String) throws {
        let file = try MappedFile(path: path, format: Self.format)
        let zip = try ZipArchive(file: file, format: Self.format)
        func fail(_ r: FileFormatError.Reason, _ d: String) -> FileFormatError {
            FileFormatError(path: path, format: Self.format, reason: r, detail: d)
        }
        guard let pkl = zip.names.first(where: { $0 == "data.pkl" || $0.hasSuffix("/data.pkl") }) else {
            throw fail(.corrupt, "no data.pkl entry: not a torch.save zip checkpoint (legacy non-zip checkpoints are not supported; re-save with torch ≥ 1.6)")
        }
        let prefix = String(pkl.dropLast("data.pkl".count))
        if zip.entries[prefix + "byteorder"] != nil {
            let order = String(decoding: try zip.data(prefix + "byteorder"), as: UTF8.self)
            guard order == "little" else { throw fail(.unsupported, "byte order '\(order)'; only little-endian checkpoints are supported") }
        }
        var machine = PickleMachine(data: try zip.data(pkl), fail: fail)
        let root = try machine.run()
        guard case .dict(let dict) = root else { throw fail(.unsupported, "the checkpoint does not hold a dict (state_dict) at top level") }
        var entries: [Entry] = []
        var seen = Set<String>()
        for (k, v) in dict.items {
            guard case .string(let name) = k else { throw fail(.unsupported, "a state_dict key is not a string") }
            guard case .tensor(let t) = v else { throw fail(.unsupported, "state_dict entry '\(name)' is not a tensor") }
            guard seen.insert(name).inserted else { throw fail(.corrupt, "duplicate state_dict key '\(name)'") }
            // Validate the view against its storage now, so reading later cannot go out of bounds.
            let key = prefix + "data/" + t.storage.key
            guard let entry = zip.entries[key] else { throw fail(.corrupt, "tensor '\(name)': storage entry '\(key)' is missing") }
            guard let item = PickleMachine.itemSize(ofStorageType: t.storage.typeName),
                  let bytes = CheckedSize.bytes([t.storage.numel], itemSize: item), entry.uncompressedSize == bytes else {
                throw fail(.corrupt, "tensor '\(name)': storage '\(key)' has \(entry.uncompressedSize) bytes, not \(t.storage.numel) elements of \(t.storage.typeName)")
            }
            guard let count = CheckedSize.bytes(t.size, itemSize: 1) else { throw fail(.corrupt, "tensor '\(name)': shape \(t.size) overflows") }
            // A view may not hold more elements than its storage (stride-0 broadcasts would let a
            // few bytes describe terabytes): memory stays bounded by the file's size.
            guard count <= t.storage.numel else {
                throw fail(.unsupported, "tensor '\(name)': a view of \(count) elements over a \(t.storage.numel)-element storage (an expanded tensor; save a contiguous copy)")
            }
            if !t.size.contains(0) {
                var last = t.storageOffset
                for (s, st) in Swift.zip(t.size, t.stride) {
                    let (p, o1) = (s - 1).multipliedReportingOverflow(by: st)
                    let (q, o2) = last.addingReportingOverflow(p)
                    guard !o1, !o2 else { throw fail(.corrupt, "tensor '\(name)': strides overflow") }
                    last = q
                }
                guard last < t.storage.numel else {
                    throw fail(.corrupt, "tensor '\(name)': view (offset \(t.storageOffset), size \(t.size), stride \(t.stride)) reaches element \(last) of a \(t.storage.numel)-element storage")
                }
            }
            entries.append(Entry(name: name, shape: t.size, storageType: t.storage.typeName, ref: t))
        }
        self.path = path
        self.entries = entries
        self.archive = ZipArchiveBox(zip)
        self.prefix = prefix
    }

    /// Tensor names in the state_dict's order.
    public var names: [String] { entries.map(\.name) }

    /// Tensor `name` as Float32 (a contiguous copy in row-major order).
    public func tensor(_ name: String) throws -> Tensor {
        guard let e = entries.first(where: { $0.name == name }) else {
            throw FileFormatError(path: path, format: Self.format, reason: .notFound,
                                  detail: "no tensor '\(name)' (the state_dict has: \(names.joined(separator: ", ")))")
        }
        guard let stored = e.ref.storage.dtype else {
            throw FileFormatError(path: path, format: Self.format, reason: .unsupported,
                                  detail: "tensor '\(name)' is a \(e.storageType); only float, half, bfloat16 and double tensors read as Float32")
        }
        let bytes = try archive.data(prefix + "data/" + e.ref.storage.key)
        let view = e.ref
        // Strided gather from the storage, element by element along the innermost axis.
        let shape = view.size
        return Tensor(shape: shape) { out in
            guard let base = bytes.baseAddress, out.count > 0 else { return }
            let loop = StridedLoop(shape: shape, strides: [Tensor.contiguousStrides(shape), view.stride],
                                   offsets: [0, view.storageOffset])
            loop.forEachRow(in: 0..<loop.rowCount) { off, n, st in
                let o = out.baseAddress! + off[0]
                if st[1] == 1 {
                    stored.decode(base + off[1] * stored.byteSize, count: n, into: o)
                } else {
                    for i in 0..<n { o[i] = stored.load(base, off[1] + i * st[1]) }
                }
            }
        }
    }

    /// Every tensor as Float32, by name.
    public func allTensors() throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for e in entries { out[e.name] = try tensor(e.name) }
        return out
    }
}

/// Keeps the (non-Sendable-by-declaration) archive, immutable after parsing, and the entries verified (under a lock).
private final class ZipArchiveBox: @unchecked Sendable {
    let zip: ZipArchive
    /// Entries whose CRC-32 was checked: many tensors may view one storage; it is checked once.
    private var verified = Set<String>()
    private let lock = NSLock()
    init(_ zip: ZipArchive) { self.zip = zip }

    func data(_ name: String) throws -> UnsafeRawBufferPointer {
        let known = lock.withLock { verified.contains(name) }
        let bytes = try zip.data(name, verified: known)
        if !known { lock.withLock { _ = verified.insert(name) } }
        return bytes
    }
}
