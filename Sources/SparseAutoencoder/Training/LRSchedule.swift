// LRSchedule: the paper's "cosine_warmup" learning-rate schedule, as PyTorch's CosineAnnealingLR computes it.

import Foundation
import Tensor

/// PyTorch's `CosineAnnealingLR` (recursive, "chainable" form, in Double as Python computes it),
/// driven the way the paper's `train.py` drives it (Docs/Method.md §1.8):
///
/// - created with `T_max = epochs` and `eta_min = lrFactor · lr`, then stepped `warmupEpochs`
///   times before training, which parks it at `eta_min`;
/// - after each training step it is stepped while `step < epochs` or `lr + 1e-9 < lr_base`, which
///   climbs the cosine back to `lr_base` over `epochs` steps and then holds;
/// - after each resampling it is stepped until `lr ≤ eta_min + 1e-9` (descending the cosine, 1000
///   steps with the defaults), so the climb repeats.
public struct LRSchedule: Codable, Sendable, Equatable {
    public let baseLR: Double
    public let etaMin: Double
    public let tMax: Int
    /// `last_epoch` of the PyTorch scheduler.
    public private(set) var lastEpoch: Int
    /// The learning rate the optimizer uses now.
    public private(set) var lr: Double
    /// False for `sched_type = "none"` (constant learning rate).
    public let enabled: Bool

    /// The paper's defaults: `T_max` 1000, `eta_min` 0.1·lr, 1000 warm-up steps before training.
    public init(baseLR: Double, epochs: Int = 1000, lrFactor: Double = 0.1, warmupEpochs: Int = 1000, enabled: Bool = true) {
        self.baseLR = baseLR
        self.etaMin = lrFactor * baseLR
        self.tMax = epochs
        self.lastEpoch = 0
        self.lr = baseLR
        self.enabled = enabled
        if enabled { for _ in 0..<warmupEpochs { advance() } }
    }

    /// Checks a schedule decoded from a checkpoint: `T_max ≥ 1`, finite rates with
    /// `0 ≤ eta_min ≤ base`, a non-negative epoch.
    public func validate() throws {
        guard tMax >= 1, tMax <= 1 << 40, lastEpoch >= 0, baseLR.isFinite, baseLR > 0, etaMin.isFinite, etaMin >= 0, etaMin <= baseLR,
              lr.isFinite, lr >= 0 else {
            throw TrainingRunError.invalidSetting(name: "learning-rate schedule", value: "T_max \(tMax), epoch \(lastEpoch), base \(baseLR), eta_min \(etaMin), lr \(lr)",
                                                  allowed: "T_max 1…2^40, epoch ≥ 0, 0 ≤ eta_min ≤ base, finite rates")
        }
    }

    /// One `scheduler.step()`.
    public mutating func advance() {
        lastEpoch += 1
        let e = Double(lastEpoch), t = Double(tMax)
        if (lastEpoch - 1 - tMax) % (2 * tMax) == 0 {
            lr = lr + (baseLR - etaMin) * (1 - Foundation.cos(Double.pi / t)) / 2
        } else {
            lr = (1 + Foundation.cos(Double.pi * e / t)) / (1 + Foundation.cos(Double.pi * (e - 1) / t)) * (lr - etaMin) + etaMin
        }
    }

    /// The rule after training step `step` (0-based): advance while `step < epochs` or below base.
    public mutating func afterTrainingStep(_ step: Int) {
        guard enabled else { return }
        if step < tMax || lr + 1e-9 < baseLR { advance() }
    }

    /// The rule after a resampling: descend until `lr ≤ eta_min + 1e-9`.
    public mutating func rewarm() {
        guard enabled else { return }
        var n = 0
        while lr > etaMin + 1e-9 {
            advance()
            n += 1
            precondition(n < 10_000_000, "the learning-rate schedule did not return to eta_min")
        }
    }
}
