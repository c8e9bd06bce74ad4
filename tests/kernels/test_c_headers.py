"""The kernel core's C (pyx/c/*.h) is real C: each header compiles alone as
C99 with -Wall -Wextra -Werror, for the baseline and every ISA build's flags,
and none of them needs Python (no Python.h, no Py_ssize_t)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HEADERS = sorted((Path(__file__).resolve().parents[2] / "pyx" / "c").glob("*.h"))
FLAGS = {
    "baseline": [],
    "avx2": ["-mavx2", "-mfma"],
    "avx512": ["-mavx2", "-mfma", "-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl"],
}


def _compiler():
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None or sys.platform == "win32":
        pytest.skip("no C compiler for the standalone header check")
    return cc


def test_headers_exist():
    # the source tree is needed (an installed wheel ships no pyx/)
    if not HEADERS:
        pytest.skip("pyx/c/ not present (tests run outside the source tree)")
    assert {"cpu.h", "fastmath.h", "packed.h", "simd.h"} <= {h.name for h in HEADERS}


@pytest.mark.parametrize("header", HEADERS, ids=lambda p: p.name)
@pytest.mark.parametrize("isa", list(FLAGS))
def test_header_compiles_alone(header, isa, tmp_path):
    import platform
    if isa != "baseline" and platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("x86 flags")
    src = tmp_path / "t.c"
    src.write_text(f'#include "{header.name}"\nint cgru_header_test_unit;\n')
    proc = subprocess.run([_compiler(), "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2",
                           *FLAGS[isa], f"-I{header.parent}", "-c", str(src), "-o",
                           str(tmp_path / "t.o")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("header", HEADERS, ids=lambda p: p.name)
def test_header_has_no_python(header):
    text = header.read_text()
    assert "Python.h" not in text and "Py_ssize_t" not in text and "PyObject" not in text
