"""Long calls cut into chunks for Ctrl-C (pyx/_compiled.pyx: row blocks of the
projections, time blocks or sample blocks of the recurrences) run each chunk on the
call's threads (cgru.kernels' private layer API): bidirectional calls, calls whose
one step is a chunk, and huge stream steps.  Their answers are bit-identical
whatever the thread count (tests/api/test_chunks.py: and the reference's, whatever
the chunk size; a block of one sample or row takes the one-row kernels, so a
chunked call is not bit-identical to the one-chunk call)."""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import cgru


@settings(max_examples=50, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dtype=st.sampled_from([np.float32, np.float64]), I=st.integers(1, 12),
       H=st.integers(1, 70), N=st.integers(1, 11), T=st.integers(1, 9),
       layers=st.integers(1, 2), bidirectional=st.booleans(), reverse_only=st.booleans(),
       reset_after=st.booleans(), batch_first=st.booleans(), with_lengths=st.booleans(),
       work=st.sampled_from([1, 300, 5000, 40000]), seed=st.integers(0, 2**31 - 1))
def test_chunked_calls_identical_for_any_thread_count(split_everything, chunk_work, dtype, I,
                                                      H, N, T, layers, bidirectional,
                                                      reverse_only, reset_after, batch_first,
                                                      with_lengths, work, seed):
    rng = np.random.default_rng(seed)
    g = cgru.GRU(I, H, layers, bidirectional=bidirectional, reset_after=reset_after,
                 batch_first=batch_first, dtype=dtype)
    if reverse_only and not bidirectional:
        g._configure(reverse_only=True)
    x = rng.standard_normal((N, T, I) if batch_first else (T, N, I)).astype(dtype)
    lengths = rng.integers(0, T + 1, size=N) if with_lengths else None
    chunk_work(work)
    with cgru.threads(1):
        y1, h1 = g(x, lengths=lengths)
    for n in (2, 3):
        with cgru.threads(n):
            y, h = g(x, lengths=lengths)
        np.testing.assert_array_equal(y, y1, err_msg=f"{n} threads, chunks of {work}")
        np.testing.assert_array_equal(h, h1, err_msg=f"{n} threads, chunks of {work}")


@pytest.mark.parametrize("layers", [1, 3])
def test_chunked_stream_steps_identical_for_any_thread_count(split_everything, chunk_work,
                                                             rng, layers):
    g = cgru.GRU(5, 24, layers)
    x = rng.standard_normal((3, 40, 5)).astype(np.float32)
    chunk_work(3000)             # one step of 40 samples: chunks of a few samples
    with cgru.threads(1):
        s = g.stream(40)
        want = [s.step(x[t]) for t in range(3)] + [s.state]
    for n in (2, 3):
        s = g.stream(40)
        with cgru.threads(n):
            got = [s.step(x[t]) for t in range(3)] + [s.state]
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b, err_msg=f"{n} threads")


CHILD = """
import numpy as np, cgru
from cgru import _compiled, kernels
_compiled._set_chunk_work({work})
g = cgru.GRU(32, {H}, bidirectional={bidirectional})
x = np.ones(({T}, {N}, 32), np.float32)
with cgru.threads(2):
    {call}
print(kernels._pool_workers())
"""


# chunks of 2**26 multiply-adds: 41 steps of (H, N) = (512, 2); 16 samples of H = 256
@pytest.mark.parametrize("bidirectional,H,T,N,work,call", [
    (True, 512, 200, 2, 1 << 26, "g(x)"),                  # time blocks, both directions
    (False, 256, 2, 64, 16 * 204800, "g(x)"),              # one step is a chunk
    (False, 256, 1, 64, 16 * 204800, "g.stream(64).step(x[0])"),   # a huge stream step
])
def test_chunked_calls_use_the_pool(bidirectional, H, T, N, work, call):
    """These chunked calls (with the shipped cut-offs) ran on one thread before."""
    code = CHILD.format(work=work, bidirectional=bidirectional, H=H, T=T, N=N, call=call)
    env = dict(os.environ, CGRU_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) >= 1, "the chunked call started no pool worker"
