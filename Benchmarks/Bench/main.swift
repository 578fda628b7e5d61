// bench: the benchmark executable behind `Scripts/bench`. Each suite measures this package against a
// baseline run in the same process (raw OpenBLAS, memcpy) or in the same script run (PyTorch, whose
// timings arrive as a JSON file), and ends with one RESULT line per figure:
//
//   RESULT <name> <value> <unit> ratio=<value/baseline> baseline=<what>
//
// Usage: bench [--torch-baseline FILE] [suite ...]   (suites: tensor, transformer, sae, interp; no suite = all)

import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
var torchBaselinePath: String? = nil
var suites: [String] = []
var i = 0
while i < arguments.count {
    if arguments[i] == "--torch-baseline", i + 1 < arguments.count {
        torchBaselinePath = arguments[i + 1]
        i += 2
    } else {
        suites.append(arguments[i])
        i += 1
    }
}
let allSuites = ["tensor", "transformer", "sae", "interp"]
if suites.isEmpty { suites = allSuites }
for s in suites where !allSuites.contains(s) {
    FileHandle.standardError.write("bench: unknown suite '\(s)'; suites are: \(allSuites.joined(separator: ", "))\n".data(using: .utf8)!)
    exit(2)
}

/// Timings (seconds) measured by the PyTorch baseline script, keyed by figure name.
let torchTimings: [String: Double] = {
    guard let path = torchBaselinePath, let data = FileManager.default.contents(atPath: path),
          let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
    return json.compactMapValues { ($0 as? NSNumber)?.doubleValue }
}()

var results: [String] = []
for suite in suites {
    switch suite {
    case "tensor": results += TensorSuite.run(torch: torchTimings)
    case "transformer":
        results += TransformerSuite.run(torch: torchTimings, sgemmGFLOPs: TensorSuite.measuredPeak)
        results += TokenizerBench.run(torch: torchTimings)
    case "sae": results += SAESuite.run(torch: torchTimings)
    case "interp": results += InterpSuite.run()
    default: break
    }
}
print("")
for line in results { print(line) }
