"""Build: cythonize pyx/ into cgru.* extension modules, directives set once."""
import os
import platform
import sys

import numpy as np
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
    "freethreading_compatible": False,
}

if sys.platform == "win32":
    cflags = [] if DEBUG else ["/O2"]
else:
    cflags = ["-O0", "-g"] if DEBUG else ["-O3"]
    cflags += ["-fno-math-errno", "-fno-trapping-math", "-Wno-unused-function"]

macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]


def ext(name, source):
    return Extension(name, [source], include_dirs=[np.get_include()],
                     define_macros=macros, extra_compile_args=cflags)


extensions = [
    ext("cgru.kernels", "pyx/kernels.pyx"),
    ext("cgru._binding", "pyx/_binding.pyx"),
]
# x86-64 with GCC/Clang: the kernels once more with AVX2+FMA, chosen at import
# when the CPU has them (cgru.kernels.isa()); other CPUs run the baseline build.
if (sys.platform != "win32" and not DEBUG
        and platform.machine().lower() in ("x86_64", "amd64")):
    extensions.append(Extension(
        "cgru._kernels_avx2", ["pyx/_kernels_avx2.pyx"], include_dirs=[np.get_include()],
        define_macros=macros + [("CGRU_VARIANT", "1")],
        extra_compile_args=cflags + ["-mavx2", "-mfma"]))

setup(
    ext_modules=cythonize(extensions, include_path=["src"], compiler_directives=directives,
                          annotate=os.environ.get("CGRU_ANNOTATE", "") not in ("", "0")),
)
