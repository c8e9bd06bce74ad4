"""What the built distributions contain.

The wheel and sdist are those CI builds into ``dist/`` (or ``$CGRU_WHEEL``).
Locally, with none built, the tests skip; in CI (CI set) a missing wheel fails.
Expectations come from the source tree: every module, .pxd, stub, header and
data file under src/cgru must be in the wheel, and nothing of the build tree.
"""

import fnmatch
import os
import pathlib
import re
import tarfile
import zipfile

try:
    import tomllib
except ModuleNotFoundError:       # Python 3.10
    tomllib = None

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "cgru"


def _find(pattern, env=None):
    if env and os.environ.get(env):
        return pathlib.Path(os.environ[env])
    found = sorted((ROOT / "dist").glob(pattern))
    if found:
        return found[-1]
    if os.environ.get("CI"):
        pytest.fail(f"no dist/{pattern} to inspect (CI builds it first; or set {env})")
    pytest.skip(f"no dist/{pattern} built")


@pytest.fixture(scope="module")
def wheel_names():
    with zipfile.ZipFile(_find("cgru-*.whl", "CGRU_WHEEL")) as z:
        return set(z.namelist())


@pytest.fixture(scope="module")
def sdist_names():
    path = _find("cgru-*.tar.gz", "CGRU_SDIST")
    with tarfile.open(path) as t:
        names = [m.name for m in t.getmembers() if m.isfile()]
    # strip the leading "cgru-<version>/"
    return {n.split("/", 1)[1] for n in names if "/" in n}


def source_files():
    """Files under src/cgru that belong in the wheel, relative to src/."""
    if not SRC.is_dir():
        pytest.skip("no source tree next to the tests")
    if tomllib is None:
        patterns = ["*.pxd", "include/*.h", "py.typed", "*.pyi", "data/*.npz"]
    else:
        with open(ROOT / "pyproject.toml", "rb") as f:
            patterns = tomllib.load(f)["tool"]["setuptools"]["package-data"]["cgru"]
    out = set()
    for p in SRC.rglob("*"):
        if not p.is_file() or "__pycache__" in p.parts or p.name.endswith(".egg-info"):
            continue
        rel = p.relative_to(SRC).as_posix()
        if p.suffix == ".py" or any(fnmatch.fnmatch(rel, pat) for pat in patterns):
            out.add("cgru/" + rel)
    return out


# The compiled modules whose stubs are checked member by member; every compiled
# module in the wheel (the ISA-specific kernel variants too) must have a stub.
PUBLIC_MODULES = ("kernels", "_compiled", "capi")


def extension_modules():
    """The compiled modules setup.py builds: cgru.<name> for each pyx/<name>.pyx."""
    return sorted(p.stem for p in (ROOT / "pyx").glob("*.pyx"))


def test_wheel_has_compiled_modules_with_stubs(wheel_names):
    for name in PUBLIC_MODULES:
        assert name in extension_modules(), f"pyx/{name}.pyx missing"
        compiled = [n for n in wheel_names
                    if re.fullmatch(rf"cgru/{re.escape(name)}\.[^/]*(\.so|\.pyd)", n)]
        assert compiled, f"compiled module cgru.{name} missing from the wheel"
        assert f"cgru/{name}.pyi" in wheel_names, f"type stub cgru/{name}.pyi missing"
    for n in wheel_names:
        m = re.fullmatch(r"cgru/([^/.]+)\.[^/]*(\.so|\.pyd)", n)
        if m:
            assert f"cgru/{m.group(1)}.pyi" in wheel_names, f"no type stub for {n}"


def test_wheel_has_every_source_file(wheel_names):
    expected = source_files()
    for must in ("cgru/py.typed", "cgru/kernels.pxd", "cgru/data/demo_sine.npz",
                 "cgru/data/demo_sine_head.npz", "cgru/cli.py", "cgru/__main__.py"):
        assert must in expected, f"{must} missing from the source tree"
    missing = sorted(expected - wheel_names)
    assert not missing, f"in src/cgru but not in the wheel: {missing}"
    headers = [n for n in expected if n.startswith("cgru/include/")]
    assert all(h in wheel_names for h in headers)


def test_wheel_has_nothing_of_the_build_tree(wheel_names):
    bad = [n for n in wheel_names
           if n.endswith((".c", ".cpp", ".pyx", ".html", ".o", ".obj", ".egg-info"))
           or n.startswith(("build/", "pyx/", "tests/", "src/"))
           or "__pycache__" in n]
    assert not bad, f"build-tree files in the wheel: {bad}"
    tops = {n.split("/", 1)[0] for n in wheel_names}
    assert tops <= {"cgru"} | {t for t in tops if t.endswith((".dist-info", ".libs"))}, tops


def test_wheel_declares_the_console_script(wheel_names):
    ep = [n for n in wheel_names if n.endswith(".dist-info/entry_points.txt")]
    assert ep
    with zipfile.ZipFile(_find("cgru-*.whl", "CGRU_WHEEL")) as z:
        text = z.read(ep[0]).decode()
    assert re.search(r"^cgru\s*=\s*cgru\.cli:main\s*$", text, re.M), text


def test_sdist_rebuilds_the_same_package(sdist_names, wheel_names):
    for must in ("setup.py", "pyproject.toml", "README.md", "MANIFEST.in"):
        assert must in sdist_names, f"{must} missing from the sdist"
    for name in extension_modules():
        assert f"pyx/{name}.pyx" in sdist_names, f"pyx/{name}.pyx missing from the sdist"
    for c_source in ("pyx/c/pool.c", "pyx/c/pool.h", "tests/kernels/pool_check.c"):
        assert c_source in sdist_names, f"{c_source} missing from the sdist"
    # every non-compiled file of the wheel's package comes from the sdist's src/
    packaged = {n for n in wheel_names if n.startswith("cgru/") and not n.endswith((".so", ".pyd"))}
    missing = sorted(n for n in packaged if "src/" + n not in sdist_names)
    assert not missing, f"wheel files the sdist cannot rebuild: {missing}"
    binaries = [n for n in sdist_names if n.endswith((".so", ".pyd", ".o"))]
    assert not binaries, binaries


# ------------------------------------------------------------ type stubs
def _stub_api(path):
    """{name: set of public member names} for the top-level defs of a .pyi."""
    import ast
    tree = ast.parse(path.read_text())
    api = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            api[node.name] = {n.name for n in node.body
                              if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")}
            api[node.name] |= {t.id for n in node.body if isinstance(n, ast.Assign)
                               for t in n.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.FunctionDef):
            api[node.name] = set()
    return api


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_stubs_match_the_compiled_modules(module):
    """Every public name of the compiled module (classes and their public
    members) is in its .pyi next to it, and the stub declares nothing extra."""
    import importlib
    import inspect
    mod = importlib.import_module(f"cgru.{module}")
    stub = pathlib.Path(mod.__file__).parent / f"{module}.pyi"
    assert stub.is_file(), f"no stub {stub}"
    api = _stub_api(stub)
    runtime = {}
    for name, obj in vars(mod).items():
        if name.startswith("__") or inspect.ismodule(obj) or name in ("np",):
            continue
        if getattr(obj, "__module__", mod.__name__) != mod.__name__:
            continue   # re-exported from another module (documented there)
        if name.startswith("_") and not inspect.isclass(obj):
            continue
        if inspect.isclass(obj):
            members = {m for m in vars(obj) if not m.startswith("_")}
            runtime[name] = members
        elif callable(obj):
            runtime[name] = set()
    assert set(runtime) == set(api), (module, set(runtime) ^ set(api))
    for name, members in runtime.items():
        assert members == api[name], (module, name, members ^ api[name])


# ------------------------------------------------------------ cibuildwheel
def test_cibuildwheel_tests_can_build_the_consumers():
    """cibuildwheel's test command runs tests/capi/test_downstream.py, which builds
    examples/c_consumer and examples/cython_consumer with setuptools (and
    Cython) inside cibuildwheel's test venv; venvs of Python >= 3.12 have no
    setuptools, so test-requires must bring both."""
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11")
    with open(ROOT / "pyproject.toml", "rb") as f:
        cfg = tomllib.load(f)["tool"]["cibuildwheel"]
    assert "tests" in cfg["test-command"]
    names = {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in cfg["test-requires"]}
    for needed in ("pytest", "hypothesis", "setuptools", "cython"):
        assert needed in names, f"[tool.cibuildwheel] test-requires lacks {needed}"


def test_license_in_the_wheel_and_the_sdist(wheel_names, sdist_names):
    assert any(re.fullmatch(r"cgru-[^/]+\.dist-info/licenses/LICENSE", n) for n in wheel_names)
    assert "LICENSE" in sdist_names


def test_the_wheel_is_small():
    """Extension modules built without debug info: the wheel stays <= 1.5 MB."""
    path = _find("cgru-*.whl", "CGRU_WHEEL")
    assert path.stat().st_size <= 1.5e6, f"{path.name}: {path.stat().st_size / 1e6:.2f} MB"
