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
from cpython.pycapsule cimport PyCapsule_New
from libc.string cimport memset

from cgru.kernels cimport (
    CGRU_ABI_VERSION, cgru_cell, cgru_layer_f32, cgru_layer_f64,
    cgru_sequence_workspace, cgru_step_workspace,
    cgru_input_projection_f32, cgru_input_projection_f64,
    cgru_recurrence_f32, cgru_recurrence_f64, cgru_sequence_f32, cgru_sequence_f64,
    cgru_step_f32, cgru_step_f64, cgru_activate_f32, cgru_activate_f64,
)

from cgru._binding import Stream, _Net
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
    address, count, itemsize = net._layer_pointers()
    cdef size_t p = address
    if itemsize == 4:
        out.layers_f32 = <const cgru_layer_f32*>p
    elif itemsize == 8:
        out.layers_f64 = <const cgru_layer_f64*>p
    else:
        raise TypeError(f"cgru_model_get: unsupported itemsize {itemsize}")
    out.itemsize = itemsize
    out.num_layers = net.num_layers
    out.num_directions = net.num_directions
    out.input_size = net.input_size
    out.hidden_size = net.hidden_size
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
_api.sequence_workspace = cgru_sequence_workspace
_api.step_workspace = cgru_step_workspace
_api.input_projection_f32 = cgru_input_projection_f32
_api.input_projection_f64 = cgru_input_projection_f64
_api.recurrence_f32 = cgru_recurrence_f32
_api.recurrence_f64 = cgru_recurrence_f64
_api.sequence_f32 = cgru_sequence_f32
_api.sequence_f64 = cgru_sequence_f64
_api.step_f32 = cgru_step_f32
_api.step_f64 = cgru_step_f64
_api.activate_f32 = cgru_activate_f32
_api.activate_f64 = cgru_activate_f64
_api.model_get = cgru_model_get
_api.model_release = cgru_model_release

#: The capsule ``cgru._C_API`` (name "cgru._C_API") holding a ``const cgru_api*``.
_C_API = PyCapsule_New(<void*>&_api, b"cgru._C_API", NULL)


# ------------------------------------------------------------ layout check
cdef inline size_t _off(const void* field, const void* base) noexcept:
    return <size_t>(<const char*>field - <const char*>base)


def layout():
    """Sizes and field offsets of the C-level structs as compiled here, for the
    test that include/cgru.h mirrors them: {struct: {"sizeof": n, field: offset}}."""
    cdef cgru_cell c
    cdef cgru_layer_f32 l32
    cdef cgru_layer_f64 l64
    cdef cgru_model m
    cdef cgru_api a
    return {
        "cgru_cell": {
            "sizeof": sizeof(cgru_cell), "input_size": _off(&c.input_size, &c),
            "hidden_size": _off(&c.hidden_size, &c), "reset_after": _off(&c.reset_after, &c),
            "f_kind": _off(&c.f_kind, &c), "f_alpha": _off(&c.f_alpha, &c),
            "f_beta": _off(&c.f_beta, &c), "g_kind": _off(&c.g_kind, &c),
            "g_alpha": _off(&c.g_alpha, &c), "g_beta": _off(&c.g_beta, &c),
            "clip": _off(&c.clip, &c)},
        "cgru_layer_f32": {
            "sizeof": sizeof(cgru_layer_f32), "cell": _off(&l32.cell, &l32),
            "w_ih": _off(&l32.w_ih, &l32), "w_hh": _off(&l32.w_hh, &l32),
            "b_x": _off(&l32.b_x, &l32), "b_hn": _off(&l32.b_hn, &l32),
            "w_hh_packed": _off(&l32.w_hh_packed, &l32),
            "w_ih_packed": _off(&l32.w_ih_packed, &l32),
            "weight_format": _off(&l32.weight_format, &l32), "reserved": _off(&l32.reserved, &l32),
            "w_hh_q": _off(&l32.w_hh_q, &l32), "w_ih_q": _off(&l32.w_ih_q, &l32),
            "w_hh_scale": _off(&l32.w_hh_scale, &l32),
            "w_ih_scale": _off(&l32.w_ih_scale, &l32)},
        "cgru_layer_f64": {
            "sizeof": sizeof(cgru_layer_f64), "cell": _off(&l64.cell, &l64),
            "w_ih": _off(&l64.w_ih, &l64), "w_hh": _off(&l64.w_hh, &l64),
            "b_x": _off(&l64.b_x, &l64), "b_hn": _off(&l64.b_hn, &l64),
            "w_hh_packed": _off(&l64.w_hh_packed, &l64),
            "w_ih_packed": _off(&l64.w_ih_packed, &l64),
            "weight_format": _off(&l64.weight_format, &l64), "reserved": _off(&l64.reserved, &l64),
            "w_hh_q": _off(&l64.w_hh_q, &l64), "w_ih_q": _off(&l64.w_ih_q, &l64),
            "w_hh_scale": _off(&l64.w_hh_scale, &l64),
            "w_ih_scale": _off(&l64.w_ih_scale, &l64)},
        "cgru_model": {
            "sizeof": sizeof(cgru_model), "owner": _off(&m.owner, &m),
            "itemsize": _off(&m.itemsize, &m), "num_layers": _off(&m.num_layers, &m),
            "num_directions": _off(&m.num_directions, &m), "reserved": _off(&m.reserved, &m),
            "input_size": _off(&m.input_size, &m), "hidden_size": _off(&m.hidden_size, &m),
            "layers_f32": _off(&m.layers_f32, &m), "layers_f64": _off(&m.layers_f64, &m)},
        "cgru_api": {
            "sizeof": sizeof(cgru_api), "abi_version": _off(&a.abi_version, &a),
            "reserved": _off(&a.reserved, &a), "size": _off(&a.size, &a),
            "sizeof_cell": _off(&a.sizeof_cell, &a),
            "sizeof_layer_f32": _off(&a.sizeof_layer_f32, &a),
            "sizeof_layer_f64": _off(&a.sizeof_layer_f64, &a),
            "sizeof_model": _off(&a.sizeof_model, &a),
            "sequence_workspace": _off(&a.sequence_workspace, &a),
            "step_workspace": _off(&a.step_workspace, &a),
            "input_projection_f32": _off(&a.input_projection_f32, &a),
            "input_projection_f64": _off(&a.input_projection_f64, &a),
            "recurrence_f32": _off(&a.recurrence_f32, &a),
            "recurrence_f64": _off(&a.recurrence_f64, &a),
            "sequence_f32": _off(&a.sequence_f32, &a), "sequence_f64": _off(&a.sequence_f64, &a),
            "step_f32": _off(&a.step_f32, &a), "step_f64": _off(&a.step_f64, &a),
            "activate_f32": _off(&a.activate_f32, &a), "activate_f64": _off(&a.activate_f64, &a),
            "model_get": _off(&a.model_get, &a), "model_release": _off(&a.model_release, &a)},
    }


def model_info(model):
    """The ``cgru_model`` fields a compiled consumer gets for ``model`` (a Python
    view, for tests and debugging): a dict; ``layers`` is the struct address."""
    cdef cgru_model m
    cgru_model_get(model, &m)
    try:
        return {"itemsize": m.itemsize, "num_layers": m.num_layers,
                "num_directions": m.num_directions, "input_size": m.input_size,
                "hidden_size": m.hidden_size,
                "layers": <size_t>m.layers_f32 if m.layers_f32 != NULL else <size_t>m.layers_f64,
                "owner": <object>m.owner}
    finally:
        cgru_model_release(&m)
