"""Micro-benchmark of the kernels' sigmoid and tanh, ns per element.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src \\
        /work/venv/bin/python benchmarks/bench_activations.py

Calls cgru._compiled.activate (the same inline functions the gate loops use) on
n = 4096 elements, best of many repeats.  The per-call overhead of the Python
hook (measured on n = 1) is subtracted to give the kernel's ns/element; the
raw figure is printed too.  NumPy's np.tanh and 1/(1+exp(-x)) (and torch's,
with one thread, when installed) are timed interleaved in the same process for
scale.  One thread; timings on a shared machine are noisy, hence best-of-N.
"""

import argparse
import platform
import time

import numpy as np

from cgru._compiled import activate

SIGMOID, TANH = 0, 1


def best_time(fn, number, repeat):
    """Best (minimum) seconds per call over ``repeat`` batches of ``number`` calls."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=4096, help="elements per call")
    ap.add_argument("--number", type=int, default=200, help="calls per timing batch")
    ap.add_argument("--repeat", type=int, default=50, help="timing batches (best is kept)")
    args = ap.parse_args()
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"{platform.machine()}, n={args.n}, best of {args.repeat} x {args.number} calls")
    rng = np.random.default_rng(0)
    rows = []
    for dtype in (np.float32, np.float64):
        x = rng.uniform(-8, 8, args.n).astype(dtype)
        x1 = x[:1].copy()
        contenders = {
            "cgru sigmoid": lambda: activate(SIGMOID, 0.0, 0.0, x),
            "cgru tanh": lambda: activate(TANH, 0.0, 0.0, x),
            "cgru call overhead (n=1)": lambda: activate(TANH, 0.0, 0.0, x1),
            "numpy 1/(1+exp(-x))": lambda: 1 / (1 + np.exp(-x)),
            "numpy tanh": lambda: np.tanh(x),
        }
        if torch is not None:
            tx = torch.from_numpy(x)
            contenders["torch sigmoid"] = lambda: torch.sigmoid(tx)
            contenders["torch tanh"] = lambda: torch.tanh(tx)
        best = {k: float("inf") for k in contenders}
        # interleave: every round times every contender once
        for _ in range(args.repeat):
            for name, fn in contenders.items():
                best[name] = min(best[name], best_time(fn, args.number, 1))
        over = best["cgru call overhead (n=1)"]
        for name, t in best.items():
            if "overhead" in name:
                rows.append((np.dtype(dtype).name, name, t * 1e9, None))
                continue
            kernel = (t - over) / args.n * 1e9 if name.startswith("cgru") else None
            rows.append((np.dtype(dtype).name, name, t / args.n * 1e9, kernel))
    print(f"{'dtype':8} {'contender':28} {'ns/elem (raw)':>14} {'ns/elem (kernel)':>17}")
    for dt, name, raw, kernel in rows:
        if "overhead" in name:
            print(f"{dt:8} {name:28} {raw:11.0f} ns/call")
        else:
            print(f"{dt:8} {name:28} {raw:14.3f} {'' if kernel is None else f'{kernel:17.3f}'}")


if __name__ == "__main__":
    main()
