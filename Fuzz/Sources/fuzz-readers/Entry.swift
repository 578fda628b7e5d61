// The fuzz executable: `fuzz-readers <target> [libFuzzer arguments…]`, the target one of FormatHarness.Target
// (safetensors, torch, hdf5, configs, tokenizer, corpus, parquet, arrow, checkpoint). FuzzEntry has the body.

import FuzzEntry

/// SwiftPM links an executable's entry point as `<target>_main`: this one takes the reader's name
/// off the arguments and hands the rest to libFuzzer's driver.
@_cdecl("fuzz_readers_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzEntry.main(argc, argv)
}
