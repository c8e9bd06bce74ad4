# cython: language_level=3
"""Python-facing objects over the kernels: compiled weights and streams.

This layer owns memory and the GIL; the maths is in ``pyx/core.pxi``.  Every
kernel call runs inside ``with nogil``.  ``cgru.gru`` validates the user's
arguments and converts them (with messages in the user's terms); this layer
still checks every array it hands to the kernels as a raw pointer (dtype,
contiguity, shape, lengths' range), since ``_Net`` and ``Stream`` are also
reachable directly and from pickles.  ``Stream.step`` checks its own argument
cheaply.
"""

import threading

import numpy as np
cimport numpy as cnp
from cpython.exc cimport PyErr_CheckSignals
from cpython.pycapsule cimport PyCapsule_GetPointer

from cgru._threads import get_num_threads as _num_threads
from cgru.kernels import _split_limits
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset
from libc.stdint cimport int64_t

from cgru.kernels cimport (
    cgru_cell, cgru_layer_f32, cgru_layer_f64, cgru_model, cgru_model_workspace,
    cgru_model_sequence_f32, cgru_model_sequence_f64, cgru_model_step_f32, cgru_model_step_f64,
    cgru_model_sequence_gates_f32, cgru_model_sequence_gates_f64, cgru_model_step_gates_f32,
    cgru_model_step_gates_f64,
    cgru_activate_f32, cgru_activate_f64,
)
from cgru._core cimport cgru_layer_api, cgru_layer_block
from cgru import kernels as _kernels
from cgru._validate import check_memory

cnp.import_array()

# one layer of a whole model at a time, threaded (the Ctrl-C chunks below)
cdef const cgru_layer_api* _layer = <const cgru_layer_api*>PyCapsule_GetPointer(
    _kernels._LAYER_API, b"cgru.layer_api")

cdef extern from "c/lowp.h":
    size_t cgru_lowp_packed_bytes(int fmt, Py_ssize_t G, Py_ssize_t H, Py_ssize_t K) noexcept nogil
    int cgru_lowp_pack(int fmt, Py_ssize_t G, Py_ssize_t H, Py_ssize_t K, const float* w,
                       Py_ssize_t ldw, const float* scales, void* packed) noexcept nogil
    void cgru_lowp_unpack(int fmt, Py_ssize_t G, Py_ssize_t H, Py_ssize_t K, const void* packed,
                          float* w, Py_ssize_t ldw, float* scales) noexcept nogil
    Py_ssize_t cgru_lowp_hpad(Py_ssize_t H) noexcept nogil
    Py_ssize_t cgru_lowp_kpad(int fmt, Py_ssize_t K) noexcept nogil

WEIGHT_FORMAT_NAMES = {1: "float16", 2: "bfloat16", 3: "int8"}


def _pack_reduced(int fmt, w, scales, Py_ssize_t H, what):
    """W (3H, K) float32 in the packed layout of pyx/c/lowp.h (a 64-byte aligned
    uint8 array): float16 / bfloat16 rounded to nearest even, int8 with the given
    per-row scales (None: max|row| / 127)."""
    cdef Py_ssize_t K = w.shape[1]
    cdef size_t n = cgru_lowp_packed_bytes(fmt, 3, H, K)
    raw = np.empty(n + 64, dtype=np.uint8)
    off = (-raw.ctypes.data) % 64
    out = raw[off:off + n]
    cdef const float* ps = NULL
    if scales is not None:
        scales = np.ascontiguousarray(scales, dtype=np.float32)
        if scales.shape != (3 * H,):
            raise ValueError(f"_Net: {what}: int8 scales must have shape {(3 * H,)}, got "
                             f"{scales.shape}")
        ps = <const float*>cnp.PyArray_DATA(scales)
    cdef int rc = cgru_lowp_pack(fmt, 3, H, K, <const float*>cnp.PyArray_DATA(w), K, ps,
                                 cnp.PyArray_DATA(out))
    if rc == -2:
        name = WEIGHT_FORMAT_NAMES[fmt]
        why = ("|w| >= 65520 or not finite: outside float16's range" if fmt == 1 else
               "a weight or a given scale is not finite (or a scale < 0)")
        raise ValueError(f"weights={name!r}: {what} cannot be stored as {name}: {why}")
    if rc != 0:
        raise ValueError(f"_Net: unknown weight format {fmt}")
    return out


def _unpack_reduced(int fmt, packed, Py_ssize_t H, Py_ssize_t K):
    """(W (3H, K) float32: the values the kernels multiply by, int8 scales or None)."""
    w = np.empty((3 * H, K), dtype=np.float32)
    s = np.empty(3 * H, dtype=np.float32)
    cgru_lowp_unpack(fmt, 3, H, K, cnp.PyArray_DATA(packed), <float*>cnp.PyArray_DATA(w), K,
                     <float*>cnp.PyArray_DATA(s))
    return w, (s if fmt == 3 else None)


def _pack(w, Py_ssize_t H):
    """A weight (3H, K) in the kernels' packed layout (include/cgru.h): per
    gate, panels of P = 64 / itemsize outputs, each (K, P) contiguous."""
    K = w.shape[1]
    P = 64 // w.dtype.itemsize
    Hp = -(-H // P) * P
    p = np.zeros((3, Hp, K), dtype=w.dtype)
    p[:, :H, :] = w.reshape(3, H, K)
    return np.ascontiguousarray(p.reshape(3, Hp // P, P, K).transpose(0, 1, 3, 2))


def _kernel_form(w_ih, w_hh, b_ih, b_hh, Py_ssize_t H, bint reset_after, dtype):
    """One layer and direction in the form the kernels read: private copies of
    w_ih, w_hh, the folded biases b_x = (b_ir + b_hr, b_iz + b_hz, b_in [+ b_hn])
    and b_hn (reset_after, else zeros), and the packed w_hh, w_ih."""
    w_ih = np.ascontiguousarray(w_ih, dtype=dtype).copy()
    w_hh = np.ascontiguousarray(w_hh, dtype=dtype).copy()
    b_x = np.zeros(3 * H, dtype=dtype)
    b_hn = np.zeros(H, dtype=dtype)
    if b_ih is not None:
        b_x += b_ih
    if b_hh is not None:
        b_x[:2 * H] += b_hh[:2 * H]
        if reset_after:
            b_hn[:] = b_hh[2 * H:]
        else:
            b_x[2 * H:] += b_hh[2 * H:]
    return w_ih, w_hh, b_x, b_hn, _pack(w_hh, H), _pack(w_ih, H)


ARRAYS_PER_LAYER = 6        # _kernel_form's arrays, in the layer structs' pointer order;
                            # reduced precision: None, None, b_x, b_hn, w_hh_q, w_ih_q
NUM_ACTIVATION_KINDS = 11   # cgru_activation: CGRU_SIGMOID (0) .. CGRU_SOFTPLUS (10)

# Ctrl-C: a long forward runs in chunks of about this many multiply-adds (10-30 ms
# of one Zen 5 core) and, in the main thread, takes the GIL between chunks only
# to check for signals; a call of one chunk runs exactly as before.
cdef Py_ssize_t _chunk_work = 1 << 28


def _set_chunk_work(Py_ssize_t work):
    """Set the chunk size in multiply-adds (tests, benchmarks); returns the old one."""
    global _chunk_work
    old, _chunk_work = _chunk_work, min(max(1, work), 1 << 60)   # 4 * work must not overflow
    return old


cdef inline void _chunks(Py_ssize_t N, Py_ssize_t H, Py_ssize_t n_in, Py_ssize_t* rows,
                         Py_ssize_t* steps, Py_ssize_t* samples) noexcept nogil:
    """Rows per input-projection chunk, steps per recurrence chunk and samples
    per one-step chunk, for about _chunk_work multiply-adds each.  A step costs
    N (3H H + 32 H) plus a fixed ~4096 (calls, loop); a projected row 3H n_in at
    roughly four times the recurrence's speed (one large GEMM)."""
    cdef Py_ssize_t per_sample = 3 * H * H + 32 * H
    rows[0] = max(1, 4 * _chunk_work // (3 * H * n_in))
    steps[0] = max(1, _chunk_work // (N * per_sample + 4096))
    samples[0] = N if steps[0] > 1 or N * per_sample <= _chunk_work else \
        max(1, _chunk_work // per_sample)
NUM_ACTIVATION_KINDS = 11   # cgru_activation: CGRU_SIGMOID (0) .. CGRU_SOFTPLUS (10)



cdef inline int _signals(bint check) except -1 nogil:
    """Between chunks, in the main thread: take the GIL to run signal handlers."""
    if check:
        with gil:
            PyErr_CheckSignals()
    return 0


cdef inline void _shift_lengths(const int64_t* lens, int64_t* out, Py_ssize_t n0,
                                Py_ssize_t n1, Py_ssize_t t0, Py_ssize_t Tc) noexcept nogil:
    """Samples n0..n1's lengths within the time block [t0, t0 + Tc)."""
    cdef Py_ssize_t n
    cdef int64_t k
    for n in range(n0, n1):
        k = lens[n] - t0
        out[n] = 0 if k < 0 else (Tc if k > Tc else k)


def _check_kind(kind, what):
    if not 0 <= kind < NUM_ACTIVATION_KINDS:
        raise ValueError(f"{what}: activation kind must be in [0, {NUM_ACTIVATION_KINDS}), "
                         f"got {kind}")


def _check_net_array(a, name, dtype, shape, bint writeable=False):
    """``a`` is a native-byte-order C-contiguous ndarray of ``dtype`` and ``shape``
    (``shape`` None: any): what the kernels read (and write) through a raw pointer."""
    if not isinstance(a, np.ndarray) or a.dtype != dtype:
        raise TypeError(f"{name} must be a {dtype} ndarray, got "
                        f"{getattr(a, 'dtype', type(a).__name__)}")
    if not (cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_ISNOTSWAPPED(a)) or \
            (writeable and not cnp.PyArray_ISWRITEABLE(a)):
        raise ValueError(f"{name} must be a C-contiguous{' writeable' if writeable else ''} "
                         f"array in native byte order")
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")


def _check_layer(k, n_in, H, weights, cell):
    """The shapes of one (layer, direction)'s weights and its activation kinds."""
    for name, a, shape in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), weights,
                              ((3 * H, n_in), (3 * H, H), (3 * H,), (3 * H,))):
        if a is not None and np.shape(a) != shape:
            raise ValueError(f"_Net: {name} of layer*direction {k} must have shape "
                             f"{shape}, got {np.shape(a)}")
    f_kind, f_alpha, f_beta, g_kind, g_alpha, g_beta, clip = cell
    _check_kind(f_kind, "_Net")
    _check_kind(g_kind, "_Net")
    if clip is not None and not clip >= 0:
        raise ValueError(f"_Net: clip must be >= 0 (0: no clip), got {clip}")


cdef void _set_layer(void* layer, cgru_cell cell, arrays) except *:
    """Fill one cgru_layer_f32 / _f64: the cell, then the six weight pointers, which
    the two structs lay out alike (w_ih, w_hh, b_x, b_hn, w_hh_packed, w_ih_packed)."""
    cdef cgru_layer_f32* L = <cgru_layer_f32*>layer      # the f64 layout is the same
    cdef const void** p = <const void**>&L.w_ih
    L.cell = cell
    for i in range(ARRAYS_PER_LAYER):
        p[i] = cnp.PyArray_DATA(arrays[i])


cdef void _set_reduced_layer(cgru_layer_f32* L, cgru_cell cell, int fmt, arrays) except *:
    """Fill one float32 layer with reduced-precision weights: the cell, the biases,
    the format and the packed w_hh_q / w_ih_q (w_ih, w_hh, w_*_packed stay NULL);
    int8: w_*_scale point at the scales right after the packed panels."""
    L.cell = cell
    L.b_x = <const float*>cnp.PyArray_DATA(arrays[2])
    L.b_hn = <const float*>cnp.PyArray_DATA(arrays[3])
    L.weight_format = fmt
    L.w_hh_q = cnp.PyArray_DATA(arrays[4])
    L.w_ih_q = cnp.PyArray_DATA(arrays[5])
    if fmt == 3:
        H = cell.hidden_size
        L.w_hh_scale = <const float*>(<const char*>L.w_hh_q +
                                      3 * cgru_lowp_hpad(H) * cgru_lowp_kpad(3, H))
        L.w_ih_scale = <const float*>(<const char*>L.w_ih_q +
                                      3 * cgru_lowp_hpad(H) * cgru_lowp_kpad(3, cell.input_size))


cdef class _Net:
    """The weights of a GRU in kernel form: one cgru_layer struct per layer and
    direction (one array, of the dtype's struct), pointing into arrays this
    object owns (never the caller's), seen by the kernels as one cgru_model."""

    cdef readonly int num_layers, num_directions, reset_after
    cdef readonly Py_ssize_t input_size, hidden_size
    cdef readonly object dtype
    cdef readonly int weight_format   # cgru_weight_format: 0 native, 1 f16, 2 bf16, 3 int8
    cdef int type_num
    cdef list _arrays                 # keeps the buffers the structs point into:
                                      # per layer*direction _kernel_form's 6 arrays
    cdef void* _layers                # num_layers*num_directions cgru_layer_f32 / _f64
    cdef cgru_model _m                # the whole net for the kernels (owner NULL)

    def __cinit__(self, weights, Py_ssize_t input_size, Py_ssize_t hidden_size,
                  int num_layers, int num_directions, bint reset_after, dtype, cells,
                  bint reverse_only=False, int weight_format=0, scales=None):
        """weights: list over (layer, direction) of (w_ih, w_hh, b_ih, b_hh) arrays
        in the canonical layout (b_* may be None); cells: matching list of
        (f_kind, f_alpha, f_beta, g_kind, g_alpha, g_beta, clip).  weight_format
        (float32 nets): 1 float16, 2 bfloat16, 3 int8 stores the weight matrices so;
        scales: None or per (layer, direction) the int8 (s_ih, s_hh) row scales."""
        cdef Py_ssize_t H = hidden_size, k, n = num_layers * num_directions
        cdef cgru_cell cell
        # a _Net is also built from pickles: nothing the kernels read unchecked
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise TypeError(f"_Net: dtype must be float32 or float64, got {np.dtype(dtype)}")
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size),
                            ("num_layers", num_layers)):
            if value < 1:
                raise ValueError(f"_Net: {name} must be >= 1, got {value}")
        if num_directions not in (1, 2):
            raise ValueError(f"_Net: num_directions must be 1 or 2, got {num_directions}")
        if weight_format not in (0, 1, 2, 3):
            raise ValueError(f"_Net: weight_format must be 0..3, got {weight_format}")
        if weight_format and np.dtype(dtype) != np.float32:
            raise ValueError("_Net: reduced-precision weights need a float32 net")
        if scales is not None and (weight_format != 3 or len(scales) != n):
            raise ValueError("_Net: scales are per layer*direction (s_ih, s_hh), int8 only")
        if len(weights) != n or len(cells) != n:
            raise ValueError(f"_Net: weights and cells must have num_layers*num_directions="
                             f"{n} entries, got {len(weights)} and {len(cells)}")
        self.num_layers = num_layers
        self.num_directions = num_directions
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.reset_after = reset_after
        self.dtype = np.dtype(dtype)
        self.weight_format = weight_format
        self.type_num = self.dtype.num
        self._arrays = []
        cdef size_t size = sizeof(cgru_layer_f32) if self.dtype == np.float32 else \
            sizeof(cgru_layer_f64)
        self._layers = calloc(n, size)
        if self._layers == NULL:
            raise MemoryError()
        for k in range(n):
            n_in = input_size if k < num_directions else num_directions * H
            _check_layer(k, n_in, H, weights[k], cells[k])
            arrays = _kernel_form(*weights[k], H, reset_after, self.dtype)
            if weight_format:
                # reduced precision: the packed form only (no float32 copies)
                s_ih, s_hh = scales[k] if scales is not None else (None, None)
                arrays = (None, None, arrays[2], arrays[3],
                          _pack_reduced(weight_format, arrays[1], s_hh, H,
                                        f"weight_hh of layer*direction {k}"),
                          _pack_reduced(weight_format, arrays[0], s_ih, H,
                                        f"weight_ih of layer*direction {k}"))
            self._arrays.extend(arrays)
            f_kind, f_alpha, f_beta, g_kind, g_alpha, g_beta, clip = cells[k]
            cell = cgru_cell(input_size=n_in, hidden_size=H, reset_after=reset_after,
                             f_kind=f_kind, f_alpha=f_alpha, f_beta=f_beta, g_kind=g_kind,
                             g_alpha=g_alpha, g_beta=g_beta,
                             clip=clip if clip is not None else 0.0)
            if weight_format:
                _set_reduced_layer(<cgru_layer_f32*>self._layers + k, cell, weight_format,
                                   arrays)
            else:
                _set_layer(<char*>self._layers + k * size, cell, arrays)
        memset(&self._m, 0, sizeof(cgru_model))
        self._m.itemsize = self.dtype.itemsize
        self._m.num_layers = num_layers
        self._m.num_directions = num_directions
        self._m.reverse_only = reverse_only and num_directions == 1
        self._m.input_size = input_size
        self._m.hidden_size = hidden_size
        if self._m.itemsize == 4:
            self._m.layers_f32 = <const cgru_layer_f32*>self._layers
        else:
            self._m.layers_f64 = <const cgru_layer_f64*>self._layers

    def __dealloc__(self):
        free(self._layers)

    @property
    def reverse_only(self):
        """One direction, run back to front (ONNX "reverse")."""
        return bool(self._m.reverse_only)

    def __reduce__(self):
        """Pickle as constructor arguments made from the kernel-form arrays: b_x
        goes in as b_ih and b_hn as the n-part of an otherwise zero b_hh, so
        folding them again gives the same values (adding zeros is exact)."""
        cdef const cgru_cell* c
        cdef int k
        weights, cells, scales, a = [], [], [], self._arrays
        for k in range(self.num_layers * self.num_directions):
            j = ARRAYS_PER_LAYER * k
            w_ih, w_hh, s_ih, s_hh = self.stored_weights(k)
            b_x, b_hn = a[j + 2], a[j + 3]
            weights.append((w_ih, w_hh, b_x,
                            np.concatenate((np.zeros(2 * self.hidden_size, self.dtype), b_hn))))
            scales.append((s_ih, s_hh))
            c = self._cell(k)
            cells.append((c.f_kind, c.f_alpha, c.f_beta, c.g_kind, c.g_alpha, c.g_beta, c.clip))
        return (_Net, (weights, self.input_size, self.hidden_size, self.num_layers,
                       self.num_directions, self.reset_after, self.dtype, cells,
                       self.reverse_only, self.weight_format,
                       scales if self.weight_format == 3 else None))

    def stored_weights(self, int k):
        """(w_ih, w_hh, s_ih, s_hh) of layer*direction k: the weight matrices as the
        kernels multiply by them (copies in the net's dtype) and, for int8, the (3H,)
        row scales (else None)."""
        if not 0 <= k < self.num_layers * self.num_directions:
            raise IndexError(f"stored_weights: no layer*direction {k}")
        j = ARRAYS_PER_LAYER * k
        a = self._arrays
        if not self.weight_format:
            return a[j].copy(), a[j + 1].copy(), None, None
        H = self.hidden_size
        n_in = self.input_size if k < self.num_directions else self.num_directions * H
        w_hh, s_hh = _unpack_reduced(self.weight_format, a[j + 4], H, H)
        w_ih, s_ih = _unpack_reduced(self.weight_format, a[j + 5], H, n_in)
        return w_ih, w_hh, s_ih, s_hh

    cdef const cgru_cell* _cell(self, int k) noexcept nogil:
        return &self._m.layers_f32[k].cell if self._m.itemsize == 4 else \
            &self._m.layers_f64[k].cell

    def forward(self, cnp.ndarray x, cnp.ndarray h, lengths, bint batch_first, gates=None):
        """Run all layers.  x: C-contiguous (T, N, I) or (N, T, I) in the net's
        dtype; h: C-contiguous (L*D, N, H), overwritten with h_n; lengths: None
        or C-contiguous int64 (N,).  Returns y, (T, N, D*H) or (N, T, D*H).
        gates: None, or a C-contiguous writeable (3, L, *y.shape) array that
        receives r, z, n of every layer, step and direction (zeros past lengths)."""
        cdef Py_ssize_t T, N, H = self.hidden_size, D = self.num_directions
        cdef int bf = batch_first
        cdef const int64_t* lens = NULL
        _check_net_array(x, "x", self.dtype, None)
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"x must be 3-D with {self.input_size} features, got {(<object>x).shape}")
        if batch_first:
            N, T = x.shape[0], x.shape[1]
        else:
            T, N = x.shape[0], x.shape[1]
        _check_net_array(h, "h", self.dtype, (self.num_layers * D, N, H), writeable=True)
        if lengths is not None:
            _check_net_array(lengths, "lengths", np.dtype(np.int64), (N,))
            # a private copy: the kernels index with it, without the GIL, while
            # another thread could change the caller's array after this check
            lengths = lengths.copy()
            if N and (lengths.min() < 0 or lengths.max() > T):
                raise ValueError(f"lengths must be in [0, {T}]")
        shape = (N, T, D * H) if batch_first else (T, N, D * H)
        cdef void* pg = NULL
        if gates is not None:
            _check_net_array(gates, "gates", self.dtype, (3, self.num_layers) + shape,
                             writeable=True)
            pg = cnp.PyArray_DATA(<cnp.ndarray>gates)
        # a call longer than one chunk (_chunks) runs layer by layer in chunks,
        # with a signal check between them (Ctrl-C); a one-chunk call is one C call
        cdef Py_ssize_t rows, steps, samples, M = T * N
        _chunks(N, H, max(self.input_size, D * H), &rows, &steps, &samples)
        # (gates asked for: one C call, the gates kernels are not chunked)
        cdef bint chunked = (rows < M or steps < T or samples < N) and gates is None
        cdef bint transpose = chunked and bf and N > 1 and steps < T
        # y, the workspace (the projections gx and per-direction scratch; the
        # chunked path allocates the same as two arrays), the transposed copies
        cdef Py_ssize_t wlen = cgru_model_workspace(&self._m, T, N)
        cdef double nbytes = (<double>M * D * H * (2 if transpose else 1) + wlen +
                              (<double>M * self.input_size if transpose else 0)) * \
            self._m.itemsize
        if nbytes >= 64 * 2**20:
            check_memory(nbytes, f"a sequence of {T} steps for {N} samples")
        y = np.empty(shape, dtype=self.dtype)
        if T * N == 0:
            return y
        if lengths is not None:
            lens = <const int64_t*>cnp.PyArray_DATA(lengths)
        cdef cgru_model m = self._m          # this call's copy: its own thread count
        m.num_threads = _num_threads()
        if chunked:
            return self._forward_in_chunks(x, h, lengths, bf, y, rows, steps, samples,
                                           transpose, &m)
        work = np.empty(wlen, dtype=self.dtype)
        cdef void* px = cnp.PyArray_DATA(x)
        cdef void* py = cnp.PyArray_DATA(y)
        cdef void* ph = cnp.PyArray_DATA(h)
        cdef void* pw = cnp.PyArray_DATA(work)
        with nogil:
            if pg != NULL:        # the same kernels, also writing the gates
                if self._m.itemsize == 4:
                    cgru_model_sequence_gates_f32(&m, T, N, bf, <const float*>px,
                                                  <float*>ph, <float*>py, lens, <float*>pw,
                                                  <float*>pg)
                else:
                    cgru_model_sequence_gates_f64(&m, T, N, bf, <const double*>px,
                                                  <double*>ph, <double*>py, lens, <double*>pw,
                                                  <double*>pg)
            elif self._m.itemsize == 4:
                cgru_model_sequence_f32(&m, T, N, bf, <const float*>px, <float*>ph,
                                        <float*>py, lens, <float*>pw)
            else:
                cgru_model_sequence_f64(&m, T, N, bf, <const double*>px, <double*>ph,
                                        <double*>py, lens, <double*>pw)
        return y

    cdef _forward_in_chunks(self, cnp.ndarray x, cnp.ndarray h, lengths, int bf, y,
                            Py_ssize_t rows, Py_ssize_t steps, Py_ssize_t samples,
                            bint transpose, const cgru_model* m):
        """forward in blocks, on the call's threads (m), the GIL taken between blocks,
        in the main thread, only to check for signals: one direction, whole steps:
        the whole model on time blocks; else layer by layer (_layers_in_blocks).  The
        recurrence splits time only in the time-major layout: a batch-major call of
        several samples runs transposed."""
        cdef Py_ssize_t T, N, D = self.num_directions
        if bf:
            N, T = x.shape[0], x.shape[1]
        else:
            T, N = x.shape[0], x.shape[1]
        cdef bint check = threading.current_thread() is threading.main_thread()
        cdef const int64_t* lens = NULL
        cdef int64_t* clens = NULL
        if lengths is not None:
            lens = <const int64_t*>cnp.PyArray_DATA(lengths)
            chunk_lengths = np.empty(D * N, dtype=np.int64)      # per direction
            clens = <int64_t*>cnp.PyArray_DATA(chunk_lengths)
        if transpose:
            x = np.ascontiguousarray((<object>x).transpose(1, 0, 2))
            bf = 0
            yt = np.empty((T, N, D * self.hidden_size), dtype=self.dtype)
        else:
            yt = y
        if D == 1 and samples == N:
            self._model_in_time_blocks(x, h, T, N, lens, clens, yt, steps, check, m)
        else:
            self._layers_in_blocks(x, h, T, N, bf, lens, clens, yt, rows, steps, samples,
                                   check, m)
        if transpose:
            y[...] = yt.transpose(1, 0, 2)
        return y

    cdef _layers_in_blocks(self, cnp.ndarray x, cnp.ndarray h, Py_ssize_t T, Py_ssize_t N,
                           int bf, const int64_t* lens, int64_t* clens, yt, Py_ssize_t rows,
                           Py_ssize_t steps, Py_ssize_t samples, bint check,
                           const cgru_model* m):
        """Layer by layer: the input projections of all directions in blocks of
        ``rows`` rows, then the recurrences of all directions together in blocks of
        ``steps`` steps (a reverse direction's blocks back to front, lengths shifted
        into each block) or, when one step is a chunk, of ``samples`` samples.
        Time-major, or batch-major in one time block and one sample block."""
        cdef Py_ssize_t H = self.hidden_size, D = self.num_directions, G = 3 * H
        cdef Py_ssize_t M = T * N, isz = self._m.itemsize
        gx = np.empty(D * M * G, dtype=self.dtype)
        work = np.empty(cgru_model_workspace(m, 0, min(N, samples)), dtype=self.dtype)
        cdef char* px = <char*>cnp.PyArray_DATA(x)
        cdef char* py = <char*>cnp.PyArray_DATA(yt)
        cdef char* pgx = <char*>cnp.PyArray_DATA(gx)
        cdef char* ph = <char*>cnp.PyArray_DATA(h)
        cdef void* pw = cnp.PyArray_DATA(work)
        cdef const char* inp
        cdef Py_ssize_t ldin, r0, r1, t0, n0, n1, c, Tc, nc = (T + steps - 1) // steps
        cdef int layer, d
        cdef cgru_layer_block q
        if bf:
            q.gx_t, q.gx_n, q.y_t, q.y_n = G, T * G, D * H, T * D * H
        else:
            q.gx_t, q.gx_n, q.y_t, q.y_n = N * G, G, N * D * H, D * H
        with nogil:
            for layer in range(self.num_layers):
                inp = px if layer == 0 else py
                ldin = self.input_size if layer == 0 else D * H
                r0 = 0
                while r0 < M:              # all projections first: y is then free
                    r1 = min(M, r0 + rows)
                    if isz == 4:
                        _layer.projection_f32(m, layer, r1 - r0, M,
                                              <const float*>(inp + r0 * ldin * isz), ldin,
                                              <float*>(pgx + r0 * G * isz))
                    else:
                        _layer.projection_f64(m, layer, r1 - r0, M,
                                              <const double*>(inp + r0 * ldin * isz), ldin,
                                              <double*>(pgx + r0 * G * isz))
                    r0 = r1
                    _signals(check)
                for c in range(nc):
                    n0 = 0
                    while n0 < N:          # all samples, unless one step is a chunk
                        n1 = min(N, n0 + samples)
                        q.N = n1 - n0
                        for d in range(D):
                            # time block c, back to front when reversed
                            t0 = (nc - 1 - c) * steps if d == 1 or self._m.reverse_only \
                                else c * steps
                            Tc = min(T, t0 + steps) - t0
                            q.T[d] = Tc
                            q.gx[d] = pgx + ((d * M + t0 * N + n0) * G) * isz
                            q.h[d] = ph + ((layer * D + d) * N + n0) * H * isz
                            q.y[d] = py + ((t0 * N + n0) * D * H + d * H) * isz
                            q.lengths[d], q.gates[d] = NULL, NULL
                            if lens != NULL:
                                _shift_lengths(lens, clens + d * N, n0, n1, t0, Tc)
                                q.lengths[d] = clens + d * N + n0
                        if isz == 4:
                            _layer.recurrences_f32(m, layer, &q, <float*>pw)
                        else:
                            _layer.recurrences_f64(m, layer, &q, <double*>pw)
                        n0 = n1
                        _signals(check)

    cdef _model_in_time_blocks(self, cnp.ndarray x, cnp.ndarray h, Py_ssize_t T,
                               Py_ssize_t N, const int64_t* lens, int64_t* clens, yt,
                               Py_ssize_t steps, bint check, const cgru_model* m):
        """One direction (forward or reverse-only): the whole model, threads and
        all (``m``), on blocks of ``steps`` time steps, time-major, the state
        carried in h (back to front when reversed), with a signal check between.
        (x is time-major here, or batch-major with N = 1: the same rows.)"""
        cdef Py_ssize_t H = self.hidden_size
        cdef Py_ssize_t I = self.input_size, isz = self._m.itemsize
        cdef Py_ssize_t nc = (T + steps - 1) // steps, c, t0, t1, Tc
        cdef bint rev = self._m.reverse_only
        work = np.empty(cgru_model_workspace(m, steps, N), dtype=self.dtype)
        cdef char* px = <char*>cnp.PyArray_DATA(x)
        cdef char* py = <char*>cnp.PyArray_DATA(yt)
        cdef char* ph = <char*>cnp.PyArray_DATA(h)
        cdef char* pw = <char*>cnp.PyArray_DATA(work)
        with nogil:
            for c in range(nc):
                t0 = (nc - 1 - c) * steps if rev else c * steps
                t1 = min(T, t0 + steps)
                Tc = t1 - t0
                if lens != NULL:
                    _shift_lengths(lens, clens, 0, N, t0, Tc)
                if isz == 4:
                    cgru_model_sequence_f32(m, Tc, N, 0, <const float*>(px + t0 * N * I * isz),
                                            <float*>ph, <float*>(py + t0 * N * H * isz),
                                            clens, <float*>pw)
                else:
                    cgru_model_sequence_f64(m, Tc, N, 0, <const double*>(px + t0 * N * I * isz),
                                            <double*>ph, <double*>(py + t0 * N * H * isz),
                                            clens, <double*>pw)
                _signals(check)

    def _model_address(self):
        """The address of this net's cgru_model (owner NULL), for cgru.capi.  It and
        the layer structs live, unchanged, as long as this object."""
        return <size_t>&self._m


def activate(int kind, double alpha, double beta, x):
    """Apply activation ``kind`` elementwise to a float32 or float64 array."""
    _check_kind(kind, "activate")
    a = np.ascontiguousarray(x)
    if a.dtype != np.float32 and a.dtype != np.float64:
        raise TypeError(f"x must be float32 or float64, got {a.dtype}")
    a = a.astype(a.dtype.newbyteorder("="), copy=False)
    out = np.empty_like(a)
    cdef Py_ssize_t n = a.size
    cdef void* px = cnp.PyArray_DATA(a)
    cdef void* po = cnp.PyArray_DATA(out)
    cdef bint f32 = a.dtype == np.float32
    with nogil:
        if f32:
            cgru_activate_f32(kind, alpha, beta, <const float*>px, <float*>po, n)
        else:
            cgru_activate_f64(kind, alpha, beta, <const double*>px, <double*>po, n)
    return out


cdef class Stream:
    """Stateful step-by-step inference with a unidirectional GRU.

    Made by ``GRU.stream(batch_size, h0)``.  It keeps the weights the model had
    when the stream was made.  One stream is used by one thread at a time
    (a concurrent call raises RuntimeError); make one stream per thread.
    """

    cdef readonly _Net net
    cdef readonly Py_ssize_t batch_size
    cdef readonly bint batch_first
    cdef cnp.ndarray _h          # (L, N, H) state
    cdef cnp.ndarray _work       # step workspace
    cdef int type_num
    cdef bint _busy
    cdef bint _may_split         # a step is big enough for the kernels to split it

    def __cinit__(self, _Net net not None, Py_ssize_t batch_size, h0, bint batch_first):
        if net.num_directions != 1 or net.reverse_only:
            raise ValueError("stream: a bidirectional or reverse GRU cannot be streamed")
        if batch_size < 1:
            raise ValueError(f"stream: batch_size must be >= 1, got {batch_size}")
        # the state (L, N, H), the step workspace (7 N H), a step's output (N, H) and
        # input (N, I): checked here, so that g.stream(), cgru.Stream(...) and an
        # unpickled stream all refuse a batch the machine cannot hold
        cdef double nbytes = ((net.num_layers + 8.0) * net.hidden_size + net.input_size) * \
            batch_size * net.dtype.itemsize
        if nbytes >= 64 * 2**20:
            check_memory(nbytes, f"stream(batch_size={batch_size}) of a GRU with "
                                 f"hidden_size={net.hidden_size}")
        self.net = net
        self.batch_size = batch_size
        self.batch_first = batch_first
        self.type_num = net.type_num
        shape = (net.num_layers, batch_size, net.hidden_size)
        if h0 is not None:
            from cgru._validate import as_real_array
            h0 = as_real_array(h0, "h0", net.dtype)
        self._h = np.zeros(shape, dtype=net.dtype) if h0 is None else \
            np.array(h0, dtype=net.dtype, order="C", copy=True)
        if (<object>self._h).shape != shape:
            raise ValueError(f"stream: h0 must have shape {shape}, got {(<object>self._h).shape}")
        self._work = np.zeros(cgru_model_workspace(&net._m, 0, batch_size), dtype=net.dtype)
        # every split needs a layer of >= the kernels' minimum work: smaller streams
        # skip looking up the thread count (~40 ns of a 0.3 us step)
        H, I = net.hidden_size, net.input_size
        self._may_split = 6.0 * batch_size * H * (max(I, H) + H) >= _split_limits()[0]
        self._busy = False

    def __reduce__(self):
        """A stream pickles with its weights and its current state."""
        return (Stream, (self.net, self.batch_size, self.state, self.batch_first))

    @property
    def state(self):
        """The state, (num_layers, batch_size, hidden_size), a copy."""
        self._claim("state")
        try:
            return self._h.copy()
        finally:
            self._busy = False

    @property
    def input_size(self):
        return self.net.input_size

    @property
    def hidden_size(self):
        return self.net.hidden_size

    cdef _claim(self, what):
        """Mark the stream in use (the GIL makes check-and-set atomic)."""
        if self._busy:
            raise RuntimeError(f"stream: {what} while another thread uses this stream; "
                               f"make one stream per thread")
        self._busy = True

    def reset(self, mask=None):
        """Zero the state, or only the samples where the boolean ``mask`` is True."""
        if mask is None:
            self._claim("reset")
            try:
                self._h[...] = 0
            finally:
                self._busy = False
            return
        m = np.asarray(mask)
        if m.dtype != np.bool_:
            raise TypeError(f"reset: mask must be a boolean array, got dtype {m.dtype}")
        if m.shape != (self.batch_size,):
            raise ValueError(f"reset: mask must have shape ({self.batch_size},), got {m.shape}")
        self._claim("reset")
        try:
            self._h[:, m, :] = 0
        finally:
            self._busy = False

    cdef inline bint _fits(self, object a, int ndim, Py_ssize_t last) noexcept:
        """a is an aligned C-contiguous ndarray of our dtype, shape (N, last) or (last,)."""
        cdef cnp.ndarray arr
        if type(a) is not cnp.ndarray:
            return False
        arr = <cnp.ndarray>a
        if cnp.PyArray_TYPE(arr) != self.type_num or not cnp.PyArray_ISCARRAY_RO(arr):
            return False
        if cnp.PyArray_NDIM(arr) != ndim:
            return False
        if ndim == 2 and cnp.PyArray_DIMS(arr)[0] != self.batch_size:
            return False
        return cnp.PyArray_DIMS(arr)[ndim - 1] == last

    def step(self, x, out=None, gates=None):
        """One step: x (N, I), or (I,) when batch_size is 1 -> top-layer output
        (N, H) or (H,), written into ``out`` when given (no allocation).
        ``gates``: None, or a writeable C-contiguous array (3, num_layers, N, H)
        ((3, num_layers, H) for an unbatched x) that receives this step's r, z, n."""
        cdef Py_ssize_t N = self.batch_size, H = self.net.hidden_size
        cdef Py_ssize_t I = self.net.input_size
        cdef int ndim
        if self._fits(x, 2, I):
            ndim = 2
        elif self._fits(x, 1, I) and N == 1:
            ndim = 1
        else:
            x, ndim = self._convert_step_input(x)
        cdef cnp.npy_intp dims[2]
        if out is None:
            dims[0] = N if ndim == 2 else H
            dims[1] = H
            out = cnp.PyArray_EMPTY(ndim, dims, self.type_num, 0)
        elif not (self._fits(out, ndim, H) and cnp.PyArray_ISWRITEABLE(<cnp.ndarray>out)):
            shape = (<object>N, <object>H) if ndim == 2 else (<object>H,)
            raise ValueError(f"step: out must be a writeable C-contiguous {self.net.dtype} "
                             f"array of shape {shape}")
        cdef void* pg = NULL
        if gates is not None:
            pg = self._gate_buffer(gates, ndim)
        self._run_step(cnp.PyArray_DATA(<cnp.ndarray>x), cnp.PyArray_DATA(<cnp.ndarray>out),
                       pg)
        return out

    cdef void* _gate_buffer(self, gates, int ndim) except NULL:
        """The data of a step's gate buffer, checked: (3, L, N, H), unbatched (3, L, H)."""
        cdef cnp.ndarray a
        cdef cnp.npy_intp* d
        cdef Py_ssize_t L = self.net.num_layers, N = self.batch_size, H = self.net.hidden_size
        if type(gates) is cnp.ndarray:
            a = <cnp.ndarray>gates
            if cnp.PyArray_TYPE(a) == self.type_num and cnp.PyArray_ISCARRAY(a) and \
                    cnp.PyArray_ISNOTSWAPPED(a) and cnp.PyArray_NDIM(a) == ndim + 2:
                d = cnp.PyArray_DIMS(a)
                if d[0] == 3 and d[1] == L and d[ndim + 1] == H and (ndim == 1 or d[2] == N):
                    return cnp.PyArray_DATA(a)
        shape = (3, L, N, H) if ndim == 2 else (3, <object>L, <object>H)
        raise ValueError(f"step: gates must be a writeable C-contiguous {self.net.dtype} "
                         f"array of shape {shape} (r, z, n per layer), got "
                         f"{getattr(gates, 'dtype', type(gates).__name__)} "
                         f"{getattr(gates, 'shape', '')}")

    cdef _run_step(self, const void* px, void* pout, void* pg):
        cdef Py_ssize_t N = self.batch_size
        cdef cgru_model mt = self.net._m      # this call's copy: its own thread count
        mt.num_threads = _num_threads() if self._may_split else 1
        cdef const cgru_model* m = &mt
        cdef void* ph = cnp.PyArray_DATA(self._h)
        cdef void* pw = cnp.PyArray_DATA(self._work)
        cdef Py_ssize_t rows, steps, samples
        _chunks(N, m.hidden_size, max(m.input_size, m.hidden_size), &rows, &steps, &samples)
        if self._busy:
            raise RuntimeError("stream: used by two threads at once; make one stream per thread")
        self._busy = True
        try:
            if samples < N and pg == NULL:   # one step of a huge batch: in chunks (Ctrl-C)
                self._step_in_chunks(<const char*>px, <char*>pout, samples, m)
                return
            with nogil:
                if pg != NULL:    # the same kernels, also writing the gates
                    if m.itemsize == 4:
                        cgru_model_step_gates_f32(m, N, <const float*>px, <float*>ph,
                                                  <float*>pout, <float*>pw, <float*>pg)
                    else:
                        cgru_model_step_gates_f64(m, N, <const double*>px, <double*>ph,
                                                  <double*>pout, <double*>pw, <double*>pg)
                elif m.itemsize == 4:
                    cgru_model_step_f32(m, N, <const float*>px, <float*>ph, <float*>pout,
                                        <float*>pw)
                else:
                    cgru_model_step_f64(m, N, <const double*>px, <double*>ph, <double*>pout,
                                        <double*>pw)
        finally:
            self._busy = False

    cdef _step_in_chunks(self, const char* px, char* pout, Py_ssize_t samples,
                         const cgru_model* m):
        """One step, ``samples`` samples at a time through all layers (each layer's
        projection, then its recurrence, on the call's threads), checking for signals
        between chunks; interrupted, the state is as before the step."""
        cdef Py_ssize_t N = self.batch_size, H = m.hidden_size, I = m.input_size
        cdef Py_ssize_t isz = m.itemsize, n0 = 0, n
        cdef int layer, L = m.num_layers
        cdef char* ph = <char*>cnp.PyArray_DATA(self._h)
        cdef char* pw = <char*>cnp.PyArray_DATA(self._work)     # gx (n, 3H) + scratch
        cdef const char* xin
        cdef bint check = threading.current_thread() is threading.main_thread()
        cdef cgru_layer_block q
        q.gx_t, q.gx_n, q.y_t, q.y_n, q.T[0], q.y[0], q.lengths[0] = 0, 3 * H, 0, 0, 1, NULL, NULL
        q.gates[0] = NULL
        q.gx[0] = pw
        backup = self._h.copy()
        try:
            with nogil:
                while n0 < N:
                    n = min(N - n0, samples)
                    q.N = n
                    for layer in range(L):
                        xin = px + n0 * I * isz if layer == 0 else \
                            ph + ((layer - 1) * N + n0) * H * isz
                        q.h[0] = ph + (layer * N + n0) * H * isz
                        if isz == 4:
                            _layer.projection_f32(m, layer, n, n, <const float*>xin,
                                                  I if layer == 0 else H, <float*>pw)
                            _layer.recurrences_f32(m, layer, &q, <float*>pw + 3 * n * H)
                        else:
                            _layer.projection_f64(m, layer, n, n, <const double*>xin,
                                                  I if layer == 0 else H, <double*>pw)
                            _layer.recurrences_f64(m, layer, &q, <double*>pw + 3 * n * H)
                    n0 += n
                    if n0 < N:
                        _signals(check)
                memcpy(pout, ph + (L - 1) * N * H * isz, N * H * isz)
        except BaseException:
            self._h[...] = backup
            raise

    def _convert_step_input(self, x):
        from cgru._validate import as_real_array
        a = as_real_array(x, "x", self.net.dtype)
        N, I = self.batch_size, self.net.input_size
        if a.ndim == 1:
            if N != 1:
                raise ValueError(f"step: x must have shape ({N}, {I}) for a stream of "
                                 f"batch_size {N}, got {a.shape}")
            if a.shape[0] != I:
                raise ValueError(f"step: x must have {I} features, got shape {a.shape}")
            return np.ascontiguousarray(a), 1
        if a.ndim != 2:
            raise ValueError(f"step: x must have shape ({N}, {I}) or ({I},), got {a.shape}")
        if a.shape[0] != N:
            raise ValueError(f"step: x has batch size {a.shape[0]}, the stream has {N}")
        if a.shape[1] != I:
            raise ValueError(f"step: x must have {I} features, got shape {a.shape}")
        return np.ascontiguousarray(a), 2

    def run(self, x):
        """Run a chunk (T, N, I) (or (N, T, I) when batch_first; (T, I) when
        batch_size is 1), continuing the state; returns the top-layer outputs."""
        from cgru._validate import as_real_array
        a = as_real_array(x, "x", self.net.dtype)
        N, I = self.batch_size, self.net.input_size
        unbatched = a.ndim == 2
        if unbatched:
            if N != 1:
                raise ValueError(f"run: x must be 3-D for a stream of batch_size {N}, "
                                 f"got shape {a.shape}")
            a = a[:, None, :]
        elif a.ndim != 3:
            raise ValueError(f"run: x must be 3-D (T, N, I), got shape {a.shape}")
        nb = a.shape[0] if (self.batch_first and not unbatched) else a.shape[1]
        if nb != N:
            raise ValueError(f"run: x has batch size {nb}, the stream has {N}")
        if a.shape[2] != I:
            raise ValueError(f"run: x must have {I} features, got shape {a.shape}")
        a = np.ascontiguousarray(a)
        if self._busy:
            raise RuntimeError("stream: used by two threads at once; make one stream per thread")
        self._busy = True
        try:
            h = self._h.copy()     # a KeyboardInterrupt leaves the state as before
            y = self.net.forward(a, h, None, self.batch_first and not unbatched)
            self._h[...] = h
        finally:
            self._busy = False
        return y[:, 0, :] if unbatched else y
