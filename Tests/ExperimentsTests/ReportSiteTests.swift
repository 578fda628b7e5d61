// ReportSiteTests: `reproduce` writes one site — every section's page exists, the index links each one,
// every local link of every page resolves — here with a tiny recipe; a given SAE skips training.

import Foundation
import Testing
import TensorTestSupport
@testable import Experiments
import Interp
import SparseAutoencoder
import Tensor
import Transformer

@Suite struct ReportSiteTests {
    /// Every `href`/`src` of the site's HTML pages that is not external points at a file that exists.
    static func brokenLinks(in root: String) throws -> [String] {
        var broken: [String] = []
        let files = FileManager.default.enumerator(atPath: root)!.compactMap { $0 as? String }.filter { $0.hasSuffix(".html") }
        let pattern = try NSRegularExpression(pattern: "(?:href|src)=\"([^\"#]+)\"")
        for f in files {
            let html = try String(contentsOfFile: root + "/" + f, encoding: .utf8)
            for m in pattern.matches(in: html, range: NSRange(html.startIndex..., in: html)) {
                let target = String(html[Range(m.range(at: 1), in: html)!])
                guard !target.contains("://") else { continue }
                let resolved = ((root + "/" + f) as NSString).deletingLastPathComponent + "/" + target
                if !FileManager.default.fileExists(atPath: (resolved as NSString).standardizingPath) { broken.append("\(f) → \(target)") }
            }
        }
        return broken
    }

    static func tinySettings(_ output: String) -> ReportSiteSettings {
        var training = TrainSAESettings.planted()
        training.dSAE = 256
        training.trainingTokens = 512 * 24
        training.bufferRows = 4096
        training.evaluationRows = 4
        var s = ReportSiteSettings(training: training, output: output)
        s.analysisRows = 12
        s.dashboards = 3
        s.longPrefixExamples = 8
        s.longPrefixRows = 24
        return s
    }

    @Test func everySectionIntoOneSite() throws {
        let dir = temporaryDirectory().path
        var lines: [String] = []
        let index = try ReportSite.run(inputs: ExperimentInputs(), settings: Self.tinySettings(dir)) { lines.append($0) }
        #expect(index == dir + "/index.html")
        let summary = try JSONDecoder().decode(ReportSiteSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json")))
        #expect(summary.sections.map(\.section) == ReportSection.allCases)
        let html = try String(contentsOfFile: index, encoding: .utf8)
        for s in summary.sections where !s.page.isEmpty {
            #expect(FileManager.default.fileExists(atPath: dir + "/" + s.page), "\(s.section) page \(s.page)")
            #expect(html.contains("href=\"\(s.page)\""))
            let page = try String(contentsOfFile: dir + "/" + s.page, encoding: .utf8)
            #expect(page.contains("href=\"../index.html\""), "\(s.page) links back to the index")
        }
        #expect(FileManager.default.fileExists(atPath: dir + "/train-sae/sae/cfg.json"))
        #expect(try Self.brokenLinks(in: dir) == [])
        #expect(lines.contains { $0.hasPrefix("── ioi-circuit") } && lines.contains { $0.hasPrefix("done in") })
        // The tiny recipe leaves the cached default SAE alone.
        #expect(summary.trainingTokens == 512 * 24)
    }

    @Test func aGivenSAEIsEvaluatedNotTrained() throws {
        let dir = temporaryDirectory().path
        let saeDir = temporaryDirectory().path
        let sae = SAETrainer.initialSAE(SAEConfig(dIn: 768, dSAE: 48, hookName: "blocks.1.attn.hook_z", headLayout: HeadLayout(nHeads: 12, dHead: 64)), seed: 3)
        try sae.save(saeLens: saeDir)
        var s = Self.tinySettings(dir)
        s.sae = saeDir
        s.skip = [.longPrefixInduction, .ioiCircuit, .topFeatures]
        var lines: [String] = []
        try ReportSite.run(inputs: ExperimentInputs(), settings: s) { lines.append($0) }
        let summary = try JSONDecoder().decode(ReportSiteSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json")))
        #expect(summary.trainingTokens == 0 && summary.dSAE == 48)
        #expect(!summary.sections.contains { s.skip.contains($0.section) })
        #expect(!lines.contains { $0.contains("step ") })
        #expect(!FileManager.default.fileExists(atPath: dir + "/ioi-circuit"))
        #expect(try Self.brokenLinks(in: dir) == [])
        // A mismatched SAE fails before any work.
        let bad = temporaryDirectory().path
        try SAETrainer.initialSAE(SAEConfig(dIn: 64, dSAE: 8, hookName: "blocks.1.attn.hook_z"), seed: 1).save(saeLens: bad)
        s.sae = bad
        s.output = temporaryDirectory().path + "/never"
        #expect(throws: ExperimentInputError.self) { try ReportSite.run(inputs: ExperimentInputs(), settings: s) { _ in } }
        #expect(!FileManager.default.fileExists(atPath: s.output))
    }

    /// The site's sections are every section after training, in the index's order, each in its own folder.
    @Test func theSiteRunsEverySectionInOrder() throws {
        let workspace = try plantedWorkspace()
        var sae = SAETrainer.initialSAE(SAEConfig(dIn: 768, dSAE: 16, hookName: "blocks.1.attn.hook_z"), seed: 1)
        sae.bEnc = Tensor(repeating: -1000, shape: [16])                                // nothing fires
        let analysis = SAEAnalysis(sae: try attention(sae), rows: try workspace.heldOutRows(2), inductionHeads: [1])
        let sections = ReportSite.plan(ReportSiteSettings(training: .planted(), output: ""), workspace: workspace, analysis: analysis,
                                       search: InductionSearch(scores: []), dashboards: [])
        #expect([ReportSection.trainSAE] + sections.map { type(of: $0).id } == ReportSection.allCases)
        #expect(Set(ReportSection.allCases.map(\.folder)).count == ReportSection.allCases.count)
        // With no feature firing, the deep dive has nothing to show: no page, a headline that says so.
        let dir = temporaryDirectory().path
        let outcome = try InductionDeepDiveSection(analysis: analysis).run(in: workspace, output: SectionOutput(folder: try ReportFolder(dir)))
        #expect(outcome.page == nil && outcome.headline.hasPrefix("not run"))
        #expect(try InductionDeepDiveSection(analysis: analysis).runAlone(in: workspace, output: dir) == "")
    }
}
