"""Keras models with several GRU layers: a pure stack of GRU / Bidirectional(GRU)
layers (Sequential or functional, other layers before or after allowed) becomes
one multi-layer cgru.GRU that matches keras; GRUs with something between them
give an error naming each GRU and how to take it; GRU.from_keras_all gives all
of them by name; `cgru convert m.keras` converts a stack."""

import os

import numpy as np
import pytest

import cgru
from conftest import need
from converters import check_not_a_stack


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return need("keras")


def stack(keras, kinds, reset_after=True, head=False):
    inp = keras.Input((6, 3))
    y = inp
    for i, kind in enumerate(kinds):
        last = i == len(kinds) - 1
        gru = keras.layers.GRU(4, return_sequences=not last or kind == "bi",
                               reset_after=reset_after, name=f"g{i}")
        y = (keras.layers.Bidirectional(gru, name=f"bi{i}") if kind == "bi" else gru)(y)
    if head:
        y = keras.layers.Dense(2, name="head")(y)
    return keras.Model(inp, y)


@pytest.mark.parametrize("kinds,reset_after", [
    (("uni", "uni"), True), (("uni", "uni", "uni"), False), (("bi", "bi"), True)])
def test_a_pure_stack_is_one_model(keras, rng, kinds, reset_after):
    m = stack(keras, kinds, reset_after)
    g = cgru.GRU.from_keras(m)
    assert g.num_layers == len(kinds) and g.batch_first
    assert g.bidirectional == (kinds[0] == "bi") and g.reset_after == reset_after
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    want = m.predict(x, verbose=0)
    y, h_n = g(x)
    got = y if kinds[0] == "bi" else h_n[-1]   # the top layer's sequence / last state
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_sequential_stack_and_a_head_after_it(keras, rng):
    m = keras.Sequential([keras.Input((6, 3)),
                          keras.layers.GRU(5, return_sequences=True, name="a"),
                          keras.layers.GRU(5, return_sequences=True, name="b"),
                          keras.layers.Dense(1, name="out")])
    g = cgru.GRU.from_keras(m)          # the GRU part; the Dense head is the caller's
    assert g.num_layers == 2
    x = rng.standard_normal((3, 6, 3)).astype(np.float32)
    w, b = m.get_layer("out").get_weights()
    np.testing.assert_allclose(g(x)[0] @ w + b, m.predict(x, verbose=0), atol=1e-5)


def test_grus_with_a_layer_between_them(keras, rng):
    inp = keras.Input((6, 3))
    y = keras.layers.GRU(4, return_sequences=True, name="enc")(inp)
    y = keras.layers.Dense(8, name="mix")(y)
    y = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True), name="dec")(y)
    m = keras.Model(inp, y)
    every = check_not_a_stack(cgru.GRU.from_keras, cgru.GRU.from_keras_all, m,
                              ("'enc'", "'dec'", "Dense 'mix'", "layer=", "from_keras_all"))
    assert list(every) == ["enc", "dec"]
    assert every["dec"].bidirectional and every["dec"].input_size == 8
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    w, b = m.get_layer("mix").get_weights()
    y_enc, _ = every["enc"](x)
    y_dec, _ = every["dec"](y_enc @ w + b)
    np.testing.assert_allclose(y_dec, m.predict(x, verbose=0), atol=1e-5)
    one = cgru.GRU.from_keras(m, layer="dec")
    np.testing.assert_array_equal(one.state_dict()["weight_hh_l0_reverse"],
                                  every["dec"].state_dict()["weight_hh_l0_reverse"])
    with pytest.raises(ValueError, match="no GRU layer named 'mix'"):
        cgru.GRU.from_keras(m, layer="mix")


def test_cli_converts_a_keras_stack_and_names_the_layers_of_a_non_stack(keras, rng, tmp_path,
                                                                        capsys):
    from cgru.cli import main
    m = stack(keras, ("uni", "uni"))
    m.save(str(tmp_path / "s.keras"))
    assert main(["convert", str(tmp_path / "s.keras"), "-o", str(tmp_path / "g.npz")]) == 0
    g = cgru.load(tmp_path / "g.npz")
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(g(x)[1][-1], m.predict(x, verbose=0), atol=1e-5)
    inp = keras.Input((6, 3))
    y = keras.layers.GRU(4, return_sequences=True, name="first")(inp)
    y = keras.layers.GRU(4, name="second")(keras.layers.Dense(4, name="mid")(y))
    keras.Model(inp, y).save(str(tmp_path / "n.keras"))
    capsys.readouterr()
    assert main(["convert", str(tmp_path / "n.keras"), "-o", str(tmp_path / "g.npz")]) == 1
    err = capsys.readouterr().err
    assert "'first'" in err and "'second'" in err and "--layer" in err and "layer=" not in err
    assert main(["convert", str(tmp_path / "n.keras"), "-o", str(tmp_path / "g.npz"),
                 "--layer", "second"]) == 0


def test_layer_is_a_name(keras):
    m = stack(keras, ("uni", "uni"))
    with pytest.raises(TypeError, match="layer= is the name"):
        cgru.GRU.from_keras(m, layer=m.get_layer("g0"))
    with pytest.raises(TypeError, match="picks a layer of a keras.Model"):
        cgru.GRU.from_keras(m.get_layer("g0"), layer="g0")
    assert cgru.GRU.from_keras(m, layer="g1").num_layers == 1


def test_a_gru_output_used_elsewhere_is_no_pure_stack(keras):
    inp = keras.Input((6, 3))
    y1 = keras.layers.GRU(4, return_sequences=True, name="a")(inp)
    y2 = keras.layers.GRU(4, return_sequences=True, name="b")(y1)
    skip = keras.Model(inp, keras.layers.Concatenate(name="cat")([y1, y2]))
    with pytest.raises(ValueError, match=r"output of 'a' goes to \['b', 'cat'\]"):
        cgru.GRU.from_keras(skip)
    with pytest.raises(ValueError, match="also a model output"):
        cgru.GRU.from_keras(keras.Model(inp, [y1, y2]))
    # the same layers in a model of their own are a stack
    assert cgru.GRU.from_keras(keras.Model(inp, y2)).num_layers == 2


@pytest.mark.parametrize("top_sequences", [False, True])
def test_a_sequential_stack_loaded_from_a_file(keras, rng, tmp_path, top_sequences):
    # a loaded Sequential has called its layers twice (layer.output is the first call's)
    from cgru.cli import main
    keras.Sequential([keras.Input((6, 3)), keras.layers.GRU(4, return_sequences=True),
                      keras.layers.GRU(4, return_sequences=top_sequences)]).save(
        str(tmp_path / "s.keras"))
    m = keras.saving.load_model(str(tmp_path / "s.keras"), safe_mode=True, compile=False)
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    want = m.predict(x, verbose=0)
    y, h_n = cgru.GRU.from_keras(m)(x)
    np.testing.assert_allclose(y if top_sequences else h_n[-1], want, atol=1e-5)
    assert main(["convert", str(tmp_path / "s.keras"), "-o", str(tmp_path / "g.npz")]) == 0
    assert cgru.load(tmp_path / "g.npz").num_layers == 2
    inp = keras.Input((6, 3))
    y1 = keras.layers.GRU(4, return_sequences=True, name="a")(inp)
    keras.Model(inp, [y1, keras.layers.GRU(4, name="b")(y1)]).save(str(tmp_path / "o.keras"))
    with pytest.raises(ValueError, match="also a model output"):
        cgru.GRU.from_keras(keras.saving.load_model(str(tmp_path / "o.keras"), compile=False))
