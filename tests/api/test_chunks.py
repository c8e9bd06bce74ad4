"""Long calls run in chunks (so that Ctrl-C can stop them, tests/api/test_interrupt.py):
input projections by rows, recurrences by time steps (back to front for a reverse
direction, lengths shifted into each chunk) or, when one step is a chunk, by
samples; a long batch-major call of several samples runs transposed.  Whatever
the chunk size, the answers are tests/reference.py's."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cgru

from engine_helpers import assert_close, randomize, reference_run


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])   # set per example
@given(layers=st.integers(1, 2), bidirectional=st.booleans(), batch_first=st.booleans(),
       with_lengths=st.booleans(), N=st.integers(1, 4), T=st.integers(1, 9),
       dtype=st.sampled_from([np.float32, np.float64]), reset_after=st.booleans(),
       work=st.sampled_from([1, 60, 700, 5000, 1 << 28]), seed=st.integers(0, 2**16))
def test_chunked_calls_match_the_reference(chunk_work, layers, bidirectional, batch_first,
                                           with_lengths, N, T, dtype, reset_after, work, seed):
    rng = np.random.default_rng(seed)
    g = randomize(cgru.GRU(3, 5, layers, bidirectional=bidirectional, batch_first=batch_first,
                           reset_after=reset_after, dtype=dtype), rng)
    x = rng.standard_normal((N, T, 3) if batch_first else (T, N, 3)).astype(dtype)
    h0 = rng.standard_normal((layers * g.num_directions, N, 5)).astype(dtype)
    lengths = rng.integers(0, T + 1, N) if with_lengths else None
    chunk_work(work)
    y, h = g(x, h0, lengths)
    y_ref, h_ref = reference_run(g, x, h0, lengths)
    assert_close(y, y_ref, dtype, "y")
    assert_close(h, h_ref, dtype, "h_n")


@pytest.mark.parametrize("work", [1, 100, 3000])
def test_chunked_reverse_only_and_stream_equal_the_whole_call(chunk_work, rng, work):
    g = cgru.GRU(3, 5, 2, dtype=np.float64)
    g._configure(reverse_only=True)   # ONNX direction="reverse"
    x = rng.standard_normal((11, 3, 3))
    lengths = np.array([11, 4, 0])
    y0, h0 = g(x, lengths=lengths)
    chunk_work(work)
    y1, h1 = g(x, lengths=lengths)
    np.testing.assert_allclose(y1, y0, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(h1, h0, rtol=1e-13, atol=1e-13)
    f = cgru.GRU(3, 5, 2, dtype=np.float64)
    s = f.stream(3)
    chunk_work(1 << 28)
    want = f(x)[0]
    chunk_work(work)
    np.testing.assert_allclose(np.concatenate([s.run(x[:6]), s.run(x[6:])]), want,
                               rtol=1e-13, atol=1e-13)


def test_cell_on_a_chunked_batch(chunk_work, rng):
    c = cgru.GRUCell(4, 6, dtype=np.float64)
    x, h = rng.standard_normal((50, 4)), rng.standard_normal((50, 6))
    want = c(x, h)
    chunk_work(200)               # one step of 50 samples: chunks of a few samples
    np.testing.assert_allclose(c(x, h), want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("layers", [1, 3])
def test_stream_step_of_a_chunked_batch(chunk_work, rng, layers):
    g = cgru.GRU(4, 6, layers, dtype=np.float64)
    x = rng.standard_normal((3, 40, 4))
    want = g(x)
    s = g.stream(40)
    chunk_work(300)              # one step of 40 samples: chunks of a few samples
    ys = [s.step(x[t]) for t in range(3)]
    np.testing.assert_allclose(np.stack(ys), want[0], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(s.state, want[1], rtol=1e-13, atol=1e-13)


def test_a_long_call_needs_no_more_memory_than_it_can_get(chunk_work):
    """x of 80 MB asking for 320 GB of outputs and scratch: refused by cgru's
    check before allocating (not by NumPy's "Unable to allocate")."""
    g = cgru.GRU(1, 1000)
    x = np.zeros((2 * 10**7, 1, 1), np.float32)
    with pytest.raises(MemoryError, match="of memory available"):
        g(x)
