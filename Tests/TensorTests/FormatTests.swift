// FormatTests: HDF5, safetensors and torch.save readers against files written by h5py, safetensors and torch.

import Foundation
import Testing
import TensorTestSupport
@testable import Tensor

/// What the Python fixture script recorded about each file.
struct Expected {
    let json: [String: Any]
    init() throws {
        let data = try Data(contentsOf: fixturesDirectory().appendingPathComponent("expected.json"))
        json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }
    func entries(_ file: String) -> [String: [String: Any]] { json[file] as! [String: [String: Any]] }
    static func tensor(_ e: [String: Any]) -> Tensor {
        Tensor(shape: e["shape"] as! [Int], scalars: (e["values"] as! [Double]).map { Float($0) })
    }
}

func fixture(_ name: String) -> String { fixturesDirectory().appendingPathComponent(name).path }

@Suite struct HDF5Tests {
    @Test func readsWhatH5pyWrote() throws {
        let f = try HDF5File(path: fixture("tensors.h5"))
        for (path, e) in try Expected().entries("tensors.h5") {
            if let ints = e["ints"] as? [Int] {
                let t = try f.readIndices(path)
                #expect(t.shape == e["shape"] as! [Int] && t.values == ints)
            } else {
                #expect(try f.readTensor(path) == Expected.tensor(e), "dataset \(path)")
            }
        }
        let listed = try f.datasets()
        #expect(listed.map(\.path) == ["/chunked/deflate", "/doubles", "/sae/layer0/W_dec", "/sae/layer0/b_dec", "/scalar", "/tokens"])
        #expect(listed.first { $0.path == "/sae/layer0/b_dec" }?.elementType == .float(bits: 16))
        #expect(listed.first { $0.path == "/tokens" }?.elementType == .integer(bits: 64, signed: true))
        #expect(try f.attribute("d_sae") == .int(24576))
        #expect(try f.attribute("lr") == .double(1.2e-3))
        #expect(try f.attribute("hook_name") == .string("blocks.1.attn.hook_z"))
        #expect(try f.attribute("fixed") == .string("abc"))
        #expect(try f.attribute("layer_names") == .strings(["transformer", "lm_head"]))
        #expect(try f.attribute("weight_names") == .strings(["wte/weight:0", "h_._0/ln_1/gamma:0"]))
        #expect(try f.attribute("ints") == .ints([1, 2, 3]))
        #expect(try f.attribute("layer", of: "/sae/layer0").intValue == 0)
        #expect(try f.attribute("dims", of: "/sae/layer0/W_dec").stringValue == "d_sae d_in")
        #expect(try Set(f.attributeNames()) == ["d_sae", "lr", "hook_name", "fixed", "layer_names", "weight_names", "ints"])
    }

    @Test func missingThingsAreTypedErrors() throws {
        let f = try HDF5File(path: fixture("tensors.h5"))
        #expect(throws: FileFormatError.self) { try f.readTensor("/sae/nope") }
        #expect(throws: FileFormatError.self) { try f.readTensor("/missing/deeper/path") }
        #expect(throws: FileFormatError.self) { try f.attribute("nope") }
        #expect(throws: FileFormatError.self) { try f.readIndices("/sae/layer0/W_dec") }
        do {
            _ = try HDF5File(path: fixture("tensors.safetensors"))
            Issue.record("opened a non-HDF5 file")
        } catch let e as FileFormatError {
            #expect(e.reason == .corrupt && e.description.contains("tensors.safetensors"))
        }
        #expect(throws: FileFormatError.self) { try HDF5File(path: "/nonexistent/x.h5") }
    }

    @Test func writeThenReadRoundTrip() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("out.h5").path
        let w = testTensor([3, 4, 5], seed: 60)
        let h = testTensor([7], seed: 61)
        try HDF5Writer.write(to: path) { f in
            try f.write(w.transposed(0, 2), at: "/blocks.0.attn.W_Q")
            try f.write(h, at: "/group/sub/half", as: .float16)
            try f.write(IndexTensor(shape: [2, 2], values: [50256, 1, 2, 3]), at: "/tokens")
            try f.write(Tensor(scalar: 1.5), at: "/scalar")
            try f.createGroup("/empty/group")
            try f.setAttribute("version", .int(1))
            try f.setAttribute("name", .string("planted ∑ model"))
            try f.setAttribute("names", .strings(["a", "bc"]))
            try f.setAttribute("eps", .double(1e-5), of: "/blocks.0.attn.W_Q")
            try f.setAttribute("flags", .ints([1, 0, 1]), of: "/group")
            try f.setAttribute("version", .int(2))   // replaces
        }
        let f = try HDF5File(path: path)
        #expect(try f.readTensor("/blocks.0.attn.W_Q") == w.transposed(0, 2).contiguous())
        #expect(try f.readTensor("/group/sub/half").scalars == h.scalars.map { HalfPrecision.float16.decode(HalfPrecision.float16.encode($0)) })
        #expect(try f.readIndices("/tokens").values == [50256, 1, 2, 3])
        #expect(try f.readTensor("/scalar").shape == [])
        #expect(f.contains("/empty/group") && !f.contains("/empty/none"))
        #expect(try f.attribute("version") == .int(2))
        #expect(try f.attribute("name") == .string("planted ∑ model"))
        #expect(try f.attribute("names") == .strings(["a", "bc"]))
        #expect(try f.attribute("eps", of: "/blocks.0.attn.W_Q").doubleValue == 1e-5)
        #expect(try f.attribute("flags", of: "/group") == .ints([1, 0, 1]))
        // No temporary files are left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["out.h5"])
    }

    @Test func failedWriteLeavesNoFile() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("partial.h5").path
        #expect(throws: FileFormatError.self) {
            try HDF5Writer.write(to: path) { f in
                try f.write(Tensor([1]), at: "/a")
                try f.write(Tensor([2]), at: "/a")   // already exists
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}

@Suite struct SafeTensorsTests {
    @Test func readsWhatSafetensorsWrote() throws {
        let f = try SafeTensorsFile(contentsOf: fixture("tensors.safetensors"))
        #expect(f.metadata == ["format": "pt", "note": "fixture"])
        for (name, e) in try Expected().entries("tensors.safetensors") {
            #expect(try f.tensor(name) == Expected.tensor(e), "tensor \(name)")
            #expect(try f.entry(name).dtype.rawValue == e["dtype"] as! String)
        }
        #expect(try f.halfTensor("b_enc").toTensor() == f.tensor("b_enc"))
        #expect(throws: FileFormatError.self) { try f.tensor("nope") }
        #expect(throws: FileFormatError.self) { try f.halfTensor("W_enc") }
    }

    @Test func f32TensorsAreMappedWithoutCopying() throws {
        let f = try SafeTensorsFile(contentsOf: fixture("tensors.safetensors"))
        let t = try f.tensor("W_enc")
        #expect(!t.storage.isWritable)   // borrowed from the mapping
        var u = t
        u[0, 0] = 42                     // copy-on-write out of the read-only mapping
        #expect(u[0, 0] == 42 && t[0, 0] != 42)
    }

    @Test func writeThenReadRoundTrip() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("w.safetensors").path
        let a = testTensor([5, 3], seed: 70), b = testTensor([4], seed: 71)
        try SafeTensorsFile.write(["W_dec": .float(a.transposed(), .F32), "b\"q": .float(b, .BF16),
                                   "h": .half(HalfTensor(b, precision: .float16)), "z": .float(Tensor(zeros: [0]), .F16)],
                                  metadata: ["k": "v\n"], to: path)
        let f = try SafeTensorsFile(contentsOf: path)
        #expect(f.metadata == ["k": "v\n"])
        #expect(try f.tensor("W_dec") == a.transposed().contiguous())
        #expect(try f.tensor("b\"q").scalars == b.scalars.map { HalfPrecision.bfloat16.decode(HalfPrecision.bfloat16.encode($0)) })
        #expect(try f.tensor("h") == HalfTensor(b, precision: .float16).toTensor())
        #expect(try f.tensor("z").shape == [0])
        // The data section starts 8-byte aligned (header padded), as the reference writer does.
        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = raw.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect(n % 8 == 0)
    }
}

@Suite struct TorchCheckpointTests {
    @Test func readsWhatTorchSaveWrote() throws {
        let f = try TorchCheckpoint(contentsOf: fixture("state_dict.pt"))
        #expect(f.names == ["W_enc", "W_dec", "b_enc", "b_dec", "full", "strided_slice", "half", "bf16", "double", "scalar", "steps"])
        for (name, e) in try Expected().entries("state_dict.pt") {
            if e["unsupported"] != nil {
                #expect(throws: FileFormatError.self) { try f.tensor(name) }
            } else {
                #expect(try f.tensor(name) == Expected.tensor(e), "tensor \(name)")
            }
        }
        #expect(try f.tensor("strided_slice").scalars == [5, 7, 9, 11, 13])
    }

    @Test func readsAModuleStateDictWithMetadata() throws {
        let f = try TorchCheckpoint(contentsOf: fixture("linear_state_dict.pt"))
        #expect(f.names == ["weight", "bias"])
        for (name, e) in try Expected().entries("linear_state_dict.pt") {
            #expect(try f.tensor(name) == Expected.tensor(e))
        }
    }

    @Test func refusesForeignGlobals() throws {
        // A zip whose data.pkl calls os.system: must be refused, never run.
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let pkl: [UInt8] = [0x80, 0x02] + Array("cos\nsystem\n".utf8) + [0x58, 2, 0, 0, 0] + Array("ls".utf8) + [0x85, 0x52, 0x2E]
        let path = dir.appendingPathComponent("evil.pt").path
        try StoredZip.write(["evil/data.pkl": pkl], to: path)
        do {
            _ = try TorchCheckpoint(contentsOf: path)
            Issue.record("a checkpoint calling os.system was accepted")
        } catch let e as FileFormatError {
            #expect(e.reason == .unsupported && e.detail.contains("os.system"))
        }
    }
}

/// Writes minimal stored zip archives for tests.
enum StoredZip {
    /// CRC-32 bit by bit (reflected polynomial 0xEDB88320): an independent reference for zlib's.
    static func crc32(_ data: [UInt8]) -> Int {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in data {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return Int(~c)
    }

    /// `corruptCRC` stores a wrong CRC-32 for every entry.
    static func write(_ entries: [String: [UInt8]], to path: String, corruptCRC: Bool = false) throws {
        var out = [UInt8](), central = [UInt8]()
        func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func le32(_ v: Int) -> [UInt8] { le16(v & 0xFFFF) + le16(v >> 16 & 0xFFFF) }
        for (name, data) in entries.sorted(by: { $0.key < $1.key }) {
            let offset = out.count
            let n = Array(name.utf8)
            let crc = crc32(data) ^ (corruptCRC ? 1 : 0)
            out += le32(0x0403_4b50) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0) + le32(crc)
            out += le32(data.count) + le32(data.count) + le16(n.count) + le16(0) + n + data
            central += le32(0x0201_4b50) + le16(20) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0) + le32(crc)
            central += le32(data.count) + le32(data.count) + le16(n.count) + le16(0) + le16(0) + le16(0) + le16(0)
            central += le32(0) + le32(offset) + n
        }
        let cdOffset = out.count
        out += central
        out += le32(0x0605_4b50) + le16(0) + le16(0) + le16(entries.count) + le16(entries.count)
        out += le32(central.count) + le32(cdOffset) + le16(0)
        try Data(out).write(to: URL(fileURLWithPath: path))
    }
}
