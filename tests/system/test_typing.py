"""The public API is typed: `mypy --strict` on a user's script that exercises
cgru, GRU, GRUCell, Stream, load, threads, the converters and cgru.dask reports nothing;
a script with type errors is reported (the types are not all Any); mypy's
stubtest finds the stubs of cgru.gru equal to the module (names, parameters,
defaults).  Runs mypy on the cgru that Python imports (the installed wheel)."""

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import need

USER_SCRIPT = '''
"""A user's script over cgru's public API."""
import numpy as np
import numpy.typing as npt

import cgru


def main() -> float:
    g = cgru.GRU(3, 4, 2, batch_first=True, seed=0, dtype=np.float32)
    x: npt.NDArray[np.float32] = np.zeros((2, 5, 3), np.float32)
    y, h_n = g(x, hx=None)
    y2, _ = g.forward(x, h_n, lengths=np.array([5, 3]))
    g.batch_first = False
    g.load_state_dict(g.state_dict())
    s: cgru.Stream = g.stream(batch_size=1)
    out = s(np.zeros(3, np.float32))
    out = s.step(np.zeros(3, np.float32), out=out)
    chunk = s.run(np.zeros((4, 1, 3), np.float32))
    s.reset()
    print(repr(s), s.input_size, s.hidden_size, s.batch_size, s.state.shape)
    g.save("m.npz")
    m = cgru.load("m.npz")
    if isinstance(m, cgru.GRU):
        print(m.num_layers, m.num_directions, m.activations, m.clip, m.dtype.name)
    c = cgru.GRUCell(3, 4, seed=np.random.default_rng(0))
    h = c(np.zeros((2, 3)), hx=np.zeros((2, 4)))
    c.save("c.npz")
    with cgru.threads(1):
        g(x)
    inc: str = cgru.get_include()
    version: str = cgru.__version__
    g2 = cgru.GRU.from_torch({"weight_ih_l0": np.zeros((12, 3))}, prefix="gru")
    g3 = cgru.GRU.from_onnx("m.onnx", node="gru_l0")
    every: dict[str, cgru.GRU] = cgru.GRU.from_onnx_all("m.onnx")
    k = cgru.GRU.from_keras(object(), layer="gru")
    ks = cgru.GRU.from_keras_all(object())
    cell = cgru.GRUCell.from_torch({}, dtype="float64")
    proto = g.to_onnx("m.onnx", h0=True)
    return (float(y.sum() + y2.sum() + h.sum() + chunk.sum()) + len(inc + version)
            + g2.hidden_size + g3.hidden_size + len(every) + k.hidden_size + len(ks)
            + cell.hidden_size + (proto is None))
'''

WRONG_SCRIPT = '''
import cgru
g = cgru.GRU("3", 4)
n: str = g.hidden_size
s = g.stream(batch_size=1)
s.stepp(1)
cgru.load(3.5)
cgru.no_such_name
'''


def environ():
    """This environment with PYTHONPATH made absolute (the tools run elsewhere)."""
    env = {k: v for k, v in os.environ.items() if k != "MYPYPATH"}
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p)
                                            for p in env["PYTHONPATH"].split(os.pathsep) if p)
    return env


def mypy(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "mypy", "--no-incremental",
                           "--cache-dir", os.devnull, *args], cwd=tmp_path, env=environ(),
                          capture_output=True, text=True, timeout=600)


def test_mypy_strict_on_a_user_script_reports_nothing(tmp_path):
    need("mypy")
    (tmp_path / "user.py").write_text(textwrap.dedent(USER_SCRIPT))
    (tmp_path / "wrong.py").write_text(WRONG_SCRIPT)
    r = mypy(tmp_path, "--strict", "user.py", "wrong.py")     # one run checks both
    assert "user.py" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert r.returncode == 1 and "Found 5 errors in 1 file" in r.stdout, r.stdout + r.stderr
    for line in ("wrong.py:3:", "wrong.py:4:", "wrong.py:6:", "wrong.py:7:", "wrong.py:8:"):
        assert line in r.stdout, r.stdout


def test_stubs_match_the_module(tmp_path):
    need("mypy")
    r = subprocess.run([sys.executable, "-m", "mypy.stubtest", "cgru.gru", "cgru._stream",
                        "cgru._threads"], cwd=tmp_path, env=environ(), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


DASK_SCRIPT = '''
import dask.array as da
import numpy as np

import cgru
import cgru.dask


def main() -> int:
    g = cgru.GRU(4, 8, seed=0)
    x = da.zeros((5, 4, 4), chunks=(5, 2, 4), dtype=np.float32)
    y, h_n = cgru.dask.apply(g, x, lengths=np.array([5, 3, 2, 1]))
    only_y: da.Array = cgru.dask.apply(g, x, return_state=False)
    return int(y.shape[0] + h_n.shape[0] + only_y.shape[0])
'''


def test_cgru_dask_is_typed(tmp_path):
    need("mypy")
    need("dask")
    (tmp_path / "user_dask.py").write_text(DASK_SCRIPT)
    r = mypy(tmp_path, "--strict", "user_dask.py")
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([sys.executable, "-m", "mypy.stubtest", "cgru.dask"], cwd=tmp_path,
                       env=environ(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
