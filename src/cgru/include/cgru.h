/*
 * cgru.h - the plain-C API of cgru (fast GRU inference on the CPU).
 *
 * A C or C++ extension module gets cgru's kernels as a table of function
 * pointers from the capsule ``cgru._C_API``:
 *
 *     #include "cgru.h"            // include path: cgru.get_include()
 *
 *     PyMODINIT_FUNC PyInit_mymod(void) {
 *         if (cgru_import() < 0) return NULL;   // sets ImportError on failure
 *         ...
 *     }
 *
 *     cgru_model m;                               // from a Python cgru.GRU:
 *     if (cgru_capi->model_get(py_gru, &m) < 0) return NULL;   // needs the GIL
 *     Py_BEGIN_ALLOW_THREADS
 *     cgru_capi->step_f32(&m.layers_f32[0], N, x, I, h, work);  // no GIL needed
 *     Py_END_ALLOW_THREADS
 *     cgru_capi->model_release(&m);                             // needs the GIL
 *
 * Layouts (the one canonical layout; PyTorch's gate order r, z, n):
 *   w_ih (3H, I) and w_hh (3H, H) row-major; b_x (3H,) the folded bias
 *   b_ir+b_hr, b_iz+b_hz, b_in (+ b_hn when reset_after == 0); b_hn (H,) the
 *   b_hn bias when reset_after == 1, else zeros.
 *
 * Every kernel works on raw pointers, touches no Python object, allocates
 * nothing and may run without the GIL, from any number of threads at once as
 * long as each call has its own h, y and work buffers (the layer structs and
 * weights are only read).
 *
 * This header is the one source of cgru's C-level contract: the Cython
 * declarations (src/cgru/kernels.pxd, capi.pxd) are ``cdef extern from`` it, so
 * the structs cgru is compiled with are these.  Buffer rules: docs/c-api.md.
 * Versioning: CGRU_ABI_VERSION changes when an existing struct layout or
 * function signature changes (2: the weight-format fields appended to the layer
 * structs, cgru_model.reserved became reverse_only); new functions are appended
 * to cgru_api and announced by its ``size`` field, so extensions compiled
 * against an older header keep working with a newer cgru of the same ABI version.
 */
#ifndef CGRU_H
#define CGRU_H

#include <Python.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CGRU_ABI_VERSION 2

/* Activation kinds (ONNX's eleven functions); alpha and beta as in ONNX. */
enum cgru_activation {
    CGRU_SIGMOID = 0,
    CGRU_TANH = 1,
    CGRU_RELU = 2,
    CGRU_AFFINE = 3,             /* alpha * x + beta */
    CGRU_LEAKY_RELU = 4,         /* x if x >= 0 else alpha * x */
    CGRU_THRESHOLDED_RELU = 5,   /* x if x > alpha else 0 */
    CGRU_SCALED_TANH = 6,        /* alpha * tanh(beta * x) */
    CGRU_HARD_SIGMOID = 7,       /* max(0, min(1, alpha * x + beta)) */
    CGRU_ELU = 8,                /* x if x >= 0 else alpha * (exp(x) - 1) */
    CGRU_SOFTSIGN = 9,           /* x / (1 + |x|) */
    CGRU_SOFTPLUS = 10           /* log(1 + exp(x)) */
};

/* How a layer stores its weights (cgru_layer_*.weight_format).  NATIVE: the
 * layer's dtype, in w_ih / w_hh (and the packed copies).  The others, float32
 * layers only (docs/weights.md): w_hh_q / w_ih_q hold the weights packed as in
 * cgru's pyx/c/lowp.h (panels of 16 outputs; bfloat16 k pairs, int8 k quads
 * with the per-row scales inside, also pointed to by w_*_scale), and w_ih,
 * w_hh and w_*_packed are NULL.  (pyx/c/lowp.h repeats this enum, guarded.) */
#ifndef CGRU_WEIGHT_FORMAT_DEFINED
#define CGRU_WEIGHT_FORMAT_DEFINED
enum cgru_weight_format {
    CGRU_WEIGHTS_NATIVE = 0,
    CGRU_WEIGHTS_FLOAT16 = 1,    /* IEEE binary16 */
    CGRU_WEIGHTS_BFLOAT16 = 2,   /* bfloat16 */
    CGRU_WEIGHTS_INT8 = 3        /* int8, one float scale per output row */
};
#endif

/* Shape and maths of one layer in one direction. */
typedef struct cgru_cell {
    Py_ssize_t input_size;       /* I */
    Py_ssize_t hidden_size;      /* H */
    int reset_after;             /* 1: n = g(... + r*(W_hn h + b_hn)); 0: W_hn (r*h) */
    int f_kind;                  /* gate activation (r, z); CGRU_SIGMOID by default */
    double f_alpha;
    double f_beta;
    int g_kind;                  /* candidate activation (n); CGRU_TANH by default */
    double g_alpha;
    double g_beta;
    double clip;                 /* > 0: clip pre-activations to [-clip, clip]; 0: none */
} cgru_cell;

/* One layer in one direction: shape plus borrowed weight pointers, T the
 * element type (cgru_layer_f32: float, cgru_layer_f64: double).
 *   w_ih (3H, I), w_hh (3H, H) row-major, gate blocks r, z, n; b_x (3H,) the
 *   folded bias; b_hn (H,) (layouts at the top of this file).
 * Appended fields: a caller that fills the struct itself must zero it (= {0})
 * so that they are NULL / 0: the kernels then use w_hh / w_ih directly.
 *   w_hh_packed / w_ih_packed: NULL, or the weight (3H, K) repacked for the
 *   kernels' own product: per gate g, panels of P = 64 / sizeof(T) outputs (16
 *   floats, 8 doubles), zero-padded to Hp = ceil(H / P) * P rows, each panel
 *   (K, P) contiguous; 3 * Hp * K elements (K = H for w_hh, I for w_ih):
 *       w_hh_packed[(g * Hp + p0) * K + k * P + i] = w_hh[g * H + p0 + i, k]
 *   weight_format: enum cgru_weight_format, 0 (native); reserved: 0;
 *   w_hh_q / w_ih_q: NULL, or the weights in weight_format (above);
 *   w_hh_scale / w_ih_scale: NULL, or (3H,) scales (CGRU_WEIGHTS_INT8). */
#define CGRU__LAYER(NAME, T)                                                    \
    typedef struct NAME {                                                       \
        cgru_cell cell;                                                         \
        const T *w_ih;                                                          \
        const T *w_hh;                                                          \
        const T *b_x;                                                           \
        const T *b_hn;                                                          \
        const T *w_hh_packed;                                                   \
        const T *w_ih_packed;                                                   \
        int weight_format;                                                      \
        int reserved;                                                           \
        const void *w_hh_q;                                                     \
        const void *w_ih_q;                                                     \
        const float *w_hh_scale;                                                \
        const float *w_ih_scale;                                                \
    } NAME;
CGRU__LAYER(cgru_layer_f32, float)
CGRU__LAYER(cgru_layer_f64, double)
#undef CGRU__LAYER

/* The compiled weights of a live Python model (cgru.GRU, cgru.GRUCell or a
 * Stream), filled by cgru_capi->model_get.  num_layers * num_directions layer
 * structs; layer l, direction d (0 forward, 1 reverse) at l * num_directions + d.
 * Layer 0 has cell.input_size == input_size, the others num_directions * H.
 * Exactly one of layers_f32 / layers_f64 is non-NULL (itemsize 4 or 8).
 * reverse_only: 1 when the one direction runs back to front (ONNX "reverse").
 * num_threads: the most threads model_sequence / model_step may use (cgru's
 * own pool, the calling thread included; 0 or 1: the calling thread only).
 * model_get sets it to the calling Python thread's cgru.get_num_threads();
 * change it in your copy as you like.  Results do not depend on it.
 * ``owner`` is a strong reference to the object owning the weights: the
 * pointers stay valid until model_release, even if the model is deleted or
 * reloaded meanwhile (then they are the old weights). */
typedef struct cgru_model {
    PyObject *owner;
    int itemsize;
    int num_layers;
    int num_directions;
    int reverse_only;
    Py_ssize_t input_size;
    Py_ssize_t hidden_size;
    const cgru_layer_f32 *layers_f32;
    const cgru_layer_f64 *layers_f64;
    int num_threads;
} cgru_model;

/* The function table in the capsule cgru._C_API.  Entries are only ever
 * appended; ``size`` is sizeof(cgru_api) in the running cgru.
 *
 * Kernels (no GIL needed; h, y, work owned by the caller):
 *   sequence_workspace(cell, T, N), step_workspace(cell, N): scratch size, in
 *     elements of the layer's dtype, that one sequence / step call needs.
 *   input_projection(L, M, x, ldx, gx): gx[m, :] = W_ih x[m, :] for M rows,
 *     x rows I elements ldx apart, gx (M, 3H) contiguous (no bias).
 *   recurrence(L, T, N, batch_first, gx, h, y, ldy, lengths, reverse, work):
 *     T steps for N samples given gx; row (t, n) of gx/y is t*N+n, or n*T+t
 *     when batch_first.  h (N, H) in: h0, out: the state after each sample's
 *     last valid step.  y: H elements per row, ldy apart, or NULL.  lengths:
 *     N int64 in [0, T] or NULL; reverse: run backwards from the last valid
 *     step.  Steps past a length write zeros into y.  work:
 *     sequence_workspace(cell, 0, N) (step_workspace(N) is more than enough).
 *   sequence(L, T, N, batch_first, x, ldx, h, y, ldy, lengths, reverse, work):
 *     projection then recurrence; work: sequence_workspace(T, N).  x and y may
 *     be the same buffer (the projection of all rows happens first).
 *   step(L, N, x, ldx, h, work): one step, x (N, I) rows ldx apart, h (N, H)
 *     updated in place; work: step_workspace(N).
 *   activate(kind, alpha, beta, x, out, n): elementwise, out may equal x.
 * Python-facing (need the GIL):
 *   model_get(model, &m): 0, or -1 with TypeError set.  Pair with model_release.
 *   model_release(&m): drops m.owner and zeroes m.
 * Whole models (no GIL needed; all layers and directions of a cgru_model):
 *   model_workspace(m, T, N): scratch elements (of the model's dtype) for
 *     model_sequence(T, N), and for model_step(N) when T = 0 (or any T):
 *     one buffer serves every layer and direction.
 *   model_sequence(m, T, N, batch_first, x, h, y, lengths, work): x (T, N, I)
 *     (or (N, T, I) when batch_first) contiguous; h (L*D, N, H) contiguous,
 *     in: h0, out: h_n; y (T, N, D*H) (or (N, T, D*H)) out: the top layer's
 *     outputs, directions side by side; lengths as for recurrence.  y may be x
 *     itself (same buffer and shape) but must not otherwise overlap x, h or
 *     work.  0, or -1 (nothing done) when the dtype does not match m->itemsize.
 *   model_step(m, N, x, h, y, work): one step of a unidirectional forward
 *     model: x (N, I), h (L, N, H) updated in place, y (N, H) the top layer's
 *     new state (or NULL).  -1 (nothing done) for a dtype mismatch or a
 *     bidirectional / reverse model.
 *   T = 0 or N = 0: nothing is computed (h unchanged), 0 is returned.
 */
typedef struct cgru_api {
    int abi_version;
    int reserved;
    size_t size;
    size_t sizeof_cell;
    size_t sizeof_layer_f32;
    size_t sizeof_layer_f64;
    size_t sizeof_model;
    Py_ssize_t (*sequence_workspace)(const cgru_cell *cell, Py_ssize_t T, Py_ssize_t N);
    Py_ssize_t (*step_workspace)(const cgru_cell *cell, Py_ssize_t N);
    void (*input_projection_f32)(const cgru_layer_f32 *L, Py_ssize_t M, const float *x,
                                 Py_ssize_t ldx, float *gx);
    void (*input_projection_f64)(const cgru_layer_f64 *L, Py_ssize_t M, const double *x,
                                 Py_ssize_t ldx, double *gx);
    void (*recurrence_f32)(const cgru_layer_f32 *L, Py_ssize_t T, Py_ssize_t N,
                           int batch_first, const float *gx, float *h, float *y,
                           Py_ssize_t ldy, const int64_t *lengths, int reverse, float *work);
    void (*recurrence_f64)(const cgru_layer_f64 *L, Py_ssize_t T, Py_ssize_t N,
                           int batch_first, const double *gx, double *h, double *y,
                           Py_ssize_t ldy, const int64_t *lengths, int reverse, double *work);
    void (*sequence_f32)(const cgru_layer_f32 *L, Py_ssize_t T, Py_ssize_t N, int batch_first,
                         const float *x, Py_ssize_t ldx, float *h, float *y, Py_ssize_t ldy,
                         const int64_t *lengths, int reverse, float *work);
    void (*sequence_f64)(const cgru_layer_f64 *L, Py_ssize_t T, Py_ssize_t N, int batch_first,
                         const double *x, Py_ssize_t ldx, double *h, double *y, Py_ssize_t ldy,
                         const int64_t *lengths, int reverse, double *work);
    void (*step_f32)(const cgru_layer_f32 *L, Py_ssize_t N, const float *x, Py_ssize_t ldx,
                     float *h, float *work);
    void (*step_f64)(const cgru_layer_f64 *L, Py_ssize_t N, const double *x, Py_ssize_t ldx,
                     double *h, double *work);
    void (*activate_f32)(int kind, double alpha, double beta, const float *x, float *out,
                         Py_ssize_t n);
    void (*activate_f64)(int kind, double alpha, double beta, const double *x, double *out,
                         Py_ssize_t n);
    int (*model_get)(PyObject *model, cgru_model *out);
    void (*model_release)(cgru_model *m);
    /* appended in ABI 2 */
    Py_ssize_t (*model_workspace)(const cgru_model *m, Py_ssize_t T, Py_ssize_t N);
    int (*model_sequence_f32)(const cgru_model *m, Py_ssize_t T, Py_ssize_t N, int batch_first,
                              const float *x, float *h, float *y, const int64_t *lengths,
                              float *work);
    int (*model_sequence_f64)(const cgru_model *m, Py_ssize_t T, Py_ssize_t N, int batch_first,
                              const double *x, double *h, double *y, const int64_t *lengths,
                              double *work);
    int (*model_step_f32)(const cgru_model *m, Py_ssize_t N, const float *x, float *h,
                          float *y, float *work);
    int (*model_step_f64)(const cgru_model *m, Py_ssize_t N, const double *x, double *h,
                          double *y, double *work);
} cgru_api;

#if defined(__GNUC__) || defined(__clang__)
#define CGRU_UNUSED __attribute__((unused))
#else
#define CGRU_UNUSED
#endif

/* The table, set by cgru_import() (one copy per translation unit). */
static const cgru_api *cgru_capi CGRU_UNUSED = NULL;

/* Check a table against what this header expects: ABI version ``abi_version``
 * and at least ``size`` bytes of entries.  0, or -1 with ImportError set. */
static CGRU_UNUSED int cgru_check_api(const cgru_api *api, int abi_version, size_t size)
{
    if (api->abi_version != abi_version) {
        PyErr_Format(PyExc_ImportError,
                     "cgru C API: the installed cgru has ABI version %d, this extension "
                     "was compiled for version %d; rebuild it against the installed cgru",
                     api->abi_version, abi_version);
        return -1;
    }
    if (api->size < size) {
        PyErr_Format(PyExc_ImportError,
                     "cgru C API: the installed cgru's function table has %zu bytes, this "
                     "extension needs %zu; upgrade cgru", api->size, size);
        return -1;
    }
    if (api->sizeof_cell != sizeof(cgru_cell) || api->sizeof_layer_f32 != sizeof(cgru_layer_f32)
        || api->sizeof_layer_f64 != sizeof(cgru_layer_f64)
        || api->sizeof_model != sizeof(cgru_model)) {
        PyErr_Format(PyExc_ImportError,
                     "cgru C API: struct sizes differ between cgru.h and the installed cgru "
                     "(cgru_cell %zu vs %zu, cgru_layer_f32 %zu vs %zu, cgru_layer_f64 %zu "
                     "vs %zu, cgru_model %zu vs %zu)",
                     sizeof(cgru_cell), api->sizeof_cell, sizeof(cgru_layer_f32),
                     api->sizeof_layer_f32, sizeof(cgru_layer_f64), api->sizeof_layer_f64,
                     sizeof(cgru_model), api->sizeof_model);
        return -1;
    }
    return 0;
}

/* Import cgru, fetch its table and check it.  Call once, with the GIL, e.g. in
 * the module's init function.  Returns 0 (cgru_capi is set) or -1 with
 * ImportError set (cgru_capi stays NULL). */
static CGRU_UNUSED int cgru_import(void)
{
    const cgru_api *api = (const cgru_api *)PyCapsule_Import("cgru._C_API", 0);
    if (api == NULL) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ImportError,
                            "cgru C API: the installed cgru has no cgru._C_API capsule");
        }
        return -1;
    }
    if (cgru_check_api(api, CGRU_ABI_VERSION, sizeof(cgru_api)) < 0)
        return -1;
    cgru_capi = api;
    return 0;
}

#ifdef __cplusplus
}
#endif

#endif /* CGRU_H */
