// ConfigJSON: a model's `config.json` read once, with typed, range-checked accessors that name the file
// and the key — shared by the HuggingFace and the TransformerLens-repository configs.

import Foundation
import Tensor

/// A small JSON object read from a config file (at most 1 MiB), with checked accessors.
struct ConfigJSON {
    let file: String
    let object: [String: Any]

    init(contentsOf path: String) throws {
        file = path
        let data: Data
        do { data = Data(try SmallFile.read(path, format: "config.json", maxBytes: 1 << 20)) } catch let e as FileFormatError {
            throw TransformerError.invalidConfig(file: path, key: "",
                                                 detail: e.reason == .unsupported ? "is larger than 1 MiB; a config.json is a few hundred bytes" : "cannot be read (\(e.detail))")
        }
        guard let parsed = try? JSONSerialization.jsonObject(with: data), let json = parsed as? [String: Any] else {
            throw TransformerError.invalidConfig(file: path, key: "", detail: "is not a JSON object")
        }
        object = json
    }

    func bad(_ key: String, _ detail: String) -> TransformerError { .invalidConfig(file: file, key: key, detail: detail) }

    /// The path of the `config.json` in the folder of `weightsPath` (which may not exist).
    static func path(beside weightsPath: String) -> String {
        let folder = (weightsPath as NSString).deletingLastPathComponent
        return (folder.isEmpty ? "." : folder) + "/config.json"
    }

    /// Whether `key` is present and not `null`.
    func has(_ key: String) -> Bool { object[key] != nil && !(object[key] is NSNull) }

    /// JSON's true/false arrive as NSNumber too; they are not numbers here.
    private static func isBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

    /// The integer at `key` (or at `alias` when `key` is absent), within `range`.
    func int(_ key: String, _ range: ClosedRange<Int>, alias: String? = nil) throws -> Int {
        guard let raw = object[key] ?? alias.flatMap({ object[$0] }) else { throw bad(key, "is missing") }
        guard let n = raw as? NSNumber, !Self.isBool(n), let d = Double(exactly: n.doubleValue),
              d.rounded() == d, d >= Double(range.lowerBound), d <= Double(range.upperBound) else {
            throw bad(key, "is \(raw), expected an integer in \(range.lowerBound)…\(range.upperBound)")
        }
        return Int(d)
    }

    /// The number at `key` strictly inside `range`, or `fallback` when absent.
    func number(_ key: String, in range: ClosedRange<Double>, default fallback: Double) throws -> Double {
        guard let raw = object[key] else { return fallback }
        guard let n = raw as? NSNumber, !Self.isBool(n), n.doubleValue > range.lowerBound, n.doubleValue < range.upperBound else {
            throw bad(key, "is \(raw), expected a number in (\(range.lowerBound.formatted()), \(range.upperBound.formatted()))")
        }
        return n.doubleValue
    }

    /// The boolean at `key`, or `fallback` when absent.
    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let raw = object[key], !(raw is NSNull) else { return fallback }
        guard let n = raw as? NSNumber, Self.isBool(n) else { throw bad(key, "is \(raw), expected true or false") }
        return n.boolValue
    }

    /// The string at `key`, or `fallback` when absent or null (nil fallback: the key is required).
    func string(_ key: String, default fallback: String? = nil) throws -> String {
        guard let raw = object[key], !(raw is NSNull) else {
            if let fallback { return fallback }
            throw bad(key, "is missing")
        }
        guard let s = raw as? String else { throw bad(key, "is \(raw), expected a string") }
        return s
    }
}
