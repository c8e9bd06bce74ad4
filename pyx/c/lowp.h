/* lowp.h - reduced-precision weights: packers and panel products y = W a.
 *
 * A weight W (G*H, K) row-major (G gate blocks of H rows, gate order r, z, n)
 * is packed once per format; activations a (N rows of K floats) are turned
 * into the format's operand form once per call (cgru_lowp_act); the product
 * then runs from those two.  State, gates and accumulation stay float32.
 *
 * Packed layout, every format: per gate g, panels of P = 16 outputs
 * (H zero-padded to Hp = ceil(H/16)*16), each panel contiguous, K zero-padded
 * to Kp (a multiple of the format's k-group U).  Panel (g, p0) starts at
 *     packed + (g*Hp + p0) * Kp * sizeof(element)
 * and holds, for the output i (0..15) and k:
 *     FLOAT32   U=1  float     [k][i]        = W[g*H+p0+i, k]
 *     FLOAT16   U=1  binary16  [k][i]        = f16(W[..])        (round to nearest even)
 *     BFLOAT16  U=2  bfloat16  [k/2][i][k%2] = bf16(W[..])       (the vdpbf16ps pair layout)
 *     INT8      U=4  int8      [k/4][i][k%4] = q[g*H+p0+i, k]    (the vpdpbusd quad layout)
 * INT8 is symmetric per output row: W[r, k] ~ q[r, k] * scale[r], q in
 * [-127, 127], scale[r] = max_k |W[r, k]| / 127 (0 for a zero row).  After the
 * panels (G*Hp*Kp bytes, a multiple of 64) come float scale[G*Hp], then
 * int32 rowsum[C][G*Hp]: per chunk c of CGRU_LOWP_KCHUNK k's, sum_k q[r, k]
 * (C = ceil(Kp / CGRU_LOWP_KCHUNK)).
 *
 * Operand form of a (cgru_lowp_act), N rows, row n at act + n * row bytes:
 *     FLOAT32, FLOAT16   float rows of Kp
 *     BFLOAT16           bf16(a) rows of Kp (zero padded)
 *     INT8               float ascale[N] (padded to 64 bytes), then uint8 rows
 *                        of Kp: u = qa + 128, qa = round(a / ascale[n]) in
 *                        [-127, 127], ascale[n] = max_k |a[n, k]| / 127
 *                        (per row, per call: "dynamic" quantization; NaN when
 *                        a row has a NaN or an infinity, so the product is NaN)
 * So for INT8:  y[n, r] = scale[r] * ascale[n] * sum_c sum_{k in c} qa q
 * with each chunk's integer sum exact in int32 (vpdpbusd adds u*q: the
 * 128 * rowsum offset is subtracted from the accumulator's start value).
 *
 * Paths chosen at run time (cgru_lowp_set_level): AVX-512 with AVX512-BF16
 * (vdpbf16ps), AVX512-VNNI (vpdpbusd), F16C-style vcvtph2ps; AVX2+FMA+F16C
 * with AVX-VNNI; and portable C for every format (the baseline build, ARM).
 * The product of every path is the same maths: bfloat16 and float16 agree
 * to float32 rounding, int8 agrees to float32 rounding of the final scaling.
 *
 * No function keeps state (after cgru_lowp_set_level) or touches Python, and
 * none allocates except cgru_lowp_matmul(_range) given less scratch than a
 * chunk needs (below: once per call; cgru's callers give every step its
 * scratch, or keep to the stack block); all are safe to call concurrently on
 * distinct outputs.
 */
#ifndef CGRU_C_LOWP_H
#define CGRU_C_LOWP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* weight formats: the layer's weight_format, enum cgru_weight_format of
   cgru.h (the reference; repeated here, guarded, so this header stands alone).
   NATIVE is float32 here: panels of the plain float32 product (a reference). */
#ifndef CGRU_WEIGHT_FORMAT_DEFINED
#define CGRU_WEIGHT_FORMAT_DEFINED
enum cgru_weight_format {
    CGRU_WEIGHTS_NATIVE = 0,
    CGRU_WEIGHTS_FLOAT16 = 1,
    CGRU_WEIGHTS_BFLOAT16 = 2,
    CGRU_WEIGHTS_INT8 = 3
};
#endif
#define CGRU_WEIGHTS_FLOAT32 CGRU_WEIGHTS_NATIVE
#define CGRU_LOWP_NUM_FORMATS 4
#define CGRU_LOWP_P 16           /* outputs per panel */
#define CGRU_LOWP_KCHUNK 65536   /* int8: k's per exact int32 partial sum */

/* the k-group U of a format (1, 1, 2, 4); 0 for an unknown format */
int cgru_lowp_kgroup(int fmt);
/* Hp, Kp of a (G*H, K) weight */
ptrdiff_t cgru_lowp_hpad(ptrdiff_t H);
ptrdiff_t cgru_lowp_kpad(int fmt, ptrdiff_t K);

/* bytes of the packed form of a (G*H, K) weight (panels, and for int8 the
   scales and row sums); 0 for an unknown format */
size_t cgru_lowp_packed_bytes(int fmt, ptrdiff_t G, ptrdiff_t H, ptrdiff_t K);

/* Pack W (G*H, K), rows ldw floats apart, into `packed` (64-byte aligned,
   cgru_lowp_packed_bytes).  int8: `scales` (G*H floats) gives the per-row
   scales to use (NULL: max|row|/127); with the scales of a previous packing
   and W = its dequantized values, packing again gives the same q.
   Returns 0; -1 for an unknown format; -2 when a value is not representable
   (float16: |w| >= 65520 or not finite; int8: not finite, or a given scale
   not finite or < 0); the packed contents are then unspecified. */
int cgru_lowp_pack(int fmt, ptrdiff_t G, ptrdiff_t H, ptrdiff_t K, const float* w,
                   ptrdiff_t ldw, const float* scales, void* packed);

/* The float32 values the kernels multiply by: W' (G*H, K), rows ldw apart
   (q * scale for int8), and for int8 the scales (G*H floats; may be NULL). */
void cgru_lowp_unpack(int fmt, ptrdiff_t G, ptrdiff_t H, ptrdiff_t K, const void* packed,
                      float* w, ptrdiff_t ldw, float* scales);

/* bytes of the operand form of N rows of K (64-byte multiple) */
size_t cgru_lowp_act_bytes(int fmt, ptrdiff_t N, ptrdiff_t K);
/* a (N, K), rows lda floats apart, into its operand form `act` (64-byte aligned) */
void cgru_lowp_act(int fmt, ptrdiff_t N, ptrdiff_t K, const float* a, ptrdiff_t lda,
                   void* act);

/* c[n, g*H + j] = sum_k a[n, k] W[g*H + j, k]  for n < N, gates g0 <= g < g1 and
   j0 <= j < j1 (j0 a multiple of 16, j1 <= H), from the operand form of a;
   W (G*H, K) packed as above. */
void cgru_lowp_gemm(int fmt, ptrdiff_t N, ptrdiff_t K, ptrdiff_t G, ptrdiff_t H, int g0,
                    int g1, ptrdiff_t j0, ptrdiff_t j1, const void* act, const void* packed,
                    float* c, ptrdiff_t ldc);

/* The same from float rows a (M, K), lda apart, converting them in chunks of
   up to cgru_lowp_chunk_rows(fmt, K) rows (CGRU_LOWP_CHUNK bytes of operands;
   the weights are streamed once per chunk): the input projection of M = T*N
   rows, a batch's recurrent product, a step's.  The chunk goes to `scratch`
   (scratch_bytes; NULL for none) when a whole chunk (or all M rows) fits
   there; else to a CGRU_LOWP_STACK-byte block on the stack when that holds a
   whole chunk; else to one heap block for the call (if that allocation fails:
   the stack block, fewer rows at a time; if not even one row fits there, the
   outputs are NaN, never stale).  With `scratch` of
   cgru_lowp_scratch_bytes(N, K) bytes, N rows never touch the heap. */
#define CGRU_LOWP_STACK 16384
#define CGRU_LOWP_CHUNK 262144
ptrdiff_t cgru_lowp_chunk_rows(int fmt, ptrdiff_t K);
/* rows of K (at most 8) whose operand form fits the stack block (0: not one row,
   so a product of a few rows without scratch would take the heap) */
ptrdiff_t cgru_lowp_stack_rows(int fmt, ptrdiff_t K);
size_t cgru_lowp_scratch_bytes(ptrdiff_t N, ptrdiff_t K);
/* A product split by rows across threads, each part's operands in its own
   block: cgru_lowp_part_bytes(n, K) (a 64-byte multiple, >= scratch_bytes(n, K))
   for a part of n rows; cgru_lowp_split_bytes(N, K) >= the sum of those blocks
   over any cut of N rows into parts of >= 4 rows (or one part). */
size_t cgru_lowp_part_bytes(ptrdiff_t N, ptrdiff_t K);
size_t cgru_lowp_split_bytes(ptrdiff_t N, ptrdiff_t K);
void cgru_lowp_matmul(int fmt, ptrdiff_t M, ptrdiff_t K, ptrdiff_t G, ptrdiff_t H, int g0,
                      int g1, const float* a, ptrdiff_t lda, const void* packed, float* c,
                      ptrdiff_t ldc, void* scratch, size_t scratch_bytes);
/* The same for outputs j0 <= j < j1 of each gate only (j0 a multiple of 16):
   a thread's share of a product split by hidden units.  Every output is
   computed exactly as by the whole product, and every row exactly as alone
   (the same bits however a product is split by rows or units).  Small
   products (M <= 8) never touch the heap while one row fits the stack block. */
void cgru_lowp_matmul_range(int fmt, ptrdiff_t M, ptrdiff_t K, ptrdiff_t G, ptrdiff_t H,
                            int g0, int g1, ptrdiff_t j0, ptrdiff_t j1, const float* a,
                            ptrdiff_t lda, const void* packed, float* c, ptrdiff_t ldc,
                            void* scratch, size_t scratch_bytes);

/* Paths.  Levels: 0 portable C, 1 AVX2+FMA+F16C (+ AVX-VNNI for int8),
   2 AVX-512 F/BW/VL (+ AVX512-BF16, AVX512-VNNI where the CPU has them).
   cgru_lowp_cpu_level(): the best this CPU and build run.  set_level(level)
   selects min(level, cpu level) and returns it (-1: auto).  Not thread-safe:
   call it at import / in tests, before any product. */
int cgru_lowp_cpu_level(void);
int cgru_lowp_set_level(int level);
/* the path the current level runs for `fmt`, e.g. "avx512-bf16", "portable" */
const char* cgru_lowp_path(int fmt);

#ifdef __cplusplus
}
#endif
#endif /* CGRU_C_LOWP_H */
