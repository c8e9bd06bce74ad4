/*
 * A plain-C extension module that runs a cgru model through the C API
 * (cgru.h + the cgru._C_API capsule), with the GIL released around the kernels.
 *
 *   run_sequence(model, x, h, y[, by_hand])  whole sequences (model_sequence)
 *   run_steps(model, x, h, y[, by_hand])     the same, one time step at a time (model_step)
 *       model: a unidirectional cgru.GRU (or GRUCell / Stream)
 *       x (T, N, I) C-contiguous, the model's dtype (float32 or float64)
 *       h (num_layers, N, H) writable: in h0, out h_n
 *       y (T, N, H) writable: out, the top layer's outputs
 *       by_hand (optional, default False): run on layer structs filled here
 *       field by field from a zero-initialized struct (= {0}), the way a C
 *       caller with its own weights does: the optional packed-weight fields
 *       stay NULL and the kernels use w_ih / w_hh directly
 *   run_split(model, x, h, y[, by_hand])     run_sequence through input_projection
 *                                 then recurrence (the two halves of sequence)
 *   activate(kind, alpha, beta, x)   x (float32/float64 array) activated in place
 *   bench_step(model, n_steps)    seconds per N=1 step (all layers), timed in C
 *   packed(model)                 [(w_hh_packed != NULL, w_ih_packed != NULL)] per layer
 *   abi_version(), api_size(), check_api(abi_version, size)   for cgru's tests
 *
 * Build: python setup.py build_ext --inplace   (include dir: cgru.get_include())
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <stdlib.h>
#ifdef _WIN32
#include <windows.h>
#else
#include <time.h>
#endif

#include "cgru.h"

/* ---------------------------------------------------------------- kernels */

/* whole sequence, all layers: one call (work: model_workspace(m, T, N)) */
static void run_sequence_nogil(const cgru_model *m, Py_ssize_t T, Py_ssize_t N,
                               const char *x, char *h, char *y, char *work)
{
    if (m->itemsize == 4)
        cgru_capi->model_sequence_f32(m, T, N, 0, (const float *)x, (float *)h, (float *)y,
                                      NULL, (float *)work);
    else
        cgru_capi->model_sequence_f64(m, T, N, 0, (const double *)x, (double *)h,
                                      (double *)y, NULL, (double *)work);
}

/* the same layer by layer, in the two halves of a sequence: input_projection
 * into the first 3*T*N*H elements of work, then recurrence with the rest of it
 * as scratch; layer l reads x (l == 0) or y (the layer below: all its rows are
 * projected before y is written, so y can be input and output) */
static void run_split_nogil(const cgru_model *m, Py_ssize_t T, Py_ssize_t N,
                            const char *x, char *h, char *y, char *work)
{
    Py_ssize_t H = m->hidden_size, sz = m->itemsize;
    int l;
    for (l = 0; l < m->num_layers; l++) {
        Py_ssize_t ldx = l == 0 ? m->input_size : H;
        const char *in = l == 0 ? x : y;
        char *hl = h + l * N * H * sz, *rest = work + 3 * T * N * H * sz;
        if (sz == 4) {
            cgru_capi->input_projection_f32(&m->layers_f32[l], T * N, (const float *)in, ldx,
                                            (float *)work);
            cgru_capi->recurrence_f32(&m->layers_f32[l], T, N, 0, (const float *)work,
                                      (float *)hl, (float *)y, H, NULL, 0, (float *)rest);
        } else {
            cgru_capi->input_projection_f64(&m->layers_f64[l], T * N, (const double *)in, ldx,
                                            (double *)work);
            cgru_capi->recurrence_f64(&m->layers_f64[l], T, N, 0, (const double *)work,
                                      (double *)hl, (double *)y, H, NULL, 0, (double *)rest);
        }
    }
}

/* a stream of single steps: each step runs all layers, the top state is y[t] */
static void run_steps_nogil(const cgru_model *m, Py_ssize_t T, Py_ssize_t N,
                            const char *x, char *h, char *y, char *work)
{
    Py_ssize_t H = m->hidden_size, I = m->input_size, sz = m->itemsize, t;
    for (t = 0; t < T; t++) {
        if (sz == 4)
            cgru_capi->model_step_f32(m, N, (const float *)(x + t * N * I * sz), (float *)h,
                                      (float *)(y + t * N * H * sz), (float *)work);
        else
            cgru_capi->model_step_f64(m, N, (const double *)(x + t * N * I * sz), (double *)h,
                                      (double *)(y + t * N * H * sz), (double *)work);
    }
}

/* ------------------------------------------------------- Python wrappers */

static int get_buffer(PyObject *obj, Py_buffer *view, const char *name, int writable,
                      const cgru_model *m, Py_ssize_t d1, Py_ssize_t d2)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0)
        return -1;
    char want = m->itemsize == 4 ? 'f' : 'd';
    if (view->ndim != 3 || view->itemsize != m->itemsize || view->format == NULL
        || view->format[0] != want || view->format[1] != '\0'
        || (d1 >= 0 && view->shape[1] != d1) || view->shape[2] != d2) {
        PyErr_Format(PyExc_ValueError, "%s must be a 3-D C-contiguous %s array with last "
                     "dimension %zd", name, m->itemsize == 4 ? "float32" : "float64", d2);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* Copy the model's layer structs the way a caller that fills them itself does:
 * start from {0}, set the documented fields, leave the optional ones NULL. */
#define FILL_BY_HAND(TYPE, FIELD)                                                \
    do {                                                                         \
        TYPE *a = calloc((size_t)n, sizeof(TYPE));                               \
        if (a == NULL) return -1;                                                \
        for (l = 0; l < n; l++) {                                                \
            TYPE L = {0};                                                        \
            L.cell = m->FIELD[l].cell;                                           \
            L.w_ih = m->FIELD[l].w_ih;                                           \
            L.w_hh = m->FIELD[l].w_hh;                                           \
            L.b_x = m->FIELD[l].b_x;                                             \
            L.b_hn = m->FIELD[l].b_hn;                                           \
            a[l] = L;                                                            \
        }                                                                        \
        m->FIELD = a;                                                            \
        *own = a;                                                                \
    } while (0)

static int fill_by_hand(cgru_model *m, void **own)
{
    Py_ssize_t l, n = (Py_ssize_t)m->num_layers * m->num_directions;
    if (m->itemsize == 4)
        FILL_BY_HAND(cgru_layer_f32, layers_f32);
    else
        FILL_BY_HAND(cgru_layer_f64, layers_f64);
    return 0;
}

/* mode 0: sequence, 1: steps, 2: sequence as input_projection + recurrence */
static PyObject *run(PyObject *args, PyObject *kwargs, int mode)
{
    static char *kwlist[] = {"model", "x", "h", "y", "by_hand", NULL};
    PyObject *model, *xo, *ho, *yo, *result = NULL;
    Py_buffer x = {0}, h = {0}, y = {0};
    cgru_model m, mh;
    Py_ssize_t T, N, H, nwork;
    char *work;
    void *own = NULL;
    int by_hand = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOO|p", kwlist, &model, &xo, &ho, &yo,
                                     &by_hand))
        return NULL;
    if (cgru_capi->model_get(model, &m) < 0)
        return NULL;
    mh = m;    /* the structs run; m keeps what model_release needs */
    if (by_hand && fill_by_hand(&mh, &own) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    if (m.num_directions != 1) {
        PyErr_SetString(PyExc_ValueError, "this example runs unidirectional models only");
        goto done;
    }
    if (get_buffer(xo, &x, "x", 0, &m, -1, m.input_size) < 0)
        goto done;
    T = x.shape[0];
    N = x.shape[1];
    H = m.hidden_size;
    if (get_buffer(ho, &h, "h", 1, &m, N, H) < 0 || get_buffer(yo, &y, "y", 1, &m, N, H) < 0)
        goto done;
    if (h.shape[0] != m.num_layers || y.shape[0] != T) {
        PyErr_SetString(PyExc_ValueError, "h must be (num_layers, N, H) and y (T, N, H)");
        goto done;
    }
    nwork = cgru_capi->model_workspace(&m, T, N);   /* one buffer for every layer */
    work = malloc((size_t)(nwork > 0 ? nwork : 1) * (size_t)m.itemsize);
    if (work == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    if (mode == 0)
        run_sequence_nogil(&mh, T, N, x.buf, h.buf, y.buf, work);
    else if (mode == 1)
        run_steps_nogil(&mh, T, N, x.buf, h.buf, y.buf, work);
    else
        run_split_nogil(&mh, T, N, x.buf, h.buf, y.buf, work);
    Py_END_ALLOW_THREADS
    free(work);
    result = Py_NewRef(Py_None);
done:
    free(own);
    if (x.obj) PyBuffer_Release(&x);
    if (h.obj) PyBuffer_Release(&h);
    if (y.obj) PyBuffer_Release(&y);
    cgru_capi->model_release(&m);
    return result;
}

static PyObject *py_run_sequence(PyObject *self, PyObject *args, PyObject *kw)
{
    return run(args, kw, 0);
}
static PyObject *py_run_steps(PyObject *self, PyObject *args, PyObject *kw)
{
    return run(args, kw, 1);
}
static PyObject *py_run_split(PyObject *self, PyObject *args, PyObject *kw)
{
    return run(args, kw, 2);
}

/* activate(kind, alpha, beta, x): x, a writable contiguous float32 or float64
 * buffer, replaced by the activation of its elements (out == x) */
static PyObject *py_activate(PyObject *self, PyObject *args)
{
    int kind;
    double alpha, beta;
    PyObject *xo;
    Py_buffer x;
    if (!PyArg_ParseTuple(args, "iddO", &kind, &alpha, &beta, &xo))
        return NULL;
    if (PyObject_GetBuffer(xo, &x, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0)
        return NULL;
    if (x.format == NULL || x.format[1] != '\0' || (x.format[0] != 'f' && x.format[0] != 'd')) {
        PyBuffer_Release(&x);
        PyErr_SetString(PyExc_TypeError, "x must be a float32 or float64 array");
        return NULL;
    }
    if (x.format[0] == 'f')
        cgru_capi->activate_f32(kind, alpha, beta, (const float *)x.buf, (float *)x.buf,
                                x.len / 4);
    else
        cgru_capi->activate_f64(kind, alpha, beta, (const double *)x.buf, (double *)x.buf,
                                x.len / 8);
    PyBuffer_Release(&x);
    Py_RETURN_NONE;
}

static double now_seconds(void)
{
#ifdef _WIN32
    LARGE_INTEGER f, c;
    QueryPerformanceFrequency(&f);
    QueryPerformanceCounter(&c);
    return (double)c.QuadPart / (double)f.QuadPart;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#endif
}

/* bench_step(model, n_steps) -> seconds per step, batch 1, all layers */
static PyObject *py_bench_step(PyObject *self, PyObject *args)
{
    PyObject *model;
    Py_ssize_t n, i, k;
    cgru_model m;
    if (!PyArg_ParseTuple(args, "On", &model, &n))
        return NULL;
    if (n < 1) {
        PyErr_SetString(PyExc_ValueError, "n_steps must be >= 1");
        return NULL;
    }
    if (cgru_capi->model_get(model, &m) < 0)
        return NULL;
    Py_ssize_t I = m.input_size, H = m.hidden_size, sz = m.itemsize;
    char *x = calloc((size_t)I, (size_t)sz), *h = calloc((size_t)(m.num_layers * H), (size_t)sz);
    char *work = calloc((size_t)cgru_capi->model_workspace(&m, 0, 1), (size_t)sz);
    if (x == NULL || h == NULL || work == NULL) {
        free(x); free(h); free(work);
        cgru_capi->model_release(&m);
        return PyErr_NoMemory();
    }
    for (k = 0; k < I; k++) {           /* a fixed input in [-1, 1] */
        double v = (double)((k * 37) % 101) / 50.0 - 1.0;
        if (sz == 4) ((float *)x)[k] = (float)v; else ((double *)x)[k] = v;
    }
    double t0, t1;
    Py_BEGIN_ALLOW_THREADS
    t0 = now_seconds();
    for (i = 0; i < n; i++) {
        if (sz == 4)
            cgru_capi->model_step_f32(&m, 1, (const float *)x, (float *)h, NULL, (float *)work);
        else
            cgru_capi->model_step_f64(&m, 1, (const double *)x, (double *)h, NULL,
                                      (double *)work);
    }
    t1 = now_seconds();
    Py_END_ALLOW_THREADS
    free(x); free(h); free(work);
    cgru_capi->model_release(&m);
    return PyFloat_FromDouble((t1 - t0) / (double)n);
}

/* ------------------------------------------------------- for cgru's tests */

/* packed(model) -> [(w_hh_packed != NULL, w_ih_packed != NULL)] per layer struct */
static PyObject *py_packed(PyObject *self, PyObject *model)
{
    cgru_model m;
    Py_ssize_t l, n;
    PyObject *out;
    if (cgru_capi->model_get(model, &m) < 0)
        return NULL;
    n = (Py_ssize_t)m.num_layers * m.num_directions;
    out = PyList_New(n);
    for (l = 0; out != NULL && l < n; l++) {
        int hh = m.itemsize == 4 ? m.layers_f32[l].w_hh_packed != NULL
                                 : m.layers_f64[l].w_hh_packed != NULL;
        int ih = m.itemsize == 4 ? m.layers_f32[l].w_ih_packed != NULL
                                 : m.layers_f64[l].w_ih_packed != NULL;
        PyObject *t = Py_BuildValue("(OO)", hh ? Py_True : Py_False, ih ? Py_True : Py_False);
        if (t == NULL) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, l, t);
    }
    cgru_capi->model_release(&m);
    return out;
}

static PyObject *py_abi_version(PyObject *self, PyObject *unused)
{
    return PyLong_FromLong(CGRU_ABI_VERSION);
}

static PyObject *py_api_size(PyObject *self, PyObject *unused)
{
    return PyLong_FromSize_t(sizeof(cgru_api));
}

/* check_api(abi_version, size): cgru_check_api on the imported table */
static PyObject *py_check_api(PyObject *self, PyObject *args)
{
    int abi;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "in", &abi, &size))
        return NULL;
    if (cgru_check_api(cgru_capi, abi, (size_t)size) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"run_sequence", (PyCFunction)(void (*)(void))py_run_sequence, METH_VARARGS | METH_KEYWORDS,
     "run_sequence(model, x, h, y, by_hand=False)"},
    {"run_steps", (PyCFunction)(void (*)(void))py_run_steps, METH_VARARGS | METH_KEYWORDS,
     "run_steps(model, x, h, y, by_hand=False)"},
    {"run_split", (PyCFunction)(void (*)(void))py_run_split, METH_VARARGS | METH_KEYWORDS,
     "run_split(model, x, h, y, by_hand=False): input_projection + recurrence"},
    {"activate", py_activate, METH_VARARGS, "activate(kind, alpha, beta, x): x in place"},
    {"packed", py_packed, METH_O, "packed(model) -> [(w_hh_packed, w_ih_packed) set?]"},
    {"bench_step", py_bench_step, METH_VARARGS, "bench_step(model, n_steps) -> s/step"},
    {"abi_version", py_abi_version, METH_NOARGS, "CGRU_ABI_VERSION of cgru.h"},
    {"api_size", py_api_size, METH_NOARGS, "sizeof(cgru_api) in cgru.h"},
    {"check_api", py_check_api, METH_VARARGS, "check_api(abi_version, size)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "cgru_c_consumer", "A plain-C cgru consumer.", -1, methods,
};

PyMODINIT_FUNC PyInit_cgru_c_consumer(void)
{
    if (cgru_import() < 0)
        return NULL;
    return PyModule_Create(&module);
}
