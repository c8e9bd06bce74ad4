# cython: language_level=3
"""cgru kernels: GRU layers over raw pointers, float32 and float64 from one source.

No Python object is touched below; every function is ``noexcept nogil``.
The declarations (the C-level contract) are in ``src/cgru/kernels.pxd``.

The GRU (gate order r, z, n as in PyTorch), for one sample at one step, with x
the input and h the state::

    r  = f(W_ir x + b_ir + W_hr h + b_hr)                 f = sigmoid by default
    z  = f(W_iz x + b_iz + W_hz h + b_hz)
    n  = g(W_in x + b_in + r * (W_hn h + b_hn))           reset_after=True   (PyTorch,
                                                          cuDNN, Keras default, ONNX
                                                          linear_before_reset=1)
    n  = g(W_in x + b_in + W_hn (r * h) + b_hn)           reset_after=False  (Cho et al.
                                                          2014, Keras reset_after=False,
                                                          ONNX default)
    h' = (1 - z) * n + z * h  =  n + z * (h - n)          g = tanh by default

How it is computed, per layer and direction:
  1. one GEMM for the input projections of all T*N rows: gx = X W_ih^T
     (biases are added in the gate loop: b_x holds b_ir+b_hr, b_iz+b_hz, b_in,
     and b_hn too when reset_after=False);
  2. per step one recurrent product with the whole 3H x H W_hh (GEMV when N=1)
     for reset_after=True; for reset_after=False one 2H x H product for r, z,
     then one H x H product with r*h;
  3. one fused loop that applies the gates and writes h (and y) in place.
"""

from libc.math cimport fabs, copysign, log1p, expm1, exp, tanh
from libc.string cimport memset, memcpy
from libc.stdint cimport int64_t
from scipy.linalg.cython_blas cimport sgemm, dgemm, sgemv, dgemv

from cython cimport floating

cdef extern from *:
    """
    #include <string.h>
    #include <stdint.h>
    static inline double cgru__from_bits(int64_t i) { double d; memcpy(&d, &i, 8); return d; }
    static inline int64_t cgru__to_bits(double d) { int64_t i; memcpy(&i, &d, 8); return i; }
    /* 2**k where t = k + 1.5 * 2**52 holds the integer k in its low bits */
    static inline double cgru__pow2_of_rounded(double t, double round) {
        uint64_t k = (uint64_t)cgru__to_bits(t) - (uint64_t)cgru__to_bits(round);
        return cgru__from_bits((int64_t)((k + 1023u) << 52));
    }
    """
    double _pow2_of_rounded "cgru__pow2_of_rounded"(double t, double r) noexcept nogil


# ============================================================== activations
# sigmoid and tanh are computed in double precision with branch-free code the
# compiler vectorizes: within a few double ulp, so float32 results are (nearly
# always) correctly rounded; they saturate exactly (sigmoid(-800) = 0,
# tanh(800) = 1) and propagate NaN.

cdef double _LOG2E = 1.44269504088896338700e+00
cdef double _LN2_HI = 6.93147180369123816490e-01   # low bits zero: k*_LN2_HI exact
cdef double _LN2_LO = 1.90821492927058770002e-10
cdef double _ROUND = 6755399441055744.0           # 1.5 * 2**52: x + _ROUND rounds x


cdef inline double _exp_nonpos(double x) noexcept nogil:
    """exp(x) for x <= 0 (or NaN); 0 below -746 (subnormal results down to there).
    exp(x) = 2**k exp(r), |r| <= ln2/2."""
    cdef double xc = -746.0 if x < -746.0 else x
    cdef double t = xc * _LOG2E + _ROUND
    cdef double k = t - _ROUND
    cdef double r = (xc - k * _LN2_HI) - k * _LN2_LO
    # Taylor series to r**13 / 13!: truncation < 1e-19 on |r| <= 0.347
    cdef double p = 1.0 + r * (1.0 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (
        1.0 / 120 + r * (1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (
        1.0 / 362880 + r * (1.0 / 3628800 + r * (1.0 / 39916800 + r * (
        1.0 / 479001600 + r * (1.0 / 6227020800.0)))))))))))))
    # 2**(k+64) is a normal number for every k >= -1077; the final * 2**-64 rounds
    # once, so results in the subnormal range (x < -708) are right too
    cdef double scale = _pow2_of_rounded(t + 64.0, _ROUND)
    p = (p * scale) * 5.42101086242752217004e-20
    return 0.0 if x < -746.0 else p


cdef inline double _expm1_nonpos(double y) noexcept nogil:
    """exp(y) - 1 for y <= 0 (or NaN), accurate near 0."""
    # near 0: Taylor series y + y^2/2 + ... + y^14/14!, |y| <= ln2/2
    cdef double s = y * (1.0 + y * (1.0 / 2 + y * (1.0 / 6 + y * (1.0 / 24 + y * (
        1.0 / 120 + y * (1.0 / 720 + y * (1.0 / 5040 + y * (1.0 / 40320 + y * (
        1.0 / 362880 + y * (1.0 / 3628800 + y * (1.0 / 39916800 + y * (
        1.0 / 479001600 + y * (1.0 / 6227020800.0 + y * (1.0 / 87178291200.0))))))))))))))
    cdef double e = _exp_nonpos(y) - 1.0   # no harmful cancellation below -ln2/2
    return e if y < -0.34657359027997264 else s


cdef inline double _sigmoid(double x) noexcept nogil:
    """1 / (1 + exp(-x)), as exp(-|x|) based branches: no overflow, exact saturation."""
    cdef double e = _exp_nonpos(-fabs(x))
    cdef double s = 1.0 / (1.0 + e)
    return s if x >= 0.0 else e * s if x < 0.0 else x   # last branch: NaN


cdef inline double _tanh(double x) noexcept nogil:
    """tanh(x) = sign(x) * (-u / (u + 2)) with u = expm1(-2|x|) in (-1, 0]."""
    cdef double y = -2.0 * fabs(x)
    y = -64.0 if y < -64.0 else y        # tanh(32) == 1.0 in double already
    cdef double u = _expm1_nonpos(y)
    return copysign(-u / (u + 2.0), x)


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
    if kind == CGRU_SIGMOID:
        for i in range(n):
            out[i] = <floating>_sigmoid(x[i])
    elif kind == CGRU_TANH:
        for i in range(n):
            out[i] = <floating>_tanh(x[i])
    else:
        for i in range(n):
            out[i] = <floating>_activation(kind, alpha, beta, x[i])


cdef void cgru_activate_f32(int kind, double alpha, double beta, const float* x,
                            float* out, Py_ssize_t n) noexcept nogil:
    _activate(kind, alpha, beta, x, out, n)


cdef void cgru_activate_f64(int kind, double alpha, double beta, const double* x,
                            double* out, Py_ssize_t n) noexcept nogil:
    _activate(kind, alpha, beta, x, out, n)


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


# ================================================================ workspaces

cdef Py_ssize_t cgru_step_workspace(const cgru_cell* cell, Py_ssize_t N) noexcept nogil:
    # gx (N, 3H) + gh (N, 3H) + r*h (N, H)
    return 7 * N * cell.hidden_size


cdef Py_ssize_t cgru_sequence_workspace(const cgru_cell* cell, Py_ssize_t T,
                                        Py_ssize_t N) noexcept nogil:
    # gx (T*N, 3H) + gh (N, 3H) + r*h (N, H)
    return 3 * T * N * cell.hidden_size + 4 * N * cell.hidden_size


cdef inline bint _is_plain(const cgru_cell* c) noexcept nogil:
    return c.f_kind == CGRU_SIGMOID and c.g_kind == CGRU_TANH and not c.clip > 0.0


# ================================================================ gate loops

cdef inline void _gates_reset_after(const cgru_cell* c, Py_ssize_t H,
        const floating* gx, const floating* gh, const floating* bx,
        const floating* bhn, floating* h, floating* y) noexcept nogil:
    """reset_after=True, one sample:  gx = W_i x, gh = W_h h (all 3H).

    r = f(gx_r + b_r + gh_r);  z = f(gx_z + b_z + gh_z)
    n = g(gx_n + b_in + r * (gh_n + b_hn));  h = n + z * (h - n)
    """
    cdef Py_ssize_t j
    cdef double r, z, n, ar, az, an, cl
    if _is_plain(c):
        for j in range(H):
            r = _sigmoid(gx[j] + bx[j] + gh[j])
            z = _sigmoid(gx[H + j] + bx[H + j] + gh[H + j])
            n = _tanh(gx[2 * H + j] + bx[2 * H + j] + r * (gh[2 * H + j] + bhn[j]))
            h[j] = <floating>(n + z * (h[j] - n))
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
    if y != NULL:
        memcpy(y, h, H * sizeof(floating))


cdef inline void _gates_rz(const cgru_cell* c, Py_ssize_t H, const floating* gx,
        floating* gh, const floating* bx, const floating* h, floating* rh) noexcept nogil:
    """reset_after=False, first half, one sample:  gh = W_h[r,z] h (2H).

    r = f(gx_r + b_r + gh_r);  z = f(gx_z + b_z + gh_z);  rh = r * h;  z kept in gh_z
    """
    cdef Py_ssize_t j
    cdef double r, z, ar, az, cl
    if _is_plain(c):
        for j in range(H):
            r = _sigmoid(gx[j] + bx[j] + gh[j])
            z = _sigmoid(gx[H + j] + bx[H + j] + gh[H + j])
            rh[j] = <floating>(r * h[j])
            gh[H + j] = <floating>z
    else:
        cl = c.clip if c.clip > 0.0 else 1e308
        for j in range(H):
            ar = gx[j] + bx[j] + gh[j]
            az = gx[H + j] + bx[H + j] + gh[H + j]
            r = _activation(c.f_kind, c.f_alpha, c.f_beta, min(max(ar, -cl), cl) if ar == ar else ar)
            z = _activation(c.f_kind, c.f_alpha, c.f_beta, min(max(az, -cl), cl) if az == az else az)
            rh[j] = <floating>(r * h[j])
            gh[H + j] = <floating>z


cdef inline void _gates_n(const cgru_cell* c, Py_ssize_t H, const floating* gx,
        const floating* gh, const floating* bx, floating* h, floating* y) noexcept nogil:
    """reset_after=False, second half, one sample:  gh_n = W_hn (r * h), z in gh_z.

    n = g(gx_n + b_in + b_hn + gh_n);  h = n + z * (h - n)
    """
    cdef Py_ssize_t j
    cdef double z, n, an, cl
    if _is_plain(c):
        for j in range(H):
            z = gh[H + j]
            n = _tanh(gx[2 * H + j] + bx[2 * H + j] + gh[2 * H + j])
            h[j] = <floating>(n + z * (h[j] - n))
    else:
        cl = c.clip if c.clip > 0.0 else 1e308
        for j in range(H):
            z = gh[H + j]
            an = gx[2 * H + j] + bx[2 * H + j] + gh[2 * H + j]
            n = _activation(c.g_kind, c.g_alpha, c.g_beta, min(max(an, -cl), cl) if an == an else an)
            h[j] = <floating>(n + z * (h[j] - n))
    if y != NULL:
        memcpy(y, h, H * sizeof(floating))


# ================================================================ recurrence

cdef inline void _input_projection(const cgru_cell* c, const floating* w_ih,
        Py_ssize_t M, const floating* x, Py_ssize_t ldx, floating* gx) noexcept nogil:
    if M <= 0:
        return
    _gemm_nt(<int>M, <int>(3 * c.hidden_size), <int>c.input_size, x, <int>ldx,
             w_ih, <int>c.input_size, gx, <int>(3 * c.hidden_size))


cdef inline void _recurrence(const cgru_cell* c, const floating* w_hh,
        const floating* bx, const floating* bhn, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const floating* gx, floating* h, floating* y, Py_ssize_t ldy,
        const int64_t* lengths, int reverse, floating* work) noexcept nogil:
    cdef Py_ssize_t H = c.hidden_size
    cdef Py_ssize_t G = 3 * H
    cdef floating* gh = work            # (N, 3H)
    cdef floating* rh = work + N * G    # (N, H), reset_after=False only
    cdef Py_ssize_t s, b, t, L, row
    cdef const floating* gxb
    cdef floating* yb
    cdef floating* hb
    cdef int iH = <int>H
    cdef int iG = <int>G
    cdef int iN = <int>N
    if N <= 0 or H <= 0:
        return
    for s in range(T):
        # recurrent product for all N samples at once
        if c.reset_after:
            _gemm_nt(iN, iG, iH, h, iH, w_hh, iH, gh, iG)
        else:
            _gemm_nt(iN, 2 * iH, iH, h, iH, w_hh, iH, gh, iG)
        for b in range(N):
            L = T if lengths == NULL else lengths[b]
            t = (L - 1 - s) if reverse else s
            row = (b * T + t) if batch_first else (t * N + b)
            hb = h + b * H
            if s >= L:
                # past this sample's length: state kept, zeros in y
                if y != NULL:   # each step t in [L, T) is zeroed once, at s = t
                    row = (b * T + s) if batch_first else (s * N + b)
                    memset(y + row * ldy, 0, H * sizeof(floating))
                if not c.reset_after:
                    memset(rh + b * H, 0, H * sizeof(floating))
                continue
            gxb = gx + row * G
            yb = (y + row * ldy) if y != NULL else NULL
            if c.reset_after:
                _gates_reset_after(c, H, gxb, gh + b * G, bx, bhn, hb, yb)
            else:
                _gates_rz(c, H, gxb, gh + b * G, bx, hb, rh + b * H)
        if not c.reset_after:
            # gh_n = (r * h) W_hn^T for all samples, then the candidate and update
            _gemm_nt(iN, iH, iH, rh, iH, w_hh + 2 * H * H, iH, gh + 2 * H, iG)
            for b in range(N):
                L = T if lengths == NULL else lengths[b]
                if s >= L:
                    continue
                t = (L - 1 - s) if reverse else s
                row = (b * T + t) if batch_first else (t * N + b)
                yb = (y + row * ldy) if y != NULL else NULL
                _gates_n(c, H, gx + row * G, gh + b * G, bx, h + b * H, yb)


# ========================================================= public functions

cdef void cgru_input_projection_f32(const cgru_layer_f32* L, Py_ssize_t M,
        const float* x, Py_ssize_t ldx, float* gx) noexcept nogil:
    _input_projection(&L.cell, L.w_ih, M, x, ldx, gx)


cdef void cgru_input_projection_f64(const cgru_layer_f64* L, Py_ssize_t M,
        const double* x, Py_ssize_t ldx, double* gx) noexcept nogil:
    _input_projection(&L.cell, L.w_ih, M, x, ldx, gx)


cdef void cgru_recurrence_f32(const cgru_layer_f32* L, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const float* gx, float* h, float* y, Py_ssize_t ldy,
        const int64_t* lengths, int reverse, float* work) noexcept nogil:
    _recurrence(&L.cell, L.w_hh, L.b_x, L.b_hn, T, N, batch_first, gx, h, y, ldy,
                lengths, reverse, work)


cdef void cgru_recurrence_f64(const cgru_layer_f64* L, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const double* gx, double* h, double* y, Py_ssize_t ldy,
        const int64_t* lengths, int reverse, double* work) noexcept nogil:
    _recurrence(&L.cell, L.w_hh, L.b_x, L.b_hn, T, N, batch_first, gx, h, y, ldy,
                lengths, reverse, work)


cdef void cgru_sequence_f32(const cgru_layer_f32* L, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const float* x, Py_ssize_t ldx, float* h, float* y,
        Py_ssize_t ldy, const int64_t* lengths, int reverse, float* work) noexcept nogil:
    cdef Py_ssize_t M = T * N
    _input_projection(&L.cell, L.w_ih, M, x, ldx, work)
    _recurrence(&L.cell, L.w_hh, L.b_x, L.b_hn, T, N, batch_first, work, h, y, ldy,
                lengths, reverse, work + 3 * M * L.cell.hidden_size)


cdef void cgru_sequence_f64(const cgru_layer_f64* L, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const double* x, Py_ssize_t ldx, double* h, double* y,
        Py_ssize_t ldy, const int64_t* lengths, int reverse, double* work) noexcept nogil:
    cdef Py_ssize_t M = T * N
    _input_projection(&L.cell, L.w_ih, M, x, ldx, work)
    _recurrence(&L.cell, L.w_hh, L.b_x, L.b_hn, T, N, batch_first, work, h, y, ldy,
                lengths, reverse, work + 3 * M * L.cell.hidden_size)


cdef void cgru_step_f32(const cgru_layer_f32* L, Py_ssize_t N, const float* x,
        Py_ssize_t ldx, float* h, float* work) noexcept nogil:
    _input_projection(&L.cell, L.w_ih, N, x, ldx, work)
    _recurrence(&L.cell, L.w_hh, L.b_x, L.b_hn, 1, N, 0, work, h, NULL, 0,
                NULL, 0, work + 3 * N * L.cell.hidden_size)


cdef void cgru_step_f64(const cgru_layer_f64* L, Py_ssize_t N, const double* x,
        Py_ssize_t ldx, double* h, double* work) noexcept nogil:
    _input_projection(&L.cell, L.w_ih, N, x, ldx, work)
    _recurrence(&L.cell, L.w_hh, L.b_x, L.b_hn, 1, N, 0, work, h, NULL, 0,
                NULL, 0, work + 3 * N * L.cell.hidden_size)
