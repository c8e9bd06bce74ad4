"""Bad input gives a ValueError/TypeError naming the argument; NaN stays in its
sample; the caller's arrays are never modified; other dtypes and layouts work."""

import pickle

import numpy as np
import pytest

import cgru
from cgru._compiled import _Net, activate
from engine_helpers import LAYOUTS, assert_close, layout, randomize, reference_run

T, N, I, H = 4, 3, 3, 5


def _gru(**kw):
    return cgru.GRU(I, H, **kw)


# ---------------------------------------------------------------- arguments

X = np.zeros((T, N, I))

BAD_CALLS = {
    # x: ndim and features
    "x 1-D": (lambda: _gru()(np.zeros(I)), ValueError, "x"),
    "x 4-D": (lambda: _gru()(np.zeros((1, T, N, I))), ValueError, "x"),
    "x features": (lambda: _gru()(np.zeros((T, N, I + 1))), ValueError, "x"),
    "x features unbatched": (lambda: _gru()(np.zeros((T, I - 1))), ValueError, "x"),
    "x features batch_first": (lambda: _gru(batch_first=True)(np.zeros((N, T, 2))), ValueError, "x"),
    "x complex": (lambda: _gru()(X.astype(complex)), TypeError, "x"),
    "x strings": (lambda: _gru()(np.full((T, N, I), "a")), TypeError, "x"),
    "x object": (lambda: _gru()(np.array(X, dtype=object)), TypeError, "x"),
    "x None": (lambda: _gru()(None), TypeError, "x"),
    "x ragged": (lambda: _gru()([[1.0, 2.0], [3.0]]), TypeError, "x"),
    "x bool": (lambda: _gru()(X.astype(bool)), TypeError, "x"),
    # h0
    "h0 batch": (lambda: _gru()(X, np.zeros((1, N + 1, H))), ValueError, "h0"),
    "h0 layers": (lambda: _gru(num_layers=2)(X, np.zeros((1, N, H))), ValueError, "h0"),
    "h0 bidirectional": (lambda: _gru(bidirectional=True)(X, np.zeros((1, N, H))), ValueError, "h0"),
    "h0 hidden": (lambda: _gru()(X, np.zeros((1, N, H + 1))), ValueError, "h0"),
    "h0 2-D batched": (lambda: _gru()(X, np.zeros((N, H))), ValueError, "h0"),
    "h0 3-D unbatched": (lambda: _gru()(X[:, 0], np.zeros((1, 1, H))), ValueError, "h0"),
    "h0 complex": (lambda: _gru()(X, np.zeros((1, N, H), complex)), TypeError, "h0"),
    "h0 strings": (lambda: _gru()(X, np.full((1, N, H), "a")), TypeError, "h0"),
    # lengths
    "lengths 2-D": (lambda: _gru()(X, lengths=np.full((N, 1), T)), ValueError, "lengths"),
    "lengths short": (lambda: _gru()(X, lengths=[T] * (N - 1)), ValueError, "lengths"),
    "lengths scalar": (lambda: _gru()(X, lengths=T), ValueError, "lengths"),
    "lengths float": (lambda: _gru()(X, lengths=np.full(N, 2.0)), TypeError, "lengths"),
    "lengths float list": (lambda: _gru()(X, lengths=[1.5, 2, 3]), TypeError, "lengths"),
    "lengths bool": (lambda: _gru()(X, lengths=np.ones(N, bool)), TypeError, "lengths"),
    "lengths strings": (lambda: _gru()(X, lengths=["1", "2", "3"]), TypeError, "lengths"),
    "lengths negative": (lambda: _gru()(X, lengths=[1, -1, 2]), ValueError, "lengths"),
    "lengths > T": (lambda: _gru()(X, lengths=[1, T + 1, 2]), ValueError, "lengths"),
    "lengths huge uint": (lambda: _gru()(X, lengths=np.array([1, 2**63, 2], np.uint64)),
                          ValueError, "lengths"),
    "lengths unbatched": (lambda: _gru()(X[:, 0], lengths=[T]), ValueError, "lengths"),
    # sizes and flags
    "input_size 0": (lambda: cgru.GRU(0, H), ValueError, "input_size"),
    "hidden_size -1": (lambda: cgru.GRU(I, -1), ValueError, "hidden_size"),
    "num_layers 0": (lambda: cgru.GRU(I, H, 0), ValueError, "num_layers"),
    "input_size 2.0": (lambda: cgru.GRU(2.0, H), TypeError, "input_size"),
    "hidden_size 2.5": (lambda: cgru.GRU(I, 2.5), TypeError, "hidden_size"),
    "hidden_size '4'": (lambda: cgru.GRU(I, "4"), TypeError, "hidden_size"),
    "hidden_size None": (lambda: cgru.GRU(I, None), TypeError, "hidden_size"),
    "num_layers 1.0": (lambda: cgru.GRU(I, H, 1.0), TypeError, "num_layers"),
    "input_size True": (lambda: cgru.GRU(True, H), TypeError, "input_size"),
    "hidden_size np.True_": (lambda: cgru.GRU(I, np.True_), TypeError, "hidden_size"),
    "num_layers True": (lambda: cgru.GRU(I, H, True), TypeError, "num_layers"),
    "bias 1": (lambda: cgru.GRU(I, H, bias=1), TypeError, "bias"),
    "bidirectional 'yes'": (lambda: cgru.GRU(I, H, bidirectional="yes"), TypeError, "bidirectional"),
    "batch_first None": (lambda: cgru.GRU(I, H, batch_first=None), TypeError, "batch_first"),
    "reset_after 0": (lambda: cgru.GRU(I, H, reset_after=0), TypeError, "reset_after"),
    "cell input_size 0": (lambda: cgru.GRUCell(0, H), ValueError, "input_size"),
    "cell hidden_size 1.5": (lambda: cgru.GRUCell(I, 1.5), TypeError, "hidden_size"),
    "cell bias None": (lambda: cgru.GRUCell(I, H, bias=None), TypeError, "bias"),
    # dtypes
    "dtype float16": (lambda: cgru.GRU(I, H, dtype=np.float16), TypeError, "dtype"),
    "dtype int32": (lambda: cgru.GRU(I, H, dtype=np.int32), TypeError, "dtype"),
    "dtype complex": (lambda: cgru.GRU(I, H, dtype=complex), TypeError, "dtype"),
    "dtype 'foo'": (lambda: cgru.GRU(I, H, dtype="foo"), TypeError, "dtype"),
    "dtype object()": (lambda: cgru.GRU(I, H, dtype=object()), TypeError, "dtype"),
    "cell dtype float16": (lambda: cgru.GRUCell(I, H, dtype=np.float16), TypeError, "dtype"),
    # GRUCell call
    "cell x features": (lambda: cgru.GRUCell(I, H)(np.zeros((N, I + 1))), ValueError, "x"),
    "cell x 3-D": (lambda: cgru.GRUCell(I, H)(np.zeros((1, N, I))), ValueError, "x"),
    "cell x complex": (lambda: cgru.GRUCell(I, H)(np.zeros(I, complex)), TypeError, "x"),
    "cell x strings": (lambda: cgru.GRUCell(I, H)(np.full(I, "a")), TypeError, "x"),
    "cell h batch": (lambda: cgru.GRUCell(I, H)(np.zeros((N, I)), np.zeros((N + 1, H))),
                     ValueError, "h"),
    "cell h unbatched": (lambda: cgru.GRUCell(I, H)(np.zeros(I), np.zeros((1, H))), ValueError, "h"),
    "cell h object": (lambda: cgru.GRUCell(I, H)(np.zeros(I), np.array([None] * H)), TypeError, "h"),
    # streams
    "step batch": (lambda: _gru().stream(2).step(np.zeros((3, I))), ValueError, "batch"),
    "step features": (lambda: _gru().stream(2).step(np.zeros((2, I + 1))), ValueError, "features"),
    "step (I,) for N=2": (lambda: _gru().stream(2).step(np.zeros(I)), ValueError, "x"),
    "step features N=1": (lambda: _gru().stream(1).step(np.zeros(I + 1)), ValueError, "features"),
    "step 3-D": (lambda: _gru().stream(1).step(np.zeros((1, 1, I))), ValueError, "x"),
    "step complex": (lambda: _gru().stream(1).step(np.zeros(I, complex)), TypeError, "x"),
    "step strings": (lambda: _gru().stream(1).step(np.full(I, "a")), TypeError, "x"),
    "run batch": (lambda: _gru().stream(2).run(np.zeros((T, 3, I))), ValueError, "batch"),
    "run features": (lambda: _gru().stream(2).run(np.zeros((T, 2, I + 1))), ValueError, "features"),
    "stream batch_size 0": (lambda: _gru().stream(0), ValueError, "batch_size"),
    "stream batch_size 1.0": (lambda: _gru().stream(1.0), TypeError, "batch_size"),
    "stream h0": (lambda: _gru().stream(2, np.zeros((1, 3, H))), ValueError, "h0"),
    "stream bidirectional": (lambda: _gru(bidirectional=True).stream(1), ValueError, "bidirectional"),
    # state_dict
    "state_dict not a mapping": (lambda: _gru().load_state_dict([1, 2]), TypeError, "state_dict"),
    "state_dict missing": (lambda: _gru().load_state_dict({}), ValueError, "weight_ih_l0"),
    "state_dict unexpected": (lambda: _gru().load_state_dict(
        dict(_gru().state_dict(), weight_ih_l1=np.zeros((15, 5)))), ValueError, "weight_ih_l1"),
    "state_dict shape": (lambda: _gru().load_state_dict(
        dict(_gru().state_dict(), bias_hh_l0=np.zeros(14))), ValueError, "bias_hh_l0"),
    "state_dict complex": (lambda: _gru().load_state_dict(
        dict(_gru().state_dict(), bias_hh_l0=np.zeros(15, complex))), TypeError, "bias_hh_l0"),
    "cell state_dict missing": (lambda: cgru.GRUCell(I, H).load_state_dict(
        {"weight_ih": np.zeros((15, I))}), ValueError, "weight_hh"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_input_raises_naming_the_argument(case):
    call, exc, name = BAD_CALLS[case]
    with pytest.raises(exc) as e:
        call()
    assert name in str(e.value), f"{case}: message does not name {name!r}: {e.value}"


def test_failed_load_state_dict_changes_nothing(rng):
    g = _gru(num_layers=2)
    before = g.state_dict()
    x = rng.standard_normal((T, N, I))
    y0, _ = g(x)
    bad = {k: np.ones_like(v) for k, v in before.items()}
    bad["weight_hh_l1"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match="weight_hh_l1"):
        g.load_state_dict(bad)
    for k, v in g.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    np.testing.assert_array_equal(g(x)[0], y0)


# sizes no machine has the memory for (>= 1.9 TB of parameters), so the test
# cannot start a real allocation anywhere
IMPOSSIBLE = {
    "GRU hidden 1e9": lambda: cgru.GRU(I, 10**9),
    # the weights are only 3.6 GB (7.2 GB held twice), but the kernels pad H=1
    # to a 16-wide panel: about 65 GB in all, which the memory check must count
    "GRU input 3e8 hidden 1": lambda: cgru.GRU(3 * 10**8, 1),
    "GRU input 1e9": lambda: cgru.GRU(10**9, H),
    "GRU 2e5 x 2e5": lambda: cgru.GRU(2 * 10**5, 2 * 10**5),
    "GRU 1e8 layers": lambda: cgru.GRU(I, 64, 10**8),
    "GRU 1e9 layers": lambda: cgru.GRU(I, H, 10**9),
    "GRU bidirectional 2e5": lambda: cgru.GRU(I, 2 * 10**5, 3, bidirectional=True),
    "GRUCell hidden 1e9": lambda: cgru.GRUCell(I, 10**9),
    "GRUCell input 1e9": lambda: cgru.GRUCell(10**9, H),
    "GRUCell 2e5 x 2e5": lambda: cgru.GRUCell(2 * 10**5, 2 * 10**5, dtype=np.float64),
}


@pytest.mark.parametrize("case", list(IMPOSSIBLE))
def test_impossible_size_fails_cleanly(case):
    with pytest.raises((MemoryError, ValueError)) as e:
        IMPOSSIBLE[case]()
    # cgru's own check refused it before allocating (NumPy's "Unable to
    # allocate ... GiB" would mean an allocation was already attempted)
    assert "too large" in str(e.value) or "of memory available" in str(e.value), str(e.value)


# ---------------------------------------------------------------------- NaN

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_nan_stays_in_its_sample(rng, dtype, reset_after, n):
    g = cgru.GRU(I, H, 2, reset_after=reset_after, dtype=dtype)
    x = rng.standard_normal((T, n, I)).astype(dtype)
    h0 = rng.standard_normal((2, n, H)).astype(dtype)
    y, h_n = g(x, h0)
    bad = n // 2
    for where in ("x", "h0"):
        xb, hb = x.copy(), h0.copy()
        if where == "x":
            xb[1, bad, 0] = np.nan
        else:
            hb[0, bad, 2] = np.nan
        yb, hnb = g(xb, hb)
        others = [b for b in range(n) if b != bad]
        # the other samples: bit for bit what they were
        np.testing.assert_array_equal(yb[:, others], y[:, others])
        np.testing.assert_array_equal(hnb[:, others], h_n[:, others])
        assert np.isnan(hnb[:, bad]).any()
        # streams too
        s = g.stream(n, hb)
        for t in range(T):
            np.testing.assert_array_equal(s.step(xb[t])[others], y[t, others])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reset_after", [True, False])
def test_nan_in_bidirectional_with_lengths(rng, dtype, reset_after):
    g = cgru.GRU(I, H, 2, bidirectional=True, reset_after=reset_after, dtype=dtype)
    x = rng.standard_normal((T, 3, I)).astype(dtype)
    lengths = [T, 2, 3]
    y, h_n = g(x, lengths=lengths)
    xb = x.copy()
    xb[0, 1, 1] = np.nan
    yb, hb = g(xb, lengths=lengths)
    np.testing.assert_array_equal(yb[:, [0, 2]], y[:, [0, 2]])
    np.testing.assert_array_equal(hb[:, [0, 2]], h_n[:, [0, 2]])
    assert not yb[2:, 1].any()         # padding stays zero even for the NaN sample
    # a NaN past a sample's length is never read
    xb = x.copy()
    xb[3, 1, :] = np.nan
    yb, hb = g(xb, lengths=lengths)
    np.testing.assert_array_equal(yb, y)
    np.testing.assert_array_equal(hb, h_n)


# ------------------------------------------------- caller's arrays, layouts

@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bf", [False, True])
def test_layouts_give_correct_results_and_stay_unmodified(rng, kind, dtype, bf):
    g = randomize(cgru.GRU(I, H, 2, bidirectional=True, batch_first=bf, dtype=dtype), rng)
    x = rng.standard_normal((N, T, I) if bf else (T, N, I)).astype(dtype)
    h0 = rng.standard_normal((4, N, H)).astype(dtype)
    lengths = np.array([T, 1, 3])
    xs, hs, ls = layout(x, kind), layout(h0, kind), layout(lengths, kind)
    copies = [a.copy() for a in (xs, hs, ls)]
    y, h_n = g(xs, hs, ls)
    for a, c in zip((xs, hs, ls), copies):
        np.testing.assert_array_equal(a, c)
    ry, rh = reference_run(g, x, h0, lengths)
    assert_close(y, ry, dtype, f"{kind} y")
    assert_close(h_n, rh, dtype, f"{kind} h_n")
    assert y.flags.writeable and h_n.flags.writeable
    # the outputs are new arrays, never views of the inputs
    assert not np.shares_memory(h_n, hs) and not np.shares_memory(y, xs)


@pytest.mark.parametrize("kind", LAYOUTS)
def test_cell_and_stream_layouts(rng, kind):
    c = cgru.GRUCell(I, H, dtype=np.float64)
    x = rng.standard_normal((N, I))
    h = rng.standard_normal((N, H))
    want = c(x, h)
    xs, hs = layout(x, kind), layout(h, kind)
    copies = (xs.copy(), hs.copy())
    out = c(xs, hs)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(xs, copies[0])
    np.testing.assert_array_equal(hs, copies[1])
    assert not np.shares_memory(out, hs)
    g = randomize(cgru.GRU(I, H, dtype=np.float64), rng)
    xt = rng.standard_normal((T, N, I))
    y, _ = g(xt)
    s = g.stream(N, layout(np.zeros((1, N, H)), kind))
    for t in range(T):
        xst = layout(xt[t], kind)
        keep = xst.copy()
        np.testing.assert_array_equal(s.step(xst), y[t])
        np.testing.assert_array_equal(xst, keep)
    s.reset()
    xr = layout(xt, kind)
    np.testing.assert_array_equal(s.run(xr), y)
    np.testing.assert_array_equal(xr, xt)


@pytest.mark.parametrize("kind", LAYOUTS)
def test_state_dict_inputs_unmodified(rng, kind):
    g = _gru(num_layers=2)
    sd = {k: layout(rng.uniform(-1, 1, v.shape), kind) for k, v in g.state_dict().items()}
    copies = {k: v.copy() for k, v in sd.items()}
    g.load_state_dict(sd)
    for k, v in sd.items():
        np.testing.assert_array_equal(v, copies[k])
        np.testing.assert_array_equal(g.state_dict()[k], v.astype(np.float32))
    # the model holds copies: changing the caller's arrays later changes nothing
    if kind != "readonly":
        x = rng.standard_normal((T, N, I))
        y0 = g(x)[0]
        for v in sd.values():
            v[...] = 0
        np.testing.assert_array_equal(g(x)[0], y0)
    # and state_dict() gives copies
    g.state_dict()["weight_hh_l0"][...] = 7
    assert not (g.state_dict()["weight_hh_l0"] == 7).any()


@pytest.mark.parametrize("model_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("in_dtype", [np.float16, np.float32, np.float64, np.int32, np.int64,
                                      np.uint8, np.longdouble])
def test_other_input_dtypes_are_converted(rng, model_dtype, in_dtype):
    g = cgru.GRU(I, H, dtype=model_dtype)
    x = (rng.standard_normal((T, N, I)) * 3).astype(in_dtype)
    h0 = rng.standard_normal((1, N, H)).astype(in_dtype)
    y, h_n = g(x, h0, lengths=np.array([T, 2, 0], np.int32))
    assert y.dtype == h_n.dtype == np.dtype(model_dtype)
    y2, h2 = g(x.astype(model_dtype), h0.astype(model_dtype), lengths=[T, 2, 0])
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(h_n, h2)
    c = cgru.GRUCell(I, H, dtype=model_dtype)
    np.testing.assert_array_equal(c(x[0], h0[0]), c(x[0].astype(model_dtype),
                                                     h0[0].astype(model_dtype)))


def test_python_lists_are_accepted(rng):
    g = cgru.GRU(I, H, dtype=np.float64)
    x = rng.standard_normal((T, 2, I))
    h0 = rng.standard_normal((1, 2, H))
    y, h_n = g(x.tolist(), h0.tolist(), lengths=[T, 2])
    y2, h2 = g(x, h0, lengths=np.array([T, 2]))
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(h_n, h2)


# ------------------- the compiled layer directly (_Net, activate: pickles and tests call them)
SIGMOID_TANH = (0, 0.0, 0.0, 1, 0.0, 0.0, 0.0)


def weights(I, H, dtype=np.float32, bias=False):
    b = (np.zeros(3 * H, dtype), np.zeros(3 * H, dtype)) if bias else (None, None)
    return (np.zeros((3 * H, I), dtype), np.zeros((3 * H, H), dtype)) + b


def test_net_rejects_weight_of_wrong_shape():
    # w_ih has 1 column where the net declares input_size=100
    with pytest.raises(ValueError, match="weight"):
        _Net([weights(1, 4)], 100, 4, 1, 1, True, np.float32, [SIGMOID_TANH])
    with pytest.raises(ValueError, match="weight"):
        _Net([(np.zeros((12, 3), np.float32), np.zeros((12, 5), np.float32), None, None)],
             3, 4, 1, 1, True, np.float32, [SIGMOID_TANH])
    with pytest.raises(ValueError, match="bias"):
        _Net([weights(3, 4)[:2] + (np.zeros(1), None)], 3, 4, 1, 1, True, np.float32,
             [SIGMOID_TANH])


def test_net_rejects_unsupported_dtype():
    with pytest.raises(TypeError, match="dtype"):
        _Net([weights(3, 4)], 3, 4, 1, 1, True, np.int32, [SIGMOID_TANH])


def test_net_rejects_bad_sizes_and_counts():
    w, c = weights(3, 4), SIGMOID_TANH
    with pytest.raises(ValueError, match="num_directions"):
        _Net([w] * 3, 3, 4, 1, 3, True, np.float32, [c] * 3)
    with pytest.raises(ValueError, match="num_layers"):
        _Net([], 3, 4, 0, 1, True, np.float32, [])
    with pytest.raises(ValueError, match="hidden_size"):
        _Net([weights(3, 0)], 3, 0, 1, 1, True, np.float32, [c])
    with pytest.raises(ValueError, match="weights"):
        _Net([w], 3, 4, 2, 1, True, np.float32, [c, c])
    with pytest.raises(ValueError, match="cells"):
        _Net([w], 3, 4, 1, 1, True, np.float32, [])


def test_net_rejects_unknown_activation_kind_and_bad_clip():
    for cell in ((77,) + SIGMOID_TANH[1:], SIGMOID_TANH[:3] + (-1,) + SIGMOID_TANH[4:]):
        with pytest.raises(ValueError, match="activation"):
            _Net([weights(3, 4)], 3, 4, 1, 1, True, np.float32, [cell])
    for clip in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="clip"):
            _Net([weights(3, 4)], 3, 4, 1, 1, True, np.float32, [SIGMOID_TANH[:6] + (clip,)])


def test_net_forward_checks_its_arrays():
    g = cgru.GRU(300, 4)
    net = g._net
    x = np.ones((5, 2, 300), np.float32)
    h = np.zeros((1, 2, 4), np.float32)
    with pytest.raises(TypeError, match="x"):
        net.forward(x.astype(np.float64), h, None, False)
    with pytest.raises(ValueError, match="x"):
        net.forward(x[:, :, :3].copy(), h, None, False)
    with pytest.raises(ValueError, match="x"):
        net.forward(x[::2], h, None, False)           # not C-contiguous
    with pytest.raises(ValueError, match="h"):
        net.forward(x, np.zeros((1, 1, 1), np.float32), None, False)
    with pytest.raises(TypeError, match="h"):
        net.forward(x, h.astype(np.float64), None, False)
    with pytest.raises(ValueError, match="lengths"):
        net.forward(x, h, np.array([100, 10**6]), False)
    with pytest.raises(ValueError, match="lengths"):
        net.forward(x, h, np.array([1], np.int64), False)
    with pytest.raises(TypeError, match="lengths"):
        net.forward(x, h, np.array([1, 2], np.int32), False)
    # the checks do not refuse what the API passes
    y = net.forward(x, h, np.array([5, 2]), False)
    assert np.array_equal(y, g(x, lengths=[5, 2])[0])


def test_activate_checks_kind_and_array():
    with pytest.raises(ValueError, match="kind"):
        activate(999, 0.0, 0.0, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="kind"):
        activate(-5, 0.0, 0.0, np.ones(3, np.float32))
    x = np.linspace(-3, 3, 1000)
    with pytest.raises(TypeError, match="x"):
        activate(0, 0.0, 0.0, x.astype(np.float16))
    assert np.allclose(activate(1, 0.0, 0.0, x.astype(np.float32)), np.tanh(x), atol=1e-6)


def test_crafted_net_pickle_is_refused():
    net = cgru.GRU(3, 4)._net
    func, args = net.__reduce__()
    args = list(args)
    args[1] = 100       # input_size no longer matches w_ih
    with pytest.raises(ValueError):
        func(*args)
    assert pickle.loads(pickle.dumps(net)).input_size == 3


@pytest.mark.parametrize("attr,value", [("input_size", 3), ("hidden_size", 3), ("num_layers", 2),
                                        ("bias", False), ("bidirectional", True),
                                        ("reset_after", False), ("dtype", np.float64)])
def test_weight_defining_config_is_read_only(attr, value):
    g = cgru.GRU(4, 5)
    with pytest.raises(AttributeError):
        setattr(g, attr, value)
    y, _ = g(np.ones((2, 1, 4), np.float32))          # the model still runs as made
    assert y.shape == (2, 1, 5)


def test_batch_first_is_a_layout_flag_that_can_change(rng):
    g = cgru.GRU(4, 5)
    x = rng.standard_normal((3, 2, 4)).astype(np.float32)
    y, h = g(x)
    g.batch_first = True
    y2, h2 = g(x.transpose(1, 0, 2))
    np.testing.assert_array_equal(y2, y.transpose(1, 0, 2))
    np.testing.assert_array_equal(h2, h)
