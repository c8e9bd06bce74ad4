"""Build the Cython cgru consumer:  python setup.py build_ext --inplace

``cimport cgru.kernels`` / ``cgru.capi`` needs cgru's .pxd files, which the
cgru wheel ships next to its modules: the folder holding the cgru package goes
on Cython's include path.  Nothing links against cgru; the kernels are looked
up when the module is imported."""
import os

import cgru
from Cython.Build import cythonize
from setuptools import Extension, setup

cgru_parent = os.path.dirname(os.path.dirname(os.path.abspath(cgru.__file__)))

setup(
    name="cgru-cython-consumer",
    ext_modules=cythonize([Extension("cgru_cython_consumer", ["cgru_cython_consumer.pyx"])],
                          include_path=[cgru_parent],
                          compiler_directives={"language_level": 3, "boundscheck": False,
                                               "wraparound": False}),
)
