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

#ifdef __cplusplus
}
#endif

#endif
