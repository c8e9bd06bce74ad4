"""Type stubs for the compiled module ``cgru._compiled`` (compiled weights and streams)."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

_Float = np.float32 | np.float64
_Array = npt.NDArray[Any]

class _Net:
    """The weights of a GRU in kernel form (internal; made by ``cgru.GRU``)."""

    @property
    def num_layers(self) -> int: ...
    @property
    def num_directions(self) -> int: ...
    @property
    def reset_after(self) -> int: ...
    @property
    def input_size(self) -> int: ...
    @property
    def hidden_size(self) -> int: ...
    @property
    def dtype(self) -> np.dtype[Any]: ...
    @property
    def reverse_only(self) -> bool: ...
    @property
    def weight_format(self) -> int: ...
    def __init__(
        self,
        weights: Sequence[tuple[_Array, _Array, _Array | None, _Array | None]],
        input_size: int,
        hidden_size: int,
        num_layers: int,
        num_directions: int,
        reset_after: bool,
        dtype: npt.DTypeLike,
        cells: Sequence[tuple[int, float, float, int, float, float, float | None]],
        reverse_only: bool = False,
        weight_format: int = 0,
        scales: Sequence[tuple[_Array, _Array]] | None = None,
    ) -> None: ...
    def stored_weights(self, k: int) -> tuple[_Array, _Array, _Array | None, _Array | None]: ...
    def forward(
        self, x: _Array, h: _Array, lengths: npt.NDArray[np.int64] | None, batch_first: bool
    ) -> _Array: ...

def activate(kind: int, alpha: float, beta: float, x: npt.ArrayLike) -> _Array:
    """Apply activation ``kind`` elementwise to a float32 or float64 array."""

class Stream:
    """Stateful step-by-step inference with a unidirectional GRU
    (made by ``GRU.stream(batch_size, h0)``)."""

    @property
    def net(self) -> _Net: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def batch_first(self) -> bool: ...
    @property
    def state(self) -> _Array:
        """The state (num_layers, batch_size, hidden_size), a copy."""
    @property
    def input_size(self) -> int: ...
    @property
    def hidden_size(self) -> int: ...
    def __init__(self, net: _Net, batch_size: int, h0: npt.ArrayLike | None,
                 batch_first: bool) -> None: ...
    def reset(self, mask: npt.ArrayLike | None = None) -> None:
        """Zero the state, or only the samples where the boolean ``mask`` is True."""
    def step(self, x: npt.ArrayLike, out: _Array | None = None) -> _Array:
        """One step: x (N, I), or (I,) when batch_size is 1 -> the top layer's output."""
    def run(self, x: npt.ArrayLike) -> _Array:
        """Run a chunk (T, N, I), continuing the state; returns the top layer's outputs."""
