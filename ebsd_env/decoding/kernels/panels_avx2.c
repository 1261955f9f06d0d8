/* Float32 products of a few rows by a wide weight, for AVX2 + FMA CPUs: the "avx2-panels" kernel variant
   (see variants.py, PanelLinear).

   The weight is stored as panels of 16 output columns: panel p holds, for each input index i, the 16 weights
   W[16p .. 16p+16, i] side by side ([ceil(n / 16)][k][16] floats, the last panel padded with zeros). A block of
   R rows (R <= 6) and P panels keeps 2 * P * R sums of 8 floats in registers; at each input index it loads the
   panels' 16 weights once and multiplies them by each row's value, broadcast. So each weight is read from
   memory once whatever the number of rows, and a block of 6 rows runs near the core's peak (on a Zen 3 EPYC, 81
   of 92 GFLOP/s with the weights in cache). Up to 6 rows the product costs about what one row costs, the time it
   takes to stream the weights; more rows take more passes over each panel while it is in cache.

   While one group of panels is multiplied, the next group is prefetched (one 64-byte line per panel and input
   index, as fast as the current group is read): on a Zen 3 EPYC, 6 rows by a 600 MB weight took 72 ms without
   it and 52 ms with it (one row: 36-42 ms). The output columns are split between OpenMP threads by groups of
   panels.

   Each output sums its products over the input index in order, in float32, one fused multiply-add at a time;
   BLAS sums in another order, so the results differ from torch's in the last bits. */
#include <immintrin.h>
#include <stddef.h>

#define PANEL 16

/* y[r][c + j] = sum_i x[r][i] * W[c + j][i] (+ b[c + j]) for r < R and the 16 P columns of P panels at `wp`;
   pf: the same place in the next group of panels, prefetched during the block (0: none), in turns: block b0 of a
   group's nb row blocks prefetches the lines of every nb-th input index, so that the next group streams in
   evenly over all of them. */
#define BLOCK(P, R)                                                                                             \
    static inline void block_##P##x##R(const float *x, int k, int n, const float *wp, const float *b, float *y, \
                                       int c, const float *pf, int nb, int b0) {                                \
        __m256 acc[2 * P * R];                                                                                  \
        _Pragma("GCC unroll 16") for (int t = 0; t < 2 * P * R; t++) acc[t] = _mm256_setzero_ps();              \
        const size_t stride = (size_t)k * PANEL;                                                                \
        int turn = b0;                                                                                          \
        for (int i = 0; i < k; i++) {                                                                           \
            if (pf && turn-- == 0) {                                                                            \
                turn = nb - 1;                                                                                  \
                _Pragma("GCC unroll 4") for (int p = 0; p < P; p++)                                             \
                    _mm_prefetch((const char *)(pf + p * stride + (size_t)i * PANEL), _MM_HINT_T0);             \
            }                                                                                                   \
            _Pragma("GCC unroll 4") for (int p = 0; p < P; p++) {                                               \
                __m256 w0 = _mm256_loadu_ps(wp + p * stride + (size_t)i * PANEL);                               \
                __m256 w1 = _mm256_loadu_ps(wp + p * stride + (size_t)i * PANEL + 8);                           \
                _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                           \
                    __m256 xb = _mm256_broadcast_ss(x + (size_t)r * k + i);                                     \
                    acc[2 * (p * R + r)] = _mm256_fmadd_ps(w0, xb, acc[2 * (p * R + r)]);                       \
                    acc[2 * (p * R + r) + 1] = _mm256_fmadd_ps(w1, xb, acc[2 * (p * R + r) + 1]);               \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
        _Pragma("GCC unroll 4") for (int p = 0; p < P; p++) {                                                   \
            const int cp = c + p * PANEL;                                                                       \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                               \
                __m256 v0 = acc[2 * (p * R + r)], v1 = acc[2 * (p * R + r) + 1];                                \
                float *yr = y + (size_t)r * n + cp;                                                             \
                if (cp + PANEL <= n) {                                                                          \
                    if (b) {                                                                                    \
                        v0 = _mm256_add_ps(v0, _mm256_loadu_ps(b + cp));                                        \
                        v1 = _mm256_add_ps(v1, _mm256_loadu_ps(b + cp + 8));                                    \
                    }                                                                                           \
                    _mm256_storeu_ps(yr, v0);                                                                   \
                    _mm256_storeu_ps(yr + 8, v1);                                                               \
                } else { /* the last, partial panel: only its real columns */                                  \
                    float t[PANEL];                                                                             \
                    _mm256_storeu_ps(t, v0);                                                                    \
                    _mm256_storeu_ps(t + 8, v1);                                                                \
                    for (int j = 0; cp + j < n; j++) yr[j] = b ? t[j] + b[cp + j] : t[j];                       \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
    }
/* 2 P R sums of 8 floats: 8 to 12 of the 16 vector registers, enough independent chains to keep both FMA units
   busy. Fewer rows take more panels at once. */
BLOCK(4, 1) BLOCK(2, 2) BLOCK(2, 3) BLOCK(1, 1) BLOCK(1, 2) BLOCK(1, 3) BLOCK(1, 4) BLOCK(1, 5) BLOCK(1, 6)

#define WIDE_GROUP 4 /* panels per group when one pass covers every row: the 1-3 row blocks take 4 or 2 at once */

/* the next row block of a product with `left` rows still to do: at most 6, never a single row alone */
static inline int next_rows(int left) { return left <= 6 ? left : (left <= 8 ? 4 : 6); }

/* one block of `rows` rows over the `panels` panels (1 or WIDE_GROUP) of a group */
static void group_rows(int rows, int panels, const float *x, int k, int n, const float *wp, const float *b, float *y,
                       int c, const float *pf, int nb, int b0) {
    const size_t stride = (size_t)k * PANEL;
#define EACH(P, CALL)                   \
    for (int p = 0; p + P <= panels; p += P) \
        CALL(x, k, n, wp + p * stride, b, y, c + p * PANEL, pf ? pf + p * stride : 0, nb, b0)
    if (panels == WIDE_GROUP && rows <= 3) {
        switch (rows) {
            case 1: EACH(4, block_4x1); return;
            case 2: EACH(2, block_2x2); return;
            default: EACH(2, block_2x3); return;
        }
    }
    switch (rows) {
        case 1: EACH(1, block_1x1); return;
        case 2: EACH(1, block_1x2); return;
        case 3: EACH(1, block_1x3); return;
        case 4: EACH(1, block_1x4); return;
        case 5: EACH(1, block_1x5); return;
        default: EACH(1, block_1x6); return;
    }
#undef EACH
}

/* y = x @ W.T (+ b): x [m][k], panels as above, b [n] or NULL, y [m][n], all float32 and contiguous. The panels
   are split between `threads` OpenMP threads in groups: of WIDE_GROUP panels when one pass of at most 6 rows
   covers every row, else of one panel, so that a panel stays in cache for each further pass (on a Zen 3 EPYC
   9-12 rows took 62-63 ms a pass through the embedded verifier's linears with one-panel groups against 71-75 ms
   with four). Returns 0. */
int panels_linear(const float *x, int m, int k, int n, const float *wp, const float *b, float *y, int threads) {
    const int panels = (n + PANEL - 1) / PANEL;
    const int group = m <= 6 ? WIDE_GROUP : 1, groups = (panels + group - 1) / group;
    const size_t stride = (size_t)k * PANEL;
    int nb = 0; /* row blocks per group */
    for (int r0 = 0; r0 < m; r0 += next_rows(m - r0)) nb++;
#pragma omp parallel for if (threads > 1) num_threads(threads) schedule(static)
    for (int g = 0; g < groups; g++) {
        const int p0 = g * group, count = panels - p0 < group ? panels - p0 : group;
        const float *wg = wp + p0 * stride;
        const float *pf = g + 1 < groups ? wg + (size_t)group * stride : 0;
        for (int r0 = 0, b0 = 0; r0 < m; b0++) {
            const int rows = next_rows(m - r0);
            group_rows(rows, count, x + (size_t)r0 * k, k, n, wg, b, y + (size_t)r0 * n, p0 * PANEL, pf, nb, b0);
            r0 += rows;
        }
    }
    return 0;
}
