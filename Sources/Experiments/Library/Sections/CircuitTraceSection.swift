// CircuitTraceSection: recursive DFA and QK attribution on one prompt (the paper's authors' Attention
// Circuit Explorer, as a page): the strongest attention features at the last token of a prompt with a
// repeated phrase, traced back through the model — on the planted model, to the induction heads, the
// token after the earlier occurrence, and the previous-token head's output the query looked for.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

public struct CircuitTraceSection: Section {
    public static let id = ReportSection.circuitTrace
    /// The attention SAE of the site (and, on the planted model, the residual SAE the main job trained, if any).
    public let sae: AttentionSAE
    public var residual: [ResidualSAE]
    public var request: CircuitTraceRequest

    public init(sae: AttentionSAE, residual: [ResidualSAE] = [], request: CircuitTraceRequest = CircuitTraceRequest(prompt: CircuitTraceRequest.defaultPrompt)) {
        self.sae = sae; self.residual = residual; self.request = request
    }

    public func run(in workspace: Workspace, output: SectionOutput) throws -> SectionOutcome {
        let tracer = try CircuitTracer(model: workspace.model.model, attentionSAEs: [sae], residualSAEs: residual)
        let names = [sae.sae.config.provenance.path ?? "the site's SAE"] + residual.map { $0.sae.config.provenance.path ?? "residual SAE, layer \($0.layer)" }
        let report: CircuitTraceReport
        do {
            report = try CircuitTraceReport(tracer: tracer, tokenizer: workspace.tokenizer, model: workspace.model, saeNames: names, request: request)
        } catch let e as NoFeatureFires {
            return SectionOutcome(page: nil, headline: "not run: \(e)")
        }
        try report.write(to: output.folder, title: "Trace of a prompt (recursive DFA and QK attribution)", slug: "trace", up: output.up)
        return SectionOutcome(page: "index.html", headline: Self.headline(report))
    }

    /// The first traced feature's largest input term (source, token, strongest head) and its edge's top QK pair.
    static func headline(_ r: CircuitTraceReport) -> String {
        guard let root = r.graph.roots.first, let record = r.graph.record(root) else { return "nothing traced" }
        var s = "\(root) on \(CircuitTraceReport.visible(r.tokenStrings[root.position]))"
        let input = r.graph.incoming(root).filter { if case .bias = $0.source { false } else { true } }
        if let top = input.first, let v = record.value, v != 0 {
            s += String(format: ": %.0f%% from %@ %@", 100 * Double(top.weight / v), top.source.description, CircuitTraceReport.visible(r.tokenStrings[top.source.position]))
            if let h = top.strongestHead, let l = root.layer { s += " via " + r.headLabels[l][h] }
        }
        if let qk = r.graph.qk.first, let pair = qk.pairs.first {
            s += String(format: "; QK %@ (pattern %.2f): %.0f%% of the score from query %@ × key %@", r.headLabels[qk.layer][qk.head], Double(qk.pattern),
                        100 * Double(pair.value / qk.score), pair.query.description, pair.key.description)
        }
        return s
    }
}
