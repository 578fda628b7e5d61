// Inflate: a bounded zlib/DEFLATE decoder (RFC 1950/1951) for compressed HDF5 chunks.

/// Decodes zlib streams whose decoded size is known in advance. Every read is bounds-checked and
/// the output may never exceed the expected size, so corrupt or hostile input fails cleanly.
enum Inflate {
    struct Failure: Error { let message: String }

    /// Decodes a zlib stream (2-byte header, DEFLATE data, Adler-32) into exactly `expectedSize` bytes.
    static func zlib(_ input: UnsafeRawBufferPointer, expectedSize: Int) throws -> [UInt8] {
        guard input.count >= 6 else { throw Failure(message: "zlib stream of \(input.count) bytes is too short") }
        let cmf = input[0], flg = input[1]
        guard cmf & 0x0F == 8, (UInt16(cmf) << 8 | UInt16(flg)) % 31 == 0, flg & 0x20 == 0 else {
            throw Failure(message: "invalid zlib header")
        }
        var state = Decoder(input: input, position: 2, limit: expectedSize)
        try state.run()
        guard state.output.count == expectedSize else {
            throw Failure(message: "decoded \(state.output.count) bytes, expected \(expectedSize)")
        }
        // Adler-32 of the output, big-endian, after the byte-aligned end of the DEFLATE data.
        let p = state.alignedPosition
        guard p + 4 <= input.count else { throw Failure(message: "zlib checksum missing") }
        let stored = UInt32(input[p]) << 24 | UInt32(input[p + 1]) << 16 | UInt32(input[p + 2]) << 8 | UInt32(input[p + 3])
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in state.output {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        guard stored == b << 16 | a else { throw Failure(message: "zlib checksum mismatch") }
        return state.output
    }

    /// A canonical Huffman code: counts per length and symbols in code order.
    struct Huffman {
        var counts = [Int](repeating: 0, count: 16)
        var symbols: [Int] = []

        init(lengths: [Int]) throws {
            for l in lengths { counts[l] += 1 }
            counts[0] = 0
            var left = 1
            for len in 1..<16 {
                left <<= 1
                left -= counts[len]
                if left < 0 { throw Failure(message: "over-subscribed Huffman code") }
            }
            var offsets = [Int](repeating: 0, count: 16)
            for len in 1..<15 { offsets[len + 1] = offsets[len] + counts[len] }
            symbols = [Int](repeating: 0, count: lengths.count)
            for (sym, l) in lengths.enumerated() where l != 0 {
                symbols[offsets[l]] = sym
                offsets[l] += 1
            }
        }
    }

    struct Decoder {
        let input: UnsafeRawBufferPointer
        var position: Int
        let limit: Int
        var bitBuffer: UInt32 = 0
        var bitCount = 0
        var output: [UInt8] = []

        init(input: UnsafeRawBufferPointer, position: Int, limit: Int) {
            self.input = input
            self.position = position
            self.limit = limit
            output.reserveCapacity(limit)
        }

        var alignedPosition: Int { position }

        mutating func bits(_ n: Int) throws -> Int {
            while bitCount < n {
                guard position < input.count else { throw Failure(message: "DEFLATE data ends early") }
                bitBuffer |= UInt32(input[position]) << UInt32(bitCount)
                position += 1
                bitCount += 8
            }
            let v = Int(bitBuffer & ((1 << UInt32(n)) - 1))
            bitBuffer >>= UInt32(n)
            bitCount -= n
            return v
        }

        mutating func decode(_ h: Huffman) throws -> Int {
            var code = 0, first = 0, index = 0
            for len in 1..<16 {
                code |= try bits(1)
                let count = h.counts[len]
                if code - count < first { return h.symbols[index + (code - first)] }
                index += count
                first += count
                first <<= 1
                code <<= 1
            }
            throw Failure(message: "invalid Huffman code")
        }

        mutating func emit(_ byte: UInt8) throws {
            guard output.count < limit else { throw Failure(message: "decoded data exceeds the expected \(limit) bytes") }
            output.append(byte)
        }

        static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
        static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
        static let distBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
                               4097, 6145, 8193, 12289, 16385, 24577]
        static let distExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

        mutating func run() throws {
            var last = 0
            repeat {
                last = try bits(1)
                switch try bits(2) {
                case 0: try stored()
                case 1:
                    let lit = try Huffman(lengths: (0..<288).map { $0 < 144 ? 8 : $0 < 256 ? 9 : $0 < 280 ? 7 : 8 })
                    let dist = try Huffman(lengths: [Int](repeating: 5, count: 30))
                    try codes(lit, dist)
                case 2:
                    let (lit, dist) = try dynamicTables()
                    try codes(lit, dist)
                default:
                    throw Failure(message: "invalid DEFLATE block type")
                }
            } while last == 0
            bitBuffer = 0
            bitCount = 0
        }

        mutating func stored() throws {
            bitBuffer = 0
            bitCount = 0
            guard position + 4 <= input.count else { throw Failure(message: "stored block header ends early") }
            let len = Int(input[position]) | Int(input[position + 1]) << 8
            let nlen = Int(input[position + 2]) | Int(input[position + 3]) << 8
            guard len == (~nlen & 0xFFFF) else { throw Failure(message: "stored block length check failed") }
            position += 4
            guard position + len <= input.count else { throw Failure(message: "stored block ends early") }
            for i in 0..<len { try emit(input[position + i]) }
            position += len
        }

        mutating func dynamicTables() throws -> (Huffman, Huffman) {
            let nlen = try bits(5) + 257, ndist = try bits(5) + 1, ncode = try bits(4) + 4
            guard nlen <= 286, ndist <= 30 else { throw Failure(message: "too many DEFLATE codes") }
            let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
            var codeLengths = [Int](repeating: 0, count: 19)
            for i in 0..<ncode { codeLengths[order[i]] = try bits(3) }
            let lencode = try Huffman(lengths: codeLengths)
            var lengths: [Int] = []
            while lengths.count < nlen + ndist {
                let sym = try decode(lencode)
                switch sym {
                case 0..<16: lengths.append(sym)
                case 16:
                    guard let prev = lengths.last else { throw Failure(message: "repeat with no previous length") }
                    lengths += [Int](repeating: prev, count: 3 + (try bits(2)))
                case 17: lengths += [Int](repeating: 0, count: 3 + (try bits(3)))
                default: lengths += [Int](repeating: 0, count: 11 + (try bits(7)))
                }
            }
            guard lengths.count == nlen + ndist, lengths[256] != 0 else { throw Failure(message: "invalid DEFLATE code lengths") }
            return (try Huffman(lengths: Array(lengths[..<nlen])), try Huffman(lengths: Array(lengths[nlen...])))
        }

        mutating func codes(_ lit: Huffman, _ dist: Huffman) throws {
            while true {
                let sym = try decode(lit)
                if sym < 256 {
                    try emit(UInt8(sym))
                } else if sym == 256 {
                    return
                } else {
                    let li = sym - 257
                    guard li < 29 else { throw Failure(message: "invalid length symbol") }
                    let len = Self.lengthBase[li] + (try bits(Self.lengthExtra[li]))
                    let di = try decode(dist)
                    guard di < 30 else { throw Failure(message: "invalid distance symbol") }
                    let d = Self.distBase[di] + (try bits(Self.distExtra[di]))
                    guard d <= output.count else { throw Failure(message: "distance reaches before the start of the data") }
                    for _ in 0..<len { try emit(output[output.count - d]) }
                }
            }
        }
    }
}
