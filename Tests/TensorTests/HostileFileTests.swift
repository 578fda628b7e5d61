// HostileFileTests: crafted files that crashed, hung or over-allocated a release build before the
// fixes of issue 14. Each must now be refused with a FileFormatError naming the file. The HDF5
// ones are written by Scripts/reference/make_hostile_fixtures.py (h5py, then one structure patched).

import Foundation
import Testing
import TensorTestSupport
import CZlib
@testable import Tensor

/// Writes `bytes` to a scratch file, runs `read` on it and returns the FileFormatError it threw
/// (recording an issue if it read the file or threw anything else).
func expectRefused(_ label: String, _ bytes: [UInt8], name: String = "f", _ read: (String) throws -> Void) -> FileFormatError? {
    let dir = temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent(name).path
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return expectRefused(label, path: path, read)
}

func expectRefused(_ label: String, path: String, _ read: (String) throws -> Void) -> FileFormatError? {
    do {
        try read(path)
        Issue.record("\(label): accepted")
    } catch let e as FileFormatError {
        #expect(e.path == path && !e.detail.isEmpty, "\(label): \(e)")
        return e
    } catch {
        Issue.record("\(label): untyped error \(error)")
    }
    return nil
}

/// Pickle opcodes for hand-written programs.
enum PickleOp {
    static func unicode(_ s: String) -> [UInt8] { let u = Array(s.utf8); return [0x58] + le32(u.count) + u }
    static func int(_ v: Int) -> [UInt8] { [0x8A, 8] + withUnsafeBytes(of: Int64(v).littleEndian, Array.init) }   // LONG1
    static func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }
    static func le32(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(v).littleEndian, Array.init) }
    static let mark: UInt8 = 0x28, tuple: UInt8 = 0x74, reduce: UInt8 = 0x52, setitem: UInt8 = 0x73, stop: UInt8 = 0x2E

    /// `{name: _rebuild_tensor_v2(storage('0', FloatStorage, numel), 0, size, stride)}`.
    static func stateDict(name: String, size: [Int], stride: [Int], numel: Int) -> [UInt8] {
        var p: [UInt8] = [0x80, 0x02, 0x7D] + unicode(name) + global("torch._utils", "_rebuild_tensor_v2") + [mark]
        p += [mark] + unicode("storage") + global("torch", "FloatStorage") + unicode("0") + unicode("cpu") + int(numel) + [tuple, 0x51]
        p += int(0)
        p += [mark] + size.flatMap(int) + [tuple]
        p += [mark] + stride.flatMap(int) + [tuple]
        p += [tuple, reduce, setitem, stop]
        return p
    }
}

@Suite struct HostileFileTests {
    // MARK: Shapes with a zero extent next to huge ones

    @Test func zeroExtentNextToHugeOnesIsRefusedEverywhere() throws {
        // Safetensors: holds no byte, but its strides overflow.
        let header = Array(#"{"a":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}"#.utf8)
        let st = withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init) + header
        let e = expectRefused("safetensors [0, 2^32, 2^32]", st) { try Readers.safetensors($0) }
        #expect(e?.reason == .corrupt)
        // A torch checkpoint with the same view of an empty storage.
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let pt = dir.appendingPathComponent("zero.pt").path
        try StoredZip.write(["x/data.pkl": PickleOp.stateDict(name: "w", size: [0, 1 << 32, 1 << 32], stride: [1, 1, 1], numel: 0),
                             "x/data/0": []], to: pt)
        _ = expectRefused(".pt [0, 2^32, 2^32]", path: pt) { try Readers.torch($0) }
        // The same checkpoint with a sane empty shape still reads.
        try StoredZip.write(["x/data.pkl": PickleOp.stateDict(name: "w", size: [0, 4], stride: [4, 1], numel: 0), "x/data/0": []], to: pt)
        #expect(try TorchCheckpoint(contentsOf: pt).tensor("w").shape == [0, 4])
        // In memory: strides of such a shape wrap instead of trapping.
        #expect(Tensor.contiguousStrides([0, 1 << 40, 1 << 40]).count == 3)
    }

    // MARK: Zip

    @Test func zip64RecordInATinyFileIsRefused() {
        // ZIP64 locator (20 bytes) + end record saying "see ZIP64" (22 bytes): 42 bytes in all.
        func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
        let locator = PickleOp.le32(0x0706_4b50) + PickleOp.le32(0) + [UInt8](repeating: 0, count: 8) + PickleOp.le32(1)
        let eocd = PickleOp.le32(0x0605_4b50) + le16(0) + le16(0) + le16(0xFFFF) + le16(0xFFFF) + PickleOp.le32(0xFFFF_FFFF)
            + PickleOp.le32(0xFFFF_FFFF) + le16(0)
        for padding in 0...13 {   // 42…55 bytes
            let bytes = [UInt8](repeating: 0, count: padding) + locator + eocd
            let e = expectRefused("ZIP64 in \(bytes.count) bytes", bytes, name: "t.pt") { try Readers.torch($0) }
            #expect(e?.reason == .corrupt)
        }
    }

    @Test func aDamagedStoredEntryFailsItsCRC() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let pt = dir.appendingPathComponent("crc.pt").path
        let data = (0..<8).flatMap { withUnsafeBytes(of: Float($0).bitPattern.littleEndian, Array.init) }
        let pickle = PickleOp.stateDict(name: "w", size: [8], stride: [1], numel: 8)
        try StoredZip.write(["x/data.pkl": pickle, "x/data/0": data], to: pt)
        #expect(try TorchCheckpoint(contentsOf: pt).tensor("w").scalars == (0..<8).map(Float.init))
        try StoredZip.write(["x/data.pkl": pickle, "x/data/0": data], to: pt, corruptCRC: true)
        let e = expectRefused("wrong CRC-32", path: pt) { try Readers.torch($0) }
        #expect(e?.reason == .corrupt && e?.detail.contains("CRC-32") == true)
        // zlib's CRC-32 equals the bitwise reference on odd lengths and every byte value.
        let bytes = (0..<1031).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 3) }
        #expect(Int(bytes.withUnsafeBytes { Zlib.crc32($0) }) == StoredZip.crc32(bytes))
    }

    // MARK: Pickle

    @Test func listsGrownThroughTheMemoCannotNestDeeply() throws {
        // L0 = []; then, 200k times: L_{i+1} = []; append L_{i+1} to L_i, fetched from the memo.
        // Every recorded depth stayed ≤ 2 before containers were sealed; freeing the chain then
        // overflowed the stack.
        var p: [UInt8] = [0x80, 0x02, 0x5D, 0x72] + PickleOp.le32(0)             // EMPTY_LIST, LONG_BINPUT 0
        for i in 0..<200_000 {
            p += [0x6A] + PickleOp.le32(i)                                       // LONG_BINGET i
            p += [0x5D, 0x72] + PickleOp.le32(i + 1)                             // EMPTY_LIST, LONG_BINPUT i+1
            p += [0x61, 0x30]                                                    // APPEND, POP
        }
        p += [0x6A] + PickleOp.le32(0) + [0x2E]
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let pt = dir.appendingPathComponent("chain.pt").path
        try StoredZip.write(["x/data.pkl": p], to: pt)
        let e = expectRefused("memo-grown list chain", path: pt) { _ = try TorchCheckpoint(contentsOf: $0) }
        #expect(e?.reason == .unsupported)
        // A list placed in a tuple is sealed too.
        let q: [UInt8] = [0x80, 0x02, 0x5D, 0x72] + PickleOp.le32(0) + [0x85, 0x30, 0x6A] + PickleOp.le32(0) + [0x5D, 0x61, 0x2E]
        try StoredZip.write(["x/data.pkl": q], to: pt)
        #expect(expectRefused("list grown after entering a tuple", path: pt) { _ = try TorchCheckpoint(contentsOf: $0) }?.reason == .unsupported)
    }

    // MARK: HDF5

    static let hostileHDF5: [(file: String, says: String)] = [
        ("link_name_overflow.h5", "link name"),
        ("chunk_repeated.h5", "stored twice"),
        ("unwritten_huge.h5", "cannot come from"),
        ("zero_size_strings.h5", "0 bytes"),
        ("continuation_cycle.h5", "repeat"),
    ]

    @Test(arguments: hostileHDF5)
    func hostileHDF5IsRefused(_ file: String, _ says: String) {
        let path = fixturesDirectory().appendingPathComponent("hostile/" + file).path
        let e = expectRefused(file, path: path) { try Readers.hdf5($0) }
        #expect(e?.detail.contains(says) == true, "\(file): \(String(describing: e))")
    }

    /// What h5py writes with libver='latest' and track_order=True, with a 128 KB gzip + shuffle
    /// chunked dataset: every value, every attribute.
    @Test func readsWhatH5pyWritesWithTheNewestFormat() throws {
        let f = try HDF5File(path: fixturesDirectory().appendingPathComponent("hostile/latest_gzip.h5").path)
        let pattern = (0..<32768).map { Float($0 % 1000) / 4 - 100 }
        let packed = try f.readTensor("/group/packed")
        #expect(packed.shape == [128, 256])
        #expect(packed.scalars == pattern)
        #expect(try f.readTensor("/group/b_plain").scalars == Array(pattern.prefix(12)))
        #expect(try f.readIndices("/a_small").values == [0, 1, 2, 3, 4, 5])
        #expect(try f.attribute("zeta").intValue == 1)
        #expect(try f.attribute("alpha").stringValue == "first")
        #expect(Set(try f.datasets().map(\.path)) == ["/group/packed", "/group/b_plain", "/a_small"])
    }

    @Test func zlibOutputIsBounded() throws {
        // A stream of 100 000 zeros, expected to be 1000 bytes: refused, not decoded in full.
        let zeros = [UInt8](repeating: 0, count: 100_000)
        var compressed = [UInt8](repeating: 0, count: 1000)
        var length = uLongf(compressed.count)
        #expect(compress2(&compressed, &length, zeros, uLong(zeros.count), 9) == Z_OK)
        let stream = Array(compressed.prefix(Int(length)))
        #expect(throws: Zlib.Failure.self) { try stream.withUnsafeBytes { try Zlib.inflate($0, expectedSize: 1000) } }
        #expect(throws: Zlib.Failure.self) { try stream.withUnsafeBytes { try Zlib.inflate($0, expectedSize: 200_000) } }
        let decoded = try stream.withUnsafeBytes { try Zlib.inflate($0, expectedSize: 100_000) }
        #expect(decoded.count == zeros.count && decoded.allSatisfy { $0 == 0 })
        var damaged = stream
        damaged[damaged.count - 1] ^= 0x55   // the Adler-32 of the output
        #expect(throws: Zlib.Failure.self) { try damaged.withUnsafeBytes { try Zlib.inflate($0, expectedSize: 100_000) } }
        #expect(throws: Zlib.Failure.self) { try Array(stream.prefix(stream.count / 2)).withUnsafeBytes { try Zlib.inflate($0, expectedSize: 100_000) } }
    }
}

extension HostileFileTests {
    /// A stride-0 view of one float describing 2^20 × 2^20 elements: refused before allocating 4 TB.
    @Test func anExpandedViewLargerThanItsStorageIsRefused() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let pt = dir.appendingPathComponent("expand.pt").path
        let one = withUnsafeBytes(of: Float(1).bitPattern.littleEndian, Array.init)
        try StoredZip.write(["x/data.pkl": PickleOp.stateDict(name: "w", size: [1 << 20, 1 << 20], stride: [0, 0], numel: 1), "x/data/0": one], to: pt)
        #expect(expectRefused("stride-0 view", path: pt) { try Readers.torch($0) }?.reason == .unsupported)
    }
}
