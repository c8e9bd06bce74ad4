"""The thread pool in plain C (pyx/c/pool.c): it compiles alone as strict C99,
and tests/kernels/pool_check.c (teams, barriers, nested and concurrent callers,
fork) passes, also under ThreadSanitizer when the compiler has it."""

import os
import shlex
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POOL = ROOT / "pyx" / "c" / "pool.c"
CHECK = Path(__file__).with_name("pool_check.c")
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def _cc():
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    if not shutil.which(cc[0]):
        if os.environ.get("CI"):
            pytest.fail(f"a C compiler is required in CI ({cc[0]} not found)")
        pytest.skip(f"no C compiler ({cc[0]})")
    return cc


def _build(tmp_path, *flags):
    exe = tmp_path / "pool_check"
    subprocess.run([*_cc(), *STRICT[:1], "-O2", "-pthread", *flags, f"-I{POOL.parent}",
                    str(CHECK), str(POOL), "-o", str(exe)], check=True)
    return exe


@pytest.mark.parametrize("define", [None, "CGRU_POOL_SERIAL"])
def test_pool_compiles_alone_as_strict_c99(tmp_path, define):
    flags = [f"-D{define}"] if define else []
    subprocess.run([*_cc(), *STRICT, "-O2", *flags, "-c", str(POOL), "-o",
                    str(tmp_path / "pool.o")], check=True)


def test_pool_checks(tmp_path):
    out = subprocess.run([str(_build(tmp_path))], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "pool checks passed" in out.stdout


def test_pool_checks_under_thread_sanitizer(tmp_path):
    probe = tmp_path / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    if subprocess.run([*_cc(), "-fsanitize=thread", str(probe), "-o", str(tmp_path / "probe")],
                      capture_output=True).returncode != 0:
        pytest.skip("the compiler has no ThreadSanitizer")
    exe = _build(tmp_path, "-g", "-fsanitize=thread")
    # the fork check starts threads in a child of a threaded process: TSan allows it
    # with die_after_fork=0; any race report makes the exit status non-zero
    env = dict(os.environ, TSAN_OPTIONS="die_after_fork=0 halt_on_error=1 exitcode=66")
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    assert "WARNING: ThreadSanitizer" not in out.stderr, out.stderr[-4000:]
