"""Hypothesis fuzzing of every public entry point.

Random shapes, dtypes, strides, lengths, states and NaN / Inf / huge values
go into GRU(...), GRU.__call__, GRUCell, Stream.step/run/reset,
load_state_dict, cgru.load and GRU.__setstate__ (crafted pickles).  Each case ends in exactly one of two ways:
a clear ValueError / TypeError (MemoryError for impossible sizes), or an
answer equal to tests/reference.py's.  The caller's arrays are never modified.

CGRU_FUZZ_EXAMPLES sets the examples per test (default 60; the documented
campaign used more); CGRU_FUZZ_REPORT names a JSON file for the case counts.
"""

import collections
import io
import json
import math
import os
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cgru
import reference

EXAMPLES = int(os.environ.get("CGRU_FUZZ_EXAMPLES", "60"))
fuzz = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
CLEAN = (ValueError, TypeError)
COUNTS = collections.defaultdict(collections.Counter)   # entry point -> outcome -> cases


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    total = {k: dict(v) for k, v in sorted(COUNTS.items())}
    total["all"] = dict(sum(COUNTS.values(), collections.Counter()))
    path = os.environ.get("CGRU_FUZZ_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump(total, f, indent=1)


def outcome(entry, fn):
    """Run fn(); a clean exception is counted and returned, anything else raises."""
    try:
        result = fn()
    except MemoryError as e:
        COUNTS[entry]["MemoryError"] += 1
        return e
    except CLEAN as e:
        assert str(e), f"{type(e).__name__} without a message"
        COUNTS[entry][type(e).__name__] += 1
        return e
    COUNTS[entry]["answer"] += 1
    return result


# ------------------------------------------------------------ strategies
SPECIAL = [math.nan, math.inf, -math.inf, 1e30, -1e30, 0.0, -0.0, 1e-30]
VALUE_DTYPES = ["float32", "float64", "float16", "int32", "int8", "uint8"]
BAD_DTYPES = ["complex64", "bool", "object", "U3", "datetime64[s]"]


@st.composite
def values(draw, shape, special=True):
    """A float64 array of ``shape``: standard normal, sometimes NaN/Inf/huge."""
    seed = draw(st.integers(0, 2**32 - 1))
    a = np.random.default_rng(seed).standard_normal(shape)
    if special and a.size and draw(st.integers(0, 3)) == 0:
        k = draw(st.integers(1, min(3, a.size)))
        flat = a.reshape(-1)
        for _ in range(k):
            flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from(SPECIAL))
    return a


@st.composite
def arrays(draw, shape, dtypes=VALUE_DTYPES, bad_rate=12):
    """An array of ``shape`` in a random dtype and memory layout (C, Fortran,
    strided, reversed), or occasionally something that is not a real array."""
    if draw(st.integers(0, bad_rate)) == 0:
        kind = draw(st.sampled_from(BAD_DTYPES + ["list", "str", "none"]))
        if kind == "list":
            return np.zeros(shape).tolist()
        if kind == "str":
            return "abc"
        if kind == "none":
            return object()
        return np.zeros(shape, dtype=kind)
    a = draw(values(shape))
    with np.errstate(all="ignore"):
        a = a.astype(draw(st.sampled_from(dtypes)))
    layout = draw(st.sampled_from(["C", "F", "strided", "reversed"]))
    if layout == "F":
        a = np.asfortranarray(a)
    elif layout == "strided" and a.ndim:
        big = np.repeat(a, 2, axis=0)
        a = big[::2]
    elif layout == "reversed" and a.ndim:
        a = np.ascontiguousarray(a[::-1])[::-1]
    return a


@st.composite
def models(draw, streamable=False):
    I, H = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    g = cgru.GRU(I, H, draw(st.integers(1, 2)), bias=draw(st.booleans()),
                 batch_first=draw(st.booleans()),
                 bidirectional=False if streamable else draw(st.booleans()),
                 reset_after=draw(st.booleans()), dtype=draw(st.sampled_from(["float32",
                                                                               "float64"])))
    return g


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-5) if np.dtype(dtype) == np.float32 else \
        dict(rtol=1e-10, atol=1e-12)


def as_model_input(a, dtype):
    """What cgru computes on: the caller's values cast to the model dtype."""
    with np.errstate(all="ignore"):
        return np.asarray(a).astype(dtype).astype(np.float64)


def ref_gru(g, x, h0=None, lengths=None, batch_first=False):
    """The reference of model g: its activations and clip too (a crafted pickle
    state may set them)."""
    acts = [tuple(reference.activation(*spec) for spec in pair) for pair in g.activations]
    with np.errstate(all="ignore"):
        return reference.gru(as_model_input(x, g.dtype), g.state_dict(), g.num_layers,
                             g.hidden_size, bidirectional=g.bidirectional,
                             reset_after=g.reset_after, batch_first=batch_first,
                             h0=None if h0 is None else as_model_input(h0, g.dtype),
                             lengths=lengths, activations=acts, clip=g.clip)


def ill_conditioned(g):
    """Weights with inf or |w| > 1e4: a float32 rounding difference of 1e-10 in a
    state, times a weight of 1e30, flips a gate, so the float64 reference and any
    float32 computation may disagree by O(1) there (both right to their precision)."""
    w = [np.asarray(v, np.float64) for v in g.state_dict().values()]
    return any(np.any(np.isinf(a) | (np.abs(np.nan_to_num(a)) > 1e4)) for a in w)


def assert_like_reference(g, y, y_ref):
    """y against the reference; for an ill-conditioned model what still holds: the
    shape, and with the default gate functions every output in [-1, 1] or NaN."""
    if not ill_conditioned(g):
        np.testing.assert_allclose(y, y_ref, equal_nan=True, **tol(g.dtype))
        return
    assert y.shape == y_ref.shape and y.dtype == g.dtype, (y.shape, y_ref.shape, y.dtype)
    if g._has_default_activations() and g.clip is None:
        finite = y[~np.isnan(y)]
        assert np.all(np.abs(finite) <= 1), finite[np.abs(finite) > 1]


def snapshot(*arrays):
    return [(a, a.copy()) for a in arrays if isinstance(a, np.ndarray)]


def assert_unmodified(snap):
    for a, before in snap:
        np.testing.assert_array_equal(a, before)


# ---------------------------------------------------------- constructors
BAD_SIZE = st.one_of(st.integers(-3, 0), st.sampled_from([2**31, 2**40, 10**9]), st.just(True),
                    st.floats(-2, 5), st.just(None), st.just("3"), st.just(np.float32(2)))
BAD_FLAG = st.one_of(st.integers(0, 2), st.just(None), st.just("yes"), st.just(1.0))
BAD_DTYPE = st.sampled_from([np.float16, np.int32, "x", None, complex, object, "float128"])


@st.composite
def constructor_args(draw, cell=False):
    """Valid arguments with 0, 1 or 2 of them replaced by bad values."""
    args = {"input_size": draw(st.integers(1, 6)), "hidden_size": draw(st.integers(1, 6)),
            "bias": draw(st.booleans()), "reset_after": draw(st.booleans()),
            "dtype": draw(st.sampled_from([np.float32, np.float64, "float32", "f8"]))}
    if not cell:
        args.update(num_layers=draw(st.integers(1, 3)), batch_first=draw(st.booleans()),
                    bidirectional=draw(st.one_of(st.booleans(), st.just(np.bool_(True)))))
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2]))):
        k = draw(st.sampled_from(sorted(args)))
        args[k] = draw(BAD_SIZE if k.endswith(("size", "layers")) else
                       BAD_DTYPE if k == "dtype" else BAD_FLAG)
    return args


@fuzz
@given(constructor_args())
def test_fuzz_gru_constructor(args):
    r = outcome("GRU()", lambda: cgru.GRU(**args))
    if isinstance(r, BaseException):
        return
    assert (r.input_size, r.hidden_size, r.num_layers) == \
        (args["input_size"], args["hidden_size"], args["num_layers"])
    assert r.dtype == np.dtype(args["dtype"])
    for k, shape in r._param_shapes().items():
        assert r.state_dict()[k].shape == shape


@fuzz
@given(constructor_args(cell=True))
def test_fuzz_cell_constructor(args):
    r = outcome("GRUCell()", lambda: cgru.GRUCell(**args))
    if not isinstance(r, BaseException):
        assert (r.input_size, r.hidden_size) == (args["input_size"], args["hidden_size"])


# --------------------------------------------------------------- calling
@st.composite
def calls(draw):
    g = draw(models())
    D, L, H, I = g.num_directions, g.num_layers, g.hidden_size, g.input_size
    T, N = draw(st.integers(0, 5)), draw(st.integers(0, 4))
    form = draw(st.sampled_from(["batched"] * 4 + ["unbatched", "wrong"]))
    if form == "batched":
        shape = (N, T, I) if g.batch_first else (T, N, I)
    elif form == "unbatched":
        shape = (T, I)
    else:
        shape = tuple(draw(st.lists(st.integers(0, 4), max_size=4)))
    x = draw(arrays(shape))
    h0 = None
    if draw(st.booleans()):
        hshape = {"batched": (L * D, N, H), "unbatched": (L * D, H)}.get(form, (L * D, N, H))
        if draw(st.integers(0, 5)) == 0:
            hshape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
        h0 = draw(arrays(hshape, bad_rate=20))
    lengths = None
    if draw(st.booleans()):
        choice = draw(st.integers(0, 6))
        if choice == 0:
            lengths = draw(st.lists(st.integers(-2, T + 2), max_size=5))
        elif choice == 1:
            lengths = np.zeros(N, dtype=np.float64)
        else:
            lengths = np.array(draw(st.lists(st.integers(0, T), min_size=N, max_size=N)),
                               dtype=draw(st.sampled_from(["int64", "int32", "uint8"])))
    return g, form, x, h0, lengths


@fuzz
@given(calls())
def test_fuzz_gru_call(case):
    g, form, x, h0, lengths = case
    snap = snapshot(x, h0, lengths)
    r = outcome("GRU.__call__", lambda: g(x, h0, lengths))
    assert_unmodified(snap)
    if isinstance(r, BaseException):
        return
    y, h_n = r
    assert y.dtype == g.dtype and h_n.dtype == g.dtype
    xa = np.asarray(x)
    if xa.ndim == 2:
        y_ref, h_ref = ref_gru(g, xa[:, None], None if h0 is None else np.asarray(h0)[:, None])
        y_ref, h_ref = y_ref[:, 0], h_ref[:, 0]
    else:
        lens = None if lengths is None else np.asarray(lengths)
        y_ref, h_ref = ref_gru(g, xa, h0, lens, g.batch_first)
    np.testing.assert_allclose(y, y_ref, equal_nan=True, **tol(g.dtype))
    np.testing.assert_allclose(h_n, h_ref, equal_nan=True, **tol(g.dtype))


@st.composite
def cell_calls(draw):
    c = cgru.GRUCell(draw(st.integers(1, 4)), draw(st.integers(1, 5)), bias=draw(st.booleans()),
                     reset_after=draw(st.booleans()),
                     dtype=draw(st.sampled_from(["float32", "float64"])))
    N = draw(st.integers(0, 4))
    form = draw(st.sampled_from(["batched", "batched", "unbatched", "wrong"]))
    shape = {"batched": (N, c.input_size), "unbatched": (c.input_size,)}.get(
        form, tuple(draw(st.lists(st.integers(0, 4), max_size=3))))
    x = draw(arrays(shape))
    h = None
    if draw(st.booleans()):
        h = draw(arrays(shape[:-1] + (c.hidden_size,) if shape and draw(st.integers(0, 4))
                        else tuple(draw(st.lists(st.integers(0, 4), max_size=3))), bad_rate=20))
    return c, x, h


@fuzz
@given(cell_calls())
def test_fuzz_gru_cell_call(case):
    c, x, h = case
    snap = snapshot(x, h)
    r = outcome("GRUCell.__call__", lambda: c(x, h))
    assert_unmodified(snap)
    if isinstance(r, BaseException):
        return
    xa = as_model_input(x, c.dtype)
    x2 = np.atleast_2d(xa)
    h2 = np.zeros((x2.shape[0], c.hidden_size)) if h is None else \
        as_model_input(h, c.dtype).reshape(x2.shape[0], c.hidden_size)
    sd = {k: v.astype(np.float64) for k, v in c.state_dict().items()}
    zeros = np.zeros(3 * c.hidden_size)
    with np.errstate(all="ignore"):
        want = reference.cell(x2, h2, sd["weight_ih"], sd["weight_hh"], sd.get("bias_ih", zeros),
                              sd.get("bias_hh", zeros), c.reset_after)
    np.testing.assert_allclose(r, want.reshape(r.shape), equal_nan=True, **tol(c.dtype))


# --------------------------------------------------------------- streams
@st.composite
def stream_programs(draw):
    g = draw(models(streamable=True))
    N = draw(st.integers(1, 3))
    I, H = g.input_size, g.hidden_size
    ops = []
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["step", "step", "step_out", "run", "reset", "reset_mask"]))
        if op in ("step", "step_out"):
            shape = (N, I) if (N > 1 or draw(st.booleans())) else (I,)
            if draw(st.integers(0, 6)) == 0:
                shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
            out = None
            if op == "step_out":
                oshape = (N, H) if len(shape) == 2 else (H,)
                out = np.empty(oshape, dtype=draw(st.sampled_from([g.dtype.name, g.dtype.name,
                                                                    "float16", "int32"])))
                if draw(st.integers(0, 4)) == 0:
                    out = np.empty((2,) + oshape, dtype=g.dtype)[0] if draw(st.booleans()) \
                        else np.empty(oshape[:-1] + (2 * H,), dtype=g.dtype)[..., ::2]
            ops.append((op, draw(arrays(shape)), out))
        elif op == "run":
            T = draw(st.integers(0, 4))
            shape = (N, T, I) if g.batch_first else (T, N, I)
            if N == 1 and draw(st.booleans()):
                shape = (T, I)
            ops.append((op, draw(arrays(shape)), None))
        elif op == "reset":
            ops.append((op, None, None))
        else:
            mask = np.array(draw(st.lists(st.booleans(), min_size=N, max_size=N)))
            if draw(st.integers(0, 5)) == 0:
                mask = mask.astype(np.int8) if draw(st.booleans()) else mask[:-1]
            ops.append((op, mask, None))
    h0 = draw(arrays((g.num_layers, N, H), dtypes=["float32", "float64"], bad_rate=30)) \
        if draw(st.booleans()) else None
    return g, N, h0, ops


@fuzz
@given(stream_programs())
def test_fuzz_stream(program):
    g, N, h0, ops = program
    s = outcome("GRU.stream", lambda: g.stream(N, h0))
    if isinstance(s, BaseException):
        return
    state = np.zeros((g.num_layers, N, g.hidden_size)) if h0 is None else \
        as_model_input(h0, g.dtype)
    for op, arg, out in ops:
        snap = snapshot(arg)
        if op in ("step", "step_out"):
            r = outcome("Stream.step", lambda: s.step(arg, out=out))
            assert_unmodified(snap)
            if isinstance(r, BaseException):
                np.testing.assert_allclose(s.state, state, equal_nan=True,
                                           **tol(g.dtype))         # unchanged
                continue
            if out is not None:
                assert r is out
            x = as_model_input(arg, g.dtype).reshape(N, g.input_size)
            y_ref, state = ref_gru(g, x[None], state)
            np.testing.assert_allclose(r, y_ref[0].reshape(r.shape), equal_nan=True,
                                       **tol(g.dtype))
        elif op == "run":
            r = outcome("Stream.run", lambda: s.run(arg))
            assert_unmodified(snap)
            if isinstance(r, BaseException):
                continue
            xa = as_model_input(arg, g.dtype)
            unbatched = xa.ndim == 2
            if unbatched:
                xa = xa[:, None]
            bf = g.batch_first and not unbatched
            y_ref, state = ref_gru(g, xa, state, batch_first=bf)
            np.testing.assert_allclose(r, y_ref[:, 0] if unbatched else y_ref, equal_nan=True,
                                       **tol(g.dtype))
        elif op == "reset":
            s.reset()
            state = np.zeros_like(state)
        else:
            r = outcome("Stream.reset(mask)", lambda: s.reset(arg))
            if not isinstance(r, BaseException):
                state[:, arg] = 0
        np.testing.assert_allclose(s.state, state, equal_nan=True, **tol(g.dtype))


# ------------------------------------------------------- load_state_dict
@st.composite
def state_dicts(draw):
    g = draw(models())
    sd = {k: draw(arrays(v.shape, bad_rate=200)) for k, v in g.state_dict().items()}
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        action = draw(st.sampled_from(["drop", "extra", "reshape", "transpose"]))
        keys = sorted(sd)
        k = draw(st.sampled_from(keys))
        if action == "drop":
            del sd[k]
        elif action == "extra":
            sd[k + "_x"] = np.zeros(3)
        elif action == "reshape" and isinstance(sd[k], np.ndarray):
            sd[k] = sd[k].reshape(-1)[: max(0, sd[k].size - 1)]
        elif action == "transpose" and isinstance(sd[k], np.ndarray):
            sd[k] = sd[k].T
    container = draw(st.sampled_from(["dict"] * 8 + ["list", "none"]))
    if container == "list":
        sd = list(sd.items())
    elif container == "none":
        sd = None
    return g, sd


@fuzz
@given(state_dicts())
def test_fuzz_load_state_dict(case):
    g, sd = case
    before = g.state_dict()
    snap = snapshot(*(sd.values() if isinstance(sd, dict) else []))
    r = outcome("GRU.load_state_dict", lambda: g.load_state_dict(sd))
    if isinstance(sd, dict):
        assert_unmodified(snap)
    after = g.state_dict()
    if isinstance(r, BaseException):     # nothing changed
        for k in before:
            np.testing.assert_array_equal(after[k], before[k])
        return
    for k, v in sd.items():
        np.testing.assert_array_equal(after[k], as_model_input(v, g.dtype).astype(g.dtype))
    x = np.linspace(-1, 1, 2 * g.input_size).reshape(2, 1, g.input_size)
    y, _ = g(x.swapaxes(0, 1) if g.batch_first else x)
    y_ref, _ = ref_gru(g, x.swapaxes(0, 1) if g.batch_first else x, batch_first=g.batch_first)
    assert_like_reference(g, y, y_ref)


# ------------------------------------------------------------ cgru.load
def _saved(g):
    buf = io.BytesIO()
    g.save(buf)
    return buf.getvalue()


@st.composite
def model_files(draw):
    g = draw(models())
    data = bytearray(_saved(g))
    action = draw(st.sampled_from(["truncate", "flip", "splice", "config", "junk", "intact"]))
    if action == "truncate":
        data = data[:draw(st.integers(0, len(data) - 1))]
    elif action == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
    elif action == "splice":
        i = draw(st.integers(0, len(data)))
        data[i:i] = draw(st.binary(min_size=1, max_size=64))
    elif action == "config":
        # a well-formed zip whose __config__ is random JSON-ish text
        config = draw(st.one_of(
            st.text(max_size=40),
            st.dictionaries(st.sampled_from(["input_size", "hidden_size", "num_layers", "bias",
                                             "batch_first", "bidirectional", "reset_after",
                                             "dtype", "kind", "activations", "clip"]),
                            st.one_of(st.integers(-2, 2**40), st.booleans(), st.none(),
                                      st.text(max_size=8), st.floats(allow_nan=True)))
            .map(json.dumps)))
        buf = io.BytesIO()
        np.savez(buf, __config__=np.array(config), **g.state_dict())
        data = bytearray(buf.getvalue())
    elif action == "junk":
        data = bytearray(draw(st.binary(max_size=200)))
    return g, action, bytes(data)


@fuzz
@given(model_files())
def test_fuzz_load(tmp_path_factory, case):
    g, action, data = case
    path = tmp_path_factory.mktemp("load") / "m.npz"
    path.write_bytes(data)
    r = outcome("cgru.load", lambda: cgru.load(path))
    if action == "intact":
        assert not isinstance(r, BaseException), r
    if isinstance(r, BaseException):
        return
    # it loaded: a working model whose answers are the reference's for its weights
    inner = getattr(r, "_gru", r)
    x = np.linspace(-1, 1, 3 * inner.input_size).reshape(3, 1, inner.input_size)
    if inner.batch_first:
        x = x.swapaxes(0, 1)
    y, _ = inner(x)
    y_ref, _ = ref_gru(inner, x, batch_first=inner.batch_first)
    np.testing.assert_allclose(y, y_ref, equal_nan=True, **tol(inner.dtype))
    if action == "intact":
        for k, v in g.state_dict().items():
            np.testing.assert_array_equal(r.state_dict()[k], v)


# ------------------------------------------------------------- unpickling
FIELD_VALUES = st.one_of(
    st.integers(-3, 8), st.sampled_from([10**5, 2**31, 2**62, 10**30]), st.booleans(),
    st.none(), st.floats(allow_nan=True), st.text(max_size=6),
    st.sampled_from([np.float16, np.float32, np.float64, np.int32, object, "float32"]),
    st.lists(st.integers(-2, 12), max_size=7).map(tuple),
    st.sampled_from([np.zeros(3, np.float32), np.zeros((2, 2)), np.zeros(4, object), [1.0, 2.0]]))


@st.composite
def pickled_states(draw):
    """A GRU's pickled state with up to three fields replaced (or dropped)."""
    g = draw(models())
    state = g.__getstate__()
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(sorted(state) + ["_extra"]))
        if draw(st.integers(0, 9)) == 0:
            state.pop(key, None)
        else:
            state[key] = draw(FIELD_VALUES)
    return g, state


@fuzz
@given(pickled_states())
def test_fuzz_unpickle(case):
    """Crafted pickle states: a clean ValueError / TypeError (in microseconds, even
    for 2**62 layers), or a model equal to the one pickled."""
    g, state = case
    fresh = cgru.GRU.__new__(cgru.GRU)
    r = outcome("GRU.__setstate__", lambda: fresh.__setstate__(state))
    if isinstance(r, BaseException):
        assert "unpickling" in str(r) or isinstance(r, MemoryError), repr(r)
        return
    x = np.linspace(-1, 1, 2 * fresh.input_size).reshape(2, 1, fresh.input_size)
    y, _ = fresh(x.swapaxes(0, 1) if fresh.batch_first else x)
    y = y.swapaxes(0, 1) if fresh.batch_first else y
    if fresh._reverse_only:     # a field set True: the one direction runs back to front
        y_ref = ref_gru(fresh, x[::-1], batch_first=False)[0][::-1]
    else:
        y_ref, _ = ref_gru(fresh, x, batch_first=False)
    assert_like_reference(fresh, y, y_ref)


def test_fuzz_counts_are_recorded(request):
    """Runs last in this module: every entry point was exercised."""
    selected = {item.name for item in request.session.items}
    fuzzers = {name for name in globals() if name.startswith("test_fuzz_") and
               name != "test_fuzz_counts_are_recorded"}
    if not fuzzers <= selected:
        pytest.skip("only some of the fuzz tests were selected")
    for entry in ("GRU()", "GRU.__call__", "GRUCell.__call__", "Stream.step", "Stream.run",
                  "GRU.load_state_dict", "cgru.load", "GRU.__setstate__"):
        assert sum(COUNTS[entry].values()) > 0, entry
    assert COUNTS["GRU.__call__"]["answer"] > 0 and COUNTS["GRU.__call__"]["ValueError"] > 0
