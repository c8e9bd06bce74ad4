"""Leak check: resident memory (RSS, /proc/self/statm) and the number of live
Python objects stay flat over 100,000 step calls and 1,000 model
constructions, including the error paths.

Run as a script to print the figures:  PYTHONPATH=src python tests/system/test_leaks.py
"""

import gc
import io
import os
import sys

import numpy as np
import pytest

import cgru

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                                reason="needs /proc/self/statm (Linux)")

MB = 2**20


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(fn, n, warmup):
    """(RSS growth in bytes, live-object growth) over n calls of fn, after warmup calls."""
    for i in range(warmup):
        fn(i)
    gc.collect()
    len(gc.get_objects())        # the first such list grows the heap once: not ours
    r0, o0 = rss(), len(gc.get_objects())
    for i in range(n):
        fn(i)
    gc.collect()
    return rss() - r0, len(gc.get_objects()) - o0


def _bad_step(s):
    def call(i):
        try:
            s.step(np.zeros(5, np.float32))          # wrong width: ValueError
        except ValueError:
            pass
    return call


def cases():
    """name -> (fn, n, warmup); each fn(i) is one operation."""
    g = cgru.GRU(16, 32, 2)
    s = g.stream()
    x = np.random.default_rng(0).standard_normal(16).astype(np.float32)
    out = np.empty(32, np.float32)
    xs = x.tolist()
    s4 = g.stream(4)
    x4 = np.random.default_rng(1).standard_normal((4, 16))        # float64: converted
    seq = np.random.default_rng(2).standard_normal((20, 3, 16)).astype(np.float32)
    buf = io.BytesIO()
    g.save(buf)
    saved = buf.getvalue()
    return {
        "Stream.step(x, out=)": (lambda i: s.step(x, out=out), 100_000, 10_000),
        "Stream.step(x)": (lambda i: s.step(x), 100_000, 10_000),
        "Stream.step(list)": (lambda i: s.step(xs), 20_000, 2_000),
        "Stream.step(float64 batch)": (lambda i: s4.step(x4), 20_000, 2_000),
        "Stream.step error path": (_bad_step(s), 20_000, 2_000),
        "GRU(64, 128, 2) construction": (lambda i: cgru.GRU(64, 128, 2), 1_000, 100),
        "GRU.stream() + run": (lambda i: g.stream(3).run(seq), 1_000, 100),
        "GRU.__call__ with lengths": (lambda i: g(seq, lengths=[20, 3, 0]), 1_000, 100),
        "cgru.load": (lambda i: cgru.load(io.BytesIO(saved)), 1_000, 500),
        "GRUCell(32, 64) + call": (lambda i: cgru.GRUCell(32, 64)(np.ones((2, 32))), 1_000, 100),
    }


# growth allowed: 2 MiB of RSS (20 bytes per call over 100,000 steps; allocator
# noise), and no growth in live (GC-tracked) Python objects beyond a few
RSS_LIMIT, OBJ_LIMIT = 2 * MB, 50


@pytest.mark.parametrize("name", list(cases()))
def test_memory_is_stable(name):
    fn, n, warmup = cases()[name]
    grow, objs = measure(fn, n, warmup)
    assert grow < RSS_LIMIT, f"{name}: RSS grew by {grow / MB:.2f} MiB over {n} calls"
    assert objs < OBJ_LIMIT, f"{name}: {objs} more live objects after {n} calls"


def test_the_check_can_see_a_leak():
    """A deliberate leak of one small list per call (~200 bytes: ~20 MiB in all, more
    than the free memory a process keeps from earlier tests and reuses without
    growing; one int per list grew RSS by only 16 KiB once) is detected by the
    same measure."""
    hoard = []
    grow, objs = measure(lambda i: hoard.append([i] * 20), 100_000, 1000)
    assert grow >= RSS_LIMIT and objs >= OBJ_LIMIT


if __name__ == "__main__":
    print(f"{'operation':32s} {'calls':>8s} {'RSS growth':>12s} {'objects':>8s}   RSS now")
    for name, (fn, n, warmup) in cases().items():
        grow, objs = measure(fn, n, warmup)
        print(f"{name:32s} {n:8d} {grow / 1024:9.0f} KiB {objs:8d}   {rss() / MB:.1f} MiB")
    sys.exit(0)
