"""The Cython example of docs/c-api.md, built as a user would (its own setup.py
block, against the importable cgru) and run: what the docs show must compile,
give cgru.GRU's answer, and refuse a model it was not written for."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cgru
from conftest import need

DOC = Path(__file__).resolve().parents[2] / "docs" / "c-api.md"


def _blocks():
    if not DOC.is_file():
        pytest.skip("no docs/ next to the tests")
    return re.findall(r"```(\w+)\n(.*?)```", DOC.read_text(), re.S)


def test_docs_cython_example(tmp_path, rng):
    need("Cython")
    blocks = _blocks()
    [pyx] = [b for lang, b in blocks if lang == "cython" and "# mymod.pyx" in b]
    [setup] = [b for lang, b in blocks if lang == "python" and "cythonize" in b]
    (tmp_path / "mymod.pyx").write_text(pyx)
    (tmp_path / "setup.py").write_text(setup)
    parent = str(Path(cgru.__file__).resolve().parent.parent)
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
                          cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": parent})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    code = """if True:
        import numpy as np, cgru, mymod
        g = cgru.GRU(4, 6)
        xs = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
        h = np.zeros(6, np.float32)
        mymod.run_steps(g, xs, h)
        assert np.abs(h - g(xs[:, None, :])[1][0, 0]).max() < 1e-5
        for bad in (cgru.GRU(4, 6, dtype=np.float64), cgru.GRU(5, 6)):
            try:
                mymod.run_steps(bad, xs, h)
            except (TypeError, ValueError) as e:
                print(type(e).__name__, e)
            else:
                raise AssertionError("accepted a model it cannot run")
    """
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": parent})
    assert run.returncode == 0, run.stdout + run.stderr
