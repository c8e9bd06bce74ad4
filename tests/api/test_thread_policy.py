"""The thread-count policy (src/cgru/_threads.py): the process default from
CGRU_NUM_THREADS, OMP_NUM_THREADS or the CPU affinity; set_num_threads; and
cgru.threads(n) applying to the calling thread only, nested, as a decorator."""

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import cgru
from cgru import _threads


def _default_in_child(env_changes):
    env = {k: v for k, v in os.environ.items()
           if k not in ("CGRU_NUM_THREADS", "OMP_NUM_THREADS")}
    env.update(env_changes)
    out = subprocess.run([sys.executable, "-W", "always", "-c",
                          "import cgru; print(cgru.get_num_threads())"],
                         env=env, capture_output=True, text=True, check=True)
    return int(out.stdout), out.stderr


@pytest.mark.parametrize("env,expected", [
    ({}, len(os.sched_getaffinity(0))),
    ({"CGRU_NUM_THREADS": "3"}, 3),
    ({"OMP_NUM_THREADS": "1"}, 1),                       # what Dask workers set
    ({"OMP_NUM_THREADS": "4,2"}, 4),                     # nested levels: the first
    ({"CGRU_NUM_THREADS": "2", "OMP_NUM_THREADS": "1"}, 2),   # cgru's own wins
    ({"CGRU_NUM_THREADS": " 5 "}, 5),
    ({"CGRU_NUM_THREADS": "100000"}, _threads.MAX_THREADS),
])
def test_process_default_from_environment(env, expected):
    n, err = _default_in_child(env)
    assert n == expected
    assert "ignoring" not in err


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_bad_environment_value_is_ignored_with_a_warning(bad):
    n, err = _default_in_child({"CGRU_NUM_THREADS": bad, "OMP_NUM_THREADS": "1"})
    assert n == 1                                        # falls through to OMP_NUM_THREADS
    assert f"ignoring CGRU_NUM_THREADS={bad!r}" in err


def test_from_environment_reads_the_given_mapping():
    assert _threads._from_environment({"CGRU_NUM_THREADS": "7"}) == (7, "CGRU_NUM_THREADS")
    assert _threads._from_environment({"OMP_NUM_THREADS": "2"}) == (2, "OMP_NUM_THREADS")
    n, source = _threads._from_environment({})
    assert source == "sched_getaffinity" and n == min(len(os.sched_getaffinity(0)),
                                                      _threads.MAX_THREADS)


def test_set_num_threads_and_back():
    before = cgru.get_num_threads()
    try:
        cgru.set_num_threads(3)
        assert cgru.get_num_threads() == 3
        # other threads see the process default too
        with ThreadPoolExecutor(1) as ex:
            assert ex.submit(cgru.get_num_threads).result() == 3
    finally:
        cgru.set_num_threads(None)
    assert cgru.get_num_threads() == before


@pytest.mark.parametrize("n,exc,match", [(0, ValueError, ">= 1"), (-2, ValueError, ">= 1"),
                                         ("2", TypeError, "positive int"),
                                         (True, TypeError, "positive int"),
                                         (1.5, TypeError, "positive int")])
@pytest.mark.parametrize("fn", [cgru.threads, cgru.set_num_threads])
def test_bad_thread_count(fn, n, exc, match):
    with pytest.raises(exc, match=match):
        fn(n)


def test_threads_block_applies_to_this_thread_only():
    default = cgru.get_num_threads()
    inside, started, release = [], threading.Event(), threading.Event()

    def other():
        with cgru.threads(5):
            started.set()
            release.wait(10)
            inside.append(cgru.get_num_threads())

    th = threading.Thread(target=other)
    th.start()
    started.wait(10)
    assert cgru.get_num_threads() == default            # not the other thread's 5
    release.set()
    th.join()
    assert inside == [5]
    with cgru.threads(2):
        assert cgru.get_num_threads() == 2
        with cgru.threads(1):
            assert cgru.get_num_threads() == 1
        with cgru.threads(None):                         # None: unchanged
            assert cgru.get_num_threads() == 2
        assert cgru.get_num_threads() == 2
    assert cgru.get_num_threads() == default


def test_threads_decorator_in_many_threads_at_once():
    seen = []
    barrier = threading.Barrier(4)

    @cgru.threads(3)
    def f():
        barrier.wait(10)                                 # all four inside at once
        seen.append(cgru.get_num_threads())
        barrier.wait(10)

    with ThreadPoolExecutor(4) as ex:
        for fut in [ex.submit(f) for _ in range(4)]:
            fut.result()
    assert seen == [3] * 4
    assert cgru.get_num_threads() == _threads._default


def test_threads_without_threadpoolctl(monkeypatch):
    """cgru's own pool needs nothing: without threadpoolctl only BLAS is left alone."""
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)     # import fails
    with cgru.threads(1):
        assert cgru.get_num_threads() == 1
