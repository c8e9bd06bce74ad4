"""1 vs 2 threads of one call, for an A/B of two cgru source trees (built in place):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE [RA=0] python benchmarks/bench_ab_threads.py \\
        SRC_DIR I H N T [ROUNDS]

interleaves blocks (>= 30 ms) of g(x) under cgru.threads(1) and cgru.threads(2), ROUNDS
(15) times, and prints the best wall time per call of each, their ratio and the best
calling-thread CPU time with 2 threads (its share of the work plus its waits); RA=0:
reset_after=False.  Run it alternately for the two trees; say the load with each number."""
import os
import sys
import time

sys.path.insert(0, sys.argv[1])
import numpy as np  # noqa: E402

import cgru  # noqa: E402

I, H, N, T = map(int, sys.argv[2:6])
rounds = int(sys.argv[6]) if len(sys.argv) > 6 else 15
g = cgru.GRU(I, H, reset_after=os.environ.get("RA", "1") == "1")
x = np.random.default_rng(0).standard_normal((T, N, I)).astype(np.float32)


def block(n):
    with cgru.threads(n):
        k, w0, c0 = 0, time.perf_counter(), time.thread_time()
        while True:
            g(x)
            k += 1
            w = time.perf_counter() - w0
            if w > 0.03:
                return w / k, (time.thread_time() - c0) / k


best = {1: [9.0, 9.0], 2: [9.0, 9.0]}
for _ in range(3):
    g(x)
for _ in range(rounds):
    for n in (1, 2):
        w, c = block(n)
        best[n] = [min(best[n][0], w), min(best[n][1], c)]
print(f"{sys.argv[1]:12} load {os.getloadavg()[0]:.2f}  1thr {best[1][0] * 1e3:.3f} ms  "
      f"2thr {best[2][0] * 1e3:.3f} ms  ratio {best[1][0] / best[2][0]:.2f}  "
      f"caller-cpu 2thr {best[2][1] * 1e3:.3f} ms")
