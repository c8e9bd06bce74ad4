"""A Cython extension that runs a cgru model from its own nogil loops.

    run_sequence(model, x, h, y)  whole sequences, layer after layer
    run_steps(model, x, h, y)     the same, one time step at a time
        model: a unidirectional cgru.GRU (or GRUCell / Stream)
        x (T, N, I) C-contiguous, the model's dtype (float32 or float64)
        h (num_layers, N, H): in h0, out h_n;  y (T, N, H): out, top layer
"""
from cython cimport floating
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy

from cgru.kernels cimport (
    cgru_cell, cgru_sequence_workspace, cgru_step_workspace,
    cgru_sequence_f32, cgru_sequence_f64, cgru_step_f32, cgru_step_f64,
)
from cgru.capi cimport cgru_model, cgru_model_get, cgru_model_release, cgru_check_abi

cgru_check_abi()      # ImportError if the installed cgru's structs differ from our .pxd's


cdef inline const cgru_cell* _cell(const cgru_model* m, int l) noexcept nogil:
    return &m.layers_f32[l].cell if m.itemsize == 4 else &m.layers_f64[l].cell


cdef void _step(const cgru_model* m, int l, Py_ssize_t N, const floating* x,
                Py_ssize_t ldx, floating* h, floating* work) noexcept nogil:
    if floating is float:
        cgru_step_f32(&m.layers_f32[l], N, x, ldx, h, work)
    else:
        cgru_step_f64(&m.layers_f64[l], N, x, ldx, h, work)


def _run(model, const floating[:, :, ::1] x, floating[:, :, ::1] h, floating[:, :, ::1] y,
         bint steps):
    cdef cgru_model m
    cgru_model_get(model, &m)                      # with the GIL; m.owner keeps weights
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], H = m.hidden_size
    cdef Py_ssize_t I = m.input_size, t, nwork = 0, w
    cdef int l, L = m.num_layers
    cdef floating* work = NULL
    try:
        if m.itemsize != sizeof(floating):
            raise TypeError(f"arrays must have the model's dtype (itemsize {m.itemsize})")
        if m.num_directions != 1:
            raise ValueError("this example runs unidirectional models only")
        if (x.shape[2] != I or h.shape[0] != L or h.shape[1] != N or h.shape[2] != H
                or y.shape[0] != T or y.shape[1] != N or y.shape[2] != H):
            raise ValueError("need x (T, N, I), h (num_layers, N, H), y (T, N, H)")
        for l in range(L):
            w = cgru_step_workspace(_cell(&m, l), N) if steps else \
                cgru_sequence_workspace(_cell(&m, l), T, N)
            nwork = max(nwork, w)
        work = <floating*>malloc(max(nwork, 1) * sizeof(floating))
        if work == NULL:
            raise MemoryError()
        with nogil:
            if steps:
                for t in range(T):
                    _step(&m, 0, N, &x[t, 0, 0], I, &h[0, 0, 0], work)
                    for l in range(1, L):
                        _step(&m, l, N, &h[l - 1, 0, 0], H, &h[l, 0, 0], work)
                    memcpy(&y[t, 0, 0], &h[L - 1, 0, 0], N * H * sizeof(floating))
            else:
                # layer l > 0 reads y and writes y: the kernel projects all rows first
                for l in range(L):
                    if floating is float:
                        cgru_sequence_f32(&m.layers_f32[l], T, N, 0,
                                          &x[0, 0, 0] if l == 0 else &y[0, 0, 0],
                                          I if l == 0 else H, &h[l, 0, 0], &y[0, 0, 0], H,
                                          NULL, 0, work)
                    else:
                        cgru_sequence_f64(&m.layers_f64[l], T, N, 0,
                                          &x[0, 0, 0] if l == 0 else &y[0, 0, 0],
                                          I if l == 0 else H, &h[l, 0, 0], &y[0, 0, 0], H,
                                          NULL, 0, work)
    finally:
        free(work)
        cgru_model_release(&m)


def run_sequence(model, x, h, y):
    _run(model, x, h, y, False)


def run_steps(model, x, h, y):
    _run(model, x, h, y, True)
