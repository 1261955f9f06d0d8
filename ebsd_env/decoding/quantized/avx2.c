/* Weight-only int4 and int8 matrix products for the int4 drafter on AVX2 + FMA CPUs (see native.py).

   torch's own CPU kernels for these products (_weight_int4pack_mm_for_cpu, _weight_int8pack_mm) take bfloat16
   activations; on a CPU without AVX-512 BF16 they convert and multiply at about a third of a core's speed.
   These take the same bfloat16 activations and the same bfloat16-rounded scales, compute in float32 and round
   the result to bfloat16 once, as torch's do; only the order of the float32 additions differs. */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* float32 -> bfloat16, round to nearest even (NaN kept a NaN), as torch's conversion. */
static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static void bf16_to_f32(const uint16_t *x, float *out, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m128i v = _mm_loadu_si128((const __m128i *)(x + i));
        _mm256_storeu_ps(out + i, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16)));
    }
    for (; i < count; i++) {
        uint32_t u = (uint32_t)x[i] << 16;
        memcpy(out + i, &u, 4);
    }
}

static inline float dot(const float *a, const float *b, int n) {
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
    float s = hsum(acc);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Eight int4 values (the nibbles of one 32-bit word, lowest first) as eight floats: the word broadcast, each
   lane shifted by its own count, masked. Cheaper on AVX2 than widening bytes with shuffles. */
#define NIBBLES(word) \
    _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)(word)), shifts), low))

/* sum over one group of 32 columns of x[j] * q[j] */
static inline __m256 group_dot(const uint32_t *words, const float *xg, __m256i shifts, __m256i low) {
    __m256 a = _mm256_fmadd_ps(_mm256_loadu_ps(xg + 8), NIBBLES(words[1]), _mm256_mul_ps(_mm256_loadu_ps(xg), NIBBLES(words[0])));
    __m256 b = _mm256_fmadd_ps(_mm256_loadu_ps(xg + 24), NIBBLES(words[3]),
                               _mm256_mul_ps(_mm256_loadu_ps(xg + 16), NIBBLES(words[2])));
    return _mm256_add_ps(a, b);
}

/* y[r, c] = sum_k x[r, k] * ((q[c, k] - 8) * scale[c, g] + zero[c, g]), g = k / 32, computed as
   sum_g scale[c, g] * sum_{k in g} x[r, k] q[c, k]  +  sum_g bias[c, g] * sum_{k in g} x[r, k],
   bias = zero - 8 * scale.
   x: [m][k] bfloat16; packed: [n][k / 8] words, word t holding q[c, 8t + j] in bits 4j..4j+3;
   scale, bias: [n][k / 32] float32; y: [m][n] bfloat16. k must be a multiple of 32. Output columns are split
   between `threads` OpenMP threads. Returns 0, or -1 when out of memory. */
int int4_matmul(const uint16_t *x, int m, int k, int n, const uint32_t *packed, const float *scale,
                const float *bias, uint16_t *y, int threads) {
    const int groups = k / 32;
    const size_t words = (size_t)k / 8;
    float *xf = malloc(sizeof(float) * ((size_t)m * k + (size_t)m * groups));
    if (!xf) return -1;
    float *xsum = xf + (size_t)m * k;
    bf16_to_f32(x, xf, (size_t)m * k);
    for (int r = 0; r < m; r++)
        for (int g = 0; g < groups; g++) {
            const float *xg = xf + (size_t)r * k + 32 * g;
            xsum[(size_t)r * groups + g] = hsum(_mm256_add_ps(
                _mm256_add_ps(_mm256_loadu_ps(xg), _mm256_loadu_ps(xg + 8)),
                _mm256_add_ps(_mm256_loadu_ps(xg + 16), _mm256_loadu_ps(xg + 24))));
        }
    const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
    const __m256i low = _mm256_set1_epi32(0xf);
    /* Two output columns at a time (two independent accumulation chains), the pairs split between threads. */
    const int pairs = n / 2;
#pragma omp parallel for if (threads > 1) num_threads(threads) schedule(static)
    for (int p = 0; p < pairs; p++) {
        const int c = 2 * p;
        const uint32_t *w0 = packed + (size_t)c * words, *w1 = w0 + words;
        const float *s0 = scale + (size_t)c * groups, *s1 = s0 + groups;
        const float *b0 = bias + (size_t)c * groups, *b1 = b0 + groups;
        for (int r = 0; r < m; r++) {
            const float *xr = xf + (size_t)r * k, *xs = xsum + (size_t)r * groups;
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            for (int g = 0; g < groups; g++) {
                a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(s0 + g), group_dot(w0 + 4 * g, xr + 32 * g, shifts, low), a0);
                a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(s1 + g), group_dot(w1 + 4 * g, xr + 32 * g, shifts, low), a1);
            }
            y[(size_t)r * n + c] = to_bf16(hsum(a0) + dot(b0, xs, groups));
            y[(size_t)r * n + c + 1] = to_bf16(hsum(a1) + dot(b1, xs, groups));
        }
    }
    for (int c = 2 * pairs; c < n; c++) {
        const uint32_t *w0 = packed + (size_t)c * words;
        const float *s0 = scale + (size_t)c * groups, *b0 = bias + (size_t)c * groups;
        for (int r = 0; r < m; r++) {
            const float *xr = xf + (size_t)r * k;
            __m256 a0 = _mm256_setzero_ps();
            for (int g = 0; g < groups; g++)
                a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(s0 + g), group_dot(w0 + 4 * g, xr + 32 * g, shifts, low), a0);
            y[(size_t)r * n + c] = to_bf16(hsum(a0) + dot(b0, xsum + (size_t)r * groups, groups));
        }
    }
    free(xf);
    return 0;
}

/* y[r, c] = scale[c] * sum_k x[r, k] * w[c, k]; x: [m][k] bfloat16, w: [n][k] int8, scale: [n] float32,
   y: [m][n] bfloat16. Output columns are split between `threads` OpenMP threads (the runtime torch loaded, whose
   library has the same name). Returns 0, or -1 when out of memory. */
int int8_matmul(const uint16_t *x, int m, int k, int n, const int8_t *w, const float *scale, uint16_t *y,
                int threads) {
    float *xf = malloc(sizeof(float) * (size_t)m * k);
    if (!xf) return -1;
    bf16_to_f32(x, xf, (size_t)m * k);
#pragma omp parallel for if (threads > 1) num_threads(threads) schedule(static)
    for (int c = 0; c < n; c++) {
        const int8_t *wc = w + (size_t)c * k;
        for (int r = 0; r < m; r++) {
            const float *xr = xf + (size_t)r * k;
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            int i = 0;
            for (; i + 16 <= k; i += 16) {
                __m128i b = _mm_loadu_si128((const __m128i *)(wc + i));
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(xr + i), _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)), a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(xr + i + 8),
                                     _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(b, 8))), a1);
            }
            float s = hsum(_mm256_add_ps(a0, a1));
            for (; i < k; i++) s += xr[i] * (float)wc[i];
            y[(size_t)r * n + c] = to_bf16(s * scale[c]);
        }
    }
    free(xf);
    return 0;
}

/* out[r] = bf16(bf16(x[r] * rsqrt(sum(x[r]^2) / h + eps)) * weight), the int4 runner's RMS norm (runner.py `_rms`)
   in one call instead of nine torch operations. Every rounding is torch's: float32 products, the division, the
   sum of eps, 1 / sqrt, bfloat16 round to nearest even after the scaling and after the weight. The sum of squares
   follows the order of torch's float32 sum of a contiguous row (ATen SumKernel.cpp, `row_sum` over vectors of
   `lanes` floats, 8 for its AVX2 kernels and 16 for its AVX-512 ones: four accumulators, a cascade level every
   2^p groups of four vectors, the accumulators then added in order and the lanes in order), so the result is
   torch's to the bit where torch sums that way; the runner checks that on this machine before using it
   (`NativeNorm.matches_torch`). h must be a multiple of 4 * lanes. Returns 0, 2 on a bad shape, 3 if out of
   memory. */
#define MAX_PARTS 2  /* 8-float registers per vector of torch's: 1 (AVX2) or 2 (AVX-512) */
/* group g of the squares: vectors 4g .. 4g + 3, one into each accumulator of the lowest level */
#define ADD_GROUP(g)                                                                                          \
    for (int k = 0; k < 4; k++)                                                                               \
        for (int e = 0; e < parts; e++)                                                                       \
            acc[0][k][e] = _mm256_add_ps(acc[0][k][e], _mm256_loadu_ps(sq + (4 * (g) + k) * lanes + 8 * e))
int rms_norm_bf16(const uint16_t *x, int m, int h, const uint16_t *weight, float eps, int lanes, uint16_t *out) {
    const int parts = lanes / 8;
    if (h <= 0 || (lanes != 8 && lanes != 16) || h % (4 * lanes)) return 2;
    const int groups = h / lanes / 4;
    int level_power = 4;  /* max(4, ceil(log2(groups)) / 4) */
    {
        int log2 = 0;
        while ((1 << log2) < groups) log2++;
        if (log2 / 4 > level_power) level_power = log2 / 4;
    }
    const int step = 1 << level_power;
    float *xf = malloc(sizeof(float) * 2 * (size_t)h);
    if (!xf) return 3;
    float *sq = xf + h;
    for (int r = 0; r < m; r++) {
        bf16_to_f32(x + (size_t)r * h, xf, (size_t)h);
        /* The squares rounded to float32 and stored before any is summed, as torch's x * x: the barrier keeps the
           compiler from fusing a product into the sum (an FMA rounds once, not twice). */
        for (int c = 0; c < h; c += 8) {
            const __m256 v = _mm256_loadu_ps(xf + c);
            _mm256_storeu_ps(sq + c, _mm256_mul_ps(v, v));
        }
        __asm__ volatile("" ::: "memory");
        __m256 acc[4][4][MAX_PARTS];
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 4; k++)
                for (int e = 0; e < parts; e++) acc[j][k][e] = _mm256_setzero_ps();
        int i = 0;
        while (i + step <= groups) {  /* whole level steps, each carried up the cascade */
            for (int g = 0; g < step; g++, i++) ADD_GROUP(i);
            for (int j = 1; j < 4; j++) {
                for (int k = 0; k < 4; k++)
                    for (int e = 0; e < parts; e++) {
                        acc[j][k][e] = _mm256_add_ps(acc[j][k][e], acc[j - 1][k][e]);
                        acc[j - 1][k][e] = _mm256_setzero_ps();
                    }
                if (i & ((step - 1) << (j * level_power))) break;
            }
        }
        for (; i < groups; i++) ADD_GROUP(i);
        for (int j = 1; j < 4; j++)
            for (int k = 0; k < 4; k++)
                for (int e = 0; e < parts; e++) acc[0][k][e] = _mm256_add_ps(acc[0][k][e], acc[j][k][e]);
        float sum = 0.0f;
        for (int e = 0; e < parts; e++) {  /* vector accumulators 1-3 into 0, then the lanes in order */
            __m256 total = acc[0][0][e];
            for (int k = 1; k < 4; k++) total = _mm256_add_ps(total, acc[0][k][e]);
            acc[0][0][e] = total;
        }
        for (int e = 0; e < parts; e++) {
            float lane[8];
            _mm256_storeu_ps(lane, acc[0][0][e]);
            for (int l = 0; l < 8; l++) sum += lane[l];
        }
        const float scale = 1.0f / _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(sum / (float)h + eps)));  /* IEEE sqrt */
        uint16_t *o = out + (size_t)r * h;
        for (int c = 0; c < h; c++) {
            uint32_t wu = (uint32_t)weight[c] << 16, nu = (uint32_t)to_bf16(xf[c] * scale) << 16;
            float wf, normed;
            memcpy(&wf, &wu, 4);
            memcpy(&normed, &nu, 4);
            o[c] = to_bf16(normed * wf);
        }
    }
    free(xf);
    return 0;
}
