# cython: language_level=3
"""cgru kernels: the C-level entry points (declared in src/cgru/kernels.pxd).

Each public function forwards to the kernel core of the instruction set chosen
at import (pyx/core.pxi, built once per ISA as ``cgru._core_<isa>``, each with
one typed table of function pointers).  ``CGRU_ISA=baseline|avx2|avx512`` in
the environment picks one (falling back to what the CPU and build support).
The whole-model functions chain the layers and directions of a cgru_model.
No Python object is touched in a kernel; every one is ``noexcept nogil``.
"""

from libc.stdint cimport int64_t
from libc.string cimport memcpy
from cpython.pycapsule cimport PyCapsule_GetPointer
from cython cimport floating

from cgru._core cimport cgru_kernel_table

cdef extern from "c/cpu.h":
    int _cpu_level "cgru_cpu_level"() noexcept nogil

cdef const cgru_kernel_table* _k = NULL      # the chosen ISA's table (set below)


# ================================================================ workspaces

cdef Py_ssize_t cgru_step_workspace(const cgru_cell* cell, Py_ssize_t N) noexcept nogil:
    # gx (N, 3H) + gh (N, 3H) + r*h (N, H)
    return 7 * N * cell.hidden_size


cdef Py_ssize_t cgru_sequence_workspace(const cgru_cell* cell, Py_ssize_t T,
                                        Py_ssize_t N) noexcept nogil:
    # gx (T*N, 3H) + gh (N, 3H) + r*h (N, H)
    return 3 * T * N * cell.hidden_size + 4 * N * cell.hidden_size


# ===================================================== one layer (ISA table)

cdef void cgru_activate_f32(int kind, double alpha, double beta, const float* x,
                            float* out, Py_ssize_t n) noexcept nogil:
    _k.activate_f32(kind, alpha, beta, x, out, n)


cdef void cgru_activate_f64(int kind, double alpha, double beta, const double* x,
                            double* out, Py_ssize_t n) noexcept nogil:
    _k.activate_f64(kind, alpha, beta, x, out, n)


cdef void cgru_input_projection_f32(const cgru_layer_f32* L, Py_ssize_t M,
        const float* x, Py_ssize_t ldx, float* gx) noexcept nogil:
    _k.input_projection_f32(L, M, x, ldx, gx)


cdef void cgru_input_projection_f64(const cgru_layer_f64* L, Py_ssize_t M,
        const double* x, Py_ssize_t ldx, double* gx) noexcept nogil:
    _k.input_projection_f64(L, M, x, ldx, gx)


cdef inline void _strides(Py_ssize_t T, Py_ssize_t N, int batch_first, Py_ssize_t ld,
                          Py_ssize_t* s_t, Py_ssize_t* s_n) noexcept nogil:
    """Row (t, n) at t*N + n (time major) or n*T + t (batch_first), rows ld apart."""
    s_t[0] = ld if batch_first else N * ld
    s_n[0] = T * ld if batch_first else ld


cdef void _recurrence(const void* L, Py_ssize_t T, Py_ssize_t N, int batch_first,
        const floating* gx, floating* h, floating* y, Py_ssize_t ldy,
        const int64_t* lengths, int reverse, floating* work) noexcept nogil:
    cdef Py_ssize_t H = (<const cgru_cell*>L).hidden_size
    cdef Py_ssize_t gx_t, gx_n, y_t, y_n
    _strides(T, N, batch_first, 3 * H, &gx_t, &gx_n)
    _strides(T, N, batch_first, ldy, &y_t, &y_n)
    if floating is float:
        _k.recurrence_f32(<const cgru_layer_f32*>L, T, N, gx, gx_t, gx_n, h, y, y_t, y_n,
                          lengths, reverse, work)
    else:
        _k.recurrence_f64(<const cgru_layer_f64*>L, T, N, gx, gx_t, gx_n, h, y, y_t, y_n,
                          lengths, reverse, work)


cdef void cgru_recurrence_f32(const cgru_layer_f32* L, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const float* gx, float* h, float* y, Py_ssize_t ldy,
        const int64_t* lengths, int reverse, float* work) noexcept nogil:
    _recurrence(L, T, N, batch_first, gx, h, y, ldy, lengths, reverse, work)


cdef void cgru_recurrence_f64(const cgru_layer_f64* L, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const double* gx, double* h, double* y, Py_ssize_t ldy,
        const int64_t* lengths, int reverse, double* work) noexcept nogil:
    _recurrence(L, T, N, batch_first, gx, h, y, ldy, lengths, reverse, work)


cdef void _sequence(const void* L, Py_ssize_t T, Py_ssize_t N, int batch_first,
        const floating* x, Py_ssize_t ldx, floating* h, floating* y, Py_ssize_t ldy,
        const int64_t* lengths, int reverse, floating* work) noexcept nogil:
    """The projection of all T*N rows into work, then the recurrence."""
    cdef Py_ssize_t M = T * N
    if floating is float:
        _k.input_projection_f32(<const cgru_layer_f32*>L, M, x, ldx, work)
    else:
        _k.input_projection_f64(<const cgru_layer_f64*>L, M, x, ldx, work)
    _recurrence(L, T, N, batch_first, work, h, y, ldy, lengths, reverse,
                work + 3 * M * (<const cgru_cell*>L).hidden_size)


cdef void cgru_sequence_f32(const cgru_layer_f32* L, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const float* x, Py_ssize_t ldx, float* h, float* y,
        Py_ssize_t ldy, const int64_t* lengths, int reverse, float* work) noexcept nogil:
    _sequence(L, T, N, batch_first, x, ldx, h, y, ldy, lengths, reverse, work)


cdef void cgru_sequence_f64(const cgru_layer_f64* L, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const double* x, Py_ssize_t ldx, double* h, double* y,
        Py_ssize_t ldy, const int64_t* lengths, int reverse, double* work) noexcept nogil:
    _sequence(L, T, N, batch_first, x, ldx, h, y, ldy, lengths, reverse, work)


cdef void cgru_step_f32(const cgru_layer_f32* L, Py_ssize_t N, const float* x,
        Py_ssize_t ldx, float* h, float* work) noexcept nogil:
    _k.step_f32(L, N, x, ldx, h, work)


cdef void cgru_step_f64(const cgru_layer_f64* L, Py_ssize_t N, const double* x,
        Py_ssize_t ldx, double* h, double* work) noexcept nogil:
    _k.step_f64(L, N, x, ldx, h, work)


# ============================================================== whole models
# Layer l, direction d of m is m.layers_*[l * D + d]; layer l > 0 reads the
# output of layer l - 1 (D*H features), which it overwrites in y: the
# projections of all directions of a layer run before its recurrences.

cdef Py_ssize_t cgru_model_workspace(const cgru_model* m, Py_ssize_t T,
                                     Py_ssize_t N) noexcept nogil:
    # per direction gx (T*N, 3H) + gh (N, 3H) + r*h (N, H); a step needs 7NH
    cdef Py_ssize_t H = m.hidden_size, D = m.num_directions
    cdef Py_ssize_t seq = D * (3 * T * N * H + 4 * N * H)
    return seq if seq > 7 * N * H else 7 * N * H


cdef int _model_sequence(const cgru_model* m, Py_ssize_t T, Py_ssize_t N, int batch_first,
        const floating* x, floating* h, floating* y, const int64_t* lengths,
        floating* work) noexcept nogil:
    cdef Py_ssize_t H = m.hidden_size, D = m.num_directions, M = T * N
    cdef Py_ssize_t G = 3 * H, ldin
    cdef floating* scratch = work + D * M * G      # per direction (N, 4H)
    cdef const floating* inp
    cdef const void* lay
    cdef int layer, d, k, reverse
    if m.itemsize != sizeof(floating):
        return -1
    if M <= 0:
        return 0
    for layer in range(m.num_layers):
        inp = x if layer == 0 else y
        ldin = m.input_size if layer == 0 else D * H
        for d in range(D):         # all projections first: y is then free
            k = layer * D + d
            if floating is float:
                _k.input_projection_f32(&m.layers_f32[k], M, inp, ldin, work + d * M * G)
            else:
                _k.input_projection_f64(&m.layers_f64[k], M, inp, ldin, work + d * M * G)
        for d in range(D):
            k = layer * D + d
            lay = <const void*>&m.layers_f32[k] if floating is float else \
                <const void*>&m.layers_f64[k]
            reverse = d == 1 or m.reverse_only
            _recurrence(lay, T, N, batch_first, <const floating*>(work + d * M * G),
                        h + k * N * H, y + d * H, D * H, lengths, reverse,
                        scratch + d * 4 * N * H)
    return 0


cdef int cgru_model_sequence_f32(const cgru_model* m, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const float* x, float* h, float* y, const int64_t* lengths,
        float* work) noexcept nogil:
    return _model_sequence(m, T, N, batch_first, x, h, y, lengths, work)


cdef int cgru_model_sequence_f64(const cgru_model* m, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const double* x, double* h, double* y, const int64_t* lengths,
        double* work) noexcept nogil:
    return _model_sequence(m, T, N, batch_first, x, h, y, lengths, work)


cdef int _model_step(const cgru_model* m, Py_ssize_t N, const floating* x, floating* h,
                     floating* y, floating* work) noexcept nogil:
    cdef Py_ssize_t H = m.hidden_size
    cdef int layer
    if m.itemsize != sizeof(floating) or m.num_directions != 1 or m.reverse_only:
        return -1
    if N <= 0:
        return 0
    for layer in range(m.num_layers):
        if floating is float:
            _k.step_f32(&m.layers_f32[layer], N, x if layer == 0 else h + (layer - 1) * N * H,
                        m.input_size if layer == 0 else H, h + layer * N * H, work)
        else:
            _k.step_f64(&m.layers_f64[layer], N, x if layer == 0 else h + (layer - 1) * N * H,
                        m.input_size if layer == 0 else H, h + layer * N * H, work)
    if y != NULL:
        memcpy(y, h + (m.num_layers - 1) * N * H, N * H * sizeof(floating))
    return 0


cdef int cgru_model_step_f32(const cgru_model* m, Py_ssize_t N, const float* x, float* h,
        float* y, float* work) noexcept nogil:
    return _model_step(m, N, x, h, y, work)


cdef int cgru_model_step_f64(const cgru_model* m, Py_ssize_t N, const double* x, double* h,
        double* y, double* work) noexcept nogil:
    return _model_step(m, N, x, h, y, work)


# ============================================================ ISA dispatch

_ISA_LEVEL = {"baseline": 0, "avx2": 1, "avx512": 2}


def isa():
    """The instruction set the kernels run with: 'baseline', 'avx2' or 'avx512'."""
    return (<bytes>_k.isa).decode()


def _set_isa(str name):
    """Select the kernels' instruction set: 'baseline', 'avx2', 'avx512', or
    'auto' (the best this CPU and build support).  An explicit name the CPU
    cannot run raises ValueError.  For tests and benchmarks; not thread-safe."""
    global _k
    if name != "auto" and name not in _ISA_LEVEL:
        raise ValueError(f"isa must be 'auto' or one of {list(_ISA_LEVEL)}, got {name!r}")
    cpu = _cpu_level()
    if name != "auto" and _ISA_LEVEL[name] > cpu:
        raise ValueError(f"isa {name!r}: this CPU does not support it")
    candidates = [name] if name != "auto" else \
        [n for n in ("avx512", "avx2") if _ISA_LEVEL[n] <= cpu] + ["baseline"]
    for cand in candidates:
        try:
            mod = __import__(f"cgru._core_{cand}", fromlist=["_"])
        except ImportError:
            if name != "auto":
                raise ValueError(f"isa {name!r}: this build has no such kernels") from None
            continue
        _k = <const cgru_kernel_table*>PyCapsule_GetPointer(mod.TABLE, b"cgru.kernel_table")
        return


import os as _os
_want = _os.environ.get("CGRU_ISA", "auto").strip().lower() or "auto"
try:
    _set_isa(_want)
except ValueError:
    _set_isa("auto")
del _os, _want
