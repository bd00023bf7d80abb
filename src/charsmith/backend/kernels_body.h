/* The kernels, written once in terms of `real` and SFX(name) (see kernels.c): included
 * once per (instruction set, dtype).
 *
 * Recurrence layout: gate-major, every array (rows, steps, B) contiguous, so that one step's
 * slice is a (rows, B) block with row stride steps * B (the BLAS takes it as it is), and the
 * whole array reshapes for free to (rows, steps * B) for the sequence-wide matmuls in Python.
 *   W_hh (H, G), G = gates * H
 *   xp (G, T, B): projected inputs; caches and gradients (rows, T, B): row stride L = T * B
 *   hs, cs (H, T+1, B): step 0 is the initial state: row stride L1 = (T+1) * B
 *   dhs (H, T, B): the gradient reaching hs[:, 1:] from above
 *   carry (H, B): in, the gradient w.r.t. the final state; out, w.r.t. the initial state
 * Each *_block function runs the whole time loop on its block: hidden units [u0, u1) of
 * every gate, batch columns [b0, b1) (see run_split); a *_step function does one step of it
 * (`nb` = b1 - b0 columns).
 */
/* ----- the maths helpers of this (instruction set, dtype) ----------------------------------- */
#if CS_F32
/* exp(x) for float, branch-free so loops calling it vectorise: x = k ln2 + r with
 * |r| <= ln2/2, a degree-6 polynomial for exp(r) (Cephes expf's coefficients, ~1 ulp),
 * times 2^k built in the exponent bits. x is clamped to [-87, 88], where 2^k is normal. */
static inline float SFX(exp)(float x) {
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
static inline float SFX(tanh)(float x) { return 2.0f / (1.0f + SFX(exp)(-2.0f * x)) - 1.0f; }
static inline float SFX(sqrt)(float x) { return sqrtf(x); }
static inline float SFX(log)(float x) { return logf(x); }
#else
static inline double SFX(exp)(double x) { return exp(x); }
static inline double SFX(tanh)(double x) { return tanh(x); }
static inline double SFX(sqrt)(double x) { return sqrt(x); }
static inline double SFX(log)(double x) { return log(x); }
#endif
static inline real SFX(sigmoid)(real x) { return 1 / (1 + SFX(exp)(-x)); }

#define GEMM CAT(gemm, DT) /* shared by every instruction set */
#define SIGMOID SFX(sigmoid)
#define TANH SFX(tanh)
#define SQRT SFX(sqrt)
#define EXP SFX(exp)
#define LOG SFX(log)

/* The recurrent matmul of one step, for this block: rows u0..u1 of each gate's block of
 * out (G, B) = W_hh.T @ h, h (H, B) with row stride ldh, out with row stride ldo. */
static void SFX(gates_matmul)(const job_t *j, int gates, const real *W_hh, const real *h,
                              int64_t ldh, real *out, int64_t ldo) {
    const int64_t H = j->H, G = gates * H, nu = j->u1 - j->u0, nb = j->b1 - j->b0;
    if (nu == H) { /* all units: one call */
        GEMM(1, 0, G, nb, H, W_hh, G, h + j->b0, ldh, 0, out + j->b0, ldo);
        return;
    }
    for (int g = 0; g < gates; g++) {
        const int64_t r0 = g * H + j->u0;
        GEMM(1, 0, nu, nb, H, W_hh + r0, G, h + j->b0, ldh, 0, out + r0 * ldo + j->b0, ldo);
    }
}

/* Its backward for this block: carry rows u0..u1 = beta * carry + W_hh @ d, d (G, B) with
 * row stride ldd (all of d: every block's gate gradients, hence the barrier before it). */
static void SFX(carry_matmul)(const job_t *j, int gates, const real *W_hh, const real *d,
                              int64_t ldd, real beta, real *carry) {
    const int64_t H = j->H, G = gates * H, B = j->B, nb = j->b1 - j->b0;
    GEMM(0, 0, j->u1 - j->u0, nb, G, W_hh + j->u0 * G, G, d + j->b0, ldd, beta,
         carry + j->u0 * B + j->b0, B);
}

/* ----- the time loops ------------------------------------------------------------------------
 * Each step of a block is a matmul writing the gate pre-activations, then the gate maths
 * (forward), or the gate maths then a matmul carrying the gradient back (backward).
 * SPLIT_BATCH: a block runs the whole time loop in one phase. SPLIT_UNITS: every block's
 * step t is one phase, since the next part needs every block's rows (see run_split). */
typedef void (*SFX(step_fn))(const job_t *, int64_t);

static void SFX(forward_block)(const job_t *j, int gates, SFX(step_fn) step) {
    job_t s = *j;
    if (j->ids) { /* room for the block's inputs of one step, gathered by id */
        s.scratch = malloc(sizeof(real) * gates * j->H * (j->b1 - j->b0));
        if (!s.scratch) abort(); /* a few hundred kB: nothing sensible is left to do */
    }
    for (int64_t t = 0; t < j->T; t++) step(&s, t);
    free(s.scratch);
}

/* The projected inputs of step t for this block: a pointer x with row r (gate-major, rows
 * u0..u1 of each gate) at x + r * (*lx). From xp (G, T, B), or, given ids, gathered from
 * the table xp (G, ldt) (id -1: its last column) into the scratch (G, b1 - b0), of which
 * this block writes and reads only its own rows. */
static const real *SFX(step_inputs)(const job_t *j, int gates, const real *xp, int64_t t,
                                    int64_t *lx) {
    const int64_t B = j->B, b0 = j->b0, nb = j->b1 - j->b0, H = j->H, ldt = j->ldt;
    if (!j->ids) {
        *lx = j->T * B;
        return xp + t * B + b0;
    }
    const int64_t *restrict id = j->ids + t * B + b0;
    real *x = j->scratch;
    *lx = nb;
    for (int g = 0; g < gates; g++)
        for (int64_t i = j->u0; i < j->u1; i++) {
            const real *restrict row = xp + (g * H + i) * ldt;
            real *restrict o = x + (g * H + i) * nb;
            for (int64_t b = 0; b < nb; b++) o[b] = row[id[b] < 0 ? ldt - 1 : id[b]];
        }
    return x;
}

/* step() writes the gate gradients d (G, T, B) of step t; then carry = beta * carry + W_hh @ d_t */
static void SFX(backward_block)(const job_t *j, int gates, SFX(step_fn) step, real beta,
                                const real *d, real *carry) {
    for (int64_t t = j->T - 1; t >= 0; t--) {
        step(j, t);
        SFX(carry_matmul)(j, gates, j->p[0], d + t * j->B, j->T * j->B, beta, carry);
    }
}

/* SPLIT_UNITS backward, phase i of T + 1: finish step T - i (its matmul needs every block's
 * gate gradients, written in the phase before), then the gate maths of step T - 1 - i. */
static void SFX(backward_phase)(const job_t *j, int64_t i, int gates, SFX(step_fn) step, real beta,
                                const real *d, real *carry) {
    const int64_t T = j->T;
    if (i > 0) SFX(carry_matmul)(j, gates, j->p[0], d + (T - i) * j->B, T * j->B, beta, carry);
    if (i < T) step(j, T - 1 - i);
}

/* A cell's four phase functions (see run_split), from its step functions: `gates`, the
 * backward's carry beta, and the indices in p of its gate gradients d and of the carry. */
#define DEFINE_CELL(cell, gates, beta, di, ci)                                                         \
    static void SFX(cell##_forward_batch)(const job_t *j, int64_t phase) {                          \
        (void)phase;                                                                               \
        SFX(forward_block)(j, gates, SFX(cell##_forward_step));                                    \
    }                                                                                              \
    static void SFX(cell##_forward_units)(const job_t *j, int64_t t) { SFX(cell##_forward_step)(j, t); } \
    static void SFX(cell##_backward_batch)(const job_t *j, int64_t phase) {                         \
        (void)phase;                                                                               \
        SFX(backward_block)(j, gates, SFX(cell##_backward_step), beta, j->p[di], j->p[ci]);        \
    }                                                                                              \
    static void SFX(cell##_backward_units)(const job_t *j, int64_t i) {                             \
        SFX(backward_phase)(j, i, gates, SFX(cell##_backward_step), beta, j->p[di], j->p[ci]);     \
    }

/* ----- vanilla RNN: h_new = tanh(xp + W_hh.T @ h) ----------------------------------------- */
/* p = (W_hh, xp, hs) */
static void SFX(rnn_forward_step)(const job_t *j, int64_t t) {
    const int64_t T = j->T, B = j->B, b0 = j->b0, nb = j->b1 - j->b0;
    const int64_t L1 = (T + 1) * B;
    const real *W_hh = j->p[0];
    real *hs = j->p[2];
    real *h_new = hs + (t + 1) * B;
    int64_t lx;
    const real *xt = SFX(step_inputs)(j, 1, j->p[1], t, &lx);
    SFX(gates_matmul)(j, 1, W_hh, hs + t * B, L1, h_new, L1);
    for (int64_t i = j->u0; i < j->u1; i++) {
        real *restrict hn = h_new + i * L1 + b0;
        const real *restrict x = xt + i * lx;
        IVDEP
        for (int64_t b = 0; b < nb; b++) hn[b] = TANH(hn[b] + x[b]);
    }
}

/* p = (W_hh, hs, dhs, da, carry): da (H, T, B) = dh * (1 - h_new**2), dh = dhs[:, t] + carry */
static void SFX(rnn_backward_step)(const job_t *j, int64_t t) {
    const int64_t T = j->T, B = j->B, b0 = j->b0, nb = j->b1 - j->b0;
    const int64_t L = T * B, L1 = (T + 1) * B;
    const real *hs = j->p[1], *dhs = j->p[2];
    real *da = j->p[3], *carry = j->p[4];
    for (int64_t i = j->u0; i < j->u1; i++) {
        const int64_t o = i * L + t * B + b0;
        const real *restrict hn = hs + i * L1 + (t + 1) * B + b0, *restrict up = dhs + o;
        const real *restrict c = carry + i * B + b0;
        real *restrict d = da + o;
        IVDEP
        for (int64_t b = 0; b < nb; b++) d[b] = (up[b] + c[b]) * (1 - hn[b] * hn[b]);
    }
}

DEFINE_CELL(rnn, 1, 0, 3, 4)

/* ----- GRU (gates r, z, n), see charsmith.nn.gru ------------------------------------------ */
/* p = (W_hh, b_hn, xp, hs, a, n): a (3H, T, B) = [r | z | ghn], n (H, T, B) */
static void SFX(gru_forward_step)(const job_t *j, int64_t t) {
    const int64_t T = j->T, B = j->B, H = j->H, b0 = j->b0, nb = j->b1 - j->b0;
    const int64_t L = T * B, L1 = (T + 1) * B, HL = H * L;
    const real *W_hh = j->p[0], *b_hn = j->p[1];
    real *hs = j->p[3], *a = j->p[4], *n = j->p[5];
    int64_t lx;
    const real *xt = SFX(step_inputs)(j, 3, j->p[2], t, &lx);
    SFX(gates_matmul)(j, 3, W_hh, hs + t * B, L1, a + t * B, L); /* gh */
    for (int64_t i = j->u0; i < j->u1; i++) {
        const int64_t o = i * L + t * B + b0, oh = i * L1 + t * B + b0;
        const real bi = b_hn[i];
        real *restrict r = a + o, *restrict z = a + HL + o, *restrict ghn = a + 2 * HL + o;
        const real *restrict xr = xt + i * lx, *restrict xz = xr + H * lx, *restrict xn = xr + 2 * H * lx;
        const real *restrict h = hs + oh;
        real *restrict nt = n + o, *restrict h_new = hs + oh + B;
        IVDEP
        for (int64_t b = 0; b < nb; b++) {
            const real rb = SIGMOID(r[b] + xr[b]), zb = SIGMOID(z[b] + xz[b]);
            const real g = ghn[b] + bi;
            const real v = TANH(xn[b] + rb * g);
            r[b] = rb;
            z[b] = zb;
            ghn[b] = g;
            nt[b] = v;
            h_new[b] = v + zb * (h[b] - v);
        }
    }
}

/* p = (W_hh, hs, a, n, dhs, dgh, dan, carry): dgh (3H, T, B) = [dar | daz | dan * r],
 * dan (H, T, B); carry = dh * z here, the matmul adds W_hh @ dgh[:, t] */
static void SFX(gru_backward_step)(const job_t *j, int64_t t) {
    const int64_t T = j->T, B = j->B, H = j->H, b0 = j->b0, nb = j->b1 - j->b0;
    const int64_t L = T * B, L1 = (T + 1) * B, HL = H * L;
    const real *hs = j->p[1], *a = j->p[2], *n = j->p[3], *dhs = j->p[4];
    real *dgh = j->p[5], *dan = j->p[6], *carry = j->p[7];
    for (int64_t i = j->u0; i < j->u1; i++) {
        const int64_t o = i * L + t * B + b0;
        const real *restrict h = hs + i * L1 + t * B + b0, *restrict up = dhs + o;
        const real *restrict r = a + o, *restrict z = a + HL + o, *restrict ghn = a + 2 * HL + o;
        const real *restrict nt = n + o;
        real *restrict dar = dgh + o, *restrict daz = dgh + HL + o, *restrict dgn = dgh + 2 * HL + o;
        real *restrict dant = dan + o, *restrict c = carry + i * B + b0;
        IVDEP
        for (int64_t b = 0; b < nb; b++) {
            const real d = up[b] + c[b];
            const real v = nt[b];
            const real da_n = d * (1 - z[b]) * (1 - v * v);
            dant[b] = da_n;
            dar[b] = da_n * ghn[b] * r[b] * (1 - r[b]);
            daz[b] = d * (h[b] - v) * z[b] * (1 - z[b]);
            dgn[b] = da_n * r[b];
            c[b] = d * z[b]; /* the direct path h -> h_new */
        }
    }
}

DEFINE_CELL(gru, 3, 1, 5, 7)

/* ----- LSTM (gates i, f, g, o), see charsmith.nn.lstm ------------------------------------- */
/* p = (W_hh, xp, hs, cs, acts, tc): acts (4H, T, B) = [i | f | g | o] activated,
 * tc (H, T, B) = tanh(c_new) */
static void SFX(lstm_forward_step)(const job_t *j, int64_t t) {
    const int64_t T = j->T, B = j->B, H = j->H, b0 = j->b0, nb = j->b1 - j->b0;
    const int64_t L = T * B, L1 = (T + 1) * B, HL = H * L;
    const real *W_hh = j->p[0];
    real *hs = j->p[2], *cs = j->p[3], *acts = j->p[4], *tc = j->p[5];
    int64_t lx;
    const real *xt = SFX(step_inputs)(j, 4, j->p[1], t, &lx);
    const int64_t HX = H * lx; /* from one gate's inputs to the next */
    SFX(gates_matmul)(j, 4, W_hh, hs + t * B, L1, acts + t * B, L); /* gh */
    for (int64_t i = j->u0; i < j->u1; i++) {
        const int64_t o = i * L + t * B + b0, oh = i * L1 + t * B + b0;
        const real *restrict x = xt + i * lx, *restrict c = cs + oh;
        real *restrict ig = acts + o, *restrict fg = ig + HL, *restrict gg = ig + 2 * HL;
        real *restrict og = ig + 3 * HL, *restrict tct = tc + o;
        real *restrict h_new = hs + oh + B, *restrict c_new = cs + oh + B;
        IVDEP
        for (int64_t b = 0; b < nb; b++) {
            const real iv = SIGMOID(ig[b] + x[b]), fv = SIGMOID(fg[b] + x[HX + b]);
            const real gv = TANH(gg[b] + x[2 * HX + b]), ov = SIGMOID(og[b] + x[3 * HX + b]);
            const real cn = fv * c[b] + iv * gv;
            const real v = TANH(cn);
            ig[b] = iv;
            fg[b] = fv;
            gg[b] = gv;
            og[b] = ov;
            c_new[b] = cn;
            tct[b] = v;
            h_new[b] = ov * v;
        }
    }
}

/* p = (W_hh, cs, acts, tc, dhs, da, carry_h, carry_c): da (4H, T, B); carry_c = dc_tot * f
 * here, carry_h = W_hh @ da[:, t] by the matmul */
static void SFX(lstm_backward_step)(const job_t *j, int64_t t) {
    const int64_t T = j->T, B = j->B, H = j->H, b0 = j->b0, nb = j->b1 - j->b0;
    const int64_t L = T * B, L1 = (T + 1) * B, HL = H * L;
    const real *cs = j->p[1], *acts = j->p[2], *tc = j->p[3], *dhs = j->p[4];
    real *da = j->p[5], *carry_h = j->p[6], *carry_c = j->p[7];
    for (int64_t i = j->u0; i < j->u1; i++) {
        const int64_t o = i * L + t * B + b0;
        const real *restrict c = cs + i * L1 + t * B + b0, *restrict up = dhs + o;
        const real *restrict tct = tc + o, *restrict ig = acts + o, *restrict fg = ig + HL;
        const real *restrict gg = ig + 2 * HL, *restrict og = ig + 3 * HL;
        real *restrict dai = da + o, *restrict daf = dai + HL;
        real *restrict dag = dai + 2 * HL, *restrict dao = dai + 3 * HL;
        const real *restrict ch = carry_h + i * B + b0;
        real *restrict cc = carry_c + i * B + b0;
        IVDEP
        for (int64_t b = 0; b < nb; b++) {
            const real dh = up[b] + ch[b];
            const real dc = cc[b] + dh * og[b] * (1 - tct[b] * tct[b]); /* dc_tot */
            dai[b] = dc * gg[b] * ig[b] * (1 - ig[b]);
            daf[b] = dc * c[b] * fg[b] * (1 - fg[b]);
            dag[b] = dc * ig[b] * (1 - gg[b] * gg[b]);
            dao[b] = dh * tct[b] * og[b] * (1 - og[b]);
            cc[b] = dc * fg[b];
        }
    }
}

DEFINE_CELL(lstm, 4, 0, 5, 6)

/* ----- one step, batch-major, no cache (sampling), split over threads by rows ------------- *
 * xp (B, G), or a table (n, G) read by ids (B,); state rows (B, H); gh = h @ W_hh for SB rows
 * at a time (16 to 256, so that the block is about SB_FLOATS numbers) into a scratch block.
 * job: B, H, m = (gates), p = (W_hh, b_hn or NULL, xp, h, c or NULL, h_new, c_new or NULL,
 * ids or NULL). */
static void SFX(step_block)(const job_t *j, int64_t phase) {
    (void)phase;
    const int64_t H = j->H, gates = j->m[0], G = gates * H;
    const real *W = j->p[0], *b_hn = j->p[1], *xp = j->p[2], *h = j->p[3], *c = j->p[4];
    real *h_new = j->p[5], *c_new = j->p[6];
    const int64_t *ids = j->p[7]; /* if set, xp is a table (n, G) and row b's input is its row ids[b] */
    const int64_t SB = G < SB_FLOATS / 256 ? 256 : G > SB_FLOATS / 16 ? 16 : SB_FLOATS / G; /* rows per block */
    real *gh = malloc(sizeof(real) * SB * G);
    if (!gh) abort();
    for (int64_t r0 = j->b0; r0 < j->b1; r0 += SB) {
        const int64_t nr = r0 + SB < j->b1 ? SB : j->b1 - r0;
        GEMM(0, 0, nr, G, H, h + r0 * H, H, W, G, 0, gh, G);
        for (int64_t r = 0; r < nr; r++) {
            const real *restrict a = gh + r * G, *restrict x = xp + (ids ? ids[r0 + r] : r0 + r) * G;
            const real *restrict hr = h + (r0 + r) * H;
            real *restrict ho = h_new + (r0 + r) * H;
            if (gates == 1) {
                IVDEP
                for (int64_t i = 0; i < H; i++) ho[i] = TANH(a[i] + x[i]);
            } else if (gates == 3) {
                IVDEP
                for (int64_t i = 0; i < H; i++) {
                    const real rg = SIGMOID(a[i] + x[i]), zg = SIGMOID(a[H + i] + x[H + i]);
                    const real n = TANH(x[2 * H + i] + rg * (a[2 * H + i] + b_hn[i]));
                    ho[i] = n + zg * (hr[i] - n);
                }
            } else {
                const real *restrict cr = c + (r0 + r) * H;
                real *restrict co = c_new + (r0 + r) * H;
                IVDEP
                for (int64_t i = 0; i < H; i++) {
                    const real ig = SIGMOID(a[i] + x[i]), fg = SIGMOID(a[H + i] + x[H + i]);
                    const real gg = TANH(a[2 * H + i] + x[2 * H + i]);
                    const real og = SIGMOID(a[3 * H + i] + x[3 * H + i]);
                    const real cn = fg * cr[i] + ig * gg;
                    co[i] = cn;
                    ho[i] = og * TANH(cn);
                }
            }
        }
    }
    free(gh);
}

void SFX(cell_step)(int64_t B, int64_t H, int64_t gates, void *const *ptrs, int64_t nblocks,
                    int64_t nthreads) {
    job_t job = {.fn = SFX(step_block), .B = B, .H = H, .m = {gates}};
    memcpy(job.p, ptrs, 8 * sizeof(void *));
    run_split(&job, nblocks, nthreads, SPLIT_BATCH, 1);
}

/* ----- C = op(A) @ op(B), split by rows of C (B = M) or by columns (B = N) ---------------- */
static void SFX(matmul_rows_block)(const job_t *j, int64_t phase) {
    (void)phase;
    const int64_t *m = j->m, r0 = j->b0, nr = j->b1 - j->b0;
    const real *A = j->p[0];
    const real *a = m[0] ? A + r0 : A + r0 * m[5]; /* rows r0.. of op(A) */
    GEMM((int)m[0], (int)m[1], nr, m[3], m[4], a, m[5], j->p[1], m[6], 0,
         (real *)j->p[2] + r0 * m[7], m[7]);
}

static void SFX(matmul_cols_block)(const job_t *j, int64_t phase) {
    (void)phase;
    const int64_t *m = j->m, c0 = j->b0, nc = j->b1 - j->b0;
    const real *Bm = j->p[1];
    const real *b = m[1] ? Bm + c0 * m[6] : Bm + c0; /* columns c0.. of op(B) */
    GEMM((int)m[0], (int)m[1], m[2], nc, m[4], j->p[0], m[5], b, m[6], 0,
         (real *)j->p[2] + c0, m[7]);
}

/* m = (trans_a, trans_b, M, N, K, lda, ldb, ldc), p = (A, B, C); splits the larger of M, N */
void SFX(matmul)(const int64_t *m, void *const *p, int64_t nblocks, int64_t nthreads) {
    const int by_rows = m[2] >= m[3];
    job_t job = {.fn = by_rows ? SFX(matmul_rows_block) : SFX(matmul_cols_block),
                 .B = by_rows ? m[2] : m[3], .p = {p[0], p[1], p[2]}};
    memcpy(job.m, m, 8 * sizeof(int64_t));
    run_split(&job, nblocks, nthreads, SPLIT_BATCH, 1);
}

/* ----- Adam, fused: one pass over the flat parameters (see charsmith.optim.update) --------- *
 * p -= decay * mask * p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= step m / (sqrt(v) + eps)
 * mask is 1 where weight decay applies, else 0. Split over threads by element ranges:
 * job p = (p, g, m, v, mask, hyper = {step, b1, b2, eps, decay}). */
static void SFX(adam_block)(const job_t *j, int64_t phase) {
    (void)phase;
    const double *hp = j->p[5];
    const real rstep = (real)hp[0], rb1 = (real)hp[1], rb2 = (real)hp[2], reps = (real)hp[3];
    const real rdecay = (real)hp[4];
    real *restrict p = j->p[0], *restrict m = j->p[2], *restrict v = j->p[3];
    const real *restrict g = j->p[1], *restrict mask = j->p[4];
    IVDEP
    for (int64_t k = j->b0; k < j->b1; k++) {
        const real gk = g[k];
        const real mk = rb1 * m[k] + (1 - rb1) * gk, vk = rb2 * v[k] + (1 - rb2) * gk * gk;
        const real pk = p[k] - rdecay * mask[k] * p[k];
        m[k] = mk;
        v[k] = vk;
        p[k] = pk - rstep * mk / (SQRT(vk) + reps);
    }
}

void SFX(adam)(int64_t n, real *p, const real *g, real *m, real *v, const real *mask,
               double step, double b1, double b2, double eps, double decay, int64_t nblocks,
               int64_t nthreads) {
    const double hyper[5] = {step, b1, b2, eps, decay};
    job_t job = {.fn = SFX(adam_block), .B = n,
                 .p = {p, (void *)g, m, v, (void *)mask, (void *)hyper}};
    run_split(&job, nblocks, nthreads, SPLIT_BATCH, 1);
}

/* ----- the output layer and its loss, fused, forward and backward (see charsmith.model) ------ *
 * For the N columns of y (H, N) (row stride ldy), targets y_k and weights w_k:
 *   z = W_out.T @ y + b_out (V, N);  nll_k = -log softmax(z[:, k])[y_k]  (0 where w_k == 0)
 *   g = w * (softmax(z) - onehot(y)) (V, N);  dW_out = y @ g.T;  db_out = g summed over k;
 *   dy = W_out @ g (H, N, contiguous)
 * Columns go in blocks of HB, so z and g stay in cache; each block of the split (a range of
 * columns) sums its own dW_out, db_out into its slot of `parts`, and the caller adds the
 * slots in order (the same sums whichever threads ran the blocks: runs stay reproducible).
 * job: T = N, H, B = N (split), m = (V, ldy), p = (y, W_out, b_out, targets, w, nll, parts, dy). */
static void SFX(head_block)(const job_t *j, int64_t phase) {
    (void)phase;
    const int64_t N = j->T, H = j->H, V = j->m[0], ldy = j->m[1];
    const real *y = j->p[0], *W = j->p[1], *bias = j->p[2], *w = j->p[4];
    const int64_t *tgt = j->p[3];
    real *nll = j->p[5], *dy = j->p[7];
    real *dW = (real *)j->p[6] + j->k * (H * V + V), *db = dW + H * V; /* this block's slot */
    real *g = malloc(sizeof(real) * V * HB);
    if (!g) abort();
    for (int64_t c0 = j->b0; c0 < j->b1; c0 += HB) {
        const int64_t nb = c0 + HB < j->b1 ? HB : j->b1 - c0;
        real mx[HB], s[HB];
        GEMM(1, 0, V, nb, H, W, V, y + c0, ldy, 0, g, nb); /* z (V, nb) */
        for (int64_t c = 0; c < nb; c++) mx[c] = g[c] + bias[0], s[c] = 0;
        for (int64_t v = 0; v < V; v++) {
            real *restrict z = g + v * nb;
            IVDEP
            for (int64_t c = 0; c < nb; c++) {
                z[c] += bias[v];
                mx[c] = z[c] > mx[c] ? z[c] : mx[c];
            }
        }
        for (int64_t c = 0; c < nb; c++) { /* the target's logit, before z becomes g */
            const int64_t k = c0 + c;
            nll[k] = w[k] != 0 ? mx[c] - g[tgt[k] * nb + c] : 0;
        }
        for (int64_t v = 0; v < V; v++) {
            real *restrict z = g + v * nb;
            IVDEP
            for (int64_t c = 0; c < nb; c++) {
                z[c] = EXP(z[c] - mx[c]);
                s[c] += z[c];
            }
        }
        for (int64_t c = 0; c < nb; c++) {
            const int64_t k = c0 + c;
            if (w[k] != 0) nll[k] += LOG(s[c]);
            s[c] = w[k] / s[c]; /* now the scale of softmax in g */
        }
        for (int64_t v = 0; v < V; v++) {
            real *restrict gv = g + v * nb;
            real sum = 0;
            for (int64_t c = 0; c < nb; c++) {
                gv[c] *= s[c];
                if (w[c0 + c] != 0 && tgt[c0 + c] == v) gv[c] -= w[c0 + c];
                sum += gv[c];
            }
            db[v] += sum;
        }
        GEMM(0, 1, H, V, nb, y + c0, ldy, g, nb, 1, dW, V);  /* dW += y_blk @ g.T */
        GEMM(0, 0, H, nb, V, W, V, g, nb, 0, dy + c0, N);    /* dy_blk = W_out @ g */
    }
    free(g);
}

/* dWb (H*V + V) = [dW_out | db_out]; `parts` has room for nblocks such slots. */
void SFX(head_xent)(int64_t N, int64_t H, int64_t V, const real *y, int64_t ldy, const real *W,
                    const real *bias, const int64_t *targets, const real *w, real *nll,
                    real *dWb, real *dy, real *parts, int64_t nblocks, int64_t nthreads) {
    const int64_t S = H * V + V;
    if (nblocks < 1) nblocks = 1;
    if (nblocks > MAX_BLOCKS) nblocks = MAX_BLOCKS;
    memset(parts, 0, sizeof(real) * (size_t)(S * nblocks));
    job_t job = {.fn = SFX(head_block), .T = N, .B = N, .H = H, .m = {V, ldy},
                 .p = {(void *)y, (void *)W, (void *)bias, (void *)targets, (void *)w, nll, parts, dy}};
    run_split(&job, nblocks, nthreads, SPLIT_BATCH, 1);
    for (int64_t k = 0; k < S; k++) dWb[k] = parts[k];
    for (int64_t t = 1; t < nblocks; t++)
        for (int64_t k = 0; k < S; k++) dWb[k] += parts[t * S + k];
}

/* ----- softmax cross-entropy (see charsmith.nn.loss) --------------------------------------- *
 * For each of the n rows of logits (n, V), with weight w and target y (read only if w != 0):
 *   nll = -log softmax(row)[y]  (0 if w == 0);  grad = w * (softmax(row) - onehot(y))
 * Rows are short (V is the vocabulary), so blocks of XR rows are transposed into zt (V, XR)
 * and every loop runs across the rows of a block, which vectorises. Returns -1 if out of memory. */
int SFX(xent)(int64_t n, int64_t V, const real *restrict logits, const int64_t *restrict targets,
               const real *restrict w, real *restrict grad, real *restrict nll) {
    real *restrict zt = malloc(sizeof(real) * V * XR);
    real mx[XR], s[XR];
    if (!zt) return -1;
    for (int64_t r0 = 0; r0 < n; r0 += XR) {
        const int64_t nr = n - r0 < XR ? n - r0 : XR;
        for (int64_t r = 0; r < nr; r++)
            for (int64_t k = 0; k < V; k++) zt[k * XR + r] = logits[(r0 + r) * V + k];
        for (int64_t r = nr; r < XR; r++)
            for (int64_t k = 0; k < V; k++) zt[k * XR + r] = 0; /* a short last block */
        for (int64_t r = 0; r < XR; r++) mx[r] = zt[r], s[r] = 0;
        for (int64_t k = 1; k < V; k++)
            for (int64_t r = 0; r < XR; r++) mx[r] = zt[k * XR + r] > mx[r] ? zt[k * XR + r] : mx[r];
        for (int64_t k = 0; k < V; k++) {
            IVDEP
            for (int64_t r = 0; r < XR; r++) {
                const real e = EXP(zt[k * XR + r] - mx[r]);
                zt[k * XR + r] = e;
                s[r] += e;
            }
        }
        for (int64_t r = 0; r < nr; r++) {
            const real wr = w[r0 + r], scale = wr / s[r];
            real *restrict gr = grad + (r0 + r) * V;
            for (int64_t k = 0; k < V; k++) gr[k] = zt[k * XR + r] * scale;
            if (wr != 0) {
                const int64_t y = targets[r0 + r];
                nll[r0 + r] = LOG(s[r]) - (logits[(r0 + r) * V + y] - mx[r]);
                gr[y] -= wr;
            } else {
                nll[r0 + r] = 0;
            }
        }
    }
    free(zt);
    return 0;
}

/* ----- out (D, n) = 0, then out[:, idx[k]] += cols[:, k] for cols (D, N), -1 -> last column -- *
 * Split over threads by rows. Runs of one id (padding, say) would chain every addition
 * on the one before; NACC interleaved partial sums break the chain. job: B = D (rows),
 * T = N, H = n, p = (idx, cols, out, scratch of NACC * n per thread). */
static void SFX(scatter_cols_block)(const job_t *j, int64_t phase) {
    (void)phase;
    const int64_t N = j->T, n = j->H;
    const int64_t *restrict idx = j->p[0];
    real *restrict acc = malloc(sizeof(real) * NACC * n);
    if (!acc) abort();
    for (int64_t d = j->b0; d < j->b1; d++) {
        const real *restrict c = (const real *)j->p[1] + d * N;
        real *restrict o = (real *)j->p[2] + d * n;
        for (int64_t k = 0; k < NACC * n; k++) acc[k] = 0;
        int64_t k = 0;
        for (; k + NACC <= N; k += NACC)
            for (int a = 0; a < NACC; a++) acc[a * n + (idx[k + a] < 0 ? n - 1 : idx[k + a])] += c[k + a];
        for (; k < N; k++) acc[idx[k] < 0 ? n - 1 : idx[k]] += c[k];
        for (int64_t v = 0; v < n; v++) {
            real sum = 0;
            for (int a = 0; a < NACC; a++) sum += acc[a * n + v];
            o[v] = sum;
        }
    }
    free(acc);
}

void SFX(scatter_cols)(int64_t D, int64_t N, int64_t n, const int64_t *idx, const real *cols,
                       real *out, int64_t nblocks, int64_t nthreads) {
    job_t job = {.fn = SFX(scatter_cols_block), .T = N, .B = D, .H = n,
                 .p = {(void *)idx, (void *)cols, out}};
    run_split(&job, nblocks, nthreads, SPLIT_BATCH, 1);
}

/* ----- exported entry points: sizes, blocks, threads, split mode, the pointers, and for a
 * forward pass optionally ids (T*B) and the table width ldt (then xp is the table) ------- */
#define EXPORT(cell, gates, np_fwd, np_bwd)                                                        \
    void SFX(cell##_forward)(int64_t T, int64_t B, int64_t H, int64_t nblocks, int64_t nthreads,   \
                             int64_t mode, void *const *ptrs, const int64_t *ids, int64_t ldt) {   \
        const int units = mode == SPLIT_UNITS;                                                     \
        job_t job = {.fn = units ? SFX(cell##_forward_units) : SFX(cell##_forward_batch),          \
                     .T = T, .B = B, .H = H, .ids = ids, .ldt = ldt};                              \
        memcpy(job.p, ptrs, (np_fwd) * sizeof(void *));                                            \
        if (units && ids) { /* one scratch for all blocks: each uses only its own rows */          \
            job.scratch = malloc(sizeof(real) * (gates) * H * B);                                  \
            if (!job.scratch) abort();                                                             \
        }                                                                                          \
        run_split(&job, nblocks, nthreads, (int)mode, units ? T : 1);                              \
        free(job.scratch);                                                                         \
    }                                                                                              \
    void SFX(cell##_backward)(int64_t T, int64_t B, int64_t H, int64_t nblocks, int64_t nthreads,  \
                              int64_t mode, void *const *ptrs, const int64_t *ids, int64_t ldt) {  \
        (void)ids, (void)ldt;                                                                      \
        const int units = mode == SPLIT_UNITS;                                                     \
        job_t job = {.fn = units ? SFX(cell##_backward_units) : SFX(cell##_backward_batch),        \
                     .T = T, .B = B, .H = H};                                                      \
        memcpy(job.p, ptrs, (np_bwd) * sizeof(void *));                                            \
        run_split(&job, nblocks, nthreads, (int)mode, units ? T + 1 : 1);                          \
    }
EXPORT(rnn, 1, 3, 5)
EXPORT(gru, 3, 6, 8)
EXPORT(lstm, 4, 6, 8)
#undef EXPORT
#undef DEFINE_CELL

#undef GEMM
#undef SIGMOID
#undef TANH
#undef SQRT
#undef EXP
#undef LOG
