"""``cgru.threads(n)``: limit the BLAS thread pool while running cgru.

cgru's kernels call BLAS (scipy's OpenBLAS) for the input projection and the
per-step recurrent product.  On small problems (a streaming step, a short
sequence with a few hundred hidden units) starting and synchronising BLAS
threads costs more than the arithmetic, and when the caller already runs one
sequence per thread the BLAS threads only compete for the same cores.  This
context manager sets the BLAS thread count for the whole process while it is
active (it is threadpoolctl's ``threadpool_limits`` for the BLAS libraries).
"""

import contextlib
from typing import Any, Literal

__all__ = ["threads"]


class threads(contextlib.ContextDecorator):
    """Context manager (and decorator) limiting BLAS to ``n`` threads::

        with cgru.threads(1):
            y, h = gru(x)

    ``n`` is a positive int (None: leave the current setting).  The limit applies on entry
    and the previous one comes back on exit.  It is process-wide (BLAS keeps one
    thread pool per process): set it around the code that runs cgru, not from
    several threads at once.  Needs the optional package threadpoolctl
    (``pip install threadpoolctl``).
    """

    def __init__(self, n: int | None) -> None:
        if n is not None:
            if isinstance(n, bool) or not hasattr(n, "__index__"):
                raise TypeError(f"threads: n must be a positive int or None, got {n!r}")
            n = n.__index__()
            if n < 1:
                raise ValueError(f"threads: n must be >= 1, got {n}")
        try:
            from threadpoolctl import threadpool_limits  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            raise ImportError("cgru.threads needs the optional package threadpoolctl: "
                              "pip install threadpoolctl") from None
        self.n = n
        self._limits = threadpool_limits
        self._active: list[Any] = []

    def __enter__(self) -> "threads":
        self._active.append(self._limits(limits=self.n, user_api="blas"))
        return self

    def __exit__(self, *exc: Any) -> Literal[False]:
        self._active.pop().restore_original_limits()
        return False

    def __repr__(self) -> str:
        return f"cgru.threads({self.n!r})"
