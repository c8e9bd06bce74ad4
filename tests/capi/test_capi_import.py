"""cgru_import() in a C module's init (and cgru_check_abi() in a Cython one), against headers that differ from the
installed cgru the ways a stale or future extension does: the import must fail
with a clear ImportError (ABI version, table size, struct sizes), and succeed
with the shipped header."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import cgru
from conftest import need

MODULE = """
#include "cgru.h"
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "NAME", NULL, -1, NULL};
PyMODINIT_FUNC PyInit_NAME(void)
{
    if (cgru_import() < 0)
        return NULL;
    return PyModule_Create(&def);
}
"""

# header edits: (old, new) applied to the shipped cgru.h
VARIANTS = {
    "same": None,
    "abi": ("#define CGRU_ABI_VERSION 2", "#define CGRU_ABI_VERSION 3"),
    "table": ("} cgru_api;", "    void (*a_later_function)(void);\n} cgru_api;"),
    "struct": ("} cgru_cell;", "    double a_later_field;\n} cgru_cell;"),
}
ERRORS = {
    "abi": "ABI version 2, this extension was compiled for version 3; rebuild",
    "table": "this extension needs .*; upgrade cgru",
    "struct": r"struct sizes differ between cgru.h and the installed cgru \(cgru_cell",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("capi_import")
    header = Path(cgru.get_include(), "cgru.h").read_text()
    exts = []
    for name, edit in VARIANTS.items():
        inc = root / f"inc_{name}"
        inc.mkdir()
        text = header
        if edit:
            assert edit[0] in text, edit
            text = text.replace(edit[0], edit[1])
        (inc / "cgru.h").write_text(text)
        (root / f"m_{name}.c").write_text(MODULE.replace("NAME", f"m_{name}"))
        exts.append(f"Extension('m_{name}', ['m_{name}.c'], include_dirs=[{str(inc)!r}])")
    _build(root, "from setuptools import Extension, setup\n"
                 f"setup(name='capi_import', ext_modules=[{', '.join(exts)}])\n")
    return root


def _build(root, setup_py):
    (root / "setup.py").write_text(setup_py)
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
                          cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _import(root, name, prefix="m"):
    [path] = [p for p in root.iterdir()
              if p.name.startswith(f"{prefix}_{name}.") and p.suffix in (".so", ".pyd")]
    spec = importlib.util.spec_from_file_location(f"{prefix}_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_shipped_header_imports(built):
    assert _import(built, "same").__name__ == "m_same"


@pytest.mark.parametrize("name", ["abi", "table", "struct"])
def test_mismatched_header_fails_to_import(built, name):
    with pytest.raises(ImportError, match=ERRORS[name]):
        _import(built, name)


# ---------------------------------------------------------------- Cython side
# An extension cimporting cgru calls cgru_check_abi() (capi.pxd) at import;
# compiled against another cgru.h (the .pxd files' structs are extern from it),
# with another ABI version or struct layout, it must refuse to load.
PXD_VARIANTS = {
    "same": None,
    "abi": VARIANTS["abi"],
    "struct": VARIANTS["struct"],
}
PXD_ERRORS = {
    "abi": ERRORS["abi"],
    "struct": "struct sizes differ between the cgru.h this extension was compiled with .* rebuild",
}
PYX = """
from cgru.capi cimport cgru_check_abi
cgru_check_abi()
"""


@pytest.fixture(scope="module")
def built_cython(tmp_path_factory):
    need("Cython")
    root = tmp_path_factory.mktemp("capi_import_cython")
    pkg = Path(cgru.__file__).resolve().parent
    for name, edit in PXD_VARIANTS.items():
        # one build per variant: Cython caches where it found a cimported .pxd
        inc = root / f"inc_{name}" / "cgru"
        (inc / "include").mkdir(parents=True)
        (inc / "__init__.pxd").write_text("")
        for rel in ("kernels.pxd", "capi.pxd", "include/cgru.h"):
            text = (pkg / rel).read_text()
            if edit and rel == "include/cgru.h":
                assert edit[0] in text, edit
                text = text.replace(edit[0], edit[1], 1)
            (inc / rel).write_text(text)
        (root / f"c_{name}.pyx").write_text(PYX)
        _build(root, "from Cython.Build import cythonize\nfrom setuptools import Extension, setup\n"
                     f"setup(name='c_{name}', ext_modules=cythonize([Extension('c_{name}', "
                     f"['c_{name}.pyx'])], include_path=[{str(inc.parent)!r}], "
                     f"language_level=3))\n")
    return root


def test_cython_same_pxd_imports(built_cython):
    assert _import(built_cython, "same", "c").__name__ == "c_same"


@pytest.mark.parametrize("name", ["abi", "struct"])
def test_cython_mismatched_pxd_fails_to_import(built_cython, name):
    with pytest.raises(ImportError, match=PXD_ERRORS[name]):
        _import(built_cython, name, "c")
