"""Argument checks and conversions shared by the Python API (no NumPy copies of
the caller's data are ever written to)."""

import numbers
import operator
import os

import numpy as np

DTYPES = {np.dtype(np.float32): np.float32, np.dtype(np.float64): np.float64}
# BLAS takes 32-bit integer sizes.
MAX_DIM = 2**31 - 1


def as_dtype(dtype):
    """The model dtype: float32 or float64 (also as torch.float32 / torch.float64,
    read by name: torch is never imported).  None, which NumPy reads as float64,
    is refused: it is a missing argument, not a choice."""
    if dtype is None:
        raise TypeError("dtype must be float32 or float64, got None")
    if type(dtype).__module__ == "torch" and str(dtype).startswith("torch."):
        dtype = str(dtype)[len("torch."):]
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if d not in DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {d}")
    return d


def as_rng(seed):
    """The generator that initialises weights: ``seed`` None (fresh entropy), a
    non-negative int or a numpy.random.Generator (used as is)."""
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int or a numpy.random.Generator, got "
                        f"{type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng(operator.index(seed))


def one_of(value, hx, name):
    """``name`` or its PyTorch spelling ``hx`` (the initial state), not both."""
    if hx is None:
        return value
    if value is not None:
        raise TypeError(f"pass the initial state as {name}= or as hx=, not both")
    return hx


def as_size(value, name, minimum=1):
    """A positive (or >= minimum) Python int, from any integral number but bool."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    v = operator.index(value)
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    if v > MAX_DIM // 3:
        raise ValueError(f"{name} is too large: {v} (at most {MAX_DIM // 3})")
    return v


def from_tensor(x):
    """A torch tensor as an ndarray (torch is never imported); anything else as is.
    bfloat16 / float16 tensors, which NumPy cannot take, become float32 first."""
    if hasattr(x, "detach") and hasattr(x, "numpy"):
        x = x.detach().cpu()
        if str(getattr(x, "dtype", "")) in ("torch.bfloat16", "torch.float16"):
            x = x.float()
        x = x.numpy()
    return x


def as_real_array(x, name, dtype):
    """``x`` as an ndarray of ``dtype`` (a new array unless it already is one;
    the caller's array is never modified).  Rejects complex, bool and
    non-numeric data with TypeError."""
    x = from_tensor(x)
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as e:
        raise TypeError(f"{name} must be a real numeric array: {e}") from None
    if a.dtype.kind == "c":
        raise TypeError(f"{name} must be real, got complex dtype {a.dtype}")
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    return a.astype(dtype, copy=False)


def as_lengths(lengths, n, t):
    """``lengths`` as C-contiguous int64 (n,), each in [0, t]."""
    lengths = from_tensor(lengths)
    try:
        a = np.asarray(lengths)
    except (ValueError, TypeError) as e:
        raise TypeError(f"lengths must be an integer array: {e}") from None
    if a.size == 0 and a.dtype.kind == "f" and not isinstance(lengths, np.ndarray):
        # np.asarray([]) is float64; an empty list has no values to check
        a = a.astype(np.int64)
    if a.dtype.kind not in "iu":
        raise TypeError(f"lengths must be integers, got dtype {a.dtype}")
    if a.shape != (n,):
        raise ValueError(f"lengths must have shape ({n},) (one per sample), got {a.shape}")
    if n and a.min() < 0:
        raise ValueError(f"lengths must be >= 0, got {a.min()}")
    if n and a.max() > t:
        raise ValueError(f"lengths must be <= the sequence length {t}, got {a.max()}")
    return np.ascontiguousarray(a, dtype=np.int64)


def physical_memory():
    """Bytes of memory a new allocation can get: MemAvailable where Linux says
    (/proc/meminfo), else all physical memory, or None where the platform does
    not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(nbytes, what):
    """MemoryError, before anything is allocated, when ``what`` would need more
    than the memory this machine has available (an absurd size must fail fast,
    not swap, hang or get the process killed).  "Available" keeps 1/8 of what
    the system reports in reserve: taking all of it gets a process killed just
    the same.  Sizes below 64 MiB are not checked (reading /proc/meminfo would
    cost more than a small call)."""
    if nbytes < 64 * 2**20:
        return
    phys = physical_memory()
    if phys and nbytes > 0.875 * phys:
        raise MemoryError(f"{what} needs {nbytes / 2**30:.1f} GiB, more than the "
                          f"{0.875 * phys / 2**30:.1f} GiB of memory available (7/8 of "
                          f"the {phys / 2**30:.1f} GiB free)")
