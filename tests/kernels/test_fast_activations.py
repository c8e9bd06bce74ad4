"""The gate loops' sigmoid and tanh (cgru._compiled.activate kinds 0 and 1, the
same inline functions the plain gate loops use): maximum error against an
extended-precision reference, in units in the last place of the result dtype.
float32 uses a shorter polynomial (computed in double): it must stay within 1
ulp; float64 within 4 ulp.  Run in every instruction-set build the CPU has."""

import numpy as np
import pytest

from cgru import kernels
from cgru._compiled import activate

L = np.longdouble
EXTENDED = np.finfo(L).nmant >= 63   # x87 80-bit (or better) on this platform


def _inputs():
    rng = np.random.default_rng(1234)
    return np.concatenate([
        np.linspace(-20, 20, 200001), rng.standard_normal(100000) * 6,
        np.geomspace(1e-30, 60, 50000), -np.geomspace(1e-30, 60, 50000),
        np.linspace(-700, 700, 4001),
    ])


def _ulp_error(kind, x, dtype):
    y = activate(kind, 0.0, 0.0, x.astype(dtype))
    xl = x.astype(dtype).astype(L)
    ref = 1 / (1 + np.exp(-xl)) if kind == 0 else np.tanh(xl)
    ulp = np.spacing(np.abs(ref.astype(dtype))).astype(L)
    return np.abs(y.astype(L) - ref) / ulp


@pytest.fixture(params=["baseline", "avx2", "avx512"])
def isa(request):
    old = kernels.isa()
    try:
        kernels._set_isa(request.param)
    except ValueError:
        pytest.skip(f"{request.param} not runnable here")
    yield request.param
    kernels._set_isa(old)


@pytest.mark.skipif(not EXTENDED, reason="needs an extended-precision longdouble reference")
@pytest.mark.parametrize("kind", [0, 1])
@pytest.mark.parametrize("dtype,bound", [(np.float32, 1.0), (np.float64, 4.0)])
def test_max_ulp_error(isa, kind, dtype, bound):
    err = _ulp_error(kind, _inputs(), dtype)
    assert float(err.max()) <= bound


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturation_and_nan(isa, dtype):
    x = np.array([-800, -50, 0, 50, 800, np.inf, -np.inf, np.nan], dtype=dtype)
    s = activate(0, 0.0, 0.0, x)
    t = activate(1, 0.0, 0.0, x)
    assert s[0] == 0 and s[2] == 0.5 and s[4] == 1 and s[5] == 1 and s[6] == 0
    assert t[0] == -1 and t[2] == 0 and t[4] == 1 and t[5] == 1 and t[6] == -1
    assert np.isnan(s[7]) and np.isnan(t[7])
    assert np.signbit(activate(1, 0.0, 0.0, np.array([-0.0], dtype=dtype))[0])
