/*
 * The training step and the forward pass of a replica ensemble of small MLPs, for
 * one instruction set (sklearn-zlp). Included once by each of _ckernel_avx512.c,
 * _ckernel_avx2.c and _ckernel_baseline.c, which define
 *
 *   ZLP_VARIANT  the suffix of the two functions defined here (avx512, avx2, baseline)
 *   ZLP_VBYTES   bytes per vector: one register of that instruction set (64, 32, 16)
 *
 * and set the instruction set with a target pragma. Everything here is static
 * except zlp_replicas_step_<variant> and zlp_replicas_forward_<variant>.
 *
 * The training step does, for every replica r of a job, what ReplicaMLP.chi2_step
 * does with torch operations: the forward pass of the replica's network on all its
 * points, its training (and validation) chi^2, the optional monotonic penalty, and
 * the gradient of the training loss with respect to every weight and bias. Each
 * replica's activations stay in the CPU cache from the forward pass to the backward
 * pass, and every layer is evaluated CHUNK points at a time (four vectors) with the
 * layer's sum, bias and activation in registers. Each replica's results depend on
 * that replica alone, never on the others in the job or on the thread split.
 */
#include "_ckernel.h"

#if !defined(ZLP_VARIANT) || !defined(ZLP_VBYTES)
#error "define ZLP_VARIANT and ZLP_VBYTES before including _ckernel_simd.h"
#endif

#define ZLP_CAT2(a, b) a##_##b
#define ZLP_CAT(a, b) ZLP_CAT2(a, b)
#define ZLP_SIMD(name) ZLP_CAT(name, ZLP_VARIANT)

#if defined(__GNUC__)
#define ZLP_INLINE inline __attribute__((always_inline))
#else
#define ZLP_INLINE inline
#endif

/* One register of this instruction set. Every row below is 64-byte aligned and a
 * multiple of CHUNK points long. */
typedef float vf __attribute__((vector_size(ZLP_VBYTES), aligned(ZLP_VBYTES)));
typedef int32_t vi __attribute__((vector_size(ZLP_VBYTES), aligned(ZLP_VBYTES)));
#define VL (ZLP_VBYTES / 4)
#define CHUNK (4 * VL) /* points per step: four independent vectors in flight */

static ZLP_INLINE vf splat(float s) { return (vf){0} + s; }

/* m ? a : b lane by lane, for a comparison mask m (all bits set or none). */
static ZLP_INLINE vf vselect(vi m, vf a, vf b) {
    return (vf)((m & (vi)a) | (~m & (vi)b));
}

/* max(c, x) and min(c, x) lane by lane, x where x is NaN: one instruction where
 * the variant names it (x86 max/min return their second operand when either is
 * NaN), else a comparison and a select; the same values either way. */
#if defined(ZLP_MAX_PS) && defined(ZLP_MIN_PS)
static ZLP_INLINE vf vmax_c(vf c, vf x) { return (vf)ZLP_MAX_PS(c, x); }
static ZLP_INLINE vf vmin_c(vf c, vf x) { return (vf)ZLP_MIN_PS(c, x); }
#else
static ZLP_INLINE vf vmax_c(vf c, vf x) { return vselect(x < c, c, x); }
static ZLP_INLINE vf vmin_c(vf c, vf x) { return vselect(x > c, c, x); }
#endif

/* exp(x) (Cephes expf: range reduction by ln 2 and a degree-5 polynomial,
 * relative error about 1e-7), x clamped to [-87, 87] so that the result and its
 * reciprocal are normal floats. */
static ZLP_INLINE vf vexp(vf x) {
    x = vmin_c(splat(87.0f), vmax_c(splat(-87.0f), x));
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

void ZLP_SIMD(zlp_replicas_step)(step_job *job) {
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
    float *xpad = zlp_aligned_buffer((size_t)(n_in0 * ld));
    float *hidden = zlp_aligned_buffer((size_t)((n_hidden_rows + 2) * ld));
    float *gblock = zlp_aligned_buffer((size_t)(2 * widest * BLOCK));
    vf *vacc = zlp_aligned_buffer((size_t)(n_params * VL));
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

void ZLP_SIMD(zlp_replicas_forward)(forward_job *job) {
    const int n_layers = job->n_layers;
    const int64_t *sizes = job->sizes;
    const int64_t P = job->P, n_in0 = sizes[0];
    int64_t widest = 1;
    for (int l = 0; l <= n_layers; l++)
        if (sizes[l] > widest) widest = sizes[l];
    float *xblock = zlp_aligned_buffer((size_t)(n_in0 * BLOCK));
    float *ping = zlp_aligned_buffer((size_t)(widest * BLOCK));
    float *pong = zlp_aligned_buffer((size_t)(widest * BLOCK));
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
