/*
 * Declarations shared by the compiled kernel's translation units (sklearn-zlp).
 *
 * _ckernel.c holds what does not depend on the instruction set: the exported
 * functions, the choice of variant, the threads and the Adam step.
 * _ckernel_simd.h holds the training step and the forward pass written with GNU C
 * vector types; each of _ckernel_avx512.c, _ckernel_avx2.c and _ckernel_baseline.c
 * includes it once, with its own vector width and instruction set, so that every
 * variant keeps its vectors in registers of its own size (one 64-byte vector type
 * for all of them made the AVX2 build split every vector in two and spill:
 * 19.5 ms per step instead of 2.3 ms, measured; benchmarks/README.md).
 */
#ifndef SKLEARN_ZLP_CKERNEL_H
#define SKLEARN_ZLP_CKERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ACT_IDENTITY 0
#define ACT_SIGMOID 1
#define ACT_TANH 2
#define ACT_RELU 3

#define MAX_LAYERS 16
#define MAX_THREADS 64
#define BLOCK 256 /* points per block of the backward pass (L1-sized) */

/* Instruction-set variants, lowest first (zlp_kernel_isa, the isa arguments). */
#define ZLP_ISA_BASELINE 0
#define ZLP_ISA_AVX2 1
#define ZLP_ISA_AVX512 2

/* x86-64 builds with GCC or clang carry the AVX2 and AVX-512 variants next to the
 * baseline, chosen at run time with __builtin_cpu_supports; everything else
 * builds the baseline alone (generic 16-byte vectors: SSE2, NEON, ...).
 * -DZLP_BASELINE_ONLY builds the baseline alone on x86-64 too. */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && \
    !defined(ZLP_BASELINE_ONLY)
#define ZLP_X86_VARIANTS 1
#else
#define ZLP_X86_VARIANTS 0
#endif

/* Everything one call of the training step needs; each thread works on
 * replicas [r0, r1). Layout (all float32, C-contiguous, as the torch tensors):
 *   x       (n_in, P) shared by all replicas, or (R, n_in, P)
 *   W[l]    (R, out_l, in_l), B[l] (R, out_l, 1)
 *   y, w_train, w_valid, y_pred   (R, P)
 *   chi2, valid_chi2, penalty     (R,)
 *   lo[k], hi[k]                  point indices (int64), k < n_pairs */
typedef struct {
    int n_layers;
    const int64_t *sizes;
    const int32_t *acts;
    int64_t P;
    const float *x;
    int x_shared;
    const float *const *W, *const *B;
    const float *y, *w_train, *w_valid;
    int64_t n_pairs;
    const int64_t *lo, *hi;
    const float *penalty;
    float *y_pred, *chi2, *valid_chi2;
    float *const *gW, *const *gB;
    int64_t r0, r1;
    int status;
} step_job;

/* Inference on shared inputs x (n_in, P) into out (R, P). */
typedef struct {
    int n_layers;
    const int64_t *sizes;
    const int32_t *acts;
    int64_t P;
    const float *x;
    const float *const *W, *const *B;
    float *out;
    int64_t r0, r1;
    int status;
} forward_job;

static inline void *zlp_aligned_buffer(size_t n_floats) {
    size_t bytes = (n_floats * sizeof(float) + 63) / 64 * 64;
    return aligned_alloc(64, bytes ? bytes : 64);
}

/* One per variant built (_ckernel_simd.h); called through zlp_chi2_step and
 * zlp_forward only, never exported from the library. */
#if defined(__GNUC__)
#define ZLP_HIDDEN __attribute__((visibility("hidden")))
#else
#define ZLP_HIDDEN
#endif
ZLP_HIDDEN void zlp_replicas_step_baseline(step_job *job);
ZLP_HIDDEN void zlp_replicas_forward_baseline(forward_job *job);
#if ZLP_X86_VARIANTS
ZLP_HIDDEN void zlp_replicas_step_avx2(step_job *job);
ZLP_HIDDEN void zlp_replicas_forward_avx2(forward_job *job);
ZLP_HIDDEN void zlp_replicas_step_avx512(step_job *job);
ZLP_HIDDEN void zlp_replicas_forward_avx512(forward_job *job);
#endif

#endif
