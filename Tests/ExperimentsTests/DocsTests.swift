// DocsTests: the documentation a clone has is the documentation the code has — every reference in the
// repository resolves inside it (files, Method.md sections), nothing cites documents the repository
// does not contain, and every option a page shows exists on its command.

import Foundation
import Testing
import TensorTestSupport

@Suite struct DocsTests {
    static let root = fixturesDirectory(ofTarget: "ExperimentsTests").deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The repository's text files: sources, docs, scripts, tests (not their fixtures), benchmarks.
    static func textFiles() throws -> [URL] {
        var out = [root.appendingPathComponent("README.md"), root.appendingPathComponent("Package.swift")]
        for dir in ["Sources", "Docs", "Scripts", "Tests", "Benchmarks", "Fuzz/Sources", ".ci"] {
            guard let e = FileManager.default.enumerator(at: root.appendingPathComponent(dir), includingPropertiesForKeys: nil) else { continue }
            while let url = e.nextObject() as? URL {
                if url.lastPathComponent == "Fixtures" || url.lastPathComponent == ".build" { e.skipDescendants(); continue }
                if ["swift", "md", "py", "sh", "js", "html", "css", ""].contains(url.pathExtension),
                   (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true { out.append(url) }
            }
        }
        return out
    }

    static func matches(_ pattern: String, in text: String) -> [[String]] {
        let re = try! NSRegularExpression(pattern: pattern)
        return re.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { m in
            (0..<m.numberOfRanges).map { Range(m.range(at: $0), in: text).map { String(text[$0]) } ?? "" }
        }
    }

    @Test func everyReferenceResolvesInsideTheRepository() throws {
        let method = try String(contentsOf: Self.root.appendingPathComponent("Docs/Method.md"), encoding: .utf8)
        let sections = Set(Self.matches(#"(?m)^#{2,3} (\d+(?:\.\d+)?)[. ]"#, in: method).map { $0[1] })
        var problems: [String] = []
        let files = try Self.textFiles()
        #expect(files.count > 100)
        for url in files {
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            let name = url.path.replacingOccurrences(of: Self.root.path + "/", with: "")
            if name == "Tests/ExperimentsTests/DocsTests.swift" { continue }
            for bad in ["SPEC §", "SPEC.md", "SPEC decision", "DESIGN.md", "REFERENCE.md", "STYLE.md", "shared/docs"] where text.contains(bad) {
                problems.append("\(name) cites \(bad), which the repository does not have")
            }
            for m in Self.matches(#"Method\.md §(\d+(?:\.\d+)?)"#, in: text) where !sections.contains(m[1]) {
                problems.append("\(name) cites Method.md §\(m[1]), which has no such section")
            }
            for m in Self.matches(#"\bDocs/([A-Za-z0-9_./-]+\.(?:md|png))"#, in: text) {
                if !FileManager.default.fileExists(atPath: Self.root.appendingPathComponent("Docs/" + m[1]).path) { problems.append("\(name) names Docs/\(m[1]), which does not exist") }
            }
            if url.pathExtension == "md" {
                for m in Self.matches(#"\]\(([^)#:\s]+\.(?:md|png))(?:#[^)]*)?\)"#, in: text) {
                    let target = url.deletingLastPathComponent().appendingPathComponent(m[1]).standardizedFileURL.path
                    if !FileManager.default.fileExists(atPath: target) { problems.append("\(name) links \(m[1]), which does not exist") }
                }
            }
        }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// Options of other programs that the pages show beside ours.
    static let otherPrograms: Set<String> = ["--allow-run-as-root", "--oversubscribe", "--help"]

    /// `executable [subcommand] --help` of every subcommand listed.
    static func helpText(_ executable: String) throws -> String {
        func run(_ arguments: [String]) throws -> String { try runExecutable(executable, arguments).stdout }
        let top = try run(["--help"])
        var all = top
        if let start = top.range(of: "SUBCOMMANDS:") {
            for line in top[start.upperBound...].split(separator: "\n") {
                guard let word = line.split(separator: " ").first, line.hasPrefix("  "), word.allSatisfy({ $0.isLetter || $0 == "-" }) else { continue }
                all += try run([String(word), "--help"])
            }
        }
        return all
    }

    @Test(arguments: ["circuit-explorer", "feature-dashboards", "induction-deep-dive", "inspect", "ioi-circuit", "long-prefix-induction",
                      "reproduce", "top-features", "train-sae"])
    func everyOptionAPageShowsExistsOnItsCommand(_ command: String) throws {
        let page = try String(contentsOf: Self.root.appendingPathComponent("Docs/experiments/\(command).md"), encoding: .utf8)
        let help = try Self.helpText(command)
        #expect(help.contains("USAGE"), "\(command) --help printed no usage")
        let shown = Set(Self.matches(#"(?<![\w-])(--[a-z][a-z0-9-]+)"#, in: page).map { $0[1] }).subtracting(Self.otherPrograms)
        let missing = shown.filter { option in !help.contains(option + " ") && !help.contains(option + "\n") && !help.contains(option + ",") && !help.contains(option + "=") && !help.contains(option + ">") }
        #expect(missing.isEmpty, "Docs/experiments/\(command).md shows \(missing.sorted()) which \(command) does not have")
        // And the other way: every option of the command's own (the shared ones are on Docs/Experiments.md).
        let own = Set(Self.matches(#"(?m)^\s+(--[a-z][a-z0-9-]+)"#, in: help).map { $0[1] }).subtracting(Self.sharedOptions)
        let undocumented = own.filter { !page.contains($0) }
        #expect(undocumented.isEmpty, "Docs/experiments/\(command).md does not mention \(undocumented.sorted())")
    }

    /// CommonOptions, the SAE options and ArgumentParser's own: documented once, on Docs/Experiments.md.
    static let sharedOptions: Set<String> = ["--model", "--config", "--tokenizer", "--corpus", "--text-field", "--row-recipe", "--pad-token",
                                            "--output", "--seed", "--sae", "--cfg", "--layer", "--help", "--version"]

    @Test func theSharedOptionsAreDocumentedOnce() throws {
        let page = try String(contentsOf: Self.root.appendingPathComponent("Docs/Experiments.md"), encoding: .utf8)
        #expect(Self.sharedOptions.subtracting(["--help", "--version"]).filter { !page.contains($0) }.isEmpty)
    }
}
