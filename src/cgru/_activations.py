"""The activation functions a cgru model can use, by name.

The kernels know ONNX's eleven activation kinds (``cgru.kernels.cgru_activation``;
the functions are written once, in ``pyx/core.pxi``).  This module maps the
names ONNX and Keras use onto those kinds, with their ``alpha`` / ``beta``, and
restores a saved model's activations.  A model keeps, per direction, the tuple
``(f_kind, f_alpha, f_beta, g_kind, g_alpha, g_beta)``: ``f`` for the gates r and
z, ``g`` for the candidate n; and one ``clip`` (None: no clipping; c > 0: every
activation's input is clipped to [-c, c], as in ONNX).
"""

import math
import numbers

from cgru.kernels import cgru_activation as _A

# ONNX names (lower case) -> (kind, default alpha, default beta, spelling ONNX uses).
# alpha / beta are None for functions that take no such parameter, NaN when the
# function takes one but ONNX defines no default (ScaledTanh).  The defaults are
# those of the ONNX operators of the same name: LeakyRelu 0.01, ThresholdedRelu
# 1.0, HardSigmoid 0.2 / 0.5, Elu 1.0, Affine 1.0 / 0.0.  (onnxruntime agrees for
# LeakyRelu, HardSigmoid and Elu, but uses 0 for a missing Affine, ThresholdedRelu
# or ScaledTanh parameter; cgru's to_onnx always writes every parameter.)
_NONE = float("nan")
ONNX = {
    "sigmoid": (int(_A.CGRU_SIGMOID), None, None, "Sigmoid"),
    "tanh": (int(_A.CGRU_TANH), None, None, "Tanh"),
    "relu": (int(_A.CGRU_RELU), None, None, "Relu"),
    "affine": (int(_A.CGRU_AFFINE), 1.0, 0.0, "Affine"),
    "leakyrelu": (int(_A.CGRU_LEAKY_RELU), 0.01, None, "LeakyRelu"),
    "thresholdedrelu": (int(_A.CGRU_THRESHOLDED_RELU), 1.0, None, "ThresholdedRelu"),
    "scaledtanh": (int(_A.CGRU_SCALED_TANH), _NONE, _NONE, "ScaledTanh"),
    "hardsigmoid": (int(_A.CGRU_HARD_SIGMOID), 0.2, 0.5, "HardSigmoid"),
    "elu": (int(_A.CGRU_ELU), 1.0, None, "Elu"),
    "softsign": (int(_A.CGRU_SOFTSIGN), None, None, "Softsign"),
    "softplus": (int(_A.CGRU_SOFTPLUS), None, None, "Softplus"),
}
_BY_KIND = {v[0]: k for k, v in ONNX.items()}
# one direction's (f_kind, f_alpha, f_beta, g_kind, g_alpha, g_beta): sigmoid, tanh
DEFAULT = (int(_A.CGRU_SIGMOID), 0.0, 0.0, int(_A.CGRU_TANH), 0.0, 0.0)

# Keras 3 activation names -> (ONNX name, alpha, beta): exactly the same function.
KERAS = {
    "sigmoid": ("sigmoid", None, None),
    "tanh": ("tanh", None, None),
    "relu": ("relu", None, None),
    "linear": ("affine", 1.0, 0.0),
    # Keras 3: relu6(x + 3) / 6 = clip(x / 6 + 1/2, 0, 1) (Keras 2 had 0.2 x + 0.5)
    "hard_sigmoid": ("hardsigmoid", 1.0 / 6.0, 0.5),
    "sparse_sigmoid": ("hardsigmoid", 0.5, 0.5),     # clip((x + 1) / 2, 0, 1)
    "leaky_relu": ("leakyrelu", 0.2, None),           # negative_slope=0.2
    "elu": ("elu", 1.0, None),
    "celu": ("elu", 1.0, None),                       # celu with alpha=1 is elu
    "softsign": ("softsign", None, None),
    "softplus": ("softplus", None, None),
}


def _entry(name):
    if not isinstance(name, str):
        raise TypeError(f"activation name must be a string, got {type(name).__name__}")
    key = name.lower()
    if key not in ONNX:
        raise ValueError(f"unknown activation {name!r}; expected one of "
                         f"{sorted(v[3] for v in ONNX.values())}")
    return ONNX[key]


def onnx_kind(name):
    """The kernel kind of an ONNX activation name (any case)."""
    return _entry(name)[0]


def onnx_activation(name, alpha=None, beta=None):
    """(kind, alpha, beta) for an ONNX activation name (any case); a missing
    alpha / beta takes the ONNX default."""
    kind, a0, b0, spelling = _entry(name)
    a = (a0 if alpha is None else float(alpha)) if a0 is not None else 0.0
    b = (b0 if beta is None else float(beta)) if b0 is not None else 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"activation {spelling} needs a finite alpha and beta (ONNX defines "
                         f"no default for it), got alpha={alpha!r}, beta={beta!r}")
    return kind, a, b


def onnx_name(kind):
    """The ONNX spelling of an activation kind."""
    return ONNX[_BY_KIND[kind]][3]


def takes_alpha(kind):
    return ONNX[_BY_KIND[kind]][1] is not None


def takes_beta(kind):
    return ONNX[_BY_KIND[kind]][2] is not None


def keras_activation(name):
    """(kind, alpha, beta) for a Keras 3 activation name."""
    if name not in KERAS:
        raise ValueError(f"Keras activation {name!r} has no exact cgru equivalent; "
                         f"supported: {sorted(KERAS)}")
    onnx, a, b = KERAS[name]
    return onnx_activation(onnx, a, b)


def _check_spec(spec, where):
    """One direction's (f_kind, f_alpha, f_beta, g_kind, g_alpha, g_beta), checked."""
    if isinstance(spec, (str, bytes)) or not hasattr(spec, "__len__") or len(spec) != 6:
        raise ValueError(f"{where} must be (f_kind, f_alpha, f_beta, g_kind, g_alpha, "
                         f"g_beta), got {spec!r}")
    out = []
    for i, v in enumerate(spec):
        if i % 3 == 0:
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or int(v) not in _BY_KIND:
                raise ValueError(f"{where}[{i}] must be an activation kind in "
                                 f"{sorted(_BY_KIND)}, got {v!r}")
            out.append(int(v))
        else:
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
                raise ValueError(f"{where}[{i}] must be a finite number, got {v!r}")
            out.append(float(v))
    return tuple(out)


def check_clip(clip):
    """None, or a positive finite float."""
    if clip is None:
        return None
    if isinstance(clip, bool) or not isinstance(clip, numbers.Real) or not (
            math.isfinite(clip) and clip > 0):
        raise ValueError(f"clip must be None or a positive finite number, got {clip!r}")
    return float(clip)


def parse(activations, num_directions):
    """A user's ``activations`` argument -> one 6-tuple per direction.

    Accepted: None (sigmoid, tanh); a pair of names ``("hardsigmoid", "relu")``;
    a pair of ``(name, alpha, beta)`` triples (alpha/beta None for the ONNX
    default); a list of such pairs, one per direction; or kernel 6-tuples."""
    if activations is None:
        return [DEFAULT] * num_directions

    def fn(x, where):
        if isinstance(x, str):
            return onnx_activation(x)
        if isinstance(x, (tuple, list)) and len(x) == 3 and isinstance(x[0], str):
            return onnx_activation(*x)
        raise ValueError(f"{where} must be an activation name or (name, alpha, beta), "
                         f"got {x!r}")

    def one(p, where):
        if isinstance(p, (tuple, list)) and len(p) == 6:
            return _check_spec(p, where)
        if isinstance(p, (tuple, list)) and len(p) == 2:
            return fn(p[0], f"{where}[0]") + fn(p[1], f"{where}[1]")
        raise ValueError(f"{where} must be a pair (gate activation, candidate "
                         f"activation), got {p!r}")

    if isinstance(activations, (tuple, list)) and len(activations) == 2 and \
            not all(isinstance(p, (tuple, list)) and len(p) in (2, 6) for p in activations):
        return [one(activations, "activations")] * num_directions
    if isinstance(activations, (tuple, list)) and len(activations) == num_directions and \
            all(isinstance(p, (tuple, list)) and len(p) in (2, 6) for p in activations):
        return [one(p, f"activations[{d}]") for d, p in enumerate(activations)]
    raise ValueError(f"activations must be a pair (gate, candidate) of activation names or "
                     f"a list of {num_directions} such pairs (one per direction), "
                     f"got {activations!r}")


def describe(specs):
    """Kernel 6-tuples -> per direction ((name, alpha, beta), (name, alpha, beta))."""
    def one(kind, alpha, beta):
        return (onnx_name(kind), alpha if takes_alpha(kind) else None,
                beta if takes_beta(kind) else None)
    return [(one(*s[:3]), one(*s[3:])) for s in specs]
