"""Helpers shared by the CLI, hostile-file and stack tests: small real model files in
each framework's format, ``need_converter`` for the interop converters, and
``check_not_a_stack`` for the stack tests."""

import os

import numpy as np
import pytest

import cgru
from conftest import need


def need_converter(name, cls=None):
    """``cls.<name>`` (default cgru.GRU), e.g. from_onnx.  Missing: skip locally
    (another branch adds it), fail in CI where every converter must exist."""
    fn = getattr(cls or cgru.GRU, name, None)
    if fn is None:
        if os.environ.get("CI"):
            pytest.fail(f"cgru.GRU.{name} is required in CI")
        pytest.skip(f"cgru.GRU.{name} not in this build yet")
    return fn


def onnx_gru_file(path, input_size=3, hidden_size=4, linear_before_reset=1, seed=0):
    """A one-node ONNX GRU (opset 14) with random weights; returns the path."""
    onnx = need("onnx")
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    I, H = input_size, hidden_size
    W = rng.uniform(-0.5, 0.5, (1, 3 * H, I)).astype(np.float32)
    R = rng.uniform(-0.5, 0.5, (1, 3 * H, H)).astype(np.float32)
    B = rng.uniform(-0.5, 0.5, (1, 6 * H)).astype(np.float32)
    node = helper.make_node("GRU", ["X", "W", "R", "B"], ["Y", "Y_h"], name="gru",
                            hidden_size=H, linear_before_reset=linear_before_reset)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "N", I])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["T", 1, "N", H]),
         helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [1, "N", H])],
        initializer=[numpy_helper.from_array(W, "W"), numpy_helper.from_array(R, "R"),
                     numpy_helper.from_array(B, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def onnx_run(path, x):
    """onnxruntime's Y for x (T, N, I), as (T, N, H)."""
    ort = need("onnxruntime")
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {"X": x})[0][:, 0]


def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return need("keras")


def keras_gru_file(path, steps=5, input_size=3, hidden_size=4, names=("gru_a",)):
    """A Keras model (N, T, I) -> GRU layer(s) named ``names``, saved to path."""
    k = keras()
    inp = k.Input((steps, input_size))
    x = inp
    for name in names:
        x = k.layers.GRU(hidden_size, return_sequences=True, name=name)(x)
    m = k.Model(inp, x)
    m.save(str(path))
    return m


def torch_gru_file(path, input_size=3, hidden_size=4, num_layers=1, prefix="", cell=False):
    """torch.save of an nn.GRU's (or nn.GRUCell's) state_dict, keys under prefix."""
    torch = need("torch")
    torch.manual_seed(0)
    m = (torch.nn.GRUCell(input_size, hidden_size) if cell
         else torch.nn.GRU(input_size, hidden_size, num_layers))
    torch.save({prefix + k: v for k, v in m.state_dict().items()}, str(path))
    return m


class Payload:
    """Unpickling this creates ``path`` (builtins.open(path, "w")): the marker
    that proves a loader executed code from a file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def check_not_a_stack(convert, convert_all, model, parts):
    """``convert(model)`` refuses a model whose GRUs form no stack with a message
    naming each of ``parts``; returns ``convert_all(model)`` (every GRU by name)."""
    with pytest.raises(ValueError) as e:
        convert(model)
    for part in parts:
        assert part in str(e.value), str(e.value)
    return convert_all(model)
