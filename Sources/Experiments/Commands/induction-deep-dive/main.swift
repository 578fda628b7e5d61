// induction-deep-dive: Fig. 2 — specificity and sensitivity of an induction feature. Thin: options → InductionDeepDive.

import ArgumentParser
import Experiments
import ExperimentsCLI
import Foundation

struct InductionDeepDiveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "induction-deep-dive",
        abstract: "Specificity (activation histogram by proxy, expected value) and sensitivity (false negatives) of an induction feature.",
        discussion: "Default: the planted model, its default SAE and its best induction feature, found automatically.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var saeOptions: SAEOptions
    @Option(help: "The feature (default: the best induction feature on held-out rows).") var feature: Int?
    @Option(help: "The target token, as text (default: the feature's top logit-effect token).") var target: String?
    @Option(help: "Held-out rows of 128 tokens.") var rows = 512

    func validate() throws {
        try OptionCheck.range("--feature", feature, 0...(1 << 24))
        try OptionCheck.range("--rows", rows, OptionCheck.rows)
    }

    func run() throws {
        let c = try SectionContext(common, saeOptions, checkSAE: { try OptionCheck.range("--feature", feature, 0...($0.config.dSAE - 1)) })
        let (tokenizer, loaded, s) = (c.tokenizer, c.model, c.sae)
        var targetID: Int? = nil
        if let target {
            guard let t = tokenizer.singleToken(target) else { throw ValidationError("--target '\(target)' is not a single GPT-2 token") }
            targetID = t
        }
        let tokens = try c.heldOutRows(rows)
        var f = feature, t = targetID
        if f == nil {
            let best = try InductionDeepDive.bestFeature(model: loaded, sae: s, tokens: tokens)
            f = best.feature
            if t == nil { t = best.target }
            log("best induction feature: \(best.feature) → \(tokenizer.decode([best.target]).debugDescription)")
        }
        if t == nil {
            let logits = FeatureAttribution.logitEffects(s, features: [f!], wO: loaded.model.weights.blocks[s.config.layer!].wO, wU: loaded.model.weights.wU)
            t = logits.selecting(axis: 0, 0).topK(1).indices.values[0]
        }
        let r = try InductionDeepDive.run(model: loaded, sae: s, feature: f!, target: t!, tokens: tokens, tokenizer: tokenizer)
        let page = try InductionDeepDive.writeReport(r, model: loaded, sae: s, tokens: tokens, tokenizer: tokenizer,
                                                     to: try ReportFolder(common.output ?? "out/induction-deep-dive"))
        log(String(format: "feature %d → %@: specificity %.3f (%d of %d firings), sensitivity %.3f (%d false negatives of %d)",
                   r.feature, r.targetString.debugDescription, r.specificity, r.firingsWithProxy, r.firings, r.sensitivity, r.falseNegatives, r.proxyPositions))
        log("report: \(absolutePath(page))")
    }
}

InductionDeepDiveCommand.main()
