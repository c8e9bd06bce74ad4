"""cgru.dask.apply on a real dask.distributed LocalCluster (two worker processes,
loopback only), every output compared with a single-process run."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

import cgru
from conftest import need

TOL = {np.float32: 1e-5, np.float64: 1e-12}


@pytest.fixture(scope="module")
def cgd():
    need("dask")
    need("distributed")
    import cgru.dask
    return cgru.dask


@pytest.fixture(scope="module")
def client(cgd):
    distributed = need("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        with distributed.Client(cluster, set_as_default=False) as c:
            yield c


def single_process(g, x, lengths, h0, batch_chunks):
    """The same computation in this process: the model over each batch chunk (what
    every task must reproduce bit for bit) and over the whole batch at once."""
    b = 0 if g.batch_first else 1
    ys, hs, start = [], [], 0
    for n in batch_chunks:
        sl = slice(start, start + n)
        xi = x[sl] if b == 0 else x[:, sl]
        y, h = g(xi, None if h0 is None else h0[:, sl], None if lengths is None else lengths[sl])
        ys.append(y)
        hs.append(h)
        start += n
    return (np.concatenate(ys, axis=b), np.concatenate(hs, axis=1)), g(x, h0, lengths)


# (num_layers, bidirectional, dtype, reset_after, bias, batch_first, lengths, h0, x chunks)
CASES = [
    (2, True, np.float32, True, True, False, "dask", "numpy", (9, 7, 5)),
    (1, False, np.float64, False, False, True, "numpy", "dask", (6, 4, 5)),
    (3, False, np.float32, True, True, True, None, None, ((5, 4), 10, (3, 2))),  # T, I chunked
    (1, True, np.float64, True, True, False, "numpy", None, (9, 30, 5)),       # one chunk
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"L{c[0]}-D{2 if c[1] else 1}-"
                         f"{np.dtype(c[2]).name}-bf{int(c[5])}-len{c[6]}-h0{c[7]}")
def test_cluster_matches_single_process(case, cgd, client, rng):
    da = need("dask.array")
    L, bidir, dtype, reset_after, bias, bf, len_kind, h0_kind, chunks = case
    D, H, T, N, I = 2 if bidir else 1, 6, 9, 23, 5
    g = cgru.GRU(I, H, L, bidirectional=bidir, dtype=dtype, reset_after=reset_after,
                 bias=bias, batch_first=bf)
    xn = rng.standard_normal((N, T, I) if bf else (T, N, I)).astype(dtype)
    if bf:      # chunks are given as (T, N, I); batch_first puts N first
        chunks = (chunks[1], chunks[0], chunks[2])
    x = da.from_array(xn, chunks=chunks)
    batch_chunks = x.chunks[0 if bf else 1]
    lengths = None
    if len_kind:
        lengths = rng.integers(0, T + 1, N)
        lengths[:2] = (0, T)
    h0 = rng.standard_normal((L * D, N, H)).astype(dtype) if h0_kind else None
    lx = da.from_array(lengths, chunks=8) if len_kind == "dask" else lengths
    hx = da.from_array(h0, chunks=(1, 5, H)) if h0_kind == "dask" else h0

    y, h_n = cgd.apply(g, x, lengths=lx, h0=hx)
    assert y.dtype == h_n.dtype == g.dtype
    assert y.shape == ((N, T, D * H) if bf else (T, N, D * H)) and h_n.shape == (L * D, N, H)
    assert y.chunks[0 if bf else 1] == batch_chunks and h_n.chunks[1] == batch_chunks
    assert len(batch_chunks) > 1 or chunks[1] == 30

    cy, ch = client.gather(client.compute([y, h_n]))
    (py, ph), (wy, wh) = single_process(g, xn, lengths, h0, batch_chunks)
    assert np.array_equal(cy, py) and np.array_equal(ch, ph)      # the same chunks: exact
    np.testing.assert_allclose(cy, wy, rtol=0, atol=TOL[dtype])    # the whole batch at once
    np.testing.assert_allclose(ch, wh, rtol=0, atol=TOL[dtype])
    # and the y-only graph gives the same y
    assert np.array_equal(client.compute(cgd.apply(g, x, lx, hx, return_state=False)).result(), cy)


def model_holders(graph, model_type):
    """Keys of a dask graph whose value holds a model (directly or as a DataNode)."""
    return [k for k, v in dict(graph).items() if isinstance(getattr(v, "value", v), model_type)]


def test_model_is_in_the_graph_once(cgd, client, rng):
    dask = need("dask")
    da = need("dask.array")
    g = cgru.GRU(4, 64, 2)
    weights = sum(a.nbytes for a in g.state_dict().values())
    x = da.from_array(rng.standard_normal((5, 40, 4)).astype(np.float32), chunks=(5, 4, 4))
    y, h_n = cgd.apply(g, x, lengths=np.full(40, 5), h0=np.zeros((2, 40, 64)))
    assert x.numblocks[1] == 10
    # the graphs of y and h_n, optimized, and merged as dask.compute(y, h_n) submits them
    graphs = [y.__dask_graph__(), h_n.__dask_graph__()]
    graphs += [c.__dask_graph__() for c in dask.optimize(y, h_n)]
    graphs.append(dask.base.collections_to_expr([y, h_n]).__dask_graph__())
    for graph in graphs:
        [key] = model_holders(graph, cgru.GRU)
        # no other key carries the weights (no task holds a copy of the model)
        sizes = {k: len(pickle.dumps(v)) for k, v in dict(graph).items() if k != key}
        assert max(sizes.values()) < weights / 4, max(sizes.items(), key=lambda kv: kv[1])
    cy, ch = client.gather(client.compute([y, h_n]))
    wy, wh = g(x.compute(), np.zeros((2, 40, 64)), np.full(40, 5))
    np.testing.assert_allclose(cy, wy, rtol=0, atol=1e-5)
    np.testing.assert_allclose(ch, wh, rtol=0, atol=1e-5)


def test_threaded_scheduler_and_snapshot(cgd, rng):
    dask = need("dask")
    da = need("dask.array")
    g = cgru.GRU(3, 5, dtype=np.float64)
    xn = rng.standard_normal((4, 10, 3))
    y, h = cgd.apply(g, da.from_array(xn, chunks=(4, 3, 3)))
    expected = g(xn)
    g.load_state_dict({k: v * 0 for k, v in g.state_dict().items()})   # after apply
    cy, ch = dask.compute(y, h, scheduler="threads")
    np.testing.assert_allclose(cy, expected[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ch, expected[1], rtol=0, atol=1e-12)


def test_bad_arguments(cgd, rng):
    dask = need("dask")
    da = need("dask.array")
    g = cgru.GRU(3, 5)
    xn = rng.standard_normal((4, 10, 3)).astype(np.float32)
    x = da.from_array(xn, chunks=(4, 5, 3))
    with pytest.raises(TypeError, match="model must be a cgru.GRU"):
        cgd.apply(cgru.GRUCell(3, 5), x)
    with pytest.raises(TypeError, match="x must be a dask.array.Array"):
        cgd.apply(g, xn)
    with pytest.raises(ValueError, match="x must be 3-D"):
        cgd.apply(g, x[0])
    with pytest.raises(ValueError, match="input_size=3"):
        cgd.apply(g, da.zeros((4, 10, 2), chunks=5))
    with pytest.raises(TypeError, match="x must be a real numeric array"):
        cgd.apply(g, da.zeros((4, 10, 3), dtype=bool, chunks=5))
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        cgd.apply(g, x[:, da.from_array(np.arange(10)) > 3])
    with pytest.raises(ValueError, match=r"lengths must have shape \(10,\)"):
        cgd.apply(g, x, lengths=np.full(9, 4))
    with pytest.raises(ValueError, match=r"lengths must have shape \(10,\)"):
        cgd.apply(g, x, lengths=da.full(9, 4, chunks=3))
    with pytest.raises(TypeError, match="lengths must be integers"):
        cgd.apply(g, x, lengths=da.full(10, 4.0, chunks=3))
    with pytest.raises(ValueError, match="lengths must be <= the sequence length 4"):
        cgd.apply(g, x, lengths=np.full(10, 5))
    with pytest.raises(ValueError, match=r"h0 must have shape \(1, 10, 5\)"):
        cgd.apply(g, x, h0=np.zeros((1, 10, 4)))
    with pytest.raises(ValueError, match=r"h0 must have shape \(1, 10, 5\)"):
        cgd.apply(g, x, h0=da.zeros((2, 10, 5)))
    with pytest.raises(TypeError, match="h0 must be real"):
        cgd.apply(g, x, h0=da.zeros((1, 10, 5), dtype=complex))
    # values of a Dask lengths array are checked by the task that uses them
    y = cgd.apply(g, x, lengths=da.from_array(np.full(10, 7), chunks=5), return_state=False)
    with pytest.raises(ValueError, match="lengths must be <= the sequence length 4"):
        dask.compute(y, scheduler="sync")
    np.testing.assert_array_equal(xn, x.compute())          # the input is untouched


def test_import_cgru_does_not_import_dask():
    code = ("import sys, cgru; assert 'dask' not in sys.modules, 'dask imported'; "
            "import cgru.dask; assert 'dask' in sys.modules")
    need("dask")
    subprocess.run([sys.executable, "-c", code], check=True)
