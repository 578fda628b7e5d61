// Compression: the codecs datasets come in — gzip and Zstandard (whole files, streamed; Parquet pages),
// Snappy (Parquet pages) — through the system libraries (Debian: zlib1g-dev, libzstd-dev, libsnappy-dev).
// Every decoder writes into a buffer of a size the caller bounds: a small input that would expand
// beyond it is refused, never decoded into unbounded memory.

import CSnappy
import CZlib
import CZstd
import Foundation

/// A compression codec of a file or a block.
public enum CompressionCodec: String, Sendable, CaseIterable {
    case gzip
    case zstd
    case snappy

    /// The codec a file starts with (gzip `1f 8b`, zstd frame `28 b5 2f fd`), or nil.
    public static func sniff(_ prefix: some Collection<UInt8>) -> CompressionCodec? {
        let b = Array(prefix.prefix(4))
        if b.count >= 2, b[0] == 0x1F, b[1] == 0x8B { return .gzip }
        if b.count == 4, b == [0x28, 0xB5, 0x2F, 0xFD] { return .zstd }
        return nil
    }
}

/// One-shot decoding of a block whose decoded size is known (Parquet pages, Arrow buffers).
package enum BlockDecoder {
    package struct Failure: Error { package let message: String }

    /// Decodes `input` with `codec`; it must decode to exactly `expectedSize` bytes (memory is bounded
    /// by it whatever the input claims).
    package static func decode(_ input: UnsafeRawBufferPointer, codec: CompressionCodec, expectedSize: Int) throws -> [UInt8] {
        guard expectedSize >= 0, expectedSize <= Int(Int32.max) else {
            throw Failure(message: "a decoded size of \(expectedSize) bytes is outside 0...\(Int32.max)")
        }
        switch codec {
        case .snappy: return try snappy(input, expectedSize: expectedSize)
        case .zstd: return try zstd(input, expectedSize: expectedSize)
        case .gzip: return try gzip(input, expectedSize: expectedSize)
        }
    }

    static func snappy(_ input: UnsafeRawBufferPointer, expectedSize: Int) throws -> [UInt8] {
        let src = input.baseAddress?.assumingMemoryBound(to: CChar.self)
        var claimed = 0
        guard snappy_uncompressed_length(src, input.count, &claimed) == SNAPPY_OK else {
            throw Failure(message: "invalid Snappy block header")
        }
        guard claimed == expectedSize else {
            throw Failure(message: "the Snappy block decodes to \(claimed) bytes, expected \(expectedSize)")
        }
        var out = [UInt8](repeating: 0, count: max(expectedSize, 1))
        var length = out.count
        let status = out.withUnsafeMutableBytes { o in
            snappy_uncompress(src, input.count, o.baseAddress!.assumingMemoryBound(to: CChar.self), &length)
        }
        guard status == SNAPPY_OK, length == expectedSize else { throw Failure(message: "invalid Snappy data") }
        out.removeLast(out.count - expectedSize)
        return out
    }

    static func zstd(_ input: UnsafeRawBufferPointer, expectedSize: Int) throws -> [UInt8] {
        // One spare byte: a block that fills it decodes to more than expected.
        var out = [UInt8](repeating: 0, count: expectedSize + 1)
        let n = out.withUnsafeMutableBytes { o in ZSTD_decompress(o.baseAddress, o.count, input.baseAddress, input.count) }
        if ZSTD_isError(n) != 0 {
            throw Failure(message: "invalid Zstandard data: \(String(cString: ZSTD_getErrorName(n)))")
        }
        guard n == expectedSize else { throw Failure(message: "the Zstandard block decodes to \(n) bytes, expected \(expectedSize)") }
        out.removeLast()
        return out
    }

    static func gzip(_ input: UnsafeRawBufferPointer, expectedSize: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: expectedSize + 1)
        let inflater = try Inflater()
        var consumed = 0
        var produced = 0
        while consumed < input.count {
            let step = try out.withUnsafeMutableBytes { o in
                try inflater.inflate(UnsafeRawBufferPointer(rebasing: input[consumed...]),
                                     into: UnsafeMutableRawBufferPointer(rebasing: o[produced...]))
            }
            consumed += step.consumed
            produced += step.produced
            if step.memberEnded { inflater.reset() } else if step.consumed == 0 && step.produced == 0 { break }
            if produced > expectedSize { break }
        }
        guard produced == expectedSize else {
            throw Failure(message: produced > expectedSize ? "the gzip block decodes to more than the expected \(expectedSize) bytes"
                                                           : "the gzip block ends after \(produced) of \(expectedSize) bytes")
        }
        out.removeLast()
        return out
    }
}

/// zlib's decoder for gzip members (and zlib streams), one buffer at a time.
final class Inflater {
    private var stream = z_stream()

    init() throws {
        guard czlib_inflate_init2(&stream, 15 + 32) == Z_OK else { throw BlockDecoder.Failure(message: "zlib could not start a decoder") }
    }

    deinit { inflateEnd(&stream) }

    func reset() { inflateReset(&stream) }

    /// Decodes from `input` into `output`: how much of each was used, and whether a member ended.
    func inflate(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws -> (consumed: Int, produced: Int, memberEnded: Bool) {
        guard output.count > 0 else { return (0, 0, false) }
        let inCount = min(input.count, Int(UInt32.max))
        let outCount = min(output.count, Int(UInt32.max))
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        stream.avail_in = UInt32(inCount)
        stream.next_out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
        stream.avail_out = UInt32(outCount)
        let status = CZlib.inflate(&stream, Z_NO_FLUSH)
        let consumed = inCount - Int(stream.avail_in)
        let produced = outCount - Int(stream.avail_out)
        switch status {
        case Z_OK: return (consumed, produced, false)
        case Z_STREAM_END: return (consumed, produced, true)
        case Z_BUF_ERROR: return (consumed, produced, false)
        case Z_DATA_ERROR:
            throw BlockDecoder.Failure(message: "invalid gzip data: " + (stream.msg.map { String(cString: $0) } ?? "bad stream"))
        default:
            throw BlockDecoder.Failure(message: "zlib error \(status)")
        }
    }
}

/// A file's bytes in order, chunk by chunk, decoded on the way when it is gzip- or Zstandard-compressed
/// (several gzip members or zstd frames one after another are one stream, as `zcat`/`zstdcat` read
/// them). Memory: one input and one output chunk; Zstandard windows above 128 MiB are refused.
public final class FileByteStream {
    public let path: String
    public let codec: CompressionCodec?
    private let handle: FileHandle
    private var input = [UInt8]()
    private var inputStart = 0
    private var fileEnded = false
    private var finished = false
    private var inflater: Inflater?
    private var zstdStream: OpaquePointer?
    /// Whether the last compressed member/frame was complete (a cut-off file is an error, not an end).
    private var atBoundary = true
    /// Bytes read from the file so far (compressed bytes for compressed files).
    public private(set) var fileBytesRead = 0
    private static let chunk = 1 << 20

    /// Opens `path`; `codec` nil reads the bytes as they are.
    public init(path: String, codec: CompressionCodec?) throws {
        self.path = path
        self.codec = codec
        guard let h = FileHandle(forReadingAtPath: path) else {
            throw FileFormatError(path: path, format: codec?.rawValue ?? "file", reason: .cannotOpen, detail: "cannot open for reading")
        }
        handle = h
        switch codec {
        case .gzip:
            do { inflater = try Inflater() } catch { throw Self.failure(path, .gzip, "zlib could not start a decoder") }
        case .zstd:
            guard let ds = ZSTD_createDStream() else { throw Self.failure(path, .zstd, "zstd could not start a decoder") }
            zstdStream = ds
            ZSTD_initDStream(ds)
            ZSTD_DCtx_setParameter(ds, ZSTD_d_windowLogMax, 27)
        case .snappy:
            throw FileFormatError(path: path, format: "snappy", reason: .unsupported, detail: "Snappy-compressed files are read inside Parquet only")
        case nil: break
        }
    }

    deinit {
        try? handle.close()
        if let zstdStream { ZSTD_freeDStream(zstdStream) }
    }

    private static func failure(_ path: String, _ codec: CompressionCodec, _ message: String) -> FileFormatError {
        FileFormatError(path: path, format: codec.rawValue, reason: .corrupt, detail: message)
    }

    /// Refills the input buffer when it is used up; false at the end of the file.
    private func refill() throws -> Bool {
        if inputStart < input.count { return true }
        if fileEnded { return false }
        let data: Data
        do { data = try handle.read(upToCount: Self.chunk) ?? Data() } catch {
            throw FileFormatError(path: path, format: codec?.rawValue ?? "file", reason: .cannotOpen, detail: "read failed: \(error)")
        }
        if data.isEmpty { fileEnded = true; return false }
        fileBytesRead += data.count
        input = [UInt8](data)
        inputStart = 0
        return true
    }

    /// Up to `maxCount` (> 0) next bytes; empty at the end.
    public func read(upTo maxCount: Int) throws -> [UInt8] {
        precondition(maxCount > 0)
        if finished { return [] }
        guard let codec else {
            guard try refill() else { finished = true; return [] }
            let n = min(maxCount, input.count - inputStart)
            defer { inputStart += n }
            return Array(input[inputStart..<(inputStart + n)])
        }
        var out = [UInt8](repeating: 0, count: maxCount)
        var produced = 0
        while produced == 0 {
            guard try refill() else {
                guard atBoundary else { throw Self.failure(path, codec, "the file ends inside a compressed \(codec == .gzip ? "member" : "frame")") }
                finished = true
                return []
            }
            let (used, made) = try input.withUnsafeBytes { i in
                try out.withUnsafeMutableBytes { o in
                    try step(UnsafeRawBufferPointer(rebasing: i[inputStart...]), UnsafeMutableRawBufferPointer(rebasing: o[produced...]))
                }
            }
            inputStart += used
            produced += made
            if used == 0 && made == 0 && inputStart < input.count {
                throw Self.failure(path, codec, "the decoder made no progress")
            }
        }
        out.removeLast(out.count - produced)
        return out
    }

    private func step(_ i: UnsafeRawBufferPointer, _ o: UnsafeMutableRawBufferPointer) throws -> (Int, Int) {
        switch codec {
        case .gzip:
            guard let inflater else { return (0, 0) }
            // Bytes after a member: another member, or trailing zero padding (which gzip tools accept).
            if atBoundary, i.allSatisfy({ $0 == 0 }) { return (i.count, 0) }
            let r: (consumed: Int, produced: Int, memberEnded: Bool)
            do { r = try inflater.inflate(i, into: o) } catch let e as BlockDecoder.Failure { throw Self.failure(path, .gzip, e.message) }
            atBoundary = r.memberEnded
            if r.memberEnded { inflater.reset() }
            return (r.consumed, r.produced)
        case .zstd:
            var inBuf = ZSTD_inBuffer(src: i.baseAddress, size: i.count, pos: 0)
            var outBuf = ZSTD_outBuffer(dst: o.baseAddress, size: o.count, pos: 0)
            let r = ZSTD_decompressStream(zstdStream, &outBuf, &inBuf)
            if ZSTD_isError(r) != 0 { throw Self.failure(path, .zstd, "invalid Zstandard data: \(String(cString: ZSTD_getErrorName(r)))") }
            atBoundary = r == 0
            return (inBuf.pos, outBuf.pos)
        default:
            return (0, 0)
        }
    }
}
