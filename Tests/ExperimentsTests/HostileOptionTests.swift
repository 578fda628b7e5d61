// HostileOptionTests: every option value that once crashed an executable with a trap (issue 14) now
// stops it before any work — no model run, no training — with an error naming the option and what
// is allowed. The executables are run as users run them.

import Foundation
import Testing

@Suite struct HostileOptionTests {
    /// Runs `executable arguments…` next to the test bundle and returns (exit status, standard error).
    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stderr: String, seconds: Double) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(executable)
        p.arguments = arguments
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        let start = Date()
        try p.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self), Date().timeIntervalSince(start))
    }

    /// (executable, arguments, text the error must contain): the values issue 14 found trapping, and more of the same kinds.
    static let cases: [(String, [String], String)] = [
        ("train-sae", ["--batch", "0"], "--batch"),
        ("train-sae", ["--checkpoint-every", "0"], "--checkpoint-every"),
        ("train-sae", ["--d-sae=-1"], "--d-sae"),
        ("train-sae", ["--d-sae", "128,0"], "--d-sae"),
        ("train-sae", ["--layer=-1"], "--layer"),
        ("train-sae", ["--l1", "nan"], "--l1"),
        ("train-sae", ["--eval-rows=-3"], "--eval-rows"),
        // Every numeric knob of the architectures and of the initialisation.
        ("train-sae", ["--architecture", "topk", "--k", "0"], "--k"),
        ("train-sae", ["--architecture", "jumprelu", "--l0-coeff=-1"], "--l0-coeff"),
        ("train-sae", ["--aux-coeff=-2"], "--aux-coeff"),
        ("train-sae", ["--aux-k", "0"], "--aux-k"),
        ("train-sae", ["--dead-window", "0"], "--dead-window"),
        ("train-sae", ["--bandwidth", "0"], "--bandwidth"),
        ("train-sae", ["--initial-threshold=-1"], "--initial-threshold"),
        ("train-sae", ["--l0-warmup=-5"], "--l0-warmup"),
        ("train-sae", ["--active-subspace-dim", "0"], "--active-subspace-dim"),
        ("train-sae", ["--lr", "2"], "--lr"),
        ("train-sae", ["--tokens", "0"], "--tokens"),
        ("train-sae", ["--buffer-rows", "2"], "--buffer-rows"),
        ("train-sae", ["--positions-per-row", "200"], "--positions-per-row"),
        ("inspect", ["test-prompt", "--prompt", "a", "--answer", " b", "--top-k", "60000"], "--top-k"),
        ("inspect", ["test-prompt", "--prompt", "a", "--answer", " b", "--top-k=-1"], "--top-k"),
        ("inspect", ["convert", "--sae-pt", "none.pt", "--heads=-1x32", "--to", "x"], "--heads"),
        ("inspect", ["convert", "--sae-pt", "none.pt", "--heads", "12x", "--to", "x"], "--heads"),
        ("inspect", ["corpus", "x", "--documents", "5000"], "--documents"),
        ("inspect", ["corpus", "x", "--characters", "0"], "--characters"),
        ("inspect", ["dump", "--text", "a", "--sae", "x", "--layer=-2", "--to", "x.safetensors"], "--layer"),
        ("feature-dashboards", ["--count=-1"], "--count"),
        ("feature-dashboards", ["--rows", "0"], "--rows"),
        ("feature-dashboards", ["--features", "3", "3"], "--features"),
        ("ioi-circuit", ["--prompts=-1"], "--prompts"),
        ("ioi-circuit", ["--patch-layers=-1"], "--patch-layers"),
        ("long-prefix-induction", ["--examples=-1"], "--examples"),
        ("long-prefix-induction", ["--long-head=-1"], "--long-head"),
        ("long-prefix-induction", ["--short-head", "12"], "--short-head"),   // the planted model has 12 heads
        ("long-prefix-induction", ["--layer", "2"], "--layer"),              // … and 2 layers
        ("top-features", ["--per-head", "0"], "--per-head"),
        ("induction-deep-dive", ["--feature=-1"], "--feature"),
        ("reproduce", ["--induction-heads", "12"], "--induction-heads"),
        ("reproduce", ["--dashboards=-1"], "--dashboards"),
        ("reproduce", ["--rows", "0"], "--rows"),
        // Every other numeric option of every command (issue 28's audit).
        ("train-sae", ["--layers", "0,5"], "--layers"),
        ("train-sae", ["--checkpoint-every=-1"], "--checkpoint-every"),
        ("reproduce", ["--layer", "7"], "--layer"),
        ("reproduce", ["--long-prefix-examples", "0"], "--long-prefix-examples"),
        ("reproduce", ["--long-prefix-rows=-1"], "--long-prefix-rows"),
        ("reproduce", ["--batch", "0"], "--batch"),
        ("long-prefix-induction", ["--rows", "0"], "--rows"),
        ("feature-dashboards", ["--layer", "9"], "--layer"),                 // the planted SAE reads layer 1
        ("feature-dashboards", ["--count", "100000000"], "--count"),
        ("top-features", ["--layer=-1"], "--layer"),
        ("top-features", ["--rows", "0"], "--rows"),
        ("induction-deep-dive", ["--layer", "0"], "--layer"),
        ("induction-deep-dive", ["--rows=-1"], "--rows"),
        ("ioi-circuit", ["--layer", "5"], "--layer"),
        ("ioi-circuit", ["--patch-layers", "9"], "--patch-layers"),
        ("circuit-explorer", ["trace", "--feature", "1.99999@3"], "--feature"),
        ("circuit-explorer", ["trace", "--feature", "7.3@3"], "--feature"),
        ("circuit-explorer", ["trace", "--feature", "1.3@900"], "--feature"),
        ("circuit-explorer", ["trace", "--feature", "1.-3@2"], "--feature"),
        ("circuit-explorer", ["trace", "--position", "9999"], "--position"),
        ("circuit-explorer", ["trace", "--position=-3"], "--position"),
        ("circuit-explorer", ["trace", "--top", "0"], "--top"),
        ("circuit-explorer", ["trace", "--depth", "1000"], "--depth"),
        ("circuit-explorer", ["trace", "--max-children", "0"], "--max-children"),
        ("circuit-explorer", ["trace", "--threshold", "nan"], "--threshold"),
        ("circuit-explorer", ["trace", "--qk-edges=-1"], "--qk-edges"),
        ("circuit-explorer", ["trace", "--qk-pairs", "0"], "--qk-pairs"),
        ("circuit-explorer", ["serve", "--port", "70000"], "--port"),
        ("circuit-explorer", ["serve", "--max-prompt-bytes", "0"], "--max-prompt-bytes"),
        ("circuit-explorer", ["serve", "--max-tokens", "0"], "--max-tokens"),
        ("circuit-explorer", ["serve", "--cache-mb", "0"], "--cache-mb"),
        ("circuit-explorer", ["serve", "--concurrency", "100000"], "--concurrency"),
        ("inspect", ["test-prompt", "--prompt", "a", "--answer", " b", "--top-k", "0"], "--top-k"),
        ("inspect", ["corpus", "x", "--characters=-1"], "--characters"),
        ("inspect", ["convert", "--sae-pt", "none.pt", "--heads", "100000x64", "--to", "x"], "--heads"),
        ("inspect", ["dump", "--text", "a", "--hooks", "blocks.0.hook_resid_pre", "--layer", "3", "--to", "x.safetensors"], "--layer"),
        ("inspect", ["dump", "--tokens", "1,99999999", "--hooks", "blocks.0.hook_resid_pre", "--to", "x.safetensors"], "--tokens"),
    ]

    /// The value given to `option` in `arguments` (`--option value` or `--option=value`).
    static func value(of option: String, in arguments: [String]) -> String? {
        if let i = arguments.firstIndex(of: option), i + 1 < arguments.count { return arguments[i + 1] }
        return arguments.first { $0.hasPrefix(option + "=") }.map { String($0.dropFirst(option.count + 1)) }
    }

    @Test func badOptionsStopBeforeAnyWork() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-options-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        var problems: [String] = []
        for (executable, arguments, says) in Self.cases {
            let extra = executable == "inspect" ? [] : ["--output", out]
            let r = try Self.run(executable, arguments + extra)
            let line = "\(executable) \(arguments.joined(separator: " ")): status \(r.status), \(r.stderr.prefix(300))"
            // 64: ArgumentParser's validation; 1: a typed error from the runner. A trap is 132–139.
            if ![64, 1].contains(r.status) || !r.stderr.contains("Error: ") || !r.stderr.contains(says) { problems.append(line) }
            // The error names the option, the value given and what is allowed.
            // (For a list, the element at fault.)
            if let value = Self.value(of: says, in: arguments),
               !value.split(separator: ",").contains(where: { r.stderr.contains($0) }) || !r.stderr.contains("allowed") {
                problems.append("does not name the value '\(value)' and what is allowed: " + line)
            }
            // Before any work: no training and no report.
            if r.seconds > 60 || FileManager.default.fileExists(atPath: out + "/index.html") { problems.append("did work: " + line) }
        }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }
}
