"""PyTorch <-> cgru.  PyTorch's layout *is* the canonical one: names, shapes and
gate order (r, z, n) carry over unchanged; PyTorch's GRU is reset_after=True."""

import os
import re

import numpy as np

_KEY = re.compile(r"^(weight|bias)_(ih|hh)_l(\d+)(_reverse)?$")


def _import_torch():
    try:
        import torch
    except ImportError:
        raise ImportError("this needs PyTorch: pip install 'cgru[torch]'") from None
    return torch


def _numpy_state(sd):
    out = {}
    for k, v in sd.items():
        if hasattr(v, "detach"):
            v = v.detach().cpu()
            if str(v.dtype) in ("torch.bfloat16", "torch.float16"):
                v = v.float()
            v = v.numpy()
        out[k] = np.asarray(v)
    return out


def _infer_dtype(sd, dtype):
    if dtype is not None:
        return dtype
    first = next(iter(sd.values()))
    return np.float64 if np.asarray(first).dtype == np.float64 else np.float32


def _load_path(path):
    torch = _import_torch()
    if not os.path.isfile(os.fsdecode(path)):
        raise FileNotFoundError(f"from_torch: no such file {os.fsdecode(path)!r}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"from_torch: cannot read {path!r} as a torch.save file of a "
                         f"state_dict (loaded with weights_only=True): {load_error(e)}") from None
    if not hasattr(obj, "keys"):
        raise ValueError(f"from_torch: {path!r} holds a {type(obj).__name__}, expected a "
                         f"state_dict (save module.state_dict(), not the module)")
    _check_storage(path, obj)
    return obj


def _check_storage(path, sd):
    """Refuse tensors that claim more values than the file holds: zero-stride
    (``expand``), overlapping (``as_strided``) or repeated views of one storage
    would otherwise become arrays far larger than the file (2 KB -> 150 MB)."""
    held, claimed = {}, 0
    for v in sd.values():
        if hasattr(v, "untyped_storage"):
            storage = v.untyped_storage()
            held[storage.data_ptr()] = storage.nbytes()
            claimed += v.numel() * v.element_size()
    if claimed > sum(held.values()):
        raise ValueError(f"from_torch: {path!r} holds {sum(held.values())} bytes of tensor data "
                         f"but its tensors claim {claimed} (zero-stride, expanded or "
                         f"overlapping views): a corrupted or hostile file; save "
                         f"contiguous tensors (.contiguous()) instead")


def _check_layers(sd, input_size, hidden_size, num_layers, num_directions, bias):
    """Every name and shape the model needs, checked before it is built: a file
    naming weight_ih_l30000 must not build 30001 layers to find layer 1 missing."""
    from cgru.gru import _check_state_dict, _param_shapes
    per_layer = num_directions * (4 if bias else 2)
    if num_layers * per_layer > len(sd):     # name what the first layers lack
        shapes = _param_shapes(input_size, hidden_size, len(sd) // per_layer + 1,
                               num_directions, bias)
        missing = [k for k in shapes if k not in sd]
        raise ValueError(f"from_torch: the state_dict names layer {num_layers - 1} but lacks "
                         f"{missing[:8]}{' ...' if len(missing) > 8 else ''}")
    _check_state_dict(_param_shapes(input_size, hidden_size, num_layers, num_directions, bias),
                      sd)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def load_error(e):
    """One line saying why torch.load(..., weights_only=True) failed.  torch's own
    message spans several lines with terminal escapes and advice to load unsafely;
    the reason is the line after "WeightsUnpickler error:"."""
    text = _ANSI.sub("", str(e))
    head, sep, reason = text.partition("WeightsUnpickler error:")
    lines = [ln.strip() for ln in (reason if sep else head).splitlines() if ln.strip()]
    if not lines:
        return type(e).__name__
    line = lines[0]
    if sep:   # "Unsupported global: GLOBAL x was not an allowed global by default. Please use ..."
        line = line.split(". ")[0].rstrip(".")
    return line


_GRU_KEY = re.compile(r"^(.*?)(?:weight|bias)_(?:ih|hh)_l\d+(?:_reverse)?$")
_CELL_KEY = re.compile(r"^(.*?)(?:weight|bias)_(?:ih|hh)$")


def gru_prefixes(sd, pattern=_GRU_KEY):
    """The prefixes under which ``sd`` holds GRU keys (weight_ih_l0, ...), sorted;
    "" for a bare GRU state_dict."""
    found = set()
    for k in sd.keys():
        mt = pattern.match(k) if isinstance(k, str) else None
        if mt:
            found.add(mt.group(1))
    return sorted(found)


def _normal_prefix(prefix):
    if not isinstance(prefix, str):
        raise TypeError(f"from_torch: prefix must be a str, got {type(prefix).__name__}")
    return prefix if prefix == "" or prefix.endswith(".") else prefix + "."


def take_prefix(sd, prefix, pattern=_GRU_KEY, what="GRU"):
    """The part of state_dict ``sd`` under ``prefix`` (with or without its trailing
    dot), prefix stripped; prefix None: the one GRU's keys if there is exactly one
    prefix holding GRU keys (an error listing them if several).  Returns
    (sub-state_dict, the prefix taken)."""
    if prefix is None:
        found = gru_prefixes(sd, pattern)
        if found == [""] or not found:
            return sd, ""
        if len(found) > 1:
            listed = ", ".join(repr(p) for p in found)
            raise ValueError(f"from_torch: the state_dict holds {len(found)} {what}s, under "
                             f"the prefixes {listed}; choose one with prefix=... "
                             f"(cgru convert: --prefix)")
        prefix = found[0]
    prefix = _normal_prefix(prefix)
    sub = {k[len(prefix):]: v for k, v in sd.items()
           if isinstance(k, str) and k.startswith(prefix) and pattern.match(k[len(prefix):])}
    if not sub:
        found = gru_prefixes(sd, pattern)
        raise ValueError(f"from_torch: no {what} keys under the prefix {prefix!r}"
                         + (f"; {what} keys are under {found}" if found else
                            f"; the state_dict holds no {what} keys"))
    if prefix:
        bare = prefix.rstrip(".")
        stray = [k for k in sd if isinstance(k, str) and k.startswith(prefix)
                 and k[len(prefix):] not in sub and "." not in k[len(prefix):]]
        if stray:
            raise ValueError(f"from_torch: unexpected key(s) {stray} under the {what} "
                             f"prefix {bare!r}")
    return sub, prefix


def _is_kind(m, kind):
    """m is a torch.nn.<kind> (or a subclass of one); torch is never imported."""
    return any(c.__name__ == kind and c.__module__.startswith("torch.nn")
               for c in type(m).__mro__)


def _submodule(m, kind, prefix):
    """The torch.nn.<kind> inside module m: at ``prefix`` or, without one, the only
    one (an error listing them if several)."""
    if prefix is not None:
        name = _normal_prefix(prefix).rstrip(".")
        try:
            sub = m.get_submodule(name) if name else m
        except AttributeError:
            raise ValueError(f"from_torch: {type(m).__name__} has no submodule {name!r}") from None
        if not _is_kind(sub, kind):
            raise TypeError(f"from_torch: {name!r} is a {type(sub).__name__}, not a {kind}")
        return sub
    found = [(n, s) for n, s in m.named_modules() if _is_kind(s, kind)]
    if len(found) == 1:
        return found[0][1]
    if not found:
        raise TypeError(f"from_torch: expected torch.nn.{kind} or a module holding one, got "
                        f"{type(m).__name__} (it holds none)")
    raise ValueError(f"from_torch: {type(m).__name__} holds {len(found)} {kind}s "
                     f"{[n for n, _ in found]}; choose one with prefix=...")


def _is_cell(m):
    """A torch.nn.GRUCell module, or a GRUCell-style state_dict (no _l<k> suffixes)."""
    if hasattr(m, "state_dict") and not hasattr(m, "keys"):
        return type(m).__name__ == "GRUCell"
    return hasattr(m, "keys") and "weight_ih" in m and "weight_hh" in m


def _is_module(m):
    return hasattr(m, "state_dict") and hasattr(m, "named_modules") and not hasattr(m, "keys")


def gru_from_torch(cls, m, dtype=None, prefix=None):
    """A cgru.GRU from a torch.nn.GRU (or a module holding one), a GRU state_dict
    (under ``prefix``, or under the one prefix holding GRU keys), or a path to one
    saved with torch.save; a torch.nn.GRUCell (or its state_dict) gives a
    cgru.GRUCell."""
    batch_first = False
    if isinstance(m, (str, bytes)) or hasattr(m, "__fspath__"):
        m = _load_path(m)
    if _is_module(m) and not (_is_kind(m, "GRU") or _is_kind(m, "GRUCell")):
        has_cell = any(_is_kind(s, "GRUCell") for _, s in m.named_modules())
        has_gru = any(_is_kind(s, "GRU") for _, s in m.named_modules())
        m = _submodule(m, "GRUCell" if has_cell and not has_gru else "GRU", prefix)
    elif hasattr(m, "keys"):
        if prefix is not None or gru_prefixes(m) not in ([], [""]):
            m, _ = take_prefix(m, prefix)
        elif gru_prefixes(m, _CELL_KEY) not in ([], [""]):
            m, _ = take_prefix(m, None, _CELL_KEY, "GRUCell")
    if _is_cell(m):
        from cgru.gru import GRUCell
        return cell_from_torch(GRUCell, m, dtype)
    if hasattr(m, "state_dict") and hasattr(m, "mode"):
        if getattr(m, "mode", None) != "GRU":
            raise TypeError(f"from_torch: expected torch.nn.GRU, got {type(m).__name__}")
        if getattr(m, "proj_size", 0):
            raise ValueError("from_torch: GRU with proj_size is not supported")
        batch_first = bool(m.batch_first)
        sd = _numpy_state(m.state_dict())
    elif hasattr(m, "keys"):
        sd = _numpy_state(m)
    else:
        raise TypeError(f"from_torch: expected torch.nn.GRU or a state_dict, got {type(m).__name__}")
    if not sd:
        raise ValueError("from_torch: empty state_dict")
    layers, reverse, bias = set(), False, False
    for k in sd:
        mt = _KEY.match(k)
        if not mt:
            raise ValueError(f"from_torch: unexpected key {k!r} in a GRU state_dict")
        layers.add(int(mt.group(3)))
        reverse |= mt.group(4) is not None
        bias |= mt.group(1) == "bias"
    for k in ("weight_ih_l0", "weight_hh_l0"):
        if k not in sd:
            raise ValueError(f"from_torch: state_dict lacks {k!r}")
    num_layers = max(layers) + 1
    w_ih, w_hh = sd["weight_ih_l0"], sd["weight_hh_l0"]
    if w_hh.ndim != 2 or w_ih.ndim != 2 or w_hh.shape[0] != 3 * w_hh.shape[1]:
        raise ValueError(f"from_torch: weight_hh_l0 must be (3H, H), got {w_hh.shape}")
    _check_layers(sd, w_ih.shape[1], w_hh.shape[1], num_layers, 2 if reverse else 1, bias)
    g = cls(w_ih.shape[1], w_hh.shape[1], num_layers, bias=bias, batch_first=batch_first,
            bidirectional=reverse, reset_after=True, dtype=_infer_dtype(sd, dtype))
    g.load_state_dict(sd)
    return g


def gru_to_torch(g):
    # what torch cannot compute is refused first, whether or not torch is installed
    if not g.reset_after:
        raise ValueError("to_torch: torch.nn.GRU computes reset_after=True only; "
                         "this model is reset_after=False")
    if not g._has_default_activations():
        raise ValueError("to_torch: torch.nn.GRU has sigmoid/tanh only and no clip")
    if g._reverse_only:
        raise ValueError("to_torch: torch.nn.GRU has no reverse-only direction")
    torch = _import_torch()
    m = torch.nn.GRU(g.input_size, g.hidden_size, g.num_layers, bias=g.bias,
                     batch_first=g.batch_first, bidirectional=g.bidirectional,
                     dtype=torch.float64 if g.dtype == np.float64 else torch.float32)
    m.load_state_dict({k: torch.from_numpy(v) for k, v in g.state_dict().items()})
    return m


def cell_from_torch(cls, m, dtype=None, prefix=None):
    if isinstance(m, (str, bytes)) or hasattr(m, "__fspath__"):
        m = _load_path(m)
    if _is_module(m) and not _is_kind(m, "GRUCell"):
        m = _submodule(m, "GRUCell", prefix)
    elif hasattr(m, "keys") and (prefix is not None or
                                 gru_prefixes(m, _CELL_KEY) not in ([], [""])):
        m, _ = take_prefix(m, prefix, _CELL_KEY, "GRUCell")
    if hasattr(m, "state_dict") and hasattr(m, "weight_ih") and not hasattr(m, "mode"):
        if type(m).__name__ != "GRUCell":
            raise TypeError(f"from_torch: expected torch.nn.GRUCell, got {type(m).__name__}")
        sd = _numpy_state(m.state_dict())
    elif hasattr(m, "keys"):
        sd = _numpy_state(m)
    else:
        raise TypeError(f"from_torch: expected torch.nn.GRUCell or its state_dict, "
                        f"got {type(m).__name__}")
    if "weight_ih" not in sd or "weight_hh" not in sd:
        raise ValueError("from_torch: a GRUCell state_dict needs weight_ih and weight_hh")
    w_ih, w_hh = sd["weight_ih"], sd["weight_hh"]
    if w_hh.ndim != 2 or w_ih.ndim != 2 or w_hh.shape[0] != 3 * w_hh.shape[1]:
        raise ValueError(f"from_torch: weight_hh must be (3H, H), got {w_hh.shape}")
    c = cls(w_ih.shape[1], w_hh.shape[1], bias="bias_ih" in sd, dtype=_infer_dtype(sd, dtype))
    c.load_state_dict(sd)
    return c


def cell_to_torch(c):
    if not c.reset_after:
        raise ValueError("to_torch: torch.nn.GRUCell computes reset_after=True only")
    torch = _import_torch()
    m = torch.nn.GRUCell(c.input_size, c.hidden_size, bias=c.bias,
                         dtype=torch.float64 if c.dtype == np.float64 else torch.float32)
    m.load_state_dict({k: torch.from_numpy(v) for k, v in c.state_dict().items()})
    return m
