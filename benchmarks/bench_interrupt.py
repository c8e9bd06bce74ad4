"""What the Ctrl-C chunking costs: the same calls with chunking on (the default,
~2^28 multiply-adds per chunk, a signal check between chunks) and off (one
chunk, as before), timed interleaved in one process, one thread.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src \\
        python benchmarks/bench_interrupt.py [--repeat 15]

Prints, per case, the median time with chunking off, the median ratio
on / off over the interleaved pairs, and the chunks a call makes.  A ratio of
1.00 within the pair-to-pair spread is "no measurable slowdown".  Short calls
(one chunk) run exactly the code they ran before, plus a few C comparisons.
"""

import argparse
import platform
import statistics
import time

import numpy as np

import cgru
from cgru import _compiled

ON = 1 << 28
OFF = 1 << 60      # one chunk whatever the size: the code before chunking

CASES = {
    # name: (make model, make args)
    "GRU(16, 32) T=50 N=1 (short call)":
        (lambda: cgru.GRU(16, 32), lambda r: (r.standard_normal((50, 1, 16)),)),
    "GRU(64, 128) T=20000 N=1":
        (lambda: cgru.GRU(64, 128), lambda r: (r.standard_normal((20000, 1, 64)),)),
    "GRU(64, 256, 2) T=2000 N=8":
        (lambda: cgru.GRU(64, 256, 2), lambda r: (r.standard_normal((2000, 8, 64)),)),
    "GRU(64, 256, 2, batch_first) N=8 T=2000 (runs transposed)":
        (lambda: cgru.GRU(64, 256, 2, batch_first=True),
         lambda r: (r.standard_normal((8, 2000, 64)),)),
    "GRU(32, 128, bidirectional) T=5000 N=4 lengths":
        (lambda: cgru.GRU(32, 128, bidirectional=True),
         lambda r: (r.standard_normal((5000, 4, 32)), None, np.array([5000, 4000, 100, 1]))),
    "GRU(8, 8) T=200000 N=1 (tiny steps)":
        (lambda: cgru.GRU(8, 8), lambda r: (r.standard_normal((200000, 1, 8)),)),
    "GRUCell(256, 256) N=20000 (one huge step)":
        (lambda: cgru.GRUCell(256, 256), lambda r: (r.standard_normal((20000, 256)),)),
}


def once(fn, work):
    _compiled._set_chunk_work(work)
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=15)
    args = p.parse_args()
    r = np.random.default_rng(0)
    try:
        from threadpoolctl import threadpool_info
        blas = [(i.get("internal_api"), i.get("architecture"), i.get("num_threads"))
                for i in threadpool_info()]
    except ImportError:
        blas = "threadpoolctl not installed"
    print(f"{platform.processor() or platform.machine()}, BLAS {blas}")
    old = _compiled._set_chunk_work(ON)
    for name, (make, make_args) in CASES.items():
        m = make()
        a = [x.astype(np.float32) if isinstance(x, np.ndarray) and x.dtype == np.float64 else x
             for x in make_args(r)]
        fn = (lambda: m(*a))
        once(fn, ON), once(fn, OFF)                # warm up
        offs, ratios = [], []
        for i in range(args.repeat):
            if i % 2:     # alternate the order within a pair
                t_on, t_off = once(fn, ON), once(fn, OFF)
            else:
                t_off, t_on = once(fn, OFF), once(fn, ON)
            offs.append(t_off)
            ratios.append(t_on / t_off)
        q = statistics.quantiles(ratios, n=4)
        print(f"{name:58s} off {statistics.median(offs) * 1e3:9.3f} ms   on/off "
              f"{statistics.median(ratios):.3f} (quartiles {q[0]:.3f}-{q[2]:.3f})")
    _compiled._set_chunk_work(old)


if __name__ == "__main__":
    main()
