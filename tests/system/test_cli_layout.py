"""The rough edges of the `cgru` command a new user hits: batch_first travelling
(convert --batch-first, saved in the .npz, shown by info, run says its layout
and refuses an input that fits only the other), info on a non-model file, run
given an .npz input, run -o into a missing folder (checked before computing),
bench without its packages, progress in steps for one long sequence, run --json,
convert given a cgru model,
and cgru.load of a missing path."""

import json
import re
import sys

import numpy as np
import pytest

import cgru
from cgru import cli


def run_cli(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def files(tmp_path, rng):
    g = cgru.GRU(3, 4, 2, seed=0)
    g.save(tmp_path / "g.npz")
    x = rng.standard_normal((7, 2, 3)).astype(np.float32)       # (T=7, N=2, I)
    np.save(tmp_path / "x.npy", x)
    return g, tmp_path, x


def test_convert_batch_first_travels_to_info_and_run(capsys, files, torch):
    g, d, x = files
    m = torch.nn.GRU(3, 4, 2, batch_first=True)
    torch.save(m.state_dict(), d / "m.pt")                       # no batch_first in it
    rc, out, err = run_cli(capsys, "convert", d / "m.pt", "-o", d / "bf.npz", "--batch-first")
    assert rc == 0, err
    assert cgru.load(d / "bf.npz").batch_first is True
    rc, out, _ = run_cli(capsys, "info", d / "bf.npz")
    assert "layout: batch_first=True" in out and "(N, T, I)" in out
    assert json.loads(run_cli(capsys, "info", d / "bf.npz", "--json")[1])["batch_first"] is True
    xb = np.ascontiguousarray(x.transpose(1, 0, 2))             # (N=2, T=7, I)
    np.save(d / "xb.npy", xb)
    rc, out, err = run_cli(capsys, "run", d / "bf.npz", d / "xb.npy", "-o", d / "y.npy")
    assert rc == 0, err
    assert "(N, T, I) batch-first" in out
    with torch.no_grad():
        want = m(torch.from_numpy(xb))[0].numpy()
    np.testing.assert_allclose(np.load(d / "y.npy"), want, atol=1e-5)
    # --no-batch-first overrides a batch-first model (and convert can take it back)
    rc, out, _ = run_cli(capsys, "run", d / "bf.npz", d / "x.npy", "-o", d / "y.npy",
                         "--no-batch-first")
    assert rc == 0 and "(T, N, I) time-first" in out
    assert run_cli(capsys, "convert", d / "m.pt", "-o", d / "tf.npz", "--no-batch-first")[0] == 0
    assert cgru.load(d / "tf.npz").batch_first is False


def test_run_refuses_an_input_that_fits_only_the_other_layout(capsys, files):
    g, d, x = files
    np.save(d / "h0.npy", np.zeros((2, 7, 4), np.float32))      # for N=7: (N, T, I) data
    np.save(d / "len.npy", np.full(7, 2))
    for extra in (["--h0", d / "h0.npy"], ["--lengths", d / "len.npy"]):
        rc, out, err = run_cli(capsys, "run", d / "g.npz", d / "x.npy", "-o", d / "y.npy",
                               *extra)
        assert rc == 1 and "fits the other layout" in err and "--batch-first" in err, err
        assert not (d / "y.npy").exists()
    # read as (N, T, I) it is right
    rc, out, err = run_cli(capsys, "run", d / "g.npz", d / "x.npy", "-o", d / "y.npy",
                           "--h0", d / "h0.npy", "--batch-first")
    assert rc == 0, err
    np.testing.assert_allclose(np.load(d / "y.npy"),
                               cgru.GRU(3, 4, 2, seed=0, batch_first=True)(x)[0], atol=1e-6)


def test_info_on_files_that_are_not_models(capsys, files):
    g, d, x = files
    (d / "notes.txt").write_text("hello")
    for path, what in ((d / "x.npy", "a single .npy array"), (d / "notes.txt", "another kind"),
                       (d, "a folder")):
        rc, out, err = run_cli(capsys, "info", path)
        assert rc == 1 and what in err and "Traceback" not in err, err
        assert "context manager" not in err and "pickled" not in err


def test_run_given_an_npz_input(capsys, files):
    g, d, x = files
    np.savez(d / "x.npz", x=x)
    rc, _, err = run_cli(capsys, "run", d / "g.npz", d / "x.npz", "-o", d / "y.npy")
    assert rc == 1 and ".npz archive" in err and "['x']" in err and "np.save" in err, err
    rc, _, err = run_cli(capsys, "run", d / "g.npz", d / "g.npz", "-o", d / "y.npy")
    assert rc == 1 and "is a cgru model" in err


def test_convert_given_a_cgru_model(capsys, files):
    # not "this needs PyTorch" nor torch.load's message: the file is cgru's own
    g, d, x = files
    rc, _, err = run_cli(capsys, "convert", d / "g.npz", "-o", d / "h.npz")
    assert rc == 1 and "is a cgru model already" in err and "cgru run" in err, err
    assert not (d / "h.npz").exists()


def test_run_into_a_missing_folder_fails_before_computing(capsys, files, monkeypatch):
    g, d, x = files
    calls = []
    monkeypatch.setattr(cgru.GRU, "__call__", lambda *a, **k: calls.append(a))
    for argv in (["-o", d / "no" / "y.npy"], ["-o", d / "y.npy", "--hn", d / "no" / "h.npy"]):
        rc, _, err = run_cli(capsys, "run", d / "g.npz", d / "x.npy", *argv)
        assert rc == 1 and "does not exist" in err, err
    assert calls == []
    rc, _, err = run_cli(capsys, "convert", d / "g.npz", "-o", d / "no" / "o.npz")
    assert rc == 1 and "does not exist" in err


def test_bench_without_its_packages(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)       # import fails
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    rc, out, err = run_cli(capsys, "bench", "--quick")
    assert rc == 1, (out, err)                                   # docs/cli.md: 1 is a failure
    # (torch may be missing too: "missing: torch, onnxruntime")
    missing = re.search(r"missing: ([\w, ]+) \(pip install", err)
    assert missing and "onnxruntime" in missing.group(1).split(", "), err
    assert "Traceback" not in err
    assert run_cli(capsys, "bench", "--list")[0] == 0          # needs nothing


def test_load_of_a_missing_path():
    with pytest.raises(FileNotFoundError, match="no such file"):
        cgru.load("/nonexistent/model.npz")


def test_progress_in_steps_for_one_long_sequence(capsys, tmp_path, rng, monkeypatch):
    g = cgru.GRU(3, 4, 2, seed=1)
    g.save(tmp_path / "g.npz")
    x = rng.standard_normal((3000, 1, 3)).astype(np.float32)    # one long sequence
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "x2.npy", x[:, 0])                       # and unbatched

    class Now(cli.Progress):                 # show at once (the real one waits 1 s)
        def __init__(self, label, total, stream=None, delay=0.0, every=0.0):
            super().__init__(label, total, stream, delay, every)

    monkeypatch.setattr(cli, "Progress", Now)
    for name, want in (("x.npy", g(x)), ("x2.npy", g(x[:, 0]))):
        rc, out, err = run_cli(capsys, "run", tmp_path / "g.npz", tmp_path / name,
                               "-o", tmp_path / "y.npy", "--hn", tmp_path / "h.npy",
                               "--chunk", "1")
        assert rc == 0, err
        assert "run: steps: 3000/3000" in err and "run: steps: 64/3000" in err, err
        np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want[0], atol=1e-5)
        np.testing.assert_allclose(np.load(tmp_path / "h.npy"), want[1], atol=1e-5)


def test_run_json(capsys, files):
    g, d, x = files
    rc, out, err = run_cli(capsys, "run", d / "g.npz", d / "x.npy", "-o", d / "y.npy",
                           "--hn", d / "h.npy", "--json")
    assert rc == 0, err
    report = json.loads(out)
    assert report["input_shape"] == [7, 2, 3] and report["output_shape"] == [7, 2, 4]
    assert report["hn_shape"] == [2, 2, 4] and report["layout"] == "(T, N, I) time-first"
    assert report["dtype"] == "float32" and report["seconds"] >= 0
