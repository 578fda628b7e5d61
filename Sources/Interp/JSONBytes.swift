// JSONBytes: a direct JSON serialiser for the large trees of numbers and strings the exports write
// (Neuronpedia batches hold millions of values; Foundation's JSONSerialization spends minutes on them).

import Foundation

/// Serialises a tree of `[String: Any]` (keys sorted), arrays, `String`, `Int`, `Double`, `Float`, `Bool`
/// and `NSNull` to UTF-8 JSON: strings escaped as RFC 8259 requires (quote, backslash, control
/// characters), numbers in Swift's shortest round-trip form, non-finite numbers as `null`.
enum JSONBytes {
    static func encode(_ value: Any) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(1 << 16)
        write(value, &out)
        return out
    }

    static func write(_ value: Any, _ out: inout [UInt8]) {
        // Typed arrays and dictionaries first, NSNull last: testing a Swift array against a class
        // (`is NSNull`) bridges it to an NSArray, element by element.
        switch value {
        case let s as String: string(s, &out)
        case let a as [Double]: list(a, &out) { number($0, &$1) }
        case let a as [String]: list(a, &out) { string($0, &$1) }
        case let a as [Int]: list(a, &out) { $1.append(contentsOf: String($0).utf8) }
        case let a as [[String: Any]]: list(a, &out) { write($0, &$1) }
        case let o as [String: Any]:
            out.append(UInt8(ascii: "{"))
            for (n, key) in o.keys.sorted().enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                string(key, &out)
                out.append(UInt8(ascii: ":"))
                write(o[key]!, &out)
            }
            out.append(UInt8(ascii: "}"))
        case let d as Double: number(d, &out)
        case let i as Int: out.append(contentsOf: String(i).utf8)
        case let f as Float: number(Double(f), &out)
        case let b as Bool: out.append(contentsOf: (b ? "true" : "false").utf8)
        case let a as [Any]: list(a, &out) { write($0, &$1) }
        case is NSNull: out.append(contentsOf: "null".utf8)
        default:
            preconditionFailure("JSONBytes cannot write a \(type(of: value))")
        }
    }

    static func list<T>(_ items: [T], _ out: inout [UInt8], _ element: (T, inout [UInt8]) -> Void) {
        out.append(UInt8(ascii: "["))
        for (n, x) in items.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            element(x, &out)
        }
        out.append(UInt8(ascii: "]"))
    }

    static func number(_ d: Double, _ out: inout [UInt8]) {
        guard d.isFinite else { out.append(contentsOf: "null".utf8); return }
        if d == d.rounded(), Swift.abs(d) < 1e15 { out.append(contentsOf: String(Int(d)).utf8); return }
        out.append(contentsOf: d.description.utf8)
    }

    static func string(_ s: String, _ out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20, 0x7F:
                out.append(contentsOf: String(format: "\\u%04x", b).utf8)
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
