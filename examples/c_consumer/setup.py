"""Build the plain-C cgru consumer:  python setup.py build_ext --inplace

Needs only cgru (for its header) and a C compiler: the kernels are reached at
run time through the cgru._C_API capsule, so nothing links against cgru."""
import cgru
from setuptools import Extension, setup

setup(
    name="cgru-c-consumer",
    ext_modules=[Extension("cgru_c_consumer", ["cgru_c_consumer.c"],
                           include_dirs=[cgru.get_include()])],
)
