"""The gates r, z, n that ``g(x, return_gates=True)`` returns, against the NumPy
transcription of the equations (tests/reference.py): both variants, layers,
directions, lengths, batch_first, every activation and clip, every ISA build
this CPU runs, and random shapes (hypothesis).

Measured on this code (float32 / float64, max abs error over the configurations
of test_gates_match_reference): 1.6e-7 / 4.7e-16; asserted: 1e-6 / 1e-12."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cgru
import reference
from cgru import kernels
from engine_helpers import randomize

GATE_TOL = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-12}
ISAS = ["baseline", "avx2", "avx512"]


def reference_gates(g, x, h0=None, lengths=None, activations=None, clip=None):
    """y, h_n and the gates dict of tests/reference.py for cgru.GRU ``g``."""
    return reference.gru(x, g.state_dict(), g.num_layers, g.hidden_size,
                         bidirectional=g.bidirectional, reset_after=g.reset_after, h0=h0,
                         lengths=lengths, batch_first=g.batch_first, activations=activations,
                         clip=clip, return_gates=True)


def assert_gates_close(gates, want, dtype, what=""):
    assert isinstance(gates, cgru.Gates)
    tol = GATE_TOL[np.dtype(dtype)]
    for name in "rzn":
        got = getattr(gates, name)
        assert got.dtype == np.dtype(dtype), (what, name, got.dtype)
        assert got.shape == want[name].shape, (what, name, got.shape, want[name].shape)
        err = np.max(np.abs(got.astype(np.float64) - want[name]), initial=0.0)
        assert err <= tol, f"{what} {name}: max abs error {err:.3g} > {tol:.0e}"


CONFIGS = list(itertools.product((True, False), (1, 2, 3), (False, True), (False, True),
                                 (np.float32, np.float64), (1, 4)))


@pytest.mark.parametrize("reset_after,L,bi,bf,dtype,N", CONFIGS)
def test_gates_match_reference(rng, reset_after, L, bi, bf, dtype, N):
    """Layers, directions, batch_first, N = 1 (the overlapped one-sample path) and
    N = 4 (the batched path), with and without h0 and lengths."""
    T, I, H = 7, 3, 5
    g = randomize(cgru.GRU(I, H, L, batch_first=bf, bidirectional=bi,
                           reset_after=reset_after, dtype=dtype), rng)
    D = 2 if bi else 1
    x = rng.standard_normal((N, T, I) if bf else (T, N, I)).astype(dtype)
    h0 = rng.standard_normal((L * D, N, H)).astype(dtype)
    lengths = [T, 0, 3, 1][:N] if N > 1 else [4]
    for h, lens in ((None, None), (h0, None), (h0, lengths)):
        y, h_n, gates = g(x, h, lens, return_gates=True)
        ry, rh, rg = reference_gates(g, x, h, lens)
        assert_gates_close(gates, rg, dtype, f"h0={h is not None} lengths={lens}")
        np.testing.assert_allclose(y, ry, atol=GATE_TOL[np.dtype(dtype)] * 10, rtol=0)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("H,N", [(1, 1), (17, 1), (33, 3), (20, 6)])
def test_gates_in_every_isa_build(rng, isa, reset_after, dtype, H, N):
    """Partial panels (H not a multiple of 16), 1-3 leftover samples of a block."""
    old = kernels.isa()
    try:
        kernels._set_isa(isa)
    except ValueError as e:         # this CPU or build has no such kernels
        pytest.skip(str(e))
    try:
        g = randomize(cgru.GRU(4, H, 2, bidirectional=True, reset_after=reset_after,
                               dtype=dtype), rng)
        x = rng.standard_normal((5, N, 4)).astype(dtype)
        lengths = rng.integers(0, 6, N)
        lengths[0] = 5
        _, _, gates = g(x, lengths=lengths, return_gates=True)
    finally:
        kernels._set_isa(old)
    assert_gates_close(gates, reference_gates(g, x, lengths=lengths)[2], dtype, isa)


# every ONNX activation, as the gate function f (r, z) and as the candidate's g
ACTS = {"Sigmoid": (), "Tanh": (), "Relu": (), "Affine": (0.5, 0.1), "LeakyRelu": (0.3, None),
        "ThresholdedRelu": (0.2, None), "ScaledTanh": (1.5, 0.5), "HardSigmoid": (0.25, 0.4),
        "Elu": (0.8, None), "Softsign": (), "Softplus": ()}


@pytest.mark.parametrize("name", list(ACTS))
@pytest.mark.parametrize("role", ["gates", "candidate"])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("clip", [None, 1.5])
def test_gates_every_activation(rng, name, role, reset_after, clip):
    act = (name,) + ACTS[name] if ACTS[name] else name
    pair = (act, "Tanh") if role == "gates" else ("Sigmoid", act)
    # the other direction uses the default pair: the plain path and the generic one side by side
    g = randomize(cgru.GRU(3, 6, 2, bidirectional=True, reset_after=reset_after,
                           dtype=np.float64, activations=[pair, ("Sigmoid", "Tanh")],
                           clip=clip), rng)
    x = rng.standard_normal((6, 3, 3)) * 2
    lengths = [6, 2, 5]
    fns = [tuple(reference.activation(*((a,) if isinstance(a, str) else a)) for a in pair),
           (reference.sigmoid, np.tanh)]
    y, h_n, gates = g(x, lengths=lengths, return_gates=True)
    ry, rh, rg = reference_gates(g, x, lengths=lengths, activations=fns, clip=clip)
    assert_gates_close(gates, rg, np.float64, f"{pair} clip={clip}")
    np.testing.assert_allclose(y, ry, atol=1e-12, rtol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_generic_path_one_sample(rng, dtype):
    """N = 1 with a non-default activation: the generic gate loop, one sample."""
    g = randomize(cgru.GRU(3, 9, reset_after=True, dtype=dtype,
                           activations=("HardSigmoid", "Softsign")), rng)
    x = rng.standard_normal((8, 1, 3)).astype(dtype)
    fns = [(reference.activation("HardSigmoid", 0.2, 0.5), reference.activation("Softsign"))]
    _, _, gates = g(x, return_gates=True)
    assert_gates_close(gates, reference_gates(g, x, activations=fns)[2], dtype)


def test_reverse_only_direction(rng):
    """ONNX direction="reverse": the gates of the back-to-front run, at the steps
    they belong to (time-reversed input through the same forward weights)."""
    g = randomize(cgru.GRU(3, 4, dtype=np.float64), rng)
    x = rng.standard_normal((6, 2, 3))
    _, _, forward = g(x[::-1], return_gates=True)
    g._configure(reverse_only=True)
    _, _, gates = g(x, return_gates=True)
    for name in "rzn":
        np.testing.assert_allclose(getattr(gates, name), getattr(forward, name)[:, ::-1],
                                   atol=1e-14, rtol=0)


SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None)


@st.composite
def gate_cases(draw):
    return dict(T=draw(st.integers(0, 7)), N=draw(st.integers(1, 5)),
                I=draw(st.integers(1, 8)), H=draw(st.integers(1, 20)),
                L=draw(st.integers(1, 3)), bi=draw(st.booleans()), bf=draw(st.booleans()),
                bias=draw(st.booleans()), reset_after=draw(st.booleans()),
                dtype=draw(st.sampled_from([np.float32, np.float64])),
                unbatched=draw(st.booleans()), use_lengths=draw(st.booleans()),
                seed=draw(st.integers(0, 2**32 - 1)))


@SETTINGS
@given(gate_cases())
def test_gates_property(c):
    rng = np.random.default_rng(c["seed"])
    T, N, I, H, L = c["T"], c["N"], c["I"], c["H"], c["L"]
    dtype, unbatched = c["dtype"], c["unbatched"]
    g = randomize(cgru.GRU(I, H, L, bias=c["bias"], batch_first=c["bf"],
                           bidirectional=c["bi"], reset_after=c["reset_after"], dtype=dtype),
                  rng, scale=0.7)
    if unbatched:
        x = rng.standard_normal((T, I)).astype(dtype)
        y, h_n, gates = g(x, return_gates=True)
        g.batch_first = False
        want = {k: v[:, :, 0] for k, v in reference_gates(g, x[:, None])[2].items()}
    else:
        x = rng.standard_normal((N, T, I) if c["bf"] else (T, N, I)).astype(dtype)
        lengths = rng.integers(0, T + 1, N) if c["use_lengths"] else None
        y, h_n, gates = g(x, lengths=lengths, return_gates=True)
        want = reference_gates(g, x, lengths=lengths)[2]
    assert gates.r.shape == (L,) + y.shape
    assert_gates_close(gates, want, dtype)
