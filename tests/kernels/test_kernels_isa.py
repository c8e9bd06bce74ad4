"""The kernels' fast paths (packed recurrent / input products, vectorized gate
loops) in every instruction-set build this CPU runs, against the NumPy
reference: shapes that exercise partial panels (H not a multiple of 16), sample
blocks with 1-3 leftover rows, N = 1, both GRU variants, lengths, reverse."""

import numpy as np
import pytest

import cgru
from cgru import kernels
from reference import gru as ref_gru

ISAS = ["baseline", "avx2", "avx512"]


def _runnable(isa):
    old = kernels.isa()
    try:
        kernels._set_isa(isa)
        return True
    except ValueError:
        return False
    finally:
        kernels._set_isa(old)


@pytest.fixture(params=[i for i in ISAS if _runnable(i)])
def isa(request):
    old = kernels.isa()
    kernels._set_isa(request.param)
    yield request.param
    kernels._set_isa(old)


def _model(rng, I, H, L=1, dtype=np.float32, reset_after=True, bidirectional=False):
    m = cgru.GRU(I, H, L, dtype=dtype, reset_after=reset_after, bidirectional=bidirectional)
    sd = {k: rng.uniform(-0.6, 0.6, v.shape) for k, v in m.state_dict().items()}
    m.load_state_dict(sd)
    return m, sd


TOL = {np.float32: 2e-5, np.float64: 1e-12}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("I,H,N", [(3, 5, 1), (7, 16, 2), (9, 20, 3), (16, 33, 5),
                                   (70, 17, 18), (1, 1, 4), (8, 32, 8), (6, 64, 4)])
def test_sequence_matches_reference(isa, rng, dtype, reset_after, I, H, N):
    T = 4
    m, sd = _model(rng, I, H, 2, dtype, reset_after, bidirectional=N % 2 == 1)
    x = rng.standard_normal((T, N, I))
    lengths = rng.integers(0, T + 1, N)
    lengths[0] = T
    h0 = rng.standard_normal((2 * m.num_directions, N, H)) * 0.5
    y, hn = m(x.astype(dtype), h0=h0.astype(dtype), lengths=lengths)
    yr, hr = ref_gru(x, sd, 2, H, bidirectional=m.bidirectional, reset_after=reset_after,
                     h0=h0, lengths=lengths)
    np.testing.assert_allclose(y, yr, atol=TOL[dtype], rtol=0)
    np.testing.assert_allclose(hn, hr, atol=TOL[dtype], rtol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("I,H,N", [(8, 32, 1), (5, 21, 1), (12, 40, 3), (4, 9, 70)])
def test_stream_matches_reference(isa, rng, dtype, I, H, N):
    m, sd = _model(rng, I, H, 2, dtype)
    x = rng.standard_normal((6, N, I))
    s = m.stream(N)
    out = np.empty((N, H), dtype=dtype)
    ys = []
    for t in range(6):
        s.step(x[t].astype(dtype), out=out)
        ys.append(out.copy())
    yr, _ = ref_gru(x, sd, 2, H)
    np.testing.assert_allclose(np.stack(ys), yr, atol=TOL[dtype], rtol=0)


def test_isas_agree(rng):
    """Every runnable build computes (nearly) the same numbers."""
    m, _ = _model(rng, 24, 40, 1, np.float32)
    x = rng.standard_normal((5, 6, 24)).astype(np.float32)
    old = kernels.isa()
    outs = {}
    try:
        for i in ISAS:
            if _runnable(i):
                kernels._set_isa(i)
                outs[i] = m(x)[0]
    finally:
        kernels._set_isa(old)
    base = outs["baseline"]
    for i, y in outs.items():
        np.testing.assert_allclose(y, base, atol=1e-5, rtol=0, err_msg=i)


def test_set_isa_rejects_unknown_name():
    with pytest.raises(ValueError, match="isa must be"):
        kernels._set_isa("sse9")
    assert kernels.isa() in ISAS


def test_auto_picks_a_runnable_isa():
    old = kernels.isa()
    try:
        kernels._set_isa("auto")
        assert kernels.isa() in [i for i in ISAS if _runnable(i)]
    finally:
        kernels._set_isa(old)


def test_each_isa_build_exports_its_table():
    """Every ISA build of the core is a module with one typed table (a capsule);
    selecting an ISA makes cgru.kernels report that build's own name."""
    import importlib
    old = kernels.isa()
    try:
        for isa in [i for i in ISAS if _runnable(i)]:
            try:
                mod = importlib.import_module(f"cgru._core_{isa}")
            except ImportError:
                continue
            assert "cgru.kernel_table" in repr(mod.TABLE)
            kernels._set_isa(isa)
            assert kernels.isa() == isa
    finally:
        kernels._set_isa(old)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_input_projection_uses_blas_path(isa, rng, dtype):
    """T*N*I above 256 KiB: the input projection goes through BLAS (the other
    branch of _input_projection); results are the same."""
    T, N, I, H = 40, 20, 100, 8
    m, sd = _model(rng, I, H, 1, dtype)
    x = rng.standard_normal((T, N, I))
    y, hn = m(x.astype(dtype))
    yr, hr = ref_gru(x, sd, 1, H)
    np.testing.assert_allclose(y, yr, atol=TOL[dtype], rtol=0)
    np.testing.assert_allclose(hn, hr, atol=TOL[dtype], rtol=0)
