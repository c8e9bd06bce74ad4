"""Helpers shared by the engine tests: run tests/reference.py on a cgru model,
tolerances per dtype, random inputs in various memory layouts."""

import numpy as np

import reference

TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def tol(dtype):
    return TOL[np.dtype(dtype)]


def assert_close(actual, expected, dtype, what=""):
    """Absolute agreement within the dtype's tolerance (values are O(1))."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    err = np.max(np.abs(actual.astype(np.float64) - expected), initial=0.0)
    assert err <= tol(dtype), f"{what}: max abs error {err:.3g} > {tol(dtype):.0e}"
    return err


def reference_run(g, x, h0=None, lengths=None):
    """tests/reference.py on the weights and configuration of cgru.GRU ``g``
    (batched x only); returns float64 y, h_n."""
    return reference.gru(x, g.state_dict(), g.num_layers, g.hidden_size,
                         bidirectional=g.bidirectional, reset_after=g.reset_after,
                         h0=h0, lengths=lengths, batch_first=g.batch_first)


def randomize(g, rng, scale=0.5):
    """Give a model random O(1) weights (so float64 checks are not trivially small)."""
    g.load_state_dict({k: rng.uniform(-scale, scale, v.shape)
                       for k, v in g.state_dict().items()})
    return g


def layout(a, kind):
    """The same values as ``a`` in another memory layout: 'C', 'F' (Fortran
    order), 'strided' (a non-contiguous view into a bigger buffer), 'readonly'."""
    if kind == "C":
        return np.ascontiguousarray(a)
    if kind == "F":
        return np.asfortranarray(a)
    if kind == "strided":
        big = np.zeros(tuple(2 * s + 1 for s in a.shape), a.dtype)
        view = big[tuple(slice(1, None, 2) for _ in a.shape)]
        view[...] = a
        assert not view.flags.c_contiguous or a.size <= 1
        return view
    if kind == "readonly":
        b = np.array(a)
        b.flags.writeable = False
        return b
    if kind == "swapped":            # non-native byte order
        return np.asarray(a).astype(np.asarray(a).dtype.newbyteorder())
    if kind == "misaligned":         # data pointer not a multiple of the itemsize
        a = np.asarray(a)
        raw = np.zeros(a.nbytes + 1, np.uint8)[1:]
        b = raw.view(a.dtype).reshape(a.shape) if a.size else np.empty_like(a)
        b[...] = a
        return b
    raise ValueError(kind)


LAYOUTS = ("C", "F", "strided", "readonly", "swapped", "misaligned")
