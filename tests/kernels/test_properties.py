"""Hypothesis property tests: cgru.GRU against tests/reference.py over random
shapes, lengths, variants, dtypes and memory layouts."""

import numpy as np

from hypothesis import given, settings, strategies as st

import cgru
import reference
from engine_helpers import LAYOUTS, assert_close, layout, reference_run

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None)


@st.composite
def gru_cases(draw):
    return dict(
        T=draw(st.integers(0, 8)), N=draw(st.integers(1, 5)), I=draw(st.integers(1, 9)),
        H=draw(st.integers(1, 9)), L=draw(st.integers(1, 3)),
        bi=draw(st.booleans()), bf=draw(st.booleans()), bias=draw(st.booleans()),
        reset_after=draw(st.booleans()),
        dtype=draw(st.sampled_from([np.float32, np.float64])),
        x_layout=draw(st.sampled_from(LAYOUTS)), h_layout=draw(st.sampled_from(LAYOUTS)),
        use_h0=draw(st.booleans()), use_lengths=draw(st.booleans()),
        seed=draw(st.integers(0, 2**32 - 1)))


@SETTINGS
@given(gru_cases())
def test_gru_matches_reference(c):
    rng = np.random.default_rng(c["seed"])
    T, N, I, H, L, D = c["T"], c["N"], c["I"], c["H"], c["L"], 2 if c["bi"] else 1
    dtype = c["dtype"]
    g = cgru.GRU(I, H, L, bias=c["bias"], batch_first=c["bf"], bidirectional=c["bi"],
                 reset_after=c["reset_after"], dtype=dtype)
    g.load_state_dict({k: rng.uniform(-0.7, 0.7, v.shape) for k, v in g.state_dict().items()})
    x = rng.standard_normal((N, T, I) if c["bf"] else (T, N, I)).astype(dtype)
    h0 = rng.standard_normal((L * D, N, H)).astype(dtype) if c["use_h0"] else None
    lengths = rng.integers(0, T + 1, N) if c["use_lengths"] else None
    xs = layout(x, c["x_layout"])
    hs = None if h0 is None else layout(h0, c["h_layout"])
    x_keep = xs.copy()
    y, h_n = g(xs, hs, lengths)
    np.testing.assert_array_equal(xs, x_keep)
    ry, rh = reference_run(g, x, h0, lengths)
    assert y.dtype == h_n.dtype == np.dtype(dtype)
    assert_close(y, ry, dtype, "y")
    assert_close(h_n, rh, dtype, "h_n")


@st.composite
def stream_cases(draw):
    return dict(T=draw(st.integers(0, 8)), N=draw(st.integers(1, 5)),
                I=draw(st.integers(1, 9)), H=draw(st.integers(1, 9)),
                L=draw(st.integers(1, 3)), reset_after=draw(st.booleans()),
                dtype=draw(st.sampled_from([np.float32, np.float64])),
                split=draw(st.integers(0, 8)), seed=draw(st.integers(0, 2**32 - 1)))


@SETTINGS
@given(stream_cases())
def test_stream_matches_full_run(c):
    rng = np.random.default_rng(c["seed"])
    T, N, I, H, L, dtype = c["T"], c["N"], c["I"], c["H"], c["L"], c["dtype"]
    g = cgru.GRU(I, H, L, reset_after=c["reset_after"], dtype=dtype)
    x = rng.standard_normal((T, N, I)).astype(dtype)
    h0 = rng.standard_normal((L, N, H)).astype(dtype)
    y, h_n = g(x, h0)
    s = g.stream(N, h0)
    k = min(c["split"], T)
    head = s.run(x[:k])
    tail = [s.step(x[t]) for t in range(k, T)]
    got = np.concatenate([head] + [t[None] for t in tail]) if tail else head
    # a stream is the same computation as the full run: same kernels, same order
    assert_close(got, y, dtype, "stream")
    assert_close(s.state, h_n, dtype, "state")


@SETTINGS
@given(N=st.integers(1, 5), I=st.integers(1, 9), H=st.integers(1, 9),
       bias=st.booleans(), reset_after=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), unbatched=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_cell_matches_reference(N, I, H, bias, reset_after, dtype, unbatched, seed):
    rng = np.random.default_rng(seed)
    c = cgru.GRUCell(I, H, bias=bias, reset_after=reset_after, dtype=dtype)
    c.load_state_dict({k: rng.uniform(-0.7, 0.7, v.shape) for k, v in c.state_dict().items()})
    sd = c.state_dict()
    x = rng.standard_normal((N, I)).astype(dtype)
    h = rng.standard_normal((N, H)).astype(dtype)
    zeros = np.zeros(3 * H)
    want = reference.cell(x.astype(np.float64), h.astype(np.float64), sd["weight_ih"],
                          sd["weight_hh"], sd.get("bias_ih", zeros), sd.get("bias_hh", zeros),
                          reset_after)
    if unbatched:
        assert_close(c(x[0], h[0]), want[0], dtype, "cell")
    else:
        assert_close(c(x, h), want, dtype, "cell")


