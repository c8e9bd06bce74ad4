# cython: language_level=3
"""cgru.capi: the C-level API for other compiled code.

* Cython: ``from cgru.kernels cimport ...`` (the kernels) and
  ``from cgru.capi cimport cgru_model, cgru_model_get, cgru_model_release``
  (the structs of a live Python model); declarations in ``capi.pxd``.
* Plain C: ``#include "cgru.h"`` (``cgru.get_include()``) and ``cgru_import()``,
  which fetches the capsule ``cgru._C_API`` made here: a versioned table of
  function pointers (``cgru_api``).

See docs/c-api.md.
"""

from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF

from cgru._threads import get_num_threads
from cpython.pycapsule cimport PyCapsule_New
from libc.string cimport memcpy, memset

from cgru.kernels cimport (
    CGRU_ABI_VERSION, cgru_cell, cgru_layer_f32, cgru_layer_f64, cgru_model,
    cgru_sequence_workspace, cgru_step_workspace,
    cgru_input_projection_f32, cgru_input_projection_f64,
    cgru_recurrence_f32, cgru_recurrence_f64, cgru_sequence_f32, cgru_sequence_f64,
    cgru_step_f32, cgru_step_f64, cgru_activate_f32, cgru_activate_f64,
    cgru_model_workspace, cgru_model_sequence_f32, cgru_model_sequence_f64,
    cgru_model_step_f32, cgru_model_step_f64,
)

cdef extern from "include/cgru.h":
    # cgru_api's function entries, as Cython sees them (their C types, checked
    # where they are called, are in cgru.h; tests/capi call every entry)
    ctypedef struct _api_entries "cgru_api":
        void* sequence_workspace
        void* step_workspace
        void* input_projection_f32
        void* input_projection_f64
        void* recurrence_f32
        void* recurrence_f64
        void* sequence_f32
        void* sequence_f64
        void* step_f32
        void* step_f64
        void* activate_f32
        void* activate_f64
        void* model_get
        void* model_release
        void* model_workspace
        void* model_sequence_f32
        void* model_sequence_f64
        void* model_step_f32
        void* model_step_f64

from cgru._compiled import Stream, _Net
from cgru.gru import GRU, GRUCell

#: The ABI version of the C-level API (``CGRU_ABI_VERSION`` in cgru.h).
ABI_VERSION = CGRU_ABI_VERSION


cdef object _net_of(object model):
    """The compiled-weights object (_Net) behind a GRU, GRUCell or Stream."""
    if isinstance(model, GRU):
        return model._net
    if isinstance(model, GRUCell):
        return model._gru._net
    if isinstance(model, Stream):
        return model.net
    if isinstance(model, _Net):
        return model
    raise TypeError(f"cgru_model_get: model must be a cgru.GRU, cgru.GRUCell or cgru "
                    f"Stream, got {type(model).__name__}")


cdef int cgru_model_get(object model, cgru_model* out) except -1:
    memset(out, 0, sizeof(cgru_model))
    net = _net_of(model)
    cdef size_t address = net._model_address()
    memcpy(out, <const cgru_model*>address, sizeof(cgru_model))
    out.num_threads = get_num_threads()     # this Python thread's setting, now
    Py_INCREF(net)
    out.owner = <PyObject*>net
    return 0


cdef void cgru_model_release(cgru_model* m) noexcept:
    cdef PyObject* owner = m.owner
    memset(m, 0, sizeof(cgru_model))
    Py_XDECREF(owner)


# ------------------------------------------------------------ the C table
cdef cgru_api _api
memset(&_api, 0, sizeof(cgru_api))
_api.abi_version = CGRU_ABI_VERSION
_api.size = sizeof(cgru_api)
_api.sizeof_cell = sizeof(cgru_cell)
_api.sizeof_layer_f32 = sizeof(cgru_layer_f32)
_api.sizeof_layer_f64 = sizeof(cgru_layer_f64)
_api.sizeof_model = sizeof(cgru_model)
cdef _api_entries* _e = <_api_entries*>&_api
_e.sequence_workspace = <void*>cgru_sequence_workspace
_e.step_workspace = <void*>cgru_step_workspace
_e.input_projection_f32 = <void*>cgru_input_projection_f32
_e.input_projection_f64 = <void*>cgru_input_projection_f64
_e.recurrence_f32 = <void*>cgru_recurrence_f32
_e.recurrence_f64 = <void*>cgru_recurrence_f64
_e.sequence_f32 = <void*>cgru_sequence_f32
_e.sequence_f64 = <void*>cgru_sequence_f64
_e.step_f32 = <void*>cgru_step_f32
_e.step_f64 = <void*>cgru_step_f64
_e.activate_f32 = <void*>cgru_activate_f32
_e.activate_f64 = <void*>cgru_activate_f64
_e.model_get = <void*>cgru_model_get
_e.model_release = <void*>cgru_model_release
_e.model_workspace = <void*>cgru_model_workspace
_e.model_sequence_f32 = <void*>cgru_model_sequence_f32
_e.model_sequence_f64 = <void*>cgru_model_sequence_f64
_e.model_step_f32 = <void*>cgru_model_step_f32
_e.model_step_f64 = <void*>cgru_model_step_f64

#: The capsule ``cgru._C_API`` (name "cgru._C_API") holding a ``const cgru_api*``.
_C_API = PyCapsule_New(<void*>&_api, b"cgru._C_API", NULL)


def model_info(model):
    """The ``cgru_model`` fields a compiled consumer gets for ``model`` (a Python
    view, for tests and debugging): a dict; ``layers`` is the struct address."""
    cdef cgru_model m
    cgru_model_get(model, &m)
    try:
        return {"itemsize": m.itemsize, "num_layers": m.num_layers,
                "num_directions": m.num_directions, "reverse_only": m.reverse_only,
                "input_size": m.input_size,
                "hidden_size": m.hidden_size,
                "layers": <size_t>m.layers_f32 if m.layers_f32 != NULL else <size_t>m.layers_f64,
                "owner": <object>m.owner}
    finally:
        cgru_model_release(&m)
