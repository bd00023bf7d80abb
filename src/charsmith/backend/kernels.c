/* charsmith's optional compiled kernels: a layer's whole time loop in one call, and a few
 * fused passes (softmax cross-entropy, Adam, a scatter-add) and a threaded matmul.
 *
 * The recurrence mirrors the NumPy reference backend's time loop (reference.py) step for step
 * and writes the same buffers, so the Python side (weight gradients, input gradients) is
 * shared; layout in kernels_body.h. Matmuls call the BLAS NumPy itself uses (its cblas_?gemm, handed over by
 * cs_init as function pointers), so nothing here links against a BLAS.
 *
 * kernels_body.h holds the kernels once, written in terms of `real`; kernels_dtypes.h
 * includes it for float and double, and this file includes that once per instruction set
 * (see the end of this file). pip install builds this file into _kernels.so (setup.py).
 */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The gate loops' arrays never overlap: let the compiler vectorise without alias checks. */
#if defined(__clang__)
#define IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define IVDEP _Pragma("GCC ivdep")
#else
#define IVDEP
#endif

enum { XR = 16 };  /* rows per block in xent */
enum { NACC = 4 }; /* partial sums in scatter_cols */
enum { HB = 64 };  /* columns per block in head_xent */
enum { SB_FLOATS = 1 << 16 };  /* cell_step: rows per GEMM block so that its (rows, G) scratch holds about this many numbers (256 KB of float: one W_hh packing serves more rows while the block stays in L2) */

/* ----- the BLAS ------------------------------------------------------------------------------ */
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
/* The BLAS's per-thread thread count setter (openblas_set_num_threads_local), or NULL. */
static int (*g_blas_local_threads)(int);

static void pool_reset_in_child(void);

/* Called once by the loader: the BLAS's cblas_sgemm / cblas_dgemm, its integer width, and
 * its per-thread thread-count setter if it has one (else NULL). */
int cs_init(void *sgemm, void *dgemm, int ilp64, void *local_threads) {
    g_sgemm = sgemm;
    g_dgemm = dgemm;
    g_ilp64 = ilp64;
    g_blas_local_threads = (int (*)(int))local_threads;
    pthread_atfork(NULL, NULL, pool_reset_in_child);
    return (sgemm && dgemm) ? 0 : -1;
}

/* Set the calling thread's BLAS thread count; return the previous one, or -1 if the BLAS
 * has no per-thread setting. */
int cs_blas_local_threads(int n) { return g_blas_local_threads ? g_blas_local_threads(n) : -1; }

/* C (M, N) = beta * C + op(A) @ op(B), row-major, any leading dimensions. */
#define DEFINE_GEMM(sfx, real, fn, t64, t32)                                                          \
    static void gemm##sfx(int ta, int tb, int64_t M, int64_t N, int64_t K, const real *A,         \
                          int64_t lda, const real *Bm, int64_t ldb, real beta, real *C,           \
                          int64_t ldc) {                                                          \
        const int oa = ta ? TRANS : NO_TRANS, ob = tb ? TRANS : NO_TRANS;                         \
        if (g_ilp64)                                                                              \
            ((t64)fn)(ROW_MAJOR, oa, ob, M, N, K, 1, A, lda, Bm, ldb, beta, C, ldc); \
        else                                                                                      \
            ((t32)fn)(ROW_MAJOR, oa, ob, (int32_t)M, (int32_t)N, (int32_t)K, 1, A,   \
                                  (int32_t)lda, Bm, (int32_t)ldb, beta, C, (int32_t)ldc);         \
    }
DEFINE_GEMM(_f32, float, g_sgemm, sgemm64_t, sgemm32_t)
DEFINE_GEMM(_f64, double, g_dgemm, dgemm64_t, dgemm32_t)
#undef DEFINE_GEMM

/* ----- splitting work over threads -----------------------------------------------------------
 * A call's work is cut into `nblocks` blocks along one dimension, and up to `nthreads`
 * threads run them: the caller and the workers of a small persistent pool, each claiming
 * the next unclaimed block. The caller picks nblocks from its thread budget and the sizes
 * alone, and a block computes the same numbers whichever thread runs it, so the results
 * never depend on how many threads took part (nthreads may be anything from 1 to nblocks).
 *
 * A thread never waits for a block nobody has started: a worker that is slow to come (asleep,
 * or its core taken by another process) simply finds nothing left, and the caller ran its
 * blocks. Workers spin a few milliseconds after a call, since training makes calls back to
 * back, then sleep on a condition variable. The BLAS is called single-threaded from each thread. One
 * call at a time uses the pool; a call that finds it in use runs on its own thread.
 *
 * Work goes in phases: all blocks of a phase finish before any block of the next starts.
 * The recurrence splits in one of two ways (the mode):
 *  - SPLIT_BATCH: blocks of batch columns [b0, b1). Columns never interact, so each block
 *    runs the whole time loop in one phase, with no synchronisation.
 *  - SPLIT_UNITS: blocks of hidden units [u0, u1), for batches too narrow to split. Every
 *    step needs the whole previous state, so each step is a phase (the blocks of a step are
 *    claimed afresh, by whichever threads are running then).
 * The other kernels split like SPLIT_BATCH, in one phase.
 */
enum { SPLIT_BATCH = 0, SPLIT_UNITS = 1 };

typedef struct job {
    void (*fn)(const struct job *, int64_t phase); /* run this block's part of a phase */
    int64_t T, B, H;
    int64_t b0, b1, u0, u1; /* this block's batch columns and hidden units */
    int64_t k;              /* this block's number, 0 .. nblocks - 1 */
    int64_t nblocks, phases;
    const int64_t *ids;     /* forward only: if set, xp is a table (G, ldt) read by id */
    int64_t ldt;
    void *scratch;          /* this block's own scratch (the recurrence's gathered inputs) */
    void *p[8];
    int64_t m[8]; /* matmul: trans_a, trans_b, M, N, K, lda, ldb, ldc; head_xent: V, ldy */
} job_t;

/* A worker waits SPIN_NS after a call before it sleeps (training makes calls a few hundred
 * microseconds apart, and waking a sleeping thread costs tens of them): WAIT_SPIN pauses,
 * then yielding its core, in case it shares one, until the time is up. A thread waiting for
 * a phase's last blocks does the same, without a time limit. */
enum { MAX_BLOCKS = 32, WAIT_SPIN = 2000 };
#define SPIN_NS 3000000LL

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* The claim word of the running call: (phase << 32) | the blocks of the phase taken (bit k:
 * block k; bits from nblocks on are always set). A thread claims a block by setting its
 * bit, so the word says exactly which phase's block it got; phase DONE: the call is over. */
#define DONE 0xffffffffull
#define ALL_TAKEN 0xffffffffull

static struct {
    pthread_mutex_t mu, call_mu;
    pthread_cond_t cv;
    int workers;
    const job_t *jobs;      /* the running call's blocks */
    atomic_int helpers, joined;
    atomic_int done;        /* blocks of the current phase finished */
    atomic_uint gen;        /* bumped to wake the workers for a call */
    atomic_ullong claim;
} g_pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .call_mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
            .claim = DONE << 32 | ALL_TAKEN};

/* A forked child has none of the parent's worker threads: start again with an empty pool
 * (and fresh locks, in case the fork came while another thread held one). */
static void pool_reset_in_child(void) {
    pthread_mutex_init(&g_pool.mu, NULL);
    pthread_mutex_init(&g_pool.call_mu, NULL);
    pthread_cond_init(&g_pool.cv, NULL);
    g_pool.workers = 0;
}

static unsigned long long phase_start(int64_t phase, int64_t nblocks) {
    return (unsigned long long)phase << 32 | (ALL_TAKEN << nblocks & ALL_TAKEN);
}

/* Run blocks of the running call until it is over, block `home` first when it is free (a
 * thread tends to keep the same rows, and their weights stay in its cache). A thread that
 * finds every block of the phase taken waits for the phase to end: it only ever waits for
 * blocks that are running. The one finishing a phase's last block opens the next phase. */
static void work(int home) {
    for (;;) {
        unsigned long long c = atomic_load(&g_pool.claim);
        const unsigned long long phase = c >> 32, taken = c & ALL_TAKEN;
        if (phase == DONE) return;
        if (taken != ALL_TAKEN) {
            const int b = home < MAX_BLOCKS && !(taken >> home & 1) ? home : __builtin_ctzll(~taken);
            if (!atomic_compare_exchange_weak(&g_pool.claim, &c, c | 1ull << b)) continue;
            const job_t *j = &g_pool.jobs[b];
            j->fn(j, (int64_t)phase);
            if (atomic_fetch_add(&g_pool.done, 1) == j->nblocks - 1) { /* the phase's last block */
                atomic_store(&g_pool.done, 0);
                const int64_t next = (int64_t)phase + 1;
                atomic_store(&g_pool.claim, next < j->phases ? phase_start(next, j->nblocks) : DONE << 32 | ALL_TAKEN);
            }
            continue;
        }
        for (int i = 0; atomic_load(&g_pool.claim) == c; i++) { /* the phase's last blocks are running */
            if (i < WAIT_SPIN)
                cpu_relax();
            else
                sched_yield(); /* whoever runs them may need this core */
        }
    }
}

static void *worker(void *arg) {
    const int home = (int)((uintptr_t)arg & 0xff); /* this worker's block, if the call has that many */
    unsigned seen = (unsigned)((uint64_t)(uintptr_t)arg >> 32); /* the call number before its first call */
    if (g_blas_local_threads) g_blas_local_threads(1); /* we are one of the threads already */
    for (;;) {
        unsigned g = atomic_load(&g_pool.gen);
        const int64_t until = now_ns() + SPIN_NS;
        for (int i = 1; g == seen; i++, g = atomic_load(&g_pool.gen)) {
            if (i < WAIT_SPIN) {
                cpu_relax();
                continue;
            }
            if (now_ns() > until) break;
            sched_yield(); /* a core shared with another thread (the caller's, say) goes to it */
        }
        if (g == seen) {
            pthread_mutex_lock(&g_pool.mu);
            while ((g = atomic_load(&g_pool.gen)) == seen) pthread_cond_wait(&g_pool.cv, &g_pool.mu);
            pthread_mutex_unlock(&g_pool.mu);
        }
        seen = g;
        if (atomic_fetch_add(&g_pool.joined, 1) < atomic_load(&g_pool.helpers)) work(home);
    }
    return NULL;
}

/* All of a call's work on the calling thread, block after block, phase after phase. */
static void run_here(const job_t *jobs, int n, int64_t phases) {
    for (int64_t phase = 0; phase < phases; phase++)
        for (int k = 0; k < n; k++) jobs[k].fn(&jobs[k], phase);
}

/* Run base->fn on `nblocks` blocks of [0, base->B) (or of the hidden units [0, base->H)
 * with SPLIT_UNITS), in `phases` phases, with up to `nthreads` threads, the caller included. */
static void run_split(job_t *base, int64_t nblocks, int64_t nthreads, int mode, int64_t phases) {
    job_t jobs[MAX_BLOCKS];
    const int64_t total = mode == SPLIT_UNITS ? base->H : base->B;
    base->b0 = 0, base->b1 = base->B, base->u0 = 0, base->u1 = base->H, base->k = 0;
    if (total < 1 || phases < 1) return;
    if (nblocks > MAX_BLOCKS) nblocks = MAX_BLOCKS;
    if (nblocks > total) nblocks = total;
    if (nblocks < 1) nblocks = 1;
    const int64_t chunk = (total + nblocks - 1) / nblocks;
    int n = 0;
    for (int64_t s0 = 0; s0 < total; s0 += chunk, n++) {
        const int64_t s1 = s0 + chunk < total ? s0 + chunk : total;
        jobs[n] = *base;
        jobs[n].k = n;
        jobs[n].phases = phases;
        if (mode == SPLIT_UNITS)
            jobs[n].u0 = s0, jobs[n].u1 = s1;
        else
            jobs[n].b0 = s0, jobs[n].b1 = s1;
    }
    for (int k = 0; k < n; k++) jobs[k].nblocks = n;
    if (nthreads > n) nthreads = n;
    if (nthreads <= 1 || pthread_mutex_trylock(&g_pool.call_mu) != 0) { /* alone, or the pool is in use */
        run_here(jobs, n, phases);
        return;
    }
    while (g_pool.workers < nthreads - 1) {
        pthread_t tid;
        const uint64_t arg = (uint64_t)atomic_load(&g_pool.gen) << 32 | (uint64_t)(g_pool.workers + 1);
        if (pthread_create(&tid, NULL, worker, (void *)(uintptr_t)arg) != 0) break;
        pthread_detach(tid);
        g_pool.workers++;
    }
    if (g_pool.workers == 0) {
        pthread_mutex_unlock(&g_pool.call_mu);
        run_here(jobs, n, phases);
        return;
    }
    g_pool.jobs = jobs;
    atomic_store(&g_pool.helpers, (int)nthreads - 1);
    atomic_store(&g_pool.joined, 0);
    atomic_store(&g_pool.done, 0);
    atomic_store(&g_pool.claim, phase_start(0, n));
    pthread_mutex_lock(&g_pool.mu);
    atomic_fetch_add(&g_pool.gen, 1);
    pthread_cond_broadcast(&g_pool.cv);
    pthread_mutex_unlock(&g_pool.mu);
    /* The caller's BLAS calls stay on its own thread while the pool works beside it, however
     * many threads the BLAS was given (two levels of threads would fight for the cores). */
    const int blas_threads = g_blas_local_threads ? g_blas_local_threads(1) : 0;
    work(0); /* returns when the last phase is done: every block has finished */
    if (g_blas_local_threads) g_blas_local_threads(blas_threads);
    pthread_mutex_unlock(&g_pool.call_mu);
}

/* ----- the kernels, once per instruction set ---------------------------------------------------
 * kernels_body.h is included for each (instruction set, dtype): SFX(name) names a kernel
 * name_f32_avx2, name_f64_base, ... The baseline is compiled with the build's flags (no
 * -march: it runs on every CPU of the architecture); on x86-64 the same code is compiled
 * again for AVX2 + FMA and for AVX-512 through target pragmas, and cs_isa() tells the
 * loader which variant this CPU runs. Each variant's maths helpers are its own, so the
 * vectoriser sees them with that variant's instructions. */
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define SFX(name) CAT(CAT(name, DT), ISA)

#define ISA _base
#include "kernels_dtypes.h"
#undef ISA

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CS_X86_VARIANTS 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define ISA _avx2
#include "kernels_dtypes.h"
#undef ISA
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")
#endif
#define ISA _avx512
#include "kernels_dtypes.h"
#undef ISA
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

/* The best variant this CPU (and its operating system) runs: "avx512", "avx2" or "base".
 * cpuid says what the CPU has, xgetbv whether the system saves the wide registers. */
#ifdef CS_X86_VARIANTS
#include <cpuid.h>
static int os_saves(unsigned mask) { /* XCR0: which register states the system saves */
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & mask) == mask;
}
#endif

const char *cs_isa(void) {
#ifdef CS_X86_VARIANTS
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return "base";
    const int fma = c >> 12 & 1, osxsave = c >> 27 & 1, avx = c >> 28 & 1;
    if (!(fma && osxsave && avx && os_saves(0x6))) return "base"; /* SSE and AVX state */
    if (__get_cpuid_max(0, NULL) < 7) return "base";
    __cpuid_count(7, 0, a, b, c, d);
    if (!(b >> 5 & 1)) return "base"; /* AVX2 */
    const int f = b >> 16 & 1, dq = b >> 17 & 1, bw = b >> 30 & 1, vl = b >> 31 & 1;
    if (f && dq && bw && vl && os_saves(0xe6)) return "avx512"; /* + opmask and zmm state */
    return "avx2";
#else
    return "base";
#endif
}

/* The hash of the C sources this library was built from (setup.py defines it): the loader
 * refuses a library built from other sources than the ones installed beside it. */
#ifndef CS_SOURCE_HASH
#define CS_SOURCE_HASH "unknown"
#endif
const char *cs_source_hash(void) { return CS_SOURCE_HASH; }

/* Which variants this library holds, space-separated (for tests and benchmarks). */
const char *cs_variants(void) {
#ifdef CS_X86_VARIANTS
    return "base avx2 avx512";
#else
    return "base";
#endif
}
