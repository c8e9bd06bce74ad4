"""Docs that run: every ```python block of README.md and docs/*.md is executed
as written, in order, one namespace per file, in a fresh folder.  A block
preceded by ``<!-- docs-test: skip (reason) -->`` is skipped with that reason
(a server, a cluster, a signature); ``<!-- docs-test: needs pkg ... -->`` runs
it when the packages import (a missing one: skipped locally, a failure in CI).
The examples run as scripts with the installed cgru, without PYTHONPATH."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

from conftest import need

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"(?:^<!-- docs-test: (?P<mark>[^\n]*?) -->\n)?^```python\n(?P<code>.*?)^```",
                   re.M | re.S)


def blocks():
    out = []
    for path in DOCS:
        if not path.is_file():
            continue
        text = path.read_text()
        for m in FENCE.finditer(text):
            line = text.count("\n", 0, m.start("code"))
            out.append(pytest.param(path, line, m.group("mark"), m.group("code"),
                                    id=f"{path.relative_to(ROOT)}:{line}"))
    return out


BLOCKS = blocks()
NAMESPACES = {}


def test_the_docs_have_python_blocks():
    files = {p.values[0].name for p in BLOCKS}
    assert {"README.md", "conversion.md"} <= files, files


@pytest.mark.parametrize("path,line,mark,code", BLOCKS)
def test_block_runs(path, line, mark, code, tmp_path_factory, monkeypatch):
    if path not in NAMESPACES:
        NAMESPACES[path] = ({"__name__": "__docs__"}, tmp_path_factory.mktemp(path.stem))
    namespace, folder = NAMESPACES[path]
    if mark:
        kind, _, rest = mark.partition(" ")
        if kind == "skip":
            reason = rest.strip()
            if reason.startswith("(") and reason.endswith(")"):
                reason = reason[1:-1]
            assert reason, f"{path.name}:{line}: a skip needs a reason"
            pytest.skip(reason)
        assert kind == "needs", f"{path.name}:{line}: unknown docs-test mark {mark!r}"
        for module in rest.split():
            need(module)
    monkeypatch.chdir(folder)
    exec(compile(code, f"{path.name}:{line}", "exec"), namespace)


def cgru_installed():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-c", "import cgru"], env=env, cwd=os.sep,
                       capture_output=True)
    return env if r.returncode == 0 else None


@pytest.mark.parametrize("script,needs,prints", [
    ("dask_apply.py", ("dask", "distributed"), "scored 4096 sequences"),
    ("ray_data.py", ("ray",), "")])
def test_example_runs_without_pythonpath(tmp_path, script, needs, prints):
    for module in needs:
        if module == "ray":
            pytest.importorskip("ray", reason="Ray is not a test dependency")
        need(module)
    env = cgru_installed()
    if env is None:
        pytest.skip("cgru is not installed (source-tree run)")
    r = subprocess.run([sys.executable, str(ROOT / "examples" / script)], env=env,
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert prints in r.stdout
