"""A Cython extension that runs a cgru model from its own nogil loops.

    run_sequence(model, x, h, y)  whole sequences, all layers in one call
    run_steps(model, x, h, y)     the same, one time step at a time
    run_layers(model, x, h, y)    the same, layer after layer (cgru_sequence)
        model: a unidirectional cgru.GRU (or GRUCell / Stream)
        x (T, N, I) C-contiguous, the model's dtype (float32 or float64)
        h (num_layers, N, H): in h0, out h_n;  y (T, N, H): out, top layer
"""
from cython cimport floating
from libc.stdlib cimport malloc, free

from cgru.kernels cimport (
    cgru_model_workspace, cgru_model_sequence, cgru_model_step, cgru_sequence,
)
from cgru.capi cimport cgru_model, cgru_model_get, cgru_model_release, cgru_check_abi

cgru_check_abi()      # ImportError if the installed cgru's structs differ from our cgru.h's


def _run(model, const floating[:, :, ::1] x, floating[:, :, ::1] h, floating[:, :, ::1] y,
         int mode):
    cdef cgru_model m
    cgru_model_get(model, &m)                      # with the GIL; m.owner keeps weights
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], H = m.hidden_size, t
    cdef int L = m.num_layers, rc = 0, l
    cdef floating* work = NULL
    try:
        if m.itemsize != sizeof(floating):
            raise TypeError(f"arrays must have the model's dtype (itemsize {m.itemsize})")
        if m.num_directions != 1:
            raise ValueError("this example runs unidirectional models only")
        if (x.shape[2] != m.input_size or h.shape[0] != L or h.shape[1] != N
                or h.shape[2] != H or y.shape[0] != T or y.shape[1] != N or y.shape[2] != H):
            raise ValueError("need x (T, N, I), h (num_layers, N, H), y (T, N, H)")
        # one workspace serves every layer, for the sequence and for steps
        work = <floating*>malloc(max(cgru_model_workspace(&m, T, N), 1) * sizeof(floating))
        if work == NULL:
            raise MemoryError()
        if T == 0 or N == 0:
            return
        with nogil:
            if mode == 1:
                for t in range(T):
                    rc |= cgru_model_step(&m, N, &x[t, 0, 0], &h[0, 0, 0], &y[t, 0, 0], work)
            elif mode == 2:
                # layer l > 0 reads y and writes y: the kernel projects all rows first
                for l in range(L):
                    rc |= cgru_sequence(&m, l, T, N, 0, &x[0, 0, 0] if l == 0 else &y[0, 0, 0],
                                        m.input_size if l == 0 else H, &h[l, 0, 0],
                                        &y[0, 0, 0], H, NULL, 0, work)
            else:
                rc = cgru_model_sequence(&m, T, N, 0, &x[0, 0, 0], &h[0, 0, 0], &y[0, 0, 0],
                                         NULL, work)
        if rc != 0:
            raise ValueError("cgru refused the model (dtype or direction)")
    finally:
        free(work)
        cgru_model_release(&m)


def run_sequence(model, x, h, y):
    _run(model, x, h, y, 0)


def run_steps(model, x, h, y):
    _run(model, x, h, y, 1)


def run_layers(model, x, h, y):
    _run(model, x, h, y, 2)
