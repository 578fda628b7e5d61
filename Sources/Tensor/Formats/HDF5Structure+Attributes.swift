// HDF5Structure+Attributes: the HDF5 parser's attributes and variable-length strings in the global heap (see HDF5Structure.swift).


extension HDF5Parser {

    /// Decodes the attribute message at `message` (its data offset) of `size` bytes.
    func attribute(message p: Int, size: Int, version: Int, name: String, what: String) throws -> HDF5Attribute {
        let nameSize = try bytes.int(p + 2, 2), typeSize = try bytes.int(p + 4, 2), spaceSize = try bytes.int(p + 6, 2)
        func pad(_ n: Int) -> Int { version == 1 ? (n + 7) / 8 * 8 : n }
        var q = p + (version == 3 ? 9 : 8) + pad(nameSize)
        let end = p + size
        guard q + pad(typeSize) + pad(spaceSize) <= end else { throw fail(.corrupt, "\(what) runs past its message") }
        let attrFlags = try bytes.u8(p + 1)
        if version >= 2 && attrFlags & 0x03 != 0 { throw fail(.unsupported, "\(what) uses a shared datatype or dataspace") }
        let (type, _) = try datatype(q, typeSize)
        q += pad(typeSize)
        let dims = try dataspace(q, spaceSize)
        q += pad(spaceSize)
        let isScalar = dims?.isEmpty ?? false
        guard let count = CheckedSize.bytes(dims ?? [0], itemSize: 1), count <= 1 << 24 else { throw fail(.corrupt, "\(what) has too many elements") }
        // Every element occupies at least one byte of the message (a 0-byte string type would
        // otherwise turn a small message into millions of strings).
        guard let dataBytes = CheckedSize.bytes([count], itemSize: Swift.max(type.size, 1)), dataBytes <= end - q else {
            throw fail(.corrupt, "\(what): \(count) elements of \(type.size) bytes run past the \(size)-byte message")
        }
        switch type {
        case .fixed(let s, let signed, let big):
            let v = try (0..<count).map { try integer(at: q + $0 * s, size: s, signed: signed, bigEndian: big) }
            return isScalar && count == 1 ? .int(v[0]) : .ints(v)
        case .float(let f, let big):
            guard !big else { throw fail(.unsupported, "\(what) is big-endian") }
            let raw = try bytes.slice(q, dataBytes, what)
            let v = (0..<count).map { i -> Double in
                f == .float64 ? raw.loadUnaligned(fromByteOffset: 8 * i, as: Double.self) : Double(f.load(raw.baseAddress!, i))
            }
            return isScalar && count == 1 ? .double(v[0]) : .doubles(v)
        case .string(let s):
            let raw = try bytes.slice(q, dataBytes, what)
            let v = (0..<count).map { i -> String in
                let chunk = UnsafeRawBufferPointer(rebasing: raw[(i * s)..<((i + 1) * s)])
                let end = chunk.firstIndex(of: 0) ?? chunk.count
                return String(decoding: UnsafeRawBufferPointer(rebasing: chunk[0..<end]), as: UTF8.self)
            }
            return isScalar && count == 1 ? .string(v[0]) : .strings(v)
        case .vlenString:
            let stride = 4 + bytes.offsetSize + 4
            guard q + count * stride <= end else { throw fail(.corrupt, "\(what): its data runs past the message") }
            let v = try (0..<count).map { i -> String in
                let e = q + i * stride
                let length = try bytes.int(e, 4)
                guard let collection = try bytes.address(e + 4) else { return "" }
                let index = try bytes.int(e + 4 + bytes.offsetSize, 4)
                return try globalHeapString(collection: collection, index: index, length: length, what: what)
            }
            return isScalar && count == 1 ? .string(v[0]) : .strings(v)
        case .unsupported(let d):
            throw fail(.unsupported, "\(what) has \(d)")
        }
    }

    private func integer(at p: Int, size: Int, signed: Bool, bigEndian: Bool) throws -> Int64 {
        var v = try bytes.uint(p, size)
        if bigEndian {
            var r: UInt64 = 0
            for i in 0..<size { r = r << 8 | (v >> (8 * UInt64(i)) & 0xFF) }
            v = r
        }
        if signed && size < 8 && v & (1 << (8 * UInt64(size) - 1)) != 0 { v |= ~0 << (8 * UInt64(size)) }
        return signed ? Int64(bitPattern: v) : Int64(clamping: v)
    }

    /// Object `index` of the global heap collection at `collection`, checked against the collection.
    private func globalHeapString(collection: Int, index: Int, length: Int, what: String) throws -> String {
        guard try bytes.signature(collection, "GCOL") else { throw fail(.corrupt, "\(what): no global heap at byte \(collection)") }
        let size = try bytes.length(collection + 8)
        try bytes.check(collection, size, "\(what): global heap collection")
        var q = collection + 8 + bytes.lengthSize
        let end = collection + size
        while q + 8 + bytes.lengthSize <= end {
            let i = try bytes.int(q, 2)
            let objectSize = try bytes.length(q + 8)
            let data = q + 8 + bytes.lengthSize
            if i == 0 { break }   // free space: the rest of the collection
            guard objectSize <= end - data else { throw fail(.corrupt, "\(what): global heap object \(i) runs past its collection") }
            if i == index {
                guard length <= objectSize else { throw fail(.corrupt, "\(what): string of \(length) bytes in a \(objectSize)-byte heap object") }
                return String(decoding: try bytes.slice(data, length, what), as: UTF8.self)
            }
            q = data + (objectSize + 7) / 8 * 8
        }
        throw fail(.corrupt, "\(what): global heap object \(index) not found")
    }
}
