# cgru C-level API, part 2: from a Python model to kernel structs.
#
# ``cgru.kernels`` (kernels.pxd) declares the kernels over raw pointers; this
# module gives the structs of a live Python model (``cgru.GRU``, ``cgru.GRUCell``
# or a ``Stream``) to other compiled code, and builds the plain-C function table
# (the ``cgru._C_API`` capsule).  Structs: ``cdef extern from`` include/cgru.h.
#
#     from cgru.kernels cimport cgru_model_step, cgru_model_workspace
#     from cgru.capi cimport cgru_model, cgru_model_get, cgru_model_release
#
#     cdef cgru_model m
#     cgru_model_get(gru, &m)          # needs the GIL; raises TypeError
#     with nogil:
#         ... cgru_model_step(&m, N, x, h, y, work) ...
#     cgru_model_release(&m)           # needs the GIL
#
# Lifetime: ``m.owner`` is a new (strong) reference to the object that owns the
# weight buffers (the model's compiled ``_Net``).  The struct pointers stay valid
# until ``cgru_model_release``, even if the model is deleted or reloaded
# meanwhile (``load_state_dict`` builds a new ``_Net``; ``m`` keeps pointing at
# the weights it was given, which are then stale but valid).
# Thread safety: the structs are read-only; any number of threads may run
# kernels over the same structs at once, each with its own ``h`` and ``work``.

from cpython.ref cimport PyObject
from cpython.pycapsule cimport PyCapsule_Import
from cgru.kernels cimport CGRU_ABI_VERSION, cgru_cell, cgru_layer_f32, cgru_layer_f64, cgru_model

cdef extern from "include/cgru.h":
    # the plain-C function table; capi.pyx fills every entry (cgru.h: each signature)
    ctypedef struct cgru_api:
        int abi_version
        size_t size
        size_t sizeof_cell
        size_t sizeof_layer_f32
        size_t sizeof_layer_f64
        size_t sizeof_model

# Fill ``out`` from a cgru.GRU, cgru.GRUCell or Stream (the stream's weights).
# Needs the GIL.  Returns 0, or -1 with TypeError set (``out`` then holds no
# reference).  Pair every successful call with cgru_model_release.
cdef int cgru_model_get(object model, cgru_model* out) except -1

# Drop ``m.owner`` and zero ``m``.  Needs the GIL.  Safe on a zeroed struct.
cdef void cgru_model_release(cgru_model* m) noexcept


# ------------------------------------------------------------- the ABI check
# Call once when your Cython extension is imported (a module-level statement
# ``cgru_check_abi()``).  Cython checks the cimported functions' signatures,
# but not the layout of the structs: an extension compiled against another
# cgru.h (another CGRU_ABI_VERSION, other struct sizes) would index layer
# arrays with the wrong stride.  Raises ImportError then ("rebuild it"), like
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
            "cgru C-level API: struct sizes differ between the cgru.h this extension "
            "was compiled with and the installed cgru; rebuild it against the installed cgru")
    return 0
