// The body of the fuzz executable: each input is written to a scratch folder and run through
// FormatHarness. A crash, a hang (libFuzzer's -timeout) or memory beyond -rss_limit_mb is a
// finding; so is an untyped error (made a crash here). A typed error is the expected outcome.

import Foundation
import FormatHarness

public enum FuzzEntry {
    nonisolated(unsafe) static var target = FormatHarness.Target.safetensors
    nonisolated(unsafe) static var scratch = ""

    /// `argv[1]` names the target; the other arguments go to libFuzzer.
    public static func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        guard argc >= 2, let argv, let name = argv[1].map({ String(cString: $0) }), let t = FormatHarness.Target(rawValue: name) else {
            let names = FormatHarness.Target.allCases.map(\.rawValue).joined(separator: "|")
            FileHandle.standardError.write("usage: fuzz-readers <\(names)> [libFuzzer arguments]\n".data(using: .utf8)!)
            return 2
        }
        target = t
        scratch = (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
            + "/attn-sae-fuzz-\(t.rawValue)-\(getpid())"
        // The checkpoint target writes its own seed (Scripts/fuzz sets the folder).
        if t == .checkpoint, let dir = ProcessInfo.processInfo.environment["FUZZ_SEED_DIR"] {
            try? FormatHarness.writeSeedCheckpoint(to: dir + "/seed-checkpoint.h5")
        }
        atexit { try? FileManager.default.removeItem(atPath: FuzzEntry.scratch) }
        // libFuzzer sees the program name and its own arguments only.
        var args = [argv[0]] + (2..<Int(argc)).map { argv[$0] }
        var count = CInt(args.count)
        return args.withUnsafeMutableBufferPointer { buffer in
            var pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buffer.baseAddress
            return LLVMFuzzerRunDriver(&count, &pointer, testOneInput)
        }
    }

    /// One input: a crash, a hang or an untyped error (made a crash here) is a finding.
    static let testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt = { data, size in
        let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        if case .problem(let p) = FormatHarness.run(FuzzEntry.target, bytes: bytes, scratch: FuzzEntry.scratch) {
            fatalError("untyped error from the \(FuzzEntry.target.rawValue) reader: \(p)")
        }
        return 0
    }
}

/// libFuzzer's driver (in its runtime, which -sanitize=fuzzer links).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt
