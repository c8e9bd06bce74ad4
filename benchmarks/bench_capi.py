"""Per-step cost of a C-level step call (timed inside the C consumer with
clock_gettime, no GIL, no Python) next to Python's ``stream.step``, measured in
the same process, interleaved, best of several rounds.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src \\
        /work/venv/bin/python benchmarks/bench_capi.py [--steps 100000] [--rounds 5]

Shape (I=64, H=128, N=1), one layer, float32 and float64, BLAS limited to one
thread (cgru.threads(1)) and with the default BLAS thread pool.
"""
import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import cgru

ROOT = Path(__file__).resolve().parent.parent


def load_consumer(tmp):
    spec = importlib.util.spec_from_file_location("build_example",
                                                  ROOT / "examples" / "build_example.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.build("c_consumer", "cgru_c_consumer", tmp)


def python_step_cost(stream, x, out, n):
    step = stream.step
    t0 = time.perf_counter()
    if out is None:
        for _ in range(n):
            step(x)
    else:
        for _ in range(n):
            step(x, out)
    return (time.perf_counter() - t0) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    from threadpoolctl import threadpool_info
    with tempfile.TemporaryDirectory() as tmp:
        cc = load_consumer(Path(tmp))
        I, H = 64, 128
        print(f"python {sys.version.split()[0]}, cgru from {cgru.__file__}")
        for p in threadpool_info():
            print(f"  {p['internal_api']} {p.get('version')} {p.get('architecture')} "
                  f"threads={p['num_threads']} {Path(p['filepath']).name}")
        print(f"(I={I}, H={H}, N=1), {args.steps} steps per round, best of {args.rounds}")
        print(f"{'dtype':8} {'BLAS threads':13} {'C step':>10} {'stream.step(x,out)':>19} "
              f"{'stream.step(x)':>15} {'ratio':>6}")
        for dtype in (np.float32, np.float64):
            g = cgru.GRU(I, H, dtype=dtype)
            x = np.random.default_rng(0).uniform(-1, 1, I).astype(dtype)
            out = np.empty(H, dtype)
            for nthreads in (1, None):
                best = {"c": np.inf, "out": np.inf, "plain": np.inf}
                with cgru.threads(nthreads):
                    s = g.stream()
                    cc.bench_step(g, 1000)               # warm up
                    python_step_cost(s, x, out, 1000)
                    for _ in range(args.rounds):         # interleaved
                        best["c"] = min(best["c"], cc.bench_step(g, args.steps))
                        best["out"] = min(best["out"], python_step_cost(s, x, out, args.steps))
                        best["plain"] = min(best["plain"], python_step_cost(s, x, None, args.steps))
                label = "1" if nthreads == 1 else "default"
                print(f"{np.dtype(dtype).name:8} {label:13} {best['c'] * 1e6:8.2f}us "
                      f"{best['out'] * 1e6:17.2f}us {best['plain'] * 1e6:13.2f}us "
                      f"{best['out'] / best['c']:6.2f}")


if __name__ == "__main__":
    main()
