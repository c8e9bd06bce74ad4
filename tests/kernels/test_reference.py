"""Both variants (reset_after True and False) against tests/reference.py."""

import itertools

import numpy as np
import pytest

import cgru
import reference
from engine_helpers import assert_close, randomize, reference_run

T, I, H = 6, 3, 4
CONFIGS = list(itertools.product((False, True), (1, 2, 3), (False, True), (False, True),
                                 (False, True), (np.float32, np.float64)))


@pytest.mark.parametrize("reset_after,L,bi,bf,bias,dtype", CONFIGS)
def test_gru_matches_reference(rng, reset_after, L, bi, bf, bias, dtype):
    g = randomize(cgru.GRU(I, H, L, bias=bias, batch_first=bf, bidirectional=bi,
                           reset_after=reset_after, dtype=dtype), rng)
    D, n = (2 if bi else 1), 4
    x = rng.standard_normal((n, T, I) if bf else (T, n, I))
    h0 = rng.standard_normal((L * D, n, H))
    for h, lengths in ((None, None), (h0, None), (h0, [0, T, 1, 3]), (None, [T, 2, 0, 5])):
        y, h_n = g(x.astype(dtype), None if h is None else h.astype(dtype), lengths=lengths)
        # the reference runs on the model's (rounded) inputs in float64
        ry, rh = reference_run(g, x.astype(dtype), None if h is None else h.astype(dtype),
                               lengths)
        assert_close(y, ry, dtype, f"y lengths={lengths}")
        assert_close(h_n, rh, dtype, f"h_n lengths={lengths}")


@pytest.mark.parametrize("reset_after", [False, True])
@pytest.mark.parametrize("N", [1, 2, 7])
def test_kernels_float64_single_layer(rng, reset_after, N):
    """One layer, the GEMV (N=1) and GEMM (N>1) paths, a longer sequence, 1e-12."""
    g = randomize(cgru.GRU(5, 8, reset_after=reset_after, dtype=np.float64), rng, scale=0.8)
    x = rng.standard_normal((20, N, 5)) * 2
    h0 = rng.standard_normal((1, N, 8))
    y, h_n = g(x, h0)
    ry, rh = reference_run(g, x, h0)
    assert_close(y, ry, np.float64, "y")
    assert_close(h_n, rh, np.float64, "h_n")


@pytest.mark.parametrize("reset_after", [False, True])
def test_variants_differ(rng, reset_after):
    """The two variants are really different functions (the tests above can fail)."""
    g = randomize(cgru.GRU(I, H, reset_after=reset_after, dtype=np.float64), rng)
    x = rng.standard_normal((T, 2, I))
    h0 = rng.standard_normal((1, 2, H))
    y, _ = g(x, h0)
    other, _ = reference.gru(x, g.state_dict(), 1, H, reset_after=not reset_after, h0=h0)
    assert np.max(np.abs(y - other)) > 1e-3


@pytest.mark.parametrize("reset_after", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cell_matches_reference(rng, reset_after, dtype):
    c = cgru.GRUCell(I, H, reset_after=reset_after, dtype=dtype)
    c.load_state_dict({k: rng.uniform(-0.5, 0.5, v.shape) for k, v in c.state_dict().items()})
    sd = c.state_dict()
    x = rng.standard_normal((3, I)).astype(dtype)
    h = rng.standard_normal((3, H)).astype(dtype)
    want = reference.cell(x.astype(np.float64), h.astype(np.float64), sd["weight_ih"],
                          sd["weight_hh"], sd["bias_ih"], sd["bias_hh"], reset_after)
    assert_close(c(x, h), want, dtype, "cell")
    assert_close(c(x[1], h[1]), want[1], dtype, "unbatched cell")


@pytest.mark.parametrize("reset_after", [False, True])
def test_all_lengths_zero_and_empty_shapes(rng, reset_after):
    g = randomize(cgru.GRU(I, H, 2, bidirectional=True, reset_after=reset_after,
                           dtype=np.float64), rng)
    x = rng.standard_normal((T, 3, I))
    h0 = rng.standard_normal((4, 3, H))
    y, h_n = g(x, h0, lengths=np.zeros(3, np.int64))
    assert y.shape == (T, 3, 2 * H) and not y.any()
    np.testing.assert_array_equal(h_n, h0)
    # T = 0: no steps, h_n = h0
    y, h_n = g(np.zeros((0, 3, I)), h0)
    assert y.shape == (0, 3, 2 * H)
    np.testing.assert_array_equal(h_n, h0)
    # N = 0: empty batch
    y, h_n = g(np.zeros((T, 0, I)))
    assert y.shape == (T, 0, 2 * H) and h_n.shape == (4, 0, H)
    y, h_n = g(np.zeros((T, 0, I)), lengths=[])
    assert y.shape == (T, 0, 2 * H)
