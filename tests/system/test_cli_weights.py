"""``cgru convert --weights`` and ``cgru info`` on reduced-precision models."""

import json

import numpy as np
import pytest

import cgru
from cgru import cli
from converters import torch_gru_file


def run_cli(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("fmt", ("float16", "bfloat16", "int8"))
def test_convert_with_weights(fmt, capsys, tmp_path, torch, rng):
    m = torch_gru_file(tmp_path / "gru.pt", num_layers=2)
    rc, out, err = run_cli(capsys, "convert", tmp_path / "gru.pt", "-o", tmp_path / "g.npz",
                           "--weights", fmt)
    assert rc == 0, err
    assert f"weights={fmt!r}" in out
    g = cgru.load(tmp_path / "g.npz")
    assert g.weights == fmt
    x = rng.standard_normal((6, 2, 3)).astype(np.float32)
    with torch.no_grad():
        want = m(torch.from_numpy(x))[0].numpy()
    assert np.max(np.abs(g(x)[0] - want)) <= {"float16": 1e-3, "bfloat16": 1e-2, "int8": 3e-2}[fmt]
    rc, out, err = run_cli(capsys, "info", tmp_path / "g.npz", "--json")
    assert rc == 0 and json.loads(out)["weights"] == fmt
    rc, out, err = run_cli(capsys, "info", tmp_path / "g.npz")
    assert f"weights: {fmt}" in out


def test_convert_weights_needs_float32(capsys, tmp_path, torch):
    torch_gru_file(tmp_path / "gru.pt")
    rc, _, err = run_cli(capsys, "convert", tmp_path / "gru.pt", "-o", tmp_path / "g.npz",
                         "--dtype", "float64", "--weights", "int8")
    assert rc == 1 and "float32" in err
    rc, _, err = run_cli(capsys, "convert", tmp_path / "gru.pt", "-o", tmp_path / "g.npz",
                         "--weights", "int4")
    assert rc != 0 and "int4" in err
