"""Memory: streaming steps allocate nothing; a sequence call needs at most its
outputs plus one T*N*3H workspace per layer (NumPy reports its allocations to
tracemalloc, so the peak covers every array the call makes)."""

import tracemalloc

import numpy as np
import pytest

import cgru


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N", [1, 3])
def test_stream_step_allocates_nothing(rng, dtype, N):
    H = 256          # an (N, H) array made per step would be >= 1 KiB
    m = cgru.GRU(16, H, 2, dtype=dtype)
    s = m.stream(N)
    x = rng.standard_normal((N, 16)).astype(dtype)
    if N == 1:
        x = x[0]
    out = np.empty(x.shape[:-1] + (H,), dtype=dtype)
    steps = range(10_000)
    s.step(x, out=out)               # warm up
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in steps:
            s.step(x, out=out)
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before <= 256, "memory grew over 10,000 steps"
    assert peak - before <= 512, "a step allocated memory"
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (3, False), (2, True)])
def test_sequence_peak_memory(rng, dtype, layers, bidirectional):
    T, N, I, H = 50, 8, 32, 64
    m = cgru.GRU(I, H, layers, dtype=dtype, bidirectional=bidirectional)
    x = rng.standard_normal((T, N, I)).astype(dtype)
    m(x)                              # warm up (imports, caches)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        y, hn = m(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    item = np.dtype(dtype).itemsize
    D = 2 if bidirectional else 1
    # the outputs, one T*N*3H projection workspace per direction (shared by all
    # layers: a layer's projections are computed before its recurrences
    # overwrite y in place) and the recurrences' per-step scratch, 4*N*H per
    # direction plus room for the reduced-precision operands of h (at most
    # N*H floats and 256 bytes per part of >= 4 samples: every part of a split
    # by samples has its own, cgru_lowp_split_bytes); nothing else.
    outputs = y.nbytes + hn.nbytes
    workspace = D * T * N * 3 * H * item
    scratch = D * (4 * N * H + N * H + 64 * (N // 4 + 1)) * item
    headers = 2048
    assert peak - before <= outputs + workspace + scratch + headers, (peak - before, outputs)
    if layers > D:   # within the outputs plus one T*N*3H workspace per layer
        assert peak - before <= outputs + layers * T * N * 3 * H * item
