// libFuzzer entry points of the safetensors reader (FuzzEntry has the body).
import FuzzEntry

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt { FuzzEntry.initialize(.safetensors) }

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { FuzzEntry.testOneInput(.safetensors, data, size) }

/// SwiftPM links an executable's entry point as `<target>_main`; it hands over to libFuzzer's driver.
@_cdecl("fuzz_safetensors_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzEntry.runDriver(argc, argv) { testOneInput($0, $1) }
}
