"""PyTorch interop: from_torch (modules, state_dicts, torch.save paths, GRUCell)
and to_torch round trips, against real torch."""

import numpy as np
import pytest

import cgru


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("bias", [True, False])
def test_gru_from_module_and_saved_state_dict(torch, rng, tmp_path, dtype, bias):
    torch.manual_seed(0)
    tdt = getattr(torch, dtype)
    tg = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True, bias=bias,
                      dtype=tdt)
    torch.save(tg.state_dict(), tmp_path / "sd.pt")
    x = rng.standard_normal((2, 5, 3)).astype(dtype)
    h0 = rng.standard_normal((4, 2, 4)).astype(dtype)
    with torch.no_grad():
        y_t, h_t = (a.numpy() for a in tg(torch.from_numpy(x), torch.from_numpy(h0)))
    tol = 1e-12 if dtype == "float64" else 1e-5
    g = cgru.GRU.from_torch(tg)
    assert g.batch_first and g.bias == bias and g.dtype == np.dtype(dtype)
    y, h = g(x, h0)
    np.testing.assert_allclose(y, y_t, atol=tol)
    np.testing.assert_allclose(h, h_t, atol=tol)
    # a path to a state_dict (no batch_first there: time-major like torch's default)
    g2 = cgru.GRU.from_torch(tmp_path / "sd.pt")
    assert not g2.batch_first and g2.dtype == np.dtype(dtype)
    y2, h2 = g2(x.transpose(1, 0, 2), h0)
    np.testing.assert_allclose(y2.transpose(1, 0, 2), y_t, atol=tol)
    np.testing.assert_allclose(h2, h_t, atol=tol)
    # and back to torch, exactly
    back = g.to_torch()
    assert back.batch_first and back.bidirectional and back.num_layers == 2
    for k, v in tg.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k


@pytest.mark.parametrize("bias", [True, False])
def test_grucell_module_path_and_round_trip(torch, rng, tmp_path, bias):
    torch.manual_seed(1)
    tc = torch.nn.GRUCell(3, 5, bias=bias)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    h = rng.standard_normal((4, 5)).astype(np.float32)
    with torch.no_grad():
        want = tc(torch.from_numpy(x), torch.from_numpy(h)).numpy()
    torch.save(tc.state_dict(), tmp_path / "cell.pt")
    for src in (tc, tc.state_dict(), tmp_path / "cell.pt", str(tmp_path / "cell.pt")):
        for maker in (cgru.GRUCell.from_torch, cgru.GRU.from_torch):   # GRU.from_torch -> GRUCell
            c = maker(src)
            assert isinstance(c, cgru.GRUCell) and c.bias == bias
            np.testing.assert_allclose(c(x, h), want, atol=1e-5)
    back = cgru.GRUCell.from_torch(tc).to_torch()
    assert isinstance(back, torch.nn.GRUCell)
    for k, v in tc.state_dict().items():
        assert torch.equal(back.state_dict()[k], v)


def test_cgru_to_torch_to_cgru_round_trip(torch, rng):
    g = cgru.GRU(3, 4, 3, bidirectional=True)
    g2 = cgru.GRU.from_torch(g.to_torch())
    for k, v in g.state_dict().items():
        np.testing.assert_array_equal(g2.state_dict()[k], v)


def test_to_torch_refuses_what_torch_cannot_compute():
    with pytest.raises(ValueError, match="reset_after=True only"):
        cgru.GRU(2, 3, reset_after=False).to_torch()
    with pytest.raises(ValueError, match="sigmoid/tanh only"):
        cgru.GRU(2, 3, activations=("HardSigmoid", "Tanh")).to_torch()
    with pytest.raises(ValueError, match="sigmoid/tanh only"):
        cgru.GRU(2, 3, clip=5.0).to_torch()
    g = cgru.GRU(2, 3)
    g._configure(reverse_only=True)
    with pytest.raises(ValueError, match="reverse"):
        g.to_torch()
    with pytest.raises(ValueError, match="reset_after=True only"):
        cgru.GRUCell(2, 3, reset_after=False).to_torch()


def test_bad_torch_inputs(torch, tmp_path):
    with pytest.raises(TypeError, match="expected torch.nn.GRU"):
        cgru.GRU.from_torch(torch.nn.LSTM(2, 3))
    with pytest.raises(TypeError, match="GRUCell"):
        cgru.GRUCell.from_torch(torch.nn.LSTMCell(2, 3))
    with pytest.raises(ValueError, match="weight_hh"):
        cgru.GRUCell.from_torch(torch.nn.LSTMCell(2, 3).state_dict())
    with pytest.raises(FileNotFoundError):
        cgru.GRU.from_torch(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file at all")
    with pytest.raises(ValueError, match="cannot read"):
        cgru.GRU.from_torch(tmp_path / "junk.pt")
    torch.save(torch.nn.GRU(2, 3), tmp_path / "module.pt")   # a pickled module, not weights
    with pytest.raises(ValueError, match="cannot read|state_dict"):
        cgru.GRU.from_torch(tmp_path / "module.pt")
    torch.save([torch.zeros(3)], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="expected a state_dict"):
        cgru.GRU.from_torch(tmp_path / "list.pt")
    sd = torch.nn.GRU(2, 3).state_dict()
    sd["weight_hh_l0"] = sd["weight_hh_l0"][:, :2]
    with pytest.raises(ValueError, match="weight_hh_l0"):
        cgru.GRU.from_torch(sd)
