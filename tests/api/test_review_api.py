"""Defects found in review of the Python API and the binding layer: every
Python-reachable entry point (including the private ``cgru._compiled._Net`` and
``Stream`` constructors, which pickles also call) rejects bad arguments with a
ValueError/TypeError instead of reading or writing out of bounds."""

import pickle

import numpy as np
import pytest

import cgru
from cgru._compiled import Stream, _Net, activate

SIGMOID_TANH = (0, 0.0, 0.0, 1, 0.0, 0.0, 0.0)


def weights(I, H, dtype=np.float32, bias=False):
    b = (np.zeros(3 * H, dtype), np.zeros(3 * H, dtype)) if bias else (None, None)
    return (np.zeros((3 * H, I), dtype), np.zeros((3 * H, H), dtype)) + b


# ------------------------------------------------------------------ Stream(...)
def test_stream_rejects_none_net():
    with pytest.raises(TypeError):
        Stream(None, 1, None, False)


def test_stream_rejects_h0_of_wrong_shape():
    g = cgru.GRU(3, 4, 2)
    with pytest.raises(ValueError, match="h0"):
        Stream(g._net, 2, np.zeros(3), False)


def test_stream_rejects_nonpositive_batch_size():
    g = cgru.GRU(3, 4)
    for n in (0, -1):
        with pytest.raises(ValueError, match="batch_size"):
            Stream(g._net, n, None, False)


def test_stream_pickle_with_corrupted_state_is_refused():
    g = cgru.GRU(3, 4, 2)
    s = g.stream(2)
    func, args = s.__reduce__()
    bad = (args[0], args[1], np.zeros((1, 1, 1), np.float32), args[3])
    with pytest.raises(ValueError, match="h0"):
        func(*bad)


# -------------------------------------------------------------------- _Net(...)
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


RACE = """
import threading, numpy as np, cgru
g = cgru.GRU(4, 8, bidirectional=True)
x = np.zeros((2000, 64, 4), np.float32)
lengths = np.ones(64, np.int64)
stop = False
def flip():
    while not stop:
        lengths[:] = 10**12
        lengths[:] = 1
t = threading.Thread(target=flip)
t.start()
try:
    for i in range(20):
        lengths[:] = 1
        try:
            g(x, lengths=lengths)
        except ValueError:
            pass
finally:
    stop = True
    t.join()
"""


def test_lengths_changed_by_another_thread_during_the_call_cannot_crash():
    # the kernels read lengths without the GIL: they must read a private copy,
    # never the caller's array, which another thread may change after the check
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", RACE], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()[-2000:]


def test_pickling_a_stream_another_thread_is_running_raises():
    # like ``state``, pickling reads the state: not while another thread runs
    # the stream (it would carry a half-updated state without a word)
    import threading
    import time
    g = cgru.GRU(8, 64, 2)
    s = g.stream(8)
    x = np.ones((20000, 8, 8), np.float32)
    t = threading.Thread(target=s.run, args=(x,))
    t.start()
    time.sleep(0.05)
    try:
        with pytest.raises(RuntimeError, match="stream"):
            pickle.dumps(s)
    finally:
        t.join()
    assert np.array_equal(pickle.loads(pickle.dumps(s)).state, s.state)


@pytest.mark.parametrize("make", [lambda: cgru.GRU(3, 4, 2), lambda: cgru.GRUCell(3, 4)])
def test_save_then_load_the_same_path_without_npz_suffix(tmp_path, make):
    # the contract is g.save(path); cgru.load(path): np.savez would write
    # path + ".npz" and load(path) would then find no file
    m = make()
    for path in (tmp_path / "model", str(tmp_path / "model.bin"), bytes(tmp_path / "b")):
        m.save(path)
        m2 = cgru.load(path)
        for k, v in m.state_dict().items():
            assert np.array_equal(m2.state_dict()[k], v)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "model", "model.bin"]


def test_stream_constructor_rejects_complex_h0():
    g = cgru.GRU(3, 4)
    with pytest.raises(TypeError, match="h0"):
        Stream(g._net, 1, np.ones((1, 1, 4), np.complex64), False)


# -------------------------------------------- checked in review, kept as tests
def test_step_out_may_alias_x():
    g = cgru.GRU(4, 4, 2)
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    want = g.stream(3).step(x)
    xa = x.copy()
    got = g.stream(3).step(xa, out=xa)
    assert got is xa and np.array_equal(got, want)


def test_stream_outlives_its_model_and_keeps_its_weights():
    import gc
    g = cgru.GRU(3, 5, 2)
    x = np.random.default_rng(1).standard_normal((4, 2, 3)).astype(np.float32)
    want, _ = g(x)
    s = g.stream(2)
    g.load_state_dict({k: np.zeros_like(v) for k, v in g.state_dict().items()})
    del g
    gc.collect()
    assert np.allclose(s.run(x), want, atol=1e-6)


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


def test_unpickled_model_owns_its_weights_under_out_of_band_buffers(rng):
    import pickle
    g = cgru.GRU(4, 5, 2)
    buffers = []
    data = pickle.dumps(g, protocol=5, buffer_callback=buffers.append)
    raw = [bytearray(b.raw()) for b in buffers]           # the caller's buffers
    g2 = pickle.loads(data, buffers=raw)
    before = g2.state_dict()
    for b in raw:                                         # the caller reuses them
        b[:] = bytes(len(b))
    after = g2.state_dict()
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])
    x = rng.standard_normal((3, 2, 4)).astype(np.float32)
    np.testing.assert_array_equal(g2(x)[0], g(x)[0])
