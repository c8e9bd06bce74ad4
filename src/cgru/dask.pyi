"""Type stubs for ``cgru.dask`` (needs the ``dask`` extra)."""

from typing import Any, Literal, overload

import dask.array as da

from cgru.gru import GRU

__all__ = ["apply"]

@overload
def apply(
    model: GRU, x: da.Array, lengths: Any = None, h0: Any = None, *,
    return_state: Literal[True] = True,
) -> tuple[da.Array, da.Array]: ...
@overload
def apply(
    model: GRU, x: da.Array, lengths: Any = None, h0: Any = None, *, return_state: Literal[False]
) -> da.Array: ...
@overload
def apply(
    model: GRU, x: da.Array, lengths: Any = None, h0: Any = None, *, return_state: bool = True
) -> da.Array | tuple[da.Array, da.Array]: ...
