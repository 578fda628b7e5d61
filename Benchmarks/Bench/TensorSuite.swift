// TensorSuite: matmul GFLOP/s against raw cblas_sgemm, and softmax / layer norm / elementwise GB/s
// against memcpy of the same bytes; optionally each against PyTorch on the same shapes.

import CBLAS
import Foundation
import Tensor
import Transformer
import SparseAutoencoder
import Interp

enum TensorSuite {
    /// The raw sgemm throughput measured on the MLP-in shape (GFLOP/s), for other suites' shares.
    nonisolated(unsafe) static var measuredPeak: Double? = nil

    /// A matrix product as the SAE and transformer run it: `op(A)[m, k] · op(B)[k, n]`.
    struct Product {
        let name: String, m: Int, k: Int, n: Int, transA: Bool, transB: Bool
        var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
    }

    /// The SAE step's products (d_in 768, d_sae 24576, batch 4096) and the transformer's MLP-in.
    static let products = [
        Product(name: "sae_encoder", m: 4096, k: 768, n: 24576, transA: false, transB: false),        // x · W_enc
        Product(name: "sae_decoder", m: 4096, k: 24576, n: 768, transA: false, transB: false),        // f · W_dec
        Product(name: "sae_grad_W_dec", m: 24576, k: 4096, n: 768, transA: true, transB: false),      // fᵀ · dx̂
        Product(name: "sae_grad_acts", m: 4096, k: 768, n: 24576, transA: false, transB: true),       // dx̂ · W_decᵀ
        Product(name: "sae_grad_W_enc", m: 768, k: 4096, n: 24576, transA: true, transB: false),      // xᵀ · dpre
        Product(name: "mlp_in", m: 1024, k: 768, n: 3072, transA: false, transB: false),              // resid · W_in
    ]

    static func run(torch: [String: Double], arithmeticPeak: Double?) -> [String] {
        var out: [String] = []
        var rng = RandomStream(seed: 1)
        Timing.log("tensor suite: \(Parallel.workerCount) workers")
        let others = otherLibraries()
        for p in products {
            let a = Tensor.randomUniform(p.transA ? [p.k, p.m] : [p.m, p.k], low: -1, high: 1, using: &rng)
            let b = Tensor.randomUniform(p.transB ? [p.n, p.k] : [p.k, p.n], low: -1, high: 1, using: &rng)
            var c = Tensor(zeros: [p.m, p.n])
            var raw = [Float](repeating: 0, count: p.m * p.n)
            let reps = p.flops > 1e10 ? 3 : 10
            let (ours, baseline) = Timing.interleaved(rounds: reps, ours: {
                Tensor.gemm(p.transA ? a.transposed() : a, p.transB ? b.transposed() : b, into: &c)
            }, baseline: {
                // Raw OpenBLAS with its own threads, exactly one call.
                openblas_set_num_threads(Int32(Parallel.workerCount))
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        cblas_sgemm(CblasRowMajor, p.transA ? CblasTrans : CblasNoTrans, p.transB ? CblasTrans : CblasNoTrans,
                                    Int32(p.m), Int32(p.n), Int32(p.k), 1, pa.baseAddress, Int32(p.transA ? p.m : p.k),
                                    pb.baseAddress, Int32(p.transB ? p.k : p.n), 0, &raw, Int32(p.n))
                    }
                }
                openblas_set_num_threads(1)
            })
            let gflops = p.flops / ours / 1e9
            if p.name == "mlp_in" { measuredPeak = p.flops / baseline / 1e9 }
            // The same product on every other BLAS at hand (its own threads, one call): the best of them
            // and OpenBLAS is the bar the products must come within 0.95 of.
            var best = (name: "OpenBLAS \(BLAS.coreName)", time: baseline)
            for lib in others {
                lib.setThreads(Parallel.workerCount)
                let t = Timing.best(reps: reps) {
                    a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in raw.withUnsafeMutableBufferPointer { pc in
                        lib.sgemm(CblasRowMajor.rawValue, (p.transA ? CblasTrans : CblasNoTrans).rawValue, (p.transB ? CblasTrans : CblasNoTrans).rawValue,
                                  Int32(p.m), Int32(p.n), Int32(p.k), 1, pa.baseAddress, Int32(p.transA ? p.m : p.k),
                                  pb.baseAddress, Int32(p.transB ? p.k : p.n), 0, pc.baseAddress, Int32(p.n))
                    }}}
                }
                lib.setThreads(1)
                Timing.log(String(format: "  matmul %-15@ %@ %.1f GFLOP/s", p.name, lib.name, p.flops / t / 1e9))
                if t < best.time { best = (lib.name, t) }
            }
            Timing.log(String(format: "  matmul %-15@ ours %.1f GFLOP/s (%.3f s), raw sgemm %.1f GFLOP/s", p.name, gflops, ours, p.flops / baseline / 1e9))
            out.append(Timing.result("tensor.matmul.\(p.name)", gflops, "GFLOP/s", ratio: baseline / ours,
                                     baseline: "cblas_sgemm(OpenBLAS,\(Parallel.workerCount)threads)"))
            if !others.isEmpty {
                out.append(Timing.result("tensor.matmul.\(p.name).vs_best_blas", gflops, "GFLOP/s", ratio: best.time / ours,
                                         baseline: best.name.replacingOccurrences(of: " ", with: "_")))
            }
            if let peak = arithmeticPeak {
                out.append(Timing.result("tensor.matmul.\(p.name).vs_arithmetic_peak", gflops, "GFLOP/s", ratio: gflops / peak, baseline: "arithmetic_peak"))
            }
            if let t = torch["matmul.\(p.name)"] {
                out.append(Timing.result("tensor.matmul.\(p.name).vs_torch", gflops, "GFLOP/s", ratio: t / ours, baseline: "torch.matmul"))
            }
        }
        out += bandwidth(torch: torch, rng: &rng)
        return out
    }

    /// The BLAS libraries to compare with OpenBLAS: Debian's BLIS when installed, and the paths listed in
    /// `ATTN_SAE_BENCH_BLAS` (colon-separated, e.g. MKL's `libmkl_rt.so`).
    static func otherLibraries() -> [LoadedBLAS] {
        var libs: [LoadedBLAS] = []
        if let blis = try? LoadedBLAS.open("blis") { libs.append(blis) }
        for path in (ProcessInfo.processInfo.environment["ATTN_SAE_BENCH_BLAS"] ?? "").split(separator: ":") {
            do { libs.append(try LoadedBLAS(path: String(path))) } catch { Timing.log("  \(error)") }
        }
        return libs
    }

    /// Softmax, layer norm and elementwise add, in GB/s of bytes read plus written, against memcpy.
    static func bandwidth(torch: [String: Double], rng: inout RandomStream) -> [String] {
        var out: [String] = []
        // Attention-pattern shaped: [batch 8, head_index 12, query_pos 256, key_pos 256] = 6.3M floats.
        let scores = Tensor.randomNormal([8, 12, 256, 256], using: &rng)
        // Residual-stream shaped: [batch·pos 8192, d_model 768] = 6.3M floats.
        let resid = Tensor.randomNormal([8192, 768], using: &rng)
        let w = Tensor.randomNormal([768], using: &rng), bias = Tensor.randomNormal([768], using: &rng)
        let other = Tensor.randomNormal([8192, 768], using: &rng)
        let n = scores.count
        let src = UnsafeMutablePointer<Float>.allocate(capacity: n), dst = UnsafeMutablePointer<Float>.allocate(capacity: n)
        src.initialize(repeating: 1, count: n)
        dst.initialize(repeating: 0, count: n)
        defer { src.deallocate(); dst.deallocate() }
        let memcpyTime = Timing.best(reps: 10) { memcpy(dst, src, n * 4) }
        let memcpyGBs = 2.0 * Double(n * 4) / memcpyTime / 1e9   // read + write
        Timing.log(String(format: "  memcpy %.1f GB/s over %d MB", memcpyGBs, (n * 4) >> 20))

        var sink: Float = 0
        let cases: [(String, Double, () -> Void)] = [
            ("softmax_causal", 2.0 * Double(n * 4), { sink += scores.softmax(mask: .causal)[0, 0, 0, 0] }),
            ("layer_norm", 2.0 * Double(resid.count * 4), { sink += resid.layerNorm(weight: w, bias: bias)[0, 0] }),
            ("add", 3.0 * Double(resid.count * 4), { sink += (resid + other)[0, 0] }),
            ("gelu", 2.0 * Double(resid.count * 4), { sink += resid.gelu()[0, 0] }),
        ]
        for (name, bytes, body) in cases {
            let t = Timing.best(reps: 8, body)
            let gbs = bytes / t / 1e9
            Timing.log(String(format: "  %-15@ %.1f GB/s (%.4f s)", name, gbs, t))
            out.append(Timing.result("tensor.\(name)", gbs, "GB/s", ratio: gbs / memcpyGBs, baseline: "memcpy"))
            if let tt = torch[name] {
                out.append(Timing.result("tensor.\(name).vs_torch", gbs, "GB/s", ratio: tt / t, baseline: "torch"))
            }
        }
        if sink.isNaN { Timing.log("(nan)") }
        return out
    }
}
