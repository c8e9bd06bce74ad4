"""return_gates: the cost of asking for the gates, and the normal path A/B.

    python benchmarks/bench_gates.py                      # in one process, interleaved:
                                                          # g(x) vs g(x, return_gates=True)
    python benchmarks/bench_gates.py --ab SRC_A SRC_B     # the normal path (no gates) of
                                                          # two builds, e.g. main and this branch

--ab runs each build in its own process (two builds of one extension cannot share
a process), alternating A, B, A, B ... for --rounds rounds; each process reports
the best of --repeat timings per scenario.  Printed: per scenario the median over
rounds of the best times and the ratio B / A.  One BLAS thread; run it as

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_gates.py ...

Instruction counts (callgrind) are the steadier measure on a shared machine; see
docs/performance.md for the figures and the commands.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

# name: (I, H, layers, N, T, dtype, kwargs); T = 0: a Stream.step scenario over 200 steps
SCENARIOS = {
    "step-tick": (8, 32, 1, 1, 0, "float32", {}),
    "step-64x128": (64, 128, 1, 1, 0, "float32", {}),
    "step-rnnoise": (256, 256, 3, 1, 0, "float32", {}),
    "seq-64x128-T1000": (64, 128, 1, 1, 1000, "float32", {}),
    "seq-256-N16": (256, 256, 1, 16, 100, "float32", {}),
    "seq-cho-64x128-N4": (64, 128, 1, 4, 200, "float32", {"reset_after": False}),
    "seq-generic-N4": (32, 64, 1, 4, 200, "float32",
                       {"activations": ("HardSigmoid", "Softsign")}),
    "f64-seq-bi2-64x128": (64, 128, 2, 1, 200, "float64", {"bidirectional": True}),
}


def _model(cgru, I, H, L, dtype, kw):
    g = cgru.GRU(I, H, L, dtype=np.dtype(dtype), **kw)
    rng = np.random.default_rng(0)
    g.load_state_dict({k: rng.uniform(-0.3, 0.3, v.shape) for k, v in g.state_dict().items()})
    return g


def _runner(cgru, name, gates):
    I, H, L, N, T, dtype, kw = SCENARIOS[name]
    g = _model(cgru, I, H, L, dtype, kw)
    rng = np.random.default_rng(1)
    if T == 0:
        s = g.stream(N)
        xs = rng.standard_normal((200, N, I)).astype(dtype)
        out = np.empty((N, H), dtype)
        buf = np.empty((3, L, N, H), dtype)

        def run():
            for x in xs:
                s.step(x, out=out, gates=buf) if gates else s.step(x, out=out)
        return run
    x = rng.standard_normal((T, N, I)).astype(dtype)
    return (lambda: g(x, return_gates=True)) if gates else (lambda: g(x))


def _best(fn, repeat):
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _child(names, repeat):
    """One process of --ab: the normal path's best times, as JSON on stdout."""
    import cgru
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        print(json.dumps({n: _best(_runner(cgru, n, False), repeat) for n in names}))


def ab(src_a, src_b, names, rounds, repeat):
    times = {"A": {n: [] for n in names}, "B": {n: [] for n in names}}
    for r in range(rounds):
        for label, src in (("A", src_a), ("B", src_b)) if r % 2 == 0 else \
                (("B", src_b), ("A", src_a)):
            env = dict(os.environ, PYTHONPATH=src, OPENBLAS_NUM_THREADS="1")
            out = subprocess.run([sys.executable, __file__, "--child", str(repeat), *names],
                                 env=env, check=True, capture_output=True, text=True).stdout
            for n, t in json.loads(out).items():
                times[label][n].append(t)
    print(f"A = {src_a}\nB = {src_b}\n{rounds} rounds (alternating), best of {repeat} each; "
          f"medians over rounds")
    print(f"{'scenario':22s} {'A':>11s} {'B':>11s} {'B/A':>7s}  per-round B/A range")
    for n in names:
        a, b = statistics.median(times["A"][n]), statistics.median(times["B"][n])
        per = [tb / ta for ta, tb in zip(times["A"][n], times["B"][n])]
        print(f"{n:22s} {a * 1e6:9.1f}us {b * 1e6:9.1f}us {b / a:7.3f}  "
              f"{min(per):.3f}-{max(per):.3f}")


def overhead(names, rounds, repeat):
    """In one process: g(x) against g(x, return_gates=True), interleaved."""
    import cgru
    from threadpoolctl import threadpool_limits
    print(f"cgru {cgru.kernels.isa()}; {rounds} interleaved rounds, best of {repeat}")
    print(f"{'scenario':22s} {'no gates':>11s} {'gates':>11s} {'ratio':>7s}")
    with threadpool_limits(1):
        for n in names:
            plain, gated = _runner(cgru, n, False), _runner(cgru, n, True)
            tp, tg = [], []
            for _ in range(rounds):
                tp.append(_best(plain, repeat))
                tg.append(_best(gated, repeat))
            a, b = min(tp), min(tg)
            print(f"{n:22s} {a * 1e6:9.1f}us {b * 1e6:9.1f}us {b / a:7.3f}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        return _child(argv[2:], int(argv[1]))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ab", nargs=2, metavar=("SRC_A", "SRC_B"),
                   help="A/B the normal path of two builds (folders put on PYTHONPATH)")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("scenarios", nargs="*", default=list(SCENARIOS))
    a = p.parse_args(argv)
    if a.ab:
        ab(a.ab[0], a.ab[1], a.scenarios, a.rounds, a.repeat)
    else:
        overhead(a.scenarios, a.rounds, a.repeat)


if __name__ == "__main__":
    main()
