# cgru C-level API: the kernel contract.
#
# Other Cython extensions ``from cgru.kernels cimport ...`` these names; plain C
# callers get the same functions through ``cgru.h`` and the ``cgru._C_API``
# capsule.  Everything here works on raw pointers, takes no Python object and
# runs without the GIL.  Layout conventions (the one canonical layout):
#
#   w_ih  (3H, I) row-major, gate blocks r, z, n  (PyTorch's weight_ih_l{k})
#   w_hh  (3H, H) row-major, gate blocks r, z, n  (PyTorch's weight_hh_l{k})
#   b_x   (3H,)   folded bias: b_ir+b_hr, b_iz+b_hz, b_in (+ b_hn if not reset_after)
#   b_hn  (H,)    b_hn when reset_after, else zeros
#   w_hh_packed   optional (NULL: absent), used for the per-step recurrent
#                 product: per gate g, panels of P = 64/sizeof(element) outputs
#                 (16 floats, 8 doubles), zero-padded to Hp = ceil(H/P)*P, each
#                 panel (K, P) contiguous (K = H); 3*Hp*K elements:
#                 w_hh_packed[(g*Hp + p0)*K + k*P + i] = w_hh[g*H + p0 + i, k]
#   w_ih_packed   optional, w_ih packed the same way (K = I); used for input
#                 projections of up to 64 rows, or whose rows fit in 256 KiB
#
# The equations are written once, in pyx/kernels.pyx next to the gate loop.
#
# The structs of a live Python model come from ``cgru.capi`` (capi.pxd:
# cgru_model_get / cgru_model_release).  Stability: include/cgru.h mirrors the
# structs below field for field (tests/test_downstream.py compares sizes and
# offsets); appending a field to a struct, or changing a signature, changes the
# ABI: bump CGRU_ABI_VERSION here and in cgru.h, and update cgru.h.  Callers
# that fill structs themselves zero-initialise them.  Thread safety: the
# kernels keep no state; calls may run concurrently when each has its own h,
# y and work (the structs and weights are only read).  docs/c-api.md.

from libc.stdint cimport int64_t

cdef extern from *:
    """
    #define CGRU_ABI_VERSION 1
    """
    int CGRU_ABI_VERSION

# ---------------------------------------------------------------- activations
# One table of kinds (ONNX's eleven functions).  alpha/beta as in ONNX.
cpdef enum cgru_activation:
    CGRU_SIGMOID = 0
    CGRU_TANH = 1
    CGRU_RELU = 2
    CGRU_AFFINE = 3            # alpha * x + beta
    CGRU_LEAKY_RELU = 4        # x if x >= 0 else alpha * x
    CGRU_THRESHOLDED_RELU = 5  # x if x > alpha else 0
    CGRU_SCALED_TANH = 6       # alpha * tanh(beta * x)
    CGRU_HARD_SIGMOID = 7      # max(0, min(1, alpha * x + beta))
    CGRU_ELU = 8               # x if x >= 0 else alpha * (exp(x) - 1)
    CGRU_SOFTSIGN = 9          # x / (1 + |x|)
    CGRU_SOFTPLUS = 10         # log(1 + exp(x))

# ------------------------------------------------------------------- structs
ctypedef struct cgru_cell:
    # Shape and maths of one layer in one direction.
    Py_ssize_t input_size      # I
    Py_ssize_t hidden_size     # H
    int reset_after            # 1: n = g(... + r*(W_hn h + b_hn)); 0: W_hn (r*h)
    int f_kind                 # gate activation (r, z); CGRU_SIGMOID by default
    double f_alpha
    double f_beta
    int g_kind                 # candidate activation (n); CGRU_TANH by default
    double g_alpha
    double g_beta
    double clip                # > 0: clip pre-activations to [-clip, clip]; 0: none

ctypedef struct cgru_layer_f32:
    cgru_cell cell
    const float* w_ih
    const float* w_hh
    const float* b_x
    const float* b_hn
    # Appended fields: NULL, or W_hh packed for the recurrent product (layout
    # at the top of this file).  Callers that fill the struct themselves must
    # zero-initialize it (memset / = {0}) so that absent fields are NULL.
    const float* w_hh_packed
    const float* w_ih_packed     # NULL, or w_ih packed the same way (K = I)

ctypedef struct cgru_layer_f64:
    cgru_cell cell
    const double* w_ih
    const double* w_hh
    const double* b_x
    const double* b_hn
    # Appended fields: NULL, or W_hh packed for the recurrent product (layout
    # at the top of this file).  Callers that fill the struct themselves must
    # zero-initialize it (memset / = {0}) so that absent fields are NULL.
    const double* w_hh_packed
    const double* w_ih_packed     # NULL, or w_ih packed the same way (K = I)

# ----------------------------------------------------------------- functions
# Scratch memory (in elements of the layer's dtype) that one call needs.
cdef Py_ssize_t cgru_sequence_workspace(const cgru_cell* cell, Py_ssize_t T,
                                        Py_ssize_t N) noexcept nogil
cdef Py_ssize_t cgru_step_workspace(const cgru_cell* cell, Py_ssize_t N) noexcept nogil

# Input projection for M rows at once: gx[m, :] = W_ih x[m, :]   (no bias)
# x rows are I contiguous elements, ldx apart; gx is (M, 3H) contiguous.
cdef void cgru_input_projection_f32(const cgru_layer_f32* L, Py_ssize_t M,
        const float* x, Py_ssize_t ldx, float* gx) noexcept nogil
cdef void cgru_input_projection_f64(const cgru_layer_f64* L, Py_ssize_t M,
        const double* x, Py_ssize_t ldx, double* gx) noexcept nogil

# The recurrence over T steps for N samples, given gx from cgru_input_projection.
# Row (t, n) of gx and y is t*N + n (batch_first=0) or n*T + t (batch_first=1).
# h (N, H) contiguous: in h0, out the state after each sample's last valid step.
# y: H elements per row, ldy apart; NULL for none.  lengths: N int64 values in
# [0, T], or NULL for all T.  reverse: run each sample from its last valid
# step back to step 0.  Steps past a sample's length write zeros in y.
# work: cgru_sequence_workspace(cell, 0, N) elements (gh (N, 3H) + r*h (N, H));
# cgru_step_workspace(cell, N) is more than enough.
cdef void cgru_recurrence_f32(const cgru_layer_f32* L, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const float* gx, float* h, float* y, Py_ssize_t ldy,
        const int64_t* lengths, int reverse, float* work) noexcept nogil
cdef void cgru_recurrence_f64(const cgru_layer_f64* L, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const double* gx, double* h, double* y, Py_ssize_t ldy,
        const int64_t* lengths, int reverse, double* work) noexcept nogil

# A whole sequence: projection then recurrence.  x rows as for gx above, ldx
# apart.  work: cgru_sequence_workspace(cell, T, N) elements.
cdef void cgru_sequence_f32(const cgru_layer_f32* L, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const float* x, Py_ssize_t ldx, float* h, float* y,
        Py_ssize_t ldy, const int64_t* lengths, int reverse, float* work) noexcept nogil
cdef void cgru_sequence_f64(const cgru_layer_f64* L, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const double* x, Py_ssize_t ldx, double* h, double* y,
        Py_ssize_t ldy, const int64_t* lengths, int reverse, double* work) noexcept nogil

# One step for N samples: x (N, I) rows ldx apart; h (N, H) updated in place.
# work: cgru_step_workspace(cell, N) elements.
cdef void cgru_step_f32(const cgru_layer_f32* L, Py_ssize_t N, const float* x,
        Py_ssize_t ldx, float* h, float* work) noexcept nogil
cdef void cgru_step_f64(const cgru_layer_f64* L, Py_ssize_t N, const double* x,
        Py_ssize_t ldx, double* h, double* work) noexcept nogil

# The recurrence and the step again, also writing the gates of every step they
# compute: r of row `row` (as y's above; the step: row = n) at gates + row*ldg, z at
# gates + gplane + row*ldg, n at gates + 2*gplane + row*ldg (H elements each); rows
# of steps past a sample's length are zeroed.  The same kernels as above, y and h
# identical; the functions without `_gates` run the normal path untouched.
cdef void cgru_recurrence_gates_f32(const cgru_layer_f32* L, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const float* gx, float* h, float* y, Py_ssize_t ldy,
        const int64_t* lengths, int reverse, float* work, float* gates, Py_ssize_t ldg,
        Py_ssize_t gplane) noexcept nogil
cdef void cgru_recurrence_gates_f64(const cgru_layer_f64* L, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const double* gx, double* h, double* y, Py_ssize_t ldy,
        const int64_t* lengths, int reverse, double* work, double* gates, Py_ssize_t ldg,
        Py_ssize_t gplane) noexcept nogil
cdef void cgru_step_gates_f32(const cgru_layer_f32* L, Py_ssize_t N, const float* x,
        Py_ssize_t ldx, float* h, float* work, float* gates, Py_ssize_t ldg,
        Py_ssize_t gplane) noexcept nogil
cdef void cgru_step_gates_f64(const cgru_layer_f64* L, Py_ssize_t N, const double* x,
        Py_ssize_t ldx, double* h, double* work, double* gates, Py_ssize_t ldg,
        Py_ssize_t gplane) noexcept nogil

# Elementwise activation, out may equal x (used by tests and converters).
cdef void cgru_activate_f32(int kind, double alpha, double beta, const float* x,
        float* out, Py_ssize_t n) noexcept nogil
cdef void cgru_activate_f64(int kind, double alpha, double beta, const double* x,
        double* out, Py_ssize_t n) noexcept nogil
