"""GRU.save / GRUCell.save / cgru.load: round trip, no pickles, corrupt files."""

import io
import json
import zipfile

import numpy as np
import pytest

import cgru


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("L,bi,bf", [(1, False, False), (2, True, True)])
def test_gru_round_trip(tmp_path, rng, dtype, reset_after, bias, L, bi, bf):
    g = cgru.GRU(3, 4, L, bias=bias, batch_first=bf, bidirectional=bi,
                 reset_after=reset_after, dtype=dtype)
    path = tmp_path / "model.npz"
    g.save(path)
    # a plain .npz: loads without pickle support
    with np.load(path, allow_pickle=False) as f:
        assert set(f.files) == set(g.state_dict()) | {"__config__"}
    g2 = cgru.load(path)
    assert type(g2) is cgru.GRU
    for attr in ("input_size", "hidden_size", "num_layers", "bias", "batch_first",
                 "bidirectional", "reset_after", "dtype"):
        assert getattr(g2, attr) == getattr(g, attr), attr
    sd, sd2 = g.state_dict(), g2.state_dict()
    assert set(sd) == set(sd2)
    for k in sd:
        assert sd2[k].dtype == np.dtype(dtype)
        np.testing.assert_array_equal(sd2[k], sd[k])
    x = rng.standard_normal((2, 5, 3) if bf else (5, 2, 3)).astype(dtype)
    for a, b in zip(g(x), g2(x)):
        np.testing.assert_array_equal(a, b)
    g2.save(str(tmp_path / "again.npz"))     # str path works too
    assert cgru.load(str(tmp_path / "again.npz")).num_layers == L


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_round_trip(tmp_path, rng, dtype, reset_after, bias):
    c = cgru.GRUCell(3, 4, bias=bias, reset_after=reset_after, dtype=dtype)
    path = tmp_path / "cell.npz"
    c.save(path)
    c2 = cgru.load(path)
    assert type(c2) is cgru.GRUCell
    assert (c2.input_size, c2.hidden_size, c2.bias, c2.reset_after, c2.dtype) == \
        (3, 4, bias, reset_after, np.dtype(dtype))
    x = rng.standard_normal((2, 3)).astype(dtype)
    h = rng.standard_normal((2, 4)).astype(dtype)
    np.testing.assert_array_equal(c2(x, h), c(x, h))


def test_file_object_round_trip(rng):
    g = cgru.GRU(3, 4)
    buf = io.BytesIO()
    g.save(buf)
    buf.seek(0)
    g2 = cgru.load(buf)
    np.testing.assert_array_equal(g2.state_dict()["weight_hh_l0"], g.state_dict()["weight_hh_l0"])


def _saved(tmp_path):
    path = tmp_path / "m.npz"
    cgru.GRU(3, 4, 2).save(path)
    return path


def test_truncated_file(tmp_path):
    path = _saved(tmp_path)
    data = path.read_bytes()
    for cut in (0, 10, len(data) // 2, len(data) - 5):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="load"):
            cgru.load(bad)


def test_corrupted_file(tmp_path):
    path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(rng.integers(0, 256, 2000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="load"):
        cgru.load(garbage)
    # flip bytes in the middle (the zip CRC or the npy headers catch it)
    for pos in (len(data) // 3, len(data) // 2):
        d = bytearray(data)
        d[pos:pos + 8] = b"\xff" * 8
        bad = tmp_path / f"flip{pos}.npz"
        bad.write_bytes(bytes(d))
        with pytest.raises(ValueError):
            cgru.load(bad)
    with pytest.raises(FileNotFoundError, match="no such file"):     # as open() does
        cgru.load(tmp_path / "does-not-exist.npz")


def _rewrite(src, dst, replace=None, drop=(), extra=None):
    """Copy the .npz ``src`` to ``dst``, replacing / dropping / adding entries."""
    with np.load(src, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files if k not in drop}
    arrays.update(replace or {})
    arrays.update(extra or {})
    np.savez(dst, **arrays)
    return dst


def test_pickled_object_array_rejected(tmp_path):
    path = _saved(tmp_path)
    obj = np.empty(1, dtype=object)
    obj[0] = {"evil": "pickle"}
    bad = _rewrite(path, tmp_path / "pickled.npz", extra={"weight_ih_l0": obj})
    with pytest.raises(ValueError):
        cgru.load(bad)
    bad = _rewrite(path, tmp_path / "pickled_cfg.npz", extra={"__config__": obj})
    with pytest.raises(ValueError):
        cgru.load(bad)


def test_bad_contents(tmp_path):
    path = _saved(tmp_path)
    cases = {
        "noconfig": dict(drop=("__config__",)),
        "badjson": dict(replace={"__config__": np.array("{not json")}),
        "notdict": dict(replace={"__config__": np.array("[1, 2]")}),
        "missingkey": dict(drop=("weight_hh_l1",)),
        "badshape": dict(replace={"weight_hh_l0": np.zeros((5, 4), np.float32)}),
        "extra": dict(extra={"weight_hh_l7": np.zeros((12, 4), np.float32)}),
        "kind": dict(replace={"__config__": np.array(json.dumps(
            {"kind": "LSTM", "input_size": 3, "hidden_size": 4}))}),
        "badsize": dict(replace={"__config__": np.array(json.dumps(
            {"input_size": -3, "hidden_size": 4, "num_layers": 2, "bias": True,
             "batch_first": False, "bidirectional": False, "reset_after": True,
             "dtype": "float32"}))}),
        "baddtype": dict(replace={"__config__": np.array(json.dumps(
            {"input_size": 3, "hidden_size": 4, "num_layers": 2, "bias": True,
             "batch_first": False, "bidirectional": False, "reset_after": True,
             "dtype": "float16"}))}),
        "strweights": dict(replace={"weight_hh_l0": np.full((12, 4), "x")}),
    }
    for name, kw in cases.items():
        bad = _rewrite(path, tmp_path / f"{name}.npz", **kw)
        with pytest.raises((ValueError, TypeError)) as e:
            cgru.load(bad)
        assert str(e.value), name


def test_load_is_a_zip_of_npy(tmp_path):
    """The format is readable by anything that reads .npz (no cgru needed)."""
    path = _saved(tmp_path)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist())[0] == "__config__.npy"
    with np.load(path, allow_pickle=False) as f:
        cfg = json.loads(str(f["__config__"]))
    assert cfg["num_layers"] == 2 and cfg["dtype"] == "float32"


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
