"""Multi-threaded kernels (cgru's pool, pyx/kernels.pyx "threads"): results are
bit-identical whatever the thread count, for every way a call is split (rows of
the projection, samples, directions, hidden units per step), and the pool is
safe after fork and with many Python threads calling at once."""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import cgru
from cgru import kernels


def _run(g, x, lengths, n, gates=False):
    with cgru.threads(n):
        return g(x, lengths=lengths, return_gates=gates)


# the weight formats: float32 / float64 models, and float32 ones with reduced-precision
# weights (each sample part quantizes its own rows, each unit part the whole h)
MODELS = st.sampled_from([(np.float32, None), (np.float64, None), (np.float32, "float16"),
                          (np.float32, "bfloat16"), (np.float32, "int8")])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(model=MODELS, I=st.integers(1, 24),
       H=st.integers(1, 80), N=st.integers(1, 13), T=st.integers(1, 6),
       layers=st.integers(1, 2), bidirectional=st.booleans(), reset_after=st.booleans(),
       batch_first=st.booleans(), with_lengths=st.booleans(), clip=st.sampled_from([None, 0.5]),
       gates=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_sequence_identical_for_any_thread_count(split_everything, model, I, H, N, T, layers,
                                                 bidirectional, reset_after, batch_first,
                                                 with_lengths, clip, gates, seed):
    """(return_gates splits by samples and directions, never by hidden units.)"""
    rng = np.random.default_rng(seed)
    dtype, weights = model
    g = cgru.GRU(I, H, layers, bidirectional=bidirectional, reset_after=reset_after,
                 batch_first=batch_first, dtype=dtype, clip=clip, weights=weights)
    shape = (N, T, I) if batch_first else (T, N, I)
    x = rng.standard_normal(shape).astype(dtype)
    lengths = rng.integers(0, T + 1, size=N) if with_lengths else None
    want = _run(g, x, lengths, 1, gates)
    for n in (2, 3, 5):
        for a, b in zip(_run(g, x, lengths, n, gates), want):
            np.testing.assert_array_equal(a, b, err_msg=f"{n} threads")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(model=MODELS, I=st.integers(1, 24),
       H=st.integers(1, 80), N=st.integers(1, 13), layers=st.integers(1, 3),
       reset_after=st.booleans(), gates=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_stream_steps_identical_for_any_thread_count(split_everything, model, I, H, N, layers,
                                                     reset_after, gates, seed):
    rng = np.random.default_rng(seed)
    dtype, weights = model
    g = cgru.GRU(I, H, layers, reset_after=reset_after, dtype=dtype, weights=weights)
    xs = rng.standard_normal((4, N, I)).astype(dtype)
    outs = {}
    for n in (1, 2, 4):
        s = g.stream(N)
        buf = np.empty((3, layers, N, H), dtype) if gates else None
        with cgru.threads(n):
            outs[n] = [a for t in range(4) for a in
                       (s.step(xs[t], gates=buf), buf.copy() if gates else 0)] + [s.state]
    for n in (2, 4):
        for a, b in zip(outs[n], outs[1]):
            np.testing.assert_array_equal(a, b, err_msg=f"{n} threads")


@pytest.mark.parametrize("I,H,N,T,reset_after", [(256, 256, 16, 12, True),
                                                 (128, 512, 1, 6, True), (64, 512, 3, 4, True),
                                                 (128, 512, 1, 6, False)])
def test_default_cut_offs_split_and_agree(I, H, N, T, reset_after, rng):
    """With the shipped cut-offs these calls are split (samples; hidden units for N < 8)."""
    g = cgru.GRU(I, H, reset_after=reset_after)
    x = rng.standard_normal((T, N, I)).astype(np.float32)
    y1, h1 = _run(g, x, None, 1)
    y2, h2 = _run(g, x, None, 2)
    assert kernels._pool_workers() >= 1, "a 2-thread call of this size started no worker"
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(h1, h2)


def test_fork_after_the_pool_was_used(rng):
    """A child forked after the parent's pool ran starts its own workers and gets the
    same answer; the parent's pool keeps working."""
    g = cgru.GRU(128, 512)
    x = rng.standard_normal((6, 2, 128)).astype(np.float32)
    with cgru.threads(2):
        y_parent, _ = g(x)
    assert kernels._pool_workers() >= 1
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                 # the child: report, never raise
        code = 1
        try:
            workers_at_start = kernels._pool_workers()
            with cgru.threads(2):
                y_child, _ = g(x)
            ok = workers_at_start == 0 and np.array_equal(y_child, y_parent)
            os.write(w, f"{workers_at_start} {kernels._pool_workers()} {int(ok)}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    report = os.read(r, 100).decode().split()
    os.close(r)
    assert os.waitstatus_to_exitcode(status) == 0
    assert report[0] == "0", "the child inherited the parent's workers"
    assert report[2] == "1", "the child's threaded call gave a different answer"
    with cgru.threads(2):
        np.testing.assert_array_equal(g(x)[0], y_parent)


def test_many_python_threads_at_once(split_everything, rng):
    """Eight Python threads, each asking for 2-3 pool threads: one gets the pool at a
    time, the others run on their own thread; every answer is the sequential one."""
    g = cgru.GRU(16, 64, 2)
    jobs = [rng.standard_normal((5, 1 + k % 9, 16)).astype(np.float32) for k in range(24)]
    with cgru.threads(1):
        expected = [g(x) for x in jobs]
    start = threading.Barrier(8)

    def call(k):
        if k < 8:
            start.wait(10)
        with cgru.threads(2 + k % 2):
            return g(jobs[k % len(jobs)])

    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(call, range(3 * len(jobs))))
    for k, (y, h) in enumerate(results):
        np.testing.assert_array_equal(y, expected[k % len(jobs)][0])
        np.testing.assert_array_equal(h, expected[k % len(jobs)][1])


def test_split_limits_hook_checks_its_argument():
    with pytest.raises(ValueError, match="units_min"):
        kernels._split_limits(units_min=0)
