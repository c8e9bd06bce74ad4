"""Packaging metadata: classifiers for the Python versions, operating systems
and status; no guessed project URLs; the license; threadpoolctl a run-time dependency
(cgru.threads needs it); CPython 3.14 in the cibuildwheel matrix; extension
modules without debug info.  (The LICENSE file in the wheel and sdist and the
wheel's size: test_packaging.py.)

The installed distribution's metadata is read with importlib.metadata (a
source-tree run skips those checks)."""

import glob
import importlib.metadata
import os
import pathlib
import re
import sys

import pytest

import cgru

ROOT = pathlib.Path(__file__).resolve().parents[2]
@pytest.fixture(scope="module")
def metadata():
    try:
        dist = importlib.metadata.distribution("cgru")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("cgru is not installed (source-tree run)")
    if not os.path.realpath(cgru.__file__).startswith(os.path.realpath(str(dist.locate_file("")))):
        pytest.skip("the imported cgru is not the installed distribution")
    return dist.metadata


def test_classifiers(metadata):
    classifiers = set(metadata.get_all("Classifier") or [])
    for v in ("3.10", "3.11", "3.12", "3.13", "3.14"):
        assert f"Programming Language :: Python :: {v}" in classifiers
    assert any(c.startswith("Development Status ::") for c in classifiers)
    for os_ in ("POSIX :: Linux", "MacOS", "Microsoft :: Windows"):
        assert f"Operating System :: {os_}" in classifiers
    assert "Typing :: Typed" in classifiers
    # Project URLs: none until the project has a public address (a guessed one would
    # send users to someone else's page); any that are added must be https.
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL") or [])
    assert all(u.startswith("https://") for u in urls.values())


def test_threadpoolctl_is_a_run_time_dependency(metadata):
    requires = [r for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r]
    assert any(re.match(r"threadpoolctl\b", r) for r in requires), requires
    with cgru.threads(1):            # works in any installation
        pass


def test_license_in_the_installed_metadata(metadata):
    assert metadata.get("License-Expression") == "BSD-3-Clause"
    assert "LICENSE" in (metadata.get_all("License-File") or [])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF sections: Linux only")
def test_extension_modules_carry_no_debug_info():
    folder = os.path.dirname(cgru.__file__)
    modules = glob.glob(os.path.join(folder, "*.so"))
    assert modules
    with_debug = []
    for m in modules:
        with open(m, "rb") as f:
            if b".debug_info" in f.read():
                with_debug.append(os.path.basename(m))
    assert not with_debug, f"built with debug info: {with_debug}"


def test_cibuildwheel_builds_cpython_3_14():
    text = (ROOT / "pyproject.toml").read_text()
    build = re.search(r'^build = "([^"]*)"', text, re.M)
    assert build and "cp314-*" in build.group(1).split(), build
