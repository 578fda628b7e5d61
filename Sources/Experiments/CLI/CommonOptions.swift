// CommonOptions: the options every experiment executable shares (model, tokenizer, corpus, output, seed).

import ArgumentParser
import Experiments
import Foundation

public struct CommonOptions: ParsableArguments {
    @Option(help: "GPT-2 model file (tf_model.h5, model.safetensors or our HDF5); default: the planted-circuit model.")
    public var model: String?
    @Option(help: "Folder with encoder.json and vocab.bpe; default: the cache's gpt2-tokenizer.")
    public var tokenizer: String?
    @Option(parsing: .upToNextOption, help: "Corpus files or folders (text, .jsonl, nanoGPT/llm.c .bin); default: the Python documentation.")
    public var corpus: [String] = []
    @Option(help: "Report folder (default: out/<command>).")
    public var output: String?
    @Option(help: "Seed.")
    public var seed: UInt64 = 0

    public init() {}

    public var inputs: ExperimentInputs { ExperimentInputs(modelPath: model, tokenizerDirectory: tokenizer, corpus: corpus) }
}

/// Progress and summaries go to standard output, line by line.
public func log(_ line: String) { FileHandle.standardOutput.write((line + "\n").data(using: .utf8)!) }

/// The absolute path of a written page, for the last line of a run.
public func absolutePath(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
