"""setup.py builds the x86-64 ISA variants (-mavx2 ...) only when it compiles
FOR x86-64: cross builds (cibuildwheel's macOS arm64 / universal2 wheels made
on an Intel runner, where platform.machine() is x86_64) must not get x86 flags."""

import ast
import os
import pathlib
import re
import struct
import sys
import sysconfig

import pytest

SETUP = pathlib.Path(__file__).resolve().parents[2] / "setup.py"


def _target_function():
    if not SETUP.is_file():
        pytest.skip("no setup.py next to the tests")
    tree = ast.parse(SETUP.read_text())
    [fn] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "x86_64_target"]
    ns = {"os": os, "re": re, "struct": struct, "sys": sys, "sysconfig": sysconfig}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), str(SETUP), "exec"), ns)
    return ns["x86_64_target"]


@pytest.mark.parametrize("platform,environ,expected", [
    ("linux-x86_64", {}, True),
    ("linux-aarch64", {}, False),
    ("win-amd64", {}, True),
    ("win-arm64", {}, False),
    ("macosx-10.9-x86_64", {"ARCHFLAGS": "-arch x86_64"}, True),
    # cibuildwheel on an Intel Mac building arm64 / universal2 wheels
    ("macosx-11.0-arm64", {"ARCHFLAGS": "-arch arm64"}, False),
    ("macosx-10.9-universal2", {"ARCHFLAGS": "-arch arm64 -arch x86_64"}, False),
    ("macosx-10.9-universal2", {}, False),
    # an Apple-silicon runner building x86_64 wheels
    ("macosx-10.9-x86_64", {}, True),
])
def test_x86_flags_only_for_x86_64_targets(platform, environ, expected):
    fn = _target_function()
    sys_platform = "darwin" if platform.startswith("macosx") else "linux"
    assert fn(environ, platform, sys_platform) is expected
