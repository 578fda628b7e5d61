// LongPrefixInductionTests: on the planted-circuit model the experiment separates the two heads as
// planted — the long-prefix head needs two matching tokens, the short-prefix head one.

import Foundation
import Testing
import TensorTestSupport
@testable import Experiments
import Interp
import SparseAutoencoder
import Tensor
import Transformer

@Suite struct LongPrefixInductionTests {
    @Test func plantedHeadsShowTheExpectedContrasts() throws {
        let workspace = try plantedWorkspace()
        var s = LongPrefixSettings.planted(.standard)
        s.examples = 24
        s.maxPrefix = 4
        s.detectionRows = 96
        s.interventionRows = 96
        let section = LongPrefixInductionSection(settings: s)
        let r = try section.measure(workspace, rows: try workspace.trainingRows(96))
        #expect(r.long.head == "1.1" && r.short.head == "1.5")
        #expect(r.long.inductionScore[0] < 0.3 && r.long.inductionScore[2] > 0.7, "long-prefix head by prefix: \(r.long.inductionScore)")
        #expect(r.short.inductionScore.allSatisfy { $0 > 0.8 }, "short-prefix head by prefix: \(r.short.inductionScore)")
        // DLA follows attention: the long head helps only from prefix 2 on.
        #expect(r.long.dla[0] < 0.25 * r.long.dla[2] && r.short.dla[0] > 0.5 * r.short.dla[2], "DLA long \(r.long.dla), short \(r.short.dla)")
        // Cutting detected long prefixes to 1 removes the long head's attention.
        #expect(r.long.interventionExamples > 0 && r.long.clean > 0.7 && r.long.corrupted < 0.3, "long: \(r.long.clean) → \(r.long.corrupted)")
        // The report: page and data, every figure present.
        let dir = temporaryDirectory().path
        try section.writeReport(r, to: try ReportFolder(dir), isPlanted: true, up: nil)
        let html = try String(contentsOfFile: dir + "/index.html", encoding: .utf8)
        #expect(html.components(separatedBy: "<svg").count - 1 == 4)
        for f in ["by-prefix-length.csv", "detected-prefix-lengths.csv", "result.json"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/" + f))
        }
    }
}
