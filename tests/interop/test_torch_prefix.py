"""torch state_dicts of networks with a GRU inside: GRU.from_torch(sd, prefix=...)
with or without the trailing dot; one GRU under some prefix converts without
one (and `cgru convert` says which prefix it took); several: an error listing
them.  Modules holding a GRU convert too."""

import numpy as np
import pytest

import cgru


def nets(torch):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = torch.nn.GRU(3, 4, 2, bidirectional=True, batch_first=True)
            self.fc = torch.nn.Linear(8, 1)

    class Two(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = Net()
            self.dec = torch.nn.GRU(8, 4)
            self.cell = torch.nn.GRUCell(4, 4)

    return Net, Two


def same(g, m):
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(g.state_dict()[k], v.numpy())


@pytest.mark.parametrize("prefix", [None, "gru", "gru."])
def test_state_dict_of_a_network(torch, prefix):
    Net, _ = nets(torch)
    net = Net()
    g = cgru.GRU.from_torch(net.state_dict(), prefix=prefix)
    assert g.num_layers == 2 and g.bidirectional
    same(g, net.gru)


def test_several_grus_are_listed_and_one_is_chosen(torch, rng):
    _, Two = nets(torch)
    two = Two()
    with pytest.raises(ValueError, match=r"2 GRUs.*'dec\.', 'enc\.gru\.'.*prefix="):
        cgru.GRU.from_torch(two.state_dict())
    same(cgru.GRU.from_torch(two.state_dict(), prefix="enc.gru"), two.enc.gru)
    same(cgru.GRU.from_torch(two.state_dict(), prefix="dec."), two.dec)
    same(cgru.GRUCell.from_torch(two.state_dict(), prefix="cell"), two.cell)
    with pytest.raises(ValueError, match="no GRU keys under the prefix 'nope.'"):
        cgru.GRU.from_torch(two.state_dict(), prefix="nope")
    with pytest.raises(TypeError, match="prefix must be a str"):
        cgru.GRU.from_torch(two.state_dict(), prefix=1)
    # a module: its GRU submodule, batch_first included
    g = cgru.GRU.from_torch(two, prefix="enc.gru")
    assert g.batch_first
    x = torch.from_numpy(rng.standard_normal((2, 5, 3)).astype(np.float32))
    with torch.no_grad():
        np.testing.assert_allclose(g(x.numpy())[0], two.enc.gru(x)[0].numpy(), atol=1e-5)
    with pytest.raises(ValueError, match=r"2 GRUs \['enc.gru', 'dec'\]"):
        cgru.GRU.from_torch(two)


def test_module_holding_one_gru(torch):
    Net, _ = nets(torch)
    net = Net()
    g = cgru.GRU.from_torch(net)
    assert g.batch_first
    same(g, net.gru)


def test_cli_says_which_prefix_it_took(torch, tmp_path, capsys):
    from cgru.cli import main
    Net, Two = nets(torch)
    net = Net()
    torch.save(net.state_dict(), tmp_path / "net.pt")
    assert main(["convert", str(tmp_path / "net.pt"), "-o", str(tmp_path / "g.npz")]) == 0
    assert "prefix 'gru.'" in capsys.readouterr().out
    same(cgru.load(tmp_path / "g.npz"), net.gru)
    torch.save(Two().state_dict(), tmp_path / "two.pt")
    assert main(["convert", str(tmp_path / "two.pt"), "-o", str(tmp_path / "g.npz")]) == 1
    err = capsys.readouterr().err
    assert "'dec.', 'enc.gru.'" in err and "--prefix" in err and "prefix=" not in err
    assert main(["convert", str(tmp_path / "two.pt"), "-o", str(tmp_path / "g.npz"),
                 "--prefix", "dec"]) == 0
    assert main(["convert", str(tmp_path / "two.pt"), "-o", str(tmp_path / "c.npz"),
                 "--prefix", "cell"]) == 0
    assert isinstance(cgru.load(tmp_path / "c.npz"), cgru.GRUCell)


def test_subclasses_of_torch_grus(torch):
    class MyGRU(torch.nn.GRU):
        pass

    class Holder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = MyGRU(3, 4, batch_first=True)

    h = Holder()
    same(cgru.GRU.from_torch(h), h.rnn)
    same(cgru.GRU.from_torch(h.rnn), h.rnn)
    assert cgru.GRU.from_torch(h, prefix="rnn").batch_first
