# cython: language_level=3
"""cgru kernels: the C-level entry points (declared in src/cgru/kernels.pxd).

Each public function forwards to the kernel core of the instruction set chosen
at import (pyx/core.pxi, built once per ISA as ``cgru._core_<isa>``, each with
one typed table of function pointers).  ``CGRU_ISA=baseline|avx2|avx512`` in
the environment picks one (falling back to what the CPU and build support).
The whole-model functions chain the layers and directions of a cgru_model.
No Python object is touched in a kernel; every one is ``noexcept nogil``.
"""

from libc.stddef cimport ptrdiff_t
from libc.stdint cimport int64_t
from libc.string cimport memcpy
from cpython.pycapsule cimport PyCapsule_GetPointer
from cython cimport floating

from cgru._core cimport cgru_kernel_table, cgru_units, cgru_layer_block, cgru_layer_api
from cpython.pycapsule cimport PyCapsule_New

cdef extern from "c/cpu.h":
    int _cpu_level "cgru_cpu_level"() noexcept nogil

cdef extern from "c/lowp.h":
    size_t cgru_lowp_scratch_bytes(Py_ssize_t N, Py_ssize_t K) noexcept nogil
    size_t cgru_lowp_part_bytes(Py_ssize_t N, Py_ssize_t K) noexcept nogil
    size_t cgru_lowp_split_bytes(Py_ssize_t N, Py_ssize_t K) noexcept nogil
    Py_ssize_t cgru_lowp_stack_rows(int fmt, Py_ssize_t K) noexcept nogil

cdef const cgru_kernel_table* _k = NULL      # the chosen ISA's table (set below)


# ================================================================ workspaces

cdef inline Py_ssize_t _lowp_room(Py_ssize_t N, Py_ssize_t K) noexcept nogil:
    """4-byte units of room for the reduced-precision operands of N rows of K
    (layers with weight_format != 0; reserved for every layer, so the workspace
    sizes do not depend on the format)"""
    return <Py_ssize_t>((cgru_lowp_scratch_bytes(N, K) + 3) // 4)


cdef Py_ssize_t cgru_step_workspace(const cgru_cell* cell, Py_ssize_t N) noexcept nogil:
    # gx (N, 3H) + gh (N, 3H) + r*h (N, H) + reduced-precision operands of x or h
    return 7 * N * cell.hidden_size + _lowp_room(N, max(cell.input_size, cell.hidden_size))


cdef Py_ssize_t cgru_sequence_workspace(const cgru_cell* cell, Py_ssize_t T,
                                        Py_ssize_t N) noexcept nogil:
    # gx (T*N, 3H) + gh (N, 3H) + r*h (N, H) + reduced-precision operands of h
    return 3 * T * N * cell.hidden_size + 4 * N * cell.hidden_size + \
        _lowp_room(N, cell.hidden_size)


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

cdef inline bint _is_lowp(const cgru_model* m, int k) noexcept nogil:
    """layer*direction k holds reduced-precision weights (float32 models only)"""
    return m.itemsize == 4 and m.layers_f32[k].weight_format != 0


cdef inline const void* _w_hh_any(const cgru_layer_f32* L) noexcept nogil:
    """the packed W_hh the unit split reads: float32 panels, or the reduced-precision
    ones; NULL (no unit split) when a row of x or h does not fit the stack block each
    unit part converts them in (I or H above ~8K): a part would then allocate at
    every step, so such a layer runs by samples or whole, from the workspace"""
    if L.weight_format == 0:
        return <const void*>L.w_hh_packed
    if cgru_lowp_stack_rows(L.weight_format, max(L.cell.input_size, L.cell.hidden_size)) < 1:
        return NULL
    return <const void*>L.w_hh_q


cdef inline const void* _w_ih_any(const cgru_layer_f32* L) noexcept nogil:
    return <const void*>L.w_ih_q if L.weight_format != 0 else <const void*>L.w_ih_packed


cdef inline double _step_bytes_share(const cgru_layer_f32* L) noexcept nogil:
    """A step of a few samples streams W_hh: its time goes with the weights' bytes,
    so the per-step cut-off of a unit split (_UNITS_STEP_FLOPS, measured for
    float32) counts a reduced-precision layer's work at its bytes per weight / 4."""
    return 0.25 if L.weight_format == CGRU_WEIGHTS_INT8 else \
        0.5 if L.weight_format != 0 else 1.0


cdef inline Py_ssize_t _split_room(Py_ssize_t N, Py_ssize_t K) noexcept nogil:
    """4-byte units of operand room for N rows of K cut into parts of >= 4 rows,
    each part its own block (_part_area)"""
    return <Py_ssize_t>((cgru_lowp_split_bytes(N, K) + 3) // 4)


cdef inline Py_ssize_t _part_area(Py_ssize_t N, Py_ssize_t K, Py_ssize_t per_row,
        Py_ssize_t part, Py_ssize_t parts, bint room) noexcept nogil:
    """Where part `part` of N rows (_cut into parts of >= _ROWS) starts in a scratch of
    per_row elements per row followed (room: a float32 model), per part, by its
    operand room for rows of K: part p's area is per_row * n_p floats then
    cgru_lowp_part_bytes(n_p, K) bytes, the parts one after another (in all
    <= per_row * N + _split_room(N, K)); without room, part p starts at per_row * b."""
    cdef Py_ssize_t q, b, e, off = 0
    for q in range(part):
        _cut(N, _ROWS, q, parts, &b, &e)
        off += per_row * (e - b)
        if room:
            off += <Py_ssize_t>(cgru_lowp_part_bytes(e - b, K) // 4)
    return off


cdef inline Py_ssize_t _model_room(const cgru_model* m, Py_ssize_t N, Py_ssize_t K) noexcept nogil:
    """the operand room of N rows of K: for every part of a split by samples
    (_part_area) in a float32 model (the only kind with reduced-precision layers)"""
    return _split_room(N, K) if m.itemsize == 4 else _lowp_room(N, K)


cdef inline Py_ssize_t _model_scratch(const cgru_model* m, Py_ssize_t N) noexcept nogil:
    """per direction: the recurrence's gh (N, 3H) + r*h (N, H) + operand room"""
    return 4 * N * m.hidden_size + _model_room(m, N, m.hidden_size)


cdef Py_ssize_t cgru_model_workspace(const cgru_model* m, Py_ssize_t T,
                                     Py_ssize_t N) noexcept nogil:
    # per direction gx (T*N, 3H) + the recurrence's scratch; a step needs 7NH + room
    cdef Py_ssize_t H = m.hidden_size, D = m.num_directions
    cdef Py_ssize_t seq = D * (3 * T * N * H + _model_scratch(m, N))
    cdef Py_ssize_t step = 7 * N * H + _model_room(m, N, max(m.input_size, H))
    return seq if seq > step else step


# ================================================================== threads
# A whole-model call may run on up to m.num_threads threads of cgru's pool
# (pyx/c/pool.h: cgru_parallel runs items, step after step; the calling thread
# takes part).  How the work is cut, per layer:
#   - the input projection by rows (parts of >= 4 rows: the micro-kernel's block);
#   - the recurrence by samples when N >= 8 (each part runs the whole sequence of
#     its >= 4 samples), or by direction for a bidirectional layer, else
#   - by hidden units, one parallel step per time step (two for reset_after=False),
#     when H allows parts of >= _UNITS_MIN units (packed weights of any format): each
#     part computes its panels of the recurrent product and the gates of its units;
#     the layer's input projection is then cut by the same units (its output
#     columns), as the first step of the same parallel call (float weights).
# The same cuts for reduced-precision weights (float16, bfloat16, int8): a sample
# part converts (quantizes) its own rows in its own operand room (_part_area), a
# unit part converts the whole h of the step (N < 8 rows) on its stack.
# return_gates splits by samples and directions only.  Ctrl-C chunks of a long call
# (cgru._compiled) call the same per-layer pieces through _LAYER_API.
# Work under _MIN_SPLIT_FLOPS (16x that for a projection) stays on the calling
# thread (waking a worker costs 5-50 us, and a worker preempted while it holds
# an item makes the call wait).  Every output is computed by the same micro-kernel calls in the
# same order whatever the cut (parts start on row blocks of 4 and on pairs of
# panels, and no part has a single row when the whole has more), so results are
# bit-identical for every thread count (tests/kernels/test_threads_identical.py).

cdef extern from "c/pool.h":
    ctypedef void (*cgru_item_fn)(void* arg, ptrdiff_t step, ptrdiff_t item,
                                  int rank) noexcept nogil
    int cgru_parallel(int nthreads, ptrdiff_t steps, ptrdiff_t items, cgru_item_fn fn,
                      void* arg) noexcept nogil
    void cgru_split(ptrdiff_t n, ptrdiff_t align, ptrdiff_t part, ptrdiff_t parts,
                    ptrdiff_t* begin, ptrdiff_t* end) noexcept nogil
    int cgru_pool_workers() noexcept nogil

cdef enum:
    _ROWS = 4                      # rows per micro-kernel block

cdef double _MIN_SPLIT_FLOPS = 4e6 # ~20-40 us of one core's work
cdef Py_ssize_t _UNITS_MIN = 128   # hidden units per part of a split step
cdef double _UNITS_STEP_FLOPS = 6.0 * 512 * 512    # per split step: H = 512, N = 1


def _split_limits(min_flops=None, units_min=None, units_step_flops=None):
    """The cut-offs of the split (see above), for tests: set those given, return
    the previous (min_flops, units_min, units_step_flops).  Not thread-safe."""
    global _MIN_SPLIT_FLOPS, _UNITS_MIN, _UNITS_STEP_FLOPS
    old = (_MIN_SPLIT_FLOPS, _UNITS_MIN, _UNITS_STEP_FLOPS)
    if min_flops is not None:
        _MIN_SPLIT_FLOPS = min_flops
    if units_min is not None:
        if units_min < 1:
            raise ValueError(f"units_min must be >= 1, got {units_min}")
        _UNITS_MIN = units_min
    if units_step_flops is not None:
        _UNITS_STEP_FLOPS = units_step_flops
    return old


def _part_layout(Py_ssize_t N, Py_ssize_t K, Py_ssize_t per_row, Py_ssize_t parts):
    """For tests: [(start, rows, room)] of each part of N rows (_part_area, in floats),
    the room each part's recurrence or step needs (cgru_lowp_scratch_bytes), and
    what the workspace reserves: per_row * N + _split_room(N, K)."""
    cdef Py_ssize_t i, b, e
    out = []
    for i in range(parts):
        _cut(N, _ROWS, i, parts, &b, &e)
        out.append((_part_area(N, K, per_row, i, parts, True), e - b,
                    per_row * (e - b) + (cgru_lowp_scratch_bytes(e - b, K) + 3) // 4))
    return out, per_row * N + _split_room(N, K)


def _pool_workers():
    """Worker threads the pool has started in this process (0 in a fresh child)."""
    return cgru_pool_workers()


cdef inline Py_ssize_t _parts(Py_ssize_t n, Py_ssize_t unit, int nthreads,
                              double flops) noexcept nogil:
    """How many parts of >= unit items to cut n into (1: do not split)."""
    cdef Py_ssize_t p = n // unit
    if nthreads <= 1 or flops < _MIN_SPLIT_FLOPS or p < 2:
        return 1
    return p if p < nthreads else nthreads


cdef inline void _cut(Py_ssize_t n, Py_ssize_t unit, Py_ssize_t i, Py_ssize_t parts,
                      Py_ssize_t* b, Py_ssize_t* e) noexcept nogil:
    """Part i of [0, n): boundaries on multiples of unit, the last part also takes
    n % unit (so with parts <= n // unit every part has >= unit items)."""
    cdef ptrdiff_t b0, e0
    cgru_split(n - n % unit, unit, i, parts, &b0, &e0)
    b[0] = b0
    e[0] = n if i == parts - 1 else e0


ctypedef struct _rows_job:         # projections of a layer, or a step, by rows
    const cgru_model* m
    int layer
    int f64
    Py_ssize_t M, parts, ldin
    Py_ssize_t M_d                 # projection: rows between the directions' gx
    const char* inp
    char* out                      # projection: gx of direction d at + d*M_d*3H
    char* h                        # step: the layer's h; NULL for a projection
    char* work                     # step: 7H per row + operand room per part (_part_area)
    char* gates                    # step: NULL, or the layer's r plane (N, H) (z, n
    Py_ssize_t gplane              #   gplane, 2*gplane after)


cdef void _rows_item(void* arg, ptrdiff_t step, ptrdiff_t item, int rank) noexcept nogil:
    cdef _rows_job* j = <_rows_job*>arg
    cdef Py_ssize_t H = j.m.hidden_size, D = j.m.num_directions, b, e, w
    cdef Py_ssize_t d = item // j.parts, sz = 8 if j.f64 else 4
    cdef int k = j.layer * <int>D + <int>d
    _cut(j.M, _ROWS, item % j.parts, j.parts, &b, &e)
    if e <= b:
        return
    if j.h != NULL:                # a step of rows [b, e): 7H per row + its operand room
        w = _part_area(j.M, max(j.m.input_size, H), 7 * H, item % j.parts, j.parts, not j.f64)
    if j.h != NULL and j.gates != NULL:     # ... with its gates
        if j.f64:
            _k.step_gates_f64(&j.m.layers_f64[k], e - b, <const double*>j.inp + b * j.ldin,
                              j.ldin, <double*>j.h + b * H, <double*>j.work + w,
                              <double*>j.gates + b * H, H, j.gplane)
        else:
            _k.step_gates_f32(&j.m.layers_f32[k], e - b, <const float*>j.inp + b * j.ldin,
                              j.ldin, <float*>j.h + b * H, <float*>j.work + w,
                              <float*>j.gates + b * H, H, j.gplane)
    elif j.h != NULL:
        if j.f64:
            _k.step_f64(&j.m.layers_f64[k], e - b, <const double*>j.inp + b * j.ldin, j.ldin,
                        <double*>j.h + b * H, <double*>j.work + w)
        else:
            _k.step_f32(&j.m.layers_f32[k], e - b, <const float*>j.inp + b * j.ldin, j.ldin,
                        <float*>j.h + b * H, <float*>j.work + w)
    elif j.f64:
        _k.input_projection_f64(&j.m.layers_f64[k], e - b, <const double*>j.inp + b * j.ldin,
                                j.ldin, <double*>(j.out + (d * j.M_d + b) * 3 * H * sz))
    else:
        _k.input_projection_f32(&j.m.layers_f32[k], e - b, <const float*>j.inp + b * j.ldin,
                                j.ldin, <float*>(j.out + (d * j.M_d + b) * 3 * H * sz))


ctypedef struct _samples_job:      # the recurrences of a layer by samples (and direction)
    const cgru_model* m
    int layer
    int f64
    Py_ssize_t parts
    cgru_layer_block b             # direction d's pointers (src/cgru/_core.pxd)
    char* scratch                  # direction d at + d*_model_scratch; sample n at + n*4H


cdef void _samples_item(void* arg, ptrdiff_t step, ptrdiff_t item, int rank) noexcept nogil:
    cdef _samples_job* j = <_samples_job*>arg
    cdef const cgru_layer_block* q = &j.b
    cdef Py_ssize_t H = j.m.hidden_size, D = j.m.num_directions, N = q.N
    cdef Py_ssize_t d = item // j.parts, b, e
    cdef Py_ssize_t sz = 8 if j.f64 else 4
    cdef int k = j.layer * <int>D + <int>d
    cdef int reverse = d == 1 or j.m.reverse_only
    cdef const int64_t* lens = NULL
    _cut(N, _ROWS, item % j.parts, j.parts, &b, &e)
    if e <= b:
        return
    if q.lengths[d] != NULL:
        lens = q.lengths[d] + b
    cdef const char* gx = <const char*>q.gx[d] + b * q.gx_n * sz
    cdef char* h = <char*>q.h[d] + b * H * sz
    cdef char* y = (<char*>q.y[d] + b * q.y_n * sz) if q.y[d] != NULL else NULL
    cdef char* w = j.scratch + (d * _model_scratch(j.m, N) +
                                _part_area(N, H, 4 * H, item % j.parts, j.parts, not j.f64)) * sz
    cdef char* g = <char*>q.gates[d]
    if g != NULL:                  # with the gates: rows (t, n) at g + t*g_t + n*g_n
        g += b * q.g_n * sz
        if j.f64:
            _k.recurrence_gates_f64(&j.m.layers_f64[k], q.T[d], e - b, <const double*>gx,
                                    q.gx_t, q.gx_n, <double*>h, <double*>y, q.y_t, q.y_n, lens,
                                    reverse, <double*>w, <double*>g, q.g_t, q.g_n, q.gplane)
        else:
            _k.recurrence_gates_f32(&j.m.layers_f32[k], q.T[d], e - b, <const float*>gx,
                                    q.gx_t, q.gx_n, <float*>h, <float*>y, q.y_t, q.y_n, lens,
                                    reverse, <float*>w, <float*>g, q.g_t, q.g_n, q.gplane)
    elif j.f64:
        _k.recurrence_f64(&j.m.layers_f64[k], q.T[d], e - b, <const double*>gx, q.gx_t,
                          q.gx_n, <double*>h, <double*>y, q.y_t, q.y_n, lens, reverse,
                          <double*>w)
    else:
        _k.recurrence_f32(&j.m.layers_f32[k], q.T[d], e - b, <const float*>gx, q.gx_t,
                          q.gx_n, <float*>h, <float*>y, q.y_t, q.y_n, lens, reverse,
                          <float*>w)


ctypedef struct _units_job:        # one recurrence (or step) by hidden units
    cgru_units u
    Py_ssize_t H, parts
    int f64
    Py_ssize_t M                   # > 0: step 0 is the projection of M rows (then the
    const void* inp                #   recurrence's steps), each part its own units:
    Py_ssize_t ldin                #   gx (u.gx) = inp W_ih^T, columns of [b, e)


cdef void _units_item(void* arg, ptrdiff_t step, ptrdiff_t item, int rank) noexcept nogil:
    cdef _units_job* j = <_units_job*>arg
    cdef Py_ssize_t b, e
    cdef const cgru_cell* c = <const cgru_cell*>j.u.layer
    # pairs of panels (2P = 128 bytes of outputs): _gemm_packed pairs them the same way
    _cut(j.H, 32 if not j.f64 else 16, item, j.parts, &b, &e)
    if e <= b:
        return
    if j.M > 0:                    # step 0: this part's columns of the projection
        if step == 0:
            if j.f64:
                _k.packed_product_f64(j.M, c.input_size, j.H, 0, 3, b, e,
                                      <const double*>j.inp, j.ldin,
                                      (<const cgru_layer_f64*>j.u.layer).w_ih_packed,
                                      <double*>j.u.gx, 3 * j.H)
            else:
                _k.packed_product_f32(j.M, c.input_size, j.H, 0, 3, b, e,
                                      <const float*>j.inp, j.ldin,
                                      (<const cgru_layer_f32*>j.u.layer).w_ih_packed,
                                      <float*>j.u.gx, 3 * j.H)
            return
        step -= 1
    if j.f64:
        _k.units_f64(&j.u, step, b, e)
    else:
        _k.units_f32(&j.u, step, b, e)


cdef inline Py_ssize_t _units_parts(const cgru_cell* c, const void* w_hh_p, const void* w_ih_p,
        Py_ssize_t N, int nthreads, double flops, double share=1.0) noexcept nogil:
    """Parts for a split by hidden units (1: none): packed weights (of any format), a
    few samples, >= _UNITS_MIN units and enough work per part and step (counted at
    `share` of float32's: _step_bytes_share)."""
    if w_hh_p == NULL or w_ih_p == NULL or N >= 2 * _ROWS:
        return 1
    if 6.0 * N * c.hidden_size * c.hidden_size * share < _UNITS_STEP_FLOPS:
        return 1
    return _parts(c.hidden_size, _UNITS_MIN, nthreads, flops)


cdef inline Py_ssize_t _layer_units(const cgru_model* m, int layer, Py_ssize_t T,
                                    Py_ssize_t N) noexcept nogil:
    """Parts of a split of layer `layer`'s recurrence by hidden units (1: by samples,
    directions or none): one direction, too few samples to split."""
    cdef Py_ssize_t H = m.hidden_size
    cdef int nth = m.num_threads
    if m.num_directions != 1 or _parts(N, _ROWS, nth, 6.0 * T * N * H * H) > 1:
        return 1
    if _is_lowp(m, layer) and not m.layers_f32[layer].cell.reset_after:
        return 1                   # _units_reset_before has float weights only
    if m.itemsize == 4:
        return _units_parts(&m.layers_f32[layer].cell, _w_hh_any(&m.layers_f32[layer]),
                            _w_ih_any(&m.layers_f32[layer]), N, nth, 6.0 * T * N * H * H,
                            _step_bytes_share(&m.layers_f32[layer]))
    return _units_parts(&m.layers_f64[layer].cell, m.layers_f64[layer].w_hh_packed,
                        m.layers_f64[layer].w_ih_packed, N, nth, 6.0 * T * N * H * H)


cdef void _layer_projection(const cgru_model* m, int layer, Py_ssize_t M, Py_ssize_t M_d,
        const floating* inp, Py_ssize_t ldin, floating* gx) noexcept nogil:
    """gx of direction d at gx + d*M_d*3H = M rows of inp (ldin apart) W_ih^T, every
    direction of the layer, by rows (a projection is a small share of a call and needs
    16x the work to split: a worker preempted while it holds its rows makes the call wait)."""
    cdef Py_ssize_t H = m.hidden_size, D = m.num_directions, parts
    cdef Py_ssize_t I = m.layers_f32[layer * D].cell.input_size if floating is float else \
        m.layers_f64[layer * D].cell.input_size
    cdef _rows_job rj
    parts = _parts(M, _ROWS, m.num_threads, 6.0 * M * H * I * D / 16)
    rj.m, rj.layer, rj.f64, rj.M, rj.M_d, rj.parts = m, layer, floating is double, M, M_d, parts
    rj.ldin, rj.inp, rj.out, rj.h, rj.work, rj.gates = ldin, <const char*>inp, <char*>gx, NULL, \
        NULL, NULL
    cgru_parallel(m.num_threads if parts > 1 else 1, 1, D * parts, _rows_item, &rj)


cdef void _layer_recurrences(const cgru_model* m, int layer, const cgru_layer_block* q,
        floating* scratch, Py_ssize_t up, const floating* inp, Py_ssize_t ldin,
        Py_ssize_t M) noexcept nogil:
    """The recurrences of layer `layer` over the block q (src/cgru/_core.pxd), scratch
    per direction _model_scratch(m, q.N): by up > 1 ranges of hidden units (one
    direction; inp != NULL: its projection of M rows too, by the same units, as step 0
    of the same call, so each thread reads only its share of W_ih, then of W_hh every
    step), else by samples and/or one direction per thread (each sample part with its
    own operand room for reduced-precision weights: _part_area)."""
    cdef Py_ssize_t H = m.hidden_size, D = m.num_directions, N = q.N, T = q.T[0], parts
    cdef int k = layer * <int>D, nth = m.num_threads
    cdef const cgru_cell* c = &m.layers_f32[k].cell if floating is float else \
        &m.layers_f64[k].cell
    cdef bint dual
    cdef _units_job uj
    cdef _samples_job sj
    if up > 1:
        uj.M, uj.inp, uj.ldin = (M if inp != NULL else 0), <const void*>inp, ldin
        uj.H, uj.f64, uj.parts = H, floating is double, up
        uj.u.layer = <const void*>&m.layers_f32[k] if floating is float else \
            <const void*>&m.layers_f64[k]
        uj.u.T, uj.u.N, uj.u.x, uj.u.ldx, uj.u.gxw = T, N, NULL, 0, NULL
        uj.u.gx, uj.u.gx_t, uj.u.gx_n, uj.u.y_t, uj.u.y_n = q.gx[0], q.gx_t, q.gx_n, q.y_t, \
            q.y_n
        uj.u.h[0], uj.u.h[1] = q.h[0], <void*>(scratch + 3 * N * H)
        uj.u.y, uj.u.lengths, uj.u.reverse = q.y[0], q.lengths[0], m.reverse_only
        uj.u.gh = <void*>scratch
        # reset_after=False: two calls per step, h in place, r*h in h[1]
        cgru_parallel(nth, T * (1 if c.reset_after else 2) + (1 if uj.M > 0 else 0), up,
                      _units_item, &uj)
        if T % 2 and c.reset_after:                     # the last step wrote h[1]
            memcpy(q.h[0], scratch + 3 * N * H, N * H * sizeof(floating))
        return
    parts = _parts(N, _ROWS, nth, 6.0 * T * N * H * H * D)
    dual = D == 2 and nth > 1 and 6.0 * T * N * H * H >= _MIN_SPLIT_FLOPS
    sj.m, sj.layer, sj.f64, sj.parts, sj.b = m, layer, floating is double, parts, q[0]
    sj.scratch = <char*>scratch
    cgru_parallel(nth if parts > 1 or dual else 1, 1, D * parts, _samples_item, &sj)


cdef int _model_sequence(const cgru_model* m, Py_ssize_t T, Py_ssize_t N, int batch_first,
        const floating* x, floating* h, floating* y, const int64_t* lengths,
        floating* work, floating* gates) noexcept nogil:
    """All layers; gates != NULL: also r, z, n of every layer, row and direction, as
    y's rows, in three planes (3, num_layers, *y's shape) (no split by hidden units:
    by samples and directions only)."""
    cdef Py_ssize_t H = m.hidden_size, D = m.num_directions, M = T * N
    cdef Py_ssize_t G = 3 * H, ldin, up
    cdef floating* scratch = work + D * M * G      # per direction _model_scratch
    cdef const floating* inp
    cdef int layer, d
    cdef bint by_units
    cdef cgru_layer_block q
    if m.itemsize != sizeof(floating):
        return -1
    if M <= 0:
        return 0
    q.N, q.gplane = N, m.num_layers * M * D * H
    _strides(T, N, batch_first, G, &q.gx_t, &q.gx_n)
    _strides(T, N, batch_first, D * H, &q.y_t, &q.y_n)
    q.g_t, q.g_n = q.y_t, q.y_n
    for layer in range(m.num_layers):
        inp = x if layer == 0 else y
        ldin = m.input_size if layer == 0 else D * H
        for d in range(D):
            q.gx[d], q.h[d], q.y[d] = work + d * M * G, h + (layer * D + d) * N * H, y + d * H
            q.lengths[d], q.T[d] = lengths, T
            q.gates[d] = (gates + (layer * M * D + d) * H) if gates != NULL else NULL
        # all projections first (y is then free), unless the recurrence is split by
        # hidden units: then each thread projects its units first
        # (reduced-precision weights: the projection by rows, its packed product
        # by units takes float weights)
        up = 1 if gates != NULL else _layer_units(m, layer, T, N)
        by_units = up > 1 and not _is_lowp(m, layer * <int>D)
        if not by_units:
            _layer_projection(m, layer, M, M, inp, ldin, work)
        _layer_recurrences(m, layer, &q, scratch, up, inp if by_units else NULL, ldin, M)
    return 0


cdef int cgru_model_sequence_f32(const cgru_model* m, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const float* x, float* h, float* y, const int64_t* lengths,
        float* work) noexcept nogil:
    return _model_sequence(m, T, N, batch_first, x, h, y, lengths, work, NULL)


cdef int cgru_model_sequence_f64(const cgru_model* m, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const double* x, double* h, double* y, const int64_t* lengths,
        double* work) noexcept nogil:
    return _model_sequence(m, T, N, batch_first, x, h, y, lengths, work, NULL)


cdef int _model_step(const cgru_model* m, Py_ssize_t N, const floating* x, floating* h,
                     floating* y, floating* work, floating* gates) noexcept nogil:
    """One step of all layers; gates != NULL: also r, z, n of every layer, (3,
    num_layers, N, H) (no split by hidden units: by samples only)."""
    cdef Py_ssize_t H = m.hidden_size, I, ldx, parts
    cdef int layer, nth = m.num_threads
    cdef const cgru_cell* c
    cdef const floating* xin
    cdef floating* hl
    cdef _rows_job rj
    cdef _units_job uj
    if m.itemsize != sizeof(floating) or m.num_directions != 1 or m.reverse_only:
        return -1
    if N <= 0:
        return 0
    for layer in range(m.num_layers):
        c = &m.layers_f32[layer].cell if floating is float else &m.layers_f64[layer].cell
        I = c.input_size
        xin = x if layer == 0 else h + (layer - 1) * N * H
        ldx = m.input_size if layer == 0 else H
        hl = h + layer * N * H
        # by samples (rows), else by hidden units, else on this thread
        parts = _parts(N, _ROWS, nth, 6.0 * N * H * (I + H))
        if parts > 1 or gates != NULL:
            rj.m, rj.layer, rj.f64, rj.M, rj.M_d, rj.parts, rj.ldin = m, layer, \
                floating is double, N, N, parts, ldx
            rj.inp, rj.out, rj.h, rj.work = <const char*>xin, NULL, <char*>hl, <char*>work
            rj.gates = <char*>(gates + layer * N * H) if gates != NULL else NULL
            rj.gplane = m.num_layers * N * H
            cgru_parallel(nth if parts > 1 else 1, 1, parts, _rows_item, &rj)
            continue
        if floating is float:
            uj.parts = _units_parts(c, _w_hh_any(&m.layers_f32[layer]),
                                    _w_ih_any(&m.layers_f32[layer]), N, nth, 6.0 * N * H * (I + H),
                                    _step_bytes_share(&m.layers_f32[layer]))
        else:
            uj.parts = _units_parts(c, m.layers_f64[layer].w_hh_packed,
                                    m.layers_f64[layer].w_ih_packed, N, nth, 6.0 * N * H * (I + H))
        if not c.reset_after and _is_lowp(m, layer):
            uj.parts = 1           # _units_reset_before has float weights only
        if uj.parts > 1:
            uj.H, uj.f64, uj.M, uj.inp, uj.ldin = H, floating is double, 0, NULL, 0
            uj.u.layer = <const void*>&m.layers_f32[layer] if floating is float else \
                <const void*>&m.layers_f64[layer]
            uj.u.T, uj.u.N, uj.u.x, uj.u.ldx = 1, N, <const void*>xin, ldx
            uj.u.gxw, uj.u.gx, uj.u.gx_t, uj.u.gx_n = <void*>work, NULL, 0, 0
            uj.u.h[0], uj.u.h[1] = <void*>hl, <void*>(work + 6 * N * H)
            uj.u.y, uj.u.y_t, uj.u.y_n, uj.u.lengths, uj.u.reverse = NULL, 0, 0, NULL, 0
            uj.u.gh = <void*>(work + 3 * N * H)
            # reset_after=False: two calls, h in place, r*h in h[1]
            cgru_parallel(nth, 1 if c.reset_after else 2, uj.parts, _units_item, &uj)
            if c.reset_after:
                memcpy(hl, work + 6 * N * H, N * H * sizeof(floating))
            continue
        if floating is float:
            _k.step_f32(&m.layers_f32[layer], N, xin, ldx, hl, work)
        else:
            _k.step_f64(&m.layers_f64[layer], N, xin, ldx, hl, work)
    if y != NULL:
        memcpy(y, h + (m.num_layers - 1) * N * H, N * H * sizeof(floating))
    return 0


cdef int cgru_model_step_f32(const cgru_model* m, Py_ssize_t N, const float* x, float* h,
        float* y, float* work) noexcept nogil:
    return _model_step(m, N, x, h, y, work, NULL)


cdef int cgru_model_step_f64(const cgru_model* m, Py_ssize_t N, const double* x, double* h,
        double* y, double* work) noexcept nogil:
    return _model_step(m, N, x, h, y, work, NULL)


# ------------------------------------------------- one layer at a time (private)
# For _compiled's Ctrl-C chunks: the pieces of _model_sequence, called per row block
# and per time (or sample) block with a signal check between (cgru_layer_api in
# src/cgru/_core.pxd; not part of the C API).

cdef void _api_projection_f32(const cgru_model* m, int layer, Py_ssize_t M, Py_ssize_t M_d,
        const float* x, Py_ssize_t ldx, float* gx) noexcept nogil:
    _layer_projection(m, layer, M, M_d, x, ldx, gx)


cdef void _api_projection_f64(const cgru_model* m, int layer, Py_ssize_t M, Py_ssize_t M_d,
        const double* x, Py_ssize_t ldx, double* gx) noexcept nogil:
    _layer_projection(m, layer, M, M_d, x, ldx, gx)


cdef void _api_recurrences_f32(const cgru_model* m, int layer, const cgru_layer_block* q,
                               float* scratch) noexcept nogil:
    _layer_recurrences(m, layer, q, scratch, _layer_units(m, layer, q.T[0], q.N),
                       <const float*>NULL, 0, 0)


cdef void _api_recurrences_f64(const cgru_model* m, int layer, const cgru_layer_block* q,
                               double* scratch) noexcept nogil:
    _layer_recurrences(m, layer, q, scratch, _layer_units(m, layer, q.T[0], q.N),
                       <const double*>NULL, 0, 0)


cdef cgru_layer_api _layer_api
_layer_api.projection_f32 = _api_projection_f32
_layer_api.projection_f64 = _api_projection_f64
_layer_api.recurrences_f32 = _api_recurrences_f32
_layer_api.recurrences_f64 = _api_recurrences_f64
_LAYER_API = PyCapsule_New(<void*>&_layer_api, b"cgru.layer_api", NULL)


# ------------------------------------------------------------- return_gates
# The same whole-model calls (gates != NULL above), also writing the gates r, z, n
# the kernels computed (the table's recurrence_gates / step_gates: the normal gate
# loops' _Gates specialization, pyx/core.pxi).  Sequence: gates (3, num_layers, *y's
# shape), rows as y's (D*H per row), zeros past a sample's length.  Step: gates
# (3, num_layers, N, H).

cdef int cgru_model_sequence_gates_f32(const cgru_model* m, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const float* x, float* h, float* y, const int64_t* lengths,
        float* work, float* gates) noexcept nogil:
    return _model_sequence(m, T, N, batch_first, x, h, y, lengths, work, gates)


cdef int cgru_model_sequence_gates_f64(const cgru_model* m, Py_ssize_t T, Py_ssize_t N,
        int batch_first, const double* x, double* h, double* y, const int64_t* lengths,
        double* work, double* gates) noexcept nogil:
    return _model_sequence(m, T, N, batch_first, x, h, y, lengths, work, gates)


cdef int cgru_model_step_gates_f32(const cgru_model* m, Py_ssize_t N, const float* x,
        float* h, float* y, float* work, float* gates) noexcept nogil:
    return _model_step(m, N, x, h, y, work, gates)


cdef int cgru_model_step_gates_f64(const cgru_model* m, Py_ssize_t N, const double* x,
        double* h, double* y, double* work, double* gates) noexcept nogil:
    return _model_step(m, N, x, h, y, work, gates)


# ============================================================ ISA dispatch

_ISA_LEVEL = {"baseline": 0, "avx2": 1, "avx512": 2}


def weight_paths():
    """The kernel path each reduced-precision weight format runs with the current
    ISA, e.g. {'float16': 'avx512-vcvtph2ps', 'bfloat16': 'avx512-bf16', 'int8':
    'avx512-vnni'}; 'portable' is the plain C path (docs/weights.md)."""
    return {name: (<bytes>_k.weights_path(code)).decode()
            for name, code in (("float16", CGRU_WEIGHTS_FLOAT16),
                               ("bfloat16", CGRU_WEIGHTS_BFLOAT16), ("int8", CGRU_WEIGHTS_INT8))}


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
