"""ONNX interop: cgru.GRU.from_onnx / to_onnx against onnxruntime (float32,
layout 0) and onnx.reference.ReferenceEvaluator (layout 1, float64), every GRU
attribute and input, and hostile models."""

import numpy as np
import pytest

import cgru
import reference
from conftest import need
from cgru.kernels import cgru_activation as K

NAMES = ["Sigmoid", "Tanh", "Relu", "Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh",
         "HardSigmoid", "Elu", "Softsign", "Softplus"]

# numpy transcriptions of ONNX's activation functions (alpha, beta as given)
NP_ACT = reference.ACTIVATIONS
DEFAULTS = {"affine": (1.0, 0.0), "leakyrelu": (0.01, 0.0), "thresholdedrelu": (1.0, 0.0),
            "scaledtanh": (1.0, 1.0), "hardsigmoid": (0.2, 0.5), "elu": (1.0, 0.0)}
TAKES = {"affine": "ab", "leakyrelu": "a", "thresholdedrelu": "a", "scaledtanh": "ab",
         "hardsigmoid": "ab", "elu": "a"}


@pytest.fixture(scope="module")
def onnx():
    return need("onnx")


@pytest.fixture(scope="module")
def ort():
    return need("onnxruntime")


def run_ort(ort, model, feeds):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def gru_model(onnx, W, R, B=None, *, direction="forward", opset=14, lengths=False, h0=False,
              **attrs):
    """A model with one GRU node; W, R, B initializers; inputs X (and sequence_lens,
    initial_h); outputs Y, Y_h."""
    from onnx import TensorProto, helper, numpy_helper
    elem = TensorProto.DOUBLE if W.dtype == np.float64 else TensorProto.FLOAT
    H, I, D = R.shape[2], W.shape[2], W.shape[0]
    layout = attrs.get("layout", 0)
    inputs = [helper.make_tensor_value_info("X", elem, ["N", "T", I] if layout else ["T", "N", I])]
    inits = [numpy_helper.from_array(W, "W"), numpy_helper.from_array(R, "R")]
    node_in = ["X", "W", "R", "", "", ""]
    if B is not None:
        inits.append(numpy_helper.from_array(B, "B"))
        node_in[3] = "B"
    if lengths:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["N"]))
        node_in[4] = "sequence_lens"
    if h0:
        inputs.append(helper.make_tensor_value_info(
            "initial_h", elem, ["N", D, H] if layout else [D, "N", H]))
        node_in[5] = "initial_h"
    while node_in[-1] == "":
        node_in.pop()
    node = helper.make_node("GRU", node_in, ["Y", "Y_h"], name="the_gru", hidden_size=H,
                            direction=direction, **attrs)
    outputs = [helper.make_tensor_value_info("Y", elem, ["T", D, "N", H] if not layout
                                             else ["N", "T", D, H]),
               helper.make_tensor_value_info("Y_h", elem, ["N", D, H] if layout else [D, "N", H])]
    ops = [helper.make_opsetid("", opset)]
    ir = helper.find_min_ir_version_for(ops)
    if ir < 4:   # before IR 4 every initializer is also a graph input
        inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits]
    graph = helper.make_graph([node], "g", inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=ops, ir_version=ir)


def random_weights(rng, D, H, I, dtype=np.float32, scale=0.5):
    W = (rng.standard_normal((D, 3 * H, I)) * scale).astype(dtype)
    R = (rng.standard_normal((D, 3 * H, H)) * scale).astype(dtype)
    B = (rng.standard_normal((D, 6 * H)) * scale).astype(dtype)
    return W, R, B


def to_onnx_y(y, D, layout=0):
    """cgru's y (T, N, D*H) -> ONNX's Y (T, D, N, H); layout 1: (N, T, D*H) -> (N, T, D, H)."""
    a, b, DH = y.shape
    y4 = y.reshape(a, b, D, DH // D)
    return y4 if layout else y4.transpose(0, 2, 1, 3)


def onnx_fn(name, alpha, beta):
    key = name.lower()
    a, b = DEFAULTS.get(key, (0.0, 0.0))
    a = a if alpha is None else alpha
    b = b if beta is None else beta
    return lambda x: NP_ACT[key](x, a, b)


# ---------------------------------------------------------------- activations
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_kernels_match_onnx_definitions(name, dtype):
    from cgru._activations import onnx_activation
    from cgru._compiled import activate
    x = np.concatenate([np.linspace(-30, 30, 601), [-1e-9, 0.0, 1e-9, 0.5, 1.0, 1.5]]).astype(dtype)
    alpha, beta = (0.3, 0.7)
    kind, a, b = onnx_activation(name.upper(), alpha if "a" in TAKES.get(name.lower(), "")
                                 else None, beta if "b" in TAKES.get(name.lower(), "") else None)
    got = activate(kind, a, b, x)
    want = NP_ACT[name.lower()](x.astype(np.float64), a, b)
    tol = 1e-14 if dtype == np.float64 else 1e-7
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    assert np.isnan(activate(kind, a, b, np.array([np.nan], dtype)))[0]


def test_activation_names_and_defaults():
    from cgru._activations import onnx_activation
    assert onnx_activation("hardsigmoid") == (int(K.CGRU_HARD_SIGMOID), 0.2, 0.5)
    assert onnx_activation("LEAKYRELU") == (int(K.CGRU_LEAKY_RELU), 0.01, 0.0)
    assert onnx_activation("ScaledTanh", 2.0, 3.0) == (int(K.CGRU_SCALED_TANH), 2.0, 3.0)
    assert onnx_activation("Relu", 5.0, 6.0) == (int(K.CGRU_RELU), 0.0, 0.0)
    with pytest.raises(ValueError, match="unknown activation 'Swish'"):
        onnx_activation("Swish")
    with pytest.raises(TypeError, match="string"):
        onnx_activation(3)
    # ONNX's operator defaults (onnxruntime uses 0 for these; cgru writes them out)
    assert onnx_activation("Affine") == (int(K.CGRU_AFFINE), 1.0, 0.0)
    assert onnx_activation("thresholdedrelu") == (int(K.CGRU_THRESHOLDED_RELU), 1.0, 0.0)
    with pytest.raises(ValueError, match="ScaledTanh needs a finite alpha and beta"):
        onnx_activation("ScaledTanh", 2.0)


def test_thresholded_relu_is_strict_like_onnxruntime(onnx, ort):
    """ThresholdedRelu(x) = x if x > alpha (the operator; the GRU doc says >=)."""
    H = 2
    W, R = np.zeros((1, 3 * H, 1), np.float32), np.zeros((1, 3 * H, H), np.float32)
    B = np.zeros((1, 6 * H), np.float32)
    B[0, 2 * H:3 * H] = [1.0, 1.5]            # candidate pre-activations: alpha, above alpha
    m = gru_model(onnx, W, R, B, activations=["Sigmoid", "ThresholdedRelu"],
                  activation_alpha=[1.0])
    x = np.zeros((1, 1, 1), np.float32)
    _, Y_h = run_ort(ort, m, {"X": x})
    _, h = cgru.GRU.from_onnx(m)(x)
    np.testing.assert_array_equal(Y_h, [[[0.0, 0.75]]])
    np.testing.assert_array_equal(h, Y_h)


def test_stream_with_activations_matches_sequence(rng):
    g = cgru.GRU(3, 4, 2, activations=("HardSigmoid", "Softsign"), clip=1.0, reset_after=False)
    x = rng.standard_normal((6, 2, 3)).astype(np.float32)
    y, h = g(x)
    s = g.stream(2)
    steps = np.stack([s.step(x[t]) for t in range(6)])
    np.testing.assert_allclose(steps, y, atol=1e-6)
    np.testing.assert_allclose(s.state, h, atol=1e-6)


def test_activation_alpha_consumption_order(onnx):
    W, R, B = random_weights(np.random.default_rng(0), 2, 2, 2)
    m = gru_model(onnx, W, R, B, direction="bidirectional",
                  activations=["Sigmoid", "LeakyRelu", "HardSigmoid", "Elu"],
                  activation_alpha=[0.3, 0.4], activation_beta=[0.6])
    g = cgru.GRU.from_onnx(m)
    f32 = lambda v: float(np.float32(v))
    assert g.activations == [(("Sigmoid", None, None), ("LeakyRelu", f32(0.3), None)),
                             (("HardSigmoid", f32(0.4), f32(0.6)), ("Elu", 1.0, None))]


def test_constructor_activations_against_numpy_reference(rng):
    """activations=/clip= on GRU, per direction, float64, against tests/reference.py."""
    acts = [(("HardSigmoid", 0.25, 0.4), "Softsign"), ("Sigmoid", ("ScaledTanh", 1.5, 0.5))]
    g = cgru.GRU(3, 5, 2, bidirectional=True, reset_after=False, dtype=np.float64,
                 activations=acts, clip=1.5)
    x = rng.standard_normal((6, 2, 3)) * 2
    lengths = np.array([6, 3])
    y, h = g(x, lengths=lengths)
    fns = [(onnx_fn("HardSigmoid", 0.25, 0.4), onnx_fn("Softsign", None, None)),
           (onnx_fn("Sigmoid", None, None), onnx_fn("ScaledTanh", 1.5, 0.5))]
    yr, hr = reference.gru(x, g.state_dict(), 2, 5, bidirectional=True, reset_after=False,
                           lengths=lengths, activations=fns, clip=1.5)
    np.testing.assert_allclose(y, yr, atol=1e-12)
    np.testing.assert_allclose(h, hr, atol=1e-12)
    assert g.clip == 1.5
    assert g.activations[0] == (("HardSigmoid", 0.25, 0.4), ("Softsign", None, None))


@pytest.mark.parametrize("bad, match", [
    (("Sigmoid", "Swish"), "unknown activation"),
    (("Sigmoid",), "pair"),
    ("Sigmoid", "pair"),
    ((("Sigmoid", 1.0), "Tanh"), "name or"),
])
def test_constructor_rejects_bad_activations(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        cgru.GRU(2, 3, activations=bad)


@pytest.mark.parametrize("clip", [0, -1.0, float("nan"), float("inf"), True, "1"])
def test_constructor_rejects_bad_clip(clip):
    with pytest.raises(ValueError, match="clip"):
        cgru.GRU(2, 3, clip=clip)


def test_save_load_round_trips_activations_clip_and_reverse(onnx, rng, tmp_path):
    W, R, B = random_weights(rng, 1, 4, 3)
    m = gru_model(onnx, W, R, B, direction="reverse", linear_before_reset=1,
                  activations=["hardsigmoid", "Elu"], activation_alpha=[0.3, 0.8], clip=2.0)
    g = cgru.GRU.from_onnx(m)
    g.save(tmp_path / "m.npz")
    g2 = cgru.load(tmp_path / "m.npz")
    assert g2._reverse_only and g2.activations == g.activations and g2.clip == 2.0
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    for a, b in zip(g(x), g2(x)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="cannot be streamed"):
        g2.stream()


# ---------------------------------------------------- from_onnx vs onnxruntime
# (f, g) as (name, alpha, beta), names in any case; None: not written, so the ONNX
# default applies (only where onnxruntime agrees with ONNX's defaults: LeakyRelu,
# HardSigmoid, Elu).  Every one of the eleven functions appears as f and as g.
ACT_CASES = [
    (("sigmoid", None, None), ("TANH", None, None)),
    (("HardSigmoid", None, None), ("Relu", None, None)),
    (("hardsigmoid", 0.25, 0.45), ("softsign", None, None)),
    (("ScaledTanh", 0.5, 1.2), ("Affine", 0.8, 0.1)),
    (("Softsign", None, None), ("LeakyRelu", 0.2, None)),
    (("Affine", 0.2, 0.5), ("ThresholdedRelu", 0.1, None)),
    (("Sigmoid", None, None), ("Elu", 0.7, None)),
    (("Softplus", None, None), ("ScaledTanh", 1.5, 0.6)),
    (("LeakyRelu", None, None), ("Tanh", None, None)),
    (("ThresholdedRelu", 0.05, None), ("Softplus", None, None)),
    (("Elu", None, None), ("Sigmoid", None, None)),
    (("Relu", None, None), ("HardSigmoid", None, None)),
]


def onnx_activation_attrs(fns):
    """activations / activation_alpha / activation_beta for a list of (name, alpha,
    beta).  Values are consumed in order by the functions that take one, so a
    missing value followed by a given one is written out as the ONNX default."""
    attrs = {"activations": [f[0] for f in fns]}
    for pos, key in ((1, "activation_alpha"), (2, "activation_beta")):
        takers = [f for f in fns if key[11] in TAKES.get(f[0].lower(), "")]
        values = [f[pos] for f in takers]
        while values and values[-1] is None:
            values.pop()
        values = [DEFAULTS[f[0].lower()][pos - 1] if v is None else v
                  for f, v in zip(takers, values)]
        if values:
            attrs[key] = values
    return attrs


@pytest.mark.parametrize("case", range(len(ACT_CASES)))
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("lbr", [0, 1])
def test_from_onnx_activations_match_onnxruntime(onnx, ort, rng, case, direction, lbr):
    fns = list(ACT_CASES[case])
    D = 2 if direction == "bidirectional" else 1
    if D == 2:   # a different pair for the backward direction
        fns += ACT_CASES[(case + 5) % len(ACT_CASES)]
    # small weights: unbounded gate functions (Elu, Affine, ...) make z leave [0, 1]
    W, R, B = random_weights(rng, D, 5, 3, scale=0.3)
    attrs = onnx_activation_attrs(fns)
    clip = [None, 1.3][case % 2]
    if clip:
        attrs["clip"] = clip
    m = gru_model(onnx, W, R, B, direction=direction, linear_before_reset=lbr, lengths=True,
                  h0=True, **attrs)
    g = cgru.GRU.from_onnx(m)
    assert g.reset_after == bool(lbr) and g.bidirectional == (D == 2)
    assert g.clip == (None if clip is None else float(np.float32(clip)))   # ONNX floats are float32
    x = rng.standard_normal((4, 3, 3)).astype(np.float32)
    h0 = (rng.standard_normal((D, 3, 5)) * 0.5).astype(np.float32)
    lens = np.array([4, 1, 3], np.int32)
    Y, Y_h = run_ort(ort, m, {"X": x, "sequence_lens": lens, "initial_h": h0})
    y, h = g(x, h0, lengths=lens)
    assert np.all(np.isfinite(Y))
    np.testing.assert_allclose(to_onnx_y(y, D), Y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h, Y_h, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("lbr", [0, 1])
@pytest.mark.parametrize("with_b", [True, False])
def test_from_onnx_lengths_initial_h_match_onnxruntime(onnx, ort, rng, direction, lbr, with_b):
    D = 2 if direction == "bidirectional" else 1
    W, R, B = random_weights(rng, D, 4, 3)
    m = gru_model(onnx, W, R, B if with_b else None, direction=direction,
                  linear_before_reset=lbr, lengths=True, h0=True)
    g = cgru.GRU.from_onnx(m)
    assert g.bias == with_b
    T, N = 6, 3
    x = rng.standard_normal((T, N, 3)).astype(np.float32)
    h0 = rng.standard_normal((D, N, 4)).astype(np.float32)
    lens = np.array([6, 2, 4], np.int32)   # ONNX Y_h of an empty sequence is 0 in onnxruntime
    Y, Y_h = run_ort(ort, m, {"X": x, "sequence_lens": lens, "initial_h": h0})
    y, h = g(x, h0, lengths=lens)
    np.testing.assert_allclose(to_onnx_y(y, D), Y, atol=1e-5)
    np.testing.assert_allclose(h, Y_h, atol=1e-5)


@pytest.mark.parametrize("opset", [7, 13, 14, 22])
def test_from_onnx_opsets(onnx, ort, rng, opset):
    W, R, B = random_weights(rng, 2, 3, 2)
    m = gru_model(onnx, W, R, B, direction="bidirectional", opset=opset, linear_before_reset=1)
    onnx.checker.check_model(m)
    g = cgru.GRU.from_onnx(m)
    x = rng.standard_normal((3, 2, 2)).astype(np.float32)
    Y, Y_h = run_ort(ort, m, {"X": x})
    y, h = g(x)
    np.testing.assert_allclose(to_onnx_y(y, 2), Y, atol=1e-5)
    np.testing.assert_allclose(h, Y_h, atol=1e-5)


# ------------------------------------------------ layout 1: ReferenceEvaluator
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("lbr", [0, 1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_from_onnx_layout1_matches_reference_evaluator(onnx, rng, direction, lbr, dtype):
    from onnx.reference import ReferenceEvaluator
    D = 2 if direction == "bidirectional" else 1
    W, R, B = random_weights(rng, D, 4, 3, dtype=dtype)
    m = gru_model(onnx, W, R, B, direction=direction, linear_before_reset=lbr, layout=1,
                  h0=True)
    g = cgru.GRU.from_onnx(m)
    assert g.batch_first and g.dtype == dtype
    N, T = 2, 5
    x = rng.standard_normal((N, T, 3)).astype(dtype)
    h0 = rng.standard_normal((N, D, 4)).astype(dtype)
    Y, Y_h = ReferenceEvaluator(m).run(None, {"X": x, "initial_h": h0})
    y, h = g(x, h0.transpose(1, 0, 2))          # cgru's h0 is (D, N, H) always
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(to_onnx_y(y, D, layout=1), Y, atol=tol)
    np.testing.assert_allclose(h.transpose(1, 0, 2), Y_h, atol=tol)


def test_layout1_with_lengths_and_activations_equals_layout0(onnx, rng):
    """ReferenceEvaluator ignores sequence_lens and activations: check layout 1
    against the same node in layout 0 (checked against onnxruntime above)."""
    W, R, B = random_weights(rng, 2, 4, 3)
    attrs = dict(direction="bidirectional", linear_before_reset=0,
                 activations=["HardSigmoid", "Softsign", "Sigmoid", "Elu"], clip=2.0)
    g0 = cgru.GRU.from_onnx(gru_model(onnx, W, R, B, **attrs))
    g1 = cgru.GRU.from_onnx(gru_model(onnx, W, R, B, layout=1, **attrs))
    x = rng.standard_normal((3, 5, 3)).astype(np.float32)
    lens = np.array([5, 1, 3])
    y1, h1 = g1(x, lengths=lens)
    y0, h0 = g0(x.transpose(1, 0, 2), lengths=lens)
    np.testing.assert_array_equal(y1, y0.transpose(1, 0, 2))
    np.testing.assert_array_equal(h1, h0)


# ------------------------------------------------------------------ to_onnx
TO_ONNX_CASES = [
    dict(num_layers=1),
    dict(num_layers=2, bidirectional=True),
    dict(num_layers=2, reset_after=False, bias=False),
    dict(num_layers=3, bidirectional=True, reset_after=False, batch_first=True),
    dict(num_layers=2, activations=(("HardSigmoid", 1 / 6, 0.5), "Softsign"), clip=3.0),
    dict(num_layers=1, bidirectional=True, reset_after=False,
         activations=[("Sigmoid", "Relu"), (("LeakyRelu", 0.3, None), ("ScaledTanh", 1.5, 0.5))]),
]


@pytest.mark.parametrize("case", range(len(TO_ONNX_CASES)))
@pytest.mark.parametrize("opset", [7, 14, 22])
def test_to_onnx_runs_in_onnxruntime(onnx, ort, rng, case, opset):
    kw = TO_ONNX_CASES[case]
    g = cgru.GRU(3, 4, **kw)
    m = g.to_onnx(opset=opset, h0=True, lengths=True)
    onnx.checker.check_model(m, full_check=True)
    assert sum(n.op_type == "GRU" for n in m.graph.node) == g.num_layers
    N, T = 3, 5
    x = rng.standard_normal((N, T, 3) if g.batch_first else (T, N, 3)).astype(np.float32)
    h0 = rng.standard_normal((g.num_layers * g.num_directions, N, 4)).astype(np.float32)
    lens = np.array([5, 3, 1], np.int32)
    y_o, h_o = run_ort(ort, m, {"x": x, "h0": h0, "lengths": lens})
    y, h = g(x, h0, lengths=lens)
    # (Relu candidates let the state grow: relative tolerance for the large values)
    np.testing.assert_allclose(y, y_o, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h, h_o, rtol=1e-5, atol=1e-5)
    if g.num_layers == 1:   # and back again, exactly
        g2 = cgru.GRU.from_onnx(m)
        # ONNX stores alpha, beta and clip as float32
        np.testing.assert_allclose(np.array(g2._activations), np.array(g._activations), rtol=1e-7)
        assert (g2.clip is None) == (g.clip is None)
        for k, v in g.state_dict().items():
            np.testing.assert_array_equal(g2.state_dict()[k], v)


def test_to_onnx_plain_inputs_path_and_reverse(onnx, ort, rng, tmp_path):
    W, R, B = random_weights(rng, 1, 4, 3)
    g = cgru.GRU.from_onnx(gru_model(onnx, W, R, B, direction="reverse"))
    m = g.to_onnx(tmp_path / "g.onnx")
    assert [i.name for i in m.graph.input] == ["x"]
    assert onnx.helper.get_attribute_value(
        [a for a in m.graph.node[0].attribute if a.name == "direction"][0]) == b"reverse"
    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    y_o, h_o = run_ort(ort, onnx.load(tmp_path / "g.onnx"), {"x": x})
    y, h = g(x)
    np.testing.assert_allclose(y, y_o, atol=1e-5)
    np.testing.assert_allclose(h, h_o, atol=1e-5)
    # a multi-layer export holds several GRU nodes (one stack, tests/interop/
    # test_onnx_stacks.py); node= picks one by name
    g3 = cgru.GRU(3, 4, 2)
    m3 = g3.to_onnx()
    first = cgru.GRU.from_onnx(m3, node="gru_l0")
    np.testing.assert_array_equal(first.state_dict()["weight_hh_l0"],
                                  g3.state_dict()["weight_hh_l0"])
    with pytest.raises(ValueError, match="no GRU node named 'nope'"):
        cgru.GRU.from_onnx(m3, node="nope")


def test_to_onnx_float64_matches_reference_evaluator(onnx, rng):
    from onnx.reference import ReferenceEvaluator
    g = cgru.GRU(3, 4, 2, bidirectional=True, reset_after=False, dtype=np.float64,
                 batch_first=True)
    m = g.to_onnx(h0=True)
    x = rng.standard_normal((2, 5, 3))
    h0 = rng.standard_normal((4, 2, 4))
    y_r, h_r = ReferenceEvaluator(m).run(None, {"x": x, "h0": h0})
    y, h = g(x, h0)
    np.testing.assert_allclose(y, y_r, atol=1e-12)
    np.testing.assert_allclose(h, h_r, atol=1e-12)


def test_to_onnx_rejects_bad_opset(onnx):
    g = cgru.GRU(2, 3)
    for opset in (6, onnx.defs.onnx_opset_version() + 1, "14", True):
        with pytest.raises(ValueError, match="opset"):
            g.to_onnx(opset=opset)


def test_torch_to_cgru_to_onnx_to_onnxruntime(onnx, ort, torch, rng):
    torch.manual_seed(0)
    tg = torch.nn.GRU(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    g = cgru.GRU.from_torch(tg)
    m = g.to_onnx(h0=True)
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    h0 = rng.standard_normal((4, 2, 5)).astype(np.float32)
    y_o, h_o = run_ort(ort, m, {"x": x, "h0": h0})
    with torch.no_grad():
        y_t, h_t = tg(torch.from_numpy(x), torch.from_numpy(h0))
    np.testing.assert_allclose(y_o, y_t.numpy(), atol=1e-5)
    np.testing.assert_allclose(h_o, h_t.numpy(), atol=1e-5)


# ---------------------------------------------------------- hostile models
def test_no_gru_node(onnx):
    from onnx import TensorProto, helper
    node = helper.make_node("Relu", ["X"], ["Y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2])])
    with pytest.raises(ValueError, match="no GRU node"):
        cgru.GRU.from_onnx(helper.make_model(graph))


def test_weights_not_initializers(onnx, rng):
    from onnx import TensorProto, helper
    W, R, B = random_weights(rng, 1, 3, 2)
    m = gru_model(onnx, W, R, B)
    # W becomes a graph input instead of an initializer
    del m.graph.initializer[0]
    m.graph.input.append(helper.make_tensor_value_info("W", TensorProto.FLOAT, [1, 9, 2]))
    with pytest.raises(ValueError, match="W .*'W'.* is not an initializer"):
        cgru.GRU.from_onnx(m)


@pytest.mark.parametrize("what, match", [
    ("R", "R must have shape"),
    ("W", "W must have shape"),
    ("B", "B must have shape"),
    ("hidden_size", "hidden_size attribute 7"),
    ("direction", "R must have shape \\[2"),
    ("badir", "direction 'sideways'"),
    ("acts", "has 3 activations"),
    ("alphas", "more activation_alpha"),
    ("unknown_act", "unknown activation 'Swish'"),
    ("attr", "unknown attribute 'foo'"),
    ("opset", "opset 6"),
    ("int_w", "floating-point"),
    ("const_h0", "initial_h"),
])
def test_inconsistent_models(onnx, rng, what, match):
    from onnx import helper, numpy_helper
    W, R, B = random_weights(rng, 1, 3, 2)
    kw = {}
    if what == "R":
        R = R[:, :, :2]
    elif what == "W":
        W = W[:, :6]
    elif what == "B":
        B = B[:, :9]
    elif what == "int_w":
        W = W.astype(np.int32)
    elif what == "acts":
        kw["activations"] = ["Sigmoid", "Tanh", "Relu"]
    elif what == "alphas":
        kw["activations"] = ["Sigmoid", "LeakyRelu"]
        kw["activation_alpha"] = [0.1, 0.2]
    elif what == "unknown_act":
        kw["activations"] = ["Sigmoid", "Swish"]
    elif what == "attr":
        kw["foo"] = 1
    m = gru_model(onnx, W, R, B, opset=6 if what == "opset" else 14, **kw)
    node = m.graph.node[0]
    attr = {a.name: a for a in node.attribute}
    if what == "hidden_size":
        attr["hidden_size"].CopyFrom(helper.make_attribute("hidden_size", 7))
    elif what == "direction":
        attr["direction"].CopyFrom(helper.make_attribute("direction", "bidirectional"))
    elif what == "badir":
        attr["direction"].CopyFrom(helper.make_attribute("direction", "sideways"))
    elif what == "const_h0":
        m.graph.initializer.append(numpy_helper.from_array(np.ones((1, 2, 3), np.float32), "h0"))
        node.input.extend(["", "h0"])
    with pytest.raises(ValueError, match=match):
        cgru.GRU.from_onnx(m)


def test_corrupted_and_missing_files(onnx, rng, tmp_path):
    W, R, B = random_weights(rng, 1, 3, 2)
    data = gru_model(onnx, W, R, B).SerializeToString()
    (tmp_path / "trunc.onnx").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.onnx").write_bytes(bytes(rng.integers(0, 256, 300, dtype=np.uint8)))
    for name in ("trunc.onnx", "junk.onnx"):
        with pytest.raises(ValueError, match="not a readable ONNX model|no GRU node|opset"):
            cgru.GRU.from_onnx(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        cgru.GRU.from_onnx(tmp_path / "missing.onnx")
    with pytest.raises(TypeError, match="ModelProto or a file path"):
        cgru.GRU.from_onnx(42)
    with pytest.raises(TypeError, match="node must be"):
        cgru.GRU.from_onnx(gru_model(onnx, W, R, B), node=0)


@pytest.mark.filterwarnings("ignore")
def test_from_torch_onnx_export(onnx, torch, rng, tmp_path):
    """A model written by torch.onnx.export (TorchScript exporter): weights are
    initializers, initial_h comes from an Expand node (zeros)."""
    torch.manual_seed(0)
    tg = torch.nn.GRU(3, 4, bidirectional=True)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    torch.onnx.export(tg, (torch.from_numpy(x),), str(tmp_path / "t.onnx"), dynamo=False,
                      input_names=["x"], output_names=["y", "h"])
    g = cgru.GRU.from_onnx(tmp_path / "t.onnx")
    with torch.no_grad():
        y_t, h_t = tg(torch.from_numpy(x))
    y, h = g(x)
    np.testing.assert_allclose(y, y_t.numpy(), atol=1e-5)
    np.testing.assert_allclose(h, h_t.numpy(), atol=1e-5)


def test_save_load_bidirectional_activations_and_corrupted_configs(rng, tmp_path):
    import json
    g = cgru.GRU(3, 4, bidirectional=True, clip=2.5, reset_after=False,
                 activations=[("Softsign", ("Elu", 0.5, None)), (("Affine", 0.5, 0.1), "Relu")])
    g.save(tmp_path / "b.npz")
    g2 = cgru.load(tmp_path / "b.npz")
    assert g2.activations == g.activations and g2.clip == 2.5
    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    for a, b in zip(g(x), g2(x)):
        np.testing.assert_array_equal(a, b)
    with np.load(tmp_path / "b.npz") as f:
        arrays = {k: f[k] for k in f.files}
    config = json.loads(str(arrays.pop("__config__")))
    for key, value, match in (("activations", [[99, 0, 0, 1, 0, 0]] * 2, "activation kind"),
                              ("activations", [[0, 0, 0, 1, 0, 0]], "activations must be"),
                              ("clip", -1, "clip"), ("reverse", True, "reverse")):
        bad = dict(config, **{key: value})
        np.savez(tmp_path / "bad.npz", __config__=np.array(json.dumps(bad)), **arrays)
        with pytest.raises(ValueError, match=match):
            cgru.load(tmp_path / "bad.npz")


# ------------------------------------------- weights and inputs from constant nodes
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
    # the two nodes chain: one 2-layer model (a non-stack's message lists unnamed
    # nodes by output: tests/interop/test_onnx_stacks.py)
    assert cgru.GRU.from_onnx(m).num_layers == 2
    top = cgru.GRU.from_onnx(m, node="l1_Y_h")
    np.testing.assert_array_equal(top.state_dict()["weight_hh_l0"],
                                  g.state_dict()["weight_hh_l1"])
    with pytest.raises(ValueError, match="no GRU node named"):
        cgru.GRU.from_onnx(m, node="nope")
