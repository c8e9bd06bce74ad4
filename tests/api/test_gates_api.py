"""The return_gates API: the Gates container and its shapes (batch_first,
unbatched, empty), y and h_n unchanged by asking for gates, bad arguments, and
streams (``Stream.step(x, gates=buf)``).  Accuracy against the NumPy equations:
tests/kernels/test_gates.py."""

import numpy as np
import pytest

import cgru
import reference
from engine_helpers import randomize


def model(rng, L=2, bi=False, bf=False, reset_after=True, dtype=np.float32, I=3, H=5):
    return randomize(cgru.GRU(I, H, L, batch_first=bf, bidirectional=bi,
                              reset_after=reset_after, dtype=dtype), rng)


@pytest.mark.parametrize("bi", [False, True])
@pytest.mark.parametrize("bf", [False, True])
def test_container_and_shapes(rng, bi, bf):
    g = model(rng, L=3, bi=bi, bf=bf)
    x = rng.standard_normal((4, 6, 3) if bf else (6, 4, 3)).astype(np.float32)
    out = g(x, return_gates=True)
    assert len(out) == 3
    y, h_n, gates = out
    assert type(gates) is cgru.Gates and gates._fields == ("r", "z", "n")
    r, z, n = gates
    for a in (r, z, n):
        assert a.shape == (3,) + y.shape and a.dtype == np.float32
    # sigmoid gates in [0, 1], the tanh candidate in [-1, 1]
    assert 0 <= r.min() and r.max() <= 1 and 0 <= z.min() and z.max() <= 1
    assert -1 <= n.min() and n.max() <= 1


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("N", [1, 3])
def test_y_and_h_n_identical_with_and_without_gates(rng, reset_after, N):
    """The same kernels produce y: asking for the gates changes no output bit."""
    g = model(rng, L=2, bi=True, reset_after=reset_after)
    x = rng.standard_normal((9, N, 3)).astype(np.float32)
    h0 = rng.standard_normal((4, N, 5)).astype(np.float32)
    lengths = [9, 4, 0][:N]
    y0, h0_n = g(x, h0, lengths)
    y1, h1_n, _ = g(x, h0, lengths, return_gates=True)
    np.testing.assert_array_equal(y0, y1)
    np.testing.assert_array_equal(h0_n, h1_n)


def test_unbatched(rng):
    g = model(rng, L=2, bi=True, dtype=np.float64)
    x = rng.standard_normal((7, 3))
    y, h_n, gates = g(x, return_gates=True)
    assert y.shape == (7, 10) and gates.z.shape == (2, 7, 10)
    _, _, batched = g(x[:, None], return_gates=True)
    for a, b in zip(gates, batched):
        np.testing.assert_array_equal(a, b[:, :, 0])


def test_steps_past_length_are_zero(rng):
    g = model(rng, L=2, bi=True, bf=True, dtype=np.float64)
    x = rng.standard_normal((3, 6, 3))
    lengths = np.array([6, 2, 0])
    _, _, gates = g(x, lengths=lengths, return_gates=True)
    for a in gates:                              # (L, N, T, D*H)
        assert not a[:, 1, 2:].any() and not a[:, 2].any()
        assert a[:, 1, :2].all() and a[:, 0].all()


def test_empty_sequences(rng):
    g = model(rng, L=2)
    y, h_n, gates = g(np.zeros((0, 2, 3), np.float32), return_gates=True)
    assert y.shape == (0, 2, 5) and gates.r.shape == (2, 0, 2, 5)


def test_return_gates_must_be_a_bool(rng):
    g = model(rng)
    for bad in ("yes", 1, None, np.array([True])):
        with pytest.raises(TypeError, match="return_gates must be True or False"):
            g(np.zeros((2, 1, 3), np.float32), return_gates=bad)
    assert len(g(np.zeros((2, 1, 3), np.float32), return_gates=np.True_)) == 3


def test_caller_arrays_unchanged(rng):
    g = model(rng, bi=True)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    h0 = rng.standard_normal((4, 2, 5)).astype(np.float32)
    xk, hk = x.copy(), h0.copy()
    g(x, h0, [5, 1], return_gates=True)
    np.testing.assert_array_equal(x, xk)
    np.testing.assert_array_equal(h0, hk)


# ------------------------------------------------------------------ streams
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N", [1, 3])
def test_stream_step_fills_the_gates_of_that_step(rng, reset_after, dtype, N):
    L, H, T = 3, 5, 6
    g = model(rng, L=L, reset_after=reset_after, dtype=dtype)
    x = rng.standard_normal((T, N, 3)).astype(dtype)
    _, _, want = reference.gru(x, g.state_dict(), L, H, reset_after=reset_after,
                               return_gates=True)
    s, s_plain = g.stream(N), g.stream(N)
    buf = np.full((3, L, N, H), np.nan, dtype)
    out, out_plain = np.empty((N, H), dtype), np.empty((N, H), dtype)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    for t in range(T):
        assert s.step(x[t], out=out, gates=buf) is out
        s_plain.step(x[t], out=out_plain)
        np.testing.assert_array_equal(out, out_plain)     # the gates change nothing
        for k, name in enumerate("rzn"):
            np.testing.assert_allclose(buf[k], want[name][:, t], atol=tol, rtol=0)
    np.testing.assert_array_equal(s.state, s_plain.state)


def test_stream_step_unbatched_gates(rng):
    g = model(rng, L=2, dtype=np.float64)
    s = g.stream()
    buf = np.empty((3, 2, 5))
    x = rng.standard_normal((4, 3))
    _, _, want = g(x, return_gates=True)
    for t in range(4):
        s.step(x[t], gates=buf)
        for k, name in enumerate("rzn"):
            np.testing.assert_allclose(buf[k], getattr(want, name)[:, t], atol=1e-12, rtol=0)


def test_stream_step_bad_gate_buffers(rng):
    g = model(rng, L=2)
    s = g.stream(2)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    readonly = np.zeros((3, 2, 2, 5), np.float32)
    readonly.flags.writeable = False
    bad = [np.zeros((3, 2, 5), np.float32), np.zeros((3, 2, 2, 5), np.float64),
           np.zeros((3, 2, 2, 10), np.float32)[..., ::2], readonly,
           np.zeros((3, 2, 2, 5), np.float32).astype(">f4"), [[0.0]], "gates"]
    state = s.state
    for buf in bad:
        with pytest.raises(ValueError, match=r"step: gates must be .*\(3, 2, 2, 5\)"):
            s.step(x, gates=buf)
        np.testing.assert_array_equal(s.state, state)    # nothing ran
    s.step(x, gates=np.zeros((3, 2, 2, 5), np.float32))


def test_gates_too_big_for_memory_fail_before_running(rng, monkeypatch):
    from cgru import _validate
    g = cgru.GRU(1, 64)
    x = np.zeros((90_000, 1, 1), np.float32)         # gates: 3 * 90000 * 64 floats = 69 MB
    monkeypatch.setattr(_validate, "physical_memory", lambda: 50 * 2**20)
    with pytest.raises(MemoryError, match="return_gates for x of shape"):
        g(x, return_gates=True)
    monkeypatch.undo()          # (the plain call's own y + workspace check is tested elsewhere)
    assert g(x)[0].shape == (90_000, 1, 64)


@pytest.mark.parametrize("fmt", ["float16", "bfloat16", "int8"])
@pytest.mark.parametrize("reset_after", [True, False])
def test_gates_of_reduced_precision_models(rng, fmt, reset_after):
    """Every weight format: y and h_n are the same bits with and without gates, the
    stream's step gates equal the sequence's, and the gates stay within the format's
    bound (tests/api/test_weights.py) of the float32 model's gates."""
    g = cgru.GRU(12, 24, num_layers=2, reset_after=reset_after, seed=int(rng.integers(1 << 30)))
    q = g.with_weights(fmt)
    x = rng.uniform(-1, 1, (9, 3, 12)).astype(np.float32)
    lengths = np.array([9, 4, 0])
    y, h_n = q(x, lengths=lengths)
    yg, hg, gates = q(x, lengths=lengths, return_gates=True)
    assert np.array_equal(y, yg) and np.array_equal(h_n, hg)
    _, _, ref = g(x, lengths=lengths, return_gates=True)
    bound = {"float16": 1e-3, "bfloat16": 1e-2, "int8": 3e-2}[fmt]
    for a, b in zip(gates, ref):
        assert np.abs(a - b).max() <= bound
    s = q.stream(batch_size=3)
    buf = np.empty((3, 2, 3, 24), np.float32)
    for t in range(3):
        s.step(x[t], gates=buf)
        for k in range(3):
            np.testing.assert_allclose(buf[k, :, :2], gates[k][:, t, :2], rtol=0, atol=1e-6)


def test_stream_call_forwards_gates(rng):
    """s(x, gates=buf) is s.step(x, gates=buf)."""
    g = cgru.GRU(5, 7, num_layers=2, seed=1)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    a, b = np.empty((3, 2, 3, 7), np.float32), np.empty((3, 2, 3, 7), np.float32)
    y1 = g.stream(3)(x, gates=a)
    y2 = g.stream(3).step(x, gates=b)
    assert np.array_equal(y1, y2) and np.array_equal(a, b)
