"""The C API's thread count: cgru_model.num_threads, set by model_get from the
calling Python thread's cgru.get_num_threads(), read by model_sequence; a C
caller's answers are the Python API's, for every thread count."""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

import cgru

MODULE = r"""
#define PY_SSIZE_T_CLEAN
#include "cgru.h"
#include <stdlib.h>

/* run(model, x (T, N, I) float32, h (L, N, H), y (T, N, H), nthreads):
   (num_threads as model_get set it, model_sequence's return value);
   nthreads < 0 keeps model_get's value */
static PyObject *run(PyObject *self, PyObject *args)
{
    PyObject *model, *xo, *ho, *yo;
    int nthreads, got, rc = -2;
    cgru_model m;
    Py_buffer x, h, y;
    float *work;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOi", &model, &xo, &ho, &yo, &nthreads))
        return NULL;
    if (cgru_capi->model_get(model, &m) < 0)
        return NULL;
    got = m.num_threads;
    if (nthreads >= 0)
        m.num_threads = nthreads;
    if (PyObject_GetBuffer(xo, &x, PyBUF_C_CONTIGUOUS | PyBUF_ND) < 0)
        goto done;
    if (PyObject_GetBuffer(ho, &h, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0)
        goto release_x;
    if (PyObject_GetBuffer(yo, &y, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0)
        goto release_h;
    work = malloc(sizeof(float) * (size_t)cgru_capi->model_workspace(&m, x.shape[0], x.shape[1]));
    if (work != NULL) {
        Py_BEGIN_ALLOW_THREADS
        rc = cgru_capi->model_sequence_f32(&m, x.shape[0], x.shape[1], 0, x.buf, h.buf, y.buf,
                                           NULL, work);
        Py_END_ALLOW_THREADS
        free(work);
    }
    PyBuffer_Release(&y);
release_h:
    PyBuffer_Release(&h);
release_x:
    PyBuffer_Release(&x);
done:
    cgru_capi->model_release(&m);
    if (PyErr_Occurred())
        return NULL;
    return Py_BuildValue("ii", got, rc);
}

static PyMethodDef methods[] = {{"run", run, METH_VARARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "capi_threads", NULL, -1, methods};
PyMODINIT_FUNC PyInit_capi_threads(void)
{
    if (cgru_import() < 0)
        return NULL;
    return PyModule_Create(&def);
}
"""


@pytest.fixture(scope="module")
def ext(tmp_path_factory):
    root = tmp_path_factory.mktemp("capi_threads")
    (root / "capi_threads.c").write_text(MODULE)
    (root / "setup.py").write_text(
        "from setuptools import Extension, setup\n"
        f"setup(name='capi_threads', ext_modules=[Extension('capi_threads', ['capi_threads.c'], "
        f"include_dirs=[{cgru.get_include()!r}])])\n")
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
                          cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [path] = [p for p in root.iterdir() if p.name.startswith("capi_threads.")
              and p.suffix in (".so", ".pyd")]
    spec = importlib.util.spec_from_file_location("capi_threads", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("I,H,N,T", [(256, 256, 16, 12), (128, 512, 1, 6), (16, 24, 3, 5)])
def test_num_threads_from_model_get_and_identical_answers(ext, rng, I, H, N, T):
    g = cgru.GRU(I, H, 2)
    x = rng.standard_normal((T, N, I)).astype(np.float32)
    y_py, h_py = g(x)
    for n in (1, 3):
        with cgru.threads(n):
            h = np.zeros((2, N, H), np.float32)
            y = np.empty((T, N, H), np.float32)
            assert ext.run(g, x, h, y, -1) == (n, 0)        # model_get's num_threads
        np.testing.assert_array_equal(y, y_py)
        np.testing.assert_array_equal(h, h_py)
    for n in (0, 2, 4):                                      # the caller's own choice
        h = np.zeros((2, N, H), np.float32)
        y = np.empty((T, N, H), np.float32)
        assert ext.run(g, x, h, y, n)[1] == 0
        np.testing.assert_array_equal(y, y_py)
        np.testing.assert_array_equal(h, h_py)
