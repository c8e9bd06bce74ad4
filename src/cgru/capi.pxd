# cgru C-level API, part 2: from a Python model to kernel structs.
#
# ``cgru.kernels`` (kernels.pxd) declares the kernels over raw pointers; this
# module gives the structs of a live Python model (``cgru.GRU``, ``cgru.GRUCell``
# or a ``Stream``) to other compiled code, and builds the plain-C function table
# (the ``cgru._C_API`` capsule, see include/cgru.h).
#
#     from cgru.kernels cimport cgru_step_f32, cgru_step_workspace
#     from cgru.capi cimport cgru_model, cgru_model_get, cgru_model_release
#
#     cdef cgru_model m
#     cgru_model_get(gru, &m)          # needs the GIL; raises TypeError/ValueError
#     with nogil:
#         ... cgru_step_f32(&m.layers_f32[layer], ...) ...
#     cgru_model_release(&m)           # needs the GIL
#
# Lifetime: ``m.owner`` is a new (strong) reference to the object that owns the
# weight buffers (the model's compiled ``_Net``).  The struct pointers stay valid
# until ``cgru_model_release``, even if the model is deleted or reloaded
# meanwhile (``load_state_dict`` builds a new ``_Net``; ``m`` keeps pointing at
# the weights it was given, which are then stale but valid).
#
# Thread safety: the structs are read-only; any number of threads may run
# kernels over the same structs at once, each with its own ``h`` and ``work``.

from cpython.ref cimport PyObject
from cpython.pycapsule cimport PyCapsule_Import
from cgru.kernels cimport CGRU_ABI_VERSION, cgru_cell, cgru_layer_f32, cgru_layer_f64
from libc.stdint cimport int64_t

# One compiled model: ``num_layers * num_directions`` layer structs, layer
# ``l`` direction ``d`` (0 forward, 1 reverse) at index ``l * num_directions + d``.
# Layer 0 has ``cell.input_size == input_size``, the others
# ``num_directions * hidden_size``.  Exactly one of layers_f32 / layers_f64 is
# non-NULL, as told by ``itemsize`` (4: float32, 8: float64).
ctypedef struct cgru_model:
    PyObject* owner                    # strong reference, dropped by cgru_model_release
    int itemsize                       # 4 (float32) or 8 (float64)
    int num_layers
    int num_directions                 # 1, or 2 for a bidirectional GRU
    int reserved                       # 0
    Py_ssize_t input_size
    Py_ssize_t hidden_size
    const cgru_layer_f32* layers_f32
    const cgru_layer_f64* layers_f64

# Fill ``out`` from a cgru.GRU, cgru.GRUCell or Stream (the stream's weights).
# Needs the GIL.  Returns 0, or -1 with TypeError set (``out`` then holds no
# reference).  Pair every successful call with cgru_model_release.
cdef int cgru_model_get(object model, cgru_model* out) except -1

# Drop ``m.owner`` and zero ``m``.  Needs the GIL.  Safe on a zeroed struct.
cdef void cgru_model_release(cgru_model* m) noexcept


# --------------------------------------------------- the plain-C function table
# Mirrored exactly by ``cgru_api`` in include/cgru.h (a test compares sizes and
# offsets).  Append new entries at the END only; ``size`` tells a caller which
# entries the running cgru has.  Changing or reordering anything here, or the
# layout of cgru_cell / cgru_layer_* / cgru_model, bumps CGRU_ABI_VERSION.
ctypedef struct cgru_api:
    int abi_version                    # CGRU_ABI_VERSION of the cgru that made the table
    int reserved
    size_t size                        # sizeof(cgru_api) in that cgru
    size_t sizeof_cell                 # sizeof(cgru_cell): checked by cgru_import()
    size_t sizeof_layer_f32
    size_t sizeof_layer_f64
    size_t sizeof_model
    Py_ssize_t (*sequence_workspace)(const cgru_cell*, Py_ssize_t, Py_ssize_t) noexcept nogil
    Py_ssize_t (*step_workspace)(const cgru_cell*, Py_ssize_t) noexcept nogil
    void (*input_projection_f32)(const cgru_layer_f32*, Py_ssize_t, const float*, Py_ssize_t,
                                 float*) noexcept nogil
    void (*input_projection_f64)(const cgru_layer_f64*, Py_ssize_t, const double*, Py_ssize_t,
                                 double*) noexcept nogil
    void (*recurrence_f32)(const cgru_layer_f32*, Py_ssize_t, Py_ssize_t, int, const float*,
                           float*, float*, Py_ssize_t, const int64_t*, int, float*) noexcept nogil
    void (*recurrence_f64)(const cgru_layer_f64*, Py_ssize_t, Py_ssize_t, int, const double*,
                           double*, double*, Py_ssize_t, const int64_t*, int, double*) noexcept nogil
    void (*sequence_f32)(const cgru_layer_f32*, Py_ssize_t, Py_ssize_t, int, const float*,
                         Py_ssize_t, float*, float*, Py_ssize_t, const int64_t*, int,
                         float*) noexcept nogil
    void (*sequence_f64)(const cgru_layer_f64*, Py_ssize_t, Py_ssize_t, int, const double*,
                         Py_ssize_t, double*, double*, Py_ssize_t, const int64_t*, int,
                         double*) noexcept nogil
    void (*step_f32)(const cgru_layer_f32*, Py_ssize_t, const float*, Py_ssize_t, float*,
                     float*) noexcept nogil
    void (*step_f64)(const cgru_layer_f64*, Py_ssize_t, const double*, Py_ssize_t, double*,
                     double*) noexcept nogil
    void (*activate_f32)(int, double, double, const float*, float*, Py_ssize_t) noexcept nogil
    void (*activate_f64)(int, double, double, const double*, double*, Py_ssize_t) noexcept nogil
    int (*model_get)(object, cgru_model*) except -1       # GIL; -1 with an exception set
    void (*model_release)(cgru_model*) noexcept             # GIL


# ------------------------------------------------------------- the ABI check
# Call once when your Cython extension is imported (a module-level statement
# ``cgru_check_abi()``).  Cython checks the cimported functions' signatures,
# but not the layout of the structs: an extension compiled against other .pxd
# files (another CGRU_ABI_VERSION, other struct sizes) would index layer arrays
# with the wrong stride.  Raises ImportError then ("rebuild it"), like
# cgru_import() in cgru.h; sizes are this extension's, compiled in here.
cdef inline int cgru_check_abi() except -1:
    cdef const cgru_api* api = <const cgru_api*>PyCapsule_Import(b"cgru._C_API", 0)
    if api.abi_version != CGRU_ABI_VERSION:
        raise ImportError(
            f"cgru C-level API: the installed cgru has ABI version {api.abi_version}, this "
            f"extension was compiled for version {CGRU_ABI_VERSION}; rebuild it against "
            f"the installed cgru")
    if (api.sizeof_cell != sizeof(cgru_cell) or api.sizeof_layer_f32 != sizeof(cgru_layer_f32)
            or api.sizeof_layer_f64 != sizeof(cgru_layer_f64)
            or api.sizeof_model != sizeof(cgru_model)):
        raise ImportError(
            "cgru C-level API: struct sizes differ between the .pxd files this extension "
            "was compiled with and the installed cgru; rebuild it against the installed cgru")
    return 0
