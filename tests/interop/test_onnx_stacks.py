"""ONNX models with several GRU nodes: the stacks torch.onnx.export writes (with
and without dynamo; num_layers > 1, bidirectional, batch_first) and cgru's own
to_onnx become one multi-layer cgru.GRU, checked against torch and onnxruntime;
GRU nodes that do not form a stack give an error naming each node and how to
take it, and GRU.from_onnx_all gives all of them by name."""

import warnings

import numpy as np
import pytest

import cgru
from conftest import need
from converters import check_not_a_stack


@pytest.fixture(scope="module")
def onnx():
    return need("onnx")


def run_ort(path_or_model, feeds):
    """onnxruntime's outputs for a model (a path or an onnx.ModelProto)."""
    ort = need("onnxruntime")
    src = path_or_model if isinstance(path_or_model, str) else path_or_model.SerializeToString()
    sess = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


CASES = [(2, False, False), (2, True, True), (3, False, True)]


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("layers,bidirectional,batch_first", CASES)
def test_torch_onnx_export_of_a_stack_is_one_model(torch, tmp_path, dynamo, layers,
                                                   bidirectional, batch_first):
    if dynamo:
        need("onnxscript")       # torch.onnx.export's dynamo exporter needs it
    torch.manual_seed(layers)
    m = torch.nn.GRU(3, 5, layers, bidirectional=bidirectional, batch_first=batch_first)
    x = torch.randn(4, 2, 3)
    path = str(tmp_path / "m.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (x,), path, dynamo=dynamo, input_names=["x"],
                          output_names=["y", "h_n"])
    g = cgru.GRU.from_onnx(path)
    assert (g.num_layers, g.bidirectional, g.batch_first) == (layers, bidirectional, batch_first)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(g.state_dict()[k], v.numpy())
    y_o, h_o = run_ort(path, {"x": x.numpy()})
    y, h = g(x.numpy())
    np.testing.assert_allclose(y, y_o, atol=1e-5)
    np.testing.assert_allclose(h, h_o, atol=1e-5)
    with torch.no_grad():
        y_t, h_t = m(x)
    np.testing.assert_allclose(y, y_t.numpy(), atol=1e-5)
    np.testing.assert_allclose(h, h_t.numpy(), atol=1e-5)


@pytest.mark.parametrize("bidirectional,batch_first,reset_after,dtype", [
    (False, False, True, np.float32), (True, True, True, np.float32),
    (True, False, False, np.float64), (False, True, False, np.float32)])
def test_to_onnx_of_a_multi_layer_model_converts_back(onnx, tmp_path, rng, bidirectional,
                                                      batch_first, reset_after, dtype):
    g = cgru.GRU(3, 4, 3, bidirectional=bidirectional, batch_first=batch_first,
                 reset_after=reset_after, dtype=dtype, seed=1)
    back = cgru.GRU.from_onnx(g.to_onnx(tmp_path / "g.onnx", h0=True, lengths=True))
    assert repr(back) == repr(g)
    for k, v in g.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v)
    x = rng.standard_normal((2, 6, 3) if batch_first else (6, 2, 3)).astype(dtype)
    h0 = rng.standard_normal((3 * g.num_directions, 2, 4)).astype(dtype)
    lengths = np.array([6, 3])
    for a, b in zip(back(x, h0, lengths), g(x, h0, lengths)):
        np.testing.assert_array_equal(a, b)
    if dtype == np.float32:      # onnxruntime's GRU runs float32
        y_o, h_o = run_ort(str(tmp_path / "g.onnx"),
                           {"x": x, "h0": h0, "lengths": lengths.astype(np.int32)})
        y, h = back(x, h0, lengths)
        np.testing.assert_allclose(y, y_o, atol=1e-5)
        np.testing.assert_allclose(h, h_o, atol=1e-5)


def not_a_stack(onnx):
    """A 2-layer to_onnx model with a Relu between the GRU nodes."""
    from onnx import helper
    g = cgru.GRU(3, 4, 2, seed=2)
    m = g.to_onnx()
    nodes = list(m.graph.node)
    i = next(k for k, n in enumerate(nodes) if "l0_out" in n.output)
    upper = next(n for n in nodes if n.name == "gru_l1")
    upper.input[0] = "l0_relu"
    nodes.insert(i + 1, helper.make_node("Relu", ["l0_out"], ["l0_relu"], name="act"))
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    onnx.checker.check_model(m)
    return g, m


def test_gru_nodes_that_are_not_a_stack(onnx, tmp_path, rng, capsys):
    g, m = not_a_stack(onnx)
    every = check_not_a_stack(cgru.GRU.from_onnx, cgru.GRU.from_onnx_all, m,
                              ("'gru_l0'", "'gru_l1'", "Relu 'act'", "node=", "from_onnx_all"))
    assert list(every) == ["gru_l0", "gru_l1"]
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    y0, h0 = every["gru_l0"](x)
    y1, h1 = every["gru_l1"](np.maximum(y0, 0))
    y_o, h_o = run_ort(m, {"x": x})
    np.testing.assert_allclose(y1, y_o, atol=1e-5)
    np.testing.assert_allclose(np.concatenate([h0, h1]), h_o, atol=1e-5)
    np.testing.assert_array_equal(every["gru_l1"].state_dict()["weight_hh_l0"],
                                  g.state_dict()["weight_hh_l1"])
    # one by name, and the CLI's message in its own terms
    assert cgru.GRU.from_onnx(m, node="gru_l1").input_size == 4
    onnx.save(m, str(tmp_path / "m.onnx"))
    from cgru.cli import main
    assert main(["convert", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "g.npz")]) == 1
    err = capsys.readouterr().err
    assert "--layer" in err and "node=" not in err, err
    assert main(["convert", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "g.npz"),
                 "--layer", "gru_l1"]) == 0


def test_unnamed_gru_nodes_are_listed_by_output(onnx):
    _, m = not_a_stack(onnx)
    for n in m.graph.node:
        n.name = ""
    with pytest.raises(ValueError, match="'l0_Y'.*'l1_Y'"):
        cgru.GRU.from_onnx(m)
    assert list(cgru.GRU.from_onnx_all(m)) == ["l0_Y", "l1_Y"]


def test_cli_converts_a_torch_export_stack(torch, tmp_path, capsys):
    m = torch.nn.GRU(3, 4, 2, batch_first=True)
    x = torch.randn(2, 5, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (x,), str(tmp_path / "m.onnx"), dynamo=False)
    from cgru.cli import main
    assert main(["convert", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "g.npz")]) == 0
    g = cgru.load(tmp_path / "g.npz")
    assert g.num_layers == 2 and g.batch_first
    with torch.no_grad():
        np.testing.assert_allclose(g(x.numpy())[0], m(x)[0].numpy(), atol=1e-5)


def test_a_reshape_that_regroups_time_and_batch_is_no_stack(onnx, rng):
    """Concrete Reshape sizes (as the dynamo exporter writes) must be the inferred
    (T, N): [T*N, 1, -1] feeds the upper GRU one long sequence, another model."""
    from onnx import numpy_helper
    g = cgru.GRU(3, 4, 2, seed=3)
    m = g.to_onnx()
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 5      # x (5, 2, 3)
    m.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 2
    for shape, stacked in (([5, 2, -1], True), ([10, 1, -1], False)):
        init = next(t for t in m.graph.initializer if t.name == "shape_t_n_dh")
        init.CopyFrom(numpy_helper.from_array(np.array(shape, np.int64), "shape_t_n_dh"))
        if stacked:
            assert cgru.GRU.from_onnx(m).num_layers == 2
        else:
            with pytest.raises(ValueError, match="do not form one stack"):
                cgru.GRU.from_onnx(m)


def test_an_intermediate_output_used_elsewhere_is_no_stack(onnx):
    from onnx import TensorProto, helper
    m = cgru.GRU(3, 4, 2, seed=4).to_onnx()
    m.graph.output.append(helper.make_tensor_value_info("l0_out", TensorProto.FLOAT, None))
    with pytest.raises(ValueError, match="'l0_out' of 'gru_l0' goes to GRU 'gru_l1', a graph output"):
        cgru.GRU.from_onnx(m)
    assert len(cgru.GRU.from_onnx_all(m)) == 2


def test_to_onnx_round_trip_property(onnx):
    """Any configuration: to_onnx then from_onnx gives the same model, bit for bit."""
    from hypothesis import given, settings, strategies as st

    @settings(max_examples=25, deadline=None, derandomize=True, database=None)
    @given(layers=st.integers(1, 3), bidirectional=st.booleans(), batch_first=st.booleans(),
           reset_after=st.booleans(), bias=st.booleans(),
           dtype=st.sampled_from([np.float32, np.float64]), I=st.integers(1, 5),
           H=st.integers(1, 5), T=st.integers(1, 4), N=st.integers(1, 3))
    def check(layers, bidirectional, batch_first, reset_after, bias, dtype, I, H, T, N):
        g = cgru.GRU(I, H, layers, bidirectional=bidirectional, batch_first=batch_first,
                     reset_after=reset_after, bias=bias, dtype=dtype, seed=layers * 10 + H)
        back = cgru.GRU.from_onnx(g.to_onnx())
        assert repr(back) == repr(g)
        x = np.random.default_rng(I).standard_normal((N, T, I) if batch_first else (T, N, I))
        for a, b in zip(back(x), g(x)):
            np.testing.assert_array_equal(a, b)

    check()
