"""One call on 1 and N threads (cgru.threads), interleaved rounds, best of R:
wall time, and the calling thread's CPU time, which shows the share of the work
the pool's workers took even on a machine whose other cores are busy (then the
wall time shows only the load).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src \\
        python benchmarks/bench_split.py [--threads 2] [--rounds 9] [--weights int8 ...]

Columns: wall 1 / wall N (best, ms or us), their ratio; caller CPU 1 / caller
CPU N and their ratio (2.0 at 2 threads: the worker did half); cpu/wall of
the process during the N-thread rounds (cores actually used).
"""
import argparse
import os
import time

import numpy as np

import cgru

CASES = [("seq", 512, 512, 64, 50), ("seq", 1024, 1024, 1, 20), ("step", 256, 256, 64, 1),
         ("step", 64, 128, 1, 1), ("seq", 64, 128, 1, 1000), ("seq", 256, 256, 16, 100),
         ("step", 1024, 1024, 1, 1)]


def block(fn, min_time):
    """(wall, caller CPU, process CPU) per call over a block of >= min_time."""
    k, w0, c0, p0 = 0, time.perf_counter(), time.thread_time(), time.process_time()
    while True:
        fn()
        k += 1
        w = time.perf_counter() - w0
        if w >= min_time:
            return w / k, (time.thread_time() - c0) / k, (time.process_time() - p0) / k


def fmt(t):
    return f"{t * 1e3:8.2f}ms" if t >= 1e-3 else f"{t * 1e6:8.1f}us"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--min-time", type=float, default=0.05)
    ap.add_argument("--weights", action="append", metavar="FORMAT",
                    help="weight format(s) to time (float32, float16, bfloat16, int8); "
                         "repeatable; default float32")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"load average at the start: {os.getloadavg()}; cgru kernels: {cgru.kernels.isa()}")
    print(f"{'case':<36}{'wall 1':>10}{'wall N':>10}{'x':>6}{'cpu 1':>10}{'cpu N':>10}{'x':>6}"
          f"{'cpu/wall N':>11}")
    for kind, I, H, N, T, fmt_w in [c + (f,) for c in CASES for f in a.weights or ["float32"]]:
        g = cgru.GRU(I, H).with_weights(fmt_w)
        if kind == "seq":
            x = rng.standard_normal((T, N, I)).astype(np.float32)

            def fn():
                g(x)
        else:
            s = g.stream(N)
            x = rng.standard_normal((N, I)).astype(np.float32)
            out = np.empty((N, H), np.float32)

            def fn():
                s.step(x, out)
        best = {1: [np.inf] * 2, a.threads: [np.inf] * 2}
        usage = 0.0
        for _ in range(a.rounds):
            for n in (1, a.threads):
                with cgru.threads(n):
                    fn()
                    w, c, p = block(fn, a.min_time)
                best[n] = [min(best[n][0], w), min(best[n][1], c)]
                if n == a.threads:
                    usage = max(usage, p / w)
        w1, c1 = best[1]
        wn, cn = best[a.threads]
        name = kind + " " + str((I, H, N, T)) + ("" if fmt_w == "float32" else " " + fmt_w)
        print(f"{name:<36}{fmt(w1):>10}{fmt(wn):>10}{w1 / wn:6.2f}"
              f"{fmt(c1):>10}{fmt(cn):>10}{c1 / cn:6.2f}{usage:11.2f}", flush=True)
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
