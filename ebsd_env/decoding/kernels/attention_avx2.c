/* Float32 attention of a few queries over a KV cache, for AVX2 + FMA CPUs (see ebsd_env/decoding/attention.py).

   What it is for: every query row gets the same bits whatever the number of rows in the call. torch's attention
   kernels block the work by the number of queries, so a verification of k + 1 tokens rounds its rows differently
   from k + 1 one-token forwards, and the keys and values the verifier stores differ in the last bits with the
   block widths that produced them. Here each row's result depends only on its query, on the keys and values it
   may see, and on which of them it may see, computed in a fixed order:

   - scores: the query's dot product with each key, 8 keys at a time, each key's 8-float partial sums added in a
     fixed tree (`sum8`), times the scale; keys are grouped in eights by their position in the cache (0-7, 8-15,
     ...), so a row sees the same groups whether the call holds it alone or among others;
   - the softmax: the maximum over the visible keys, exp(score - maximum) by Cephes' single-precision polynomial
     (`exp8`), zero for every hidden key, the sum in 8 lanes then a fixed order;
   - the output: sum over the visible keys of weight * value, in key order, divided by the softmax's sum.

   Which keys a row sees: with a mask (a bool row per query, true where it may attend), its true entries; without
   one, the cache's first t - m + 1 + i keys for row i (the causal rule a decoder's mask also gives). If a row has
   no visible key, the call returns 1 before computing anything (the caller falls back to torch). Query heads map
   to key/value heads as transformers' grouped attention does (head h reads KV head h / (heads / kv_heads)).
   The rows of a KV head are computed together (each 8 keys read once for all of them, the values a block of
   keys at a time), which changes when each row's operations run, never which they are. Rows are split between
   OpenMP threads; every row is computed by one thread, so the bits do not depend on the thread count either. */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* the 8 totals of a0..a7 (lane j: the sum of aj's lanes), always added in the same order */
static inline __m256 sum8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5, __m256 a6, __m256 a7) {
    __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

static inline float total(__m256 a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* exp(x) for x <= 0 (Cephes' single-precision polynomial): 2^n * p(r), r = x - n ln 2, with x clamped at -87 */
static inline __m256 exp8(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* q . k for one key: 8-float products summed along the head in order into one accumulator (d a multiple of 8;
   q as d / 8 vectors) */
static inline __m256 dot_parts(const __m256 *q, const float *k, int d) {
    __m256 acc = _mm256_mul_ps(q[0], _mm256_loadu_ps(k));
    for (int c = 1; c < d / 8; c++) acc = _mm256_fmadd_ps(q[c], _mm256_loadu_ps(k + 8 * c), acc);
    return acc;
}

/* lanes of the 8 keys from j0 a row may see: below its end and, with a mask, true in it */
static inline __m256 visible8(int j0, int end, int t, const unsigned char *mask) {
    const __m256i index = _mm256_add_epi32(_mm256_set1_epi32(j0), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256i keep = _mm256_cmpgt_epi32(_mm256_set1_epi32(end), index);
    if (mask) {
        unsigned char bytes[8] = {0};
        for (int l = 0; l < 8 && j0 + l < t; l++) bytes[l] = mask[j0 + l];
        __m256i flags = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)bytes));
        keep = _mm256_andnot_si256(_mm256_cmpeq_epi32(flags, _mm256_setzero_si256()), keep);
    }
    return _mm256_castsi256_ps(keep);
}

#define MAX_D 256
#define KEY_BLOCK 64 /* keys whose values are summed into every row before the next block (16 KB at d = 64) */

/* The rows of one KV head: row r is query head h0 + r % group at query r / group (with r0 the first of them).
   scores: rows x stride floats of scratch; acc: rows x d; ends: each row's end (0: no visible key). */
static inline void head_rows(const float *q, int heads, int d, int64_t q_head, int64_t q_row, const float *k,
                             const float *v, int t, int64_t k_row, int64_t v_row, const unsigned char *mask,
                             int64_t mask_row, float scale, float *out, int h0, int group, int r0, int rows,
                             const int *ends, float *scores, int stride, float *best, float *acc, float *norms) {
    const __m256 hidden = _mm256_set1_ps(-INFINITY);
    int last = 0;
    for (int r = 0; r < rows; r++) last = ends[r] > last ? ends[r] : last;
    for (int r = 0; r < rows; r++) _mm256_storeu_ps(best + 8 * r, hidden);
    /* scores, 8 keys at a time; the 8 keys' values stay in cache for every row */
    for (int j0 = 0; j0 < last; j0 += 8) {
        const float *keys[8];
        for (int l = 0; l < 8; l++) keys[l] = j0 + l < t ? k + (int64_t)(j0 + l) * k_row : 0;
        for (int r = 0; r < rows; r++) {
            const int row = r0 + r, i = row / group, h = h0 + row % group;
            if (j0 >= ends[r]) continue;
            const float *qr = q + h * q_head + i * q_row;
            __m256 qv[MAX_D / 8], parts[8]; /* the query in registers for the 8 keys (at d = 64) */
            for (int c = 0; c < d / 8; c++) qv[c] = _mm256_loadu_ps(qr + 8 * c);
            for (int l = 0; l < 8; l++) parts[l] = keys[l] ? dot_parts(qv, keys[l], d) : _mm256_setzero_ps();
            __m256 score = _mm256_mul_ps(sum8(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], parts[6],
                                              parts[7]), _mm256_set1_ps(scale));
            score = _mm256_blendv_ps(hidden, score, visible8(j0, ends[r], t, mask ? mask + i * mask_row : 0));
            _mm256_storeu_ps(scores + (int64_t)r * stride + j0, score);
            _mm256_storeu_ps(best + 8 * r, _mm256_max_ps(_mm256_loadu_ps(best + 8 * r), score));
        }
    }
    /* the softmax's weights and sums */
    for (int r = 0; r < rows; r++) {
        float top[8], m_r = -INFINITY;
        _mm256_storeu_ps(top, _mm256_loadu_ps(best + 8 * r));
        for (int l = 0; l < 8; l++) m_r = top[l] > m_r ? top[l] : m_r;
        const __m256 shift = _mm256_set1_ps(m_r);
        __m256 sum = _mm256_setzero_ps();
        float *s = scores + (int64_t)r * stride;
        for (int j0 = 0; j0 < ends[r]; j0 += 8) {
            __m256 score = _mm256_loadu_ps(s + j0);
            __m256 p = _mm256_and_ps(exp8(_mm256_sub_ps(score, shift)), _mm256_cmp_ps(score, hidden, _CMP_NEQ_OQ));
            _mm256_storeu_ps(s + j0, p);
            sum = _mm256_add_ps(sum, p);
        }
        norms[r] = total(sum);
        for (int c = 0; c < d; c += 8) _mm256_storeu_ps(acc + (int64_t)r * d + c, _mm256_setzero_ps());
    }
    /* weights times values, key by key in order, a block of keys at a time for every row */
    for (int b0 = 0; b0 < last; b0 += KEY_BLOCK) {
        for (int r = 0; r < rows; r++) {
            const int stop = ends[r] < b0 + KEY_BLOCK ? ends[r] : b0 + KEY_BLOCK;
            if (stop <= b0) continue;
            const float *s = scores + (int64_t)r * stride;
            float *a = acc + (int64_t)r * d;
            __m256 sums[MAX_D / 8];
            for (int c = 0; c < d / 8; c++) sums[c] = _mm256_loadu_ps(a + 8 * c);
            for (int j = b0; j < stop; j++) {
                const __m256 p = _mm256_set1_ps(s[j]);
                const float *vj = v + (int64_t)j * v_row;
                for (int c = 0; c < d / 8; c++) sums[c] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 8 * c), sums[c]);
            }
            for (int c = 0; c < d / 8; c++) _mm256_storeu_ps(a + 8 * c, sums[c]);
        }
    }
    for (int r = 0; r < rows; r++) {
        const int row = r0 + r, i = row / group, h = h0 + row % group;
        const __m256 norm = _mm256_set1_ps(norms[r]);
        for (int c = 0; c < d; c += 8)
            _mm256_storeu_ps(out + ((int64_t)i * heads + h) * d + c,
                             _mm256_div_ps(_mm256_loadu_ps(acc + (int64_t)r * d + c), norm));
    }
}

/* out[i][h][:] = attention of query row i of head h, for i < m, h < heads.
   q: element (h, i, c) at q[h * q_head + i * q_row + c]; k / v: element (g, j, c) at k[g * k_head + j * k_row + c]
   for KV head g < kv_heads and key j < t; mask: NULL, or row i's t bools at mask[i * mask_row]; out: [m][heads][d]
   contiguous. d: a multiple of 8, at most 256; heads a multiple of kv_heads. The rows of each KV head (its query
   heads x the m queries) are split between the threads in contiguous parts. Returns 0, 1 if some row sees no key
   (nothing is computed; the caller computes the call another way), 2 on a bad shape, 3 if out of memory. */
int few_query_attention(const float *q, int m, int heads, int d, int64_t q_head, int64_t q_row, const float *k,
                        const float *v, int kv_heads, int t, int64_t k_head, int64_t k_row, int64_t v_head,
                        int64_t v_row, const unsigned char *mask, int64_t mask_row, float scale, float *out,
                        int threads) {
    if (m < 1 || t < 1 || d < 8 || d % 8 || d > MAX_D || kv_heads < 1 || heads % kv_heads || m > t) return 2;
    const int group = heads / kv_heads, rows = group * m;
    int *ends = malloc(sizeof(int) * (size_t)m);
    if (!ends) return 3;
    int failed = 0;
    for (int i = 0; i < m; i++) { /* row i's end: one past its last visible key */
        int end = t - m + 1 + i;
        if (mask)
            for (end = t; end > 0 && !mask[i * mask_row + end - 1]; end--) {
            }
        ends[i] = end;
        failed |= end < 1;
    }
    const int parts = threads > 1 && rows >= threads ? threads : 1, items = kv_heads * parts;
    const int stride = (t + 7) / 8 * 8;
#pragma omp parallel for if (threads > 1 && !failed) num_threads(threads) schedule(static) reduction(| : failed)
    for (int item = 0; item < items; item++) {
        if (failed & 1) continue;
        const int g = item / parts, part = item % parts;
        const int r0 = (int)((int64_t)rows * part / parts), count = (int)((int64_t)rows * (part + 1) / parts) - r0;
        int *row_ends = malloc(sizeof(int) * (size_t)count);
        float *scores = malloc(sizeof(float) * ((size_t)count * stride + (size_t)count * 8 + (size_t)count * d + count));
        if (!row_ends || !scores) {
            free(row_ends);
            free(scores);
            failed |= 4;
            continue;
        }
        for (int r = 0; r < count; r++) row_ends[r] = ends[(r0 + r) / group];
        float *best = scores + (size_t)count * stride, *acc = best + (size_t)count * 8, *norms = acc + (size_t)count * d;
        if (d == 64) /* the common head size, its loops unrolled by the compiler */
            head_rows(q, heads, 64, q_head, q_row, k + g * k_head, v + g * v_head, t, k_row, v_row, mask,
                      mask_row, scale, out, g * group, group, r0, count, row_ends, scores, stride, best, acc, norms);
        else
            head_rows(q, heads, d, q_head, q_row, k + g * k_head, v + g * v_head, t, k_row, v_row, mask,
                      mask_row, scale, out, g * group, group, r0, count, row_ends, scores, stride, best, acc, norms);
        free(row_ends);
        free(scores);
    }
    free(ends);
    return failed & 4 ? 3 : failed & 1;
}
