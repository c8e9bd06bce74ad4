"""Score padded sequences with a cgru.GRU on a Dask cluster (cgru.dask.apply).

    pip install "cgru[dask]"
    python examples/dask_apply.py

A LocalCluster of two worker processes stands in for a real cluster: with a
real one, pass its scheduler address to Client() instead."""

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

import cgru
import cgru.dask

T, N, I, H = 100, 4096, 16, 32


def main():
    model = cgru.GRU(I, H, 2, batch_first=True)
    with LocalCluster(n_workers=2, threads_per_worker=2, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        # the data never leaves the cluster: generated (or read) on the workers,
        # one batch chunk of 256 sequences per task
        x = da.random.default_rng(0).standard_normal((N, T, I), chunks=(256, T, I),
                                                     dtype=np.float32)
        lengths = da.random.default_rng(1).integers(1, T + 1, N, chunks=256)
        y, h_n = cgru.dask.apply(model, x, lengths=lengths)
        # reduce on the workers; only the small results come back
        last = h_n[-1]                                     # (N, H) final state, top layer
        mean_y = y.sum(axis=1) / lengths[:, None]          # (N, H) mean over valid steps
        last, mean_y = client.compute([last, mean_y], sync=True)
        # the same in this process, to check
        xn, ln = x.compute(), lengths.compute()
        y_ref, h_ref = model(xn, lengths=ln)
    print(f"scored {N} sequences in {x.numblocks[0]} tasks; max |difference| from one "
          f"in-process call: {np.abs(last - h_ref[-1]).max():.3g}, "
          f"{np.abs(mean_y - y_ref.sum(axis=1) / ln[:, None]).max():.3g}")


if __name__ == "__main__":
    main()
