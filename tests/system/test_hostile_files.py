"""cgru.load and the converters on corrupted and hostile files: truncated,
wrong shapes, pickled objects, enormous declared sizes, junk.  Each must end
in a clean ValueError / TypeError, execute nothing (a pickle payload that
would create a marker file) and allocate nothing near the declared sizes."""

import io
import json
import os
import struct
import zipfile

import numpy as np
import pytest

import cgru
from cgru import cli
from conftest import need
from converters import (Payload, keras, keras_gru_file, need_converter, onnx_gru_file,
                        torch_gru_file)

CLEAN = (ValueError, TypeError)


def rss_bytes():
    """Resident memory in bytes (Linux); 0 elsewhere, where growth is not checked."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def npy_bytes(shape, descr="<f4", data=b""):
    """An .npy file whose header declares ``shape`` (the data may be much shorter)."""
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %r, }" % (descr, tuple(shape))
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + data


def npz_with(path, members):
    """A zip of raw .npy members: {name: bytes}."""
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name + ".npy", data)
    return path


def config_npy(config):
    buf = io.BytesIO()
    np.save(buf, np.array(json.dumps(config)))
    return buf.getvalue()


def weights_npy(g):
    out = {}
    for k, v in g.state_dict().items():
        buf = io.BytesIO()
        np.save(buf, v)
        out[k] = buf.getvalue()
    return out


@pytest.fixture
def saved(tmp_path):
    g = cgru.GRU(2, 3, 2, bidirectional=True)
    path = tmp_path / "good.npz"
    g.save(path)
    return g, path


def expect_clean(fn):
    with pytest.raises(CLEAN) as e:
        fn()
    assert str(e.value)
    return e.value


# -------------------------------------------------------------- cgru.load
def test_truncated_files(saved, tmp_path):
    g, path = saved
    data = path.read_bytes()
    for cut in sorted({0, 1, 4, 30, 100, len(data) // 3, len(data) // 2, len(data) - 22,
                       len(data) - 1}):
        p = tmp_path / f"cut{cut}.npz"
        p.write_bytes(data[:cut])
        e = expect_clean(lambda: cgru.load(p))
        assert isinstance(e, ValueError) and "load:" in str(e)


def test_junk_and_not_files(tmp_path):
    cases = {"empty": b"", "text": b"hello, I am not a model\n" * 10,
             "gzip": b"\x1f\x8b\x08\x00" + os.urandom(100), "zipmagic": b"PK\x03\x04" + b"\0" * 50,
             "random": np.random.default_rng(0).bytes(4096),
             "npy": npy_bytes((2, 2), data=b"\0" * 16)}
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        expect_clean(lambda: cgru.load(p))
    with pytest.raises(FileNotFoundError):          # issue 13: as open() does
        cgru.load(tmp_path / "does-not-exist.npz")
    expect_clean(lambda: cgru.load(tmp_path))                       # a directory


def test_wrong_shapes_and_names(saved, tmp_path):
    g, _ = saved
    config = dict(g._config(), format_version=1)
    w = weights_npy(g)
    bad = dict(w, weight_hh_l0=weights_npy(cgru.GRU(2, 4))["weight_hh_l0"])
    expect_clean(lambda: cgru.load(npz_with(tmp_path / "a.npz", {"__config__": config_npy(config),
                                                                 **bad})))
    missing = {k: v for k, v in w.items() if k != "bias_ih_l1"}
    e = expect_clean(lambda: cgru.load(npz_with(tmp_path / "b.npz",
                                                {"__config__": config_npy(config), **missing})))
    assert "bias_ih_l1" in str(e)
    wrong_cfg = dict(config, hidden_size=4)
    expect_clean(lambda: cgru.load(npz_with(tmp_path / "c.npz",
                                            {"__config__": config_npy(wrong_cfg), **w})))
    for cfg in (dict(config, dtype="complex128"), dict(config, kind="LSTM"),
                dict(config, bias="yes"), dict(config, extra=1), [1, 2], "[" * 100000):
        body = config_npy(cfg) if not isinstance(cfg, str) else \
            (lambda b: (np.save(b, np.array(cfg)), b.getvalue())[1])(io.BytesIO())
        expect_clean(lambda: cgru.load(npz_with(tmp_path / "d.npz", {"__config__": body, **w})))


def test_enormous_declared_sizes_allocate_nothing(saved, tmp_path):
    g, _ = saved
    config = dict(g._config(), format_version=1)
    w = weights_npy(g)
    before = rss_bytes()
    # .npy headers declaring absurd shapes for a weight
    for shape in [(2**62,), (10**9, 10**9), (3 * 10**8,), (2**31, 2**31, 2**31)]:
        members = dict(w, weight_ih_l0=npy_bytes(shape, data=b"\0" * 64))
        expect_clean(lambda: cgru.load(npz_with(tmp_path / "huge.npz",
                                                {"__config__": config_npy(config), **members})))
    # a configuration declaring sizes far beyond the weights in the file
    for big in (dict(num_layers=10**7), dict(hidden_size=30000, input_size=30000),
                dict(hidden_size=2**40), dict(input_size=10**9)):
        cfg = dict(config, **big)
        e = expect_clean(lambda: cgru.load(npz_with(tmp_path / "cfg.npz",
                                                    {"__config__": config_npy(cfg), **w})))
        assert "hostile" in str(e) or "too large" in str(e) or "must" in str(e)
    assert rss_bytes() - before < 200 * 2**20, "load allocated memory for declared sizes"


def test_pickled_objects_are_never_unpickled(saved, tmp_path):
    g, _ = saved
    marker = tmp_path / "marker"
    evil = np.empty(1, dtype=object)
    evil[0] = Payload(marker)
    config = dict(g._config(), format_version=1)
    w = weights_npy(g)
    for target in ("weight_ih_l0", "__config__"):
        buf = io.BytesIO()
        np.save(buf, evil, allow_pickle=True)
        members = dict(w, __config__=config_npy(config))
        members[target] = buf.getvalue()
        p = npz_with(tmp_path / f"evil_{target}.npz", members)
        expect_clean(lambda: cgru.load(p))
        assert not marker.exists(), "cgru.load executed a pickle payload"
    # the payload really works when unpickled (so the test above can fail)
    np.load(p, allow_pickle=True)["__config__"]
    assert marker.exists()


def test_good_file_still_loads(saved, rng):
    g, path = saved
    h = cgru.load(path)
    x = rng.standard_normal((4, 2, 2)).astype(np.float32)
    np.testing.assert_array_equal(h(x)[0], g(x)[0])


# ------------------------------------------------------------ converters
def _junk_variants(good, tmp_path, ext):
    data = good.read_bytes()
    out = {"empty": b"", "junk": np.random.default_rng(1).bytes(2000),
           "truncated": data[: len(data) // 2], "tail": data[len(data) // 2:]}
    paths = []
    for name, blob in out.items():
        p = tmp_path / f"{name}{ext}"
        p.write_bytes(blob)
        paths.append(p)
    return paths


def test_from_torch_hostile_files(tmp_path, torch):
    good = tmp_path / "good.pt"
    torch_gru_file(good)
    for p in _junk_variants(good, tmp_path, ".pt"):
        expect_clean(lambda: cgru.GRU.from_torch(str(p)))
    marker = tmp_path / "marker"
    torch.save({"weight_ih_l0": Payload(marker)}, tmp_path / "evil.pt")
    expect_clean(lambda: cgru.GRU.from_torch(str(tmp_path / "evil.pt")))
    expect_clean(lambda: cgru.GRUCell.from_torch(str(tmp_path / "evil.pt")))
    assert not marker.exists(), "from_torch executed a pickle payload"
    torch.save({"weight_ih_l0": torch.zeros(12, 3), "weight_hh_l0": torch.zeros(12, 5)},
               tmp_path / "shapes.pt")
    expect_clean(lambda: cgru.GRU.from_torch(str(tmp_path / "shapes.pt")))
    torch.save([1, 2, 3], tmp_path / "list.pt")
    expect_clean(lambda: cgru.GRU.from_torch(str(tmp_path / "list.pt")))


def test_from_onnx_hostile_files(tmp_path):
    from_onnx = need_converter("from_onnx")
    onnx = need("onnx")
    from onnx import numpy_helper
    good = onnx_gru_file(tmp_path / "good.onnx")
    for p in _junk_variants(tmp_path / "good.onnx", tmp_path, ".onnx"):
        expect_clean(lambda: from_onnx(str(p)))
    model = onnx.load(good)

    def variant(name, edit):
        m = onnx.ModelProto()
        m.CopyFrom(model)
        edit(m)
        p = tmp_path / f"{name}.onnx"
        onnx.save(m, str(p))
        return str(p)

    def no_gru(m):
        m.graph.node[0].op_type = "Relu"

    def huge_hidden(m):
        for a in m.graph.node[0].attribute:
            if a.name == "hidden_size":
                a.i = 2**40

    def wrong_w(m):
        m.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.zeros((1, 5, 3), np.float32),
                                                                "W"))

    def outside_data(m):   # external data pointing outside the model's directory
        t = m.graph.initializer[0]
        t.ClearField("raw_data")
        t.data_location = onnx.TensorProto.EXTERNAL
        t.external_data.append(onnx.StringStringEntryProto(key="location",
                                                           value="../../../../etc/passwd"))

    before = rss_bytes()
    for edit in (no_gru, huge_hidden, wrong_w, outside_data):
        p = variant(edit.__name__, edit)
        expect_clean(lambda: from_onnx(p))
    assert rss_bytes() - before < 200 * 2**20


def test_keras_files_via_cli(tmp_path, capsys):
    need_converter("from_keras")
    k = keras()
    good = tmp_path / "good.keras"
    keras_gru_file(good)
    for p in _junk_variants(good, tmp_path, ".keras"):
        rc = cli.main(["convert", str(p), "-o", str(tmp_path / "o.npz")])
        err = capsys.readouterr().err
        assert rc == 1 and err.startswith("cgru: error:"), err
    # a Lambda layer's code must not run on load (Keras safe mode)
    marker = tmp_path / "marker"
    inp = k.Input((5, 3))
    x = k.layers.Lambda(lambda t, p=str(marker): (open(p, "w").close(), t)[1])(inp)
    k.Model(inp, k.layers.GRU(4, name="gru")(x)).save(str(tmp_path / "lambda.keras"))
    os.remove(marker)                     # building the model ran it once; loading must not
    rc = cli.main(["convert", str(tmp_path / "lambda.keras"), "-o", str(tmp_path / "o.npz")])
    err = capsys.readouterr().err
    assert rc == 1 and "cgru: error:" in err
    assert not marker.exists(), "loading the .keras file executed its Lambda"


def test_cli_never_unpickles_inputs(tmp_path, capsys):
    g = cgru.GRU(2, 3)
    g.save(tmp_path / "m.npz")
    marker = tmp_path / "marker"
    evil = np.empty(1, dtype=object)
    evil[0] = Payload(marker)
    np.save(tmp_path / "x.npy", evil, allow_pickle=True)
    rc = cli.main(["run", str(tmp_path / "m.npz"), str(tmp_path / "x.npy"), "-o",
                   str(tmp_path / "y.npy")])
    assert rc == 1 and not marker.exists()
    (tmp_path / "h.npy").write_bytes(npy_bytes((2**62,)))
    rc = cli.main(["run", str(tmp_path / "m.npz"), str(tmp_path / "h.npy"), "-o",
                   str(tmp_path / "y.npy")])
    assert rc == 1 and "cgru: error:" in capsys.readouterr().err
