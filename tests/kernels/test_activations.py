"""Accuracy of the kernels' sigmoid and tanh (cgru._compiled.activate kinds 0
and 1, the same inline functions the plain gate loops use), in ulp of the result.

Against mpmath (160-bit): measured on this code (float32 / float64 max over the
grids below) sigmoid 0.50 / 2.4 ulp, tanh 0.50 / 2.6 ulp.  The bounds asserted
here are looser (2 and 4 ulp) so that a compiler's legitimate reassociation or
FMA contraction does not fail the suite, but an actually wrong function does.
Against an extended-precision (longdouble) reference, in every instruction-set
build the CPU has: float32 (a shorter polynomial computed in double) within 1
ulp, float64 within 4 ulp; saturation and NaN in each build."""

import functools

import numpy as np
import pytest

from cgru import kernels
from cgru._compiled import activate
from conftest import need

SIGMOID, TANH = 0, 1
MAX_ULP = {np.float32: 2.0, np.float64: 4.0}


def _grid():
    """float32-representable points (so both dtypes share one exact reference)."""
    rng = np.random.default_rng(1234)
    tiny = np.logspace(-45, 0, 400)          # includes float32 subnormals
    big = np.logspace(np.log10(20), 38, 300)
    parts = [np.linspace(-20, 20, 40001), rng.uniform(-20, 20, 5000),
             np.linspace(-1e-3, 1e-3, 2001), tiny, -tiny, big, -big,
             np.linspace(-110, -80, 601), np.linspace(20, 110, 91)]  # float32 subnormal sigmoids
    g = np.concatenate(parts).astype(np.float32)
    return np.unique(np.concatenate([g, np.float32([0.0, -0.0, 1e3, -1e3, 1e30, -1e30])]))


def _grid64():
    """Extra float64-only points: double subnormals and the sigmoid's subnormal range."""
    tiny = np.array([5e-324, 1e-320, 1e-310, 2.2250738585072014e-308, 1e-300, 1e-200])
    return np.concatenate([tiny, -tiny, np.linspace(-746, -700, 461),
                           np.array([-745.1, -745.2, 1e300, -1e300])])


@functools.lru_cache(maxsize=None)
def _exact(kind, key):
    """hi + lo = the exact function at the grid points (a double-double)."""
    mpmath = need("mpmath")
    mpmath.mp.prec = 160
    xs = _grid().astype(np.float64) if key == "grid" else _grid64()
    hi, lo = np.empty_like(xs), np.empty_like(xs)
    for i, x in enumerate(xs):
        m = mpmath.mpf(float(x))
        e = 1 / (1 + mpmath.exp(-m)) if kind == SIGMOID else mpmath.tanh(m)
        hi[i] = float(e)
        lo[i] = float(e - mpmath.mpf(hi[i]))
    return xs, hi, lo


def max_ulp(kind, dtype, key="grid"):
    """The largest error of cgru's function in units in the last place of ``dtype``
    (the spacing at the exact result), over the grid; also the worst input."""
    xs, hi, lo = _exact(kind, key)
    got = activate(kind, 0.0, 0.0, xs.astype(dtype))
    assert got.dtype == np.dtype(dtype)
    if dtype == np.float32:
        assert np.array_equal(xs.astype(np.float32).astype(np.float64), xs)
        spacing = np.spacing(np.abs(hi.astype(np.float32))).astype(np.float64)
    else:
        spacing = np.spacing(np.abs(hi))
    err = np.abs((got.astype(np.float64) - hi) - lo) / spacing
    i = int(np.argmax(err))
    return err[i], xs[i]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", [SIGMOID, TANH], ids=["sigmoid", "tanh"])
def test_accuracy_in_ulp(kind, dtype):
    err, at = max_ulp(kind, dtype)
    assert err <= MAX_ULP[dtype], f"max error {err:.3f} ulp at x={at!r}"
    if dtype == np.float64:
        err, at = max_ulp(kind, dtype, "grid64")
        assert err <= MAX_ULP[dtype], f"max error {err:.3f} ulp at x={at!r} (subnormal range)"


def test_float32_is_nearly_correctly_rounded():
    for kind in (SIGMOID, TANH):
        err, at = max_ulp(kind, np.float32)
        assert err < 0.51, (kind, err, at)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturation_and_special_values(dtype):
    big = np.array([800, 1e3, 1e30, np.inf, np.finfo(dtype).max], dtype)
    sig = activate(SIGMOID, 0.0, 0.0, np.concatenate([-big, big]))
    np.testing.assert_array_equal(sig, np.r_[np.zeros(5), np.ones(5)].astype(dtype))
    th = activate(TANH, 0.0, 0.0, np.concatenate([-big, big]))
    np.testing.assert_array_equal(th, np.r_[-np.ones(5), np.ones(5)].astype(dtype))
    # tanh saturates to exactly 1 from about 9.01 (float32) / 19.06 (float64)
    assert activate(TANH, 0.0, 0.0, np.array([25.0], dtype))[0] == 1
    zero = np.array([0.0, -0.0], dtype)
    np.testing.assert_array_equal(activate(SIGMOID, 0.0, 0.0, zero), [0.5, 0.5])
    tz = activate(TANH, 0.0, 0.0, zero)
    assert tz[0] == 0 and not np.signbit(tz[0]) and np.signbit(tz[1])
    nan = np.array([np.nan, -np.nan], dtype)
    assert np.isnan(activate(SIGMOID, 0.0, 0.0, nan)).all()
    assert np.isnan(activate(TANH, 0.0, 0.0, nan)).all()
    # tiny inputs: tanh(x) = x, sigmoid(x) = 1/2 exactly
    tiny = np.array([np.finfo(dtype).smallest_subnormal, np.finfo(dtype).tiny, 1e-30], dtype)
    np.testing.assert_array_equal(activate(TANH, 0.0, 0.0, tiny), tiny)
    np.testing.assert_array_equal(activate(TANH, 0.0, 0.0, -tiny), -tiny)
    np.testing.assert_array_equal(activate(SIGMOID, 0.0, 0.0, tiny), 0.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tanh_odd_and_both_monotone(dtype):
    xs = _grid().astype(dtype)
    xs = xs[xs >= 0]
    t = activate(TANH, 0.0, 0.0, xs)
    np.testing.assert_array_equal(activate(TANH, 0.0, 0.0, -xs), -t)
    # monotone up to rounding: a few-ulp function may step back by an ulp (it
    # does, once, for float64 sigmoid just below 0); float32 results are
    # correctly rounded, hence exactly monotone
    slack = 0 if dtype == np.float32 else 1
    assert np.all(np.diff(t) >= -slack * np.spacing(t[1:]))
    s = np.sort(np.concatenate([-xs, xs]))
    sig = activate(SIGMOID, 0.0, 0.0, s)
    assert np.all(np.diff(sig) >= -slack * np.spacing(sig[1:]))
    assert sig.min() >= 0 and sig.max() <= 1


def test_activate_rejects_other_dtypes():
    with pytest.raises(TypeError, match="x"):
        activate(SIGMOID, 0.0, 0.0, np.zeros(3, np.float16))


# ------------------------------------------ every ISA build, longdouble reference
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
def test_max_ulp_error_in_every_isa(isa, kind, dtype, bound):
    err = _ulp_error(kind, _inputs(), dtype)
    assert float(err.max()) <= bound


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturation_and_nan_in_every_isa(isa, dtype):
    x = np.array([-800, -50, 0, 50, 800, np.inf, -np.inf, np.nan], dtype=dtype)
    s = activate(0, 0.0, 0.0, x)
    t = activate(1, 0.0, 0.0, x)
    assert s[0] == 0 and s[2] == 0.5 and s[4] == 1 and s[5] == 1 and s[6] == 0
    assert t[0] == -1 and t[2] == 0 and t[4] == 1 and t[5] == 1 and t[6] == -1
    assert np.isnan(s[7]) and np.isnan(t[7])
    assert np.signbit(activate(1, 0.0, 0.0, np.array([-0.0], dtype=dtype))[0])
