"""cgru.Stream: the compiled stream, callable like a torch module (``s(x_t)`` is
``s.step(x_t)``), with a readable repr."""

from typing import Any

import numpy.typing as npt

from cgru._compiled import Stream as _CompiledStream


class Stream(_CompiledStream):
    """Stateful step-by-step inference with a unidirectional GRU.

    Made by ``GRU.stream(batch_size, h0)``; it keeps the weights the model had
    when the stream was made.  ``s.step(x_t)`` (or ``s(x_t)``) runs one step,
    ``s.run(x)`` a chunk; ``s.state`` is a copy of the state; ``s.reset()``.
    One stream is used by one thread at a time; make one stream per thread.
    """

    __slots__ = ()

    def __call__(self, x: npt.ArrayLike, out: npt.NDArray[Any] | None = None,
                 gates: npt.NDArray[Any] | None = None) -> npt.NDArray[Any]:
        """One step, as ``step``: x (N, I), or (I,) when batch_size is 1 -> the top
        layer's output (N, H) or (H,), written into ``out`` when given; ``gates``
        as for ``step``."""
        return self.step(x, out, gates)

    def __repr__(self) -> str:
        n = self.net
        return (f"cgru.Stream(input_size={n.input_size}, hidden_size={n.hidden_size}, "
                f"num_layers={n.num_layers}, batch_size={self.batch_size}, "
                f"batch_first={bool(self.batch_first)}, dtype={n.dtype.name!r})")

    def __reduce__(self) -> tuple[Any, ...]:
        """A stream pickles with its weights and its current state."""
        return (Stream, (self.net, self.batch_size, self.state, self.batch_first))

    @property
    def input_size(self) -> int:
        """I, features per step"""
        return int(self.net.input_size)

    @property
    def hidden_size(self) -> int:
        """H, the state size"""
        return int(self.net.hidden_size)
