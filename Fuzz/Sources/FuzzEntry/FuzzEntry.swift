// The body of every fuzz target: each input is written to a scratch folder and run through
// FormatHarness. A crash, a hang (libFuzzer's -timeout) or memory beyond -rss_limit_mb is a
// finding; so is an untyped error (made a crash here). A typed error is the expected outcome.

import Foundation
@_exported import FormatHarness

public enum FuzzEntry {
    nonisolated(unsafe) static var scratch = ""

    /// libFuzzer's initialiser: the checkpoint target writes its own seed into `$FUZZ_SEED_DIR`.
    public static func initialize(_ target: FormatHarness.Target) -> CInt {
        scratch = (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
            + "/attn-sae-fuzz-\(target.rawValue)-\(getpid())"
        if target == .checkpoint, let dir = ProcessInfo.processInfo.environment["FUZZ_SEED_DIR"] {
            try? FormatHarness.writeSeedCheckpoint(to: dir + "/seed-checkpoint.h5")
        }
        atexit { try? FileManager.default.removeItem(atPath: FuzzEntry.scratch) }
        return 0
    }

    public static func testOneInput(_ target: FormatHarness.Target, _ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        if case .problem(let p) = FormatHarness.run(target, bytes: bytes, scratch: scratch) {
            fatalError("untyped error from the \(target.rawValue) reader: \(p)")
        }
        return 0
    }
}

/// libFuzzer's driver (in its runtime, which -sanitize=fuzzer links).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

extension FuzzEntry {
    /// Runs libFuzzer with the process's arguments and `callback` as the target.
    public static func runDriver(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                                 _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt {
        var c = argc
        var v = argv
        return LLVMFuzzerRunDriver(&c, &v, callback)
    }
}
