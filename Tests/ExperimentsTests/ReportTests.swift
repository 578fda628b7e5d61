// ReportTests: escaping, CSV quoting, atomic writes, charts, and the inputs' up-front checks.

import Foundation
import Testing
import TensorTestSupport
@testable import Experiments
import Interp
import SparseAutoencoder
import Tensor
import Transformer

@Suite struct ReportTests {
    @Test func escapingCoversEveryMarkupCharacter() {
        #expect(HTML.escape("<a href=\"x\">&'</a>") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;")
        #expect(HTML.token(" <\n") == "&nbsp;&lt;↵")
    }

    @Test func csvQuotesFieldsThatNeedIt() throws {
        let dir = temporaryDirectory().path
        let folder = try ReportFolder(dir)
        try folder.writeCSV(header: ["a", "b"], rows: [["1", "x,y"], ["\"q\"", "line\nbreak"]], to: "t.csv")
        let text = try String(contentsOfFile: dir + "/t.csv", encoding: .utf8)
        #expect(text == "a,b\n1,\"x,y\"\n\"\"\"q\"\"\",\"line\nbreak\"\n")
        // \r alone or in \r\n (one Character in Swift) is quoted; formulas are neutralised, numbers kept.
        #expect(CSV.field("a\r\nb") == "\"a\r\nb\"" && CSV.field("a\rb") == "\"a\rb\"")
        #expect(CSV.field("=HYPERLINK(\"x\")") == "\"'=HYPERLINK(\"\"x\"\")\"")
        #expect(["+1+1", "-cmd", "@SUM(A1)", "\tx"].map(CSV.field) == ["'+1+1", "'-cmd", "'@SUM(A1)", "'\tx"])
        #expect(["-0.5", "+3", "-1e-05", "x-y", " -"].map(CSV.field) == ["-0.5", "+3", "-1e-05", "x-y", " -"])
        // No temporary files are left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["t.csv"])
    }

    @Test func chartsAreWellFormedSVG() throws {
        let line = SVGChart.lines([("loss", [(1, 2), (2, 1), (3, 0.5)]), ("l2", [(1, 1), (3, 0.25)])], xLabel: "step", yLabel: "loss <&>", logY: true)
        let bars = SVGChart.bars(labels: ["a", "<b>"], series: [("x", [1, -2]), ("y", [0.5, 0])], yLabel: "v")
        for svg in [line, bars] {
            #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>"))
            // Parses as XML, so every label was escaped.
            #expect(XMLParserCheck.isWellFormed(svg))
        }
        #expect(line.contains("polyline") && bars.contains("<rect"))
        #expect(SVGChart.lines([], xLabel: "x", yLabel: "y").contains("no data"))
    }

    @Test func inputsAreCheckedWithClearErrors() throws {
        let missing = ExperimentInputs(modelPath: "/nonexistent/model.safetensors")
        #expect { try missing.loadModel() } throws: { ($0 as? ExperimentInputError)?.detail.contains("/nonexistent/model.safetensors") == true }
        let corpus = ExperimentInputs(corpus: ["/nonexistent/corpus"])
        #expect { try corpus.corpusSpec() } throws: { ($0 as? ExperimentInputError)?.detail.contains("/nonexistent/corpus") == true }
        let tokenizer = ExperimentInputs(tokenizerDirectory: "/nonexistent")
        #expect { try tokenizer.loadTokenizer() } throws: { ($0 as? ExperimentInputError)?.detail.contains("encoder.json") == true }
        // Corpus kinds by extension and header.
        let dir = temporaryDirectory().path
        #expect(FileManager.default.createFile(atPath: dir + "/a.jsonl", contents: Data("{\"text\": \"x\"}\n".utf8)))
        #expect(try ExperimentInputs(corpus: [dir + "/a.jsonl"]).corpusSpec() == .jsonl([dir + "/a.jsonl"], field: "text"))
        var header = [Int32](repeating: 0, count: 256)
        header[0] = 20240520; header[1] = 1
        #expect(FileManager.default.createFile(atPath: dir + "/b.bin", contents: header.withUnsafeBytes { Data($0) }))
        #expect(try ExperimentInputs(corpus: [dir + "/b.bin"]).corpusSpec() == .llmcBin([dir + "/b.bin"]))
        #expect(FileManager.default.createFile(atPath: dir + "/c.bin", contents: Data([1, 0, 2, 0])))
        #expect(try ExperimentInputs(corpus: [dir + "/c.bin"]).corpusSpec() == .nanoGPTBin([dir + "/c.bin"]))
    }
}

/// XML well-formedness through Foundation's parser.
enum XMLParserCheck {
    static func isWellFormed(_ s: String) -> Bool {
        #if canImport(FoundationXML)
        return FoundationXMLCheck.parse(s)
        #else
        return XMLParser(data: Data(s.utf8)).parse()
        #endif
    }
}

#if canImport(FoundationXML)
import FoundationXML
enum FoundationXMLCheck { static func parse(_ s: String) -> Bool { XMLParser(data: Data(s.utf8)).parse() } }
#endif

@Suite struct TokenLabelTests {
    @Test func loneSpacesAndNewlinesAreVisible() {
        #expect(HTML.tokenLabel(" ") == "␣" && HTML.tokenLabel("\n<") == "↵&lt;" && HTML.tokenLabel(" the") == "␣the")
    }
}
