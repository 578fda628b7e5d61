// sae-training-process: a training run on seeded synthetic activations, used by the resume test
// (SparseAutoencoderTests) to SIGKILL a real training process mid-run and resume it.
//
//   sae-training-process CHECKPOINT OUT STEPS EVERY [--resume] [--sleep-ms N]
//
// Batches depend only on the step index, so an interrupted and resumed run sees the same data as an
// uninterrupted one. A checkpoint is written atomically every EVERY steps; at the end the final
// state (the same checkpoint format, with the full metric history) goes to OUT.

import Foundation
import SparseAutoencoder

let args = CommandLine.arguments
guard args.count >= 5, let steps = Int(args[3]), let every = Int(args[4]) else {
    FileHandle.standardError.write("usage: sae-training-process CHECKPOINT OUT STEPS EVERY [--resume] [--sleep-ms N]\n".data(using: .utf8)!)
    exit(2)
}
let checkpoint = args[1], out = args[2]
let resume = args.contains("--resume")
let sleepMs = args.firstIndex(of: "--sleep-ms").flatMap { Int(args[$0 + 1]) } ?? 0

var trainer: SAETrainer
var rng: RandomStream
var history: [StepMetrics]
if resume, FileManager.default.fileExists(atPath: checkpoint) {
    let loaded = try SAETrainer.loadCheckpoint(from: checkpoint)
    (trainer, history) = (loaded.trainer, loaded.history)
    rng = loaded.rngs["resample"]!
} else {
    var sae = SAETrainer.initialSAE(SAEConfig(dIn: 16, dSAE: 48, hookName: "blocks.0.attn.hook_z"), seed: 3)
    sae.bEnc = Tensor((0..<48).map { $0 % 6 == 0 ? -40 : 0 })
    var config = SAETrainingConfig()
    config.schedEpochs = 10
    config.schedWarmupEpochs = 10
    trainer = SAETrainer(sae: sae, config: config)
    rng = RandomStream(seed: 4)
    history = []
}
var resampling = ResamplingConfig()
resampling.reinitEvery = 8
resampling.resampleLast = 8
resampling.resampleBatches = 2
for i in trainer.step..<steps {
    var data = RandomStream(seed: UInt64(100 + i))
    history.append(try trainer.step(Tensor.randomNormal([32, 16], using: &data)))
    var extra = RandomStream(seed: UInt64(900 + i))
    trainer.endOfStep(i, resampling: resampling, rng: &rng, nextBatch: { Tensor.randomNormal([32, 16], using: &extra) })
    if (i + 1) % every == 0 { try trainer.saveCheckpoint(to: checkpoint, rngs: ["resample": rng], history: history) }
    if sleepMs > 0 { usleep(UInt32(sleepMs * 1000)) }
}
try trainer.saveCheckpoint(to: out, rngs: ["resample": rng], history: history)
