// FormatMutationTests: every reader, fed truncated and byte-flipped copies of valid fixtures, must
// either read them or throw FileFormatError — never crash, hang or allocate absurdly.

import Foundation
import Testing
import TensorTestSupport
@testable import Tensor

/// Reads everything a file offers through one reader; throws what the reader throws.
typealias FullRead = (String) throws -> Void

enum Readers {
    static func hdf5(_ path: String) throws {
        let f = try HDF5File(path: path)
        for d in try f.datasets() {
            if case .integer = d.elementType { _ = try f.readIndices(d.path) } else { _ = try f.readTensor(d.path) }
            for name in try f.attributeNames(of: d.path) { _ = try f.attribute(name, of: d.path) }
        }
        for name in try f.attributeNames() { _ = try f.attribute(name) }
    }

    static func safetensors(_ path: String) throws {
        let f = try SafeTensorsFile(contentsOf: path)
        for e in f.entries where [.F32, .F16, .BF16, .F64].contains(e.dtype) { _ = try f.tensor(e.name).scalars }
    }

    static func torch(_ path: String) throws {
        let f = try TorchCheckpoint(contentsOf: path)
        for e in f.entries where e.storageType != "LongStorage" { _ = try f.tensor(e.name).scalars }
    }
}

/// Offsets to mutate: every byte of the first `head` bytes (headers live there), then a stride
/// through the rest, and the last bytes (zip directories live at the end).
/// `ATTN_SAE_MUTATION_STRIDE=1` makes the sweep exhaustive.
func mutationOffsets(size: Int, head: Int = 512, tail: Int = 256) -> [Int] {
    let stride = Int(ProcessInfo.processInfo.environment["ATTN_SAE_MUTATION_STRIDE"] ?? "") ?? 13
    var s = Set(0..<Swift.min(head, size))
    s.formUnion(Swift.stride(from: 0, to: size, by: Swift.max(1, stride)))
    s.formUnion(Swift.max(0, size - tail)..<size)
    return s.sorted()
}

@Suite struct FormatMutationTests {
    static let cases: [(String, String)] = [
        ("tensors.h5", "hdf5"), ("tensors.safetensors", "safetensors"),
        ("state_dict.pt", "torch"), ("linear_state_dict.pt", "torch"),
    ]

    static func reader(_ kind: String) -> FullRead {
        switch kind {
        case "hdf5": Readers.hdf5
        case "safetensors": Readers.safetensors
        default: Readers.torch
        }
    }

    enum Outcome: Equatable { case read, rejected, problem(String) }

    /// Runs `read` on `bytes` written to a scratch file: success, a FileFormatError naming the file,
    /// or a problem (any other error).
    static func check(_ bytes: [UInt8], _ read: FullRead, scratch: String, label: String) -> Outcome {
        _ = FileManager.default.createFile(atPath: scratch, contents: Data(bytes))
        do {
            try read(scratch)
            return .read
        } catch let e as FileFormatError {
            return e.path == scratch && !e.detail.isEmpty ? .rejected : .problem("\(label): error does not name the file: \(e)")
        } catch {
            return .problem("\(label): untyped error \(error)")
        }
    }

    /// Runs `variants(original)` — (label, bytes, must be rejected) — through the reader of
    /// `kind` and returns the problems found.
    static func mutate(_ file: String, _ kind: String,
                       _ variants: ([UInt8]) -> [(String, [UInt8], Bool)]) throws -> [String] {
        let original = [UInt8](try Data(contentsOf: fixturesDirectory().appendingPathComponent(file)))
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let scratch = dir.appendingPathComponent(file).path
        var problems: [String] = []
        for (label, bytes, mustReject) in variants(original) {
            switch check(bytes, reader(kind), scratch: scratch, label: label) {
            case .rejected: break
            case .read: if mustReject { problems.append("\(label): a damaged file was accepted") }
            case .problem(let p): problems.append(p)
            }
        }
        return problems
    }

    @Test(arguments: cases)
    func truncatedFilesAreRejected(_ file: String, _ kind: String) throws {
        let problems = try Self.mutate(file, kind) { original in
            mutationOffsets(size: original.count).map { ("cut at \($0)", Array(original[..<$0]), true) }
        }
        #expect(problems.isEmpty, "\(problems.prefix(5))")
    }

    @Test(arguments: cases)
    func flippedBytesNeverCrash(_ file: String, _ kind: String) throws {
        let problems = try Self.mutate(file, kind) { original in
            mutationOffsets(size: original.count).flatMap { offset in
                [UInt8(0xFF), 0x01, 0x80].map { pattern in
                    var bytes = original
                    bytes[offset] ^= pattern
                    return ("byte \(offset) ^ \(pattern)", bytes, false)
                }
            }
        }
        #expect(problems.isEmpty, "\(problems.prefix(5))")
    }

    @Test func hostileSafetensorsHeaders() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("h.safetensors").path
        func file(_ header: String, data: Int = 16, declared: UInt64? = nil) -> [UInt8] {
            let h = Array(header.utf8)
            return withUnsafeBytes(of: (declared ?? UInt64(h.count)).littleEndian, Array.init) + h + [UInt8](repeating: 0, count: data)
        }
        let cases: [(String, [UInt8], FileFormatError.Reason)] = [
            ("absurd header size", file("{}", declared: 1 << 40), .corrupt),
            ("header past end", file("{}", declared: 1000), .truncated),
            ("not json", file("{\"a\":"), .corrupt),
            ("unknown dtype", file(#"{"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}"#), .unsupported),
            ("overflowing shape", file(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#), .corrupt),
            ("negative extent", file(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#), .corrupt),
            ("fractional extent", file(#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#), .corrupt),
            ("size mismatch", file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#), .corrupt),
            ("past data end", file(#"{"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}}"#), .truncated),
            ("overlap", file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#), .corrupt),
            ("reversed offsets", file(#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}"#), .corrupt),
            ("metadata not strings", file(#"{"__metadata__":{"a":1}}"#), .corrupt),
        ]
        for (label, bytes, reason) in cases {
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            do {
                _ = try SafeTensorsFile(contentsOf: path)
                Issue.record("\(label): accepted")
            } catch let e as FileFormatError {
                #expect(e.reason == reason, "\(label): \(e)")
            }
        }
    }

    @Test func hostilePickles() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("p.pt").path
        let deep = [0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: 100_000) + [0x2E]   // ((((…)))) 100k deep
        let cases: [(String, [UInt8])] = [
            ("deep nesting", deep),
            ("stack underflow", [0x80, 0x02, 0x52, 0x2E]),
            ("no STOP", [0x80, 0x02, 0x4E]),
            ("unknown opcode", [0x80, 0x02, 0xFF, 0x2E]),
            ("INST opcode", [0x80, 0x02, 0x69] + Array("os\nsystem\n".utf8) + [0x2E]),
            ("huge length", [0x80, 0x02, 0x58, 0xFF, 0xFF, 0xFF, 0x7F, 0x2E]),
            ("bad memo", [0x80, 0x02, 0x68, 0x05, 0x2E]),
            ("not a dict", [0x80, 0x02, 0x4E, 0x2E]),
        ]
        for (label, pkl) in cases {
            try StoredZip.write(["x/data.pkl": pkl], to: path)
            do {
                _ = try TorchCheckpoint(contentsOf: path)
                Issue.record("\(label): accepted")
            } catch let e as FileFormatError {
                #expect([.corrupt, .unsupported, .truncated].contains(e.reason), "\(label): \(e)")
            }
        }
    }
}
