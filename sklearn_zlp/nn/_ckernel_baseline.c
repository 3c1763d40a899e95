/*
 * The baseline variant: 4-float (16-byte) vectors, which every 64-bit CPU that
 * GCC or clang targets has (SSE2 on x86-64, NEON on arm64, ...), compiled for the
 * build's default instruction set. Runs wherever the library loads.
 */
#define ZLP_VARIANT baseline
#define ZLP_VBYTES 16
#include "_ckernel_simd.h"
