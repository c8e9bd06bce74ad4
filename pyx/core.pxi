# The kernel core: GRU layers over raw pointers, float32 and float64 from one
# (fused) source.  Included once per ISA build (pyx/_core_<isa>.pyx); each build
# exports its functions as one typed table (cgru_kernel_table, src/cgru/_core.pxd)
# in the capsule TABLE, and cgru.kernels calls through the table it chose.
# No Python object is touched here; every function is ``noexcept nogil``.
#
# cgru kernels: GRU layers over raw pointers, float32 and float64 from one source.
#
# No Python object is touched below; every function is ``noexcept nogil``.
# The declarations (the C-level contract) are in ``src/cgru/kernels.pxd``.
#
# The GRU (gate order r, z, n as in PyTorch), for one sample at one step, with x
# the input and h the state::
#
#     r  = f(W_ir x + b_ir + W_hr h + b_hr)                 f = sigmoid by default
#     z  = f(W_iz x + b_iz + W_hz h + b_hz)
#     n  = g(W_in x + b_in + r * (W_hn h + b_hn))           reset_after=True   (PyTorch,
#                                                           cuDNN, Keras default, ONNX
#                                                           linear_before_reset=1)
#     n  = g(W_in x + b_in + W_hn (r * h) + b_hn)           reset_after=False  (Cho et al.
#                                                           2014, Keras reset_after=False,
#                                                           ONNX default)
#     h' = (1 - z) * n + z * h  =  n + z * (h - n)          g = tanh by default
#
# How it is computed, per layer and direction:
#   1. one GEMM for the input projections of all T*N rows: gx = X W_ih^T
#      (biases are added in the gate loop: b_x holds b_ir+b_hr, b_iz+b_hz, b_in,
#      and b_hn too when reset_after=False);
#   2. per step one recurrent product with the whole 3H x H W_hh (GEMV when N=1)
#      for reset_after=True; for reset_after=False one 2H x H product for r, z,
#      then one H x H product with r*h;
#   3. one fused loop that applies the gates and writes h (and y) in place.
#

from libc.math cimport fabs, copysign, log1p, expm1, exp, tanh
from libc.string cimport memset, memcpy
from libc.stdint cimport int64_t
from cpython.pycapsule cimport PyCapsule_New
from scipy.linalg.cython_blas cimport sgemm, dgemm, sgemv, dgemv
from cython cimport floating

from cgru.kernels cimport (
    cgru_cell, cgru_layer_f32, cgru_layer_f64, CGRU_SIGMOID, CGRU_TANH, CGRU_RELU,
    CGRU_AFFINE, CGRU_LEAKY_RELU, CGRU_THRESHOLDED_RELU, CGRU_SCALED_TANH,
    CGRU_HARD_SIGMOID, CGRU_ELU, CGRU_SOFTSIGN, CGRU_SOFTPLUS,
)
from cgru._core cimport cgru_kernel_table, cgru_units, _NoGates, _Gates, _mode

# ========================================================= reduced precision
# Float32 layers with float16 / bfloat16 / int8 weights (weight_format != 0)
# multiply through pyx/c/lowp.c: the operands (x, h) converted once per product
# (bfloat16; int8 per row with a scale), the packed weights' panel products,
# float32 sums (docs/weights.md).  Each ISA build links its own copy and runs
# its level of it (baseline: portable C; avx2: AVX2/F16C/AVX-VNNI; avx512:
# AVX-512 BF16/VNNI, as the CPU has them), so CGRU_ISA picks that path too.

cdef extern from "c/lowp.h":
    void cgru_lowp_matmul(int fmt, Py_ssize_t M, Py_ssize_t K, Py_ssize_t G, Py_ssize_t H,
                          int g0, int g1, const float* a, Py_ssize_t lda, const void* packed,
                          float* c, Py_ssize_t ldc, void* scratch, size_t nbytes) noexcept nogil
    void cgru_lowp_matmul_range(int fmt, Py_ssize_t M, Py_ssize_t K, Py_ssize_t G,
                                Py_ssize_t H, int g0, int g1, Py_ssize_t j0, Py_ssize_t j1,
                                const float* a, Py_ssize_t lda, const void* packed, float* c,
                                Py_ssize_t ldc, void* scratch, size_t nbytes) noexcept nogil
    size_t cgru_lowp_scratch_bytes(Py_ssize_t N, Py_ssize_t K) noexcept nogil
    int cgru_lowp_set_level(int level) noexcept nogil
    const char* cgru_lowp_path(int fmt) noexcept nogil

cdef extern from *:
    """
    /* the lowp level of this ISA build: what its compile flags promise */
    #if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
    #define CGRU__LOWP_LEVEL 2
    #elif defined(__AVX2__) && defined(__FMA__)
    #define CGRU__LOWP_LEVEL 1
    #else
    #define CGRU__LOWP_LEVEL 0
    #endif
    """
    const int _LOWP_LEVEL "CGRU__LOWP_LEVEL"

cgru_lowp_set_level(_LOWP_LEVEL)

cdef extern from "c/fastmath.h":
    double _pow2_of_rounded "cgru_pow2_of_rounded"(double t, double r) noexcept nogil
    # compile-time constants (literals in C, so loops keep them in registers)
    const double _LOG2E "CGRU_LOG2E"
    const double _LN2_HI "CGRU_LN2_HI"      # low bits zero: k*_LN2_HI exact
    const double _LN2_LO "CGRU_LN2_LO"
    const double _ROUND "CGRU_ROUND"        # 1.5 * 2**52: x + _ROUND rounds x
    const double _TWO_M64 "CGRU_TWO_M64"    # 2**-64


# ============================================================== activations
# sigmoid and tanh are computed in double precision with branch-free code the
# compiler vectorizes (built with -fno-trapping-math so comparisons become
# selects): one range reduction and one polynomial for expm1(r), one division.
# They saturate exactly (sigmoid(-800) = 0, tanh(800) = 1) and propagate NaN.
# ``f32`` (a compile-time constant after inlining) picks a shorter polynomial
# whose truncation error (< 6e-10 relative) is far below a float32 ulp
# (6e-8 relative): results rounded to float32 are within 1 ulp of the exact
# value.  With f32=0 the error is within a few double ulp.
# tests/kernels/test_activations.py measures both against mpmath-free float64 /
# longdouble references.


cdef inline double _expm1_reduced(double y, bint f32, double* scale64) noexcept nogil:
    """For y <= 0 (or NaN), y = k ln2 + r with |r| <= ln2/2: returns expm1(r) and
    sets scale64 = 2**(k+64), so exp(y) = 2**-64 * scale64 * (1 + p).  2**(k+64) is a
    normal number for every k >= -1077, so results in the subnormal range (y < -708)
    take a single final rounding.  y below -746 is treated as -746 (callers saturate)."""
    cdef double yc = -746.0 if y < -746.0 else y
    cdef double t = yc * _LOG2E + _ROUND
    cdef double k = t - _ROUND
    cdef double r = (yc - k * _LN2_HI) - k * _LN2_LO
    scale64[0] = _pow2_of_rounded(t + 64.0, _ROUND)
    if f32:
        # Taylor series r + r^2/2 + ... + r^8/8!: relative truncation < 6e-10 on |r| <= 0.347
        return r * (1.0 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (
            1.0 / 120 + r * (1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320))))))))
    # Taylor series r + r^2/2 + ... + r^14/14!: relative truncation < 3e-19
    return r * (1.0 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (
        1.0 / 120 + r * (1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (
        1.0 / 362880 + r * (1.0 / 3628800 + r * (1.0 / 39916800 + r * (
        1.0 / 479001600 + r * (1.0 / 6227020800.0 + r * (1.0 / 87178291200.0))))))))))))))


cdef inline double _exp_nonpos_p(double x, bint f32) noexcept nogil:
    """exp(x) for x <= 0 (or NaN); subnormal results down to -746, 0 below."""
    cdef double scale64
    cdef double p = _expm1_reduced(x, f32, &scale64)
    p = (scale64 * p + scale64) * _TWO_M64
    return 0.0 if x < -746.0 else p


cdef inline double _expm1_nonpos_p(double y, bint f32) noexcept nogil:
    """exp(y) - 1 for -708 <= y <= 0 (or NaN), accurate near 0 (k = 0: expm1(r) itself)."""
    cdef double scale64
    cdef double p = _expm1_reduced(y, f32, &scale64)
    cdef double scale = scale64 * _TWO_M64      # exact: 2**k is normal here
    return scale * p + (scale - 1.0)


cdef inline double _sigmoid_p(double x, bint f32) noexcept nogil:
    """1 / (1 + exp(-x)), as exp(-|x|) based branches: no overflow, exact saturation."""
    cdef double e = _exp_nonpos_p(-fabs(x), f32)
    cdef double s = 1.0 / (1.0 + e)
    return s if x >= 0.0 else e * s if x < 0.0 else x   # last branch: NaN


cdef inline double _tanh_p(double x, bint f32) noexcept nogil:
    """tanh(x) = sign(x) * (-u / (u + 2)) with u = expm1(-2|x|) in (-1, 0]."""
    cdef double y = -2.0 * fabs(x)
    y = -64.0 if y < -64.0 else y        # tanh(32) == 1.0 in double already
    cdef double u = _expm1_nonpos_p(y, f32)
    return copysign(-u / (u + 2.0), x)


cdef inline bint _is_f32(const floating* p) noexcept nogil:
    """1 for float32 data: a compile-time constant in each fused specialization."""
    cdef bint f32 = 0
    if floating is float:
        f32 = 1
    return f32


cdef inline double _sigmoid(double x) noexcept nogil:
    return _sigmoid_p(x, 0)


cdef inline double _tanh(double x) noexcept nogil:
    return _tanh_p(x, 0)


cdef inline double _activation(int kind, double alpha, double beta, double x) noexcept nogil:
    """The table of activation kinds (ONNX's eleven functions)."""
    if kind == CGRU_SIGMOID:
        return _sigmoid(x)
    elif kind == CGRU_TANH:
        return _tanh(x)
    elif kind == CGRU_RELU:
        return x if not x < 0.0 else 0.0
    elif kind == CGRU_AFFINE:
        return alpha * x + beta
    elif kind == CGRU_LEAKY_RELU:
        return x if not x < 0.0 else alpha * x
    elif kind == CGRU_THRESHOLDED_RELU:
        return x if not x <= alpha else 0.0
    elif kind == CGRU_SCALED_TANH:
        return alpha * _tanh(beta * x)
    elif kind == CGRU_HARD_SIGMOID:
        x = alpha * x + beta
        x = 0.0 if x < 0.0 else x
        return 1.0 if x > 1.0 else x
    elif kind == CGRU_ELU:
        return x if not x < 0.0 else alpha * expm1(x)
    elif kind == CGRU_SOFTSIGN:
        return x / (1.0 + fabs(x))
    elif kind == CGRU_SOFTPLUS:
        return (x if x > 0.0 else 0.0) + log1p(exp(-fabs(x)))
    return x + (0.0 / 0.0)   # unknown kind: NaN, never a silent number


cdef inline void _activate(int kind, double alpha, double beta, const floating* x,
                           floating* out, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    # the gate loops' fast paths (float32: the short polynomials)
    cdef bint f32 = _is_f32(x)
    if kind == CGRU_SIGMOID:
        for i in range(n):
            out[i] = <floating>_sigmoid_p(x[i], f32)
    elif kind == CGRU_TANH:
        for i in range(n):
            out[i] = <floating>_tanh_p(x[i], f32)
    else:
        for i in range(n):
            out[i] = <floating>_activation(kind, alpha, beta, x[i])



# ====================================================================== BLAS
# Row-major products made with column-major BLAS by swapping operands.

cdef inline void _gemm_nt(int M, int Nc, int K, const floating* A, int lda,
                          const floating* B, int ldb, floating* C, int ldc) noexcept nogil:
    """C[M, Nc] := A[M, K] . B[Nc, K]^T   (all row-major)"""
    cdef char ta = b'T'
    cdef char tn = b'N'
    cdef floating one = 1.0
    cdef floating zero = 0.0
    cdef int incx = 1
    if M == 1:      # C row := B x
        if floating is float:
            sgemv(&ta, &K, &Nc, &one, <float*>B, &ldb, <float*>A, &incx, &zero, C, &incx)
        else:
            dgemv(&ta, &K, &Nc, &one, <double*>B, &ldb, <double*>A, &incx, &zero, C, &incx)
    else:
        if floating is float:
            sgemm(&ta, &tn, &Nc, &M, &K, &one, <float*>B, &ldb, <float*>A, &lda,
                  &zero, C, &ldc)
        else:
            dgemm(&ta, &tn, &Nc, &M, &K, &one, <double*>B, &ldb, <double*>A, &lda,
                  &zero, C, &ldc)


# ===================================================== recurrent product
# The per-step product gh = h W_hh^T, from W_hh packed once
# (the layer's w_hh_packed): OpenBLAS would re-pack the constant W_hh at every
# step (for H = 256 that copy costs as much as the product).  Packed layout:
# per gate g, panels of P = 64 / sizeof(T) outputs (16 floats / 8 doubles,
# zero-padded to Hp = ceil(H / P) * P rows), each panel (H, P) contiguous:
#     w_hh_packed[(g * Hp + p0) * H + k * P + i] = W_hh[g*H + p0 + i, k]
# A block of 4 samples x P outputs is accumulated over k in registers; the
# 16 KiB-ish panel is read sequentially and stays in L1 while the sample
# blocks pass over it.  The 4 x P blocks are written in C
# (pyx/c/packed.h): GCC/Clang vector extensions keep its four accumulators in
# registers for the build's ISA (plain Cython arrays were spilled to the
# stack); other compilers get the same loop in plain C.

cdef extern from "c/packed.h":
    void _wt_block_f32 "cgru_wt_block_f32"(Py_ssize_t K, const float* a0, const float* a1,
        const float* a2, const float* a3, const float* w, Py_ssize_t ldw, float* c,
        Py_ssize_t ldc, Py_ssize_t rows, Py_ssize_t cols) noexcept nogil
    void _wt_block_f64 "cgru_wt_block_f64"(Py_ssize_t K, const double* a0, const double* a1,
        const double* a2, const double* a3, const double* w, Py_ssize_t ldw, double* c,
        Py_ssize_t ldc, Py_ssize_t rows, Py_ssize_t cols) noexcept nogil
    void _wt_block2_f32 "cgru_wt_block2_f32"(Py_ssize_t K, const float* a0,
        const float* a1, const float* a2, const float* a3, const float* w0,
        const float* w1, Py_ssize_t ldw, float* c, Py_ssize_t ldc, Py_ssize_t rows,
        Py_ssize_t cols1) noexcept nogil
    void _wt_block2_f64 "cgru_wt_block2_f64"(Py_ssize_t K, const double* a0,
        const double* a1, const double* a2, const double* a3, const double* w0,
        const double* w1, Py_ssize_t ldw, double* c, Py_ssize_t ldc, Py_ssize_t rows,
        Py_ssize_t cols1) noexcept nogil
    void _wt_row_f32 "cgru_wt_row_f32"(Py_ssize_t K, const float* a, const float* w,
        float* c, Py_ssize_t cols) noexcept nogil
    void _wt_row_f64 "cgru_wt_row_f64"(Py_ssize_t K, const double* a, const double* w,
        double* c, Py_ssize_t cols) noexcept nogil


cdef inline void _wt_block(Py_ssize_t K, const floating* a0, const floating* a1,
        const floating* a2, const floating* a3, const floating* w, Py_ssize_t ldw,
        floating* c, Py_ssize_t ldc, Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    """c[i, 0:cols] = sum_k a_i[k] * w[k, 0:cols]  for the first ``rows`` of 4 rows."""
    if floating is float:
        _wt_block_f32(K, a0, a1, a2, a3, w, ldw, c, ldc, rows, cols)
    else:
        _wt_block_f64(K, a0, a1, a2, a3, w, ldw, c, ldc, rows, cols)


cdef inline void _wt_block2(Py_ssize_t K, const floating* a0, const floating* a1,
        const floating* a2, const floating* a3, const floating* w0, const floating* w1,
        Py_ssize_t ldw, floating* c, Py_ssize_t ldc, Py_ssize_t rows,
        Py_ssize_t cols1) noexcept nogil:
    """Two adjacent panels: c[i, 0:P] from w0 and c[i, P:P+cols1] from w1."""
    if floating is float:
        _wt_block2_f32(K, a0, a1, a2, a3, w0, w1, ldw, c, ldc, rows, cols1)
    else:
        _wt_block2_f64(K, a0, a1, a2, a3, w0, w1, ldw, c, ldc, rows, cols1)


cdef inline void _gemm_packed(Py_ssize_t N, Py_ssize_t K, Py_ssize_t H, int g0, int g1,
        Py_ssize_t j0, Py_ssize_t j1, const floating* a, Py_ssize_t lda, const floating* wp,
        floating* c, Py_ssize_t ldc) noexcept nogil:
    """c[n, g*H + j] = sum_k a[n, k] * W[g*H + j, k]  for gates g0 <= g < g1, n < N,
    j0 <= j < j1 (j0 a multiple of P), from W (3H, K) packed in panels of P outputs,
    each (K, P) contiguous."""
    cdef Py_ssize_t P = 16 if _is_f32(a) else 8
    cdef Py_ssize_t Hp = (H + P - 1) // P * P
    cdef Py_ssize_t p0, n0, rows
    cdef int g
    cdef const floating* w
    for g in range(g0, g1):
        p0 = j0
        while p0 < j1:
            w = wp + (g * Hp + p0) * K          # the panel: (K, P) contiguous
            if N == 1:
                if floating is float:
                    _wt_row_f32(K, a, w, c + g * H + p0, min(P, j1 - p0))
                else:
                    _wt_row_f64(K, a, w, c + g * H + p0, min(P, j1 - p0))
                p0 += P
                continue
            if p0 + P < j1:      # two panels of this gate at once
                for n0 in range(0, N, 4):
                    rows = min(4, N - n0)
                    _wt_block2(K, a + n0 * lda, a + (n0 + (1 if rows > 1 else 0)) * lda,
                               a + (n0 + (2 if rows > 2 else 0)) * lda,
                               a + (n0 + (3 if rows > 3 else 0)) * lda,
                               w, w + P * K, P, c + n0 * ldc + g * H + p0, ldc, rows,
                               min(P, j1 - p0 - P))
                p0 += 2 * P
                continue
            for n0 in range(0, N, 4):
                rows = min(4, N - n0)
                _wt_block(K, a + n0 * lda, a + (n0 + (1 if rows > 1 else 0)) * lda,
                          a + (n0 + (2 if rows > 2 else 0)) * lda,
                          a + (n0 + (3 if rows > 3 else 0)) * lda,
                          w, P, c + n0 * ldc + g * H + p0, ldc, rows, min(P, j1 - p0))
            p0 += P


# return_gates as a compile-time choice (_mode, in _core.pxd): each gate loop and the
# recurrence come in a _NoGates and a _Gates specialization, like floating, so the
# normal path is the code without any gates branch.  _Gates also keeps r, z, n of the
# generic loops in gh and copies them out.  (Pass a NULL pointer of the mode.)

cdef inline bint _is_plain(const cgru_cell* c) noexcept nogil:
    return c.f_kind == CGRU_SIGMOID and c.g_kind == CGRU_TANH and not c.clip > 0.0


# ================================================================ gate loops
# The plain (sigmoid, tanh, no clip) path: simple loops over contiguous rows
# that the compiler vectorizes (activations in double, the short polynomials
# for float32).  The generic path below applies any activation kind and clip.

cdef inline void _act_add3(Py_ssize_t n, const floating* a, const floating* b,
                           floating* io, bint tanh_) noexcept nogil:
    """io = sigmoid(a + b + io), or tanh(a + b + io) when tanh_ (a constant at each call)"""
    cdef Py_ssize_t j
    cdef bint f32 = _is_f32(a)
    cdef double v
    for j in range(n):
        v = <double>a[j] + b[j] + io[j]
        io[j] = <floating>(_tanh_p(v, f32) if tanh_ else _sigmoid_p(v, f32))


cdef inline void _candidate(Py_ssize_t n, const floating* a, const floating* b,
                            const floating* r, floating* io, const floating* bh) noexcept nogil:
    """io = tanh(a + b + r * (io + bh))      (n, reset_after=True)"""
    cdef Py_ssize_t j
    cdef bint f32 = _is_f32(a)
    for j in range(n):
        io[j] = <floating>_tanh_p(<double>a[j] + b[j] + <double>r[j] * (<double>io[j] + bh[j]),
                                  f32)


cdef inline void _update(Py_ssize_t n, const floating* z, const floating* nn,
                         floating* h) noexcept nogil:
    """h = n + z * (h - n)"""
    cdef Py_ssize_t j
    for j in range(n):
        h[j] = nn[j] + z[j] * (h[j] - nn[j])


cdef inline void _gates_reset_after(const cgru_cell* c, Py_ssize_t H,
        const floating* gx, floating* gh, const floating* bx,
        const floating* bhn, floating* h, floating* y, _mode* m) noexcept nogil:
    """reset_after=True, one sample:  gx = W_i x, gh = W_h h (all 3H); gh is scratch.

    r = f(gx_r + b_r + gh_r);  z = f(gx_z + b_z + gh_z)
    n = g(gx_n + b_in + r * (gh_n + b_hn));  h = n + z * (h - n)
    Afterwards gh holds r, z, n (the plain path always; the generic one in _Gates).
    """
    cdef Py_ssize_t j
    cdef double r, z, n, ar, az, an, cl
    if _is_plain(c):
        # three passes over contiguous rows, each one vectorizable:
        # (r, z) = sigmoid(gx + b + gh) over 2H, kept in gh[0:2H]
        _act_add3(2 * H, gx, bx, gh, 0)
        # n = tanh(gx_n + b_in + r * (gh_n + b_hn)), kept in gh[2H:3H]
        _candidate(H, gx + 2 * H, bx + 2 * H, gh, gh + 2 * H, bhn)
        # h = n + z * (h - n)
        _update(H, gh + H, gh + 2 * H, h)
    else:
        cl = c.clip if c.clip > 0.0 else 1e308
        for j in range(H):
            ar = gx[j] + bx[j] + gh[j]
            az = gx[H + j] + bx[H + j] + gh[H + j]
            r = _activation(c.f_kind, c.f_alpha, c.f_beta, min(max(ar, -cl), cl) if ar == ar else ar)
            z = _activation(c.f_kind, c.f_alpha, c.f_beta, min(max(az, -cl), cl) if az == az else az)
            an = gx[2 * H + j] + bx[2 * H + j] + r * (gh[2 * H + j] + bhn[j])
            n = _activation(c.g_kind, c.g_alpha, c.g_beta, min(max(an, -cl), cl) if an == an else an)
            h[j] = <floating>(n + z * (h[j] - n))
            if _mode is _Gates:
                gh[j] = <floating>r
                gh[H + j] = <floating>z
                gh[2 * H + j] = <floating>n
    if y != NULL:
        memcpy(y, h, H * sizeof(floating))


cdef inline void _gates_rz(const cgru_cell* c, Py_ssize_t H, const floating* gx,
        floating* gh, const floating* bx, const floating* h, floating* rh,
        Py_ssize_t j0, Py_ssize_t j1, _mode* m) noexcept nogil:
    """reset_after=False, first half, one sample, units j0 <= j < j1:  gh = W_h[r,z] h.

    r = f(gx_r + b_r + gh_r);  z = f(gx_z + b_z + gh_z);  rh = r * h;  z kept in gh_z
    (and r in gh_r: the plain path always, the generic one in _Gates)
    """
    cdef Py_ssize_t j
    cdef double r, z, ar, az, cl
    if _is_plain(c):
        # (r, z) = sigmoid(gx + b + gh), kept in gh; rh = r * h
        if j0 == 0 and j1 == H:
            _act_add3(2 * H, gx, bx, gh, 0)
        else:
            _act_add3(j1 - j0, gx + j0, bx + j0, gh + j0, 0)
            _act_add3(j1 - j0, gx + H + j0, bx + H + j0, gh + H + j0, 0)
        for j in range(j0, j1):
            rh[j] = gh[j] * h[j]
    else:
        cl = c.clip if c.clip > 0.0 else 1e308
        for j in range(j0, j1):
            ar = gx[j] + bx[j] + gh[j]
            az = gx[H + j] + bx[H + j] + gh[H + j]
            r = _activation(c.f_kind, c.f_alpha, c.f_beta, min(max(ar, -cl), cl) if ar == ar else ar)
            z = _activation(c.f_kind, c.f_alpha, c.f_beta, min(max(az, -cl), cl) if az == az else az)
            rh[j] = <floating>(r * h[j])
            gh[H + j] = <floating>z
            if _mode is _Gates:
                gh[j] = <floating>r


cdef inline void _gates_n(const cgru_cell* c, Py_ssize_t H, const floating* gx,
        floating* gh, const floating* bx, floating* h, floating* y, Py_ssize_t j0,
        Py_ssize_t j1, _mode* m) noexcept nogil:
    """reset_after=False, second half, one sample, units j0 <= j < j1:
    gh_n = W_hn (r * h), z in gh_z.

    n = g(gx_n + b_in + b_hn + gh_n);  h = n + z * (h - n);  n kept in gh_n (generic: in _Gates)
    """
    cdef Py_ssize_t j, n0 = j1 - j0
    cdef double z, n, an, cl
    if _is_plain(c):
        # n = tanh(gx_n + b_in + b_hn + gh_n), kept in gh_n; h = n + z * (h - n)
        _act_add3(n0, gx + 2 * H + j0, bx + 2 * H + j0, gh + 2 * H + j0, 1)
        _update(n0, gh + H + j0, gh + 2 * H + j0, h + j0)
    else:
        cl = c.clip if c.clip > 0.0 else 1e308
        for j in range(j0, j1):
            z = gh[H + j]
            an = gx[2 * H + j] + bx[2 * H + j] + gh[2 * H + j]
            n = _activation(c.g_kind, c.g_alpha, c.g_beta, min(max(an, -cl), cl) if an == an else an)
            h[j] = <floating>(n + z * (h[j] - n))
            if _mode is _Gates:
                gh[2 * H + j] = <floating>n
    if y != NULL:
        memcpy(y + j0, h + j0, n0 * sizeof(floating))


cdef inline void _store_gates(floating* g, Py_ssize_t gplane, const floating* rzn,
                              Py_ssize_t H) noexcept nogil:
    """The gates of one sample and step out of gh (r, z, n, H each) into the
    caller's planes: r at g, z at g + gplane, n at g + 2 gplane; rzn NULL: zeros."""
    cdef int k
    for k in range(3):
        if rzn != NULL:
            memcpy(g + k * gplane, rzn + k * H, H * sizeof(floating))
        else:
            memset(g + k * gplane, 0, H * sizeof(floating))


# ================================================================ recurrence

cdef inline void _step_overlap_one(Py_ssize_t H, const floating* w_hh_p,
        const floating* gx, floating* gh, const floating* bx, const floating* bhn,
        floating* h, floating* g, Py_ssize_t gplane, _mode* m) noexcept nogil:
    """One step of one sample, reset_after=True, sigmoid/tanh, no clip, W_hh packed:
    the r, z gates (arithmetic-bound) are interleaved with the W_hn product
    (load-bound), panel by panel, so that the core overlaps the two.
        r = f(gx_r + b_r + gh_r);  z = f(gx_z + b_z + gh_z)
        n = g(gx_n + b_in + r * (gh_n + b_hn));  h = n + z * (h - n)
    """
    cdef Py_ssize_t P = 16 if _is_f32(h) else 8
    cdef Py_ssize_t Hp = (H + P - 1) // P * P
    cdef Py_ssize_t p0 = 0
    cdef Py_ssize_t a0, a1
    # gh_r, gh_z = W_h[r, z] h
    _gemm_packed(1, H, H, 0, 2, 0, H, h, H, w_hh_p, gh, 3 * H)
    while p0 < H:
        # gh_n[p0 : p0 + P] = W_hn[p0 : p0 + P, :] h
        if floating is float:
            _wt_row_f32(H, h, w_hh_p + (2 * Hp + p0) * H, gh + 2 * H + p0, min(P, H - p0))
        else:
            _wt_row_f64(H, h, w_hh_p + (2 * Hp + p0) * H, gh + 2 * H + p0, min(P, H - p0))
        # meanwhile (r, z) = sigmoid(gx + b + gh) on the matching share of 2H
        a0 = 2 * p0
        a1 = min(2 * (p0 + P), 2 * H)
        _act_add3(a1 - a0, gx + a0, bx + a0, gh + a0, 0)
        p0 += P
    # n = tanh(gx_n + b_in + r * (gh_n + b_hn)), kept in gh_n;  h = n + z * (h - n)
    _candidate(H, gx + 2 * H, bx + 2 * H, gh, gh + 2 * H, bhn)
    _update(H, gh + H, gh + 2 * H, h)
    if _mode is _Gates:     # r, z, n of this step to the caller's planes at g
        _store_gates(g, gplane, gh, H)


cdef inline void _input_projection(const cgru_cell* c, const floating* w_ih,
        const floating* w_ih_p, Py_ssize_t M, const floating* x, Py_ssize_t ldx,
        floating* gx, int wf, const void* w_ih_q, void* scratch, size_t nbytes) noexcept nogil:
    """gx = x W_ih^T for M rows; wf != 0: from the reduced-precision w_ih_q, the
    operands converted in `scratch` (nbytes; NULL: a stack or heap block)."""
    if M <= 0:
        return
    if floating is float:
        if wf != 0:
            cgru_lowp_matmul(wf, M, c.input_size, 3, c.hidden_size, 0, 3, x, ldx, w_ih_q, gx,
                             3 * c.hidden_size, scratch, nbytes)
            return
    # the packed kernel whenever there is a packed W_ih: no BLAS call overhead, no
    # re-packing of W_ih, and each row's result does not depend on M, so a
    # projection split by rows across threads gives the same bits.  (Measured on
    # Zen 5, 1 thread: (512,512,64,50) 47.6-50.2 ms against 65.8-69.7 ms when rows
    # above 256 KiB went to BLAS's sgemm.)  BLAS only without packed weights.
    if w_ih_p != NULL:
        _gemm_packed(M, c.input_size, c.hidden_size, 0, 3, 0, c.hidden_size, x, ldx, w_ih_p,
                     gx, 3 * c.hidden_size)
        return
    _gemm_nt(<int>M, <int>(3 * c.hidden_size), <int>c.input_size, x, <int>ldx,
             w_ih, <int>c.input_size, gx, <int>(3 * c.hidden_size))


cdef inline void _recurrent_product(const cgru_cell* c, const floating* w_hh,
        const floating* w_hh_p, Py_ssize_t N, int g0, int g1, const floating* a,
        floating* gh, int wf, const void* w_hh_q, void* scratch) noexcept nogil:
    """gh[:, g0*H : g1*H] = a W_hh[g0*H : g1*H]^T for N rows of a (N, H): the one place
    the recurrence multiplies by W_hh (from the packed copy when there is one; from
    the reduced-precision w_hh_q when wf != 0, the operands in `scratch`,
    cgru_lowp_scratch_bytes(N, H) bytes)."""
    cdef Py_ssize_t H = c.hidden_size
    if floating is float:
        if wf != 0:
            cgru_lowp_matmul(wf, N, H, 3, H, g0, g1, a, H, w_hh_q, gh, 3 * H, scratch,
                             cgru_lowp_scratch_bytes(N, H))
            return
    if w_hh_p != NULL:
        _gemm_packed(N, H, H, g0, g1, 0, H, a, H, w_hh_p, gh, 3 * H)
    else:
        _gemm_nt(<int>N, <int>((g1 - g0) * H), <int>H, a, <int>H, w_hh + g0 * H * H, <int>H,
                 gh + g0 * H, <int>(3 * H))


cdef inline void _recurrence(const cgru_cell* c, const floating* w_hh,
        const floating* w_hh_p, const floating* bx, const floating* bhn, Py_ssize_t T,
        Py_ssize_t N, const floating* gx, Py_ssize_t gx_t, Py_ssize_t gx_n, floating* h,
        floating* y, Py_ssize_t y_t, Py_ssize_t y_n, const int64_t* lengths, int reverse,
        floating* work, int wf, const void* w_hh_q, floating* gates, Py_ssize_t g_t,
        Py_ssize_t g_n, Py_ssize_t gplane, _mode* m) noexcept nogil:
    """T steps for samples 0 <= b < N: row (t, b) of gx at gx + t*gx_t + b*gx_n, of y
    at y + t*y_t + b*y_n; h (N, H); work (N, 3H) gh + (N, H) r*h + the
    reduced-precision operands (cgru_lowp_scratch_bytes(N, H) bytes).  _Gates: r, z, n
    of row (t, b) to gates + t*g_t + b*g_n and gplane, 2*gplane after (_store_gates);
    _NoGates: gates unused."""
    cdef Py_ssize_t H = c.hidden_size
    cdef Py_ssize_t G = 3 * H
    cdef floating* gh = work            # (N, 3H)
    cdef floating* rh = work + N * G    # (N, H), reset_after=False only
    cdef void* lowp = <void*>(work + N * G + N * H)
    cdef Py_ssize_t s, b, t, L
    cdef const floating* gxb
    cdef floating* yb
    cdef floating* hb
    if N <= 0 or H <= 0:
        return
    # one sample, the default maths: r, z gates overlapped with the W_hn product
    cdef bint fused = w_hh_p != NULL and N == 1 and c.reset_after and _is_plain(c)
    for s in range(T):
        if fused:
            L = T if lengths == NULL else lengths[0]
            if s < L:
                t = (L - 1 - s) if reverse else s      # row t of gx and y (N = 1)
                _step_overlap_one(H, w_hh_p, gx + t * gx_t, gh, bx, bhn, h, gates + t * g_t,
                                  gplane, m)
                if y != NULL:
                    memcpy(y + t * y_t, h, H * sizeof(floating))
                continue
        # recurrent product for all N samples at once: gh = h W_hh^T (3H or 2H columns)
        _recurrent_product(c, w_hh, w_hh_p, N, 0, 3 if c.reset_after else 2, h, gh, wf,
                           w_hh_q, lowp)
        for b in range(N):
            L = T if lengths == NULL else lengths[b]
            t = (L - 1 - s) if reverse else s
            hb = h + b * H
            if s >= L:
                # past this sample's length: state kept, zeros in y
                if y != NULL:   # each step t in [L, T) is zeroed once, at s = t
                    memset(y + s * y_t + b * y_n, 0, H * sizeof(floating))
                if _mode is _Gates:
                    _store_gates(gates + s * g_t + b * g_n, gplane, NULL, H)
                if not c.reset_after:
                    memset(rh + b * H, 0, H * sizeof(floating))
                continue
            gxb = gx + t * gx_t + b * gx_n
            yb = (y + t * y_t + b * y_n) if y != NULL else NULL
            if c.reset_after:
                _gates_reset_after(c, H, gxb, gh + b * G, bx, bhn, hb, yb, m)
                if _mode is _Gates:
                    _store_gates(gates + t * g_t + b * g_n, gplane, gh + b * G, H)
            else:
                _gates_rz(c, H, gxb, gh + b * G, bx, hb, rh + b * H, 0, H, m)
        if not c.reset_after:
            # gh_n = (r * h) W_hn^T for all samples, then the candidate and update
            _recurrent_product(c, w_hh, w_hh_p, N, 2, 3, rh, gh, wf, w_hh_q, lowp)
            for b in range(N):
                L = T if lengths == NULL else lengths[b]
                if s >= L:
                    continue
                t = (L - 1 - s) if reverse else s
                yb = (y + t * y_t + b * y_n) if y != NULL else NULL
                _gates_n(c, H, gx + t * gx_t + b * gx_n, gh + b * G, bx, h + b * H, yb, 0, H, m)
                if _mode is _Gates:
                    _store_gates(gates + t * g_t + b * g_n, gplane, gh + b * G, H)


cdef inline void _step(const cgru_cell* c, const floating* w_ih, const floating* w_ih_p,
        const floating* w_hh, const floating* w_hh_p, const floating* bx,
        const floating* bhn, Py_ssize_t N, const floating* x, Py_ssize_t ldx, floating* h,
        floating* work, int wf, const void* w_ih_q, const void* w_hh_q) noexcept nogil:
    """One step: gx = x W_ih^T into work, then the recurrence for T = 1 (work: gx,
    then the recurrence's gh, r*h and operand room; the projection's operands go
    to that room too, before the recurrence needs it)."""
    cdef Py_ssize_t H = c.hidden_size
    _input_projection(c, w_ih, w_ih_p, N, x, ldx, work, wf, w_ih_q, <void*>(work + 7 * N * H),
                      cgru_lowp_scratch_bytes(N, max(c.input_size, H)))
    _recurrence(c, w_hh, w_hh_p, bx, bhn, 1, N, work, 3 * N * H, 3 * H,
                h, NULL, 0, 0, NULL, 0, work + 3 * N * H, wf, w_hh_q, NULL, 0, 0, 0,
                <_NoGates*>NULL)


# ============================================== one step for a range of units
# The recurrence split across threads by hidden units (cgru.kernels runs it on
# the pool, one call per step and unit range): each range computes its share of
# the recurrent product (panels j0 <= j < j1 of the three gates, the same
# micro-kernel calls the whole product makes) and the gates of its units, reading
# the whole h of step s and writing its units of the next h.  reset_after=False
# needs the whole r*h between its two products: two calls per step, h updated in
# place (_units_reset_before).

cdef inline void _gates_units(const cgru_cell* c, Py_ssize_t H, Py_ssize_t j0, Py_ssize_t j1,
        const floating* gx, floating* gh, const floating* bx, const floating* bhn,
        const floating* h, floating* hout) noexcept nogil:
    """_gates_reset_after for units j0 <= j < j1 of one sample, h -> hout:
    r = f(gx_r + b_r + gh_r);  z = f(gx_z + b_z + gh_z)
    n = g(gx_n + b_in + r * (gh_n + b_hn));  h' = n + z * (h - n)"""
    cdef Py_ssize_t j, n = j1 - j0
    cdef double r, z, nn, ar, az, an, cl
    if _is_plain(c):
        _act_add3(n, gx + j0, bx + j0, gh + j0, 0)
        _act_add3(n, gx + H + j0, bx + H + j0, gh + H + j0, 0)
        _candidate(n, gx + 2 * H + j0, bx + 2 * H + j0, gh + j0, gh + 2 * H + j0, bhn + j0)
        for j in range(j0, j1):
            hout[j] = gh[2 * H + j] + gh[H + j] * (h[j] - gh[2 * H + j])
    else:
        cl = c.clip if c.clip > 0.0 else 1e308
        for j in range(j0, j1):
            ar = gx[j] + bx[j] + gh[j]
            az = gx[H + j] + bx[H + j] + gh[H + j]
            r = _activation(c.f_kind, c.f_alpha, c.f_beta, min(max(ar, -cl), cl) if ar == ar else ar)
            z = _activation(c.f_kind, c.f_alpha, c.f_beta, min(max(az, -cl), cl) if az == az else az)
            an = gx[2 * H + j] + bx[2 * H + j] + r * (gh[2 * H + j] + bhn[j])
            nn = _activation(c.g_kind, c.g_alpha, c.g_beta, min(max(an, -cl), cl) if an == an else an)
            hout[j] = <floating>(nn + z * (h[j] - nn))


cdef inline void _units(const cgru_cell* c, const floating* w_ih_p, const floating* w_hh_p,
        const floating* bx, const floating* bhn, int wf, const void* w_ih_q,
        const void* w_hh_q, const cgru_units* u, Py_ssize_t s, Py_ssize_t j0,
        Py_ssize_t j1) noexcept nogil:
    """Step s of the recurrence (cgru_units in src/cgru/_core.pxd) for units [j0, j1);
    wf != 0: the products from the reduced-precision w_ih_q, w_hh_q (each range
    converts the whole x and h itself, on the stack: N < 8 rows)."""
    cdef Py_ssize_t H = c.hidden_size, G = 3 * H, b, t, L
    cdef Py_ssize_t gx_t = u.gx_t, gx_n = u.gx_n
    cdef const floating* h = <const floating*>u.h[s % 2]
    cdef floating* hout = <floating*>u.h[(s + 1) % 2]
    cdef floating* gh = <floating*>u.gh
    cdef floating* y = <floating*>u.y
    cdef const floating* gx = <const floating*>u.gx
    if u.x != NULL:          # a step: the projection of these units first
        if floating is float:
            if wf != 0:
                cgru_lowp_matmul_range(wf, u.N, c.input_size, 3, H, 0, 3, j0, j1,
                                       <const float*>u.x, u.ldx, w_ih_q, <float*>u.gxw, G,
                                       NULL, 0)
        if wf == 0:
            _gemm_packed(u.N, c.input_size, H, 0, 3, j0, j1, <const floating*>u.x, u.ldx,
                         w_ih_p, <floating*>u.gxw, G)
        gx, gx_t, gx_n = <const floating*>u.gxw, 0, G
    if floating is float:
        if wf != 0:
            cgru_lowp_matmul_range(wf, u.N, H, 3, H, 0, 3, j0, j1, h, H, w_hh_q, gh, G, NULL, 0)
    if wf == 0:
        _gemm_packed(u.N, H, H, 0, 3, j0, j1, h, H, w_hh_p, gh, G)
    for b in range(u.N):
        L = u.T if u.lengths == NULL else u.lengths[b]
        if s >= L:           # past this sample's length: state kept, zeros in y
            memcpy(hout + b * H + j0, h + b * H + j0, (j1 - j0) * sizeof(floating))
            if y != NULL:
                memset(y + s * u.y_t + b * u.y_n + j0, 0, (j1 - j0) * sizeof(floating))
            continue
        t = (L - 1 - s) if u.reverse else s
        _gates_units(c, H, j0, j1, gx + t * gx_t + b * gx_n, gh + b * G, bx, bhn, h + b * H,
                     hout + b * H)
        if y != NULL:
            memcpy(y + t * u.y_t + b * u.y_n + j0, hout + b * H + j0,
                   (j1 - j0) * sizeof(floating))


cdef inline void _units_reset_before(const cgru_cell* c, const floating* w_ih_p,
        const floating* w_hh_p, const floating* bx, const cgru_units* u, Py_ssize_t s,
        Py_ssize_t j0, Py_ssize_t j1) noexcept nogil:
    """reset_after=False: half-step s of the recurrence for units [j0, j1): of step
    s // 2, the r, z gates (s even: the W_h[r,z] panels of these units, their r*h into
    u.h[1]) or, once every range has its r*h, the candidate and update (s odd: the
    W_hn panels times the whole r*h); h (u.h[0]) is updated in place.  The gate loops
    are the one-thread recurrence's (_gates_rz, _gates_n) on these units."""
    cdef Py_ssize_t H = c.hidden_size, G = 3 * H, b, t, L, st = s // 2
    cdef Py_ssize_t gx_t = u.gx_t, gx_n = u.gx_n
    cdef bint first = s % 2 == 0
    cdef floating* h = <floating*>u.h[0]
    cdef floating* rh = <floating*>u.h[1]
    cdef floating* gh = <floating*>u.gh
    cdef floating* y = <floating*>u.y
    cdef const floating* gx = <const floating*>u.gx
    if u.x != NULL:          # a step: the projection of these units, in the first half
        if s == 0:
            _gemm_packed(u.N, c.input_size, H, 0, 3, j0, j1, <const floating*>u.x, u.ldx,
                         w_ih_p, <floating*>u.gxw, G)
        gx, gx_t, gx_n = <const floating*>u.gxw, 0, G
    if first:
        _gemm_packed(u.N, H, H, 0, 2, j0, j1, h, H, w_hh_p, gh, G)
    else:
        _gemm_packed(u.N, H, H, 2, 3, j0, j1, rh, H, w_hh_p, gh, G)
    for b in range(u.N):
        L = u.T if u.lengths == NULL else u.lengths[b]
        if st >= L:          # past this sample's length: state kept, zeros in y
            if first:
                memset(rh + b * H + j0, 0, (j1 - j0) * sizeof(floating))
            elif y != NULL:
                memset(y + st * u.y_t + b * u.y_n + j0, 0, (j1 - j0) * sizeof(floating))
            continue
        t = (L - 1 - st) if u.reverse else st
        if first:
            _gates_rz(c, H, gx + t * gx_t + b * gx_n, gh + b * G, bx, h + b * H, rh + b * H,
                      j0, j1, <_NoGates*>NULL)
        else:
            _gates_n(c, H, gx + t * gx_t + b * gx_n, gh + b * G, bx, h + b * H,
                     (y + t * u.y_t + b * u.y_n) if y != NULL else NULL, j0, j1,
                     <_NoGates*>NULL)


# =========================================================== the ISA's table
# Each entry unpacks the layer struct of its dtype into the fused functions above.

cdef void _projection_f32(const cgru_layer_f32* L, Py_ssize_t M, const float* x,
                          Py_ssize_t ldx, float* gx) noexcept nogil:
    _input_projection(&L.cell, L.w_ih, L.w_ih_packed, M, x, ldx, gx, L.weight_format, L.w_ih_q,
                      NULL, 0)

cdef void _projection_f64(const cgru_layer_f64* L, Py_ssize_t M, const double* x,
                          Py_ssize_t ldx, double* gx) noexcept nogil:
    _input_projection(&L.cell, L.w_ih, L.w_ih_packed, M, x, ldx, gx, L.weight_format, L.w_ih_q,
                      NULL, 0)

cdef void _recurrence_f32(const cgru_layer_f32* L, Py_ssize_t T, Py_ssize_t N,
        const float* gx, Py_ssize_t gx_t, Py_ssize_t gx_n, float* h, float* y,
        Py_ssize_t y_t, Py_ssize_t y_n, const int64_t* lengths, int reverse,
        float* work) noexcept nogil:
    _recurrence(&L.cell, L.w_hh, L.w_hh_packed, L.b_x, L.b_hn, T, N, gx, gx_t, gx_n, h, y,
                y_t, y_n, lengths, reverse, work, L.weight_format, L.w_hh_q, NULL, 0, 0, 0,
                <_NoGates*>NULL)

cdef void _recurrence_gates_f32(const cgru_layer_f32* L, Py_ssize_t T, Py_ssize_t N,
        const float* gx, Py_ssize_t gx_t, Py_ssize_t gx_n, float* h, float* y,
        Py_ssize_t y_t, Py_ssize_t y_n, const int64_t* lengths, int reverse, float* work,
        float* gates, Py_ssize_t g_t, Py_ssize_t g_n, Py_ssize_t gplane) noexcept nogil:
    _recurrence(&L.cell, L.w_hh, L.w_hh_packed, L.b_x, L.b_hn, T, N, gx, gx_t, gx_n, h, y,
                y_t, y_n, lengths, reverse, work, L.weight_format, L.w_hh_q, gates, g_t, g_n,
                gplane, <_Gates*>NULL)

cdef void _recurrence_f64(const cgru_layer_f64* L, Py_ssize_t T, Py_ssize_t N,
        const double* gx, Py_ssize_t gx_t, Py_ssize_t gx_n, double* h, double* y,
        Py_ssize_t y_t, Py_ssize_t y_n, const int64_t* lengths, int reverse,
        double* work) noexcept nogil:
    _recurrence(&L.cell, L.w_hh, L.w_hh_packed, L.b_x, L.b_hn, T, N, gx, gx_t, gx_n, h, y,
                y_t, y_n, lengths, reverse, work, L.weight_format, L.w_hh_q, NULL, 0, 0, 0,
                <_NoGates*>NULL)

cdef void _recurrence_gates_f64(const cgru_layer_f64* L, Py_ssize_t T, Py_ssize_t N,
        const double* gx, Py_ssize_t gx_t, Py_ssize_t gx_n, double* h, double* y,
        Py_ssize_t y_t, Py_ssize_t y_n, const int64_t* lengths, int reverse, double* work,
        double* gates, Py_ssize_t g_t, Py_ssize_t g_n, Py_ssize_t gplane) noexcept nogil:
    _recurrence(&L.cell, L.w_hh, L.w_hh_packed, L.b_x, L.b_hn, T, N, gx, gx_t, gx_n, h, y,
                y_t, y_n, lengths, reverse, work, L.weight_format, L.w_hh_q, gates, g_t, g_n,
                gplane, <_Gates*>NULL)

cdef void _step_f32(const cgru_layer_f32* L, Py_ssize_t N, const float* x, Py_ssize_t ldx,
                    float* h, float* work) noexcept nogil:
    _step(&L.cell, L.w_ih, L.w_ih_packed, L.w_hh, L.w_hh_packed, L.b_x, L.b_hn, N, x, ldx,
          h, work, L.weight_format, L.w_ih_q, L.w_hh_q)

cdef void _step_gates_f32(const cgru_layer_f32* L, Py_ssize_t N, const float* x,
        Py_ssize_t ldx, float* h, float* work, float* gates, Py_ssize_t g_n,
        Py_ssize_t gplane) noexcept nogil:
    """_step with the gates of sample b to gates + b*g_n: calls to the projection and
    the gates recurrence (one copy of each in the build)."""
    cdef Py_ssize_t H = L.cell.hidden_size
    _projection_f32(L, N, x, ldx, work)
    _recurrence_gates_f32(L, 1, N, work, 3 * N * H, 3 * H, h, NULL, 0, 0, NULL, 0,
                         work + 3 * N * H, gates, 0, g_n, gplane)

cdef void _step_f64(const cgru_layer_f64* L, Py_ssize_t N, const double* x, Py_ssize_t ldx,
                    double* h, double* work) noexcept nogil:
    _step(&L.cell, L.w_ih, L.w_ih_packed, L.w_hh, L.w_hh_packed, L.b_x, L.b_hn, N, x, ldx,
          h, work, L.weight_format, L.w_ih_q, L.w_hh_q)

cdef void _step_gates_f64(const cgru_layer_f64* L, Py_ssize_t N, const double* x,
        Py_ssize_t ldx, double* h, double* work, double* gates, Py_ssize_t g_n,
        Py_ssize_t gplane) noexcept nogil:
    """_step with the gates of sample b to gates + b*g_n: calls to the projection and
    the gates recurrence (one copy of each in the build)."""
    cdef Py_ssize_t H = L.cell.hidden_size
    _projection_f64(L, N, x, ldx, work)
    _recurrence_gates_f64(L, 1, N, work, 3 * N * H, 3 * H, h, NULL, 0, 0, NULL, 0,
                         work + 3 * N * H, gates, 0, g_n, gplane)


cdef void _units_f32(const cgru_units* u, Py_ssize_t s, Py_ssize_t j0,
                     Py_ssize_t j1) noexcept nogil:
    cdef const cgru_layer_f32* L = <const cgru_layer_f32*>u.layer
    if not L.cell.reset_after:
        _units_reset_before(&L.cell, L.w_ih_packed, L.w_hh_packed, L.b_x, u, s, j0, j1)
        return
    _units(&L.cell, L.w_ih_packed, L.w_hh_packed, L.b_x, L.b_hn, L.weight_format, L.w_ih_q,
           L.w_hh_q, u, s, j0, j1)

cdef void _units_f64(const cgru_units* u, Py_ssize_t s, Py_ssize_t j0,
                     Py_ssize_t j1) noexcept nogil:
    cdef const cgru_layer_f64* L = <const cgru_layer_f64*>u.layer
    if not L.cell.reset_after:
        _units_reset_before(&L.cell, L.w_ih_packed, L.w_hh_packed, L.b_x, u, s, j0, j1)
        return
    _units(&L.cell, L.w_ih_packed, L.w_hh_packed, L.b_x, L.b_hn, 0, NULL, NULL, u, s, j0, j1)


cdef cgru_kernel_table _table
_table.isa = CGRU_ISA_NAME
_table.activate_f32 = _activate[float]
_table.activate_f64 = _activate[double]
_table.input_projection_f32 = _projection_f32
_table.input_projection_f64 = _projection_f64
_table.recurrence_f32 = _recurrence_f32
_table.recurrence_f64 = _recurrence_f64
_table.step_f32 = _step_f32
_table.step_f64 = _step_f64
_table.recurrence_gates_f32 = _recurrence_gates_f32
_table.recurrence_gates_f64 = _recurrence_gates_f64
_table.step_gates_f32 = _step_gates_f32
_table.step_gates_f64 = _step_gates_f64
_table.packed_product_f32 = _gemm_packed[float]
_table.packed_product_f64 = _gemm_packed[double]
_table.weights_path = cgru_lowp_path
_table.units_f32 = _units_f32
_table.units_f64 = _units_f64

#: This build's ``const cgru_kernel_table*`` (capsule "cgru.kernel_table").
TABLE = PyCapsule_New(<void*>&_table, b"cgru.kernel_table", NULL)
