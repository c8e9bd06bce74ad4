"""Multi-threaded kernels with reduced-precision weights (float16, bfloat16, int8):
the recurrences and stream steps split by samples (each part quantizes its own
rows in its own operand room) and by hidden units (each part converts the whole
h of the step), with the same bits whatever the thread count, on every ISA."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import cgru
from cgru import kernels

FORMATS = ["float16", "bfloat16", "int8"]


@pytest.fixture
def split_everything():
    """Cut-offs at zero: even tiny calls are split (the default keeps them whole)."""
    old = kernels._split_limits(min_flops=0, units_min=16, units_step_flops=0)
    yield
    kernels._split_limits(*old)


@pytest.fixture(params=["auto", "avx2", "baseline"])
def isa(request):
    """The best kernels this CPU runs, AVX2 (AVX-VNNI int8), and the portable path."""
    try:
        kernels._set_isa(request.param)
    except ValueError as e:
        pytest.skip(str(e))
    yield request.param
    kernels._set_isa("auto")


def _run(g, x, lengths, n):
    with cgru.threads(n):
        return g(x, lengths=lengths)


def _same_bits_for_any_thread_count(g, x, counts=(2, 3, 5)):
    y1, h1 = _run(g, x, None, 1)
    for n in counts:
        y, h = _run(g, x, None, n)
        np.testing.assert_array_equal(y, y1, err_msg=f"{g.weights}, {n} threads")
        np.testing.assert_array_equal(h, h1, err_msg=f"{g.weights}, {n} threads")
    return y1


@pytest.mark.parametrize("weights", FORMATS)
@pytest.mark.parametrize("I,H,N,T,layers,bidirectional", [(7, 80, 13, 3, 2, True),
                                                          (5, 96, 3, 4, 1, False)])
def test_lowp_every_split_on_every_isa(split_everything, isa, weights, I, H, N, T, layers,
                                       bidirectional, rng):
    """Samples, directions and hidden units split (tests/kernels/test_threads_identical.py
    draws the shapes; here the portable path too): the same bits as one thread."""
    g = cgru.GRU(I, H, layers, bidirectional=bidirectional, seed=3).with_weights(weights)
    _same_bits_for_any_thread_count(g, rng.standard_normal((T, N, I)).astype(np.float32))


@pytest.mark.parametrize("weights", FORMATS)
@pytest.mark.parametrize("I,H,N,T", [(256, 256, 16, 12), (128, 512, 1, 6), (64, 1024, 1, 3),
                                     (64, 512, 3, 4),
                                     (64, 128, 40, 3)])
def test_lowp_default_cut_offs_agree(weights, I, H, N, T, rng):
    """The shipped cut-offs (samples; hidden units for N < 8): the same bits as one
    thread, and the same as the one-layer kernels (cgru.GRUCell steps)."""
    g = cgru.GRU(I, H, seed=1).with_weights(weights)
    x = rng.standard_normal((T, N, I)).astype(np.float32)
    y1 = _same_bits_for_any_thread_count(g, x, counts=(2,))
    s = g.stream(N)
    with cgru.threads(2):
        steps = [s.step(x[t]) for t in range(T)]
    np.testing.assert_array_equal(np.stack(steps), y1)


@pytest.mark.parametrize("weights", FORMATS)
def test_lowp_split_workspace_holds_every_part(weights, rng):
    """A batch whose operands outgrow one conversion chunk (int8 H = 512: > 500 rows),
    split in parts: each part's operand room is its own, the answer is the one-thread one."""
    g = cgru.GRU(16, 512, seed=2).with_weights(weights)
    _same_bits_for_any_thread_count(g, rng.standard_normal((2, 1100, 16)).astype(np.float32),
                                    counts=(2, 7))


@given(N=st.integers(1, 3000), K=st.integers(1, 3000), per_row=st.sampled_from([0, 16, 28]),
       parts=st.integers(1, 70))
def test_part_areas_are_disjoint_and_fit_the_workspace(N, K, per_row, parts):
    """Each part of a split (gh, r*h or a step's 7H per row, then its operand room)
    has the room its kernel needs, no two overlap, and all fit what the workspace
    reserves; (a race between overlapping parts would not always show in outputs)."""
    parts = max(1, min(parts, N // 4))
    layout, reserved = kernels._part_layout(N, K, per_row, parts)
    assert sum(rows for _, rows, _ in layout) == N
    end = 0
    for start, rows, need in layout:
        assert rows >= min(N, 4) and start >= end
        end = start + need
    assert end <= reserved


LARGE_INPUT_CHILD = """
import numpy as np
import cgru
from cgru import kernels
g = cgru.GRU({I}, 1024, seed=0).with_weights("bfloat16")
x = np.ones((2, 1, {I}), np.float32)
y1, _ = g(x)
with cgru.threads(2):
    y2, _ = g(x)
assert np.array_equal(y1, y2)
print(kernels._pool_workers())
"""


@pytest.mark.parametrize("I,splits", [(4096, True), (9000, False)])
def test_lowp_unit_split_only_when_a_row_fits_the_stack(I, splits):
    """A bfloat16 (I, 1024) layer at N = 1 is split by hidden units on 2 threads, each
    part converting the step's x and h on a 16 KiB stack block; with I = 9000 a row of
    x does not fit there, and the part would allocate at every step: that layer runs
    whole (no pool worker starts) with the same bits."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, CGRU_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", LARGE_INPUT_CHILD.format(I=I)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert (int(out.stdout.split()[-1]) >= 1) == splits, out.stdout
