/*
 * A plain-C extension module that runs a cgru model through the C API
 * (cgru.h + the cgru._C_API capsule), with the GIL released around the kernels.
 *
 *   run_sequence(model, x, h, y[, by_hand])  whole sequences, layer after layer
 *   run_steps(model, x, h, y[, by_hand])     the same, one time step at a time
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
 *   layout(), abi_version(), check_api(abi_version, size)   for cgru's tests
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

/* one step of layer l for N samples: x rows ldx apart, h (N, H) in place */
static void step_layer(const cgru_model *m, int l, Py_ssize_t N, const char *x,
                       Py_ssize_t ldx, char *h, char *work)
{
    if (m->itemsize == 4)
        cgru_capi->step_f32(&m->layers_f32[l], N, (const float *)x, ldx, (float *)h,
                            (float *)work);
    else
        cgru_capi->step_f64(&m->layers_f64[l], N, (const double *)x, ldx, (double *)h,
                            (double *)work);
}

/* whole sequence: layer l reads x (l == 0) or y (the layer below; the kernel
 * projects all its input rows before writing y, so y can be input and output).
 * split: the same in the two halves, input_projection into the first 3*T*N*H
 * elements of work, then recurrence with the rest of it as scratch. */
static void run_sequence_nogil(const cgru_model *m, Py_ssize_t T, Py_ssize_t N,
                               const char *x, char *h, char *y, char *work, int split)
{
    Py_ssize_t H = m->hidden_size, sz = m->itemsize;
    int l;
    for (l = 0; l < m->num_layers; l++) {
        Py_ssize_t ldx = l == 0 ? m->input_size : H;
        const char *in = l == 0 ? x : y;
        char *hl = h + l * N * H * sz, *rest = work + 3 * T * N * H * sz;
        if (split && sz == 4) {
            cgru_capi->input_projection_f32(&m->layers_f32[l], T * N, (const float *)in, ldx,
                                            (float *)work);
            cgru_capi->recurrence_f32(&m->layers_f32[l], T, N, 0, (const float *)work,
                                      (float *)hl, (float *)y, H, NULL, 0, (float *)rest);
        } else if (split) {
            cgru_capi->input_projection_f64(&m->layers_f64[l], T * N, (const double *)in, ldx,
                                            (double *)work);
            cgru_capi->recurrence_f64(&m->layers_f64[l], T, N, 0, (const double *)work,
                                      (double *)hl, (double *)y, H, NULL, 0, (double *)rest);
        } else if (sz == 4)
            cgru_capi->sequence_f32(&m->layers_f32[l], T, N, 0, (const float *)in, ldx,
                                    (float *)hl, (float *)y, H, NULL, 0, (float *)work);
        else
            cgru_capi->sequence_f64(&m->layers_f64[l], T, N, 0, (const double *)in, ldx,
                                    (double *)hl, (double *)y, H, NULL, 0, (double *)work);
    }
}

/* a stream of single steps: each step runs all layers, the top state is y[t] */
static void run_steps_nogil(const cgru_model *m, Py_ssize_t T, Py_ssize_t N,
                            const char *x, char *h, char *y, char *work)
{
    Py_ssize_t H = m->hidden_size, I = m->input_size, sz = m->itemsize, t;
    int l, L = m->num_layers;
    for (t = 0; t < T; t++) {
        step_layer(m, 0, N, x + t * N * I * sz, I, h, work);
        for (l = 1; l < L; l++)
            step_layer(m, l, N, h + (l - 1) * N * H * sz, H, h + l * N * H * sz, work);
        memcpy(y + t * N * H * sz, h + (L - 1) * N * H * sz, (size_t)(N * H * sz));
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
static PyObject *run(PyObject *args, int mode)
{
    PyObject *model, *xo, *ho, *yo, *result = NULL;
    Py_buffer x = {0}, h = {0}, y = {0};
    cgru_model m, mh;
    Py_ssize_t T, N, H, l, nwork = 0;
    char *work;
    void *own = NULL;
    int by_hand = 0;
    if (!PyArg_ParseTuple(args, "OOOO|p", &model, &xo, &ho, &yo, &by_hand))
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
    for (l = 0; l < m.num_layers; l++) {
        const cgru_cell *c = m.itemsize == 4 ? &m.layers_f32[l].cell : &m.layers_f64[l].cell;
        Py_ssize_t w = mode == 1 ? cgru_capi->step_workspace(c, N)
                                 : cgru_capi->sequence_workspace(c, T, N);
        if (w > nwork)
            nwork = w;
    }
    work = malloc((size_t)(nwork > 0 ? nwork : 1) * (size_t)m.itemsize);
    if (work == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    if (mode == 1)
        run_steps_nogil(&mh, T, N, x.buf, h.buf, y.buf, work);
    else
        run_sequence_nogil(&mh, T, N, x.buf, h.buf, y.buf, work, mode == 2);
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

static PyObject *py_run_sequence(PyObject *self, PyObject *args) { return run(args, 0); }
static PyObject *py_run_steps(PyObject *self, PyObject *args) { return run(args, 1); }
static PyObject *py_run_split(PyObject *self, PyObject *args) { return run(args, 2); }

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
    const cgru_cell *c = sz == 4 ? &m.layers_f32[0].cell : &m.layers_f64[0].cell;
    char *x = calloc((size_t)I, (size_t)sz), *h = calloc((size_t)(m.num_layers * H), (size_t)sz);
    char *work = calloc((size_t)cgru_capi->step_workspace(c, 1), (size_t)sz);
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
        step_layer(&m, 0, 1, x, I, h, work);
        for (k = 1; k < m.num_layers; k++)
            step_layer(&m, (int)k, 1, h + (k - 1) * H * sz, H, h + k * H * sz, work);
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

#define FIELD(dict, type, field) \
    if (add(dict, #field, offsetof(type, field)) < 0) goto fail;

static int add(PyObject *d, const char *key, size_t value)
{
    PyObject *v = PyLong_FromSize_t(value);
    int r = v == NULL ? -1 : PyDict_SetItemString(d, key, v);
    Py_XDECREF(v);
    return r;
}

static PyObject *struct_dict(PyObject *all, const char *name, size_t size)
{
    PyObject *d = PyDict_New();
    if (d == NULL || add(d, "sizeof", size) < 0 || PyDict_SetItemString(all, name, d) < 0) {
        Py_XDECREF(d);
        return NULL;
    }
    Py_DECREF(d);   /* borrowed from here on: ``all`` holds it */
    return d;
}

/* layout() -> {struct: {"sizeof": n, field: offset}} as declared in cgru.h */
static PyObject *py_layout(PyObject *self, PyObject *unused)
{
    PyObject *all = PyDict_New(), *d;
    if (all == NULL) return NULL;
    if (!(d = struct_dict(all, "cgru_cell", sizeof(cgru_cell)))) goto fail;
    FIELD(d, cgru_cell, input_size) FIELD(d, cgru_cell, hidden_size)
    FIELD(d, cgru_cell, reset_after) FIELD(d, cgru_cell, f_kind) FIELD(d, cgru_cell, f_alpha)
    FIELD(d, cgru_cell, f_beta) FIELD(d, cgru_cell, g_kind) FIELD(d, cgru_cell, g_alpha)
    FIELD(d, cgru_cell, g_beta) FIELD(d, cgru_cell, clip)
    if (!(d = struct_dict(all, "cgru_layer_f32", sizeof(cgru_layer_f32)))) goto fail;
    FIELD(d, cgru_layer_f32, cell) FIELD(d, cgru_layer_f32, w_ih) FIELD(d, cgru_layer_f32, w_hh)
    FIELD(d, cgru_layer_f32, b_x) FIELD(d, cgru_layer_f32, b_hn)
    FIELD(d, cgru_layer_f32, w_hh_packed) FIELD(d, cgru_layer_f32, w_ih_packed)
    FIELD(d, cgru_layer_f32, weight_format) FIELD(d, cgru_layer_f32, reserved)
    FIELD(d, cgru_layer_f32, w_hh_q) FIELD(d, cgru_layer_f32, w_ih_q)
    FIELD(d, cgru_layer_f32, w_hh_scale) FIELD(d, cgru_layer_f32, w_ih_scale)
    if (!(d = struct_dict(all, "cgru_layer_f64", sizeof(cgru_layer_f64)))) goto fail;
    FIELD(d, cgru_layer_f64, cell) FIELD(d, cgru_layer_f64, w_ih) FIELD(d, cgru_layer_f64, w_hh)
    FIELD(d, cgru_layer_f64, b_x) FIELD(d, cgru_layer_f64, b_hn)
    FIELD(d, cgru_layer_f64, w_hh_packed) FIELD(d, cgru_layer_f64, w_ih_packed)
    FIELD(d, cgru_layer_f64, weight_format) FIELD(d, cgru_layer_f64, reserved)
    FIELD(d, cgru_layer_f64, w_hh_q) FIELD(d, cgru_layer_f64, w_ih_q)
    FIELD(d, cgru_layer_f64, w_hh_scale) FIELD(d, cgru_layer_f64, w_ih_scale)
    if (!(d = struct_dict(all, "cgru_model", sizeof(cgru_model)))) goto fail;
    FIELD(d, cgru_model, owner) FIELD(d, cgru_model, itemsize) FIELD(d, cgru_model, num_layers)
    FIELD(d, cgru_model, num_directions) FIELD(d, cgru_model, reserved)
    FIELD(d, cgru_model, input_size) FIELD(d, cgru_model, hidden_size)
    FIELD(d, cgru_model, layers_f32) FIELD(d, cgru_model, layers_f64)
    if (!(d = struct_dict(all, "cgru_api", sizeof(cgru_api)))) goto fail;
    FIELD(d, cgru_api, abi_version) FIELD(d, cgru_api, reserved) FIELD(d, cgru_api, size)
    FIELD(d, cgru_api, sizeof_cell) FIELD(d, cgru_api, sizeof_layer_f32)
    FIELD(d, cgru_api, sizeof_layer_f64) FIELD(d, cgru_api, sizeof_model)
    FIELD(d, cgru_api, sequence_workspace) FIELD(d, cgru_api, step_workspace)
    FIELD(d, cgru_api, input_projection_f32) FIELD(d, cgru_api, input_projection_f64)
    FIELD(d, cgru_api, recurrence_f32) FIELD(d, cgru_api, recurrence_f64)
    FIELD(d, cgru_api, sequence_f32) FIELD(d, cgru_api, sequence_f64)
    FIELD(d, cgru_api, step_f32) FIELD(d, cgru_api, step_f64)
    FIELD(d, cgru_api, activate_f32) FIELD(d, cgru_api, activate_f64)
    FIELD(d, cgru_api, model_get) FIELD(d, cgru_api, model_release)
    return all;
fail:
    Py_DECREF(all);
    return NULL;
}

static PyObject *py_abi_version(PyObject *self, PyObject *unused)
{
    return PyLong_FromLong(CGRU_ABI_VERSION);
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
    {"run_sequence", py_run_sequence, METH_VARARGS,
     "run_sequence(model, x, h, y, by_hand=False)"},
    {"run_steps", py_run_steps, METH_VARARGS, "run_steps(model, x, h, y, by_hand=False)"},
    {"run_split", py_run_split, METH_VARARGS,
     "run_split(model, x, h, y, by_hand=False): input_projection + recurrence"},
    {"activate", py_activate, METH_VARARGS, "activate(kind, alpha, beta, x): x in place"},
    {"packed", py_packed, METH_O, "packed(model) -> [(w_hh_packed, w_ih_packed) set?]"},
    {"bench_step", py_bench_step, METH_VARARGS, "bench_step(model, n_steps) -> s/step"},
    {"layout", py_layout, METH_NOARGS, "struct sizes and offsets in cgru.h"},
    {"abi_version", py_abi_version, METH_NOARGS, "CGRU_ABI_VERSION of cgru.h"},
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
