"""Batch inference over Dask arrays: ``cgru.dask.apply``.

Imported only when used (``import cgru`` never imports Dask); needs the
``dask`` extra (``pip install cgru[dask]``).  See docs/dask.md.
"""

import copy
import operator

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from cgru import _validate as V
from cgru.gru import GRU

__all__ = ["apply"]


def _run_block(model, x, lengths, h0):
    """One task: the model over one batch chunk -> (y, h_n)."""
    return model(x, h0=h0, lengths=lengths)


def _aligned(arr, name, shape, chunks, check):
    """``arr`` as a Dask array of ``shape`` chunked as ``chunks`` (x's batch chunks,
    every other axis whole).  ``check(a, n)`` validates a NumPy array of batch size
    n and returns it converted; a Dask ``arr`` only has its dtype checked here
    (its values are checked by the tasks)."""
    ax = 0 if len(shape) == 1 else 1                      # the batch axis
    if isinstance(arr, da.Array):
        check(np.zeros(shape[:ax] + (0,) + shape[ax + 1:], arr.dtype), 0)
        if arr.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
        return arr.rechunk(chunks)
    return da.from_array(check(arr, shape[ax]), chunks=chunks)


def _check_h0(h0, shape, dtype):
    a = V.as_real_array(h0, "h0", dtype)
    if a.shape != shape:
        raise ValueError(f"h0 must have shape {shape} (num_layers*num_directions, batch, "
                         f"hidden_size), got {a.shape}")
    return a


def apply(model, x, lengths=None, h0=None, *, return_state=True):
    """Run ``model`` (a ``cgru.GRU``) over a Dask array of padded sequences.

    x: a ``dask.array.Array`` (T, N, I), or (N, T, I) when ``model.batch_first``,
    chunked along the batch axis N; each batch chunk is one task.  T and I
    must each be one chunk: when they are not, x is rechunked to
    ``{T: -1, I: -1}`` (keeping its batch chunks), which makes whole sequences
    of a chunk meet in one task's memory.  Chunk sizes must be known
    (``x.compute_chunk_sizes()``).  Any real dtype; the model converts.
    lengths: optional (N,) integers (a Dask or NumPy array), the valid length
    of each sequence, as in ``GRU.__call__``; aligned to x's batch chunks.
    h0: optional (num_layers * num_directions, N, H), aligned likewise.

    Returns Dask arrays, nothing is computed: y (T, N, D*H) (batch_first:
    (N, T, D*H)) and, with ``return_state``, h_n (num_layers * D, N, H), their
    batch chunks the same as x's.  Compute them together
    (``dask.compute(y, h_n)``) to run each chunk once.

    The model is copied when ``apply`` is called (later changes to it do not
    reach the graph) and stored ONCE in the graph, under one key that every
    task refers to: a distributed cluster sends it to each worker once, as
    its pickle (configuration and weights, see ``GRU.__getstate__``).  Kernels
    release the GIL, so a worker with several threads runs chunks in
    parallel.
    """
    if not isinstance(model, GRU):
        raise TypeError(f"model must be a cgru.GRU, got {type(model).__name__}")
    if not isinstance(x, da.Array):
        raise TypeError(f"x must be a dask.array.Array, got {type(x).__name__} "
                        f"(wrap NumPy data with dask.array.from_array(x, chunks=...))")
    if x.ndim != 3:
        raise ValueError(f"x must be 3-D ({'N, T' if model.batch_first else 'T, N'}, "
                         f"input_size), got shape {x.shape}")
    V.as_real_array(np.empty(0, x.dtype), "x", model.dtype)      # dtype check only
    if any(np.isnan(s) for s in x.shape):
        raise ValueError(f"x has unknown chunk sizes (shape {x.shape}); call "
                         f"x.compute_chunk_sizes() first")
    if x.shape[2] != model.input_size:
        raise ValueError(f"x must have input_size={model.input_size} features in its last "
                         f"dimension, got shape {x.shape}")
    b, t = (0, 1) if model.batch_first else (1, 0)
    T, N = x.shape[t], x.shape[b]
    if len(x.chunks[t]) > 1 or len(x.chunks[2]) > 1:
        x = x.rechunk({t: -1, 2: -1})
    batch_chunks = x.chunks[b]
    LD, H = model.num_layers * model.num_directions, model.hidden_size
    deps = [x]
    n_blocks = len(batch_chunks)
    args = [[None] * n_blocks, [None] * n_blocks]        # lengths, h0 keys per block
    if lengths is not None:
        lengths = _aligned(lengths, "lengths", (N,), (batch_chunks,),
                           lambda a, n: V.as_lengths(a, n, T))
        deps.append(lengths)
        args[0] = lengths.__dask_keys__()
    if h0 is not None:
        h0 = _aligned(h0, "h0", (LD, N, H), ((LD,), batch_chunks, (H,)),
                      lambda a, n: _check_h0(a, (LD, n, H), model.dtype))
        deps.append(h0)
        args[1] = [k[0] for k in h0.__dask_keys__()[0]]

    snapshot = copy.copy(model)              # pickles to config + weights, rebuilds the net
    state = snapshot.__getstate__()
    model_key = "cgru-model-" + tokenize(state.pop("_param_data"), sorted(state.items(), key=str))
    model_node = dask.delayed(snapshot, name=model_key, traverse=False)
    deps.append(model_node)

    token = tokenize(model_key, *(d.name if hasattr(d, "name") else d.key for d in deps))
    run = "cgru-run-" + token
    keys = x.__dask_keys__()
    xkeys = [k[0][0] for k in keys] if model.batch_first else [k[0] for k in keys[0]]
    run_graph = HighLevelGraph.from_collections(
        run, {(run, i): (_run_block, model_key, xkeys[i], args[0][i], args[1][i])
              for i in range(n_blocks)}, dependencies=deps)

    def output(prefix, index, item, chunks):
        name = f"cgru-{prefix}-{token}"
        layer = {(name,) + index(i): (operator.getitem, (run, i), item) for i in range(n_blocks)}
        graph = HighLevelGraph({**run_graph.layers, name: layer},
                               {**run_graph.dependencies, name: {run}})
        return da.Array(graph, name, chunks, meta=np.empty((0, 0, 0), model.dtype))

    D = model.num_directions
    if model.batch_first:
        y = output("y", lambda i: (i, 0, 0), 0, (batch_chunks, (T,), (D * H,)))
    else:
        y = output("y", lambda i: (0, i, 0), 0, ((T,), batch_chunks, (D * H,)))
    if not return_state:
        return y
    return y, output("h", lambda i: (0, i, 0), 1, ((LD,), batch_chunks, (H,)))
