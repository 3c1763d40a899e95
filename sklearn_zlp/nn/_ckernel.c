/*
 * Compiled training step, forward pass and Adam step of a replica ensemble of
 * small MLPs (sklearn-zlp), called through ctypes from sklearn_zlp/nn/_kernel.py.
 *
 * This file holds the exported functions and everything that does not depend on
 * the instruction set: which variant the CPU can run (zlp_kernel_isa), the split
 * of a call's replicas over threads, and the Adam step. The training step and the
 * forward pass themselves are in _ckernel_simd.h, compiled once per variant
 * (_ckernel_avx512.c, _ckernel_avx2.c, _ckernel_baseline.c), each with vectors of
 * its own register width.
 *
 * The caller picks the variant (the isa argument of zlp_chi2_step and
 * zlp_forward): zlp_kernel_isa() is the best one this CPU runs, and a request
 * above it is refused (status 3) instead of executing instructions the CPU lacks.
 *
 * GNU C (gcc or clang: generic vector types, plus OpenMP SIMD pragmas with
 * -fopenmp-simd, which needs no OpenMP runtime) and pthreads. Elsewhere the build
 * fails and the package trains with its torch path. The CPython module at the end
 * only exists so that setuptools builds and installs the library.
 */
#include <Python.h>

#include <math.h>

#include "_ckernel.h"

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define ZLP_PTHREADS 1
#endif

/* Bumped whenever an exported function or its signature changes: _library.py refuses a
 * stale build instead of calling it with the wrong arguments. */
#define ZLP_KERNEL_VERSION 3

/* The best variant this CPU runs (ZLP_ISA_*). __builtin_cpu_supports also checks
 * that the operating system saves the AVX and AVX-512 registers (XGETBV). */
int zlp_kernel_isa(void) {
#if ZLP_X86_VARIANTS
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
        return ZLP_ISA_AVX512;
    if (avx2) return ZLP_ISA_AVX2;
#endif
    return ZLP_ISA_BASELINE;
}

/* Bit v set for each variant this build contains (1: baseline only). */
int zlp_kernel_variants(void) {
#if ZLP_X86_VARIANTS
    return (1 << ZLP_ISA_BASELINE) | (1 << ZLP_ISA_AVX2) | (1 << ZLP_ISA_AVX512);
#else
    return 1 << ZLP_ISA_BASELINE;
#endif
}

typedef void (*step_fn)(step_job *);
typedef void (*forward_fn)(forward_job *);

/* The variant for isa, or NULL if this CPU (or this build) cannot run it. */
static step_fn step_variant(int isa) {
    if (isa < 0 || isa > zlp_kernel_isa()) return NULL;
#if ZLP_X86_VARIANTS
    if (isa == ZLP_ISA_AVX512) return zlp_replicas_step_avx512;
    if (isa == ZLP_ISA_AVX2) return zlp_replicas_step_avx2;
#endif
    return isa == ZLP_ISA_BASELINE ? zlp_replicas_step_baseline : NULL;
}

static forward_fn forward_variant(int isa) {
    if (isa < 0 || isa > zlp_kernel_isa()) return NULL;
#if ZLP_X86_VARIANTS
    if (isa == ZLP_ISA_AVX512) return zlp_replicas_forward_avx512;
    if (isa == ZLP_ISA_AVX2) return zlp_replicas_forward_avx2;
#endif
    return isa == ZLP_ISA_BASELINE ? zlp_replicas_forward_baseline : NULL;
}

/* 0 if the kernel handles this network and problem size, else 1 (the caller
 * then uses the torch path). */
static int unsupported(int n_layers, const int64_t *sizes, int64_t R, int64_t P) {
    if (n_layers < 1 || n_layers > MAX_LAYERS || sizes[n_layers] != 1 || P < 1 || R < 0)
        return 1;
    for (int l = 0; l < n_layers; l++)
        if (sizes[l] < 1 || sizes[l] > 4096 || sizes[l + 1] < 1) return 1;
    return 0;
}

static int thread_count(int n_threads, int64_t R) {
    if (n_threads > MAX_THREADS) n_threads = MAX_THREADS;
    if (n_threads > R) n_threads = (int)R;
    return n_threads < 1 ? 1 : n_threads;
}

/* fn on each of n jobs (size bytes apart), one thread each, the first on the
 * calling thread; a job whose thread cannot start runs here afterwards. */
static void run_jobs(void *(*fn)(void *), char *jobs, size_t size, int n) {
#ifdef ZLP_PTHREADS
    pthread_t threads[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int t = 1; t < n; t++)
        started[t] = pthread_create(&threads[t], NULL, fn, jobs + t * size) == 0;
    fn(jobs);
    for (int t = 1; t < n; t++) {
        if (started[t])
            pthread_join(threads[t], NULL);
        else
            fn(jobs + t * size);
    }
#else
    for (int t = 0; t < n; t++) fn(jobs + t * size);
#endif
}

/* The step function of the current call, shared by its threads (read only). */
typedef struct {
    step_job job;
    step_fn fn;
} step_task;

static void *step_thread(void *task) {
    step_task *t = (step_task *)task;
    t->fn(&t->job);
    return NULL;
}

/*
 * The step for R replicas on n_threads threads (contiguous shares of the
 * replicas; each replica's results do not depend on the split) with variant isa.
 * Returns 0 on success, 1 if the network is outside what the kernel supports (the
 * caller then uses the torch path), 2 if memory could not be allocated, 3 if this
 * CPU cannot run variant isa.
 */
int zlp_chi2_step(int isa, int n_layers, const int64_t *sizes, const int32_t *acts,
                  int64_t R, int64_t P, const float *x, int x_shared,
                  const float *const *W, const float *const *B, const float *y,
                  const float *w_train, const float *w_valid, int64_t n_pairs,
                  const int64_t *lo, const int64_t *hi, const float *penalty,
                  float *y_pred, float *chi2, float *valid_chi2, float *const *gW,
                  float *const *gB, int n_threads) {
    const step_fn fn = step_variant(isa);
    if (!fn) return 3;
    if (unsupported(n_layers, sizes, R, P)) return 1;
    n_threads = thread_count(n_threads, R);
    step_task tasks[MAX_THREADS];
    for (int t = 0; t < n_threads; t++) {
        step_job job = {n_layers, sizes, acts, P, x, x_shared, W, B, y, w_train,
                        w_valid, n_pairs, lo, hi, penalty, y_pred, chi2, valid_chi2,
                        gW, gB, R * t / n_threads, R * (t + 1) / n_threads, 0};
        tasks[t].job = job;
        tasks[t].fn = fn;
    }
    run_jobs(step_thread, (char *)tasks, sizeof(step_task), n_threads);
    for (int t = 0; t < n_threads; t++)
        if (tasks[t].job.status) return tasks[t].job.status;
    return 0;
}

typedef struct {
    forward_job job;
    forward_fn fn;
} forward_task;

static void *forward_thread(void *task) {
    forward_task *t = (forward_task *)task;
    t->fn(&t->job);
    return NULL;
}

/* Predictions of R replicas on P shared points, out[r, p] = f_r(x[:, p]), on
 * n_threads threads; a point's result depends on that point alone, never on the
 * batch it came in. Returns as zlp_chi2_step does. */
int zlp_forward(int isa, int n_layers, const int64_t *sizes, const int32_t *acts,
                int64_t R, int64_t P, const float *x, const float *const *W,
                const float *const *B, float *out, int n_threads) {
    const forward_fn fn = forward_variant(isa);
    if (!fn) return 3;
    if (unsupported(n_layers, sizes, R, P)) return 1;
    n_threads = thread_count(n_threads, R);
    forward_task tasks[MAX_THREADS];
    for (int t = 0; t < n_threads; t++) {
        forward_job job = {n_layers, sizes, acts, P, x, W, B, out,
                           R * t / n_threads, R * (t + 1) / n_threads, 0};
        tasks[t].job = job;
        tasks[t].fn = fn;
    }
    run_jobs(forward_thread, (char *)tasks, sizeof(forward_task), n_threads);
    for (int t = 0; t < n_threads; t++)
        if (tasks[t].job.status) return tasks[t].job.status;
    return 0;
}

/*
 * One Adam step on n tensors of sizes[t] floats each (parameters p, gradients g,
 * first and second moments m and v, updated in place):
 *
 *   m = m b1 + g c1,  v = v b2 + (g g) c2,  p = p - (m lr1) / (sqrt(v) s2 + eps)
 *
 * with c1 = 1 - b1, c2 = 1 - b2, s2 = 1 / sqrt(1 - b2^t) and lr1 = lr / (1 - b1^t)
 * given by the caller. Only correctly rounded operations, each rounded on its own
 * (no fused multiply-add: contraction is switched off here), so that an element's
 * result depends on its values alone, never on where it sits in a tensor or
 * which replicas share it: the same arithmetic as the torch twin
 * (_modules.ReplicaAdam), and unlike torch's fused Adam, which rounds the
 * vectorised body and the tail of a tensor differently.
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#define ZLP_NO_CONTRACT
#elif defined(__GNUC__)
#define ZLP_NO_CONTRACT __attribute__((optimize("fp-contract=off")))
#else
#define ZLP_NO_CONTRACT
#endif

ZLP_NO_CONTRACT
int zlp_adam(int n, const int64_t *sizes, float *const *p, const float *const *g,
             float *const *m, float *const *v, float b1, float c1, float b2, float c2,
             float s2, float eps, float lr1) {
    for (int t = 0; t < n; t++) {
        float *restrict pt = p[t], *restrict mt = m[t], *restrict vt = v[t];
        const float *restrict gt = g[t];
        for (int64_t k = 0; k < sizes[t]; k++) {
            const float gk = gt[k];
            const float mk = mt[k] * b1 + gk * c1;
            const float vk = vt[k] * b2 + (gk * gk) * c2;
            mt[k] = mk;
            vt[k] = vk;
            pt[k] = pt[k] - (mk * lr1) / (sqrtf(vk) * s2 + eps);
        }
    }
    return 0;
}

int zlp_kernel_version(void) { return ZLP_KERNEL_VERSION; }

/* An importable module, so that setuptools builds it like any extension. */
static struct PyModuleDef ckernel_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_ckernel",
    .m_doc = "Compiled training step of sklearn-zlp, called through ctypes (_kernel.py).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__ckernel(void) { return PyModule_Create(&ckernel_module); }
