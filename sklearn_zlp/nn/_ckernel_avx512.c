/*
 * The AVX-512 variant (x86-64-v4 features: F, VL, BW, DQ, with AVX2 and FMA): 16-float
 * vectors in 32 zmm registers. Built on x86-64 only; chosen at run time where
 * the CPU has these features (_ckernel.c, zlp_kernel_isa).
 */
#include "_ckernel.h"

#if ZLP_X86_VARIANTS
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")
#endif

#include <immintrin.h>
#define ZLP_MAX_PS(a, b) _mm512_max_ps((__m512)(a), (__m512)(b))
#define ZLP_MIN_PS(a, b) _mm512_min_ps((__m512)(a), (__m512)(b))
#define ZLP_VARIANT avx512
#define ZLP_VBYTES 64
#include "_ckernel_simd.h"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
/* ISO C forbids an empty translation unit. */
typedef int zlp_no_avx512_variant;
#endif
