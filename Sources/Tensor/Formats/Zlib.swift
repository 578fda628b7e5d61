// Zlib: bounded zlib decoding (HDF5's deflate filter) and CRC-32 (zip entries), through the system
// zlib (Debian: zlib1g-dev), which every machine with libhdf5 already has.

import CZlib

/// zlib's decoder and checksum, with the output size bounded by the caller.
enum Zlib {
    struct Failure: Error { let message: String }

    /// Decodes a zlib stream (RFC 1950: header, DEFLATE data, Adler-32) that must decode to exactly
    /// `expectedSize` bytes. zlib never writes past the output buffer, so a stream that would decode
    /// to more stops at `expectedSize + 1` bytes and is refused: memory stays bounded by the caller's
    /// size whatever the input, and time by zlib's linear decoder (at most 1032 output bytes per
    /// input byte, so `O(expectedSize + input)`).
    static func inflate(_ input: UnsafeRawBufferPointer, expectedSize: Int) throws -> [UInt8] {
        guard expectedSize >= 0, expectedSize < Int(UInt32.max) - 1, input.count < Int(UInt32.max) else {
            throw Failure(message: "sizes beyond zlib's 32-bit counters (\(input.count) in, \(expectedSize) out)")
        }
        // One spare byte: if zlib fills it, the stream holds more than expected.
        var output = [UInt8](repeating: 0, count: expectedSize + 1)
        var stream = z_stream()
        guard czlib_inflate_init(&stream) == Z_OK else { throw Failure(message: "zlib could not start a decoder") }
        defer { inflateEnd(&stream) }
        let status: Int32 = output.withUnsafeMutableBytes { out in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
            stream.avail_in = UInt32(input.count)
            stream.next_out = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.avail_out = UInt32(out.count)
            return CZlib.inflate(&stream, Z_FINISH)
        }
        let produced = Int(stream.total_out)
        switch status {
        case Z_STREAM_END:
            guard produced == expectedSize else { throw Failure(message: "decoded \(produced) bytes, expected \(expectedSize)") }
            output.removeLast()
            return output
        case Z_BUF_ERROR where produced > expectedSize:
            throw Failure(message: "the stream decodes to more than the expected \(expectedSize) bytes")
        case Z_BUF_ERROR:
            throw Failure(message: "the stream ends after \(produced) of \(expectedSize) bytes")
        case Z_DATA_ERROR:
            let reason = stream.msg.map { String(cString: $0) } ?? "invalid data"
            throw Failure(message: "invalid zlib data: \(reason)")
        default:
            throw Failure(message: "zlib error \(status)")
        }
    }

    /// CRC-32 (the zip and gzip polynomial) of `bytes`, in blocks zlib's 32-bit lengths can hold.
    static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CZlib.crc32(0, nil, 0)
        guard var p = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return UInt32(crc) }
        var left = bytes.count
        while left > 0 {
            let n = Swift.min(left, 1 << 30)
            crc = CZlib.crc32(crc, p, UInt32(n))
            p += n
            left -= n
        }
        return UInt32(crc)
    }
}
