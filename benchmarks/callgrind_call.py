"""One model, C calls of a (T, N, I) sequence, for valgrind --tool=callgrind A/B of two
source trees: python benchmarks/callgrind_call.py SRC_DIR I H N T C (the per-call count is
the difference between C = 3 and C = 1, halved)."""
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np, cgru
from threadpoolctl import threadpool_limits
I, H, N, T, C = map(int, sys.argv[2:7])
g = cgru.GRU(I, H)
x = np.random.default_rng(0).standard_normal((T, N, I)).astype(np.float32)
with threadpool_limits(1, "blas"):
    for _ in range(C):
        g(x)
