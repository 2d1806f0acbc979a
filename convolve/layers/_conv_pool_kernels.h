/* The kernels of _conv_pool.c, included once per instruction set with KERNEL(name) naming
 * that set's copy, LANES the floats of one of its registers and BLOCKS the registers of
 * channels one pass computes (4 x BLOCKS window sums stay in registers). Every function
 * here, helpers included, is compiled for the set, so the helpers inline and the compiler
 * lowers their vector operations to its instructions. */

typedef float KERNEL(vfloat) __attribute__((vector_size(LANES * sizeof(float))));
typedef int32_t KERNEL(vint) __attribute__((vector_size(LANES * sizeof(int32_t))));
#define vfloat KERNEL(vfloat)
#define vint KERNEL(vint)
/* A constant number of blocks, k where the set has k, so that unreachable cases compile. */
#define UP_TO_BLOCKS(k) ((k) < BLOCKS ? (k) : BLOCKS)

/* Blocks of LANES channels in the pass from channel c0 (1 .. BLOCKS). */
static inline int KERNEL(blocks_from)(const Block *b, Py_ssize_t c0) {
    return (int)((min_size(BLOCKS * LANES, b->cout - c0) + LANES - 1) / LANES);
}

static inline vfloat KERNEL(load)(const float *p) {
    vfloat v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* mask ? a : b, lane by lane */
static inline vfloat KERNEL(blend)(vint mask, vfloat a, vfloat b) {
    return (vfloat)(((vint)a & mask) | ((vint)b & ~mask));
}

/* The largest of a window's four sums, after ReLU, and its code. */
static inline __attribute__((always_inline)) void KERNEL(store_pooled)(
    const vfloat sums[4], float *out, uint8_t *code, Py_ssize_t lanes) {
    vfloat best = sums[0];
    vint arg = {0};
    for (int k = 1; k < 4; k++) {
        const vint wins = (sums[k] > best) | (sums[k] != sums[k]);
        best = KERNEL(blend)(wins, sums[k], best);
        arg = (wins & k) | (arg & ~wins);
    }
    const vfloat y = KERNEL(blend)(best < 0.0f, (vfloat){0}, best);
    memcpy(out, &y, sizeof(float) * lanes);
    if (code) {
        int32_t codes[LANES];
        const vint c = arg | (~(y <= 0.0f) & RELU_PASSES);
        memcpy(codes, &c, sizeof codes);
        for (Py_ssize_t l = 0; l < lanes; l++) code[l] = (uint8_t)codes[l];
    }
}

/* One pooled position, `blocks` blocks of channels from c0 (a constant where inlined, so
 * the 4 x blocks sums stay in registers): the four window sums, then their max. */
static inline __attribute__((always_inline)) void KERNEL(pooled_position)(
    const Block *b, const Py_ssize_t *taps_at, const float *origin, Py_ssize_t c0, float *out,
    uint8_t *code, const int blocks) {
    const Py_ssize_t taps = b->kh * b->kw * b->cin, right = b->cin, down = b->w * b->cin;
    vfloat acc[BLOCKS][4];
    for (int q = 0; q < blocks; q++)
        for (int k = 0; k < 4; k++) acc[q][k] = KERNEL(load)(b->bias + c0 + q * LANES);
    for (Py_ssize_t t = 0; t < taps; t++) {
        const float *tap = origin + taps_at[t];
        const float x0 = tap[0], x1 = tap[right], x2 = tap[down], x3 = tap[down + right];
        const float *wt = b->kernel + t * b->cout_padded + c0;
        for (int q = 0; q < blocks; q++) {
            const vfloat wk = KERNEL(load)(wt + q * LANES);
            acc[q][0] += x0 * wk;
            acc[q][1] += x1 * wk;
            acc[q][2] += x2 * wk;
            acc[q][3] += x3 * wk;
        }
    }
    for (int q = 0; q < blocks; q++) {
        const Py_ssize_t first = c0 + q * LANES;
        KERNEL(store_pooled)(acc[q], out + first, code ? code + first : NULL,
                             min_size(LANES, b->cout - first));
    }
}

static void KERNEL(forward_image)(const Block *b, Py_ssize_t n, float *out, uint8_t *code) {
    Py_ssize_t taps_at[MAX_TAPS];
    tap_offsets(b, taps_at);
    const float *image = b->x + n * b->h * b->w * b->cin;
    for (Py_ssize_t i = 0; i < b->h_out; i++)
        for (Py_ssize_t j = 0; j < b->w_out; j++) {
            const float *origin = image + (2 * i * b->w + 2 * j) * b->cin;
            const Py_ssize_t at = ((n * b->h_out + i) * b->w_out + j) * b->cout;
            float *o = out + at;
            uint8_t *c = code ? code + at : NULL;
            for (Py_ssize_t c0 = 0; c0 < b->cout; c0 += BLOCKS * LANES) {
#define POOLED(blocks) KERNEL(pooled_position)(b, taps_at, origin, c0, o, c, blocks)
                switch (KERNEL(blocks_from)(b, c0)) {
                case 1: POOLED(UP_TO_BLOCKS(1)); break;
                case 2: POOLED(UP_TO_BLOCKS(2)); break;
                case 3: POOLED(UP_TO_BLOCKS(3)); break;
                default: POOLED(BLOCKS);
                }
#undef POOLED
            }
        }
}

/* Weight and bias gradient of one image, `blocks` blocks of channels from c0, summed in
 * float32 over its pooled positions into dw (taps x blocks) and db (blocks). */
static inline __attribute__((always_inline)) void KERNEL(image_gradient)(
    const Block *b, const Py_ssize_t *taps_at, Py_ssize_t n, const float *grad,
    const uint8_t *code, Py_ssize_t c0, vfloat *dw, vfloat *db, const int blocks) {
    const Py_ssize_t taps = b->kh * b->kw * b->cin, right = b->cin, down = b->w * b->cin;
    const float *image = b->x + n * b->h * b->w * b->cin;
    for (Py_ssize_t e = 0; e < taps * blocks; e++) dw[e] = (vfloat){0};
    for (int q = 0; q < blocks; q++) db[q] = (vfloat){0};
    for (Py_ssize_t i = 0; i < b->h_out; i++)
        for (Py_ssize_t j = 0; j < b->w_out; j++) {
            const Py_ssize_t at = ((n * b->h_out + i) * b->w_out + j) * b->cout + c0;
            vfloat g[BLOCKS];
            vint is0[BLOCKS], is1[BLOCKS], is2[BLOCKS];
            for (int q = 0; q < blocks; q++) {
                const Py_ssize_t lanes = min_size(LANES, b->cout - c0 - q * LANES);
                float g_lanes[LANES] = {0};
                int32_t code_lanes[LANES] = {0};
                memcpy(g_lanes, grad + at + q * LANES, sizeof(float) * lanes);
                for (Py_ssize_t l = 0; l < lanes; l++) code_lanes[l] = code[at + q * LANES + l];
                vint codes;
                memcpy(&codes, code_lanes, sizeof codes);
                const vint passes = (codes & RELU_PASSES) != 0;
                g[q] = KERNEL(blend)(passes, KERNEL(load)(g_lanes), (vfloat){0});
                const vint arg = codes & 3;
                is0[q] = arg == 0;
                is1[q] = arg == 1;
                is2[q] = arg == 2;
                db[q] += g[q];
            }
            const float *origin = image + (2 * i * b->w + 2 * j) * b->cin;
            for (Py_ssize_t t = 0; t < taps; t++) {
                const float *tap = origin + taps_at[t];
                const vfloat p0 = (vfloat){0} + tap[0], p1 = (vfloat){0} + tap[right];
                const vfloat p2 = (vfloat){0} + tap[down], p3 = (vfloat){0} + tap[down + right];
                for (int q = 0; q < blocks; q++) {
                    const vfloat x23 = KERNEL(blend)(is2[q], p2, p3);
                    const vfloat x = KERNEL(blend)(is0[q], p0, KERNEL(blend)(is1[q], p1, x23));
                    dw[t * blocks + q] += g[q] * x;
                }
            }
        }
}

/* One image's gradients into sums (taps x cout weight gradient, then cout bias gradient). */
static void KERNEL(gradient_image)(const Block *b, Py_ssize_t n, const float *grad,
                                   const uint8_t *code, float *scratch, double *sums) {
    vfloat *dw = (vfloat *)scratch; /* 64-byte aligned, (taps + 1) x 64 floats */
    Py_ssize_t taps_at[MAX_TAPS];
    tap_offsets(b, taps_at);
    const Py_ssize_t taps = b->kh * b->kw * b->cin;
    vfloat *db = dw + taps * BLOCKS;
    for (Py_ssize_t c0 = 0; c0 < b->cout; c0 += BLOCKS * LANES) {
        const int blocks = KERNEL(blocks_from)(b, c0);
#define GRADIENT(blocks) KERNEL(image_gradient)(b, taps_at, n, grad, code, c0, dw, db, blocks)
        switch (blocks) {
        case 1: GRADIENT(UP_TO_BLOCKS(1)); break;
        case 2: GRADIENT(UP_TO_BLOCKS(2)); break;
        case 3: GRADIENT(UP_TO_BLOCKS(3)); break;
        default: GRADIENT(BLOCKS);
        }
#undef GRADIENT
        for (int q = 0; q < blocks; q++) {
            const Py_ssize_t first = c0 + q * LANES, lanes = min_size(LANES, b->cout - first);
            for (Py_ssize_t t = 0; t < taps; t++)
                for (Py_ssize_t l = 0; l < lanes; l++)
                    sums[t * b->cout + first + l] = dw[t * blocks + q][l];
            for (Py_ssize_t l = 0; l < lanes; l++) sums[taps * b->cout + first + l] = db[q][l];
        }
    }
}

#undef vfloat
#undef vint
#undef UP_TO_BLOCKS
