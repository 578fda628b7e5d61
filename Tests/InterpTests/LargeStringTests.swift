// LargeStringTests: an Arrow `large_utf8` column whose offsets go beyond 2 GiB — the case 32-bit offsets
// cannot hold — read without copying its data. The file is written here, sparse (the 2 GiB value is a
// hole: a few kilobytes on disk), by a minimal Arrow IPC stream writer of our own.

import Foundation
import Testing
import TensorTestSupport
@testable import Interp
import Tensor

/// Just enough of a FlatBuffers writer for Arrow's Schema and RecordBatch messages, written front to
/// back: every table's vtable before it, every referenced object after the field that points to it.
final class TinyFlatBuffer {
    var bytes: [UInt8] = []

    func align(_ n: Int) { while bytes.count % n != 0 { bytes.append(0) } }
    func append<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    func patch(_ at: Int, toward target: Int) {
        withUnsafeBytes(of: UInt32(target - at).littleEndian) { for (i, b) in $0.enumerated() { bytes[at + i] = b } }
    }

    /// A table with `fields` (slot → inline bytes; a nil entry is a 4-byte offset to fill later).
    /// Returns the table's position and where each offset field is.
    func table(_ fields: [(slot: Int, inline: [UInt8]?)]) -> (position: Int, offsets: [Int: Int]) {
        align(4)
        let slots = (fields.map(\.slot).max() ?? -1) + 1
        let vtable = bytes.count
        append(UInt16(4 + 2 * slots))
        let sizes = fields.map { $0.inline?.count ?? 4 }
        append(UInt16(4 + sizes.reduce(0, +)))
        var offset = 4
        var slotOffsets = [Int](repeating: 0, count: slots)
        for (f, size) in zip(fields, sizes) { slotOffsets[f.slot] = offset; offset += size }
        for o in slotOffsets { append(UInt16(o)) }
        align(4)
        let table = bytes.count
        append(Int32(table - vtable))
        var offsets: [Int: Int] = [:]
        for f in fields {
            if let inline = f.inline { bytes += inline } else { offsets[f.slot] = bytes.count; append(UInt32(0)) }
        }
        return (table, offsets)
    }

    func vectorOfStructs(_ elements: [[UInt8]]) -> Int {
        align(8)
        let p = bytes.count
        append(UInt32(elements.count))
        for e in elements { bytes += e }
        return p
    }

    func vectorOfOffsets(_ count: Int) -> (position: Int, slots: [Int]) {
        align(4)
        let p = bytes.count
        append(UInt32(count))
        let slots = (0..<count).map { _ in let s = bytes.count; append(UInt32(0)); return s }
        return (p, slots)
    }

    func string(_ s: String) -> Int {
        align(4)
        let p = bytes.count
        append(UInt32(s.utf8.count))
        bytes += Array(s.utf8) + [0]
        return p
    }

    static func int64(_ v: Int64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}

@Suite struct LargeStringTests {
    /// An Arrow IPC stream with one `large_utf8` column "text" of two values: `first` bytes of zeros
    /// (a hole in the file), then `second`.
    static func writeStream(to path: String, first: Int, second: String) throws {
        func message(headerType: UInt8, bodyLength: Int64, header: (TinyFlatBuffer, Int) -> Void) -> [UInt8] {
            let fb = TinyFlatBuffer()
            fb.append(UInt32(0))                                                       // root offset
            let m = fb.table([(0, [4, 0]), (1, [headerType]), (2, nil), (3, TinyFlatBuffer.int64(bodyLength))])
            fb.patch(0, toward: m.position)
            header(fb, m.offsets[2]!)
            fb.align(8)
            return [0xFF, 0xFF, 0xFF, 0xFF] + withUnsafeBytes(of: Int32(fb.bytes.count).littleEndian) { Array($0) } + fb.bytes
        }
        let schema = message(headerType: 1, bodyLength: 0) { fb, slot in
            let s = fb.table([(1, nil)])                                               // Schema.fields
            fb.patch(slot, toward: s.position)
            let fields = fb.vectorOfOffsets(1)
            fb.patch(s.offsets[1]!, toward: fields.position)
            let f = fb.table([(0, nil), (1, [1]), (2, [20]), (3, nil)])                 // name, nullable, type_type LargeUtf8, type
            fb.patch(fields.slots[0], toward: f.position)
            fb.patch(f.offsets[0]!, toward: fb.string("text"))
            let type = fb.table([])                                                    // LargeUtf8 {}
            fb.patch(f.offsets[3]!, toward: type.position)
        }
        let total = Int64(first + second.utf8.count)
        let offsets = [Int64(0), Int64(first), total]
        let dataLength = (total + 7) / 8 * 8
        let bodyLength = 24 + dataLength
        let batch = message(headerType: 3, bodyLength: bodyLength) { fb, slot in
            let r = fb.table([(0, TinyFlatBuffer.int64(2)), (1, nil), (2, nil)])      // length, nodes, buffers
            fb.patch(slot, toward: r.position)
            fb.patch(r.offsets[1]!, toward: fb.vectorOfStructs([TinyFlatBuffer.int64(2) + TinyFlatBuffer.int64(0)]))
            fb.patch(r.offsets[2]!, toward: fb.vectorOfStructs([
                TinyFlatBuffer.int64(0) + TinyFlatBuffer.int64(0),                     // validity: none
                TinyFlatBuffer.int64(0) + TinyFlatBuffer.int64(24),                    // offsets
                TinyFlatBuffer.int64(24) + TinyFlatBuffer.int64(dataLength),           // data
            ]))
        }
        FileManager.default.createFile(atPath: path, contents: nil)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? h.close() }
        try h.write(contentsOf: Data(schema + batch))
        let bodyStart = UInt64(schema.count + batch.count)
        try h.write(contentsOf: Data(offsets.flatMap(TinyFlatBuffer.int64)))
        try h.seek(toOffset: bodyStart + 24 + UInt64(first))                          // the hole: the first value's bytes
        try h.write(contentsOf: Data(second.utf8))
        try h.seek(toOffset: bodyStart + UInt64(bodyLength))
        try h.write(contentsOf: Data([0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]))            // end of stream
    }

    @Test func offsetsBeyondTwoGiBAreReadInPlace() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("large.arrow").path
        let first = (1 << 31) + 8
        try Self.writeStream(to: path, first: first, second: "hello")
        let file = try ArrowIPCFile(path: path)
        #expect(file.fields.map(\.name) == ["text"] && file.fields.map(\.typeName) == ["large_utf8"])
        var r = try file.strings(column: "text")
        guard case .bytes(let a)? = try r.nextCell(limit: 1 << 20) else { Issue.record("no first value"); return }
        #expect(a.count == 1 << 20 && r.lastValueLength == first && a.allSatisfy { $0 == 0 })
        guard case .bytes(let b)? = try r.nextCell(limit: 1 << 20) else { Issue.record("no second value"); return }
        #expect(Array(b) == Array("hello".utf8) && r.lastValueLength == 5)
        #expect(try r.nextCell(limit: 1 << 20) == nil)
        // As a corpus: the first document is cut at 1 MiB (and counted), the second read whole.
        var stream = try DocumentStream(CorpusSpec(files: [CorpusFile(path: path, format: .arrow)]))
        guard case .text(let d1)? = try stream.next(), case .text(let d2)? = try stream.next() else { Issue.record("documents missing"); return }
        #expect(d1.utf8.count == DocumentStream.maxDocumentBytes && d2 == "hello" && stream.truncatedDocuments == 1)
        #expect(try stream.next() == nil)
        // The same offsets declared past the data are refused, not followed.
        try Self.writeStream(to: path, first: first, second: "hello")
        let h = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        let size = try h.seekToEnd()
        try h.truncate(atOffset: size - 4096)
        try h.close()
        #expect(throws: FileFormatError.self) {
            var t = try ArrowIPCFile(path: path).strings(column: "text")
            while try t.nextCell(limit: 1) != nil {}
        }
    }
}
