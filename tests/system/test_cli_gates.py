"""``cgru run --gates gates.npz``: the gates r, z, n of every step in an .npz,
against tests/reference.py, in one call and in chunks, batch_first, unbatched;
clear errors for a GRUCell and an unwritable path."""

import numpy as np
import pytest

import cgru
import reference
from cgru import cli


def run_cli(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("chunk", [0, 2])
@pytest.mark.parametrize("bf", [False, True])
def test_run_writes_the_gates(capsys, tmp_path, rng, chunk, bf):
    g = cgru.GRU(3, 4, 2, bidirectional=True, reset_after=False, dtype=np.float64)
    g.save(tmp_path / "m.npz")
    x = rng.standard_normal((5, 6, 3) if bf else (6, 5, 3))
    lengths = np.array([6, 3, 0, 1, 6])
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "len.npy", lengths)
    argv = ["run", tmp_path / "m.npz", tmp_path / "x.npy", "-o", tmp_path / "y.npy",
            "--lengths", tmp_path / "len.npy", "--gates", tmp_path / "gates", "--chunk", chunk]
    rc, out, err = run_cli(capsys, *(argv + (["--batch-first"] if bf else [])))
    assert rc == 0, err
    with np.load(tmp_path / "gates", allow_pickle=False) as f:     # exactly that name
        got = {k: f[k] for k in f.files}
    assert sorted(got) == ["n", "r", "z"]
    y = np.load(tmp_path / "y.npy")
    ry, _, want = reference.gru(x, g.state_dict(), 2, 4, bidirectional=True, reset_after=False,
                                lengths=lengths, batch_first=bf, return_gates=True)
    np.testing.assert_allclose(y, ry, atol=1e-12, rtol=0)
    for k in "rzn":
        assert got[k].shape == (2,) + y.shape
        np.testing.assert_allclose(got[k], want[k], atol=1e-12, rtol=0)


def test_run_gates_unbatched(capsys, tmp_path, rng):
    g = cgru.GRU(2, 3, dtype=np.float64)
    g.save(tmp_path / "m.npz")
    x = rng.standard_normal((7, 2))
    np.save(tmp_path / "x.npy", x)
    rc, _, err = run_cli(capsys, "run", tmp_path / "m.npz", tmp_path / "x.npy", "-o",
                         tmp_path / "y.npy", "--gates", tmp_path / "g.npz")
    assert rc == 0, err
    _, _, want = g(x, return_gates=True)
    with np.load(tmp_path / "g.npz") as f:
        for k in "rzn":
            np.testing.assert_array_equal(f[k], getattr(want, k))


def test_run_gates_errors(capsys, tmp_path, rng):
    cgru.GRUCell(2, 3).save(tmp_path / "cell.npz")
    cgru.GRU(2, 3).save(tmp_path / "m.npz")
    np.save(tmp_path / "x.npy", rng.standard_normal((4, 1, 2)).astype(np.float32))
    rc, _, err = run_cli(capsys, "run", tmp_path / "cell.npz", tmp_path / "x.npy", "-o",
                         tmp_path / "y.npy", "--gates", tmp_path / "g.npz")
    assert rc == 1 and "--gates applies to GRU models; this is a GRUCell" in err
    rc, _, err = run_cli(capsys, "run", tmp_path / "m.npz", tmp_path / "x.npy", "-o",
                         tmp_path / "y.npy", "--gates", tmp_path / "no" / "g.npz")
    assert rc == 1 and err.startswith("cgru: error: --gates: cannot write")
