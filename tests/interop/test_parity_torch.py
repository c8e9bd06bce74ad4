"""cgru.GRU / GRUCell against real torch.nn.GRU / GRUCell (reset_after=True)."""

import itertools

import numpy as np
import pytest

import cgru
from engine_helpers import assert_close, reference_run

T, N, I, H = 5, 3, 4, 5
DTYPES = [np.float32, np.float64]
CONFIGS = list(itertools.product((1, 2, 3), (False, True), (False, True), (False, True), DTYPES))
IDS = [f"L{L}-{'bi' if bi else 'uni'}-{'bf' if bf else 'tf'}-{'bias' if b else 'nobias'}-"
       f"{np.dtype(dt).name}" for L, bi, bf, b, dt in CONFIGS]


def _tdtype(torch, dtype):
    return torch.float64 if np.dtype(dtype) == np.float64 else torch.float32


def _torch_gru(torch, L, bi, bf, bias, dtype):
    torch.manual_seed(L * 16 + bi * 8 + bf * 4 + bias * 2 + (dtype == np.float64))
    return torch.nn.GRU(I, H, L, bias=bias, batch_first=bf, bidirectional=bi,
                        dtype=_tdtype(torch, dtype))


def _torch_run(torch, m, x, h0=None):
    with torch.no_grad():
        y, h = m(torch.from_numpy(x), None if h0 is None else torch.from_numpy(h0))
    return y.numpy(), h.numpy()


@pytest.mark.parametrize("L,bi,bf,bias,dtype", CONFIGS, ids=IDS)
def test_gru_matches_torch(torch, rng, L, bi, bf, bias, dtype):
    m = _torch_gru(torch, L, bi, bf, bias, dtype)
    g = cgru.GRU.from_torch(m)
    D = 2 if bi else 1
    assert (g.num_layers, g.bidirectional, g.batch_first, g.bias, g.dtype) == \
        (L, bi, bf, bias, np.dtype(dtype))
    x = rng.standard_normal((N, T, I) if bf else (T, N, I)).astype(dtype)
    h0 = rng.standard_normal((L * D, N, H)).astype(dtype)
    for h in (None, h0):
        y, h_n = g(x, h)
        ty, th = _torch_run(torch, m, x, h)
        assert y.dtype == h_n.dtype == np.dtype(dtype)
        assert_close(y, ty, dtype, "y")
        assert_close(h_n, th, dtype, "h_n")
    # unbatched (T, I) input, h0 (L*D, H)
    xu = x[0] if bf else x[:, 0]
    y, h_n = g(xu, h0[:, 0])
    ty, th = _torch_run(torch, m, np.ascontiguousarray(xu), np.ascontiguousarray(h0[:, 0]))
    assert_close(y, ty, dtype, "unbatched y")
    assert_close(h_n, th, dtype, "unbatched h_n")


@pytest.mark.parametrize("L,bi,bf,bias,dtype", CONFIGS, ids=IDS)
def test_packed_sequences_match_torch(torch, rng, L, bi, bf, bias, dtype):
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    m = _torch_gru(torch, L, bi, bf, bias, dtype)
    g = cgru.GRU.from_torch(m)
    D = 2 if bi else 1
    n = 4
    lengths = np.array([3, T, 1, 4])          # unsorted, includes T and 1
    x = rng.standard_normal((n, T, I) if bf else (T, n, I)).astype(dtype)
    h0 = rng.standard_normal((L * D, n, H)).astype(dtype)
    for h in (None, h0):
        packed = pack_padded_sequence(torch.from_numpy(x), torch.from_numpy(lengths),
                                      batch_first=bf, enforce_sorted=False)
        with torch.no_grad():
            out, th = m(packed, None if h is None else torch.from_numpy(h))
        ty, _ = pad_packed_sequence(out, batch_first=bf, total_length=T)
        y, h_n = g(x, h, lengths=lengths)
        assert_close(y, ty.numpy(), dtype, "packed y")
        assert_close(h_n, th.numpy(), dtype, "packed h_n")
        # padding rows are exactly zero
        for b, length in enumerate(lengths):
            pad = y[b, length:] if bf else y[length:, b]
            assert not pad.any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bi", [False, True])
def test_length_zero_gives_zero_rows_and_h0(rng, dtype, bi):
    # torch rejects length 0, so the reference is tests/reference.py
    g = cgru.GRU(I, H, 2, bidirectional=bi, dtype=dtype)
    D = 2 if bi else 1
    x = rng.standard_normal((T, 3, I)).astype(dtype)
    h0 = rng.standard_normal((2 * D, 3, H)).astype(dtype)
    lengths = [0, T, 2]
    y, h_n = g(x, h0, lengths=lengths)
    ry, rh = reference_run(g, x, h0, lengths)
    assert_close(y, ry, dtype, "y")
    assert_close(h_n, rh, dtype, "h_n")
    assert not y[:, 0].any()
    np.testing.assert_array_equal(h_n[:, 0], h0[:, 0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bi,bias", [(False, True), (True, False), (True, True)])
def test_from_torch_state_dict_infers_configuration(torch, rng, dtype, bi, bias):
    m = torch.nn.GRU(I, H, 2, bias=bias, bidirectional=bi, dtype=_tdtype(torch, dtype))
    g = cgru.GRU.from_torch(m.state_dict())
    assert (g.input_size, g.hidden_size, g.num_layers, g.bidirectional, g.bias, g.dtype) == \
        (I, H, 2, bi, bias, np.dtype(dtype))
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(g.state_dict()[k], v.numpy())
    x = rng.standard_normal((T, N, I)).astype(dtype)
    y, h_n = g(x)
    ty, th = _torch_run(torch, m, x)
    assert_close(y, ty, dtype, "y")
    assert_close(h_n, th, dtype, "h_n")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("L,bi,bf,bias", [(1, False, False, True), (2, True, True, False),
                                          (3, True, False, True)])
def test_to_torch_round_trip(torch, rng, dtype, L, bi, bf, bias):
    g = cgru.GRU(I, H, L, bias=bias, batch_first=bf, bidirectional=bi, dtype=dtype)
    m = g.to_torch()
    assert isinstance(m, torch.nn.GRU)
    assert (m.num_layers, m.bidirectional, m.batch_first, m.bias) == (L, bi, bf, bias)
    assert m.weight_hh_l0.dtype == _tdtype(torch, dtype)
    sd = g.state_dict()
    assert set(sd) == set(m.state_dict())
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(sd[k], v.numpy())
    x = rng.standard_normal((N, T, I) if bf else (T, N, I)).astype(dtype)
    y, h_n = g(x)
    ty, th = _torch_run(torch, m, x)
    assert_close(y, ty, dtype, "y")
    assert_close(h_n, th, dtype, "h_n")
    g2 = cgru.GRU.from_torch(m)
    y2, h2 = g2(x)
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(h2, h_n)


def test_to_torch_rejects_reset_after_false():
    with pytest.raises(ValueError, match="reset_after"):
        cgru.GRU(I, H, reset_after=False).to_torch()


def test_load_state_dict_accepts_torch_tensors(torch, rng):
    m = torch.nn.GRU(I, H, dtype=torch.float64)
    g = cgru.GRU(I, H, dtype=np.float32)
    g.load_state_dict(m.state_dict())
    x = rng.standard_normal((T, N, I))
    ty, th = _torch_run(torch, m, x)
    y, h_n = g(x)
    assert y.dtype == np.float32
    assert_close(y, ty, np.float32, "y")


# ------------------------------------------------------------------ GRUCell

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("source", ["module", "state_dict"])
def test_cell_matches_torch(torch, rng, dtype, bias, source):
    m = torch.nn.GRUCell(I, H, bias=bias, dtype=_tdtype(torch, dtype))
    c = cgru.GRUCell.from_torch(m if source == "module" else m.state_dict())
    assert (c.input_size, c.hidden_size, c.bias, c.dtype) == (I, H, bias, np.dtype(dtype))
    x = rng.standard_normal((N, I)).astype(dtype)
    h = rng.standard_normal((N, H)).astype(dtype)
    with torch.no_grad():
        cases = [((x, h), m(torch.from_numpy(x), torch.from_numpy(h))),
                 ((x, None), m(torch.from_numpy(x))),
                 ((x[1], h[1]), m(torch.from_numpy(x[1]), torch.from_numpy(h[1]))),
                 ((x[2], None), m(torch.from_numpy(x[2])))]
    for (xi, hi), expected in cases:
        out = c(xi, hi)
        assert out.dtype == np.dtype(dtype)
        assert_close(out, expected.numpy(), dtype, f"cell x{xi.shape}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_cell_to_torch_round_trip(torch, rng, dtype):
    c = cgru.GRUCell(I, H, dtype=dtype)
    m = c.to_torch()
    assert isinstance(m, torch.nn.GRUCell)
    x = rng.standard_normal((N, I)).astype(dtype)
    h = rng.standard_normal((N, H)).astype(dtype)
    with torch.no_grad():
        expected = m(torch.from_numpy(x), torch.from_numpy(h)).numpy()
    assert_close(c(x, h), expected, dtype, "cell")
    with pytest.raises(ValueError, match="reset_after"):
        cgru.GRUCell(I, H, reset_after=False).to_torch()


def test_torch_tensors_as_inputs(torch, rng):
    m = torch.nn.GRU(I, H, 2, dtype=torch.float64)
    g = cgru.GRU.from_torch(m)
    x = torch.from_numpy(rng.standard_normal((T, N, I)))
    h0 = torch.from_numpy(rng.standard_normal((2, N, H))).requires_grad_()
    lengths = torch.tensor([T, 2, 1])
    y, h_n = g(x, h0, lengths=lengths)
    assert isinstance(y, np.ndarray) and isinstance(h_n, np.ndarray)
    y2, h2 = g(x.numpy(), h0.detach().numpy(), lengths=lengths.numpy())
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(h_n, h2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_huge_inputs_saturate_like_torch(torch, rng, dtype):
    m = _torch_gru(torch, 2, True, False, True, dtype)
    g = cgru.GRU.from_torch(m)
    x = (rng.standard_normal((T, N, I)) * 1e30).astype(dtype)
    y, h_n = g(x)
    ty, th = _torch_run(torch, m, x)
    assert np.isfinite(y).all() and np.abs(y).max() <= 1
    assert_close(y, ty, dtype, "y")
    assert_close(h_n, th, dtype, "h_n")


def test_half_precision_tensors_are_converted(torch, rng):
    g = cgru.GRU(I, H, dtype=np.float32)
    x = torch.from_numpy(rng.standard_normal((T, N, I)).astype(np.float32))
    for tdt in (torch.bfloat16, torch.float16):
        xt = x.to(tdt)
        y, _ = g(xt, torch.zeros(1, N, H, dtype=tdt))
        np.testing.assert_array_equal(y, g(xt.float().numpy())[0])
    m = torch.nn.GRU(I, H, dtype=torch.bfloat16)
    g.load_state_dict(m.state_dict())
    np.testing.assert_array_equal(g.state_dict()["weight_hh_l0"], m.weight_hh_l0.detach().float().numpy())


def test_from_torch_rejects_other_things(torch):
    with pytest.raises(TypeError, match="GRU"):
        cgru.GRU.from_torch(torch.nn.LSTM(I, H))
    with pytest.raises(TypeError, match="GRU"):
        cgru.GRU.from_torch(42)
    with pytest.raises(ValueError, match="empty"):
        cgru.GRU.from_torch({})
    sd = dict(torch.nn.GRU(I, H).state_dict(), junk=torch.zeros(1))
    with pytest.raises(ValueError, match="junk"):
        cgru.GRU.from_torch(sd)
    with pytest.raises(TypeError, match="GRUCell"):
        cgru.GRUCell.from_torch(torch.nn.RNNCell(I, H))
    with pytest.raises(ValueError, match="weight_hh"):
        cgru.GRUCell.from_torch({"weight_ih": torch.zeros(3 * H, I)})
