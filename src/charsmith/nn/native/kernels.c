/* charsmith's optional compiled recurrence: one call runs a layer's whole time loop.
 *
 * It mirrors charsmith.nn.layer.recur_forward / recur_backward step for step and writes the
 * same buffers, so the Python side (weight gradients, input gradients) is shared. Layout is
 * time-major and feature-major: xp (T, G, B), hs (T+1, H, B), per-step caches (T, rows, B);
 * every gate's block of rows is contiguous, so the gate maths are flat loops over H*B.
 * The recurrent matmuls call the BLAS NumPy itself uses (its cblas_?gemm, handed over by
 * cs_init as a function pointer), so nothing here links against a BLAS.
 *
 * kernels_body.h holds the kernels once, written in terms of `real`; it is included twice,
 * for float (suffix _f32, with an exp that the compiler can vectorise) and double (_f64,
 * libm's exp and tanh: the float64 path is the one the finite-difference tests check).
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The gate loops' arrays never overlap: let the compiler vectorise without alias checks. */
#if defined(__clang__)
#define IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define IVDEP _Pragma("GCC ivdep")
#else
#define IVDEP
#endif

enum { XR = 16 }; /* rows per block in xent */

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 }; /* CBLAS enum values */

typedef void (*sgemm64_t)(int, int, int, int64_t, int64_t, int64_t, float, const float *,
                          int64_t, const float *, int64_t, float, float *, int64_t);
typedef void (*dgemm64_t)(int, int, int, int64_t, int64_t, int64_t, double, const double *,
                          int64_t, const double *, int64_t, double, double *, int64_t);
typedef void (*sgemm32_t)(int, int, int, int32_t, int32_t, int32_t, float, const float *,
                          int32_t, const float *, int32_t, float, float *, int32_t);
typedef void (*dgemm32_t)(int, int, int, int32_t, int32_t, int32_t, double, const double *,
                          int32_t, const double *, int32_t, double, double *, int32_t);

static void *g_sgemm, *g_dgemm;
static int g_ilp64;

static void gemm_any_f32(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A,
                         int64_t lda, const float *Bm, int64_t ldb, float *C, int64_t ldc) {
    if (g_ilp64)
        ((sgemm64_t)g_sgemm)(ROW_MAJOR, ta ? TRANS : NO_TRANS, tb ? TRANS : NO_TRANS, M, N, K,
                             1.0f, A, lda, Bm, ldb, 0.0f, C, ldc);
    else
        ((sgemm32_t)g_sgemm)(ROW_MAJOR, ta ? TRANS : NO_TRANS, tb ? TRANS : NO_TRANS,
                             (int32_t)M, (int32_t)N, (int32_t)K, 1.0f, A, (int32_t)lda, Bm,
                             (int32_t)ldb, 0.0f, C, (int32_t)ldc);
}

static void gemm_any_f64(int ta, int tb, int64_t M, int64_t N, int64_t K, const double *A,
                         int64_t lda, const double *Bm, int64_t ldb, double *C, int64_t ldc) {
    if (g_ilp64)
        ((dgemm64_t)g_dgemm)(ROW_MAJOR, ta ? TRANS : NO_TRANS, tb ? TRANS : NO_TRANS, M, N, K,
                             1.0, A, lda, Bm, ldb, 0.0, C, ldc);
    else
        ((dgemm32_t)g_dgemm)(ROW_MAJOR, ta ? TRANS : NO_TRANS, tb ? TRANS : NO_TRANS,
                             (int32_t)M, (int32_t)N, (int32_t)K, 1.0, A, (int32_t)lda, Bm,
                             (int32_t)ldb, 0.0, C, (int32_t)ldc);
}

/* Called once by the loader: the BLAS's cblas_sgemm / cblas_dgemm and its integer width. */
int cs_init(void *sgemm, void *dgemm, int ilp64) {
    g_sgemm = sgemm;
    g_dgemm = dgemm;
    g_ilp64 = ilp64;
    return (sgemm && dgemm) ? 0 : -1;
}

int cs_version(void) { return 2; }

/* C (M, N) = beta * C + op(A) @ Bm, row-major; op(A) = A (M, K) or A.T with A (K, M),
 * contiguous; Bm and C are blocks of wider arrays, with row strides ldb and ldc. */
static void gemm_f32(int trans_a, int64_t M, int64_t N, int64_t K, const float *A,
                     const float *Bm, int64_t ldb, float beta, float *C, int64_t ldc) {
    int64_t lda = trans_a ? M : K;
    if (g_ilp64)
        ((sgemm64_t)g_sgemm)(ROW_MAJOR, trans_a ? TRANS : NO_TRANS, NO_TRANS, M, N, K, 1.0f, A,
                             lda, Bm, ldb, beta, C, ldc);
    else
        ((sgemm32_t)g_sgemm)(ROW_MAJOR, trans_a ? TRANS : NO_TRANS, NO_TRANS, (int32_t)M,
                             (int32_t)N, (int32_t)K, 1.0f, A, (int32_t)lda, Bm, (int32_t)ldb,
                             beta, C, (int32_t)ldc);
}

static void gemm_f64(int trans_a, int64_t M, int64_t N, int64_t K, const double *A,
                     const double *Bm, int64_t ldb, double beta, double *C, int64_t ldc) {
    int64_t lda = trans_a ? M : K;
    if (g_ilp64)
        ((dgemm64_t)g_dgemm)(ROW_MAJOR, trans_a ? TRANS : NO_TRANS, NO_TRANS, M, N, K, 1.0, A,
                             lda, Bm, ldb, beta, C, ldc);
    else
        ((dgemm32_t)g_dgemm)(ROW_MAJOR, trans_a ? TRANS : NO_TRANS, NO_TRANS, (int32_t)M,
                             (int32_t)N, (int32_t)K, 1.0, A, (int32_t)lda, Bm, (int32_t)ldb,
                             beta, C, (int32_t)ldc);
}

/* ----- splitting work over threads --------------------------------------------------------
 * A call's work is cut into blocks along one dimension (the batch, for the recurrence:
 * columns never interact, so each block runs the whole time loop with no synchronisation).
 * Blocks go to a small pool of persistent worker threads and to the calling thread, each
 * claiming the next unclaimed block; so if a worker is slow to wake (another process holds
 * the core), the caller simply does more blocks itself. Workers spin briefly after a call,
 * since training makes calls back to back, then sleep on a condition variable. The BLAS is
 * called single-threaded from each thread. */
typedef struct job {
    void (*fn)(const struct job *);
    int64_t T, B, H, b0, b1; /* sizes, and the block [b0, b1) of the split dimension B */
    void *p[8];
    int64_t m[8]; /* matmul only: trans_a, trans_b, M, N, K, lda, ldb, ldc */
} job_t;

enum { MAX_THREADS = 64, SPIN = 20000 };

/* `ticket` = (call number << 32) | next unclaimed block: a worker still finishing an
 * earlier call sees a new call number and claims nothing of the new call by mistake. */
static struct {
    pthread_mutex_t mu, call_mu;
    pthread_cond_t cv;
    int workers, njobs;
    job_t *jobs;
    atomic_int done;
    atomic_uint gen;
    atomic_ullong ticket;
} g_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0,
            NULL, 0, 0, 0};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void do_blocks(unsigned gen) {
    for (;;) {
        unsigned long long t = atomic_load(&g_pool.ticket);
        do {
            if ((unsigned)(t >> 32) != gen || (t & 0xffffffffu) >= (unsigned long long)g_pool.njobs)
                return;
        } while (!atomic_compare_exchange_weak(&g_pool.ticket, &t, t + 1));
        const job_t *j = &g_pool.jobs[t & 0xffffffffu];
        j->fn(j);
        atomic_fetch_add(&g_pool.done, 1);
    }
}

static void *worker(void *arg) {
    unsigned seen = (unsigned)(uintptr_t)arg;
    for (;;) {
        unsigned g = atomic_load(&g_pool.gen);
        for (int i = 0; g == seen && i < SPIN; i++, g = atomic_load(&g_pool.gen)) cpu_relax();
        if (g == seen) {
            pthread_mutex_lock(&g_pool.mu);
            while ((g = atomic_load(&g_pool.gen)) == seen) pthread_cond_wait(&g_pool.cv, &g_pool.mu);
            pthread_mutex_unlock(&g_pool.mu);
        }
        seen = g;
        do_blocks(g);
    }
    return NULL;
}

/* Run base->fn on blocks of [0, base->B) with up to nthreads threads (the caller included). */
static void run_split(job_t *base, int64_t nthreads) {
    job_t jobs[MAX_THREADS];
    if (base->B < 1) return;
    if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;
    if (nthreads > base->B) nthreads = base->B;
    if (nthreads <= 1) {
        base->b0 = 0, base->b1 = base->B;
        base->fn(base);
        return;
    }
    const int64_t chunk = (base->B + nthreads - 1) / nthreads;
    int n = 0;
    for (int64_t b0 = 0; b0 < base->B; b0 += chunk, n++) {
        jobs[n] = *base;
        jobs[n].b0 = b0;
        jobs[n].b1 = b0 + chunk < base->B ? b0 + chunk : base->B;
    }
    pthread_mutex_lock(&g_pool.call_mu); /* one call at a time uses the pool */
    while (g_pool.workers < n - 1) {
        pthread_t tid;
        unsigned gen = atomic_load(&g_pool.gen);
        if (pthread_create(&tid, NULL, worker, (void *)(uintptr_t)gen) != 0) break;
        pthread_detach(tid);
        g_pool.workers++;
    }
    const unsigned gen = atomic_load(&g_pool.gen) + 1;
    g_pool.jobs = jobs;
    g_pool.njobs = n;
    atomic_store(&g_pool.done, 0);
    atomic_store(&g_pool.ticket, (unsigned long long)gen << 32);
    pthread_mutex_lock(&g_pool.mu);
    atomic_store(&g_pool.gen, gen);
    pthread_cond_broadcast(&g_pool.cv);
    pthread_mutex_unlock(&g_pool.mu);
    do_blocks(gen);
    while (atomic_load(&g_pool.done) < n) cpu_relax(); /* blocks a worker has claimed */
    pthread_mutex_unlock(&g_pool.call_mu);
}

/* exp(x) for float, branch-free so loops calling it vectorise: x = k ln2 + r with
 * |r| <= ln2/2, a degree-6 polynomial for exp(r) (Cephes expf's coefficients, ~1 ulp),
 * times 2^k built in the exponent bits. x is clamped to [-87, 88], where 2^k is normal. */
static inline float exp_f32(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float kf = x * 1.44269504088896341f + shifter;
    int32_t ki;
    memcpy(&ki, &kf, sizeof ki);
    ki -= 0x4B400000; /* the bits of `shifter`: ki = round(x / ln2) */
    kf -= shifter;
    float r = x - kf * 0.693359375f + kf * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = (ki + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float sigmoid_f32(float x) { return 1.0f / (1.0f + exp_f32(-x)); }
static inline float tanh_f32(float x) { return 2.0f / (1.0f + exp_f32(-2.0f * x)) - 1.0f; }
static inline double sigmoid_f64(double x) { return 1.0 / (1.0 + exp(-x)); }
static inline double tanh_f64(double x) { return tanh(x); }
static inline float sqrt_f32(float x) { return sqrtf(x); }
static inline float log_f32(float x) { return logf(x); }
static inline double log_f64(double x) { return log(x); }
static inline double exp_f64(double x) { return exp(x); }
static inline double sqrt_f64(double x) { return sqrt(x); }

#define real float
#define SFX(name) name##_f32
#include "kernels_body.h"
#undef real
#undef SFX

#define real double
#define SFX(name) name##_f64
#include "kernels_body.h"
#undef real
#undef SFX
