/*
 * The AVX2 + FMA variant (x86-64-v3 without the bit-manipulation extras): 8-float
 * vectors in 16 ymm registers. Built on x86-64 only; chosen at run time where
 * the CPU has these features (_ckernel.c, zlp_kernel_isa).
 */
#include "_ckernel.h"

#if ZLP_X86_VARIANTS
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

#include <immintrin.h>
#define ZLP_MAX_PS(a, b) _mm256_max_ps((__m256)(a), (__m256)(b))
#define ZLP_MIN_PS(a, b) _mm256_min_ps((__m256)(a), (__m256)(b))
#define ZLP_VARIANT avx2
#define ZLP_VBYTES 32
#include "_ckernel_simd.h"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
/* ISO C forbids an empty translation unit. */
typedef int zlp_no_avx2_variant;
#endif
