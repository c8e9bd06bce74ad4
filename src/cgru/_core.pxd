# The private table one ISA build of the kernel core exports (pyx/core.pxi,
# compiled by pyx/_core_<isa>.pyx) and cgru.kernels dispatches through.  Not
# part of the ABI: fields may change or be appended freely (cgru.kernels and
# the core builds come from one source tree).
#
# recurrence: row (t, b) of gx is gx + t*gx_t + b*gx_n, of y y + t*y_t + b*y_n
#   (strides in elements); h (N, H) contiguous.  A sub-batch [n0, n1) is the
#   same call on gx + n0*gx_n, h + n0*H, y + n0*y_n, lengths + n0 with its own work.
# packed_product: c[n, g*H + j] = sum_k a[n, k] W[g*H + j, k] for g0 <= g < g1,
#   j0 <= j < j1 (j0 a multiple of the panel P = 64 / itemsize), n < N.

from libc.stdint cimport int64_t
from cgru.kernels cimport cgru_layer_f32, cgru_layer_f64, cgru_model

# units: step s of a recurrence for hidden units [j0, j1) (j0, j1 multiples of 2P
#   = 128 / itemsize, or j1 = H; packed W_hh), for the split of one recurrence
#   across threads (cgru.kernels).  reset_after=True: reads h[s % 2] (N, H), writes
#   those units of h[(s + 1) % 2].  reset_after=False: two calls per step (s = 2 *
#   step + half), h[0] updated in place, h[1] holds r*h (N, H).  Steps past a
#   sample's length keep its state and zero y.  x != NULL (a step): the units'
#   projection of x rows (ldx apart) goes to gxw (N, 3H) and gx is not read.
ctypedef struct cgru_units:
    const void* layer                # cgru_layer_f32 / _f64
    Py_ssize_t T
    Py_ssize_t N
    const void* x
    Py_ssize_t ldx
    void* gxw
    const void* gx
    Py_ssize_t gx_t
    Py_ssize_t gx_n
    void* h[2]
    void* y
    Py_ssize_t y_t
    Py_ssize_t y_n
    const int64_t* lengths
    int reverse
    void* gh                         # (N, 3H) scratch, shared by the unit ranges

ctypedef struct cgru_kernel_table:
    const char* isa                  # "baseline", "avx2", "avx512"
    void (*activate_f32)(int, double, double, const float*, float*, Py_ssize_t) noexcept nogil
    void (*activate_f64)(int, double, double, const double*, double*, Py_ssize_t) noexcept nogil
    void (*input_projection_f32)(const cgru_layer_f32*, Py_ssize_t, const float*, Py_ssize_t,
                                 float*) noexcept nogil
    void (*input_projection_f64)(const cgru_layer_f64*, Py_ssize_t, const double*, Py_ssize_t,
                                 double*) noexcept nogil
    void (*recurrence_f32)(const cgru_layer_f32*, Py_ssize_t T, Py_ssize_t N, const float* gx,
                           Py_ssize_t gx_t, Py_ssize_t gx_n, float* h, float* y, Py_ssize_t y_t,
                           Py_ssize_t y_n, const int64_t* lengths, int reverse,
                           float* work) noexcept nogil
    void (*recurrence_f64)(const cgru_layer_f64*, Py_ssize_t T, Py_ssize_t N, const double* gx,
                           Py_ssize_t gx_t, Py_ssize_t gx_n, double* h, double* y,
                           Py_ssize_t y_t, Py_ssize_t y_n, const int64_t* lengths, int reverse,
                           double* work) noexcept nogil
    void (*step_f32)(const cgru_layer_f32*, Py_ssize_t, const float*, Py_ssize_t, float*,
                     float*) noexcept nogil
    void (*step_f64)(const cgru_layer_f64*, Py_ssize_t, const double*, Py_ssize_t, double*,
                     double*) noexcept nogil
    # the same, also writing r, z, n of each row (t, b) computed to
    # gates + t*g_t + b*g_n, gplane and 2*gplane after (zeros past a length)
    void (*recurrence_gates_f32)(const cgru_layer_f32*, Py_ssize_t T, Py_ssize_t N,
                                 const float* gx, Py_ssize_t gx_t, Py_ssize_t gx_n, float* h,
                                 float* y, Py_ssize_t y_t, Py_ssize_t y_n,
                                 const int64_t* lengths, int reverse, float* work, float* gates,
                                 Py_ssize_t g_t, Py_ssize_t g_n, Py_ssize_t gplane) noexcept nogil
    void (*recurrence_gates_f64)(const cgru_layer_f64*, Py_ssize_t T, Py_ssize_t N,
                                 const double* gx, Py_ssize_t gx_t, Py_ssize_t gx_n, double* h,
                                 double* y, Py_ssize_t y_t, Py_ssize_t y_n,
                                 const int64_t* lengths, int reverse, double* work,
                                 double* gates, Py_ssize_t g_t, Py_ssize_t g_n,
                                 Py_ssize_t gplane) noexcept nogil
    void (*step_gates_f32)(const cgru_layer_f32*, Py_ssize_t, const float*, Py_ssize_t, float*,
                           float*, float* gates, Py_ssize_t g_n, Py_ssize_t gplane) noexcept nogil
    void (*step_gates_f64)(const cgru_layer_f64*, Py_ssize_t, const double*, Py_ssize_t,
                           double*, double*, double* gates, Py_ssize_t g_n,
                           Py_ssize_t gplane) noexcept nogil
    void (*packed_product_f32)(Py_ssize_t N, Py_ssize_t K, Py_ssize_t H, int g0, int g1,
                               Py_ssize_t j0, Py_ssize_t j1, const float* a, Py_ssize_t lda,
                               const float* wp, float* c, Py_ssize_t ldc) noexcept nogil
    void (*packed_product_f64)(Py_ssize_t N, Py_ssize_t K, Py_ssize_t H, int g0, int g1,
                               Py_ssize_t j0, Py_ssize_t j1, const double* a, Py_ssize_t lda,
                               const double* wp, double* c, Py_ssize_t ldc) noexcept nogil
    const char* (*weights_path)(int weight_format) noexcept nogil   # lowp.h cgru_lowp_path
    void (*units_f32)(const cgru_units* u, Py_ssize_t s, Py_ssize_t j0, Py_ssize_t j1) noexcept nogil
    void (*units_f64)(const cgru_units* u, Py_ssize_t s, Py_ssize_t j0, Py_ssize_t j1) noexcept nogil


# return_gates as a compile-time specialization (like floating): functions taking a
# ``_mode*`` (pass <_NoGates*>NULL or <_Gates*>NULL) come in a normal version without
# any gates code and a version that also writes r, z, n (``if _mode is _Gates:``).
cdef struct _NoGates:
    char unused
cdef struct _Gates:
    char unused
ctypedef fused _mode:
    _NoGates
    _Gates


# cgru.kernels' private capsule _LAYER_API ("cgru.layer_api"): one layer of a whole
# model at a time, on the model's threads (m.num_threads) as the whole-model calls
# split it, for _compiled's Ctrl-C chunks (a signal check between calls).
#   projection: gx of direction d at gx + d*M_d*3H = M rows of x (ldx apart) W_ih^T.
#   recurrences: every direction d of the layer over b.T[d] steps from its base
#     pointers (b.lengths[d] NULL or already shifted into the block, b.y[d] NULL: no
#     y, b.gates[d] NULL: no gates); scratch: cgru_model_workspace(m, 0, b.N) elements.
ctypedef struct cgru_layer_block:
    Py_ssize_t N                     # samples
    Py_ssize_t gx_t, gx_n, y_t, y_n  # row (t, n) strides, in elements
    const void* gx[2]                # direction d: its rows (t, n) at + t*gx_t + n*gx_n
    void* h[2]                       # direction d: its state (N, H)
    void* y[2]
    const int64_t* lengths[2]
    Py_ssize_t T[2]
    void* gates[2]                   # NULL, or direction d's r plane: row (t, n) at
    Py_ssize_t g_t, g_n, gplane      #   + t*g_t + n*g_n, z and n gplane, 2*gplane after

ctypedef struct cgru_layer_api:
    void (*projection_f32)(const cgru_model* m, int layer, Py_ssize_t M, Py_ssize_t M_d,
                           const float* x, Py_ssize_t ldx, float* gx) noexcept nogil
    void (*projection_f64)(const cgru_model* m, int layer, Py_ssize_t M, Py_ssize_t M_d,
                           const double* x, Py_ssize_t ldx, double* gx) noexcept nogil
    void (*recurrences_f32)(const cgru_model* m, int layer, const cgru_layer_block* b,
                            float* scratch) noexcept nogil
    void (*recurrences_f64)(const cgru_model* m, int layer, const cgru_layer_block* b,
                            double* scratch) noexcept nogil
