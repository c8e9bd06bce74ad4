"""The C-level API as another package uses it: examples/cython_consumer and
examples/c_consumer are built here, in a temporary folder, with setuptools
against the importable (in CI: installed) cgru, and compared with cgru.GRU."""

import importlib.util
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import cgru
import cgru.capi
from conftest import need
from gil_probe import longest_gil_gap

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CGRU_PARENT = str(Path(cgru.__file__).resolve().parent.parent)


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_example", EXAMPLES / "build_example.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.build


def build_example(name, module, dest):
    try:
        return _load_builder()(name, module, dest)
    except RuntimeError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="module")
def c_consumer(tmp_path_factory):
    return build_example("c_consumer", "cgru_c_consumer", tmp_path_factory.mktemp("c"))


@pytest.fixture(scope="module")
def cython_consumer(tmp_path_factory):
    need("Cython")
    return build_example("cython_consumer", "cgru_cython_consumer",
                         tmp_path_factory.mktemp("cython"))


@pytest.fixture(params=["c", "cython"])
def consumer(request):
    return request.getfixturevalue(f"{request.param}_consumer")


def test_shipped_files():
    """The header and the .pxd files sit where consumers look for them."""
    pkg = Path(cgru.__file__).resolve().parent
    assert Path(cgru.get_include(), "cgru.h").is_file()
    for pxd in ("kernels.pxd", "capi.pxd"):
        assert (pkg / pxd).is_file(), f"{pxd} missing next to {cgru.__file__}"
    assert type(cgru._C_API).__name__ == "PyCapsule"
    assert cgru._C_API is cgru.capi._C_API
    assert 'cgru._C_API' in repr(cgru._C_API)


def test_header_is_the_contract(c_consumer):
    """The .pxd files declare the structs ``cdef extern from`` cgru.h (no second
    copy to keep equal), and the consumer built from cgru.h imports (cgru_import
    checked the ABI version and every struct size against the running cgru)."""
    pkg = Path(cgru.__file__).resolve().parent
    for pxd in ("kernels.pxd", "capi.pxd"):
        assert 'cdef extern from "include/cgru.h"' in (pkg / pxd).read_text()
    assert c_consumer.abi_version() == cgru.capi.ABI_VERSION == 2


def test_import_check_fails_cleanly(c_consumer):
    table = c_consumer.api_size()
    c_consumer.check_api(cgru.capi.ABI_VERSION, table)          # what cgru_import() did
    with pytest.raises(ImportError, match="ABI version 2, this extension was compiled "
                                          "for version 99; rebuild"):
        c_consumer.check_api(99, table)
    with pytest.raises(ImportError, match="upgrade cgru"):
        c_consumer.check_api(cgru.capi.ABI_VERSION, table + 8)  # a newer header's table


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("runner", ["run_sequence", "run_steps"])
def test_consumer_matches_gru(consumer, runner, dtype, reset_after, rng):
    """Three layers chained through their structs, a batch of 3, both variants."""
    L, T, N, I, H = 3, 13, 3, 6, 9
    g = cgru.GRU(I, H, L, reset_after=reset_after, dtype=dtype)
    x = rng.standard_normal((T, N, I)).astype(dtype)
    h0 = rng.standard_normal((L, N, H)).astype(dtype)
    x_copy = x.copy()
    x.setflags(write=False)                  # an input: read-only arrays are fine
    y_ref, h_ref = g(x, h0)
    h = h0.copy()
    y = np.full((T, N, H), np.nan, dtype)
    getattr(consumer, runner)(g, x, h, y)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, y_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(h, h_ref, rtol=tol, atol=tol)
    np.testing.assert_array_equal(x, x_copy)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reset_after", [True, False])
def test_c_consumer_hand_filled_structs(c_consumer, dtype, reset_after, rng):
    """A C caller that fills its layer structs itself from ``= {0}`` leaves the
    appended packed-weight fields NULL: the kernels must then use w_ih / w_hh
    and give the same answer, in every instruction-set build this CPU runs."""
    from cgru import kernels
    L, T, N, I, H = 2, 6, 5, 70, 20             # partial panels, leftover sample rows
    g = cgru.GRU(I, H, L, reset_after=reset_after, dtype=dtype)
    g.load_state_dict({k: rng.uniform(-0.6, 0.6, v.shape) for k, v in g.state_dict().items()})
    assert all(hh and ih for hh, ih in c_consumer.packed(g))    # model_get gives packed
    x = rng.standard_normal((T, N, I)).astype(dtype)
    h0 = rng.standard_normal((L, N, H)).astype(dtype)
    y_ref, h_ref = g(x, h0)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    old = kernels.isa()
    try:
        for isa in ("baseline", "avx2", "avx512"):
            try:
                kernels._set_isa(isa)
            except ValueError:
                continue                      # this CPU / build has no such kernels
            for runner in ("run_sequence", "run_steps", "run_split"):
                h, y = h0.copy(), np.full((T, N, H), np.nan, dtype)
                getattr(c_consumer, runner)(g, x, h, y, by_hand=True)   # as examples/README says
                np.testing.assert_allclose(y, y_ref, rtol=tol, atol=tol, err_msg=f"{isa} {runner}")
                np.testing.assert_allclose(h, h_ref, rtol=tol, atol=tol, err_msg=f"{isa} {runner}")
    finally:
        kernels._set_isa(old)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("which, runner", [("c", "run_split"), ("cython", "run_layers")])
def test_consumer_layer_by_layer(request, which, runner, dtype, reset_after, rng):
    """Layers chained by hand give the model's answer bit for bit (the same kernel
    calls): in C, input_projection_* then recurrence_* through the table, with the
    work buffer split between them as documented; in Cython, the fused per-layer
    cgru_sequence (one name for both dtypes)."""
    consumer = request.getfixturevalue(f"{which}_consumer")
    L, T, N, I, H = 3, 9, 4, 6, 10
    g = cgru.GRU(I, H, L, reset_after=reset_after, dtype=dtype)
    x = rng.standard_normal((T, N, I)).astype(dtype)
    h0 = rng.standard_normal((L, N, H)).astype(dtype)
    y_ref, h_ref = g(x, h0)
    h, y = h0.copy(), np.full((T, N, H), np.nan, dtype)
    getattr(consumer, runner)(g, x, h, y)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(h, h_ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_c_consumer_activate(c_consumer, dtype):
    """activate_* through the C table equals the kernels' own, kind by kind."""
    from cgru._compiled import activate
    x = np.linspace(-6, 6, 97).astype(dtype)
    for kind in range(11):
        alpha, beta = 0.7, 0.3
        out = x.copy()
        c_consumer.activate(kind, alpha, beta, out)
        np.testing.assert_array_equal(out, activate(kind, alpha, beta, x), err_msg=str(kind))


def test_consumer_cell_and_stream(consumer, rng):
    """GRUCell and Stream work as models too; a stream keeps the weights it was
    made with, also through the C API, after the model is reloaded."""
    cell = cgru.GRUCell(4, 5, dtype=np.float64)
    x = rng.standard_normal((1, 2, 4))
    h = np.zeros((1, 2, 5))
    y = np.empty((1, 2, 5))
    consumer.run_steps(cell, x, h, y)
    np.testing.assert_allclose(h[0], cell(x[0]), rtol=1e-12, atol=1e-12)

    g = cgru.GRU(4, 5, 2)
    xs = rng.standard_normal((7, 1, 4)).astype(np.float32)
    y_old, _ = g(xs)
    s = g.stream()
    g.load_state_dict({k: v * 0.5 for k, v in g.state_dict().items()})
    h, y = np.zeros((2, 1, 5), np.float32), np.empty((7, 1, 5), np.float32)
    consumer.run_sequence(s, xs, h, y)
    np.testing.assert_allclose(y, y_old, rtol=1e-5, atol=1e-6)
    consumer.run_sequence(g, xs, h * 0, y)
    np.testing.assert_allclose(y, g(xs)[0], rtol=1e-5, atol=1e-6)


def test_model_owner_keeps_weights_alive():
    g = cgru.GRU(3, 4)
    info = cgru.capi.model_info(g)
    assert info["owner"] is g._net
    assert (info["itemsize"], info["num_layers"], info["num_directions"],
            info["input_size"], info["hidden_size"]) == (4, 1, 1, 3, 4)
    net = g._net
    before = sys.getrefcount(net)
    for _ in range(3):
        cgru.capi.model_info(g)              # get + release: no reference leaked
    after = sys.getrefcount(net)
    assert after == before
    b = cgru.capi.model_info(cgru.GRU(3, 4, 2, bidirectional=True, dtype=np.float64))
    assert (b["itemsize"], b["num_layers"], b["num_directions"]) == (8, 2, 2)


def test_consumer_bad_arguments(consumer):
    g = cgru.GRU(3, 4)
    x, h, y = (np.zeros(s, np.float32) for s in ((2, 1, 3), (1, 1, 4), (2, 1, 4)))
    with pytest.raises(TypeError, match="cgru.GRU, cgru.GRUCell or cgru Stream"):
        consumer.run_sequence("not a model", x, h, y)
    with pytest.raises((TypeError, ValueError)):
        consumer.run_sequence(g, x.astype(np.float64), h, y)
    with pytest.raises(ValueError):
        consumer.run_sequence(g, x, np.zeros((2, 1, 4), np.float32), y)
    with pytest.raises(ValueError, match="unidirectional"):
        consumer.run_sequence(cgru.GRU(3, 4, bidirectional=True), x, h, y)


@pytest.mark.parametrize("runner", ["run_sequence", "run_steps"])
def test_consumer_releases_gil(consumer, runner):
    need("threadpoolctl")
    g = cgru.GRU(512, 512)                   # one call: ~0.1-0.3 s in the kernels
    x = np.full((1, 8192, 512), 0.1, np.float32)
    h, y = np.zeros((1, 8192, 512), np.float32), np.empty((1, 8192, 512), np.float32)
    with cgru.threads(1):
        duration, gap = longest_gil_gap(lambda: getattr(consumer, runner)(g, x, h, y))
    assert duration > 0.05, f"the call took only {duration:.3f} s: not a long kernel call"
    assert gap < 0.5 * duration, f"no Python progress for {gap:.3f} s of a {duration:.3f} s call"


def test_consumers_in_threads(consumer, rng):
    """Many threads run one model through the consumer without the GIL, each
    with its own state: results equal the sequential ones."""
    g = cgru.GRU(8, 32, 2)
    xs = [rng.standard_normal((40, 2, 8)).astype(np.float32) for _ in range(8)]

    def run(x):
        h, y = np.zeros((2, 2, 32), np.float32), np.empty((40, 2, 32), np.float32)
        consumer.run_steps(g, x, h, y)
        return y, h

    sequential = [run(x) for x in xs]
    with ThreadPoolExecutor(4) as ex:
        concurrent = list(ex.map(run, xs))
    for (y1, h1), (y2, h2) in zip(sequential, concurrent):
        np.testing.assert_array_equal(y1, y2)
        np.testing.assert_array_equal(h1, h2)


def test_c_step_benchmark_hook(c_consumer):
    per_step = c_consumer.bench_step(cgru.GRU(8, 16, 2), 200)
    assert 0 < per_step < 1.0
    with pytest.raises(ValueError):
        c_consumer.bench_step(cgru.GRU(8, 16), 0)


def test_import_cgru_stays_light():
    code = ("import sys, cgru; bad = [m for m in ('torch', 'threadpoolctl', 'cgru.capi') "
            "if m in sys.modules]; assert not bad, bad; cgru._C_API; "
            "assert 'cgru.capi' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True,
                   env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                       [CGRU_PARENT, os.environ.get("PYTHONPATH", "")])))
