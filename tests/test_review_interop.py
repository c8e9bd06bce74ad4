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
