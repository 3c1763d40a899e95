/*
 * Compiled training step of a replica ensemble of small MLPs (sklearn-zlp).
 *
 * One call does, for every replica r of a chunk, what ReplicaMLP.chi2_step does
 * with torch operations: the forward pass of the replica's network on all its
 * points, its training (and validation) chi^2, the optional monotonic penalty,
 * and the gradient of the training loss with respect to every weight and bias.
 * Each replica's activations stay in the CPU cache from the forward pass to the
 * backward pass, and every layer is evaluated point-vector by point-vector with
 * the layer's sum, bias and activation in registers: the torch path spends most
 * of its time launching small operations and streaming activations through
 * memory between them, which this avoids.
 *
 * Layout (all float32, C-contiguous, as the torch tensors of _modules.py):
 *   x       (n_in, P) shared by all replicas, or (R, n_in, P)
 *   W[l]    (R, out_l, in_l), B[l] (R, out_l, 1)
 *   y, w_train, w_valid, y_pred   (R, P)
 *   chi2, valid_chi2, penalty     (R,)
 *   pairs   lo[k], hi[k] point indices (int64), k < n_pairs
 *
 * GNU C (gcc or clang: generic vector types, plus OpenMP SIMD pragmas with
 * -fopenmp-simd, which needs no OpenMP runtime) and pthreads. Elsewhere the build
 * fails and the package trains with its torch path. The CPython module at the end
 * only exists so that setuptools builds and installs the library; Python calls
 * zlp_chi2_step through ctypes (sklearn_zlp/_kernel.py).
 */
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define ZLP_PTHREADS 1
#endif

#define ACT_IDENTITY 0
#define ACT_SIGMOID 1
#define ACT_TANH 2
#define ACT_RELU 3

/* Bumped whenever an exported function or its signature changes: _kernel.py refuses a
 * stale build instead of calling it with the wrong arguments. */
#define ZLP_KERNEL_VERSION 2

#define MAX_LAYERS 16
#define MAX_THREADS 64
#define BLOCK 256 /* points per block of the backward pass (L1-sized) */

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__GLIBC__) && __GNUC__ >= 12 && !defined(ZLP_NO_CLONES)
/* One build runs the AVX-512, AVX2 or baseline clone, picked at load time by
 * glibc's ifunc (-DZLP_NO_CLONES builds one version for the -march given, as the
 * tests do; other compilers and C libraries get the one their flags select). */
#define ZLP_CLONES \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ZLP_CLONES
#endif

#if defined(__GNUC__)
#define ZLP_INLINE inline __attribute__((always_inline))
#else
#define ZLP_INLINE inline
#endif

/* Sixteen floats: one AVX-512 register, two AVX2 or four SSE registers (GCC's
 * generic vectors are lowered to what each clone's instruction set has). Every
 * row below is 64-byte aligned and a multiple of CHUNK points long. */
typedef float vf __attribute__((vector_size(64), aligned(64)));
typedef int32_t vi __attribute__((vector_size(64), aligned(64)));
#define VL 16
#define CHUNK 64 /* points per step: four independent vectors in flight */

static ZLP_INLINE vf splat(float s) { return (vf){0} + s; }

/* m ? a : b lane by lane, for a comparison mask m (all bits set or none). */
static ZLP_INLINE vf vselect(vi m, vf a, vf b) {
    return (vf)((m & (vi)a) | (~m & (vi)b));
}

/* exp(x) (Cephes expf: range reduction by ln 2 and a degree-5 polynomial,
 * relative error about 1e-7), x clamped to [-87, 87] so that the result and its
 * reciprocal are normal floats. */
static ZLP_INLINE vf vexp(vf x) {
    x = vselect(x < splat(-87.0f), splat(-87.0f), x);
    x = vselect(x > splat(87.0f), splat(87.0f), x);
    /* floor(x / ln 2 + 1/2) by truncation of a positive number */
    const vi k = __builtin_convertvector(x * 1.44269504088896341f + 128.5f, vi);
    const vf n = __builtin_convertvector(k, vf) - 128.0f;
    vf r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    vf p = splat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const vf e = p * r * r + r + 1.0f;
    return e * (vf)((k - 1) << 23); /* 2^n = bits of (n + 127) << 23 */
}

/* 1 / t for t in [1, 1e38]: a bit-level first guess refined by three Newton
 * steps (relative error below 1e-7), several times cheaper than a division. */
static ZLP_INLINE vf vrecip(vf t) {
    vf q = (vf)(0x7EF311C3 - (vi)t);
    /* q + q (1 - t q): the residual 1 - t q is exact with a fused multiply-add,
     * so the last step rounds to within about one ulp */
    q = q + q * (1.0f - t * q);
    q = q + q * (1.0f - t * q);
    q = q + q * (1.0f - t * q);
    return q;
}

static ZLP_INLINE vf act_sigmoid(vf z) { return vrecip(1.0f + vexp(-z)); }
static ZLP_INLINE vf act_tanh(vf z) { return 2.0f * vrecip(1.0f + vexp(-2.0f * z)) - 1.0f; }
/* relu and its gradient keep NaN as torch does (a diverged replica must show) */
static ZLP_INLINE vf act_relu(vf z) { return vselect(z < splat(0.0f), splat(0.0f), z); }
static ZLP_INLINE vf act_identity(vf z) { return z; }

/* g times the activation's derivative, from the activation's output a */
static ZLP_INLINE vf grad_sigmoid(vf g, vf a) { return g * (a * (1.0f - a)); }
static ZLP_INLINE vf grad_tanh(vf g, vf a) { return g * (1.0f - a * a); }
static ZLP_INLINE vf grad_relu(vf g, vf a) { return vselect(a <= splat(0.0f), splat(0.0f), g); }
static ZLP_INLINE vf grad_identity(vf g, vf a) { return (void)a, g; }

/* out[o, p] = act(b[o] + sum_i w[o, i] in[i, p]) for p in [0, n), n a multiple
 * of CHUNK; rows of in and out are ld floats apart. Two outputs and four vectors
 * of points at a time (eight independent sums sharing each load), the sums and
 * the activation in registers. */
#define LAYER_FORWARD(ACT)                                                          \
    static ZLP_INLINE void forward_##ACT(const float *restrict w,                  \
                                         const float *restrict b, int n_out,       \
                                         int n_in, const float *restrict in,       \
                                         float *restrict out, int64_t ld, int n) { \
        int o = 0;                                                                  \
        for (; o + 2 <= n_out; o += 2) {                                            \
            const float *w0 = w + (int64_t)o * n_in, *w1 = w0 + n_in;               \
            for (int p = 0; p < n; p += CHUNK) {                                    \
                vf a0 = splat(b[o]), a1 = a0, a2 = a0, a3 = a0;                     \
                vf c0 = splat(b[o + 1]), c1 = c0, c2 = c0, c3 = c0;                 \
                for (int i = 0; i < n_in; i++) {                                    \
                    const vf *ini = (const vf *)(in + i * ld + p);                  \
                    const vf x0 = ini[0], x1 = ini[1], x2 = ini[2], x3 = ini[3];    \
                    const float u = w0[i], v = w1[i];                               \
                    a0 += u * x0;                                                   \
                    a1 += u * x1;                                                   \
                    a2 += u * x2;                                                   \
                    a3 += u * x3;                                                   \
                    c0 += v * x0;                                                   \
                    c1 += v * x1;                                                   \
                    c2 += v * x2;                                                   \
                    c3 += v * x3;                                                   \
                }                                                                   \
                vf *d0 = (vf *)(out + o * ld + p), *d1 = (vf *)(out + (o + 1) * ld + p); \
                d0[0] = act_##ACT(a0);                                              \
                d0[1] = act_##ACT(a1);                                              \
                d0[2] = act_##ACT(a2);                                              \
                d0[3] = act_##ACT(a3);                                              \
                d1[0] = act_##ACT(c0);                                              \
                d1[1] = act_##ACT(c1);                                              \
                d1[2] = act_##ACT(c2);                                              \
                d1[3] = act_##ACT(c3);                                              \
            }                                                                       \
        }                                                                           \
        for (; o < n_out; o++) {                                                    \
            const float *wo = w + (int64_t)o * n_in;                                \
            for (int p = 0; p < n; p += CHUNK) {                                    \
                vf a0 = splat(b[o]), a1 = a0, a2 = a0, a3 = a0;                     \
                for (int i = 0; i < n_in; i++) {                                    \
                    const vf *ini = (const vf *)(in + i * ld + p);                  \
                    const float u = wo[i];                                          \
                    a0 += u * ini[0];                                               \
                    a1 += u * ini[1];                                               \
                    a2 += u * ini[2];                                               \
                    a3 += u * ini[3];                                               \
                }                                                                   \
                vf *d0 = (vf *)(out + o * ld + p);                                  \
                d0[0] = act_##ACT(a0);                                              \
                d0[1] = act_##ACT(a1);                                              \
                d0[2] = act_##ACT(a2);                                              \
                d0[3] = act_##ACT(a3);                                              \
            }                                                                       \
        }                                                                           \
    }
LAYER_FORWARD(sigmoid)
LAYER_FORWARD(tanh)
LAYER_FORWARD(relu)
LAYER_FORWARD(identity)

static ZLP_INLINE void layer_forward(const float *restrict w, const float *restrict b,
                                     int n_out, int n_in, const float *restrict in,
                                     float *restrict out, int64_t ld, int n, int act) {
    switch (act) {
        case ACT_SIGMOID:
            forward_sigmoid(w, b, n_out, n_in, in, out, ld, n);
            break;
        case ACT_TANH:
            forward_tanh(w, b, n_out, n_in, in, out, ld, n);
            break;
        case ACT_RELU:
            forward_relu(w, b, n_out, n_in, in, out, ld, n);
            break;
        default:
            forward_identity(w, b, n_out, n_in, in, out, ld, n);
    }
}

/* Lane-wise partial sums (reduced once per replica, no horizontal sum per block):
 * vw[o * n_in + i] += g[o, p] a[i, p] and vb[o] += g[o, p] over p in [0, n).
 * Four inputs i and two vectors of points at a time: eight independent sums
 * sharing each load of g. */
static ZLP_INLINE void weight_gradient(const float *restrict g, int64_t ld_g,
                                       const float *restrict a, int64_t ld_a, int n_out,
                                       int n_in, int n, vf *restrict vw,
                                       vf *restrict vb) {
    for (int o = 0; o < n_out; o++) {
        const float *go = g + o * ld_g;
        vf *vwo = vw + (int64_t)o * n_in;
        vf s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
        for (int p = 0; p < n; p += CHUNK) {
            const vf *gp = (const vf *)(go + p);
            s0 += gp[0];
            s1 += gp[1];
            s2 += gp[2];
            s3 += gp[3];
        }
        vb[o] += (s0 + s1) + (s2 + s3);
        int i = 0;
        for (; i + 4 <= n_in; i += 4) {
            const float *a0 = a + i * ld_a, *a1 = a0 + ld_a, *a2 = a1 + ld_a,
                        *a3 = a2 + ld_a;
            vf t0 = {0}, t1 = {0}, t2 = {0}, t3 = {0};
            vf u0 = {0}, u1 = {0}, u2 = {0}, u3 = {0};
            for (int p = 0; p < n; p += 2 * VL) {
                const vf g0 = *(const vf *)(go + p), g1 = *(const vf *)(go + p + VL);
                t0 += g0 * *(const vf *)(a0 + p);
                t1 += g0 * *(const vf *)(a1 + p);
                t2 += g0 * *(const vf *)(a2 + p);
                t3 += g0 * *(const vf *)(a3 + p);
                u0 += g1 * *(const vf *)(a0 + p + VL);
                u1 += g1 * *(const vf *)(a1 + p + VL);
                u2 += g1 * *(const vf *)(a2 + p + VL);
                u3 += g1 * *(const vf *)(a3 + p + VL);
            }
            vwo[i] += t0 + u0;
            vwo[i + 1] += t1 + u1;
            vwo[i + 2] += t2 + u2;
            vwo[i + 3] += t3 + u3;
        }
        for (; i < n_in; i++) {
            const float *ai = a + i * ld_a;
            vf t0 = {0}, t1 = {0}, t2 = {0}, t3 = {0};
            for (int p = 0; p < n; p += CHUNK) {
                const vf *gp = (const vf *)(go + p), *ap = (const vf *)(ai + p);
                t0 += gp[0] * ap[0];
                t1 += gp[1] * ap[1];
                t2 += gp[2] * ap[2];
                t3 += gp[3] * ap[3];
            }
            vwo[i] += (t0 + t1) + (t2 + t3);
        }
    }
}

/* gin[i, p] = act'(a[i, p]) sum_o w[o, i] g[o, p]: the gradient at the inputs of
 * this layer, taken back through the previous layer's activation (n a multiple
 * of CHUNK). Two inputs and four vectors of points at a time. */
#define INPUT_GRADIENT(ACT)                                                          \
    static ZLP_INLINE void input_gradient_##ACT(                                     \
        const float *restrict w, int n_out, int n_in, const float *restrict g,       \
        int64_t ld_g, const float *restrict a, int64_t ld_a, float *restrict gin,    \
        int64_t ld_gin, int n) {                                                     \
        int i = 0;                                                                   \
        for (; i + 2 <= n_in; i += 2) {                                              \
            for (int p = 0; p < n; p += CHUNK) {                                     \
                vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                           \
                vf c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0};                           \
                for (int o = 0; o < n_out; o++) {                                    \
                    const vf *gp = (const vf *)(g + o * ld_g + p);                   \
                    const vf g0 = gp[0], g1 = gp[1], g2 = gp[2], g3 = gp[3];         \
                    const float u = w[o * n_in + i], v = w[o * n_in + i + 1];        \
                    a0 += u * g0;                                                    \
                    a1 += u * g1;                                                    \
                    a2 += u * g2;                                                    \
                    a3 += u * g3;                                                    \
                    c0 += v * g0;                                                    \
                    c1 += v * g1;                                                    \
                    c2 += v * g2;                                                    \
                    c3 += v * g3;                                                    \
                }                                                                    \
                const vf *ap = (const vf *)(a + i * ld_a + p);                       \
                const vf *aq = (const vf *)(a + (i + 1) * ld_a + p);                 \
                vf *d0 = (vf *)(gin + i * ld_gin + p);                               \
                vf *d1 = (vf *)(gin + (i + 1) * ld_gin + p);                         \
                d0[0] = grad_##ACT(a0, ap[0]);                                       \
                d0[1] = grad_##ACT(a1, ap[1]);                                       \
                d0[2] = grad_##ACT(a2, ap[2]);                                       \
                d0[3] = grad_##ACT(a3, ap[3]);                                       \
                d1[0] = grad_##ACT(c0, aq[0]);                                       \
                d1[1] = grad_##ACT(c1, aq[1]);                                       \
                d1[2] = grad_##ACT(c2, aq[2]);                                       \
                d1[3] = grad_##ACT(c3, aq[3]);                                       \
            }                                                                        \
        }                                                                            \
        for (; i < n_in; i++) {                                                      \
            for (int p = 0; p < n; p += CHUNK) {                                     \
                vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                           \
                for (int o = 0; o < n_out; o++) {                                    \
                    const vf *gp = (const vf *)(g + o * ld_g + p);                   \
                    const float u = w[o * n_in + i];                                 \
                    a0 += u * gp[0];                                                 \
                    a1 += u * gp[1];                                                 \
                    a2 += u * gp[2];                                                 \
                    a3 += u * gp[3];                                                 \
                }                                                                    \
                const vf *ap = (const vf *)(a + i * ld_a + p);                       \
                vf *d0 = (vf *)(gin + i * ld_gin + p);                               \
                d0[0] = grad_##ACT(a0, ap[0]);                                       \
                d0[1] = grad_##ACT(a1, ap[1]);                                       \
                d0[2] = grad_##ACT(a2, ap[2]);                                       \
                d0[3] = grad_##ACT(a3, ap[3]);                                       \
            }                                                                        \
        }                                                                            \
    }
INPUT_GRADIENT(sigmoid)
INPUT_GRADIENT(tanh)
INPUT_GRADIENT(relu)
INPUT_GRADIENT(identity)

static ZLP_INLINE void input_gradient(const float *restrict w, int n_out, int n_in,
                                      const float *restrict g, int64_t ld_g,
                                      const float *restrict a, int64_t ld_a,
                                      float *restrict gin, int64_t ld_gin, int n,
                                      int act) {
    switch (act) {
        case ACT_SIGMOID:
            input_gradient_sigmoid(w, n_out, n_in, g, ld_g, a, ld_a, gin, ld_gin, n);
            break;
        case ACT_TANH:
            input_gradient_tanh(w, n_out, n_in, g, ld_g, a, ld_a, gin, ld_gin, n);
            break;
        case ACT_RELU:
            input_gradient_relu(w, n_out, n_in, g, ld_g, a, ld_a, gin, ld_gin, n);
            break;
        default:
            input_gradient_identity(w, n_out, n_in, g, ld_g, a, ld_a, gin, ld_gin, n);
    }
}

static void *aligned_buffer(size_t n_floats) {
    size_t bytes = (n_floats * sizeof(float) + 63) / 64 * 64;
    return aligned_alloc(64, bytes ? bytes : 64);
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

/* Everything one call needs; each thread works on replicas [r0, r1). */
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

ZLP_CLONES
static void replicas_step(step_job *job) {
    const int n_layers = job->n_layers;
    const int64_t *sizes = job->sizes;
    const int32_t *acts = job->acts;
    const int64_t P = job->P, n_pairs = job->n_pairs;
    const int64_t *lo = job->lo, *hi = job->hi;
    int64_t n_hidden_rows = 0, widest = 1, n_params = 0;
    for (int l = 0; l < n_layers; l++) {
        if (l > 0) n_hidden_rows += sizes[l];
        if (sizes[l] > widest) widest = sizes[l];
        n_params += sizes[l + 1] * (sizes[l] + 1);
    }
    const int64_t n_in0 = sizes[0];
    /* Rows padded to a multiple of CHUNK points: the inputs (zeros beyond P), the
     * activations of every hidden layer and the prediction, the output gradient
     * (zeros beyond P, so padding adds nothing to any gradient), two gradient
     * blocks, and lane-wise parameter gradients. */
    const int64_t ld = (P + CHUNK - 1) / CHUNK * CHUNK;
    float *xpad = aligned_buffer((size_t)(n_in0 * ld));
    float *hidden = aligned_buffer((size_t)((n_hidden_rows + 2) * ld));
    float *gblock = aligned_buffer((size_t)(2 * widest * BLOCK));
    vf *vacc = aligned_buffer((size_t)(n_params * VL));
    if (!xpad || !hidden || !gblock || !vacc) {
        free(xpad);
        free(hidden);
        free(gblock);
        free(vacc);
        job->status = 2;
        return;
    }
    memset(xpad, 0, sizeof(float) * (size_t)(n_in0 * ld));
    memset(hidden, 0, sizeof(float) * (size_t)((n_hidden_rows + 2) * ld));
    float *act_rows[MAX_LAYERS + 1];
    {
        float *cursor = hidden;
        for (int l = 0; l < n_layers; l++) { /* hidden layers, then the prediction */
            act_rows[l] = cursor;
            cursor += (l < n_layers - 1 ? sizes[l + 1] : 1) * ld;
        }
        act_rows[n_layers] = cursor; /* d loss / d y_pred */
    }
    float *pred = act_rows[n_layers - 1], *gout = act_rows[n_layers];
    const float inv_pairs = n_pairs > 0 ? 1.0f / (float)n_pairs : 0.0f;

    for (int64_t r = job->r0; r < job->r1; r++) {
        if (r == job->r0 || !job->x_shared) {
            const float *xr = job->x_shared ? job->x : job->x + r * n_in0 * P;
            for (int64_t i = 0; i < n_in0; i++)
                memcpy(xpad + i * ld, xr + i * P, sizeof(float) * (size_t)P);
        }
        const float *wl[MAX_LAYERS], *bl[MAX_LAYERS];
        for (int l = 0; l < n_layers; l++) {
            wl[l] = job->W[l] + r * sizes[l + 1] * sizes[l];
            bl[l] = job->B[l] + r * sizes[l + 1];
        }
        const float *yr = job->y + r * P;
        const float *wtr = job->w_train + r * P;

        /* forward, one block of points through all layers at a time */
        for (int64_t p0 = 0; p0 < ld; p0 += BLOCK) {
            const int n = (int)(ld - p0 < BLOCK ? ld - p0 : BLOCK);
            const float *in = xpad + p0;
            for (int l = 0; l < n_layers; l++) {
                const int last = l == n_layers - 1;
                float *out = act_rows[l] + p0;
                layer_forward(wl[l], bl[l], (int)sizes[l + 1], (int)sizes[l], in, out, ld,
                              n, last ? ACT_IDENTITY : acts[l]);
                in = out;
            }
        }
        memcpy(job->y_pred + r * P, pred, sizeof(float) * (size_t)P);

        /* chi^2 and d chi^2 / d y_pred = 2 w (f - y) */
        double c_train = 0.0, c_valid = 0.0;
        {
            float s = 0.0f;
#pragma omp simd reduction(+ : s)
            for (int64_t p = 0; p < P; p++) {
                const float res = pred[p] - yr[p];
                const float wr = wtr[p] * res;
                s += wr * res;
                gout[p] = 2.0f * wr;
            }
            c_train = s;
        }
        if (job->w_valid) {
            const float *wv = job->w_valid + r * P;
            float s = 0.0f;
#pragma omp simd reduction(+ : s)
            for (int64_t p = 0; p < P; p++) {
                const float res = pred[p] - yr[p];
                s += wv[p] * res * res;
            }
            c_valid = s;
        }
        if (n_pairs > 0) {
            /* penalty * mean(relu(f[hi] - f[lo])^2) */
            const float lam = job->penalty[r];
            float s = 0.0f;
            for (int64_t k = 0; k < n_pairs; k++) {
                const float rise = pred[hi[k]] - pred[lo[k]];
                if (rise > 0.0f) {
                    s += rise * rise;
                    const float d = lam * 2.0f * inv_pairs * rise;
                    gout[hi[k]] += d;
                    gout[lo[k]] -= d;
                }
            }
            c_train += (double)lam * s * inv_pairs;
        }
        job->chi2[r] = (float)c_train;
        if (job->valid_chi2) job->valid_chi2[r] = (float)c_valid;

        /* backward, block by block, accumulating lane-wise parameter gradients */
        memset(vacc, 0, sizeof(vf) * (size_t)n_params);
        for (int64_t p0 = 0; p0 < ld; p0 += BLOCK) {
            const int n = (int)(ld - p0 < BLOCK ? ld - p0 : BLOCK);
            const float *g = gout + p0;
            int64_t ld_g = ld;
            float *gcur = gblock, *gnext = gblock + widest * BLOCK;
            vf *vw = vacc + n_params;
            for (int l = n_layers - 1; l >= 0; l--) {
                const int n_out = (int)sizes[l + 1], n_in = (int)sizes[l];
                vw -= (int64_t)n_out * (n_in + 1);
                const float *a = l > 0 ? act_rows[l - 1] + p0 : xpad + p0;
                weight_gradient(g, ld_g, a, ld, n_out, n_in, n, vw,
                                vw + (int64_t)n_out * n_in);
                if (l > 0) {
                    input_gradient(wl[l], n_out, n_in, g, ld_g, a, ld, gcur, BLOCK, n,
                                   acts[l - 1]);
                    g = gcur;
                    ld_g = BLOCK;
                    float *t = gcur;
                    gcur = gnext;
                    gnext = t;
                }
            }
        }
        {
            const vf *vw = vacc;
            for (int l = 0; l < n_layers; l++) {
                const int64_t nw = sizes[l + 1] * sizes[l], nb = sizes[l + 1];
                float *dw = job->gW[l] + r * nw, *db = job->gB[l] + r * nb;
                for (int64_t k = 0; k < nw + nb; k++) {
                    double s = 0.0;
                    for (int j = 0; j < VL; j++) s += vw[k][j];
                    if (k < nw)
                        dw[k] = (float)s;
                    else
                        db[k - nw] = (float)s;
                }
                vw += nw + nb;
            }
        }
    }
    free(xpad);
    free(hidden);
    free(gblock);
    free(vacc);
    job->status = 0;
}

static void *replicas_thread(void *job) {
    replicas_step((step_job *)job);
    return NULL;
}

/*
 * The step for R replicas on n_threads threads (contiguous shares of the
 * replicas; each replica's results do not depend on the split). Returns 0 on
 * success, 1 if the network is outside what the kernel supports (the caller then
 * uses the torch path), 2 if memory could not be allocated.
 */
int zlp_chi2_step(int n_layers, const int64_t *sizes, const int32_t *acts, int64_t R,
                  int64_t P, const float *x, int x_shared, const float *const *W,
                  const float *const *B, const float *y, const float *w_train,
                  const float *w_valid, int64_t n_pairs, const int64_t *lo,
                  const int64_t *hi, const float *penalty, float *y_pred, float *chi2,
                  float *valid_chi2, float *const *gW, float *const *gB,
                  int n_threads) {
    if (unsupported(n_layers, sizes, R, P)) return 1;
    n_threads = thread_count(n_threads, R);
    step_job jobs[MAX_THREADS];
    for (int t = 0; t < n_threads; t++) {
        step_job job = {n_layers, sizes, acts, P, x, x_shared, W, B, y, w_train,
                        w_valid, n_pairs, lo, hi, penalty, y_pred, chi2, valid_chi2,
                        gW, gB, R * t / n_threads, R * (t + 1) / n_threads, 0};
        jobs[t] = job;
    }
    run_jobs(replicas_thread, (char *)jobs, sizeof(step_job), n_threads);
    for (int t = 0; t < n_threads; t++)
        if (jobs[t].status) return jobs[t].status;
    return 0;
}

/* Inference: out[r, p] = f_r(x[:, p]) for shared inputs, a block of points at a
 * time through every layer of each replica in turn (the block's inputs are
 * copied once and stay in L1 for all replicas). A point's result depends on
 * that point alone, never on the batch it came in. */
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

ZLP_CLONES
static void replicas_forward(forward_job *job) {
    const int n_layers = job->n_layers;
    const int64_t *sizes = job->sizes;
    const int64_t P = job->P, n_in0 = sizes[0];
    int64_t widest = 1;
    for (int l = 0; l <= n_layers; l++)
        if (sizes[l] > widest) widest = sizes[l];
    float *xblock = aligned_buffer((size_t)(n_in0 * BLOCK));
    float *ping = aligned_buffer((size_t)(widest * BLOCK));
    float *pong = aligned_buffer((size_t)(widest * BLOCK));
    if (!xblock || !ping || !pong) {
        free(xblock);
        free(ping);
        free(pong);
        job->status = 2;
        return;
    }
    for (int64_t p0 = 0; p0 < P; p0 += BLOCK) {
        const int64_t n = P - p0 < BLOCK ? P - p0 : BLOCK;
        const int padded = (int)((n + CHUNK - 1) / CHUNK * CHUNK);
        memset(xblock, 0, sizeof(float) * (size_t)(n_in0 * BLOCK));
        for (int64_t i = 0; i < n_in0; i++)
            memcpy(xblock + i * BLOCK, job->x + i * P + p0, sizeof(float) * (size_t)n);
        for (int64_t r = job->r0; r < job->r1; r++) {
            const float *in = xblock;
            float *dst = ping;
            for (int l = 0; l < n_layers; l++) {
                const int last = l == n_layers - 1;
                layer_forward(job->W[l] + r * sizes[l + 1] * sizes[l],
                              job->B[l] + r * sizes[l + 1], (int)sizes[l + 1],
                              (int)sizes[l], in, dst, BLOCK, padded,
                              last ? ACT_IDENTITY : job->acts[l]);
                in = dst;
                dst = dst == ping ? pong : ping;
            }
            memcpy(job->out + r * P + p0, in, sizeof(float) * (size_t)n);
        }
    }
    free(xblock);
    free(ping);
    free(pong);
    job->status = 0;
}

static void *forward_thread(void *job) {
    replicas_forward((forward_job *)job);
    return NULL;
}

/* Predictions of R replicas on P shared points on n_threads threads; returns as
 * zlp_chi2_step does. */
int zlp_forward(int n_layers, const int64_t *sizes, const int32_t *acts, int64_t R,
                int64_t P, const float *x, const float *const *W, const float *const *B,
                float *out, int n_threads) {
    if (unsupported(n_layers, sizes, R, P)) return 1;
    n_threads = thread_count(n_threads, R);
    forward_job jobs[MAX_THREADS];
    for (int t = 0; t < n_threads; t++) {
        forward_job job = {n_layers, sizes, acts, P, x, W, B, out,
                           R * t / n_threads, R * (t + 1) / n_threads, 0};
        jobs[t] = job;
    }
    run_jobs(forward_thread, (char *)jobs, sizeof(forward_job), n_threads);
    for (int t = 0; t < n_threads; t++)
        if (jobs[t].status) return jobs[t].status;
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
