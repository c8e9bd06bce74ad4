# cgru C-level API: the kernels, for Cython.
#
# ``from cgru.kernels cimport ...``: the enums and structs are
# ``cdef extern from`` include/cgru.h (the one source of the contract: layouts,
# the packed weight layout, the ABI version); the functions below are cgru's
# own, looked up when the cimporting module is imported.  Everything works on
# raw pointers, takes no Python object, allocates nothing and runs without the
# GIL; the caller owns h, y and work.  Buffer rules: docs/c-api.md.  The
# equations are written once, in pyx/core.pxi next to the gate loop.

from cpython.ref cimport PyObject
from libc.stdint cimport int64_t
from cython cimport floating

cdef extern from "include/cgru.h":
    int CGRU_ABI_VERSION

    cpdef enum cgru_activation:
        CGRU_SIGMOID
        CGRU_TANH
        CGRU_RELU
        CGRU_AFFINE
        CGRU_LEAKY_RELU
        CGRU_THRESHOLDED_RELU
        CGRU_SCALED_TANH
        CGRU_HARD_SIGMOID
        CGRU_ELU
        CGRU_SOFTSIGN
        CGRU_SOFTPLUS

    cpdef enum cgru_weight_format:
        CGRU_WEIGHTS_NATIVE
        CGRU_WEIGHTS_FLOAT16
        CGRU_WEIGHTS_BFLOAT16
        CGRU_WEIGHTS_INT8

    ctypedef struct cgru_cell:
        Py_ssize_t input_size
        Py_ssize_t hidden_size
        int reset_after
        int f_kind
        double f_alpha
        double f_beta
        int g_kind
        double g_alpha
        double g_beta
        double clip

    ctypedef struct cgru_layer_f32:
        cgru_cell cell
        const float* w_ih
        const float* w_hh
        const float* b_x
        const float* b_hn
        const float* w_hh_packed
        const float* w_ih_packed
        int weight_format
        int reserved
        const void* w_hh_q
        const void* w_ih_q
        const float* w_hh_scale
        const float* w_ih_scale

    ctypedef struct cgru_layer_f64:
        cgru_cell cell
        const double* w_ih
        const double* w_hh
        const double* b_x
        const double* b_hn
        const double* w_hh_packed
        const double* w_ih_packed
        int weight_format
        int reserved
        const void* w_hh_q
        const void* w_ih_q
        const float* w_hh_scale
        const float* w_ih_scale

    ctypedef struct cgru_model:
        PyObject* owner
        int itemsize
        int num_layers
        int num_directions
        int reverse_only
        Py_ssize_t input_size
        Py_ssize_t hidden_size
        const cgru_layer_f32* layers_f32
        const cgru_layer_f64* layers_f64
        int num_threads

# ------------------------------------------------------------------ one layer
# (each _f32 / _f64; cgru.h documents every argument)
cdef Py_ssize_t cgru_sequence_workspace(const cgru_cell* cell, Py_ssize_t T,
                                        Py_ssize_t N) noexcept nogil
cdef Py_ssize_t cgru_step_workspace(const cgru_cell* cell, Py_ssize_t N) noexcept nogil
cdef void cgru_input_projection_f32(const cgru_layer_f32* L, Py_ssize_t M,
        const float* x, Py_ssize_t ldx, float* gx) noexcept nogil
cdef void cgru_input_projection_f64(const cgru_layer_f64* L, Py_ssize_t M,
        const double* x, Py_ssize_t ldx, double* gx) noexcept nogil
cdef void cgru_recurrence_f32(const cgru_layer_f32* L, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const float* gx, float* h, float* y, Py_ssize_t ldy,
        const int64_t* lengths, int reverse, float* work) noexcept nogil
cdef void cgru_recurrence_f64(const cgru_layer_f64* L, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const double* gx, double* h, double* y, Py_ssize_t ldy,
        const int64_t* lengths, int reverse, double* work) noexcept nogil
cdef void cgru_sequence_f32(const cgru_layer_f32* L, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const float* x, Py_ssize_t ldx, float* h, float* y,
        Py_ssize_t ldy, const int64_t* lengths, int reverse, float* work) noexcept nogil
cdef void cgru_sequence_f64(const cgru_layer_f64* L, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const double* x, Py_ssize_t ldx, double* h, double* y,
        Py_ssize_t ldy, const int64_t* lengths, int reverse, double* work) noexcept nogil
cdef void cgru_step_f32(const cgru_layer_f32* L, Py_ssize_t N, const float* x,
        Py_ssize_t ldx, float* h, float* work) noexcept nogil
cdef void cgru_step_f64(const cgru_layer_f64* L, Py_ssize_t N, const double* x,
        Py_ssize_t ldx, double* h, double* work) noexcept nogil
cdef void cgru_activate_f32(int kind, double alpha, double beta, const float* x,
        float* out, Py_ssize_t n) noexcept nogil
cdef void cgru_activate_f64(int kind, double alpha, double beta, const double* x,
        double* out, Py_ssize_t n) noexcept nogil

# --------------------------------------------------------------- whole models
cdef Py_ssize_t cgru_model_workspace(const cgru_model* m, Py_ssize_t T,
                                     Py_ssize_t N) noexcept nogil
cdef int cgru_model_sequence_f32(const cgru_model* m, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const float* x, float* h, float* y, const int64_t* lengths,
        float* work) noexcept nogil
cdef int cgru_model_sequence_f64(const cgru_model* m, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const double* x, double* h, double* y, const int64_t* lengths,
        double* work) noexcept nogil
cdef int cgru_model_step_f32(const cgru_model* m, Py_ssize_t N, const float* x, float* h,
        float* y, float* work) noexcept nogil
cdef int cgru_model_step_f64(const cgru_model* m, Py_ssize_t N, const double* x, double* h,
        double* y, double* work) noexcept nogil


# ------------------------------------------ one name per operation (fused)
# Layer ``k`` (l * num_directions + d) of ``m`` in the dtype of the buffers:
# 0, or -1 (nothing done) when m.itemsize is not sizeof(floating).

cdef inline int cgru_sequence(const cgru_model* m, int k, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const floating* x, Py_ssize_t ldx, floating* h, floating* y,
        Py_ssize_t ldy, const int64_t* lengths, int reverse, floating* work) noexcept nogil:
    """One layer over a whole sequence (cgru_sequence_f32 / _f64)."""
    if m.itemsize != sizeof(floating):
        return -1
    if floating is float:
        cgru_sequence_f32(&m.layers_f32[k], T, N, batch_first, x, ldx, h, y, ldy, lengths,
                          reverse, work)
    else:
        cgru_sequence_f64(&m.layers_f64[k], T, N, batch_first, x, ldx, h, y, ldy, lengths,
                          reverse, work)
    return 0


cdef inline int cgru_step(const cgru_model* m, int k, Py_ssize_t N, const floating* x,
        Py_ssize_t ldx, floating* h, floating* work) noexcept nogil:
    """One layer, one step (cgru_step_f32 / _f64)."""
    if m.itemsize != sizeof(floating):
        return -1
    if floating is float:
        cgru_step_f32(&m.layers_f32[k], N, x, ldx, h, work)
    else:
        cgru_step_f64(&m.layers_f64[k], N, x, ldx, h, work)
    return 0


cdef inline const cgru_cell* cgru_model_cell(const cgru_model* m, int k) noexcept nogil:
    """The cell (shape and maths) of layer ``k`` of ``m``, whatever its dtype."""
    return &m.layers_f32[k].cell if m.itemsize == 4 else &m.layers_f64[k].cell


cdef inline int cgru_model_sequence(const cgru_model* m, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const floating* x, floating* h, floating* y,
        const int64_t* lengths, floating* work) noexcept nogil:
    """All layers and directions over a sequence (cgru_model_sequence_f32 / _f64)."""
    if floating is float:
        return cgru_model_sequence_f32(m, T, N, batch_first, x, h, y, lengths, work)
    else:
        return cgru_model_sequence_f64(m, T, N, batch_first, x, h, y, lengths, work)


cdef inline int cgru_model_step(const cgru_model* m, Py_ssize_t N, const floating* x,
        floating* h, floating* y, floating* work) noexcept nogil:
    """All layers, one step (cgru_model_step_f32 / _f64)."""
    if floating is float:
        return cgru_model_step_f32(m, N, x, h, y, work)
    else:
        return cgru_model_step_f64(m, N, x, h, y, work)
