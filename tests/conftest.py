"""Shared test fixtures.  Reference packages (torch, onnxruntime, keras, ...) are
optional locally but required in CI: with CI set, a missing one is a failure,
never a skip."""

import importlib
import os

import pytest


def need(module):
    """Import ``module`` or skip the test; in CI (CI set) a missing module fails."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is required in CI but cannot be imported: {e}")
        pytest.skip(f"{module} not installed")


@pytest.fixture
def torch():
    t = need("torch")
    t.set_num_threads(1)
    return t


@pytest.fixture
def rng(request):
    # a distinct, reproducible stream per test
    import zlib
    import numpy as np
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def chunk_work():
    """Set the Ctrl-C chunk size (multiply-adds, cgru._compiled) for one test:
    yields the setter; the size is restored afterwards."""
    from cgru import _compiled
    old = _compiled._set_chunk_work(1 << 28)
    _compiled._set_chunk_work(old)
    yield _compiled._set_chunk_work
    _compiled._set_chunk_work(old)


@pytest.fixture
def split_everything():
    """The kernels' thread cut-offs at zero for one test: even tiny calls are split
    (the shipped cut-offs keep them whole)."""
    from cgru import kernels
    old = kernels._split_limits(min_flops=0, units_min=16, units_step_flops=0)
    yield
    kernels._split_limits(*old)
