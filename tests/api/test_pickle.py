"""Pickling: models travel as configuration + one flat weight array (the compiled
net is rebuilt on unpickling); a stream travels with its weights and state."""

import copy
import itertools
import pickle

import numpy as np
import pytest

import cgru
import reference
from cgru.kernels import cgru_activation as Act

TOL = {np.float32: 1e-5, np.float64: 1e-12}
PROTOCOLS = (4, pickle.HIGHEST_PROTOCOL)


def roundtrip(obj, protocol):
    """Pickle and unpickle; under protocol 5 with the buffers out of band (as Dask
    and Ray send them)."""
    if protocol >= 5:
        buffers = []
        data = pickle.dumps(obj, protocol=protocol, buffer_callback=buffers.append)
        return pickle.loads(data, buffers=buffers)
    return pickle.loads(pickle.dumps(obj, protocol=protocol))


def weight_bytes(model):
    return sum(a.nbytes for a in model.state_dict().values())


CONFIGS = list(itertools.product((1, 2), (False, True), (np.float32, np.float64),
                                 (True, False), (True, False)))


@pytest.mark.parametrize("num_layers,bidirectional,dtype,reset_after,bias", CONFIGS)
def test_gru_roundtrip(num_layers, bidirectional, dtype, reset_after, bias, rng):
    g = cgru.GRU(5, 7, num_layers, bidirectional=bidirectional, dtype=dtype,
                 reset_after=reset_after, bias=bias, batch_first=bool(num_layers == 2))
    x = rng.standard_normal((3, 6, 5) if g.batch_first else (6, 3, 5)).astype(dtype)
    D = 2 if bidirectional else 1
    h0 = rng.standard_normal((num_layers * D, 3, 7)).astype(dtype)
    lengths = np.array([6, 0, 4])
    y, h = g(x, h0, lengths)
    for protocol in PROTOCOLS:
        g2 = roundtrip(g, protocol)
        assert type(g2) is cgru.GRU and g2._config() == g._config()
        sd, sd2 = g.state_dict(), g2.state_dict()
        assert list(sd) == list(sd2)
        for k in sd:
            assert sd2[k].dtype == sd[k].dtype and np.array_equal(sd2[k], sd[k]), k
        y2, h2 = g2(x, h0, lengths)
        assert np.array_equal(y2, y) and np.array_equal(h2, h)
    # and the outputs are the GRU's equations (the unpickled model against the reference)
    ry, rh = reference.gru(x, g2.state_dict(), num_layers, 7, bidirectional=bidirectional,
                           reset_after=reset_after, h0=h0, lengths=lengths,
                           batch_first=g.batch_first)
    np.testing.assert_allclose(y2, ry, rtol=0, atol=TOL[dtype])
    np.testing.assert_allclose(h2, rh, rtol=0, atol=TOL[dtype])


def with_activations(g):
    """Give g non-default activations and a clip (as an ONNX/Keras import would)."""
    hard = (int(Act.CGRU_HARD_SIGMOID), 0.2, 0.5, int(Act.CGRU_SCALED_TANH), 1.5, 0.7)
    g._activations = [hard] * g.num_directions
    g._clip = 0.8
    g._compile()
    return g


def test_activations_and_clip_travel(rng):
    g = with_activations(cgru.GRU(4, 6, 2, bidirectional=True, dtype=np.float64))
    x = rng.standard_normal((5, 2, 4)) * 3
    y, h = g(x)
    plain = cgru.GRU(4, 6, 2, bidirectional=True, dtype=np.float64)
    plain.load_state_dict(g.state_dict())
    assert not np.allclose(plain(x)[0], y)          # the activations matter for this input
    for protocol in PROTOCOLS:
        g2 = roundtrip(g, protocol)
        assert g2._activations == g._activations and g2._clip == 0.8
        y2, h2 = g2(x)
        assert np.array_equal(y2, y) and np.array_equal(h2, h)


def test_copy_and_independence(rng):
    g = cgru.GRU(3, 4, dtype=np.float64)
    x = rng.standard_normal((4, 2, 3))
    y = g(x)[0]
    for g2 in (copy.copy(g), copy.deepcopy(g), roundtrip(g, 5)):
        assert np.array_equal(g2(x)[0], y)
        g2.load_state_dict({k: v + 1 for k, v in g2.state_dict().items()})
        assert not np.array_equal(g2(x)[0], y)
        assert np.array_equal(g(x)[0], y)              # the original is untouched


def test_gru_cell_roundtrip(rng):
    for dtype, reset_after, bias in itertools.product((np.float32, np.float64),
                                                      (True, False), (True, False)):
        c = cgru.GRUCell(5, 6, dtype=dtype, reset_after=reset_after, bias=bias)
        x = rng.standard_normal((3, 5)).astype(dtype)
        h = rng.standard_normal((3, 6)).astype(dtype)
        for protocol in PROTOCOLS:
            c2 = roundtrip(c, protocol)
            assert type(c2) is cgru.GRUCell and repr(c2) == repr(c)
            assert np.array_equal(c2(x, h), c(x, h))
            sd = c.state_dict()
            assert all(np.array_equal(v, sd[k]) for k, v in c2.state_dict().items())


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("dtype,reset_after,custom",
                         [(np.float32, True, False), (np.float64, False, False),
                          (np.float64, True, True)])
def test_stream_mid_sequence(batch_first, dtype, reset_after, custom, rng):
    g = cgru.GRU(4, 5, 2, dtype=dtype, reset_after=reset_after, batch_first=batch_first)
    if custom:
        with_activations(g)
    s = g.stream(3)
    xs = rng.standard_normal((10, 3, 4)).astype(dtype) * 2
    for t in range(4):
        s.step(xs[t])
    for protocol in PROTOCOLS:
        s2 = roundtrip(s, protocol)
        assert type(s2) is cgru.Stream and s2.batch_size == 3 and s2.batch_first == batch_first
        assert np.array_equal(s2.state, s.state)
        a, b = copy.deepcopy(s), s2                  # continue both from the same point
        for t in range(4, 7):
            assert np.array_equal(b.step(xs[t]), a.step(xs[t]))
        rest = xs[7:].transpose(1, 0, 2) if batch_first else xs[7:]
        assert np.array_equal(b.run(rest), a.run(rest))
        assert np.array_equal(b.state, a.state)
    # the whole sequence in one call gives the same final state
    full = xs.transpose(1, 0, 2) if batch_first else xs
    assert np.allclose(g(full)[1], a.state, rtol=0, atol=TOL[dtype])
    # a pickled stream keeps its own state: stepping the copy leaves the original alone
    before = s.state
    roundtrip(s, 5).step(xs[0])
    assert np.array_equal(s.state, before)


def test_stream_keeps_its_weights(rng):
    g = cgru.GRU(3, 4)
    s = g.stream(2)
    g.load_state_dict({k: v * 0 for k, v in g.state_dict().items()})   # after the stream
    x = rng.standard_normal((2, 3)).astype(np.float32)
    s2 = roundtrip(s, 5)
    assert np.array_equal(s2.step(x), s.step(x)) and np.any(s.state != 0)


def test_pickle_size():
    """The pickle is the weights plus a few hundred bytes; under protocol 5 the
    weights are exactly one out-of-band buffer."""
    for g in (cgru.GRU(64, 128), cgru.GRU(64, 128, 2, bidirectional=True, dtype=np.float64),
              cgru.GRUCell(32, 64, bias=False)):
        w = weight_bytes(g)
        for protocol in PROTOCOLS:
            n = len(pickle.dumps(g, protocol=protocol))
            assert w < n <= 1.01 * w, (protocol, n, w)
        buffers = []
        inband = pickle.dumps(g, protocol=5, buffer_callback=buffers.append)
        assert len(inband) < 1000 and [memoryview(b).nbytes for b in buffers] == [w]
        assert b"_Net" not in inband and b"_net" not in inband
    s = cgru.GRU(64, 128).stream(8)
    n, w = len(pickle.dumps(s, protocol=5)), weight_bytes(cgru.GRU(64, 128)) + 8 * 128 * 4
    assert w < n <= 1.03 * w, (n, w)


def test_corrupted_state_is_rejected():
    g = cgru.GRU(3, 4)
    state = g.__getstate__()
    state["_param_data"] = state["_param_data"][:-1]
    g2 = cgru.GRU.__new__(cgru.GRU)
    with pytest.raises(ValueError, match="do not match the configuration"):
        g2.__setstate__(state)


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
