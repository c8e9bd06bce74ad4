"""Concurrency: the GIL is released around the kernels, one model serves many
threads (each with its own stream, or concurrent calls), a stream refuses two
threads at once, and cgru.threads limits the BLAS pool (the thread-count policy
itself: tests/api/test_thread_policy.py)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import cgru
from conftest import need
from gil_probe import longest_gil_gap
import pickle


@pytest.mark.parametrize("call", ["forward", "stream.step"])
def test_gil_released_during_kernels(call):
    need("threadpoolctl")
    g = cgru.GRU(512, 512)                       # one call: ~0.1-0.3 s in the kernels
    x = np.full((1, 8192, 512), 0.1, np.float32)
    s = g.stream(8192)
    fn = (lambda: g(x)) if call == "forward" else (lambda: s.step(x[0]))
    with cgru.threads(1):                        # the ticker gets the other core
        fn()
        duration, gap = longest_gil_gap(fn)
    assert duration > 0.05, f"the call took only {duration:.3f} s: not a long kernel call"
    # with the GIL held for the whole call, the gap would be the whole duration
    assert gap < 0.5 * duration, f"no Python progress for {gap:.3f} s of a {duration:.3f} s call"


@pytest.mark.parametrize("dtype,reset_after", [(np.float32, True), (np.float64, False)])
def test_shared_model_one_stream_per_thread(dtype, reset_after, rng):
    g = cgru.GRU(24, 40, 2, reset_after=reset_after, dtype=dtype)
    n_threads, T, N = 6, 60, 3
    xs = [rng.standard_normal((T, N, 24)).astype(dtype) for _ in range(n_threads)]

    def run(x):
        s = g.stream(N)
        return np.stack([s.step(x[t]) for t in range(T)]), s.state

    sequential = [run(x) for x in xs]
    start = threading.Barrier(n_threads)

    def run_together(x):
        start.wait()
        return run(x)

    with ThreadPoolExecutor(n_threads) as ex:
        concurrent = list(ex.map(run_together, xs))
    for (y1, h1), (y2, h2) in zip(sequential, concurrent):
        np.testing.assert_array_equal(y1, y2)
        np.testing.assert_array_equal(h1, h2)
    # and the streams agree with whole-sequence calls
    for x, (y, h) in zip(xs, sequential):
        y_ref, h_ref = g(x)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(y, y_ref, rtol=tol, atol=tol)
        np.testing.assert_allclose(h, h_ref, rtol=tol, atol=tol)


def test_concurrent_calls_on_one_model(rng):
    """Each call allocates its own workspace: no shared scratch between threads."""
    g = cgru.GRU(16, 48, 2, bidirectional=True)
    cell = cgru.GRUCell(16, 48)
    jobs = []
    for k in range(24):
        T, N = 5 + k % 7, 1 + k % 4               # different shapes in flight at once
        x = rng.standard_normal((T, N, 16)).astype(np.float32)
        lengths = rng.integers(0, T + 1, size=N)
        jobs.append((x, lengths))

    def call(job):
        x, lengths = job
        y, h = g(x, lengths=lengths)
        return y, h, cell(x[0])

    sequential = [call(j) for j in jobs]
    with ThreadPoolExecutor(6) as ex:
        concurrent = list(ex.map(call, jobs * 3))
    for i, result in enumerate(concurrent):
        for a, b in zip(sequential[i % len(jobs)], result):
            np.testing.assert_array_equal(a, b)


def _collide(s, x, second):
    """Run s.step(x) in a thread and ``second()`` here at the same time, until one
    of them raises RuntimeError (at most 5 tries); returns (errors, tries)."""
    for attempt in range(1, 6):
        started, errors = threading.Event(), []

        def other():
            started.set()
            try:
                s.step(x)
            except RuntimeError as e:
                errors.append(e)

        th = threading.Thread(target=other)
        th.start()
        started.wait()
        try:
            second()
        except RuntimeError as e:
            errors.append(e)
        th.join()
        if errors:
            break
    return errors, attempt


def test_one_stream_used_by_two_threads_raises():
    """A stream is single-threaded: a second concurrent call raises RuntimeError
    instead of racing on the state, and the state stays that of the calls that ran."""
    g = cgru.GRU(256, 256)
    x = np.full((4096, 256), 0.1, np.float32)
    s, ref = g.stream(4096), g.stream(4096)
    errors, tries = _collide(s, x, lambda: s.step(x))
    assert len(errors) == 1, "two concurrent steps on one stream both ran (or both failed)"
    assert "one stream per thread" in str(errors[0])
    for _ in range(2 * tries - 1):           # the steps that ran, one after the other
        ref.step(x)
    np.testing.assert_array_equal(s.state, ref.state)
    for second in (lambda: s.reset(), lambda: s.reset(np.ones(4096, bool)), lambda: s.state):
        errors, _ = _collide(s, x, second)
        assert len(errors) == 1 and "one stream per thread" in str(errors[0])


def test_threads_limits_blas_pool():
    threadpoolctl = need("threadpoolctl")
    cgru.GRU(4, 8)(np.zeros((2, 1, 4), np.float32))     # BLAS loaded
    before = [p["num_threads"] for p in threadpoolctl.threadpool_info()
              if p["user_api"] == "blas"]
    assert before, "no BLAS library seen by threadpoolctl"
    with cgru.threads(1):
        inside = [p["num_threads"] for p in threadpoolctl.threadpool_info()
                  if p["user_api"] == "blas"]
    after = [p["num_threads"] for p in threadpoolctl.threadpool_info()
             if p["user_api"] == "blas"]
    assert inside == [1] * len(before)
    assert after == before

    @cgru.threads(1)
    def decorated():
        return [p["num_threads"] for p in threadpoolctl.threadpool_info()
                if p["user_api"] == "blas"]
    assert decorated() == [1] * len(before)


def test_threads_applies_only_inside_with():
    threadpoolctl = need("threadpoolctl")
    cgru.GRU(4, 8)(np.zeros((2, 1, 4), np.float32))

    def blas_threads():
        return [p["num_threads"] for p in threadpoolctl.threadpool_info()
                if p["user_api"] == "blas"]
    before = blas_threads()
    limit = cgru.threads(1)
    assert blas_threads() == before          # made, not entered: nothing changed
    with limit:
        with cgru.threads(2):                # nested
            assert blas_threads() == [2] * len(before)
        with cgru.threads(None):             # None: leaves the current limit
            assert blas_threads() == [1] * len(before)
        assert blas_threads() == [1] * len(before)
    assert blas_threads() == before


# ------------------------------------------------ races with the caller
RACE = """
import threading, numpy as np, cgru
g = cgru.GRU(4, 8, bidirectional=True)
x = np.zeros((2000, 64, 4), np.float32)
lengths = np.ones(64, np.int64)
stop = False
def flip():
    while not stop:
        lengths[:] = 10**12
        lengths[:] = 1
t = threading.Thread(target=flip)
t.start()
try:
    for i in range(20):
        lengths[:] = 1
        try:
            g(x, lengths=lengths)
        except ValueError:
            pass
finally:
    stop = True
    t.join()
"""


def test_lengths_changed_by_another_thread_during_the_call_cannot_crash():
    # the kernels read lengths without the GIL: they must read a private copy,
    # never the caller's array, which another thread may change after the check
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", RACE], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()[-2000:]


def test_pickling_a_stream_another_thread_is_running_raises():
    # like ``state``, pickling reads the state: not while another thread runs
    # the stream (it would carry a half-updated state without a word)
    import threading
    import time
    g = cgru.GRU(8, 64, 2)
    s = g.stream(8)
    x = np.ones((20000, 8, 8), np.float32)
    t = threading.Thread(target=s.run, args=(x,))
    t.start()
    time.sleep(0.05)
    try:
        with pytest.raises(RuntimeError, match="stream"):
            pickle.dumps(s)
    finally:
        t.join()
    assert np.array_equal(pickle.loads(pickle.dumps(s)).state, s.state)
