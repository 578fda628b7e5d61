// Timing: best-of-N wall-clock measurement and RESULT line formatting.

import Foundation
import Tensor
import Transformer
import SparseAutoencoder
import Interp

enum Timing {
    /// Seconds since an arbitrary origin (monotonic).
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// The best of `reps` timed runs of `body`, after one warm-up run.
    static func best(reps: Int, _ body: () -> Void) -> Double {
        body()
        var best = Double.infinity
        for _ in 0..<reps {
            let t0 = now()
            body()
            best = min(best, now() - t0)
        }
        return best
    }

    /// Alternates `ours` and `baseline` `rounds` times and keeps each one's best, so slow phases of a
    /// noisy machine hit both alike.
    static func interleaved(rounds: Int, ours: () -> Void, baseline: () -> Void) -> (ours: Double, baseline: Double) {
        ours()
        baseline()
        var o = Double.infinity, b = Double.infinity
        for _ in 0..<rounds {
            var t0 = now()
            ours()
            o = min(o, now() - t0)
            t0 = now()
            baseline()
            b = min(b, now() - t0)
        }
        return (o, b)
    }

    /// `RESULT <name> <value> <unit> ratio=<r> baseline=<what>` (ratio > 1 is better than the baseline).
    static func result(_ name: String, _ value: Double, _ unit: String, ratio: Double, baseline: String) -> String {
        "RESULT \(name) \(String(format: "%.3g", value)) \(unit) ratio=\(String(format: "%.3f", ratio)) baseline=\(baseline)"
    }

    static func log(_ s: String) {
        FileHandle.standardError.write((s + "\n").data(using: .utf8)!)
    }
}
