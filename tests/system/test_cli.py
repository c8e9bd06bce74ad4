"""The ``cgru`` command: demo, convert, run, info, bench; exit codes and errors.

Commands run in-process through ``cgru.cli.main(argv)`` (fast), plus one real
subprocess through ``python -m cgru``; results are checked against
tests/reference.py and the source frameworks."""

import importlib.metadata
import io
import json
import os
import re
import subprocess
import sys
import types

import numpy as np
import pytest

import cgru
import reference
from cgru import cli
from converters import (Payload, keras, keras_gru_file, need_converter, onnx_gru_file, onnx_run,
                        torch_gru_file)


def run_cli(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def model_file(tmp_path):
    g = cgru.GRU(3, 5, 2, dtype=np.float64)
    path = tmp_path / "m.npz"
    g.save(path)
    return g, path


def ref_forward(g, x, **kw):
    return reference.gru(x, g.state_dict(), g.num_layers, g.hidden_size,
                         bidirectional=g.bidirectional, reset_after=g.reset_after, **kw)


# ---------------------------------------------------------------- demo
def test_demo_forecasts_better_than_naive_and_times_a_step(capsys):
    rc, out, err = run_cli(capsys, "demo", "--length", "300", "--repeat", "2", "--seed", "3")
    assert rc == 0, err
    m = re.search(r"RMSE over steps \d+\.\.\d+: model ([\d.]+), naive .* ([\d.]+), ", out)
    model_rmse, naive_rmse = float(m.group(1)), float(m.group(2))
    assert model_rmse < naive_rmse / 2          # the trained model really forecasts
    diff = float(re.search(r"max \|difference\| ([\d.e+-]+)", out).group(1))
    assert diff < 1e-4                          # streaming == whole-sequence
    step_us = float(re.search(r"time per step: ([\d.]+) µs", out).group(1))
    assert step_us > 0
    assert "forecast t+1" in out and err == ""


def test_demo_is_the_default_and_its_model_is_packaged(capsys):
    rc, out, _ = run_cli(capsys)
    assert rc == 0 and out.startswith("cgru demo:")
    model_res, head_res = cli._demo_files()
    assert 10_000 < model_res.stat().st_size if hasattr(model_res, "stat") else True
    g = cgru.load(str(model_res))
    assert (g.input_size, g.hidden_size, g.num_layers) == (1, 32, 2)


def test_demo_streaming_matches_reference(capsys):
    """The shipped model run by cgru agrees with the NumPy transcription."""
    model_res, _ = cli._demo_files()
    g = cgru.load(str(model_res))
    x = np.sin(np.arange(50) * 0.3)[:, None].astype(np.float32)
    s = g.stream()
    ys = np.stack([s.step(x_t) for x_t in x])
    y_ref, _ = ref_forward(g, x[:, None, :])
    np.testing.assert_allclose(ys, y_ref[:, 0], atol=1e-5)


# ----------------------------------------------------------------- run
def test_run_matches_reference(capsys, tmp_path, model_file, rng):
    g, path = model_file
    x = rng.standard_normal((7, 4, 3))
    np.save(tmp_path / "x.npy", x)
    h0 = rng.standard_normal((2, 4, 5))
    np.save(tmp_path / "h0.npy", h0)
    lengths = np.array([7, 0, 3, 5])
    np.save(tmp_path / "len.npy", lengths)
    rc, out, err = run_cli(capsys, "run", path, tmp_path / "x.npy", "-o", tmp_path / "y.npy",
                           "--h0", tmp_path / "h0.npy", "--lengths", tmp_path / "len.npy",
                           "--hn", tmp_path / "hn.npy")
    assert rc == 0, err
    y_ref, h_ref = ref_forward(g, x, h0=h0, lengths=lengths)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), y_ref, atol=1e-12)
    np.testing.assert_allclose(np.load(tmp_path / "hn.npy"), h_ref, atol=1e-12)
    assert "x.npy (7, 4, 3)" in out


@pytest.mark.parametrize("chunk", [0, 1, 3, 256])
def test_run_batch_first_chunked(capsys, tmp_path, model_file, rng, chunk):
    g, path = model_file
    x = rng.standard_normal((10, 6, 3))            # (N, T, I)
    np.save(tmp_path / "x.npy", x)
    rc, _, err = run_cli(capsys, "run", path, tmp_path / "x.npy", "-o", tmp_path / "y.npy",
                         "--batch-first", "--chunk", chunk, "--hn", tmp_path / "hn.npy", "-q")
    assert rc == 0, err
    y_ref, h_ref = ref_forward(g, x, batch_first=True)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), y_ref, atol=1e-12)
    np.testing.assert_allclose(np.load(tmp_path / "hn.npy"), h_ref, atol=1e-12)


def cli_run_saved(capsys, tmp_path, model, x):
    """Save model and x, run `cgru run` on them, return the loaded output."""
    model.save(tmp_path / "model.npz")
    np.save(tmp_path / "in.npy", x)
    rc, _, err = run_cli(capsys, "run", tmp_path / "model.npz", tmp_path / "in.npy", "-o",
                         tmp_path / "out.npy")
    assert rc == 0, err
    return np.load(tmp_path / "out.npy")


def test_run_unbatched_and_gru_cell(capsys, tmp_path, rng):
    g = cgru.GRU(2, 3, dtype=np.float64)
    x = rng.standard_normal((6, 2))
    np.testing.assert_allclose(cli_run_saved(capsys, tmp_path, g, x),
                               ref_forward(g, x[:, None])[0][:, 0], atol=1e-12)
    c = cgru.GRUCell(2, 3, dtype=np.float64)
    xs = rng.standard_normal((4, 2))
    sd = c.state_dict()
    want = reference.cell(xs, np.zeros((4, 3)), sd["weight_ih"], sd["weight_hh"], sd["bias_ih"],
                          sd["bias_hh"])
    np.testing.assert_allclose(cli_run_saved(capsys, tmp_path, c, xs), want, atol=1e-12)


def test_progress_line_only_for_long_jobs():
    buf = io.StringIO()
    p = cli.Progress("run: sequences", 10, stream=buf, delay=0.0, every=0.0)
    for i in range(1, 11):
        p.update(i)
    p.close(10)
    text = buf.getvalue()
    assert "\rrun: sequences: 10/10 (100%)" in text and text.endswith("\n")
    quiet = io.StringIO()
    p = cli.Progress("x", 10, stream=quiet, delay=60.0)
    p.update(5)
    p.close(10)
    assert quiet.getvalue() == ""


# ---------------------------------------------------------------- info
def test_info_text_and_json(capsys, model_file):
    g, path = model_file
    rc, out, _ = run_cli(capsys, "info", path)
    assert rc == 0 and "cgru.GRU(3, 5, num_layers=2" in out and "weight_hh_l1" in out
    rc, out, _ = run_cli(capsys, "info", path, "--json")
    info = json.loads(out)
    assert info["parameters"] == sum(a.size for a in g.state_dict().values())
    assert info["kind"] == "GRU" and info["num_layers"] == 2 and info["dtype"] == "float64"
    assert info["activations"][0]["gates"][0] == "sigmoid"


# -------------------------------------------------------------- errors
@pytest.mark.parametrize("argv", [
    ["frobnicate"], ["run"], ["run", "m.npz", "x.npy"], ["convert", "a.onnx"],
    ["demo", "--length", "0"], ["demo", "--length", "x"], ["run", "m", "x", "-o", "y", "--chunk",
                                                           "-1"], ["info"],
])
def test_bad_usage_exits_2(capsys, argv):
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 2 and "usage:" in err


def test_help_and_version_exit_0(capsys):
    assert run_cli(capsys, "--help")[0] == 0
    rc, out, _ = run_cli(capsys, "--version")
    assert rc == 0 and cgru.__version__ in out


def test_failures_exit_1_with_a_clear_message(capsys, tmp_path, model_file, rng):
    g, path = model_file
    np.save(tmp_path / "bad.npy", rng.standard_normal((4, 2, 7)))        # 7 features, not 3
    np.save(tmp_path / "x.npy", rng.standard_normal((4, 2, 3)))
    np.save(tmp_path / "len.npy", np.array([1, 2, 3]))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    cases = [
        (["run", tmp_path / "nope.npz", tmp_path / "x.npy", "-o", tmp_path / "y.npy"],
         "no such model file"),
        (["run", tmp_path / "junk.npz", tmp_path / "x.npy", "-o", tmp_path / "y.npy"],
         "not a readable cgru .npz"),
        (["run", path, tmp_path / "bad.npy", "-o", tmp_path / "y.npy"], "input_size=3"),
        (["run", path, tmp_path / "x.npy", "-o", tmp_path / "y.npy", "--lengths",
          tmp_path / "len.npy"], "lengths must have shape (2,)"),
        (["run", path, tmp_path / "x.npy", "-o", tmp_path / "y.npy", "--lengths",
          tmp_path / "len.npy", "--chunk", "1"], "lengths must have shape (2,)"),
        (["run", path, tmp_path / "x.npy", "-o", tmp_path / "y.npy", "--h0",
          tmp_path / "len.npy", "--chunk", "1"], "h0 must have shape (2, 2, 5)"),
        (["run", path, tmp_path / "obj.npy", "-o", tmp_path / "y.npy"], "not a readable .npy"),
        (["run", path, tmp_path / "x.npy", "-o", tmp_path / "no" / "dir" / "y.npy"],
         "cannot write"),
        (["info", tmp_path / "junk.npz"], "not a readable cgru .npz"),
        (["convert", tmp_path / "nope.onnx", "-o", tmp_path / "o.npz"], "no such file"),
    ]
    for argv, message in cases:
        rc, out, err = run_cli(capsys, *argv)
        assert rc == 1, (argv, out, err)
        assert err.startswith("cgru: error: ") and message in err, (argv, err)
        assert "Traceback" not in err
    assert not (tmp_path / "y.npy").exists()


# --------------------------------------------------------------- bench
def test_bench_forwards_its_arguments(capsys, monkeypatch):
    seen = []
    fake = types.ModuleType("cgru._bench")
    fake.main = lambda argv: seen.append(argv) or 0
    monkeypatch.setitem(sys.modules, "cgru._bench", fake)
    monkeypatch.setattr(cli, "BENCH_NEEDS", ())   # whether torch & co. are installed or not
    assert cli.main(["bench", "--quick", "-x"]) == 0
    assert seen == [["--quick", "-x"]]

    def usage_error(argv):
        raise SystemExit(2)
    fake.main = usage_error
    assert cli.main(["bench", "--bogus"]) == 2
    monkeypatch.setitem(sys.modules, "cgru._bench", None)      # no benchmark module
    rc, _, err = run_cli(capsys, "bench")
    assert rc == 1 and "cgru._bench is missing" in err


# ------------------------------------------------------------- convert
def test_convert_torch_state_dict(capsys, tmp_path, torch, rng):
    m = torch_gru_file(tmp_path / "gru.pt", num_layers=2)
    rc, out, err = run_cli(capsys, "convert", tmp_path / "gru.pt", "-o", tmp_path / "g.npz")
    assert rc == 0, err
    g = cgru.load(tmp_path / "g.npz")
    x = rng.standard_normal((6, 2, 3)).astype(np.float32)
    with torch.no_grad():
        want = m(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(g(x)[0], want, atol=1e-5)

    # a GRU inside a larger model's state_dict, and a GRUCell
    torch_gru_file(tmp_path / "big.pt", prefix="encoder.rnn.")
    assert run_cli(capsys, "convert", tmp_path / "big.pt", "-o", tmp_path / "e.npz",
                   "--prefix", "encoder.rnn.", "--dtype", "float64")[0] == 0
    assert cgru.load(tmp_path / "e.npz").dtype == np.float64
    rc, out, err = run_cli(capsys, "convert", tmp_path / "big.pt", "-o", tmp_path / "e.npz")
    assert rc == 0 and "prefix 'encoder.rnn.'" in out      # the one GRU's prefix, found
    cell = torch_gru_file(tmp_path / "cell.pt", cell=True)
    assert run_cli(capsys, "convert", tmp_path / "cell.pt", "-o", tmp_path / "c.npz")[0] == 0
    c = cgru.load(tmp_path / "c.npz")
    assert isinstance(c, cgru.GRUCell)
    with torch.no_grad():
        want = cell(torch.from_numpy(x[0])).numpy()
    np.testing.assert_allclose(c(x[0]), want, atol=1e-5)


def test_convert_torch_never_unpickles(capsys, tmp_path, torch):
    marker = tmp_path / "marker"
    torch.save({"weight_ih_l0": Payload(marker)}, tmp_path / "evil.pt")
    rc, _, err = run_cli(capsys, "convert", tmp_path / "evil.pt", "-o", tmp_path / "o.npz")
    assert rc == 1 and err.startswith("cgru: error:")
    assert not marker.exists()


def test_convert_onnx_matches_onnxruntime(capsys, tmp_path, rng):
    need_converter("from_onnx")
    for lbr in (1, 0):
        src = onnx_gru_file(tmp_path / f"g{lbr}.onnx", linear_before_reset=lbr)
        rc, out, err = run_cli(capsys, "convert", src, "-o", tmp_path / "g.npz")
        assert rc == 0, err
        g = cgru.load(tmp_path / "g.npz")
        assert g.reset_after == bool(lbr)
        x = rng.standard_normal((5, 2, 3)).astype(np.float32)
        np.testing.assert_allclose(g(x)[0], onnx_run(src, x), atol=1e-5)


def test_convert_keras_matches_keras(capsys, tmp_path, rng):
    need_converter("from_keras")
    m = keras_gru_file(tmp_path / "m.keras")
    rc, out, err = run_cli(capsys, "convert", tmp_path / "m.keras", "-o", tmp_path / "g.npz")
    assert rc == 0, err
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)     # Keras: (N, T, I)
    np.save(tmp_path / "x.npy", x)
    assert run_cli(capsys, "run", tmp_path / "g.npz", tmp_path / "x.npy", "-o",
                   tmp_path / "y.npy", "--batch-first")[0] == 0
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), m.predict(x, verbose=0), atol=1e-5)

    # two GRU layers in a stack are one 2-layer model; --layer takes one of them
    keras_gru_file(tmp_path / "two.keras", names=("first", "second"))
    rc, _, err = run_cli(capsys, "convert", tmp_path / "two.keras", "-o", tmp_path / "g.npz")
    assert rc == 0 and cgru.load(tmp_path / "g.npz").num_layers == 2
    assert run_cli(capsys, "convert", tmp_path / "two.keras", "-o", tmp_path / "g.npz",
                   "--layer", "second")[0] == 0
    assert cgru.load(tmp_path / "g.npz").input_size == 4


# ------------------------------------------------ the installed command
def test_python_dash_m_cgru_subprocess(tmp_path, model_file):
    _, path = model_file
    env = dict(os.environ)
    src = os.path.dirname(os.path.dirname(os.path.abspath(cgru.__file__)))
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-m", "cgru", "info", str(path)], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0 and "cgru.GRU(3, 5" in r.stdout
    r = subprocess.run([sys.executable, "-m", "cgru", "run"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 2 and "usage:" in r.stderr


def test_console_script_entry_point():
    try:
        dist = importlib.metadata.distribution("cgru")
    except importlib.metadata.PackageNotFoundError:
        if os.environ.get("CI"):
            pytest.fail("cgru must be installed in CI")
        pytest.skip("cgru is not installed (source-tree run)")
    eps = [e for e in dist.entry_points if e.group == "console_scripts" and e.name == "cgru"]
    assert eps and eps[0].value == "cgru.cli:main"
    assert eps[0].load() is cli.main


# ------------------------------------------------- cgru convert: converter edge cases
ANSI = re.compile(r"\x1b\[[0-9;]*m")


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
