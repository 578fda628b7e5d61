// Comparison: tolerance-based tensor assertions that report shape, max difference and worst index.

import Foundation
import Tensor
import Testing

/// The result of comparing two arrays elementwise with `|a − b| ≤ atol + rtol·|b|`.
public struct CloseReport: CustomStringConvertible {
    public let count: Int
    public let failures: Int
    public let maxAbsDiff: Double
    public let worstIndex: Int
    public let firstPairs: [(Float, Float)]

    public var description: String {
        let pairs = firstPairs.map { "(\($0.0), \($0.1))" }.joined(separator: " ")
        return "\(failures) of \(count) elements out of tolerance; max |diff| \(maxAbsDiff) at flat index \(worstIndex); first pairs: \(pairs)"
    }
}

/// Compares `actual` with `expected` elementwise: `|a − e| ≤ atol + rtol·|e|`; NaN matches only NaN
/// and infinities must be equal.
public func compareClose(_ actual: [Float], _ expected: [Float], atol: Double, rtol: Double) -> CloseReport {
    precondition(actual.count == expected.count)
    var failures = 0, maxDiff = 0.0, worst = 0
    for i in 0..<actual.count {
        let a = actual[i], e = expected[i]
        let ok: Bool
        if a.isNaN || e.isNaN {
            ok = a.isNaN && e.isNaN
        } else if a.isInfinite || e.isInfinite {
            ok = a == e
        } else {
            let d = Swift.abs(Double(a) - Double(e))
            if d > maxDiff { maxDiff = d; worst = i }
            ok = d <= atol + rtol * Swift.abs(Double(e))
        }
        if !ok {
            if failures == 0 && maxDiff == 0 { worst = i }
            failures += 1
        }
    }
    let pairs = (0..<Swift.min(4, actual.count)).map { (actual[$0], expected[$0]) }
    return CloseReport(count: actual.count, failures: failures, maxAbsDiff: maxDiff, worstIndex: worst, firstPairs: pairs)
}

/// Expects equal shapes and elementwise closeness; a failure names the shapes, the maximum
/// difference, its index and the first pairs, at the caller's source location.
public func expectClose(_ actual: Tensor, _ expected: Tensor, atol: Double = 1e-6, rtol: Double = 1e-5,
                        _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, "shape \(actual.shape) != expected \(expected.shape)", sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    let r = compareClose(actual.scalars, expected.scalars, atol: atol, rtol: rtol)
    #expect(r.failures == 0, "\(comment.map { "\($0): " } ?? "")\(r)", sourceLocation: sourceLocation)
}

/// Expects `actual` close to `expected` given as plain values of the same count.
public func expectClose(_ actual: Tensor, _ expected: [Float], atol: Double = 1e-6, rtol: Double = 1e-5,
                        _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(actual.count) elements, expected \(expected.count)", sourceLocation: sourceLocation)
    guard actual.count == expected.count else { return }
    let r = compareClose(actual.scalars, expected, atol: atol, rtol: rtol)
    #expect(r.failures == 0, "\(comment.map { "\($0): " } ?? "")\(r)", sourceLocation: sourceLocation)
}

/// A deterministic test tensor of `shape` with values in about [-2, 2].
public func testTensor(_ shape: [Int], seed: UInt64 = 1) -> Tensor {
    var rng = RandomStream(seed: seed)
    return Tensor.randomUniform(shape, low: -2, high: 2, using: &rng)
}

/// The folder of fixture files next to the calling test file (`<test dir>/Fixtures`).
public func fixturesDirectory(filePath: String = #filePath) -> URL {
    URL(fileURLWithPath: filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
}

/// The fixtures folder of another test target (`Tests/<target>/Fixtures`), found from the calling test file.
public func fixturesDirectory(ofTarget target: String, filePath: String = #filePath) -> URL {
    URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(target).appendingPathComponent("Fixtures")
}

/// A fresh temporary directory, removed by the caller when done.
public func temporaryDirectory() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("attn-sae-tests-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
