"""Streaming (GRU.stream: step / run / reset / state) against the full run."""

import numpy as np
import pytest

import cgru
from engine_helpers import assert_close, randomize
from cgru._compiled import Stream

I, H = 3, 5
DTYPES = [np.float32, np.float64]


def _model(rng, L=2, dtype=np.float64, reset_after=True, batch_first=False):
    return randomize(cgru.GRU(I, H, L, batch_first=batch_first, reset_after=reset_after,
                              dtype=dtype), rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("L", [1, 3])
@pytest.mark.parametrize("N", [1, 4])
def test_step_matches_full_run(rng, dtype, reset_after, L, N):
    g = _model(rng, L, dtype, reset_after)
    x = rng.standard_normal((7, N, I)).astype(dtype)
    h0 = rng.standard_normal((L, N, H)).astype(dtype)
    y, h_n = g(x, h0)
    s = g.stream(N, h0)
    for t in range(7):
        yt = s.step(x[t])
        assert yt.shape == (N, H) and yt.dtype == np.dtype(dtype)
        assert_close(yt, y[t], dtype, f"step {t}")
    assert_close(s.state, h_n, dtype, "state")
    if N == 1:   # (I,) input gives (H,) output
        s1 = g.stream(1, h0)
        for t in range(7):
            yt = s1.step(x[t, 0])
            assert yt.shape == (H,)
            assert_close(yt, y[t, 0], dtype, f"(I,) step {t}")
        # h0 of shape (L, H) for batch_size 1
        s2 = g.stream(1, h0[:, 0])
        assert_close(s2.run(x[:, 0]), y[:, 0], dtype, "(T, I) run")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first", [False, True])
def test_run_chunks_continue_state(rng, dtype, batch_first):
    g = _model(rng, 2, dtype, batch_first=batch_first)
    N, T = 3, 9
    x = rng.standard_normal((N, T, I) if batch_first else (T, N, I)).astype(dtype)
    y, h_n = g(x)
    s = g.stream(N)
    ax = 1 if batch_first else 0
    pieces = [s.run(np.take(x, range(a, b), axis=ax)) for a, b in ((0, 4), (4, 5), (5, 9))]
    assert_close(np.concatenate(pieces, axis=ax), y, dtype, "chunks")
    assert_close(s.state, h_n, dtype, "state")
    # steps and runs interleave
    s.reset()
    first = s.run(np.take(x, range(0, 4), axis=ax))
    rest = [s.step(np.take(x, t, axis=ax)) for t in range(4, T)]
    assert_close(first, np.take(y, range(0, 4), axis=ax), dtype, "run part")
    assert_close(np.stack(rest, axis=ax), np.take(y, range(4, T), axis=ax), dtype, "step part")


def test_state_is_a_copy_and_reset(rng):
    g = _model(rng, 2)
    N = 3
    s = g.stream(N)
    x = rng.standard_normal((N, I))
    s.step(x)
    st = s.state
    assert st.shape == (2, N, H)
    st[...] = 123.0
    assert not np.any(s.state == 123.0)
    before = s.state
    s.reset(np.array([False, True, False]))
    after = s.state
    np.testing.assert_array_equal(after[:, [0, 2]], before[:, [0, 2]])
    assert not after[:, 1].any()
    # the reset sample now continues exactly like a fresh stream
    fresh = g.stream(1)
    y = s.step(x)
    np.testing.assert_allclose(y[1], fresh.step(x[1]), rtol=0, atol=1e-14)
    s.reset()
    assert not s.state.any()


def test_h0_is_copied(rng):
    g = _model(rng, 1)
    h0 = rng.standard_normal((1, 2, H))
    keep = h0.copy()
    s = g.stream(2, h0)
    s.step(rng.standard_normal((2, I)))
    np.testing.assert_array_equal(h0, keep)


@pytest.mark.parametrize("dtype", DTYPES)
def test_step_out_buffer(rng, dtype):
    g = _model(rng, 2, dtype)
    x = rng.standard_normal((4, 2, I)).astype(dtype)
    y, _ = g(x)
    s = g.stream(2)
    buf = np.empty((2, H), dtype)
    for t in range(4):
        r = s.step(x[t], out=buf)
        assert r is buf
        assert_close(buf, y[t], dtype, "out")
    s1 = g.stream(1)
    b1 = np.empty(H, dtype)
    assert s1.step(x[0, 0], out=b1) is b1
    assert_close(b1, y[0, 0], dtype, "out (H,)")
    for bad in (np.empty((3, H), dtype), np.empty((2, H), np.float16),
                np.empty((2, 2 * H), dtype)[:, ::2]):
        with pytest.raises(ValueError, match="out"):
            s.step(x[0], out=bad)
    ro = np.empty((2, H), dtype)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out"):
        s.step(x[0], out=ro)


def test_step_converts_input(rng):
    g = _model(rng, 1, np.float32)
    x = rng.standard_normal((4, 2, I))
    y, _ = g(x.astype(np.float32))
    s = g.stream(2)
    outs = [s.step(x[0]),                                   # float64 into float32
            s.step(np.asfortranarray(x[1])),                # Fortran order
            s.step(x[2].tolist()),                          # nested list
            s.step(np.concatenate([x[3], x[3]], axis=1)[:, :I])]   # strided view
    for t, o in enumerate(outs):
        assert o.dtype == np.float32
        assert_close(o, y[t], np.float32, f"step {t}")


def test_wrong_sizes_raise(rng):
    g = _model(rng, 1)
    s = g.stream(2)
    with pytest.raises(ValueError, match="batch"):
        s.step(np.zeros((3, I)))
    with pytest.raises(ValueError, match="features"):
        s.step(np.zeros((2, I + 1)))
    with pytest.raises(ValueError, match=r"x must have shape"):
        s.step(np.zeros(I))            # (I,) only for batch_size 1
    with pytest.raises(ValueError, match="x"):
        s.step(np.zeros((1, 2, I)))
    with pytest.raises(ValueError, match="batch"):
        s.run(np.zeros((4, 3, I)))
    with pytest.raises(ValueError, match="features"):
        s.run(np.zeros((4, 2, I + 1)))
    with pytest.raises(TypeError, match="x"):
        s.step(np.zeros((2, I), complex))
    with pytest.raises(ValueError, match="h0"):
        g.stream(2, np.zeros((1, 3, H)))
    with pytest.raises(ValueError, match="batch_size"):
        g.stream(0)
    with pytest.raises(TypeError, match="batch_size"):
        g.stream(2.0)
    with pytest.raises(TypeError, match="mask"):
        s.reset(np.array([1, 0]))
    with pytest.raises(ValueError, match="mask"):
        s.reset(np.array([True, False, True]))
    assert not s.state.any()           # failed calls left the state alone


def test_bidirectional_stream_raises():
    g = cgru.GRU(I, H, bidirectional=True)
    with pytest.raises(ValueError, match="bidirectional"):
        g.stream(1)


def test_stream_keeps_weights_of_its_model(rng):
    g = _model(rng, 1)
    x = rng.standard_normal((2, I))
    s = g.stream(2)
    y0 = g(x[None])[0][0]
    randomize(g, rng)               # new weights after the stream was made
    assert_close(s.step(x), y0, np.float64, "old weights")


def test_threads_share_a_model_and_own_their_streams(rng):
    """Kernels run without the GIL: concurrent calls on one model, and one stream
    per thread, give exactly the single-threaded results."""
    import threading
    g = randomize(cgru.GRU(I, H, 2), rng)
    xs = [rng.standard_normal((20, 3, I)) for _ in range(4)]
    want = [g(a) for a in xs]
    got, errors = [None] * 4, []

    def work(i):
        try:
            for _ in range(5):
                y, h_n = g(xs[i])
                s = g.stream(3)
                ys = np.stack([s.step(xt) for xt in xs[i]])
                got[i] = (y, h_n, ys, s.state)
        except Exception as e:          # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for (y, h_n, ys, st), (wy, wh) in zip(got, want):
        np.testing.assert_array_equal(y, wy)
        np.testing.assert_array_equal(h_n, wh)
        assert_close(ys, wy, np.float64, "stream in thread")
        assert_close(st, wh, np.float64, "state in thread")


# ---------------------------------------- Stream(...) directly (pickles call it)
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


def test_stream_constructor_rejects_complex_h0():
    g = cgru.GRU(3, 4)
    with pytest.raises(TypeError, match="h0"):
        Stream(g._net, 1, np.ones((1, 1, 4), np.complex64), False)


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
