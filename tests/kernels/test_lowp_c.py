"""The reduced-precision C kernels (pyx/c/lowp*.c) alone: tests/kernels/c/test_lowp.c
compiled as C99 with -Wall -Wextra -Werror and run (every format against a
float64 reference, on every path this CPU runs; the int8 paths bit-identical)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "pyx" / "c" / f for f in ("lowp.c", "lowp_avx2.c", "lowp_avx512.c")]


def _compiler():
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None or sys.platform == "win32" or not SOURCES[0].exists():
        if os.environ.get("CI") and sys.platform != "win32":
            pytest.fail("CI: a C compiler and the source tree are needed for the C kernel test")
        pytest.skip("no C compiler or no source tree")
    return cc


@pytest.mark.parametrize("flags", (["-O2"], ["-O1", "-fsanitize=address,undefined"]))
def test_lowp_c_unit(tmp_path, flags):
    cc = _compiler()
    exe = tmp_path / "test_lowp"
    cmd = [cc, "-std=c99", "-Wall", "-Wextra", "-Werror", *flags, f"-I{ROOT / 'pyx' / 'c'}",
           str(ROOT / "tests" / "kernels" / "c" / "test_lowp.c"), *map(str, SOURCES),
           "-lm", "-o", str(exe)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode and "sanitize" in " ".join(flags) and "sanitize" in r.stderr:
        pytest.skip("this compiler has no sanitizers")
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.stdout.rstrip().endswith("ok (0 failures)")
