// bench: the benchmark executable behind `Scripts/bench`. Each suite measures this package against a
// baseline run in the same process (raw OpenBLAS, memcpy) or in the same script run (PyTorch, whose
// timings arrive as a JSON file), and ends with one RESULT line per figure:
//
//   RESULT <name> <value> <unit> ratio=<value/baseline> baseline=<what>
//
// Usage: bench [--torch-baseline FILE] [--mpi-baseline FILE] [suite ...]   (suites: tensor, transformer, sae,
//        interp, train, trace, explorer, neuronpedia; no suite = all)
//        bench --mpi-train OUT.json   (under mpirun: the train suite's data-parallel figure)

import Foundation
import SAEDistributed
import Tensor
import Transformer
import SparseAutoencoder
import Interp

let arguments = Array(CommandLine.arguments.dropFirst())
var torchBaselinePath: String? = nil, mpiBaselinePath: String? = nil
var suites: [String] = []
var i = 0
if arguments.count == 2 && arguments[0] == "--mpi-train" {
    guard let ranks = try MPICollective.fromLaunch() else {
        FileHandle.standardError.write("bench --mpi-train runs under mpirun\n".data(using: .utf8)!)
        exit(2)
    }
    TrainSuite.mpiPart(output: arguments[1], ranks: ranks)
    exit(0)
}
while i < arguments.count {
    if arguments[i] == "--torch-baseline", i + 1 < arguments.count {
        torchBaselinePath = arguments[i + 1]
        i += 2
    } else if arguments[i] == "--mpi-baseline", i + 1 < arguments.count {
        mpiBaselinePath = arguments[i + 1]
        i += 2
    } else {
        suites.append(arguments[i])
        i += 1
    }
}
let allSuites = ["tensor", "transformer", "sae", "interp", "train", "trace", "explorer", "neuronpedia"]
if suites.isEmpty { suites = allSuites }
for s in suites where !allSuites.contains(s) {
    FileHandle.standardError.write("bench: unknown suite '\(s)'; suites are: \(allSuites.joined(separator: ", "))\n".data(using: .utf8)!)
    exit(2)
}

/// A JSON object of numbers (a baseline's figures), or empty.
func figures(_ path: String?) -> [String: Double] {
    guard let path, let data = FileManager.default.contents(atPath: path),
          let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
    return json.compactMapValues { ($0 as? NSNumber)?.doubleValue }
}

/// Timings (seconds) measured by the PyTorch baseline script, keyed by figure name.
let torchTimings = figures(torchBaselinePath)

BLAS.configure()
Timing.log("bench: products on \(BLAS.libraryName); C kernels at \(KernelPath.active.rawValue) width (this CPU runs \(KernelPath.supported.map(\.rawValue).joined(separator: ", ")))")
// The physical floor of every matrix product: the machine's multiply-add rate, measured once.
let peak: Double? = suites.contains("tensor") || suites.contains("transformer") ? {
    let p = Kernels.arithmeticPeak()
    Timing.log("arithmetic peak: \(p)")
    return p.gflops
}() : nil
var results: [String] = []
for suite in suites {
    switch suite {
    case "tensor": results += TensorSuite.run(torch: torchTimings, arithmeticPeak: peak)
    case "transformer":
        results += TransformerSuite.run(torch: torchTimings, sgemmGFLOPs: TensorSuite.measuredPeak, arithmeticPeak: peak)
        results += TokenizerBench.run(torch: torchTimings)
    case "sae": results += SAESuite.run(torch: torchTimings)
    case "interp": results += InterpSuite.run()
    case "trace": results += TraceSuite.run(torch: torchTimings)
    case "explorer": results += ExplorerSuite.run(torch: torchTimings)
    case "neuronpedia": results += NeuronpediaSuite.run()
    case "train": results += TrainSuite.run(torch: torchTimings, mpi: figures(mpiBaselinePath))
    default: break
    }
}
print("")
for line in results { print(line) }
