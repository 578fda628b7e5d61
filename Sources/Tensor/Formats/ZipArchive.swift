// ZipArchive: a validating reader of stored (uncompressed) zip entries, ZIP64 included.

/// The central directory of a zip file mapped in memory; entries are read without copying.
///
/// Supports what `torch.save` writes: stored entries, ZIP64 end-of-central-directory records and
/// ZIP64 extra fields. Every offset and size is checked against the file before use.
struct ZipArchive {
    struct Entry {
        let name: String
        let method: UInt16
        let compressedSize: Int
        let uncompressedSize: Int
        /// CRC-32 of the entry's data, from the central directory.
        let crc32: UInt32
        let localHeaderOffset: Int
    }

    let file: MappedFile
    let format: String
    let entries: [String: Entry]
    /// Entry names in central-directory order.
    let names: [String]

    private func fail(_ reason: FileFormatError.Reason, _ detail: String) -> FileFormatError {
        FileFormatError(path: file.path, format: format, reason: reason, detail: detail)
    }

    init(file: MappedFile, format: String) throws {
        self.file = file
        self.format = format
        let size = file.size
        let fail = { (r: FileFormatError.Reason, d: String) in FileFormatError(path: file.path, format: format, reason: r, detail: d) }
        guard size >= 22 else { throw fail(.truncated, "the file has \(size) bytes, too few for a zip archive") }
        let le = LittleEndian(bytes: file.bytes(0..<size))
        let (count, cdOffset, cdSize) = try Self.centralDirectory(le, size: size, fail: fail)
        var entries: [String: Entry] = [:]
        var names: [String] = []
        var q = cdOffset
        for _ in 0..<count {
            let (entry, next) = try Self.directoryEntry(le, at: q, end: cdOffset + cdSize, fileSize: size, fail: fail)
            guard entries[entry.name] == nil else { throw fail(.corrupt, "duplicate entry '\(entry.name)'") }
            entries[entry.name] = entry
            names.append(entry.name)
            q = next
        }
        self.entries = entries
        self.names = names
    }

    /// Little-endian integers of the mapped bytes (offsets checked by the callers).
    struct LittleEndian {
        let bytes: UnsafeRawBufferPointer
        func u16(_ o: Int) -> Int { Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt16.self))) }
        func u32(_ o: Int) -> Int { Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt32.self))) }
        func u64(_ o: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
    }

    /// The central directory's entry count, offset and size, from the end-of-central-directory record
    /// (searched backwards over the maximal comment length) or its ZIP64 version.
    private static func centralDirectory(_ le: LittleEndian, size: Int, fail: (FileFormatError.Reason, String) -> FileFormatError) throws
        -> (count: Int, offset: Int, size: Int) {
        var eocd = -1
        var p = size - 22
        let lowest = Swift.max(0, size - 22 - 65535)
        while p >= lowest {
            if le.u32(p) == 0x0605_4b50 { eocd = p; break }
            p -= 1
        }
        guard eocd >= 0 else { throw fail(.corrupt, "no end-of-central-directory record (not a zip archive, or cut short)") }
        var count = le.u16(eocd + 10)
        var cdSize = le.u32(eocd + 12)
        var cdOffset = le.u32(eocd + 16)
        if count == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
            // ZIP64: the locator sits just before the EOCD and points at the ZIP64 EOCD record.
            guard eocd >= 20, le.u32(eocd - 20) == 0x0706_4b50 else { throw fail(.corrupt, "ZIP64 locator missing") }
            let rec64 = le.u64(eocd - 20 + 8)
            guard size >= 56, rec64 <= UInt64(size - 56), le.u32(Int(rec64)) == 0x0606_4b50 else {
                throw fail(.corrupt, "ZIP64 end-of-central-directory record out of range or invalid")
            }
            let r = Int(rec64)
            let c64 = le.u64(r + 32), s64 = le.u64(r + 40), o64 = le.u64(r + 48)
            guard c64 <= UInt64(size), s64 <= UInt64(size), o64 <= UInt64(size) else {
                throw fail(.corrupt, "ZIP64 directory sizes exceed the file")
            }
            count = Int(c64); cdSize = Int(s64); cdOffset = Int(o64)
        }
        guard cdOffset <= size, cdSize <= size - cdOffset else {
            throw fail(.truncated, "central directory [\(cdOffset), +\(cdSize)) runs past the end of the file (\(size) bytes)")
        }
        guard count <= cdSize / 46 else { throw fail(.corrupt, "\(count) entries cannot fit in a \(cdSize)-byte central directory") }
        return (count, cdOffset, cdSize)
    }

    /// The central-directory entry at `q` (the directory ends at `end`), with 64-bit sizes and offset
    /// from its ZIP64 extra field where the 32-bit ones hold 0xFFFFFFFF; and where the next entry starts.
    private static func directoryEntry(_ le: LittleEndian, at q: Int, end cdEnd: Int, fileSize size: Int,
                                       fail: (FileFormatError.Reason, String) -> FileFormatError) throws -> (Entry, next: Int) {
        guard q + 46 <= cdEnd, le.u32(q) == 0x0201_4b50 else { throw fail(.corrupt, "bad central directory entry at byte \(q)") }
        let method = UInt16(le.u16(q + 10))
        let crc = UInt32(le.u32(q + 16))
        var csize = le.u32(q + 20), usize = le.u32(q + 24)
        let nameLen = le.u16(q + 28), extraLen = le.u16(q + 30), commentLen = le.u16(q + 32)
        var localOffset = le.u32(q + 42)
        let nameStart = q + 46
        guard nameStart + nameLen + extraLen + commentLen <= cdEnd else {
            throw fail(.corrupt, "central directory entry at byte \(q) runs past the directory")
        }
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: le.bytes[nameStart..<(nameStart + nameLen)]), as: UTF8.self)
        var e = nameStart + nameLen
        let extraEnd = e + extraLen
        while e + 4 <= extraEnd {
            let id = le.u16(e), len = le.u16(e + 2)
            guard e + 4 + len <= extraEnd else { throw fail(.corrupt, "extra field of '\(name)' runs past its entry") }
            if id == 0x0001 {
                var f = e + 4
                func next64() throws -> Int {
                    guard f + 8 <= e + 4 + len else { throw fail(.corrupt, "short ZIP64 field in '\(name)'") }
                    let v = le.u64(f)
                    f += 8
                    guard v <= UInt64(size) else { throw fail(.corrupt, "ZIP64 size \(v) of '\(name)' exceeds the file") }
                    return Int(v)
                }
                if usize == 0xFFFF_FFFF { usize = try next64() }
                if csize == 0xFFFF_FFFF { csize = try next64() }
                if localOffset == 0xFFFF_FFFF { localOffset = try next64() }
            }
            e += 4 + len
        }
        let entry = Entry(name: name, method: method, compressedSize: csize, uncompressedSize: usize, crc32: crc, localHeaderOffset: localOffset)
        return (entry, nameStart + nameLen + extraLen + commentLen)
    }

    /// The bytes of a stored entry, checked against its local header, the file's bounds and its
    /// CRC-32 (a damaged entry is refused rather than read as wrong weights) unless `verified` says the
    /// CRC was checked already. zlib's CRC-32 runs at several GB/s, a small share of reading a checkpoint.
    func data(_ name: String, verified: Bool = false) throws -> UnsafeRawBufferPointer {
        guard let e = entries[name] else { throw fail(.notFound, "no zip entry '\(name)'") }
        guard e.method == 0 else {
            throw fail(.unsupported, "zip entry '\(name)' is compressed (method \(e.method)); only stored entries are supported")
        }
        guard e.compressedSize == e.uncompressedSize else {
            throw fail(.corrupt, "stored zip entry '\(name)' has different compressed and uncompressed sizes")
        }
        let size = file.size
        let h = e.localHeaderOffset
        guard h <= size - 30 else { throw fail(.truncated, "local header of '\(name)' at byte \(h) is past the end of the file") }
        let header = file.bytes(h..<(h + 30))
        guard UInt32(littleEndian: header.loadUnaligned(as: UInt32.self)) == 0x0403_4b50 else {
            throw fail(.corrupt, "bad local header signature for '\(name)'")
        }
        let nameLen = Int(UInt16(littleEndian: header.loadUnaligned(fromByteOffset: 26, as: UInt16.self)))
        let extraLen = Int(UInt16(littleEndian: header.loadUnaligned(fromByteOffset: 28, as: UInt16.self)))
        let start = h + 30 + nameLen + extraLen
        guard start <= size, e.compressedSize <= size - start else {
            throw fail(.truncated, "data of '\(name)' (\(e.compressedSize) bytes at \(start)) runs past the end of the file (\(size) bytes)")
        }
        let bytes = file.bytes(start..<(start + e.compressedSize))
        if verified { return bytes }
        let crc = Zlib.crc32(bytes)
        guard crc == e.crc32 else {
            throw fail(.corrupt, "zip entry '\(name)' fails its CRC-32 check (stored \(hex(e.crc32)), computed \(hex(crc))): the file is damaged")
        }
        return bytes
    }

    private func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }
}
