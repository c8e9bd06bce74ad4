"""Keras 3 interop: cgru.GRU.from_keras against real keras.layers.GRU and
Bidirectional(GRU) run with KERAS_BACKEND=torch."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np   # noqa: E402
import pytest        # noqa: E402

import cgru          # noqa: E402
from conftest import need   # noqa: E402


pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def keras():
    k = need("keras")
    need("torch").set_num_threads(1)
    return k


def randomize(layer, rng, scale=0.5):
    """Random weights (Keras initialises biases to zero, which would hide bias bugs)."""
    layer.set_weights([(rng.standard_normal(w.shape) * scale).astype(w.dtype)
                       for w in layer.get_weights()])


def run_keras(keras, layer, x, **kw):
    out = layer(x, **kw)
    return [keras.ops.convert_to_numpy(o) for o in out]


def check_gru(keras, rng, dtype=np.float32, tol=1e-5, scale=0.5, **kw):
    layer = keras.layers.GRU(5, return_sequences=True, return_state=True, dtype=dtype, **kw)
    x = rng.standard_normal((3, 6, 4)).astype(dtype)
    layer(x)
    randomize(layer, rng, scale)
    y_k, h_k = run_keras(keras, layer, x)
    g = cgru.GRU.from_keras(layer)
    assert g.batch_first and g.dtype == dtype and g.reset_after == layer.cell.reset_after
    y, h = g(x)
    if layer.go_backwards:   # Keras returns the outputs in processing order
        y_k = y_k[:, ::-1]
    np.testing.assert_allclose(y, y_k, atol=tol, rtol=tol)
    np.testing.assert_allclose(h[0], h_k, atol=tol, rtol=tol)
    return g


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_gru_variants(keras, rng, reset_after, use_bias, go_backwards):
    g = check_gru(keras, rng, reset_after=reset_after, use_bias=use_bias,
                  go_backwards=go_backwards)
    assert g.bias == use_bias and g._reverse_only == go_backwards


# every supported Keras activation, as the gate (recurrent) and as the candidate function
ACTIVATIONS = [("sigmoid", "tanh"), ("hard_sigmoid", "relu"), ("sparse_sigmoid", "softsign"),
               ("softsign", "linear"), ("elu", "leaky_relu"), ("celu", "softplus"),
               ("leaky_relu", "elu"), ("linear", "hard_sigmoid"), ("relu", "celu"),
               ("softplus", "sparse_sigmoid"), ("tanh", "sigmoid")]


@pytest.mark.parametrize("recurrent_activation, activation", ACTIVATIONS)
@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_activations(keras, rng, recurrent_activation, activation, reset_after):
    # unbounded gate functions (elu, linear, ...) amplify rounding: small weights
    check_gru(keras, rng, activation=activation, recurrent_activation=recurrent_activation,
              reset_after=reset_after, scale=0.2)


def test_gru_float64(keras, rng):
    check_gru(keras, rng, dtype=np.float64, tol=1e-12, recurrent_activation="hard_sigmoid")


def test_rnn_of_grucell(keras, rng):
    layer = keras.layers.RNN(keras.layers.GRUCell(4), return_sequences=True)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    layer(x)
    randomize(layer, rng)
    y_k = keras.ops.convert_to_numpy(layer(x))
    y, _ = cgru.GRU.from_keras(layer)(x)
    np.testing.assert_allclose(y, y_k, atol=1e-5)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_bidirectional(keras, rng, reset_after, use_bias, merge_mode):
    layer = keras.layers.Bidirectional(
        keras.layers.GRU(5, return_sequences=True, return_state=True, reset_after=reset_after,
                         use_bias=use_bias), merge_mode=merge_mode)
    x = rng.standard_normal((3, 6, 4)).astype(np.float32)
    layer(x)
    randomize(layer, rng)
    out = run_keras(keras, layer, x)
    g = cgru.GRU.from_keras(layer)
    assert g.bidirectional and g.batch_first
    y, h = g(x)
    if merge_mode is None:
        y_f, y_b, h_f, h_b = out
        y_k = np.concatenate([y_f, y_b], axis=-1)
    else:
        y_k, h_f, h_b = out
    np.testing.assert_allclose(y, y_k, atol=1e-5)
    np.testing.assert_allclose(h[0], h_f, atol=1e-5)
    np.testing.assert_allclose(h[1], h_b, atol=1e-5)


def test_bidirectional_with_own_backward_layer(keras, rng):
    fwd = keras.layers.GRU(4, return_sequences=True, activation="softsign",
                           recurrent_activation="hard_sigmoid")
    bwd = keras.layers.GRU(4, return_sequences=True, go_backwards=True, activation="elu")
    layer = keras.layers.Bidirectional(fwd, backward_layer=bwd)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    layer(x)
    randomize(layer, rng)
    y_k = keras.ops.convert_to_numpy(layer(x))
    g = cgru.GRU.from_keras(layer)
    assert g.activations[0] != g.activations[1]
    y, _ = g(x)
    np.testing.assert_allclose(y, y_k, atol=1e-5)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_right_padded_mask_is_lengths(keras, rng, go_backwards):
    """A right-padded Keras mask is cgru's lengths (final states agree)."""
    layer = keras.layers.GRU(4, go_backwards=go_backwards)
    x = rng.standard_normal((3, 6, 2)).astype(np.float32)
    lengths = np.array([6, 2, 4])
    mask = np.arange(6)[None, :] < lengths[:, None]
    layer(x)
    randomize(layer, rng)
    h_k = keras.ops.convert_to_numpy(layer(x, mask=mask))
    _, h = cgru.GRU.from_keras(layer)(x, lengths=lengths)
    np.testing.assert_allclose(h[0], h_k, atol=1e-5)


def test_keras_to_cgru_to_onnx(keras, rng):
    ort = need("onnxruntime")
    layer = keras.layers.Bidirectional(keras.layers.GRU(5, return_sequences=True,
                                                        reset_after=False))
    x = rng.standard_normal((2, 7, 3)).astype(np.float32)
    layer(x)
    randomize(layer, rng)
    y_k = keras.ops.convert_to_numpy(layer(x))
    m = cgru.GRU.from_keras(layer).to_onnx()
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    y_o, _ = sess.run(None, {"x": x})
    np.testing.assert_allclose(y_o, y_k, atol=1e-5)


# ------------------------------------------------------------------ refusals
def built(layer, shape=(1, 3, 2)):
    layer(np.zeros(shape, np.float32))
    return layer


def test_refuses_other_merge_modes(keras):
    for mode in ("sum", "mul", "ave"):
        layer = built(keras.layers.Bidirectional(keras.layers.GRU(3), merge_mode=mode))
        with pytest.raises(ValueError, match=f"merge_mode='{mode}'"):
            cgru.GRU.from_keras(layer)


@pytest.mark.parametrize("activation", ["gelu", "selu", "swish", "relu6", "hard_tanh"])
def test_refuses_unrepresentable_activations(keras, activation):
    layer = built(keras.layers.GRU(3, activation=activation))
    with pytest.raises(ValueError, match="cannot represent exactly"):
        cgru.GRU.from_keras(layer)
    layer = built(keras.layers.GRU(3, recurrent_activation=lambda v: v * 2))
    with pytest.raises(ValueError, match="recurrent_activation"):
        cgru.GRU.from_keras(layer)


def test_refuses_unbuilt_and_other_layers(keras):
    with pytest.raises(ValueError, match="not built"):
        cgru.GRU.from_keras(keras.layers.GRU(3))
    with pytest.raises(TypeError, match="keras.layers.GRU"):
        cgru.GRU.from_keras(built(keras.layers.LSTM(3)))
    with pytest.raises(TypeError, match="keras.layers.GRU"):
        cgru.GRU.from_keras(built(keras.layers.Bidirectional(keras.layers.LSTM(3))))


def test_refuses_mismatched_directions(keras):
    layer = built(keras.layers.Bidirectional(
        keras.layers.GRU(3), backward_layer=keras.layers.GRU(4, go_backwards=True)))
    with pytest.raises(ValueError, match="forward and backward layers differ"):
        cgru.GRU.from_keras(layer)


# ------------------------------------------------------------------ to_keras
@pytest.mark.parametrize("kw", [
    dict(),
    dict(reset_after=False),
    dict(bias=False, bidirectional=True),
    dict(bidirectional=True, reset_after=False,
         activations=[("HardSigmoid", 1 / 6, 0.5), "Softsign"]),
])
def test_to_keras_round_trip(keras, rng, kw):
    g = cgru.GRU(3, 4, batch_first=True, **kw)
    layer = g.to_keras()
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    out = run_keras(keras, layer, x)
    y, h = g(x)
    np.testing.assert_allclose(out[0], y, atol=1e-5)
    for d in range(g.num_directions):
        np.testing.assert_allclose(out[1 + d], h[d], atol=1e-5)
    want = g.state_dict()
    if not g.reset_after and g.bias:   # Keras has one bias then: bias_hh folds into bias_ih
        for sfx in ("", "_reverse")[:g.num_directions]:
            want[f"bias_ih_l0{sfx}"] = want[f"bias_ih_l0{sfx}"] + want.pop(f"bias_hh_l0{sfx}")
            want[f"bias_hh_l0{sfx}"] = np.zeros_like(want[f"bias_ih_l0{sfx}"])
    got = cgru.GRU.from_keras(layer)
    assert got.activations == g.activations and got.reset_after == g.reset_after
    for k, v in got.state_dict().items():
        np.testing.assert_array_equal(v, want[k])


def test_to_keras_go_backwards_and_refusals(keras, rng):
    layer = keras.layers.GRU(4, go_backwards=True, return_sequences=True)
    layer(np.zeros((1, 2, 3), np.float32))
    randomize(layer, rng)
    again = cgru.GRU.from_keras(layer).to_keras()
    assert again.go_backwards
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(run_keras(keras, again, x)[0],
                               keras.ops.convert_to_numpy(layer(x)), atol=1e-6)
    with pytest.raises(ValueError, match="one layer"):
        cgru.GRU(3, 4, 2).to_keras()
    with pytest.raises(ValueError, match="clip"):
        cgru.GRU(3, 4, clip=1.0).to_keras()
    with pytest.raises(ValueError, match="no Keras 3 equivalent"):
        cgru.GRU(3, 4, activations=("HardSigmoid", "Tanh")).to_keras()   # ONNX's 0.2x + 0.5
