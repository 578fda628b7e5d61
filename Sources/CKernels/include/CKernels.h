// CKernels: elementwise kernels compiled for several instruction sets and chosen at run time.
//
// The package is built without unsafeFlags, so Swift code runs at the baseline x86-64 width (SSE2).
// These kernels are compiled three times each — AVX-512F, AVX2 and the baseline — through clang's
// per-function `target` attribute, and every entry point takes the path to run, so a test can run
// each path that the CPU supports (the Swift wrappers in Tensor/Kernels.swift choose the best by
// default). Floating-point contraction is off: every path performs the same IEEE operations in the
// same order as the naive Swift reference beside it, so all paths give the same bits.
#ifndef ATTN_SAES_CKERNELS_H
#define ATTN_SAES_CKERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The kernel paths, widest last.
enum {
    ATTN_KERNELS_BASELINE = 0,   ///< 128-bit vectors: SSE2 on x86-64, NEON on AArch64.
    ATTN_KERNELS_AVX2 = 1,       ///< 256-bit vectors (x86-64 with AVX2).
    ATTN_KERNELS_AVX512 = 2,     ///< 512-bit vectors (x86-64 with AVX-512F).
};

/// Whether this CPU can run `path` (the baseline always can).
int attn_kernels_supported(int path);

/// PyTorch's single-tensor Adam update, as its scalar coefficients (computed by the caller in Double,
/// as Python does, then rounded to Float).
typedef struct {
    float first_moment_weight;   ///< 1 − β₁
    float beta2;                 ///< β₂
    float second_moment_weight;  ///< 1 − β₂
    float step_size;             ///< lr / (1 − β₁ᵗ)
    float bias_correction2_sqrt; ///< √(1 − β₂ᵗ)
    float eps;
    int first_moment_is_gradient;///< β₁ = 0: m ← g exactly
} attn_adam_coefficients;

/// One Adam step on `n` elements: `m ← m + (1−β₁)(g − m)` (or `m ← g`), `v ← β₂v + (1−β₂)g²`,
/// `p ← p − (m / (√v / √(1−β₂ᵗ) + ε)) · step_size`.
void attn_adam_update(int path, float *p, float *m, float *v, const float *g, size_t n,
                      const attn_adam_coefficients *c);

/// gelu_new elementwise, y[i] = (0.5·x)·(1 + tanh(√(2/π)·(x + 0.044715·x³))), with the package's
/// vector exp and tanh (a few ulp of the correctly rounded values). `x` and `y` may be the same.
void attn_gelu_tanh(int path, const float *x, float *y, size_t n);

/// eˣ elementwise: x = n·ln2 + r (ln2 in two parts), a degree-6 polynomial for eʳ, 2ⁿ through the
/// exponent field; +∞ above 88.72283, 0 below −87.33654, NaN stays NaN (≤ 2 ulp). `x` may be `y`.
void attn_exp(int path, const float *x, float *y, size_t n);

/// tanh elementwise: 1 − 2/(e^{2|x|} + 1) with x's sign for |x| ≥ 0.625, an odd polynomial below (≤ 3 ulp).
void attn_tanh(int path, const float *x, float *y, size_t n);

/// Layer norm of `rows` contiguous rows of `d` values (TransformerLens's, biased variance):
/// mean = Σx/d, variance = Σ(x − mean)²/d (both summed in the order of `attn_sum`),
/// scale = √(variance + eps), y = (x − mean)/scale, then ·w and +b when given (either may be NULL).
/// `scale` (NULL to skip) receives each row's scale.
void attn_layer_norm_rows(int path, const float *x, float *y, float *scale, size_t rows, size_t d,
                          const float *w, const float *b, float eps);

/// Softmax of one row of `n` values over its first `visible` entries: e_i = exp(x_i − max), then
/// e_i · (1 / Σe) (the sum in `attn_sum`'s order); entries from `visible` on are 0, and a row with
/// nothing visible is all 0. A NaN among the visible entries makes them all NaN.
void attn_softmax_row(int path, const float *x, float *y, size_t n, size_t visible);

/// Σ p[0..<n] in one fixed order on every path: 64 lane sums over the whole 64-element blocks
/// (lane j holds p[j] + p[j+64] + …), combined as 16-lane blocks (B0 + B1) + (B2 + B3), the 16 lanes
/// halved (l[j] += l[j+8], +4, +2, +1), then the remaining elements added in order.
float attn_sum(int path, const float *p, size_t n);

/// The arithmetic peak's probe: `iterations` steps of 12 independent chains a ← a·x + y on `path`'s
/// vectors, fused (one FMA instruction) where `attn_peak_fused(path)`, else a multiply and an add.
/// Each step is 12 · lanes · 2 flops; the return value only keeps the work from being optimised away.
float attn_peak_chains(int path, size_t iterations);

/// Whether `attn_peak_chains` runs fused multiply-adds on `path` (AVX-512F; AVX2 on a CPU with FMA).
int attn_peak_fused(int path);

#ifdef __cplusplus
}
#endif

#endif
