"""ONNX <-> cgru for the ONNX ``GRU`` operator (opsets 7 to the newest one the
installed onnx package knows; GRU is GRU-22 in every opset from 22 on).

ONNX stores, per direction d (0 forward, 1 backward),
    W [D, 3H, I]  gate blocks z, r, h      (cgru weight_ih: r, z, n)
    R [D, 3H, H]  gate blocks z, r, h      (cgru weight_hh: r, z, n)
    B [D, 6H]     Wb[zrh] then Rb[zrh]     (cgru bias_ih, bias_hh: r, z, n)
and computes h' = (1 - z) * h~ + z * h, like cgru.  ``linear_before_reset=1`` is
cgru's ``reset_after=True``; 0 (ONNX's default) is ``reset_after=False``.

Outputs: ONNX's Y is (T, D, N, H) (layout 1: (N, T, D, H)); cgru returns
y (T, N, D*H) (batch_first: (N, T, D*H)), so
    Y = y.reshape(T, N, D, H).transpose(0, 2, 1, 3)      (layout 0)
    Y = y.reshape(N, T, D, H)                            (layout 1)
and Y_h = h_n (layout 0) or h_n.transpose(1, 0, 2) (layout 1).
"""

import os

import numpy as np

from cgru import _activations as A
from cgru.convert import swap_zr as _zrh_to_rzn, swap_zr as _rzn_to_zrh

_ATTRS = {"activation_alpha", "activation_beta", "activations", "clip", "direction",
          "hidden_size", "layout", "linear_before_reset"}
_DIRECTIONS = {"forward": 1, "reverse": 1, "bidirectional": 2}
MIN_OPSET = 7


def _max_opset(onnx):
    """The newest default-domain opset the installed onnx knows."""
    return int(onnx.defs.onnx_opset_version())


def _import_onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("this needs ONNX: pip install 'cgru[onnx]'") from None
    return onnx




# ------------------------------------------------------------------ loading
def _load_model(onnx, model_or_path):
    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path
    if isinstance(model_or_path, (str, bytes)) or hasattr(model_or_path, "__fspath__"):
        path = os.fsdecode(model_or_path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"from_onnx: no such file {path!r}")
        try:
            model = onnx.load(path)
        except Exception as e:   # DecodeError and friends from protobuf
            raise ValueError(f"from_onnx: {path!r} is not a readable ONNX model: "
                             f"{type(e).__name__}: {e}") from None
        if not model.HasField("graph"):
            raise ValueError(f"from_onnx: {path!r} is not a readable ONNX model (no graph)")
        return model
    raise TypeError(f"from_onnx: expected an onnx.ModelProto or a file path, "
                    f"got {type(model_or_path).__name__}")


def _opset(model):
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return int(o.version)
    raise ValueError("from_onnx: the model imports no default-domain (ai.onnx) opset")


def _gru_nodes(model):
    return [n for n in model.graph.node if n.op_type == "GRU" and n.domain in ("", "ai.onnx")]


def _label(n):
    """A GRU node's name, or (node names are optional in ONNX) its first output's."""
    return n.name if n.name else next((o for o in n.output if o), "<unnamed>")


def _pick_node(model, node):
    """The GRU node named ``node`` (a node name or one of its output names)."""
    grus = _gru_nodes(model)
    if not grus:
        raise ValueError("from_onnx: the model has no GRU node")
    labels = [_label(n) for n in grus]
    if not isinstance(node, str):
        raise TypeError(f"from_onnx: node must be a node name (str), got {type(node).__name__}")
    named = [n for n in grus if n.name == node] or \
        [n for n in grus if node in [o for o in n.output if o]]
    if not named:
        raise ValueError(f"from_onnx: no GRU node named {node!r} (nor with an output of that "
                         f"name); the GRU nodes are {labels}")
    if len(named) > 1:
        raise ValueError(f"from_onnx: {len(named)} GRU nodes are named {node!r}")
    return named[0]


def _attributes(onnx, n):
    attrs = {}
    for a in n.attribute:
        if a.name not in _ATTRS:
            raise ValueError(f"from_onnx: GRU node {n.name!r} has unknown attribute {a.name!r}")
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, list):
            v = [x.decode() if isinstance(x, bytes) else x for x in v]
        attrs[a.name] = v
    return attrs


_NOT_CONSTANT = object()   # an input fed by another node or a graph input


def _initializer(onnx, model, n, index, what):
    """The constant feeding input ``index`` of node n: an initializer, or a value
    computed from initializers and Constant nodes only (e.g. torch.onnx.export
    without constant folding); None if the input is absent, _NOT_CONSTANT if it
    depends on a graph input."""
    if index >= len(n.input) or n.input[index] == "":
        return None
    name = n.input[index]
    for init in model.graph.initializer:
        if init.name == name:
            try:
                return onnx.numpy_helper.to_array(init)
            except Exception as e:
                raise ValueError(f"from_onnx: initializer {name!r} ({what}) cannot be "
                                 f"read: {e}") from None
    nodes = _constant_subgraph(model, name)
    if nodes is None:
        return _NOT_CONSTANT
    return _evaluate(onnx, model, nodes, name, what)


# Operators that only move, select or retype constant data (what exporters write
# around weights when they do not fold constants).  Nothing that makes data from
# a shape (ConstantOfShape, Expand, Tile, ...): a hostile file could ask for
# terabytes.  Sizes are also checked by shape inference before evaluating.
_DATA_OPS = {"Constant", "Identity", "Cast", "Slice", "Concat", "Unsqueeze", "Squeeze",
             "Reshape", "Transpose", "Split", "Flatten"}


def _constant_subgraph(model, name):
    """The nodes (in graph order) computing ``name`` from initializers and
    Constant nodes alone through _DATA_OPS, or None when it depends on anything
    else (a graph input, another operator or domain)."""
    inits = {t.name for t in model.graph.initializer}
    producer = {o: i for i, nd in enumerate(model.graph.node) for o in nd.output if o}
    needed, stack = set(), [name]
    while stack:
        t = stack.pop()
        if t in inits:
            continue
        i = producer.get(t)
        if i is None:
            return None                      # a graph input (or nothing)
        if i in needed:
            continue
        nd = model.graph.node[i]
        if nd.domain not in ("", "ai.onnx") or nd.op_type not in _DATA_OPS:
            return None
        needed.add(i)
        stack.extend(t2 for t2 in nd.input if t2)
    return [model.graph.node[i] for i in sorted(needed)]


def _check_sizes(onnx, sub, name):
    """Refuse (before computing anything) a constant subgraph whose tensors are
    not all of known size or outgrow the constants they are made of (x4, plus
    a million elements)."""
    def count(t):
        return int(np.prod(t.dims, dtype=np.float64))
    stored = sum(count(t) for t in sub.graph.initializer)
    stored += sum(count(a.t) for nd in sub.graph.node for a in nd.attribute if a.name == "value")
    limit = 4 * stored + (1 << 20)
    inferred = onnx.shape_inference.infer_shapes(sub, strict_mode=True, data_prop=True)
    for v in list(inferred.graph.value_info) + list(inferred.graph.output):
        dims = v.type.tensor_type.shape.dim
        if not v.type.tensor_type.HasField("shape") or any(not d.HasField("dim_value") for d in dims):
            raise ValueError(f"the size of {v.name!r} is not known before evaluating it")
        if np.prod([float(d.dim_value) for d in dims]) > limit:
            raise ValueError(f"{v.name!r} would have shape {[d.dim_value for d in dims]}, far "
                             f"more than the constants it is computed from")


def _evaluate(onnx, model, nodes, name, what):
    """The value of ``name``, computed by ``nodes`` with onnx's reference evaluator."""
    from onnx import helper
    from onnx.reference import ReferenceEvaluator
    used = {t for nd in nodes for t in nd.input}
    graph = helper.make_graph(nodes, "constant", [],
                              [helper.make_tensor_value_info(name, 0, None)],
                              [t for t in model.graph.initializer if t.name in used])
    sub = helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)
    try:
        _check_sizes(onnx, sub, name)
        value = np.asarray(ReferenceEvaluator(sub).run(None, {})[0])
    except Exception as e:
        raise ValueError(f"from_onnx: GRU input {what} ({name!r}) is computed from constants, "
                         f"but evaluating it failed: {type(e).__name__}: {e}") from None
    return value


def _activation_specs(attrs, D, node_name):
    """The ONNX activations attribute -> one cgru 6-tuple per direction.

    activation_alpha / activation_beta are consumed in order by the functions
    that take an alpha (a beta), as onnxruntime does; functions that take none
    consume no value; a function whose value is missing takes ONNX's default."""
    names = attrs.get("activations", ["Sigmoid", "Tanh"] * D)
    if len(names) != 2 * D:
        raise ValueError(f"from_onnx: GRU node {node_name!r} has {len(names)} activations; "
                         f"direction needs {2 * D} (f, g per direction)")
    alphas = list(attrs.get("activation_alpha", []))
    betas = list(attrs.get("activation_beta", []))
    kinds = []
    for name in names:
        kind = A.onnx_kind(name)
        alpha = alphas.pop(0) if A.takes_alpha(kind) and alphas else None
        beta = betas.pop(0) if A.takes_beta(kind) and betas else None
        kinds.append(A.onnx_activation(name, alpha, beta))
    if alphas or betas:
        raise ValueError(f"from_onnx: GRU node {node_name!r} has more activation_alpha/"
                         f"activation_beta values than its activations {names} take")
    return [kinds[2 * d] + kinds[2 * d + 1] for d in range(D)]


def _node_parts(onnx, model, n):
    """One GRU node as (config, per-direction weights in cgru's layout, activation
    specs, clip, reverse_only, layout, weight dtype)."""
    attrs = _attributes(onnx, n)
    direction = attrs.get("direction", "forward")
    if direction not in _DIRECTIONS:
        raise ValueError(f"from_onnx: GRU node {n.name!r} has direction {direction!r}; "
                         f"expected forward, reverse or bidirectional")
    D = _DIRECTIONS[direction]
    lbr = int(attrs.get("linear_before_reset", 0))
    layout = int(attrs.get("layout", 0))
    if lbr not in (0, 1):
        raise ValueError(f"from_onnx: linear_before_reset must be 0 or 1, got {lbr}")
    if layout not in (0, 1):
        raise ValueError(f"from_onnx: layout must be 0 or 1, got {layout}")
    if len(n.input) < 3:
        raise ValueError(f"from_onnx: GRU node {n.name!r} needs inputs X, W, R")
    arrays = {}
    for i, what in enumerate(("W", "R", "B", "sequence_lens", "initial_h"), start=1):
        arrays[what] = _initializer(onnx, model, n, i, what)
        if what in ("W", "R", "B") and arrays[what] is _NOT_CONSTANT:
            raise ValueError(f"from_onnx: GRU input {what} ({n.input[i]!r}) is not an "
                             f"initializer (nor computed from constants only); cgru needs "
                             f"the weights stored in the model")
    W, R, B = arrays["W"], arrays["R"], arrays["B"]
    if R is None or R.ndim != 3 or R.shape[0] != D or R.shape[1] != 3 * R.shape[2]:
        raise ValueError(f"from_onnx: R must have shape [{D}, 3*hidden_size, hidden_size] "
                         f"for direction {direction!r}, got {None if R is None else R.shape}")
    H = R.shape[2]
    if "hidden_size" in attrs and int(attrs["hidden_size"]) != H:
        raise ValueError(f"from_onnx: hidden_size attribute {attrs['hidden_size']} does not "
                         f"match R's shape {R.shape}")
    if W is None or W.ndim != 3 or W.shape[:2] != (D, 3 * H) or W.shape[2] < 1:
        raise ValueError(f"from_onnx: W must have shape [{D}, {3 * H}, input_size], got "
                         f"{None if W is None else W.shape}")
    if B is not None and B.shape != (D, 6 * H):
        raise ValueError(f"from_onnx: B must have shape [{D}, {6 * H}], got {B.shape}")
    for a, what in ((W, "W"), (R, "R"), (B, "B")):
        if a is not None and a.dtype.kind != "f":
            raise ValueError(f"from_onnx: {what} must be a floating-point tensor, got {a.dtype}")
    # sequence_lens and initial_h are call-time arguments in cgru (lengths=, h0=).
    h0 = arrays["initial_h"]
    if h0 is not None and h0 is not _NOT_CONSTANT and np.any(h0 != 0):
        raise ValueError(f"from_onnx: GRU node {n.name!r} has a constant non-zero "
                         f"initial_h; cgru takes the initial state at call time: pass it "
                         f"as h0= (make initial_h a graph input)")
    if arrays["sequence_lens"] is not None and arrays["sequence_lens"] is not _NOT_CONSTANT:
        raise ValueError(f"from_onnx: GRU node {n.name!r} has constant sequence_lens; cgru "
                         f"takes them at call time: pass lengths= (make it a graph input)")
    weights = []
    for d in range(D):
        w = {"weight_ih": _zrh_to_rzn(W[d], H), "weight_hh": _zrh_to_rzn(R[d], H)}
        if B is not None:
            w["bias_ih"], w["bias_hh"] = _zrh_to_rzn(B[d, :3 * H], H), _zrh_to_rzn(B[d, 3 * H:], H)
        weights.append(w)
    config = {"input_size": W.shape[2], "hidden_size": H, "bias": B is not None,
              "bidirectional": D == 2, "reset_after": lbr == 1}
    return (config, weights, _activation_specs(attrs, D, n.name), A.check_clip(attrs.get("clip")),
            direction == "reverse", layout, W.dtype)


def _build(cls, parts, batch_first, dtype):
    """One cgru.GRU from the _node_parts of its layers, bottom first."""
    config, _, specs, clip, reverse_only, layout, wdtype = parts[0]
    if dtype is None:
        dtype = np.float64 if wdtype == np.float64 else np.float32
    g = cls(config["input_size"], config["hidden_size"], len(parts), bias=config["bias"],
            batch_first=batch_first, bidirectional=config["bidirectional"],
            reset_after=config["reset_after"], dtype=dtype)
    sd = {}
    for layer, p in enumerate(parts):
        for d, w in enumerate(p[1]):
            sfx = "_reverse" if d else ""
            sd.update({f"{k}_l{layer}{sfx}": v for k, v in w.items()})
    g._configure(reverse_only=reverse_only, activations=specs, clip=clip)
    g.load_state_dict(sd)          # compiles
    return g


def _producers(model):
    return {o: nd for nd in model.graph.node for o in nd.output if o}


def _const_ints(onnx, model, nd, index):
    """The constant integers fed to input ``index`` of nd (None if absent or not
    constant)."""
    v = _initializer(onnx, model, nd, index, f"{nd.op_type} input {index}")
    if v is None or v is _NOT_CONSTANT:
        return None
    return [int(a) for a in np.asarray(v).ravel()]


def _attr_ints(onnx, nd, name):
    for a in nd.attribute:
        if a.name == name:
            return [int(v) for v in onnx.helper.get_attribute_value(a)]
    return None


def _gru_below(onnx, model, producer, n):
    """(the GRU node whose Y becomes GRU n's input X as (T, N, D*H), None) through
    what exporters write between stacked layers: Squeeze(axes=[1]) (one
    direction) or Transpose(perm=[0, 2, 1, 3]) then Reshape to [0, 0, -1] (or
    concrete sizes ending in D*H); else (None, where X comes from)."""
    name = n.input[0]
    nd = producer.get(name)
    if nd is None:
        return None, f"{_label(n)!r} reads the graph input {name!r}"
    where = f"{_label(n)!r} reads {nd.op_type} {_label(nd)!r}"
    if nd.domain not in ("", "ai.onnx"):
        return None, where

    def gru_y(t):              # the GRU whose first output is t
        src = producer.get(t)
        ok = src is not None and src.op_type == "GRU" and src.output[0] == t
        return src if ok else None

    if nd.op_type == "Squeeze":
        axes = _attr_ints(onnx, nd, "axes")
        if axes is None and len(nd.input) > 1:
            axes = _const_ints(onnx, model, nd, 1)
        src = gru_y(nd.input[0])
        if axes == [1] and src is not None and _DIRECTIONS.get(
                _attributes(onnx, src).get("direction", "forward")) == 1:
            return _private(model, src, [nd.input[0], name])
    elif nd.op_type == "Reshape":
        shape = _const_ints(onnx, model, nd, 1)
        tr = producer.get(nd.input[0])
        if shape is not None and len(shape) == 3 and tr is not None \
                and tr.op_type == "Transpose" and _attr_ints(onnx, tr, "perm") == [0, 2, 1, 3]:
            src = gru_y(tr.input[0])
            if src is not None:
                R = _initializer(onnx, model, src, 2, "R")
                DH = None if R is None or R is _NOT_CONSTANT or R.ndim != 3 else \
                    R.shape[0] * R.shape[2]
                if _tnc_shape(onnx, model, tr.output[0], shape, DH):
                    return _private(model, src, [tr.input[0], tr.output[0], name])
    return None, where


def _private(model, src, tensors):
    """(src, None) when each tensor between GRU ``src`` and the GRU above is read
    by one node only (besides Shape / Size) and is no graph output: the stack hides nothing the rest of
    the model uses; else (None, what else uses it)."""
    outputs = {v.name for v in model.graph.output}
    for t in tensors:
        # Shape / Size read no data (the TorchScript exporter sizes initial_h so)
        readers = [nd for nd in model.graph.node
                   if t in nd.input and nd.op_type not in ("Shape", "Size")]
        if t in outputs or len(readers) != 1:
            used = [f"{nd.op_type} {_label(nd)!r}" for nd in readers] + \
                (["a graph output"] if t in outputs else [])
            return None, f"the output {t!r} of {_label(src)!r} goes to {', '.join(used)}"
    return src, None


def _tnc_shape(onnx, model, name, shape, DH):
    """True when Reshape(shape) turns tensor ``name`` (T, N, D, H) into (T, N, D*H):
    0 copies a size; a concrete T or N must be the inferred one (a Reshape that
    regroups time and batch is no stack)."""
    if len(shape) != 3 or shape[0] < 0 or not ((shape[1] >= 0 and shape[2] in (-1, DH))
                                               or (shape[1] == -1 and shape[2] == DH)):
        return False
    if shape[0] == 0 and shape[1] in (0, -1):
        return True
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:
        return False
    for v in inferred.graph.value_info:
        if v.name == name:
            dims = [d.dim_value if d.HasField("dim_value") else None
                    for d in v.type.tensor_type.shape.dim]
            return len(dims) == 4 and all(want in (0, -1) or want == have for want, have in
                                          zip(shape[:2], dims[:2]))
    return False


def _stack(onnx, model, grus, parts):
    """The GRU nodes with their parts, bottom to top, when each one's input X is
    the one below's Y (_gru_below) and all are alike but for the bottom's input
    size; else (None, the reason)."""
    producer = _producers(model)
    by_id = {id(n): p for n, p in zip(grus, parts)}
    below, above = {}, {}
    for n in grus:
        src, where = _gru_below(onnx, model, producer, n)
        if src is None:
            below[id(n)] = where
            continue
        if id(src) in above:
            return None, (f"{_label(above[id(src)])!r} and {_label(n)!r} both read "
                          f"{_label(src)!r}")
        below[id(n)], above[id(src)] = src, n
    bottoms = [below[id(n)] for n in grus if isinstance(below[id(n)], str)]
    if len(bottoms) != 1:      # (reading a graph input is what a bottom does: said last)
        bottoms.sort(key=lambda why: "reads the graph input" in why)
        return None, "; ".join(bottoms) if bottoms else "the GRU nodes form a cycle"
    order = [next(n for n in grus if isinstance(below[id(n)], str))]
    while id(order[-1]) in above and len(order) <= len(grus):
        order.append(above[id(order[-1])])
    if len(order) != len(grus):
        return None, "the GRU nodes do not form one chain"
    first = by_id[id(order[0])]
    c0 = first[0]
    for n in order[1:]:
        p = by_id[id(n)]
        c = p[0]
        for key in ("hidden_size", "bias", "bidirectional", "reset_after"):
            if c[key] != c0[key]:
                return None, (f"{_label(order[0])!r} and {_label(n)!r} differ in {key} "
                              f"({c0[key]} vs {c[key]})")
        if p[2] != first[2] or p[3] != first[3]:
            return None, f"{_label(order[0])!r} and {_label(n)!r} differ in activations or clip"
        if p[4] or first[4]:
            return None, "the nodes run in reverse (a stack is forward or bidirectional)"
        if p[5] or first[5]:
            return None, "the nodes have layout=1"
    return [(n, by_id[id(n)]) for n in order], None


def _batch_major_input(onnx, model, n):
    """True when GRU node n (layout 0) reads a graph input through
    Transpose(perm=[1, 0, 2]): a batch-major model, as torch.onnx.export writes
    for batch_first=True."""
    nd = _producers(model).get(n.input[0])
    graph_inputs = {v.name for v in model.graph.input}
    return (nd is not None and nd.op_type == "Transpose" and nd.domain in ("", "ai.onnx")
            and _attr_ints(onnx, nd, "perm") == [1, 0, 2] and nd.input[0] in graph_inputs)


def _open(model_or_path):
    onnx = _import_onnx()
    model = _load_model(onnx, model_or_path)
    opset = _opset(model)
    if not MIN_OPSET <= opset <= _max_opset(onnx):
        raise ValueError(f"from_onnx: opset {opset} is not supported (opsets {MIN_OPSET} to "
                         f"{_max_opset(onnx)}, the newest the installed onnx "
                         f"{onnx.__version__} knows)")
    return onnx, model


def gru_from_onnx(cls, model_or_path, node=None, dtype=None, *, option="node"):
    """The model's GRU: its one GRU node, or its GRU nodes stacked into one
    multi-layer GRU, or the node named ``node``.  ``option`` is how the caller
    names that choice in messages (``node`` in Python, ``--layer`` in the CLI)."""
    onnx, model = _open(model_or_path)
    if node is not None:
        n = _pick_node(model, node)
        parts = _node_parts(onnx, model, n)
        return _build(cls, [parts], parts[5] == 1, dtype)
    grus = _gru_nodes(model)
    if not grus:
        raise ValueError("from_onnx: the model has no GRU node")
    parts = [_node_parts(onnx, model, n) for n in grus]
    if len(grus) == 1:
        stack, why = [(grus[0], parts[0])], None
    else:
        stack, why = _stack(onnx, model, grus, parts)
    if stack is None:
        labels = [_label(n) for n in grus]
        how = (f"--layer NAME (one of {labels})" if option == "--layer"
               else f"node=NAME (one of {labels}), or all of them by name with "
                    f"cgru.GRU.from_onnx_all(model)")
        raise ValueError(f"from_onnx: the model has {len(grus)} GRU nodes {labels} that do "
                         f"not form one stack ({why}); take one with {how}")
    bottom, first = stack[0]
    batch_first = first[5] == 1 or _batch_major_input(onnx, model, bottom)
    return _build(cls, [p for _, p in stack], batch_first, dtype)


def grus_from_onnx(cls, model_or_path, dtype=None):
    """Every GRU node of the model as its own one-layer cgru.GRU, by node name
    (or, for an unnamed node, its first output's name), in graph order."""
    onnx, model = _open(model_or_path)
    grus = _gru_nodes(model)
    if not grus:
        raise ValueError("from_onnx: the model has no GRU node")
    out = {}
    for n in grus:
        parts = _node_parts(onnx, model, n)
        label = _label(n)
        if label in out:
            raise ValueError(f"from_onnx: two GRU nodes are named {label!r}")
        out[label] = _build(cls, [parts], parts[5] == 1, dtype)
    return out


# ------------------------------------------------------------------ export
def _activation_attrs(g):
    names, alphas, betas = [], [], []
    for spec in g._activations:
        for kind, alpha, beta in (spec[:3], spec[3:]):
            names.append(A.onnx_name(kind))
            if A.takes_alpha(kind):
                alphas.append(alpha)
            if A.takes_beta(kind):
                betas.append(beta)
    return names, alphas, betas


def gru_to_onnx(g, path=None, *, opset=14, h0=False, lengths=False):
    """The model as an ONNX graph: one GRU node per layer.

    Graph inputs: ``x`` (T, N, I) ((N, T, I) when batch_first), then ``h0``
    (num_layers*D, N, H) if h0=True and ``lengths`` (N,) int32 if lengths=True.
    Outputs: ``y`` and ``h_n`` shaped like cgru's.  The GRU nodes use layout 0
    (what onnxruntime runs); batch_first models get Transposes around them."""
    onnx = _import_onnx()
    from onnx import TensorProto, helper, numpy_helper
    newest = _max_opset(onnx)
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"to_onnx: opset must be an int in [{MIN_OPSET}, {newest}] (the newest "
                         f"the installed onnx {onnx.__version__} knows), got {opset!r}")
    H, D, L, I = g.hidden_size, g.num_directions, g.num_layers, g.input_size
    elem = TensorProto.DOUBLE if g.dtype == np.float64 else TensorProto.FLOAT
    sd = g.state_dict()
    nodes, inits = [], []
    names, alphas, betas = _activation_attrs(g)
    direction = "bidirectional" if D == 2 else ("reverse" if g._reverse_only else "forward")
    x_shape = ["N", "T", I] if g.batch_first else ["T", "N", I]
    inputs = [helper.make_tensor_value_info("x", elem, x_shape)]
    cur = "x"
    if g.batch_first:
        nodes.append(helper.make_node("Transpose", ["x"], ["x_tnc"], perm=[1, 0, 2]))
        cur = "x_tnc"
    if h0:
        inputs.append(helper.make_tensor_value_info("h0", elem, [L * D, "N", H]))
    if lengths:
        inputs.append(helper.make_tensor_value_info("lengths", TensorProto.INT32, ["N"]))
    inits.append(numpy_helper.from_array(np.array([0, 0, -1], np.int64), "shape_t_n_dh"))
    hn_parts = []
    for layer in range(L):
        p = f"l{layer}_"
        W = np.stack([_rzn_to_zrh(sd[f"weight_ih_l{layer}{s}"], H) for s in ("", "_reverse")[:D]])
        R = np.stack([_rzn_to_zrh(sd[f"weight_hh_l{layer}{s}"], H) for s in ("", "_reverse")[:D]])
        inits += [numpy_helper.from_array(W, p + "W"), numpy_helper.from_array(R, p + "R")]
        node_in = [cur, p + "W", p + "R", "", "", ""]
        if g.bias:
            B = np.stack([np.concatenate([_rzn_to_zrh(sd[f"bias_ih_l{layer}{s}"], H),
                                          _rzn_to_zrh(sd[f"bias_hh_l{layer}{s}"], H)])
                          for s in ("", "_reverse")[:D]])
            inits.append(numpy_helper.from_array(B, p + "B"))
            node_in[3] = p + "B"
        if lengths:
            node_in[4] = "lengths"
        if h0:
            idx = np.arange(layer * D, (layer + 1) * D, dtype=np.int64)
            inits.append(numpy_helper.from_array(idx, p + "h0_index"))
            nodes.append(helper.make_node("Gather", ["h0", p + "h0_index"], [p + "h0"], axis=0))
            node_in[5] = p + "h0"
        while node_in[-1] == "":
            node_in.pop()
        kw = dict(hidden_size=H, direction=direction, linear_before_reset=int(g.reset_after),
                  activations=names)
        if alphas:
            kw["activation_alpha"] = alphas
        if betas:
            kw["activation_beta"] = betas
        if g._clip is not None:
            kw["clip"] = g._clip
        nodes.append(helper.make_node("GRU", node_in, [p + "Y", p + "Y_h"], name=f"gru_l{layer}", **kw))
        # (T, D, N, H) -> (T, N, D, H) -> (T, N, D*H): the next layer's input
        nodes.append(helper.make_node("Transpose", [p + "Y"], [p + "Y_tndh"], perm=[0, 2, 1, 3]))
        cur = "y_tnc" if layer == L - 1 else p + "out"
        nodes.append(helper.make_node("Reshape", [p + "Y_tndh", "shape_t_n_dh"], [cur]))
        hn_parts.append(p + "Y_h")
    if g.batch_first:
        nodes.append(helper.make_node("Transpose", [cur], ["y"], perm=[1, 0, 2]))
    else:
        nodes[-1].output[0] = "y"
    if L == 1:
        nodes.append(helper.make_node("Identity", hn_parts, ["h_n"]))
    else:
        nodes.append(helper.make_node("Concat", hn_parts, ["h_n"], axis=0))
    y_shape = ["N", "T", D * H] if g.batch_first else ["T", "N", D * H]
    outputs = [helper.make_tensor_value_info("y", elem, y_shape),
               helper.make_tensor_value_info("h_n", elem, [L * D, "N", H])]
    opsets = [helper.make_opsetid("", opset)]
    ir = helper.find_min_ir_version_for(opsets)
    if ir < 4:   # before IR 4 every initializer is also a graph input
        inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits]
    graph = helper.make_graph(nodes, "cgru", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=opsets, producer_name="cgru", ir_version=ir)
    onnx.checker.check_model(model)
    if path is not None:
        onnx.save(model, os.fspath(path))
    return model
