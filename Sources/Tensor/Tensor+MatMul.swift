// Tensor+MatMul: matrix and batched matrix products through cblas_sgemm — the only file that calls BLAS.

import CBLAS
import Foundation

/// How this package drives BLAS.
///
/// The products run on one BLAS library: Debian's OpenBLAS (linked, the default) or the one named by
/// the environment variable `ATTN_SAE_BLAS` — `blis` for Debian's BLIS (`libblis4-pthread`), `openblas`,
/// or the path of any shared library exporting `cblas_sgemm` (MKL's `libmkl_rt.so`, another OpenBLAS
/// build). Whichever runs is pinned to one thread per call, and large products are split into row or
/// column blocks that run on the workers of ``Parallel``. One thread pool then serves BLAS and
/// non-BLAS work alike, so OpenBLAS's idle workers (which spin for about 100 ms after each call) never
/// compete with our own loops for the two cores. The split costs nothing measurable on the SAE and
/// transformer shapes (see `Scripts/bench tensor`). LAPACK (the eigensolver) always comes from OpenBLAS.
public enum BLAS {
    /// Configures the library once (single-threaded calls); every product calls this first.
    public static func configure() { _ = configured }
    private static let configured: Bool = {
        openblas_set_num_threads(1)
        if let loaded = LoadedBLAS.chosen { loaded.setThreads(1) }
        return true
    }()

    /// The library that runs the products, as `Scripts/bench` and `inspect kernels` report it:
    /// "OpenBLAS SkylakeX", "BLIS skx", or the loaded library's file name.
    public static var libraryName: String {
        LoadedBLAS.chosen?.name ?? "OpenBLAS \(coreName)"
    }

    /// Products below this many multiply-adds run as one BLAS call on the calling thread.
    static let splitThreshold = 1 << 21

    /// The kernel family OpenBLAS chose for this CPU at load time (e.g. "Haswell", "SkylakeX", "Zen").
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// The kernels OpenBLAS should run here when it chose its generic SSE-era ones on a CPU with AVX2
    /// or AVX-512: OpenBLAS 0.3.21 (Debian 12) does not recognise some newer CPUs — e.g. VMs reporting a
    /// bare "Intel Xeon Processor", family 6 model 207 — and falls back to "Prescott", about 4× slower
    /// on every product. nil when the kernels fit the CPU.
    public static var betterCoreType: String? {
        let generic: Set<String> = ["Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai", "Coppermine", "Northwood", "Banias", "Unknown"]
        guard generic.contains(coreName),
              let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        return flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) ? "SkylakeX"
            : flags.isSuperset(of: ["avx2", "fma"]) ? "Haswell" : nil
    }

    /// A warning when OpenBLAS runs generic kernels on a CPU that has better ones (``betterCoreType``).
    public static var genericKernelWarning: String? {
        betterCoreType.map { "OpenBLAS chose its generic '\(coreName)' kernels for this CPU, which has \($0 == "SkylakeX" ? "AVX-512" : "AVX2"): products run about 4× slower. Run with OPENBLAS_CORETYPE=\($0) in the environment (the executables do so themselves unless ATTN_SAES_NO_RELAUNCH is set)." }
    }

    /// Makes the running executable use the kernels its CPU has: OpenBLAS reads `OPENBLAS_CORETYPE` only
    /// when it loads, so when it chose generic kernels (``betterCoreType``) and the variable is unset,
    /// this sets it and re-executes the program (same arguments, same process id — an `mpirun` rank
    /// stays the rank), saying so once on standard error. Does nothing when the kernels fit, when
    /// `OPENBLAS_CORETYPE` is set (the user's choice is kept) or when `ATTN_SAES_NO_RELAUNCH` is set; if
    /// the re-execution fails, the program goes on with the generic kernels and a warning.
    public static func relaunchWithBetterKernelsIfNeeded() {
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, env["ATTN_SAES_NO_RELAUNCH"] == nil, let core = betterCoreType else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        let rank = env["OMPI_COMM_WORLD_RANK"] ?? env["PMI_RANK"] ?? "0"
        if rank == "0" {
            FileHandle.standardError.write(Data("note: OpenBLAS chose its generic '\(coreName)' kernels for this CPU; running with OPENBLAS_CORETYPE=\(core) (set OPENBLAS_CORETYPE to choose, or ATTN_SAES_NO_RELAUNCH=1 to keep OpenBLAS's choice)\n".utf8))
        }
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        FileHandle.standardError.write(Data("warning: could not re-execute with OPENBLAS_CORETYPE=\(core) (\(String(cString: strerror(errno)))); products run on the generic kernels\n".utf8))
        unsetenv("OPENBLAS_CORETYPE")
    }
}

extension Tensor {
    /// The matrix product `self · other` with NumPy `matmul` semantics.
    ///
    /// Rank-2 × rank-2 is the plain product `[m, k] · [k, n] → [m, n]`. With more axes, the last two
    /// are the matrices and the leading (batch) axes broadcast, e.g. per-head attention scores
    /// `q [batch, head_index, query_pos, d_head] · kᵀ [batch, head_index, d_head, key_pos]`.
    /// Operands may be any strided views (transposes cost nothing); rank-1 operands are not accepted.
    public func matmul(_ other: Tensor) -> Tensor {
        Tensor.matmul(self, other)
    }

    /// `alpha · op(a) · op(b)`, where `op` transposes the last two axes when asked (no copy either
    /// way): `matmul(x, w, transposeB: true)` is `x · wᵀ`.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA ta: Bool = false, transposeB tb: Bool = false,
                              alpha: Float = 1) -> Tensor {
        precondition(a.rank >= 2 && b.rank >= 2, "matmul needs rank ≥ 2 operands, got \(a.shape) and \(b.shape)")
        let x = ta ? a.transposed() : a
        let y = tb ? b.transposed() : b
        let m = x.shape[x.rank - 2], k = x.shape[x.rank - 1]
        let k2 = y.shape[y.rank - 2], n = y.shape[y.rank - 1]
        precondition(k == k2, "matmul shapes \(x.shape) and \(y.shape) do not match (inner \(k) vs \(k2))")
        let batch = Tensor.broadcastShape(Array(x.shape.dropLast(2)), Array(y.shape.dropLast(2)))
        // beta = 0: BLAS never reads C, so it need not be initialised.
        var c = Tensor(shape: batch + [m, n]) { _ in }
        if k == 0 { c = Tensor(zeros: batch + [m, n]) }
        gemm(x, y, into: &c, alpha: alpha, beta: 0)
        return c
    }

    /// The affine map `x · W + b` over the last axis: `x [..., d_in]`, `W [d_in, d_out]`,
    /// `b [d_out]` → `[..., d_out]`. The bias is written into the output first and the product
    /// accumulated onto it (`beta = 1`), so no separate pass adds it.
    public static func affine(_ x: Tensor, _ w: Tensor, _ b: Tensor) -> Tensor {
        let dIn = x.shape.last ?? 0
        precondition(w.rank == 2 && w.shape[0] == dIn && b.shape == [w.shape[1]],
                     "affine shapes \(x.shape) · \(w.shape) + \(b.shape) do not match")
        let rows = x.count / Swift.max(dIn, 1)
        var c = b.expanded(to: [rows, w.shape[1]]).contiguousCopy()
        gemm(x.reshaped([rows, dIn]), w, into: &c, alpha: 1, beta: 1)
        return c.reshaped(Array(x.shape.dropLast()) + [w.shape[1]])
    }

    /// `c = alpha · a · b + beta · c` (BLAS `sgemm` semantics) over the last two axes, broadcasting
    /// the batch axes of `a` and `b` to `c`'s. `c` is made contiguous and unique first; `a` and
    /// `b` may be any strided views. Use `beta: 1` to accumulate (e.g. gradients).
    public static func gemm(_ a: Tensor, _ b: Tensor, into c: inout Tensor, alpha: Float = 1, beta: Float = 0) {
        BLAS.configure()
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
        precondition(b.shape[b.rank - 2] == k && c.rank >= 2 && c.shape[c.rank - 2] == m && c.shape[c.rank - 1] == n,
                     "gemm shapes \(a.shape) · \(b.shape) → \(c.shape) do not match")
        let batchShape = Array(c.shape.dropLast(2))
        let batchCount = batchShape.reduce(1, *)
        let ae = a.expanded(to: batchShape + [m, k])
        let be = b.expanded(to: batchShape + [k, n])
        c.makeContiguousAndUnique()
        if batchCount == 0 || m == 0 || n == 0 { return }
        let cBase = UnsafeSendableBox(c.storage.base + c.offset)
        let bStrides = Tensor.contiguousStrides(batchShape)

        func operand(_ t: Tensor, _ flat: Int) -> Matrix {
            var off = t.offset
            var rem = flat
            for axis in 0..<batchShape.count {
                let i = rem / bStrides[axis]
                rem %= bStrides[axis]
                off += i * t.strides[axis]
            }
            let r = t.rank
            return Matrix(base: t.storage.base + off, rows: t.shape[r - 2], cols: t.shape[r - 1],
                          rowStride: t.strides[r - 2], colStride: t.strides[r - 1])
        }
        // Non-BLAS-compatible operands (neither axis unit-strided) are copied once, up front.
        let aUse = Matrix.isBLASCompatible(ae) ? ae : ae.contiguous()
        let bUse = Matrix.isBLASCompatible(be) ? be : be.contiguous()

        if batchCount >= Parallel.workerCount && m * n * k * batchCount >= BLAS.splitThreshold {
            Parallel.forEach(in: 0..<batchCount) { i in
                sgemm(operand(aUse, i), operand(bUse, i), cBase.value + i * m * n, ldc: n,
                      m: m, n: n, k: k, alpha: alpha, beta: beta, split: false)
            }
        } else {
            for i in 0..<batchCount {
                sgemm(operand(aUse, i), operand(bUse, i), cBase.value + i * m * n, ldc: n,
                      m: m, n: n, k: k, alpha: alpha, beta: beta, split: true)
            }
        }
    }

    /// One product `C[m, n] = alpha · A[m, k] · B[k, n] + beta · C`, split over workers when large.
    private static func sgemm(_ a: Matrix, _ b: Matrix, _ c: UnsafeMutablePointer<Float>, ldc: Int,
                              m: Int, n: Int, k: Int, alpha: Float, beta: Float, split: Bool) {
        if k == 0 {
            // Empty inner dimension: C = beta · C.
            for i in 0..<(m * n) { c[i] = beta == 0 ? 0 : beta * c[i] }
            return
        }
        let (pa, lda, transA) = a.blasLayout()
        let (pb, ldb, transB) = b.blasLayout()
        let workers = Parallel.workerCount
        let big = m * n * k >= BLAS.splitThreshold
        if !split || !big || workers == 1 {
            call(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, c, ldc)
            return
        }
        let boxA = UnsafeSendableBox(pa), boxB = UnsafeSendableBox(pb), boxC = UnsafeSendableBox(c)
        if m >= n {
            // Row blocks of C: rows i0..<i1 of op(A).
            Parallel.forChunks(of: 0..<m, minChunk: 16) { rows in
                let i0 = rows.lowerBound
                let aBlock = transA ? boxA.value + i0 : boxA.value + i0 * lda
                call(transA, transB, rows.count, n, k, alpha, aBlock, lda, boxB.value, ldb, beta,
                     boxC.value + i0 * ldc, ldc)
            }
        } else {
            // Column blocks of C: columns j0..<j1 of op(B).
            Parallel.forChunks(of: 0..<n, minChunk: 16) { cols in
                let j0 = cols.lowerBound
                let bBlock = transB ? boxB.value + j0 * ldb : boxB.value + j0
                call(transA, transB, m, cols.count, k, alpha, boxA.value, lda, bBlock, ldb, beta,
                     boxC.value + j0, ldc)
            }
        }
    }

    private static func call(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                             _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                             _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        if let loaded = LoadedBLAS.chosen {
            loaded.sgemm(CblasRowMajor.rawValue, (ta ? CblasTrans : CblasNoTrans).rawValue, (tb ? CblasTrans : CblasNoTrans).rawValue,
                         Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
            return
        }
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// Why the library `ATTN_SAE_BLAS` names cannot run the products.
public struct BLASLoadError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A BLAS library opened at run time (`ATTN_SAE_BLAS`): its `cblas_sgemm` and how to make it single-threaded.
public struct LoadedBLAS: @unchecked Sendable {
    /// `cblas_sgemm` with 32-bit integers (the LP64 interface every Debian BLAS and `libmkl_rt` export).
    public typealias Sgemm = @convention(c) (UInt32, UInt32, UInt32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32,
                                             UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?, Int32) -> Void
    /// What the library is ("BLIS skx", or its file name).
    public let name: String
    public let sgemm: Sgemm
    private let handle: UnsafeMutableRawPointer

    /// Debian's BLIS (the pthread build, then the OpenMP one).
    public static let blisPaths = ["libblis.so.4", "/usr/lib/x86_64-linux-gnu/blis-pthread/libblis.so.4",
                                   "/usr/lib/x86_64-linux-gnu/blis-openmp/libblis.so.4"]

    /// Opens `ATTN_SAE_BLAS`'s library: "blis", "openblas" (nil: the linked one) or a path.
    public static func open(_ choice: String) throws -> LoadedBLAS? {
        switch choice {
        case "", "openblas": return nil
        case "blis":
            for path in blisPaths { if let l = try? LoadedBLAS(path: path) { return l } }
            throw BLASLoadError("ATTN_SAE_BLAS is blis, but no BLIS library loads (tried \(blisPaths.joined(separator: ", ")); Debian: apt install libblis4-pthread)")
        default: return try LoadedBLAS(path: choice)
        }
    }

    /// Opens the library at `path` (a file name is looked up as `dlopen` does).
    public init(path: String) throws {
        // RTLD_DEEPBIND: the library's own symbols first. Its cblas_sgemm calls its Fortran sgemm_, which
        // would otherwise bind to the linked OpenBLAS's sgemm_ (the first one in the global scope).
        guard let h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND) else {
            throw BLASLoadError("ATTN_SAE_BLAS: cannot load \(path) (\(String(cString: dlerror())); allowed: openblas, blis, or the path of a library exporting cblas_sgemm)")
        }
        guard let f = dlsym(h, "cblas_sgemm") else {
            dlclose(h)
            throw BLASLoadError("ATTN_SAE_BLAS: \(path) has no cblas_sgemm (allowed: openblas, blis, or the path of a library exporting cblas_sgemm)")
        }
        handle = h
        sgemm = unsafeBitCast(f, to: Sgemm.self)
        // BLIS 0.9 (Debian 12) picks its Haswell kernels on AVX-512 CPUs whose FMA-unit count it does not
        // know (e.g. family 6 model 207, about half the speed); its Skylake-X kernels are asked for by id
        // before the first call, unless the user set BLIS_ARCH_TYPE.
        if let archString = dlsym(h, "bli_arch_string") {
            let arch = unsafeBitCast(archString, to: (@convention(c) (Int32) -> UnsafePointer<CChar>?).self)
            if ProcessInfo.processInfo.environment["BLIS_ARCH_TYPE"] == nil, KernelPath.avx512.isSupported,
               let zero = arch(0), String(cString: zero) == "skx" {
                setenv("BLIS_ARCH_TYPE", "0", 1)
            }
            // The id is known once BLIS has initialised itself, on its first call.
            var one: Float = 1, product: Float = 0
            sgemm(CblasRowMajor.rawValue, CblasNoTrans.rawValue, CblasNoTrans.rawValue, 1, 1, 1, 1, &one, 1, &one, 1, 0, &product, 1)
            let query = dlsym(h, "bli_arch_query_id").map { unsafeBitCast($0, to: (@convention(c) () -> Int32).self) }
            name = "BLIS " + (query.flatMap { arch($0()) }.map { String(cString: $0) } ?? "")
        } else {
            name = path.split(separator: "/").last.map(String.init) ?? path
        }
    }

    /// `n` threads per call: OpenBLAS, BLIS and MKL each by their own setter, when the library has it.
    public func setThreads(_ n: Int) {
        if let f = dlsym(handle, "openblas_set_num_threads") { unsafeBitCast(f, to: (@convention(c) (Int32) -> Void).self)(Int32(n)) }
        if let f = dlsym(handle, "bli_thread_set_num_threads") { unsafeBitCast(f, to: (@convention(c) (Int) -> Void).self)(n) }
        if let f = dlsym(handle, "MKL_Set_Num_Threads") { unsafeBitCast(f, to: (@convention(c) (Int32) -> Void).self)(Int32(n)) }
    }

    /// The library `ATTN_SAE_BLAS` names, opened once; nil for the linked OpenBLAS. A library that does
    /// not load is reported on standard error once and OpenBLAS runs the products.
    public static let chosen: LoadedBLAS? = {
        let choice = ProcessInfo.processInfo.environment["ATTN_SAE_BLAS"] ?? ""
        do { return try open(choice) } catch {
            FileHandle.standardError.write(Data("warning: \(error); products run on OpenBLAS\n".utf8))
            return nil
        }
    }()
}

/// A strided matrix view, as BLAS sees it.
struct Matrix {
    let base: UnsafeMutablePointer<Float>
    let rows: Int, cols: Int, rowStride: Int, colStride: Int

    /// True when every matrix of `t` (last two axes) has a unit stride along one axis.
    static func isBLASCompatible(_ t: Tensor) -> Bool {
        let r = t.rank
        let rows = t.shape[r - 2], cols = t.shape[r - 1]
        let rs = t.strides[r - 2], cs = t.strides[r - 1]
        return (cs == 1 || cols == 1) && (rs >= Swift.max(cols, 1) || rows == 1)
            || (rs == 1 || rows == 1) && (cs >= Swift.max(rows, 1) || cols == 1)
    }

    /// Pointer, leading dimension and transpose flag for a row-major BLAS call.
    func blasLayout() -> (UnsafePointer<Float>, Int, Bool) {
        if (colStride == 1 || cols == 1) && (rowStride >= Swift.max(cols, 1) || rows == 1) {
            return (UnsafePointer(base), rows == 1 ? Swift.max(cols, 1) : rowStride, false)
        }
        // Column-major storage: it is the transpose of a row-major [cols, rows] matrix.
        return (UnsafePointer(base), cols == 1 ? Swift.max(rows, 1) : colStride, true)
    }
}
