"""``cgru demo --plot FILE.png``: a real PNG of the expected size showing the
signal, the forecast and the mean gates; a clear error without matplotlib or
for an unwritable path; ``import cgru`` never imports matplotlib."""

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from cgru import cli
from conftest import need


def run_cli(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def png_chunks(data):
    """(type, payload) of each chunk of a PNG file, checking signature and CRCs."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    i, chunks = 8, []
    while i < len(data):
        (n,) = struct.unpack(">I", data[i:i + 4])
        kind, payload = data[i + 4:i + 8], data[i + 8:i + 8 + n]
        (crc,) = struct.unpack(">I", data[i + 8 + n:i + 12 + n])
        assert zlib.crc32(kind + payload) == crc, f"bad CRC in chunk {kind!r}"
        chunks.append((kind, payload))
        i += 12 + n
    return chunks


def test_demo_plot_is_a_real_png_of_the_expected_size(capsys, tmp_path):
    plt = need("matplotlib.pyplot")
    path = tmp_path / "demo.png"
    rc, out, err = run_cli(capsys, "demo", "--length", "200", "--repeat", "1", "--plot", path)
    assert rc == 0, err
    assert f"plot: {path}" in out and "reset gate r" in out
    chunks = png_chunks(path.read_bytes())
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height = struct.unpack(">II", chunks[0][1][:8])
    assert (width, height) == cli.PLOT_SIZE == (1000, 700)
    img = plt.imread(path)                       # decodes every pixel
    assert img.shape[:2] == (700, 1000)
    rgb = (img[..., :3] * 255).round().astype(np.uint8).reshape(-1, 3)
    colours = np.unique(rgb, axis=0)
    assert len(colours) > 50                     # lines, text, antialiasing: not blank
    # the forecast (C3, red) is drawn in the top panel, the layers' gates (C0, C1) beneath
    red = np.all(np.abs(rgb.astype(int) - (214, 39, 40)) < 30, axis=1).reshape(700, 1000)
    blue = np.all(np.abs(rgb.astype(int) - (31, 119, 180)) < 30, axis=1).reshape(700, 1000)
    assert red[:350].sum() > 500 and red[350:].sum() < red[:350].sum() / 10
    assert blue[350:].sum() > 500


def test_demo_plot_unwritable_path(capsys, tmp_path):
    need("matplotlib")
    rc, out, err = run_cli(capsys, "demo", "--length", "50", "--repeat", "1", "--plot",
                           tmp_path / "no" / "such" / "dir" / "d.png")
    assert rc == 1 and err.startswith("cgru: error: --plot: cannot write")


def test_demo_plot_without_matplotlib(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)     # import matplotlib fails
    rc, out, err = run_cli(capsys, "demo", "--length", "50", "--repeat", "1", "--plot",
                           tmp_path / "d.png")
    assert rc == 1 and "--plot needs matplotlib (pip install 'cgru[plot]')" in err
    assert not (tmp_path / "d.png").exists()


def test_import_cgru_does_not_import_matplotlib():
    code = ("import sys, cgru, cgru.cli; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
