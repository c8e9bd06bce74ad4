"""Build: cythonize pyx/ into cgru.* extension modules, directives set once."""
import os
import re
import struct
import sys
import sysconfig

import numpy as np
from Cython import __version__ as cython_version
from Cython.Build import cythonize
from setuptools import Extension, setup

# CGRU_DEBUG=1 turns bounds checks back on (and drops optimisation) for debugging.
DEBUG = os.environ.get("CGRU_DEBUG", "") not in ("", "0")

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "nonecheck": False,
    "embedsignature": True,
}
# Cython >= 3.1 knows free-threaded CPython (the default, False, is said
# explicitly); 3.0 (pyproject's minimum 3.0.8, Debian 13's 3.0.11) rejects the name.
if tuple(int(p) for p in re.findall(r"\d+", cython_version)[:2]) >= (3, 1):
    directives["freethreading_compatible"] = False

if sys.platform == "win32":
    cflags = [] if DEBUG else ["/O2"]
else:
    # -g0: no debug info in the shipped modules (Python's own CFLAGS carry -g):
    # the wheel's .so files are a fifth of the size
    cflags = ["-O0", "-g"] if DEBUG else ["-O3", "-g0"]
    cflags += ["-fno-math-errno", "-fno-trapping-math", "-Wno-unused-function"]

macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]


def x86_64_target(environ=os.environ, host_platform=None, sys_platform=sys.platform):
    """True when this build compiles for x86-64 (only): the machine the code is
    compiled FOR, not the one running setup.py.  Cross builds say so in
    _PYTHON_HOST_PLATFORM (read by sysconfig.get_platform()) and, on macOS, in
    ARCHFLAGS: cibuildwheel's arm64 and universal2 wheels made on an Intel Mac
    must not get -mavx2 (clang rejects it for arm64)."""
    arches = []
    if sys_platform == "darwin":
        arches = re.findall(r"-arch\s+(\S+)", environ.get("ARCHFLAGS", ""))
    if not arches:
        plat = host_platform or sysconfig.get_platform()
        arches = ["arm64", "x86_64"] if plat.endswith("universal2") else [plat.rsplit("-", 1)[-1]]
    return (struct.calcsize("P") == 8
            and all(a.lower() in ("x86_64", "amd64") for a in arches))


INCLUDE = [np.get_include(), "pyx", "src/cgru"]     # pyx/c/*.h, include/cgru.h
THREAD_FLAGS = [] if sys.platform == "win32" else ["-pthread"]
# the reduced-precision kernels (plain C; their SIMD paths are chosen at run time,
# docs/weights.md): in every core build, in cgru.kernels (workspace sizes) and in
# cgru._compiled (the packer)
LOWP = ["pyx/c/lowp.c", "pyx/c/lowp_avx2.c", "pyx/c/lowp_avx512.c"]


def ext(name, source, flags=(), lowp=False):
    return Extension(name, [source] + (LOWP if lowp else []), include_dirs=INCLUDE,
                     define_macros=macros, extra_compile_args=cflags + list(flags))


extensions = [
    # the thread pool (one per process) lives with the dispatching entry points
    Extension("cgru.kernels", ["pyx/kernels.pyx", "pyx/c/pool.c"] + LOWP, include_dirs=INCLUDE,
              define_macros=macros, extra_compile_args=cflags + THREAD_FLAGS,
              extra_link_args=THREAD_FLAGS),
    ext("cgru._compiled", "pyx/_compiled.pyx", lowp=True),
    ext("cgru.capi", "pyx/capi.pyx"),
    ext("cgru._core_baseline", "pyx/_core_baseline.pyx", lowp=True),
]
# x86-64 with GCC/Clang: the kernel core again for AVX2+FMA and for AVX-512
# (x86-64-v4); cgru.kernels picks the best the CPU runs at import
# (cgru.kernels.isa()).  Other platforms run the baseline build.
VARIANTS = {
    "avx2": ["-mavx2", "-mfma"],
    "avx512": ["-mavx2", "-mfma", "-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl"],
}
if sys.platform != "win32" and not DEBUG and x86_64_target():
    for isa, flags in VARIANTS.items():
        extensions.append(ext(f"cgru._core_{isa}", f"pyx/_core_{isa}.pyx", flags, lowp=True))

setup(
    ext_modules=cythonize(extensions, include_path=["src"], compiler_directives=directives,
                          annotate=os.environ.get("CGRU_ANNOTATE", "") not in ("", "0")),
)
