"""`cython -a` finds no Python interaction inside the kernels: every line of every
`nogil` function in pyx/ compiles to plain C (annotation score 0), with the
directives setup.py builds with.  The one exception is `_signals` in
pyx/_compiled.pyx, which takes the GIL on purpose between Ctrl-C chunks."""

import ast
import html
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = ["kernels", "_core_avx512", "_compiled", "capi"]
ALLOWED = {"_signals"}   # takes the GIL to call PyErr_CheckSignals, by design


def build_directives():
    """setup.py's Cython directives for a normal (not CGRU_DEBUG) build."""
    tree = ast.parse(open(os.path.join(ROOT, "setup.py")).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "directives"
                                                for t in node.targets):
            return eval(compile(ast.Expression(node.value), "setup.py", "eval"),
                        {"DEBUG": False})
    raise AssertionError("setup.py has no `directives = {...}`")


def python_lines_in_nogil_functions(html_text):
    """(function, line number, code) of each annotated line with a non-zero score
    inside a function declared nogil."""
    hits, current = [], None
    for score, body in re.findall(r'<pre class="cython line score-(\d+)"[^>]*>(.*?)</pre>',
                                  html_text, re.S):
        m = re.match(r"\+?(\d+):\s?(.*)", html.unescape(re.sub("<[^>]+>", "", body)))
        if not m:
            continue
        code = m.group(2)
        if re.match(r"(cdef|cpdef|def)\s", code):
            current = code
        elif code and not code[0].isspace() and not code.startswith("#"):
            current = None               # back at module level
        if int(score) > 0 and current is not None and "nogil" in current:
            name = re.search(r"(\w+)\s*\(", current)
            hits.append((name.group(1) if name else current, int(m.group(1)), code.strip()))
    return hits


@pytest.mark.parametrize("module", MODULES)
def test_nogil_functions_are_plain_c(module, tmp_path):
    pytest.importorskip("Cython")
    src = os.path.join(ROOT, "pyx", f"{module}.pyx")
    if not os.path.exists(src):
        pytest.skip("no pyx/ sources next to the tests")
    flags = [f"-X{k}={v}" for k, v in build_directives().items() if k != "language_level"]
    out = subprocess.run([sys.executable, "-m", "cython", "-3", "-a", *flags,
                          "-I", os.path.join(ROOT, "src"), "-I", os.path.join(ROOT, "pyx"),
                          "--module-name", f"cgru.{module}", src,
                          "-o", str(tmp_path / f"{module}.c")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    pages = [p for p in tmp_path.glob("*.html")]
    assert pages, "cython -a wrote no annotation"
    if module == "_core_avx512":     # the kernel core itself, included per ISA
        assert "core.html" in {p.name for p in pages}, [p.name for p in pages]
    hits = [h for p in pages for h in python_lines_in_nogil_functions(p.read_text())
            if h[0] not in ALLOWED]
    assert not hits, f"Python interaction inside nogil functions: {hits[:20]}"


def test_the_check_sees_python_interaction(tmp_path):
    """The parser above flags a nogil function that touches Python (a test that can fail)."""
    pytest.importorskip("Cython")
    src = tmp_path / "probe.pyx"
    src.write_text("cdef int f(int n) noexcept nogil:\n"
                   "    with gil:\n"
                   "        print(n)\n"
                   "    return n\n\n"
                   "cdef int g(int n) noexcept nogil:\n"
                   "    return n + 1\n")
    out = subprocess.run([sys.executable, "-m", "cython", "-3", "-a", str(src)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    hits = python_lines_in_nogil_functions((tmp_path / "probe.html").read_text())
    assert {h[0] for h in hits} == {"f"}, hits
