"""Threads inside a Dask worker: kernels release the GIL, so one worker process
with 2 threads should run two batch chunks at once.

Times cgru.dask.apply on LocalClusters (loopback only) with 1 worker x 1 thread,
1 worker x 2 threads and 2 workers x 1 thread, and a plain in-process loop over
the same chunks, interleaved, best of --rounds.  BLAS is limited to one thread
per task in every worker (threadpoolctl), so any speedup comes from Dask's
threads.  x is generated and persisted on the workers before timing and the
results are reduced there (sum of y, and h_n), so the timings are compute, not
data transfer.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src \
        python benchmarks/bench_dask.py
"""

import argparse
import os
import time

import dask
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster
from threadpoolctl import threadpool_info, threadpool_limits

import cgru
import cgru.dask


def limit_blas():
    threadpool_limits(1)
    return [(i["internal_api"], i.get("architecture"), i["num_threads"]) for i in threadpool_info()]


def make_x(args):
    rng = da.random.default_rng(0)
    return rng.standard_normal((args.T, args.chunks * args.N, args.I),
                               chunks=(args.T, args.N, args.I), dtype=np.float32)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--T", type=int, default=200)
    p.add_argument("--N", type=int, default=32, help="batch size of one chunk")
    p.add_argument("--I", type=int, default=64)
    p.add_argument("--H", type=int, default=128)
    p.add_argument("--chunks", type=int, default=64)
    p.add_argument("--rounds", type=int, default=8)
    args = p.parse_args()
    print(f"x: {args.chunks} chunks of (T={args.T}, N={args.N}, I={args.I}), H={args.H}, float32")
    print("OPENBLAS_CORETYPE", os.environ.get("OPENBLAS_CORETYPE"),
          "OPENBLAS_L2_SIZE", os.environ.get("OPENBLAS_L2_SIZE"),
          "| load average at start: %.2f %.2f %.2f" % os.getloadavg())
    model = cgru.GRU(args.I, args.H)

    # (workers, threads, environment the nanny sets in the worker processes); Dask's
    # default environment has MALLOC_TRIM_THRESHOLD_=65536, which makes each task's
    # fresh output and workspace buffers page-fault (the last layout leaves it out)
    default_environ = dask.config.get("distributed.nanny.pre-spawn-environ")
    no_trim = {k: v for k, v in default_environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    # (a LocalCluster's nannies also copy that environment into THIS process's
    # os.environ, where later workers inherit it: the no-trim cluster starts first)
    layouts = {"1x1, no MALLOC_TRIM_THRESHOLD_": (1, 1, no_trim),
               "1 worker x 1 thread": (1, 1, default_environ),
               "1 worker x 2 threads": (1, 2, default_environ),
               "2 workers x 1 thread": (2, 1, default_environ)}
    clients, xs = {}, {}
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    for name, (workers, threads, environ) in layouts.items():
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True,
                                   host="127.0.0.1", dashboard_address=None)
        clients[name] = Client(cluster, set_as_default=False)
        print(name, "BLAS per worker:", list(clients[name].run(limit_blas).values()),
              "MALLOC_TRIM_THRESHOLD_:",
              set(clients[name].run(os.environ.get, "MALLOC_TRIM_THRESHOLD_").values()))
        xs[name] = clients[name].persist(make_x(args))
        clients[name].gather(xs[name])                 # generated on the workers, kept there

    x_local = make_x(args).compute(scheduler="sync")
    x_chunks = [np.ascontiguousarray(x_local[:, c * args.N:(c + 1) * args.N])
                for c in range(args.chunks)]           # contiguous, like the Dask blocks
    with threadpool_limits(1):
        info = limit_blas()
        print("BLAS in this process:", info)
        times = {name: [] for name in ["in-process loop, 1 thread", *sorted(layouts)]}
        cpus = {name: [] for name in times}        # CPU seconds the workers used
        results = {}
        for _ in range(args.rounds):
            t, cpu = time.perf_counter(), time.process_time()
            total, hs = 0.0, []
            for xc in x_chunks:
                y, h = model(xc)
                total += float(y.sum(dtype=np.float64))
                hs.append(h)
            times["in-process loop, 1 thread"].append(time.perf_counter() - t)
            cpus["in-process loop, 1 thread"].append(time.process_time() - cpu)
            results["in-process loop, 1 thread"] = np.concatenate(hs, axis=1)
            for name, client in clients.items():
                y, h = cgru.dask.apply(model, xs[name])
                cpu = sum(client.run(time.process_time).values())
                t = time.perf_counter()
                _, results[name] = client.gather(client.compute([y.sum(dtype=np.float64), h]))
                times[name].append(time.perf_counter() - t)
                cpus[name].append(sum(client.run(time.process_time).values()) - cpu)
    ref = results["in-process loop, 1 thread"]
    for name, r in results.items():
        assert np.array_equal(r, ref), name
    base = min(times["1 worker x 1 thread"])
    print(f"\nbest of {args.rounds} (all results identical); load average at end: "
          + "%.2f %.2f %.2f" % os.getloadavg())
    print("  (cpu/wall: CPU seconds the workers used per wall second in that best round;"
          " 2 threads can reach 2.0 on an idle 2-core machine)")
    for name, ts in times.items():
        b = int(np.argmin(ts))
        print(f"  {name:30s} {ts[b]:7.3f} s   speedup vs 1x1: {base / ts[b]:5.2f}   "
              f"cpu/wall {cpus[name][b] / ts[b]:4.2f}   (all: {', '.join(f'{v:.2f}' for v in ts)})")
    for client in clients.values():
        cluster = client.cluster
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
