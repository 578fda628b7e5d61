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

// Every lane = s, −0 included (`(F){} + s` would turn −0 into +0; s − (+0) is s for every s).
#define SPLAT(F, s) ((s) - (F){})

typedef float f32x4 __attribute__((vector_size(16)));
typedef float f32x8 __attribute__((vector_size(32)));
typedef float f32x16 __attribute__((vector_size(64)));

// MARK: Adam

// The element step shared by the vector body and the scalar tail: T is a vector type or float.
#define ADAM_ELEMENT(T, pp, mp, vp, gp, c)                                                           \
    do {                                                                                             \
        T g_ = LOADV(T, gp);                                                                         \
        T m_ = (c)->first_moment_is_gradient ? g_ : LOADV(T, mp) + (c)->first_moment_weight * (g_ - LOADV(T, mp)); \
        T v_ = LOADV(T, vp) * (c)->beta2 + (c)->second_moment_weight * (g_ * g_);                    \
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

// MARK: Vector helpers
//
// Lane-wise selects and bit casts over the vector types (clang's C vector ternary is C++-only).
typedef int i32x4 __attribute__((vector_size(16)));
typedef int i32x8 __attribute__((vector_size(32)));
typedef int i32x16 __attribute__((vector_size(64)));

// MARK: exp, tanh, gelu_new
//
// The same operations, in the same order, as VectorMath.exp / VectorMath.tanh and GeluKernel (Swift)
// and Kernels.naiveExp / naiveTanh / naiveGelu: exp by x = n·ln2 + r (ln2 in two parts), a degree-6
// polynomial and 2ⁿ through the exponent field; tanh by 1 − 2/(e^{2|x|} + 1) above 0.625 and an odd
// polynomial below; gelu_new = (0.5·x)·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
#define DEFINE_MATH(SUFFIX, TARGET, F, I)                                                            \
    TARGET static inline F select_##SUFFIX(I mask, F a, F b) {                                       \
        return (F)((mask & (I)a) | (~mask & (I)b));                                                  \
    }                                                                                                \
    TARGET static inline F exp_##SUFFIX(F x) {                                                       \
        const F hi = SPLAT(F, 88.72283f), lo = SPLAT(F, -87.33654f);                                 \
        I overflow = x > hi, underflow = x < lo;                                                     \
        F xc = select_##SUFFIX(overflow, hi, x);                                                     \
        xc = select_##SUFFIX(underflow, lo, xc);                                                     \
        const F magic = SPLAT(F, 12582912.0f);                                                       \
        F k = xc * 1.44269504f + magic;                                                              \
        F fx = k - magic;                                                                            \
        F r = xc - fx * 0.693359375f;                                                                \
        r = r - fx * -2.1219444e-4f;                                                                 \
        F z = r * r;                                                                                 \
        F y = SPLAT(F, 1.98756915e-4f);                                                              \
        y = y * r + 1.39819995e-3f;                                                                  \
        y = y * r + 8.3334519e-3f;                                                                   \
        y = y * r + 4.16657959e-2f;                                                                  \
        y = y * r + 1.66666655e-1f;                                                                  \
        y = y * r + 5.00000012e-1f;                                                                  \
        y = y * z + r + 1.0f;                                                                        \
        I n = (I)k - 0x4B400000;                                                                     \
        I half = n >> 1;                                                                             \
        F p1 = (F)((half + 127) << 23);                                                              \
        F p2 = (F)(((n - half) + 127) << 23);                                                        \
        F result = y * p1 * p2;                                                                      \
        result = select_##SUFFIX(overflow, SPLAT(F, __builtin_inff()), result);                      \
        result = select_##SUFFIX(underflow, (F){}, result);                                          \
        return select_##SUFFIX(x != x, x, result);                                                   \
    }                                                                                                \
    TARGET static inline F tanh_##SUFFIX(F x) {                                                      \
        F a = (F)((I)x & 0x7FFFFFFF);                                                                \
        F e = exp_##SUFFIX(a + a);                                                                   \
        F large = 1.0f - 2.0f / (e + 1.0f);                                                          \
        large = select_##SUFFIX(x < 0.0f, -large, large);                                            \
        F z = x * x;                                                                                 \
        F p = SPLAT(F, -5.70498872745e-3f);                                                          \
        p = p * z + 2.06390887954e-2f;                                                               \
        p = p * z - 5.37397155531e-2f;                                                               \
        p = p * z + 1.33314422036e-1f;                                                               \
        p = p * z - 3.33332819422e-1f;                                                               \
        F small = p * z * x + x;                                                                     \
        return select_##SUFFIX(a >= 0.625f, large, small);                                           \
    }                                                                                                \
    TARGET static inline F gelu_##SUFFIX(F x) {                                                      \
        F inner = x + 0.044715f * (x * x * x);                                                       \
        return (0.5f * x) * (1.0f + tanh_##SUFFIX(0.797884560f * inner));                            \
    }

DEFINE_MATH(v4, , f32x4, i32x4)
#if ATTN_X86
DEFINE_MATH(v8, __attribute__((target("avx2"))), f32x8, i32x8)
DEFINE_MATH(v16, __attribute__((target("avx512f"))), f32x16, i32x16)
#endif

// An elementwise function over a buffer; a scalar tail runs lane 0 of the path's vector function, so it
// rounds exactly as the body.
#define DEFINE_UNARY(FN, NAME, TARGET, SUFFIX, F)                                                    \
    TARGET static void NAME(const float *x, float *y, size_t n) {                                    \
        const size_t w = sizeof(F) / sizeof(float);                                                  \
        size_t k = 0;                                                                                \
        for (; k + w <= n; k += w) STOREV(y + k, FN##_##SUFFIX(LOADV(F, x + k)));                    \
        for (; k < n; k++) { y[k] = FN##_##SUFFIX(SPLAT(F, x[k]))[0]; }                              \
    }
DEFINE_UNARY(gelu, gelu_baseline, , v4, f32x4)
DEFINE_UNARY(exp, exp_baseline, , v4, f32x4)
DEFINE_UNARY(tanh, tanh_baseline, , v4, f32x4)
#if ATTN_X86
DEFINE_UNARY(gelu, gelu_avx2, __attribute__((target("avx2"))), v8, f32x8)
DEFINE_UNARY(exp, exp_avx2, __attribute__((target("avx2"))), v8, f32x8)
DEFINE_UNARY(tanh, tanh_avx2, __attribute__((target("avx2"))), v8, f32x8)
DEFINE_UNARY(gelu, gelu_avx512, __attribute__((target("avx512f"))), v16, f32x16)
DEFINE_UNARY(exp, exp_avx512, __attribute__((target("avx512f"))), v16, f32x16)
DEFINE_UNARY(tanh, tanh_avx512, __attribute__((target("avx512f"))), v16, f32x16)
#endif

// MARK: Sums in one order
//
// Σ p[0..<n] in one order on every path: 64 lane sums over the whole 64-element blocks (lane j holds
// p[j] + p[j+64] + …), combined as blocks of 16 lanes (B0 + B1) + (B2 + B3), those 16 lanes halved
// (l[j] += l[j+8], then +4, +2, +1), then the remaining elements added in order. Four independent
// 16-lane chains keep the adder busy at every width (the narrower paths hold them in 8 or 16
// registers). Kernels.naiveSum performs the same operations. `squared_deviation` sums (p[i] − c)².
#define DEFINE_SUMS(SUFFIX, TARGET, F)                                                               \
    TARGET static float sum_##SUFFIX(const float *p, size_t n, float c, int squared_deviation) {     \
        enum { W = sizeof(F) / sizeof(float), Q = 16 / W, R = 4 * Q };                               \
        F acc[R];                                                                                    \
        for (int j = 0; j < R; j++) acc[j] = (F){};                                                  \
        size_t i = 0;                                                                                \
        for (; i + 64 <= n; i += 64)                                                                 \
            for (int j = 0; j < R; j++) {                                                            \
                F v = LOADV(F, p + i + j * W);                                                       \
                if (squared_deviation) { v = v - c; v = v * v; }                                     \
                acc[j] = acc[j] + v;                                                                 \
            }                                                                                        \
        float l[16];                                                                                 \
        for (int q = 0; q < Q; q++) {                                                                \
            F t = (acc[q] + acc[Q + q]) + (acc[2 * Q + q] + acc[3 * Q + q]);                         \
            __builtin_memcpy(l + q * W, &t, sizeof(F));                                              \
        }                                                                                            \
        for (int h = 8; h >= 1; h /= 2)                                                              \
            for (int j = 0; j < h; j++) l[j] = l[j] + l[j + h];                                      \
        float s = l[0];                                                                              \
        for (; i < n; i++) {                                                                         \
            float v = p[i];                                                                          \
            if (squared_deviation) { v = v - c; v = v * v; }                                         \
            s += v;                                                                                  \
        }                                                                                            \
        return s;                                                                                    \
    }

DEFINE_SUMS(v4, , f32x4)
#if ATTN_X86
DEFINE_SUMS(v8, __attribute__((target("avx2"))), f32x8)
DEFINE_SUMS(v16, __attribute__((target("avx512f"))), f32x16)
#endif

// MARK: Layer norm

#define DEFINE_LAYER_NORM(NAME, TARGET, SUFFIX, F)                                                   \
    TARGET static void NAME(const float *x, float *y, float *scale, size_t rows, size_t d,           \
                            const float *w, const float *b, float eps) {                             \
        const size_t W = sizeof(F) / sizeof(float);                                                  \
        for (size_t r = 0; r < rows; r++) {                                                          \
            const float *p = x + r * d;                                                              \
            float *q = y + r * d;                                                                    \
            float mean = sum_##SUFFIX(p, d, 0, 0) / (float)d;                                        \
            float variance = sum_##SUFFIX(p, d, mean, 1) / (float)d;                                 \
            float s = __builtin_elementwise_sqrt(variance + eps);                                    \
            if (scale) scale[r] = s;                                                                 \
            /* The row after next is fetched while this one is written (measured: 275 → 233 ns per   \
               768-value row on one AVX-512 core, memory-bound). */                                  \
            const float *ahead = r + 2 < rows ? p + 2 * d : p;                                       \
            size_t i = 0;                                                                            \
            for (; i + W <= d; i += W) {                                                             \
                __builtin_prefetch(ahead + i);                                                       \
                F v = (LOADV(F, p + i) - mean) / s;                                                  \
                if (w) v = v * LOADV(F, w + i);                                                      \
                if (b) v = v + LOADV(F, b + i);                                                      \
                STOREV(q + i, v);                                                                    \
            }                                                                                        \
            for (; i < d; i++) {                                                                     \
                float v = (p[i] - mean) / s;                                                         \
                if (w) v = v * w[i];                                                                 \
                if (b) v = v + b[i];                                                                 \
                q[i] = v;                                                                            \
            }                                                                                        \
        }                                                                                            \
    }

DEFINE_LAYER_NORM(layer_norm_baseline, , v4, f32x4)
#if ATTN_X86
DEFINE_LAYER_NORM(layer_norm_avx2, __attribute__((target("avx2"))), v8, f32x8)
DEFINE_LAYER_NORM(layer_norm_avx512, __attribute__((target("avx512f"))), v16, f32x16)
#endif

// MARK: Softmax

#define DEFINE_SOFTMAX(NAME, TARGET, SUFFIX, F)                                                      \
    TARGET static void NAME(const float *x, float *y, size_t n, size_t visible) {                    \
        const size_t W = sizeof(F) / sizeof(float);                                                  \
        if (visible > n) visible = n;                                                                \
        if (visible == 0) { for (size_t i = 0; i < n; i++) y[i] = 0; return; }                       \
        float m = max_##SUFFIX(x, visible);                                                          \
        size_t i = 0;                                                                                \
        for (; i + W <= visible; i += W) STOREV(y + i, exp_##SUFFIX(LOADV(F, x + i) - m));           \
        for (; i < visible; i++) { y[i] = exp_##SUFFIX(SPLAT(F, x[i] - m))[0]; }                     \
        for (size_t j = visible; j < n; j++) y[j] = 0;                                               \
        float inv = 1.0f / sum_##SUFFIX(y, visible, 0, 0);                                           \
        for (i = 0; i + W <= visible; i += W) STOREV(y + i, LOADV(F, y + i) * inv);                  \
        for (; i < visible; i++) y[i] *= inv;                                                        \
    }

// max p[0..<n] for n ≥ 1, NaN when any value is NaN. (±0 may come out either sign: x − (+0) and
// x − (−0) are equal for every x but −0, and exp gives 1 for both zeros.)
#define DEFINE_MAX(SUFFIX, TARGET, F, I)                                                             \
    TARGET static float max_##SUFFIX(const float *p, size_t n) {                                     \
        const size_t W = sizeof(F) / sizeof(float);                                                  \
        float m = -__builtin_inff();                                                                 \
        int nan = 0;                                                                                 \
        size_t i = 0;                                                                                \
        if (n >= W) {                                                                                \
            F mv = SPLAT(F, -__builtin_inff());                                                      \
            I nv = (I){};                                                                            \
            for (; i + W <= n; i += W) {                                                             \
                F v = LOADV(F, p + i);                                                               \
                mv = select_##SUFFIX(v > mv, v, mv);                                                 \
                nv |= v != v;                                                                        \
            }                                                                                        \
            for (size_t l = 0; l < W; l++) { if (mv[l] > m) m = mv[l]; nan |= nv[l]; }               \
        }                                                                                            \
        for (; i < n; i++) { if (p[i] > m) m = p[i]; nan |= p[i] != p[i]; }                          \
        return nan ? __builtin_nanf("") : m;                                                         \
    }

DEFINE_MAX(v4, , f32x4, i32x4)
#if ATTN_X86
DEFINE_MAX(v8, __attribute__((target("avx2"))), f32x8, i32x8)
DEFINE_MAX(v16, __attribute__((target("avx512f"))), f32x16, i32x16)
#endif

DEFINE_SOFTMAX(softmax_baseline, , v4, f32x4)
#if ATTN_X86
DEFINE_SOFTMAX(softmax_avx2, __attribute__((target("avx2"))), v8, f32x8)
DEFINE_SOFTMAX(softmax_avx512, __attribute__((target("avx512f"))), v16, f32x16)
#endif

// MARK: The arithmetic peak

// Twelve independent multiply-add chains: enough to keep two FMA pipes of latency 4 (or 5) busy on
// every x86-64 core of the last decade, few enough to stay in 16 vector registers. With FMA hardware
// (AVX2+FMA, AVX-512F; NEON) each step is one fused multiply-add; x86-64's baseline (SSE2) has none,
// so a multiply and an add there (the two flops of its best product kernel).
#define DEFINE_PEAK(NAME, TARGET, F, STEP)                                                           \
    TARGET static float NAME(size_t iterations) {                                                    \
        F a0 = SPLAT(F, 0.f), a1 = SPLAT(F, 1.f), a2 = SPLAT(F, 2.f), a3 = SPLAT(F, 3.f);            \
        F a4 = SPLAT(F, 4.f), a5 = SPLAT(F, 5.f), a6 = SPLAT(F, 6.f), a7 = SPLAT(F, 7.f);            \
        F a8 = SPLAT(F, 8.f), a9 = SPLAT(F, 9.f), a10 = SPLAT(F, 10.f), a11 = SPLAT(F, 11.f);        \
        F x = SPLAT(F, 0.999999f), y = SPLAT(F, 1e-7f);                                              \
        for (size_t i = 0; i < iterations; i++) {                                                    \
            a0 = STEP(a0, x, y); a1 = STEP(a1, x, y); a2 = STEP(a2, x, y); a3 = STEP(a3, x, y);      \
            a4 = STEP(a4, x, y); a5 = STEP(a5, x, y); a6 = STEP(a6, x, y); a7 = STEP(a7, x, y);      \
            a8 = STEP(a8, x, y); a9 = STEP(a9, x, y); a10 = STEP(a10, x, y); a11 = STEP(a11, x, y);  \
        }                                                                                            \
        F s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));         \
        float t = 0;                                                                                 \
        for (size_t j = 0; j < sizeof(F) / sizeof(float); j++) t += s[j];                            \
        return t;                                                                                    \
    }

#define MUL_ADD(a, x, y) ((a) * (x) + (y))
#define FUSED(a, x, y) __builtin_elementwise_fma((a), (x), (y))

#if ATTN_X86
DEFINE_PEAK(peak_baseline, , f32x4, MUL_ADD)
DEFINE_PEAK(peak_avx2, __attribute__((target("avx2,fma"))), f32x8, FUSED)
DEFINE_PEAK(peak_avx512, __attribute__((target("avx512f"))), f32x16, FUSED)
#else
DEFINE_PEAK(peak_baseline, , f32x4, FUSED)
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

#if ATTN_X86
#define DISPATCH(NAME, ...)                                                                          \
    switch (path) {                                                                                  \
    case ATTN_KERNELS_AVX512: NAME##_avx512(__VA_ARGS__); return;                                    \
    case ATTN_KERNELS_AVX2: NAME##_avx2(__VA_ARGS__); return;                                        \
    default: NAME##_baseline(__VA_ARGS__); return;                                                   \
    }
#else
#define DISPATCH(NAME, ...) NAME##_baseline(__VA_ARGS__);
#endif

void attn_gelu_tanh(int path, const float *x, float *y, size_t n) { DISPATCH(gelu, x, y, n) }

void attn_exp(int path, const float *x, float *y, size_t n) { DISPATCH(exp, x, y, n) }

void attn_tanh(int path, const float *x, float *y, size_t n) { DISPATCH(tanh, x, y, n) }

void attn_layer_norm_rows(int path, const float *x, float *y, float *scale, size_t rows, size_t d,
                          const float *w, const float *b, float eps) {
    DISPATCH(layer_norm, x, y, scale, rows, d, w, b, eps)
}

void attn_softmax_row(int path, const float *x, float *y, size_t n, size_t visible) {
    DISPATCH(softmax, x, y, n, visible)
}

float attn_sum(int path, const float *p, size_t n) {
    switch (path) {
#if ATTN_X86
    case ATTN_KERNELS_AVX512: return sum_v16(p, n, 0, 0);
    case ATTN_KERNELS_AVX2: return sum_v8(p, n, 0, 0);
#endif
    default: return sum_v4(p, n, 0, 0);
    }
}

int attn_peak_fused(int path) {
    switch (path) {
#if ATTN_X86
    case ATTN_KERNELS_AVX512: return 1;
    case ATTN_KERNELS_AVX2: __builtin_cpu_init(); return __builtin_cpu_supports("fma");
    default: return 0;
#else
    default: return 1;
#endif
    }
}

float attn_peak_chains(int path, size_t iterations) {
    switch (path) {
#if ATTN_X86
    case ATTN_KERNELS_AVX512: return peak_avx512(iterations);
    case ATTN_KERNELS_AVX2: return attn_peak_fused(path) ? peak_avx2(iterations) : peak_baseline(iterations);
#endif
    default: return peak_baseline(iterations);
    }
}
