"""How many threads a cgru call may use: ``cgru.threads(n)``, the process default.

cgru runs its kernels on its own pool of worker threads (pyx/c/pool.c; the
calling thread is one of them).  A call may use up to ``get_num_threads()``
threads; the kernels keep small work on the calling thread (docs/performance.md,
"Threads").  Results are the same, bit for bit, whatever the count.

The process default, read once at import:
  1. ``CGRU_NUM_THREADS`` when set (a positive int);
  2. else ``OMP_NUM_THREADS`` when set (its first entry; Dask workers and batch
     schedulers set it to keep each process to its share of the cores);
  3. else the number of CPUs this process may run on (``os.sched_getaffinity``).
``set_num_threads(n)`` replaces it; ``with cgru.threads(n):`` overrides it for
the calls made inside the block by this thread (or asyncio task) only.
"""

import contextlib
import contextvars
import os
import threading
import warnings
from typing import Any, Literal

__all__ = ["threads", "get_num_threads", "set_num_threads"]

MAX_THREADS = 256          # CGRU_POOL_MAX_THREADS in pyx/c/pool.h


def _check_count(n, what):
    if isinstance(n, bool) or not hasattr(n, "__index__"):
        raise TypeError(f"{what}: n must be a positive int or None, got {n!r}")
    n = n.__index__()
    if n < 1:
        raise ValueError(f"{what}: n must be >= 1, got {n}")
    return min(n, MAX_THREADS)


def _cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):        # not Linux
        return os.cpu_count() or 1


def _from_environment(environ=os.environ):
    """(count, source) of the process default (see the module docstring)."""
    for name in ("CGRU_NUM_THREADS", "OMP_NUM_THREADS"):
        raw = environ.get(name, "").strip()
        if not raw:
            continue
        first = raw.split(",")[0].strip()     # OMP_NUM_THREADS may list nested levels
        try:
            return _check_count(int(first), name), name
        except (ValueError, TypeError):
            warnings.warn(f"cgru: ignoring {name}={raw!r} (expected a positive int)",
                          RuntimeWarning, stacklevel=3)
    return min(_cpus(), MAX_THREADS), "sched_getaffinity"


_default, _default_source = _from_environment()
_override = contextvars.ContextVar("cgru_threads", default=None)


def get_num_threads() -> int:
    """The number of threads a cgru call made here may use (``cgru.threads`` in
    force in this thread, else the process default)."""
    n = _override.get()
    return _default if n is None else n


def set_num_threads(n: int | None) -> None:
    """Set the process default to ``n`` threads (None: back to the environment's
    default: CGRU_NUM_THREADS, OMP_NUM_THREADS, or the CPUs this process may use)."""
    global _default, _default_source
    if n is None:
        _default, _default_source = _from_environment()
    else:
        _default, _default_source = _check_count(n, "set_num_threads"), "set_num_threads"


class threads(contextlib.ContextDecorator):
    """Context manager (and decorator): cgru calls inside use at most ``n`` threads::

        with cgru.threads(1):        # this thread's calls stay on this thread
            y, h = gru(x)

    ``n`` is a positive int (None: leave the setting as it is).  It applies to the
    calls this thread (or asyncio task) makes inside the block; other threads keep
    their own setting.  The previous setting comes back on exit; blocks nest, and
    one decorated function may run in many threads at once.
    Through threadpoolctl (installed with cgru), BLAS (process-wide) is
    limited to ``n`` threads inside the block too, as in earlier versions
    (cgru's own products do not use BLAS; your NumPy code may).
    """

    def __init__(self, n: int | None) -> None:
        self.n = None if n is None else _check_count(n, "threads")
        self._local = threading.local()       # per thread: the blocks entered

    def __enter__(self) -> "threads":
        active = self._local.__dict__.setdefault("active", [])
        token = blas = None
        if self.n is not None:
            token = _override.set(self.n)
            try:
                from threadpoolctl import threadpool_limits  # type: ignore[import-untyped,unused-ignore]
            except ImportError:
                pass
            else:
                blas = threadpool_limits(limits=self.n, user_api="blas")
        active.append((token, blas))
        return self

    def __exit__(self, *exc: Any) -> Literal[False]:
        token, blas = self._local.active.pop()
        if blas is not None:
            blas.restore_original_limits()
        if token is not None:
            _override.reset(token)
        return False

    def __repr__(self) -> str:
        return f"cgru.threads({self.n!r})"
