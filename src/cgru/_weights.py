"""Weight formats: the names users pass (``GRU(..., weights=...)``,
``GRU.with_weights``), their kernel codes, and their compact form in .npz files.

The rounding itself (float16, bfloat16 round to nearest even; int8 symmetric
per output row, q = round(w / s), s = max|row| / 127) is done once, by the
kernels' packer (pyx/c/lowp.c); a model keeps the float32 values the kernels
multiply by (``state_dict``), and for int8 the per-row scales, so packing them
again gives the same bytes.  The compact form below re-represents those values
exactly (no second rounding rule).
"""

import numpy as np

#: reduced-precision formats of a float32 model's weight matrices
FORMATS = ("float16", "bfloat16", "int8")
#: the kernel's weight-format code (enum cgru_weight_format)
CODES = {"float32": 0, "float64": 0, "float16": 1, "bfloat16": 2, "int8": 3}


def as_weights(value, dtype):
    """The weight format for a model of ``dtype``: None -> the dtype's own name
    ('float32' or 'float64'); else one of FORMATS (float32 models only)."""
    native = np.dtype(dtype).name
    if value is None:
        return native
    if not isinstance(value, str):
        raise TypeError(f"weights must be a string ({', '.join(map(repr, (native,) + FORMATS))}), "
                        f"got {type(value).__name__}")
    name = value.strip().lower()
    if name == native:
        return native
    if name not in FORMATS:
        raise ValueError(f"weights must be one of {[native, *FORMATS]}, got {value!r}")
    if native != "float32":
        raise ValueError(f"weights={name!r} needs a float32 model (dtype=float32), this one is "
                         f"{native}")
    return name


def is_reduced(fmt):
    return fmt in FORMATS


def is_matrix(name):
    return name.startswith("weight_")


def encode(fmt, params, scales):
    """The arrays a .npz file stores: the weight matrices in their compact form
    (float16; bfloat16 as uint16 bits; int8 plus ``<name>.scale`` float32 rows),
    biases as float32."""
    out = {}
    for name, w in params.items():
        if not (is_reduced(fmt) and is_matrix(name)):
            out[name] = w
        elif fmt == "float16":
            out[name] = w.astype(np.float16)
        elif fmt == "bfloat16":
            out[name] = (np.ascontiguousarray(w, np.float32).view(np.uint32) >> 16).astype(np.uint16)
        else:
            s = scales[name]
            safe = np.where(s > 0, s, np.float32(1))[:, None]
            out[name] = np.rint(w / safe).astype(np.int8)
            out[name + ".scale"] = s
    return out


def decode(fmt, arrays, path):
    """Inverse of ``encode``: (float32 params, int8 scales) from a file's arrays
    (``arrays`` is consumed: the scale entries are removed)."""
    scales = {}
    if not is_reduced(fmt):
        return arrays, scales
    want = {"float16": np.float16, "bfloat16": np.uint16, "int8": np.int8}[fmt]
    for name in [k for k in arrays if is_matrix(k) and not k.endswith(".scale")]:
        a = arrays[name]
        if a.dtype != want:
            raise ValueError(f"load: {path!r}: {name} of a weights={fmt!r} model must be "
                             f"{np.dtype(want).name}, got {a.dtype}")
        if fmt == "float16":
            arrays[name] = a.astype(np.float32)
        elif fmt == "bfloat16":
            arrays[name] = (a.astype(np.uint32) << 16).view(np.float32)
        else:
            s = arrays.pop(name + ".scale", None)
            if s is None or s.dtype != np.float32 or s.shape != a.shape[:1] or \
                    not (np.all(np.isfinite(s)) and np.all(s >= 0)):
                raise ValueError(f"load: {path!r}: {name} needs {name}.scale, {a.shape[:1]} "
                                 f"finite float32 values >= 0")
            if a.ndim != 2 or np.any(a == -128):
                raise ValueError(f"load: {path!r}: {name} must be a 2-D int8 array in "
                                 f"[-127, 127]")
            arrays[name] = a.astype(np.float32) * s[:, None]
            scales[name] = s.copy()
    leftover = [k for k in arrays if k.endswith(".scale")]
    if leftover:
        raise ValueError(f"load: {path!r}: unexpected entries {leftover}")
    return arrays, scales
