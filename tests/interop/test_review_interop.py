"""Defects found by the interop review (converters and the command line), each
pinned by a test that failed before its fix."""

import os
import re

import numpy as np
import pytest

import cgru
from cgru import cli
from converters import keras

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_cli(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(err):
    """stderr holds exactly one line, ``cgru: error: ...``, with no terminal escapes."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("cgru: error: "), err
    assert not ANSI.search(err), repr(err)


def test_convert_keras_file_whose_only_gru_is_bidirectional(capsys, tmp_path, rng):
    """The inner forward/backward layers of a Bidirectional are not extra GRU
    layers: a model with one Bidirectional(GRU) converts without --layer."""
    k = keras()
    inp = k.Input((5, 3))
    out = k.layers.Dense(2)(k.layers.Bidirectional(k.layers.GRU(4, return_sequences=True),
                                                   name="bi")(inp))
    m = k.Model(inp, out)
    m.save(str(tmp_path / "bi.keras"))
    rc, _, err = run_cli(capsys, "convert", tmp_path / "bi.keras", "-o", tmp_path / "g.npz")
    assert rc == 0, err
    g = cgru.load(tmp_path / "g.npz")
    assert g.bidirectional and g.batch_first
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    y_k = k.ops.convert_to_numpy(m.get_layer("bi")(x))
    np.testing.assert_allclose(g(x)[0], y_k, atol=1e-5)
    # an inner layer can still be chosen by name
    rc, _, err = run_cli(capsys, "convert", tmp_path / "bi.keras", "-o", tmp_path / "f.npz",
                         "--layer", m.get_layer("bi").forward_layer.name)
    assert rc == 0, err
    assert not cgru.load(tmp_path / "f.npz").bidirectional


def test_convert_torch_errors_are_one_line(capsys, tmp_path, torch):
    """torch.load's weights-only refusal is a multi-line message with terminal
    escapes; the command prints one line."""
    (tmp_path / "junk.pt").write_bytes(bytes(range(256)) * 2)
    torch.save(torch.nn.GRU(3, 4), str(tmp_path / "module.pt"))      # a pickled module
    for name in ("junk.pt", "module.pt"):
        rc, _, err = run_cli(capsys, "convert", tmp_path / name, "-o", tmp_path / "g.npz")
        assert rc == 1
        one_line_error(err)
        assert "weights_only=True" in err
    assert not (tmp_path / "g.npz").exists()


def test_convert_corrupt_keras_file_is_not_called_missing(capsys, tmp_path):
    keras()
    (tmp_path / "junk.keras").write_bytes(os.urandom(300))
    rc, _, err = run_cli(capsys, "convert", tmp_path / "junk.keras", "-o", tmp_path / "g.npz")
    assert rc == 1
    one_line_error(err)
    assert "not found" not in err.lower() and "zip" in err


def test_convert_keras_file_with_rnn_of_grucell(capsys, tmp_path, rng):
    """GRU.from_keras takes keras.layers.RNN(GRUCell) (plain and in a
    Bidirectional); so does cgru convert."""
    k = keras()
    inp = k.Input((5, 3))
    out = k.layers.Bidirectional(k.layers.RNN(k.layers.GRUCell(4), return_sequences=True),
                                 name="bi")(inp)
    m = k.Model(inp, k.layers.RNN(k.layers.GRUCell(2), name="top")(out))
    m.save(str(tmp_path / "rnn.keras"))
    rc, _, err = run_cli(capsys, "convert", tmp_path / "rnn.keras", "-o", tmp_path / "g.npz")
    assert rc == 1 and "'bi'" in err and "'top'" in err, err
    for name, bidirectional in (("bi", True), ("top", False)):
        rc, _, err = run_cli(capsys, "convert", tmp_path / "rnn.keras", "-o", tmp_path / "g.npz",
                             "--layer", name)
        assert rc == 0, err
        assert cgru.load(tmp_path / "g.npz").bidirectional == bidirectional
    g = cgru.load(tmp_path / "g.npz")
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    np.testing.assert_allclose(g(x)[1][0], k.ops.convert_to_numpy(m.get_layer("top")(x)),
                               atol=1e-5)


# ------------------------------------------------------------- ONNX constants
def _gru_with_constant_nodes(onnx, W, R, h0=None, lens=None):
    """An ONNX GRU whose W comes from a Constant node, R from Identity(initializer),
    and initial_h / sequence_lens (when given) from Constant nodes."""
    from onnx import TensorProto, helper, numpy_helper
    nodes = [helper.make_node("Constant", [], ["W"], value=numpy_helper.from_array(W, "w")),
             helper.make_node("Identity", ["R0"], ["R"])]
    ins = ["X", "W", "R", "", "", ""]
    if lens is not None:
        nodes.append(helper.make_node("Constant", [], ["L"], value=numpy_helper.from_array(lens)))
        ins[4] = "L"
    if h0 is not None:
        nodes.append(helper.make_node("Constant", [], ["H0"], value=numpy_helper.from_array(h0)))
        ins[5] = "H0"
    while ins[-1] == "":
        ins.pop()
    H = R.shape[2]
    nodes.append(helper.make_node("GRU", ins, ["Y", "Y_h"], hidden_size=H))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "N", W.shape[2]])],
        [helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(R, "R0")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    return model


def _ort_run(model, x):
    from conftest import need
    ort = need("onnxruntime")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"X": x})[0]


def test_from_onnx_weights_from_constant_nodes(rng):
    """Weights computed from constants only (Constant nodes, Identity of an
    initializer: what torch.onnx.export writes with do_constant_folding=False)
    are constants, like initializers."""
    from conftest import need
    onnx = need("onnx")
    W = rng.standard_normal((1, 12, 3)).astype(np.float32)
    R = rng.standard_normal((1, 12, 4)).astype(np.float32)
    m = _gru_with_constant_nodes(onnx, W, R)
    g = cgru.GRU.from_onnx(m)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(g(x)[1], _ort_run(m, x), atol=1e-5)


def test_from_onnx_torch_export_without_constant_folding(rng, torch):
    from conftest import need
    need("onnx")
    torch.manual_seed(0)
    tg = torch.nn.GRU(3, 4, bidirectional=True)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    import io
    import warnings
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(tg, (torch.from_numpy(x),), f, dynamo=False,
                          do_constant_folding=False, input_names=["x"])
    import onnx
    g = cgru.GRU.from_onnx(onnx.load_from_string(f.getvalue()))
    with torch.no_grad():
        y_t, h_t = tg(torch.from_numpy(x))
    y, h = g(x)
    np.testing.assert_allclose(y, y_t.numpy(), atol=1e-5)
    np.testing.assert_allclose(h, h_t.numpy(), atol=1e-5)


def test_from_onnx_constant_node_initial_h_and_lengths_are_not_dropped(rng):
    """A non-zero initial_h or a sequence_lens held by a Constant node is as
    constant as an initializer: refused, not silently replaced by zeros / T."""
    from conftest import need
    onnx = need("onnx")
    W = rng.standard_normal((1, 12, 3)).astype(np.float32)
    R = rng.standard_normal((1, 12, 4)).astype(np.float32)
    h0 = rng.standard_normal((1, 2, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="non-zero initial_h"):
        cgru.GRU.from_onnx(_gru_with_constant_nodes(onnx, W, R, h0=h0))
    with pytest.raises(ValueError, match="constant sequence_lens"):
        cgru.GRU.from_onnx(_gru_with_constant_nodes(onnx, W, R, lens=np.array([5, 2], np.int32)))
    m = _gru_with_constant_nodes(onnx, W, R, h0=np.zeros_like(h0))      # zeros: the default
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(cgru.GRU.from_onnx(m)(x)[1], _ort_run(m, x), atol=1e-5)


def test_from_onnx_constant_subgraph_cannot_blow_up(rng):
    """Constant weights computed by a hostile graph: a chain of self-Concats that
    would reach 2**40 elements is refused before anything is computed, and
    operators that make data from a shape are not evaluated at all."""
    from conftest import need
    onnx = need("onnx")
    from onnx import TensorProto, helper, numpy_helper
    W = rng.standard_normal((1, 12, 3)).astype(np.float32)
    R = rng.standard_normal((1, 12, 4)).astype(np.float32)

    def model(nodes, w_name):
        nodes = nodes + [helper.make_node("GRU", ["X", w_name, "R"], ["Y"], hidden_size=4)]
        graph = helper.make_graph(
            nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 2, 3])],
            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
            [numpy_helper.from_array(W, "W0"), numpy_helper.from_array(R, "R"),
             numpy_helper.from_array(np.array([1, 12, -1], np.int64), "shape")])
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
        m.ir_version = 8
        return m

    nodes, cur = [], "W0"
    for i in range(40):
        nodes.append(helper.make_node("Concat", [cur, cur], [f"c{i}"], axis=2))
        cur = f"c{i}"
    nodes.append(helper.make_node("Reshape", [cur, "shape"], ["Wbig"]))
    with pytest.raises(ValueError, match="far more than the constants"):
        cgru.GRU.from_onnx(model(nodes, "Wbig"))
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["Wz"])]
    with pytest.raises(ValueError, match="not an initializer"):
        cgru.GRU.from_onnx(model(nodes, "Wz"))
    # the same graph machinery on honest data works: W = Reshape(Concat(W0 halves))
    nodes = [helper.make_node("Slice", ["W0", "s0", "s6", "ax"], ["a"]),
             helper.make_node("Slice", ["W0", "s6", "s12", "ax"], ["b"]),
             helper.make_node("Concat", ["a", "b"], ["Wc"], axis=1)]
    m = model(nodes, "Wc")
    for nm, v in (("s0", 0), ("s6", 6), ("s12", 12), ("ax", 1)):
        m.graph.initializer.append(numpy_helper.from_array(np.array([v], np.int64), nm))
    g = cgru.GRU.from_onnx(m)
    ref = cgru.GRU.from_onnx(model([], "W0"))
    for k, v in ref.state_dict().items():
        np.testing.assert_array_equal(g.state_dict()[k], v)


def test_from_onnx_picks_unnamed_gru_nodes_by_output_name(rng):
    """ONNX node names are optional: with several unnamed GRU nodes, node= may
    name one of the node's outputs instead."""
    from conftest import need
    onnx = need("onnx")
    g = cgru.GRU(3, 4, 2)
    m = g.to_onnx()
    for n in m.graph.node:
        n.name = ""
    with pytest.raises(ValueError, match="l1_Y"):
        cgru.GRU.from_onnx(m)             # the message shows how to choose
    top = cgru.GRU.from_onnx(m, node="l1_Y_h")
    np.testing.assert_array_equal(top.state_dict()["weight_hh_l0"],
                                  g.state_dict()["weight_hh_l1"])
    with pytest.raises(ValueError, match="no GRU node named"):
        cgru.GRU.from_onnx(m, node="nope")
