// ReportFolder: the CSV/JSON and pages behind every figure, each written to a temporary name and
// renamed, so a crash never leaves a half-written file looking complete.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

/// A folder of report files. Every file is written to a temporary name and renamed, so a crash
/// never leaves a half-written page looking complete.
public struct ReportFolder: Sendable {
    public let path: String
    public init(_ path: String) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func write(_ text: String, to relative: String) throws { try write(data: Data(text.utf8), to: relative) }

    public func write(data: Data, to relative: String) throws {
        let full = path + "/" + relative
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try AtomicFile.write(data, to: full, format: "report")
    }

    public func writeJSON<T: Encodable>(_ value: T, to relative: String) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try write(String(decoding: try e.encode(value), as: UTF8.self) + "\n", to: relative)
    }

    /// A CSV file (RFC 4180). A field holding a comma, a quote, `\n` or `\r` is quoted. A text
    /// field starting with `=`, `+`, `-`, `@`, a tab or `\r` — which spreadsheets run as a formula —
    /// gets a leading `'` (numbers such as `-0.5` are left as they are): token strings come from
    /// corpora and must not become formulas in the reader's spreadsheet.
    public func writeCSV(header: [String], rows: [[String]], to relative: String) throws {
        let lines = ([header] + rows).map { $0.map(CSV.field).joined(separator: ",") }
        try write(lines.joined(separator: "\n") + "\n", to: relative)
    }
}

package enum CSV {
    /// One field, neutralised and quoted as ``ReportFolder/writeCSV(header:rows:to:)`` describes.
    package static func field(_ s: String) -> String {
        var s = s
        if let first = s.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first), Double(s) == nil { s = "'" + s }
        let special = s.unicodeScalars.contains { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }
        return special ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}

