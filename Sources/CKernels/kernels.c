// CKernels: see include/CKernels.h. One body per kernel, written once over a vector type (or float,
// for the tail) and instantiated for each path by its DEFINE_ macro.

#include "CKernels.h"

// Every path must perform the naive reference's operations exactly: no a·b + c fused into one rounding.
#pragma clang fp contract(off)

#if defined(__x86_64__)
#define ATTN_X86 1
#endif

// Unaligned vector loads and stores without breaking aliasing rules.
#define LOADV(T, ptr) ({ T v_; __builtin_memcpy(&v_, (ptr), sizeof(T)); v_; })
#define STOREV(ptr, x) do { __typeof__(x) s_ = (x); __builtin_memcpy((ptr), &s_, sizeof(s_)); } while (0)

typedef float f32x4 __attribute__((vector_size(16)));
typedef float f32x8 __attribute__((vector_size(32)));
typedef float f32x16 __attribute__((vector_size(64)));

// MARK: Adam

// The element step shared by the vector body and the scalar tail: T is a vector type or float.
#define ADAM_ELEMENT(T, pp, mp, vp, gp, c)                                                            \
    do {                                                                                             \
        T g_ = LOADV(T, gp);                                                                         \
        T m_ = (c)->first_moment_is_gradient ? g_ : LOADV(T, mp) + (c)->first_moment_weight * (g_ - LOADV(T, mp)); \
        T v_ = LOADV(T, vp) * (c)->beta2 + (c)->second_moment_weight * (g_ * g_);                     \
        T p_ = LOADV(T, pp) - (m_ / (__builtin_elementwise_sqrt(v_) / (c)->bias_correction2_sqrt + (c)->eps)) * (c)->step_size; \
        STOREV(mp, m_); STOREV(vp, v_); STOREV(pp, p_);                                              \
    } while (0)

#define DEFINE_ADAM(NAME, TARGET, T)                                                                 \
    TARGET static void NAME(float *p, float *m, float *v, const float *g, size_t n,                  \
                            const attn_adam_coefficients *c) {                                       \
        const size_t w = sizeof(T) / sizeof(float);                                                  \
        size_t k = 0;                                                                                \
        for (; k + w <= n; k += w) ADAM_ELEMENT(T, p + k, m + k, v + k, g + k, c);                   \
        for (; k < n; k++) ADAM_ELEMENT(float, p + k, m + k, v + k, g + k, c);                       \
    }

DEFINE_ADAM(adam_baseline, , f32x4)
#if ATTN_X86
DEFINE_ADAM(adam_avx2, __attribute__((target("avx2"))), f32x8)
DEFINE_ADAM(adam_avx512, __attribute__((target("avx512f"))), f32x16)
#endif

// MARK: Dispatch

int attn_kernels_supported(int path) {
    switch (path) {
    case ATTN_KERNELS_BASELINE: return 1;
#if ATTN_X86
    case ATTN_KERNELS_AVX2: __builtin_cpu_init(); return __builtin_cpu_supports("avx2");
    case ATTN_KERNELS_AVX512: __builtin_cpu_init(); return __builtin_cpu_supports("avx512f");
#endif
    default: return 0;
    }
}

void attn_adam_update(int path, float *p, float *m, float *v, const float *g, size_t n, const attn_adam_coefficients *c) {
    switch (path) {
#if ATTN_X86
    case ATTN_KERNELS_AVX512: adam_avx512(p, m, v, g, n, c); return;
    case ATTN_KERNELS_AVX2: adam_avx2(p, m, v, g, n, c); return;
#endif
    default: adam_baseline(p, m, v, g, n, c); return;
    }
}
