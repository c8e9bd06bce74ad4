"""Type stubs for the compiled module ``cgru.capi``.

Its real surface is C-level: ``from cgru.capi cimport cgru_model,
cgru_model_get, cgru_model_release`` (see ``capi.pxd``), and the capsule
``cgru._C_API`` for plain C (``cgru.h``).  From Python, only these helpers
are visible.
"""

from typing import Any

ABI_VERSION: int
_C_API: Any   # PyCapsule named "cgru._C_API": the versioned function table

def model_info(model: Any) -> dict[str, Any]:
    """The ``cgru_model`` fields a compiled consumer gets for ``model``."""
    ...

