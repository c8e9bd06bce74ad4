"""float32 A/B of two cgru source trees (built in place): python benchmarks/bench_ab_float32.py SRC_DIR
prints best-of-7 thread-CPU seconds per call of a few scenarios; run it alternately for two trees."""
import sys, time, json
sys.path.insert(0, sys.argv[1])
import numpy as np, cgru
from threadpoolctl import threadpool_limits
res = {}
with threadpool_limits(1, "blas"):
    for name, (I, H, N, T, L, step) in {"step-64x128": (64,128,1,1,1,True), "step-rnnoise": (256,256,1,1,3,True),
            "seq-64x128-T1000": (64,128,1,1000,1,False), "seq-256-N16": (256,256,16,100,1,False),
            "seq-1024-N1": (1024,1024,1,20,1,False)}.items():
        g = cgru.GRU(I, H, L)
        x = np.random.default_rng(0).standard_normal((T, N, I)).astype(np.float32)
        if step:
            s = g.stream(1); xs = x[0, 0]; out = np.empty(H, np.float32)
            fn = lambda n: [s.step(xs, out) for _ in range(n)]
        else:
            fn = lambda n: [g(x) for _ in range(n)]
        n = 1
        while True:
            t0 = time.thread_time(); fn(n); dt = time.thread_time() - t0
            if dt > 0.02: break
            n *= 2
        best = 1e9
        for _ in range(7):
            t0 = time.thread_time(); fn(n); best = min(best, (time.thread_time() - t0) / n)
        res[name] = best
print(json.dumps(res))
