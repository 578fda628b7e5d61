// OptionChecks: every numeric option is checked before any work, with a message naming the option,
// its value and the allowed range.

import ArgumentParser
import Experiments
import Interp
import SparseAutoencoder
import Tensor
import Transformer

public enum OptionCheck {
    /// Throws unless `value` (when given) lies in `allowed`.
    public static func range<T: Comparable>(_ name: String, _ value: T?, _ allowed: ClosedRange<T>) throws {
        guard let value, !allowed.contains(value) else { return }
        throw ValidationError("\(name) is \(value); allowed: \(allowed.lowerBound)…\(allowed.upperBound)")
    }

    /// Throws unless `value` (when given) is at least `minimum`.
    public static func atLeast<T: Comparable>(_ name: String, _ value: T?, _ minimum: T) throws {
        guard let value, value < minimum else { return }
        throw ValidationError("\(name) is \(value); allowed: ≥ \(minimum)")
    }

    /// Throws unless every value lies in `allowed` and none repeats.
    public static func each(_ name: String, _ values: [Int], _ allowed: ClosedRange<Int>) throws {
        for v in values { try range(name, v, allowed) }
        guard Set(values).count == values.count else { throw ValidationError("\(name) \(values.map(String.init).joined(separator: " ")) names a value twice; allowed: distinct values") }
    }

    /// A layer of `model` (`0…n_layers-1`).
    public static func layer(_ name: String, _ value: Int?, of model: LoadedModel) throws {
        try range(name, value, 0...(model.model.config.nLayers - 1))
    }

    /// Heads of `model` (`0…n_heads-1`).
    public static func heads(_ name: String, _ values: [Int], of model: LoadedModel) throws {
        try each(name, values, 0...(model.model.config.nHeads - 1))
    }

    /// Held-out or scanned rows of 128 tokens.
    public static let rows = 1...1_000_000
    /// A count of features, examples, prompts or pages.
    public static let count = 1...100_000
}
