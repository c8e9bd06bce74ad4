"""Two independent sequences run in two threads against one after the other,
on one shared model (float32), interleaved rounds, best of N.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src \\
        /work/venv/bin/python benchmarks/bench_threads.py [--rounds 7]

speedup = time(sequential) / time(two threads); 2.0 is the ceiling on 2 cores.
Each case runs with cgru.threads(1) (each call on its own thread; BLAS limited
to one thread too) and with the defaults (each call may use cgru's pool, which
serves one call at a time: the other thread's call then runs on its own thread).  cpu/wall: process CPU time over wall time of the sequential
and the threaded run (the cores actually used; the machine is shared).  "calls": g(x) on the whole sequence; "streams": one stream
per thread, stream.step for every time step.
"""
import argparse
import os
import threading
import time

import numpy as np

import cgru

CASES = [(64, 128, 1, 2000), (256, 512, 16, 500)]     # (I, H, N, T)


def timed(jobs, threaded):
    """(wall seconds, process CPU seconds / wall seconds)"""
    c0 = time.process_time()
    if not threaded:
        t0 = time.perf_counter()
        for job in jobs:
            job()
        wall = time.perf_counter() - t0
        return wall, (time.process_time() - c0) / wall
    barrier = threading.Barrier(len(jobs) + 1)

    def run(job):
        barrier.wait()
        job()
    threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return wall, (time.process_time() - c0) / wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    from threadpoolctl import threadpool_info
    for p in threadpool_info():
        print(f"{p['internal_api']} {p.get('version')} {p.get('architecture')} "
              f"threads={p['num_threads']}")
    print(f"load average at the start: {os.getloadavg()}")
    print(f"{'(I, H, N, T)':22} {'mode':8} {'BLAS thr':9} {'sequential':>11} "
          f"{'2 threads':>10} {'speedup':>8} {'cpu/wall':>9} {'cpu/wall':>9}")
    rng = np.random.default_rng(0)
    for I, H, N, T in CASES:
        g = cgru.GRU(I, H)
        xs = [rng.uniform(-1, 1, (T, N, I)).astype(np.float32) for _ in range(2)]

        def call_job(x):
            return lambda: g(x)

        def stream_job(x):
            def run():
                s = g.stream(N)
                out = np.empty((N, H), np.float32)
                for t in range(T):
                    s.step(x[t], out)
            return run

        for mode, make in (("calls", call_job), ("streams", stream_job)):
            if mode == "streams" and N * H > 1024:
                continue
            jobs = [make(x) for x in xs]
            for nthreads in (1, None):
                with cgru.threads(nthreads):
                    timed(jobs, False)                # warm up
                    seq = par = (np.inf, 0.0)
                    for _ in range(args.rounds):      # interleaved
                        seq = min(seq, timed(jobs, False))
                        par = min(par, timed(jobs, True))
                print(f"{str((I, H, N, T)):22} {mode:8} {'1' if nthreads else 'default':9} "
                      f"{seq[0] * 1e3:9.1f}ms {par[0] * 1e3:8.1f}ms {seq[0] / par[0]:8.2f} "
                      f"{seq[1]:9.2f} {par[1]:9.2f}")
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
