"""Keras 3 <-> cgru for ``keras.layers.GRU`` and ``keras.layers.Bidirectional(GRU)``.

Keras stores per GRU
    kernel            (I, 3U)  columns in gate order z, r, h   (cgru weight_ih (3U, I): r, z, n)
    recurrent_kernel  (U, 3U)  columns z, r, h                 (cgru weight_hh (3U, U))
    bias              (2, 3U) with reset_after=True: row 0 input bias, row 1 recurrent
                      bias (cgru bias_ih, bias_hh); (3U,) with reset_after=False: input
                      bias only (cgru bias_ih; bias_hh = 0)
and computes h' = z * h + (1 - z) * h~, like cgru.  Keras is batch-major, so the
model comes out with batch_first=True.  ``go_backwards=True`` becomes a GRU whose
one direction runs back to front; cgru's y stays aligned with the input (y[:, t]
is the state after reading x[:, t]), so Keras's return_sequences output is
y[:, ::-1] and Keras's last output is h_n[0].
"""

import numpy as np

from cgru import _activations as A
from cgru.convert import swap_zr


def _activation(fn, layer_name, what):
    """The cgru (kind, alpha, beta) for a Keras activation function."""
    import keras
    for name in A.KERAS:
        try:
            candidate = keras.activations.get(name)
        except (ValueError, AttributeError):   # not in this Keras version
            continue
        if fn is candidate:
            return A.keras_activation(name)
    label = getattr(fn, "__name__", repr(fn))
    raise ValueError(f"from_keras: layer {layer_name!r} has {what}={label!r}, which cgru cannot "
                     f"represent exactly; supported: {sorted(A.KERAS)}")


def _gru_parts(layer, dtype):
    """(config, state_dict for one direction, activation 6-tuple) of a keras GRU."""
    import keras
    if not (isinstance(layer, keras.layers.RNN) and isinstance(layer.cell, keras.layers.GRUCell)):
        raise TypeError(f"from_keras: expected keras.layers.GRU (or RNN(GRUCell)) or "
                        f"keras.layers.Bidirectional wrapping one, got {type(layer).__name__}")
    cell = layer.cell
    if not layer.built or getattr(cell, "kernel", None) is None:
        raise ValueError(f"from_keras: layer {layer.name!r} is not built; call it on an input "
                         f"(or build it) first so that its weights exist")
    U = int(cell.units)
    kernel = np.asarray(keras.ops.convert_to_numpy(cell.kernel))
    rkernel = np.asarray(keras.ops.convert_to_numpy(cell.recurrent_kernel))
    if kernel.ndim != 2 or kernel.shape[1] != 3 * U or rkernel.shape != (U, 3 * U):
        raise ValueError(f"from_keras: layer {layer.name!r} has kernel {kernel.shape} and "
                         f"recurrent_kernel {rkernel.shape}; expected (input, {3 * U}) and "
                         f"({U}, {3 * U})")
    sd = {"weight_ih": swap_zr(kernel.T, U), "weight_hh": swap_zr(rkernel.T, U)}
    if cell.use_bias:
        bias = np.asarray(keras.ops.convert_to_numpy(cell.bias))
        if cell.reset_after:
            if bias.shape != (2, 3 * U):
                raise ValueError(f"from_keras: layer {layer.name!r} bias has shape {bias.shape}, "
                                 f"expected (2, {3 * U}) with reset_after=True")
            sd["bias_ih"], sd["bias_hh"] = swap_zr(bias[0], U), swap_zr(bias[1], U)
        else:
            if bias.shape != (3 * U,):
                raise ValueError(f"from_keras: layer {layer.name!r} bias has shape {bias.shape}, "
                                 f"expected ({3 * U},) with reset_after=False")
            sd["bias_ih"], sd["bias_hh"] = swap_zr(bias, U), np.zeros(3 * U, bias.dtype)
    spec = (_activation(cell.recurrent_activation, layer.name, "recurrent_activation")
            + _activation(cell.activation, layer.name, "activation"))
    config = {"input_size": kernel.shape[0], "hidden_size": U, "bias": bool(cell.use_bias),
              "reset_after": bool(cell.reset_after)}
    if dtype is None:
        dtype = np.float64 if kernel.dtype == np.float64 else np.float32
    return config, sd, spec, dtype


def _layer_parts(layer, dtype):
    """(config, state_dict per direction, activation spec per direction,
    reverse_only, dtype) of a keras GRU or Bidirectional(GRU)."""
    import keras
    if isinstance(layer, keras.layers.Bidirectional):
        if layer.merge_mode not in ("concat", None):
            raise ValueError(f"from_keras: Bidirectional merge_mode={layer.merge_mode!r} is not "
                             f"supported; cgru concatenates the two directions (use "
                             f"merge_mode='concat' or None)")
        fwd, bwd = layer.forward_layer, layer.backward_layer
        if fwd.go_backwards or not bwd.go_backwards:
            raise ValueError("from_keras: Bidirectional needs a forward layer with "
                             "go_backwards=False and a backward layer with go_backwards=True")
        cf, sdf, specf, dtype = _gru_parts(fwd, dtype)
        cb, sdb, specb, _ = _gru_parts(bwd, dtype)
        if cf != cb:
            raise ValueError(f"from_keras: the forward and backward layers differ ({cf} vs "
                             f"{cb}); cgru needs the same size, bias and reset_after")
        return dict(cf, bidirectional=True), [sdf, sdb], [specf, specb], False, dtype
    c, sd1, spec, dtype = _gru_parts(layer, dtype)
    return dict(c, bidirectional=False), [sd1], [spec], bool(layer.go_backwards), dtype


def _build(cls, parts):
    """One cgru.GRU (batch_first=True, as Keras) from the _layer_parts of its
    layers, bottom first."""
    config, _, specs, reverse_only, dtype = parts[0]
    g = cls(config["input_size"], config["hidden_size"], len(parts), bias=config["bias"],
            batch_first=True, bidirectional=config["bidirectional"],
            reset_after=config["reset_after"], dtype=dtype)
    g._configure(reverse_only=reverse_only, activations=specs)
    sd = {}
    for layer, p in enumerate(parts):
        for d, w in enumerate(p[1]):
            sfx = "_reverse" if d else ""
            sd.update({f"{k}_l{layer}{sfx}": v for k, v in w.items()})
    g.load_state_dict(sd)          # compiles
    return g


def is_gru(layer):
    """What from_keras takes: GRU, RNN(GRUCell), or a Bidirectional of one."""
    import keras
    if isinstance(layer, keras.layers.Bidirectional):
        return is_gru(layer.forward_layer)
    return isinstance(layer, keras.layers.RNN) and \
        isinstance(getattr(layer, "cell", None), keras.layers.GRUCell)


def gru_layers(model):
    """The GRU layers of a Keras model in order (a Bidirectional's own forward
    and backward layers are part of it, not listed)."""
    if is_gru(model):
        return [model]
    layers = [lay for lay in getattr(model, "_flatten_layers", lambda: model.layers)()
              if is_gru(lay)]
    inner = {id(getattr(lay, a, None)) for lay in layers for a in ("forward_layer",
                                                                    "backward_layer")}
    return [lay for lay in layers if id(lay) not in inner]


def _named(model, name):
    if not isinstance(name, str):
        raise TypeError(f"from_keras: layer= is the name (str) of one of the model's GRU "
                        f"layers, got {type(name).__name__}; pass a layer itself as the first "
                        f"argument")
    found = [lay for lay in getattr(model, "_flatten_layers", lambda: model.layers)()
             if lay.name == name and is_gru(lay)]
    if not found:
        names = [lay.name for lay in gru_layers(model)]
        raise ValueError(f"from_keras: the model has no GRU layer named {name!r}; its GRU "
                         f"layers are {names}")
    return found[0]


def _feeds(lower, upper):
    """True when Keras layer ``upper`` reads exactly ``lower``'s output.  By the
    tensor's history, not ``lower.output``: a Sequential loaded from a file has
    called its layers twice, and ``lower.output`` is the first call's."""
    try:
        src = upper.input._keras_history
        return src.operation is lower and src.tensor_index == 0
    except (AttributeError, ValueError):     # never called on a symbolic input
        return False


def _also_used(model, lower):
    """Why ``lower``'s output is used elsewhere than by the GRU above ("" if not)."""
    mine = {id(lay) for lay in getattr(model, "_flatten_layers", lambda: model.layers)()}
    readers = [nd.operation for nd in getattr(lower, "_outbound_nodes", [])
               if id(getattr(nd, "operation", None)) in mine]    # a layer may be in other models
    if len(readers) > 1:
        return f"the output of {lower.name!r} goes to {[r.name for r in readers]}"
    if any(getattr(getattr(out, "_keras_history", None), "operation", None) is lower
           for out in getattr(model, "outputs", None) or []):
        return f"the output of {lower.name!r} is also a model output"
    return ""


def _stack_error(model, grus, why, option):
    names = [lay.name for lay in grus]
    how = (f"--layer NAME (one of {names})" if option == "--layer" else
           f"GRU.from_keras(model, layer=NAME) (NAME one of {names}), or all of them by name "
           f"with GRU.from_keras_all(model)")
    return ValueError(f"from_keras: the model's {len(grus)} GRU layers {names} do not form a "
                      f"pure stack ({why}); take one with {how}")


def gru_from_keras(cls, layer, dtype=None, *, name=None, option="layer"):
    """A cgru.GRU from a Keras GRU layer, or from a Keras model: its one GRU
    layer, or its GRU layers stacked into one multi-layer GRU when each reads
    the one below's output, or the GRU layer called ``name``."""
    import keras
    if not isinstance(layer, keras.Model):
        if name is not None:
            raise TypeError("from_keras: layer= picks a layer of a keras.Model; this is a "
                            f"{type(layer).__name__}")
        return _build(cls, [_layer_parts(layer, dtype)])
    model = layer
    if name is not None:
        return _build(cls, [_layer_parts(_named(model, name), dtype)])
    grus = gru_layers(model)
    if not grus:
        raise ValueError(f"from_keras: the model {model.name!r} has no GRU layer")
    parts = [_layer_parts(lay, dtype) for lay in grus]
    for lower, upper, p in zip(grus, grus[1:], parts[1:]):
        if not _feeds(lower, upper):
            try:
                src = upper.input._keras_history[0]
                where = f"{upper.name!r} reads {type(src).__name__} {src.name!r}"
            except (AttributeError, IndexError, ValueError):
                where = f"{upper.name!r} does not read {lower.name!r}'s output"
            raise _stack_error(model, grus, where, option)
        used = _also_used(model, lower)
        if used:
            raise _stack_error(model, grus, used, option)
        c0, c = parts[0][0], p[0]
        for key in ("hidden_size", "bias", "bidirectional", "reset_after"):
            if c[key] != c0[key]:
                raise _stack_error(model, grus, f"{grus[0].name!r} and {upper.name!r} differ "
                                   f"in {key}", option)
        if p[2] != parts[0][2]:
            raise _stack_error(model, grus, f"{grus[0].name!r} and {upper.name!r} differ in "
                               f"activations", option)
    if len(grus) > 1 and any(p[3] for p in parts):
        raise _stack_error(model, grus, "a layer has go_backwards=True", option)
    return _build(cls, parts)


def grus_from_keras(cls, model, dtype=None):
    """Every GRU layer of a Keras model as its own one-layer cgru.GRU, by layer name."""
    import keras
    if not isinstance(model, keras.Model):
        raise TypeError(f"from_keras_all: expected a keras.Model, got {type(model).__name__}")
    return {lay.name: _build(cls, [_layer_parts(lay, dtype)]) for lay in gru_layers(model)}


def _keras_name(spec, what):
    """The Keras name of one (kind, alpha, beta) (alpha/beta compared exactly)."""
    for name, (onnx, a, b) in A.KERAS.items():
        if A.onnx_activation(onnx, a, b) == tuple(spec):
            return name
    kind, alpha, beta = spec
    raise ValueError(f"to_keras: the {what} {A.onnx_name(kind)}(alpha={alpha}, beta={beta}) "
                     f"has no Keras 3 equivalent")


def gru_to_keras(g):
    """A built keras.layers.GRU (or Bidirectional(GRU), merge_mode="concat") with
    return_sequences=True, return_state=True and this model's weights."""
    try:
        import keras
    except ImportError:
        raise ImportError("this needs Keras 3: pip install 'cgru[keras]'") from None
    if g.num_layers != 1:
        raise ValueError(f"to_keras: a Keras GRU layer has one layer; this model has "
                         f"{g.num_layers} (convert a one-layer model per layer)")
    if g._clip is not None:
        raise ValueError("to_keras: Keras GRUs have no clip")
    H, sd = g.hidden_size, g.state_dict()
    dtype = g.dtype.name

    def layer(d, go_backwards):
        spec = g._activations[d]
        sfx = "_reverse" if d else ""
        kw = dict(recurrent_activation=_keras_name(spec[:3], "gate activation"),
                  activation=_keras_name(spec[3:], "candidate activation"))
        weights = [swap_zr(sd[f"weight_ih_l0{sfx}"], H).T, swap_zr(sd[f"weight_hh_l0{sfx}"], H).T]
        if g.bias:
            b_ih, b_hh = sd[f"bias_ih_l0{sfx}"], sd[f"bias_hh_l0{sfx}"]
            if g.reset_after:
                weights.append(np.stack([swap_zr(b_ih, H), swap_zr(b_hh, H)]))
            else:   # n = g(W_in x + b_in + W_hn (r h) + b_hn): every bias folds into one
                weights.append(swap_zr(b_ih + b_hh, H))
        return keras.layers.GRU(H, use_bias=g.bias, reset_after=g.reset_after,
                                go_backwards=go_backwards, return_sequences=True,
                                return_state=True, dtype=dtype, **kw), weights

    x = np.zeros((1, 1, g.input_size), dtype)
    if g.bidirectional:
        (fwd, wf), (bwd, wb) = layer(0, False), layer(1, True)
        out = keras.layers.Bidirectional(fwd, backward_layer=bwd, merge_mode="concat")
        out(x)
        out.forward_layer.set_weights(wf)
        out.backward_layer.set_weights(wb)
    else:
        out, w = layer(0, g._reverse_only)
        out(x)
        out.set_weights(w)
    return out
