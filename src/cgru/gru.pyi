"""Type stubs for ``cgru.gru`` (GRU, GRUCell, load): the public Python API.

tests/system/test_typing.py checks these against the module with mypy's
stubtest and runs ``mypy --strict`` on a script that uses every entry point."""

import os
from collections.abc import Mapping
from typing import IO, Any, Literal, NamedTuple, TypeAlias, overload

import numpy as np
import numpy.typing as npt
from typing_extensions import Self

from cgru._stream import Stream as Stream

__all__ = ["GRU", "GRUCell", "Gates", "load", "Stream"]

FORMAT_VERSION: int
DEFAULT_ACTIVATIONS: tuple[int, float, float, int, float, float]

_Array: TypeAlias = npt.NDArray[Any]
_Path: TypeAlias = str | bytes | os.PathLike[str] | os.PathLike[bytes]
# np.float32 / np.float64, "float32", np.dtype, or torch.float32 / torch.float64
_DType: TypeAlias = npt.DTypeLike | Any
_Seed: TypeAlias = int | np.random.Generator | None
_ActivationSpec: TypeAlias = str | tuple[str, float | None, float | None]
_Activations: TypeAlias = Any   # a (gate, candidate) pair of _ActivationSpec, or one per direction
# a NumPy array, a torch tensor, or anything np.asarray takes
_Input: TypeAlias = npt.ArrayLike | Any

_Weights: TypeAlias = Literal["float32", "float64", "float16", "bfloat16", "int8"]

class Gates(NamedTuple):
    """r, z, n of every layer and step, each (num_layers, *y.shape)."""

    r: _Array
    z: _Array
    n: _Array

class _Parameters:
    """What GRU and GRUCell both have (stub-only: each class defines it at run time)."""

    @property
    def input_size(self) -> int: ...
    @property
    def hidden_size(self) -> int: ...
    @property
    def bias(self) -> bool: ...
    @property
    def reset_after(self) -> bool: ...
    @property
    def dtype(self) -> np.dtype[Any]: ...
    @property
    def weights(self) -> str: ...
    def with_weights(self, weights: _Weights) -> Self: ...
    def state_dict(self) -> dict[str, _Array]: ...
    def load_state_dict(self, state_dict: Mapping[str, _Input]) -> None: ...
    def save(self, path: _Path | IO[bytes]) -> None: ...
    @classmethod
    def from_torch(
        cls, module_or_state_dict: Any, *, dtype: _DType | None = None, prefix: str | None = None
    ) -> Self: ...
    def to_torch(self) -> Any: ...

class GRU(_Parameters):
    """A multi-layer GRU with PyTorch's semantics and parameter names."""

    batch_first: bool
    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bias: bool = True,
        batch_first: bool = False,
        bidirectional: bool = False,
        reset_after: bool = True,
        dtype: _DType = ...,
        activations: _Activations | None = None,
        clip: float | None = None,
        seed: _Seed = None,
        weights: _Weights | None = None,
    ) -> None: ...
    @property
    def num_layers(self) -> int: ...
    @property
    def bidirectional(self) -> bool: ...
    @property
    def num_directions(self) -> Literal[1, 2]: ...
    @property
    def activations(
        self,
    ) -> list[tuple[tuple[str, float | None, float | None], tuple[str, float | None, float | None]]]: ...
    @property
    def clip(self) -> float | None: ...
    @overload
    def __call__(
        self,
        x: _Input,
        h0: _Input | None = None,
        lengths: _Input | None = None,
        return_gates: Literal[False] = False,
        *,
        hx: _Input | None = None,
    ) -> tuple[_Array, _Array]: ...
    @overload
    def __call__(
        self,
        x: _Input,
        h0: _Input | None,
        lengths: _Input | None,
        return_gates: Literal[True],
        *,
        hx: _Input | None = None,
    ) -> tuple[_Array, _Array, Gates]: ...
    @overload
    def __call__(
        self,
        x: _Input,
        h0: _Input | None = None,
        lengths: _Input | None = None,
        *,
        return_gates: Literal[True],
        hx: _Input | None = None,
    ) -> tuple[_Array, _Array, Gates]: ...
    forward = __call__
    def stream(self, batch_size: int = 1, h0: _Input | None = None) -> Stream: ...
    def __getstate__(self) -> dict[str, Any]: ...
    def __setstate__(self, state: Mapping[str, Any]) -> None: ...
    @classmethod
    def from_keras(
        cls, layer_or_model: Any, *, dtype: _DType | None = None, layer: str | None = None
    ) -> Self: ...
    @classmethod
    def from_keras_all(cls, model: Any, *, dtype: _DType | None = None) -> dict[str, Self]: ...
    def to_keras(self) -> Any: ...
    @classmethod
    def from_onnx(
        cls, model_or_path: Any, node: str | None = None, *, dtype: _DType | None = None
    ) -> Self: ...
    @classmethod
    def from_onnx_all(cls, model_or_path: Any, *, dtype: _DType | None = None) -> dict[str, Self]: ...
    def to_onnx(
        self, path: _Path | None = None, *, opset: int = 14, h0: bool = False, lengths: bool = False
    ) -> Any: ...

def load(path: _Path | IO[bytes]) -> GRU | GRUCell: ...

class GRUCell(_Parameters):
    """One GRU cell (PyTorch's GRUCell names: weight_ih, weight_hh, bias_ih, bias_hh)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        bias: bool = True,
        reset_after: bool = True,
        dtype: _DType = ...,
        seed: _Seed = None,
        weights: _Weights | None = None,
    ) -> None: ...
    def __call__(self, x: _Input, h: _Input | None = None, *, hx: _Input | None = None) -> _Array: ...
    forward = __call__
