"""Every setter and every unpickled field is checked as strictly as the
constructor checks its argument; unknown future formats and ONNX opsets are
refused with a message naming what was found and what is supported."""

import io
import json
import pickle
import zipfile

import numpy as np
import pytest

import cgru
from conftest import need
from converters import need_converter, onnx_gru_file


# ------------------------------------------------------------------- setters
@pytest.mark.parametrize("value", ["yes", 1, 0, None, 1.0, [True]])
def test_batch_first_setter_refuses_what_the_constructor_refuses(value, tmp_path):
    g = cgru.GRU(3, 4)
    with pytest.raises(TypeError, match="batch_first"):
        cgru.GRU(3, 4, batch_first=value)
    with pytest.raises(TypeError, match="batch_first"):
        g.batch_first = value
    assert g.batch_first is False
    g.save(tmp_path / "m.npz")                  # what save writes, load reads
    assert cgru.load(tmp_path / "m.npz").batch_first is False


def test_batch_first_setter_takes_bools(rng, tmp_path):
    g = cgru.GRU(3, 4)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    y, _ = g(x)
    g.batch_first = np.True_
    assert g.batch_first is True
    np.testing.assert_array_equal(g(x.transpose(1, 0, 2))[0], y.transpose(1, 0, 2))
    g.save(tmp_path / "m.npz")
    assert cgru.load(tmp_path / "m.npz").batch_first is True
    assert pickle.loads(pickle.dumps(g)).batch_first is True


@pytest.mark.parametrize("make", [lambda: cgru.GRU(3, 4, dtype=None),
                                  lambda: cgru.GRUCell(3, 4, dtype=None)])
def test_dtype_none_is_refused(make):
    """np.dtype(None) is float64: a missing dtype must not silently mean float64."""
    with pytest.raises(TypeError, match="dtype"):
        make()


def test_converters_still_infer_the_dtype(torch):
    m = torch.nn.GRU(3, 4, dtype=torch.float64)
    assert cgru.GRU.from_torch(m).dtype == np.float64
    assert cgru.GRU.from_torch(m, dtype=np.float32).dtype == np.float32


# ----------------------------------------------------------- unpickled fields
def _state(**kw):
    state = cgru.GRU(3, 4, 2).__getstate__()
    for k, v in kw.items():
        if v is KeyError:
            del state[k]
        else:
            state[k] = v
    return state


P = _state()["_param_data"].size      # 228 values

BAD_STATES = {
    "layers str": _state(_num_layers="2"),
    "layers float": _state(_num_layers=2.0),
    "layers 0": _state(_num_layers=0),
    "layers bool": _state(_num_layers=True),
    "hidden negative": _state(_hidden_size=-4),
    "input None": _state(_input_size=None),
    "dtype float16": _state(_dtype=np.dtype(np.float16)),
    "dtype None": _state(_dtype=None),
    "dtype junk": _state(_dtype="junk"),
    "bias str": _state(_bias="yes"),
    "bidirectional 1": _state(_bidirectional=1),
    "reset_after None": _state(_reset_after=None),
    "batch_first str": _state(_batch_first="no"),
    "reverse_only int": _state(_reverse_only=0),
    "activations int": _state(_activations=5),
    "activations kind": _state(_activations=[(99, 0.0, 0.0, 1, 0.0, 0.0)]),
    "activations NaN": _state(_activations=[(0, float("nan"), 0.0, 1, 0.0, 0.0)]),
    "activations two for one direction": _state(_activations=[(0, 0.0, 0.0, 1, 0.0, 0.0)] * 2),
    "clip negative": _state(_clip=-1.0),
    "clip str": _state(_clip="1"),
    "names None": _state(_param_names=None),
    "names ints": _state(_param_names=list(range(8))),
    "names duplicate": _state(_param_names=["weight_ih_l0"] * 8),
    "data None": _state(_param_data=None),
    "data str": _state(_param_data="abc"),
    "data list": _state(_param_data=[0.0] * 10),
    "data 2-D": _state(_param_data=np.zeros((2, 2), np.float32)),
    "data object": _state(_param_data=np.zeros(P, object)),
    "data float64 for float32": _state(_param_data=np.zeros(P)),
    "data short": _state(_param_data=np.zeros(P - 1, np.float32)),
    "missing key": _state(_clip=KeyError),
    "extra key": _state(_net=None),
    "not a dict": [("_num_layers", 2)],
}


@pytest.mark.parametrize("case", list(BAD_STATES))
def test_crafted_state_is_refused_cleanly(case):
    """Today a wrong-typed field failed with IndexError, AttributeError,
    KeyError or TypeError deep inside (or was accepted)."""
    g = cgru.GRU.__new__(cgru.GRU)
    with pytest.raises((ValueError, TypeError)) as e:
        g.__setstate__(BAD_STATES[case])
    assert "unpickling cgru.GRU" in str(e.value), f"{case}: {type(e.value).__name__}: {e.value}"


def test_old_pickles_with_a_plain_batch_first_still_load(rng):
    g = cgru.GRU(3, 4, 2, batch_first=True)
    state = g.__getstate__()
    state["batch_first"] = state.pop("_batch_first")
    h = cgru.GRU.__new__(cgru.GRU)
    h.__setstate__(state)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    assert h.batch_first is True
    np.testing.assert_array_equal(h(x)[0], g(x)[0])


@pytest.mark.parametrize("inner", [lambda: cgru.GRU(3, 4, 2), lambda: cgru.GRU(3, 4, bidirectional=True),
                                   lambda: "not a GRU", lambda: cgru.GRU(3, 4, batch_first=True)])
def test_crafted_cell_state_is_refused(inner):
    c = cgru.GRUCell.__new__(cgru.GRUCell)
    with pytest.raises(ValueError, match="unpickling cgru.GRUCell"):
        c.__setstate__({"_gru": inner()})


def test_good_pickles_still_roundtrip(rng):
    for m in (cgru.GRU(3, 4, 2, bidirectional=True, dtype=np.float64), cgru.GRUCell(3, 4)):
        m2 = pickle.loads(pickle.dumps(m))
        for k, v in m.state_dict().items():
            np.testing.assert_array_equal(m2.state_dict()[k], v)


# ----------------------------------------------------------- load_state_dict
@pytest.mark.parametrize("ragged", [[[1.0, 2.0], [3.0]], [[1.0] * 3, [1.0] * 4] * 6])
def test_ragged_list_names_the_key(ragged):
    g = cgru.GRU(3, 4)
    sd = dict(g.state_dict(), weight_hh_l0=ragged)
    with pytest.raises(TypeError, match="weight_hh_l0"):
        g.load_state_dict(sd)


# ------------------------------------------------------------ format_version
def _with_config(g, tmp_path, **changes):
    buf = io.BytesIO()
    g.save(buf)
    buf.seek(0)
    with zipfile.ZipFile(buf) as z:
        members = {n: z.read(n) for n in z.namelist()}
    config = json.loads(str(np.load(io.BytesIO(members["__config__.npy"]))))
    config.update(changes)
    out = io.BytesIO()
    np.save(out, np.array(json.dumps(config)))
    members["__config__.npy"] = out.getvalue()
    path = tmp_path / "m.npz"
    with zipfile.ZipFile(path, "w") as z:
        for n, d in members.items():
            z.writestr(n, d)
    return path


@pytest.mark.parametrize("make", [lambda: cgru.GRU(3, 4), lambda: cgru.GRUCell(3, 4)])
def test_future_format_version_is_refused(make, tmp_path):
    """Today a format_version 2 file was read as if it were version 1."""
    path = _with_config(make(), tmp_path, format_version=2)
    with pytest.raises(ValueError) as e:
        cgru.load(path)
    msg = str(e.value)
    assert "format_version 2" in msg and "1 to 1" in msg and "upgrade" in msg, msg


@pytest.mark.parametrize("version", ["1", 1.0, 0, -1, None, True, [1]])
def test_malformed_format_version_is_refused(version, tmp_path):
    path = _with_config(cgru.GRU(3, 4), tmp_path, format_version=version)
    with pytest.raises(ValueError, match="format_version"):
        cgru.load(path)


def test_current_and_unversioned_files_load(tmp_path):
    g = cgru.GRU(3, 4)
    assert cgru.load(_with_config(g, tmp_path, format_version=1)).hidden_size == 4
    path = _with_config(g, tmp_path)
    assert cgru.load(path).hidden_size == 4


# ------------------------------------------------------------------- opsets
def test_onnx_export_opsets_up_to_the_newest_onnx_knows(rng):
    """GRU is GRU-22 in every opset from 22 to the newest one: accept them all
    (today: refused above 22), refuse what the installed onnx does not know."""
    onnx = need("onnx")
    newest = onnx.defs.onnx_opset_version()
    g = cgru.GRU(3, 4)
    for opset in sorted({7, 14, 22, newest}):
        m = g.to_onnx(opset=opset)
        assert [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")] == [opset]
    for bad in (6, newest + 1, 100, 10**6):
        with pytest.raises(ValueError) as e:
            g.to_onnx(opset=bad)
        assert str(bad) in str(e.value) and f"7, {newest}" in str(e.value), str(e.value)


@pytest.mark.parametrize("opset", [6, "newest+1", 100, 10**6])
def test_onnx_import_refuses_unknown_opsets(tmp_path, opset):
    """Today opsets 100 and 10**6 were accepted silently."""
    from_onnx = need_converter("from_onnx")
    onnx = need("onnx")
    newest = onnx.defs.onnx_opset_version()
    if opset == "newest+1":
        opset = newest + 1
    model = onnx.load(onnx_gru_file(tmp_path / "m.onnx"))
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = opset
    with pytest.raises(ValueError) as e:
        from_onnx(model)
    assert str(opset) in str(e.value) and str(newest) in str(e.value), str(e.value)


def _newest_opset_onnxruntime_runs(onnx, ort):
    """The newest default-domain opset that both this onnx and this onnxruntime
    know: onnx's own newest, unless onnxruntime is older (pip gives CPython 3.10
    onnxruntime 1.23, which stops at IR version 11, next to onnx 1.23's opset 28):
    then the newest one whose one-node model onnxruntime loads."""
    from onnx import TensorProto, helper
    newest = onnx.defs.onnx_opset_version()
    for opset in range(newest, 13, -1):
        ops = [helper.make_opsetid("", opset)]
        graph = helper.make_graph(
            [helper.make_node("Identity", ["x"], ["y"])], "probe",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
        probe = helper.make_model(graph, opset_imports=ops,
                                  ir_version=helper.find_min_ir_version_for(ops))
        try:
            ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
        except Exception:
            continue
        return opset
    pytest.fail(f"onnxruntime {ort.__version__} loads no opset from 14 to {newest}")


def test_onnx_export_at_the_newest_opset_runs_in_onnxruntime(rng):
    onnx, ort = need("onnx"), need("onnxruntime")
    g = cgru.GRU(3, 4, 2)
    m = g.to_onnx(opset=_newest_opset_onnxruntime_runs(onnx, ort))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    y, h = sess.run(None, {"x": x})
    np.testing.assert_allclose(y, g(x)[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h, g(x)[1], rtol=1e-5, atol=1e-5)


def test_onnx_import_takes_the_newest_opset(tmp_path, rng):
    from_onnx = need_converter("from_onnx")
    onnx = need("onnx")
    model = onnx.load(onnx_gru_file(tmp_path / "m.onnx"))
    for o in model.opset_import:
        o.version = onnx.defs.onnx_opset_version()
    g = from_onnx(model)
    assert g.hidden_size == 4
