"""The Python API: GRU and GRUCell.  Validate, convert, call one kernel entry point."""

import json
import math
import os
from typing import NamedTuple

import numpy as np

from cgru import _activations
from cgru import _validate as V
from cgru import _filecheck
from cgru import _weights as W
from cgru._compiled import _Net
from cgru._stream import Stream

__all__ = ["GRU", "GRUCell", "Gates", "load", "Stream"]

FORMAT_VERSION = 1
# the fields of a pickled GRU (GRU.__getstate__)
_STATE_KEYS = {"_input_size", "_hidden_size", "_num_layers", "_bias", "_batch_first",
               "_bidirectional", "_reset_after", "_dtype", "_activations", "_clip",
               "_reverse_only", "_weights", "_scales", "_param_names", "_param_data"}
# (f_kind, f_alpha, f_beta, g_kind, g_alpha, g_beta): sigmoid gates, tanh candidate
DEFAULT_ACTIVATIONS = _activations.DEFAULT


def _write_npz(path, config, arrays):
    """The .npz file ``load`` reads, written to exactly ``path`` (np.savez alone
    would add ".npz" to a name without it, and load(path) would find no file)."""
    if isinstance(path, (str, bytes, os.PathLike)):
        with open(path, "wb") as f:
            np.savez(f, __config__=np.array(json.dumps(config)), **arrays)
    else:                                   # a writable file object
        np.savez(path, __config__=np.array(json.dumps(config)), **arrays)


def _to_numpy(value, key):
    """A state_dict value (NumPy array or torch tensor, never imported) as an ndarray."""
    try:
        a = np.asarray(V.from_tensor(value))
    except (ValueError, TypeError) as e:     # ragged lists and the like
        raise TypeError(f"state_dict[{key!r}] must be a real numeric array: {e}") from None
    if a.dtype.kind not in "fiu":
        raise TypeError(f"state_dict[{key!r}] must be a real numeric array, got dtype {a.dtype}")
    return a


class Gates(NamedTuple):
    """The gates of every step, from ``g(x, return_gates=True)``: the reset gate r,
    the update gate z and the candidate n (README, "The two GRU variants").  Each
    is (num_layers, *y.shape): layer l's gates of step t and sample b at
    ``[l, t, b]`` ((T, N, D*H) per layer, (N, T, D*H) with batch_first, (T, D*H)
    unbatched), forward direction first, like y; zeros past a sample's length.
    ``r, z, n = gates`` unpacks them."""
    r: np.ndarray
    z: np.ndarray
    n: np.ndarray


def _flag(name, value):
    """A bool flag, as the constructor takes it (numpy.bool_ too, never 0 / 1)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _param_shapes(input_size, hidden_size, num_layers, num_directions, bias):
    """PyTorch's parameter names and shapes for these sizes, in PyTorch's order."""
    H, D = hidden_size, num_directions
    shapes = {}
    for layer in range(num_layers):
        in_size = input_size if layer == 0 else D * H
        for suffix in ("", "_reverse")[:D]:
            shapes[f"weight_ih_l{layer}{suffix}"] = (3 * H, in_size)
            shapes[f"weight_hh_l{layer}{suffix}"] = (3 * H, H)
            if bias:
                shapes[f"bias_ih_l{layer}{suffix}"] = (3 * H,)
                shapes[f"bias_hh_l{layer}{suffix}"] = (3 * H,)
    return shapes


def _param_count(input_size, hidden_size, num_layers, num_directions, bias):
    """The number of parameter values, without listing them (a hostile layer
    count must be refused in O(1), not after listing a billion names)."""
    H, D, b = hidden_size, num_directions, 6 * hidden_size if bias else 0
    return D * (3 * H * input_size + 3 * H * H + b) + \
        (num_layers - 1) * D * (3 * H * D * H + 3 * H * H + b)


def _check_state_dict(shapes, state_dict):
    """Every name and shape of ``state_dict`` against ``shapes``; returns the
    values as ndarrays (not copied)."""
    if not hasattr(state_dict, "keys"):
        raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
    missing = [k for k in shapes if k not in state_dict]
    unexpected = [k for k in state_dict.keys() if k not in shapes]
    if missing:
        raise ValueError(f"state_dict: missing key(s) {missing}")
    if unexpected:
        raise ValueError(f"state_dict: unexpected key(s) {unexpected}")
    arrays = {}
    for key, shape in shapes.items():
        a = _to_numpy(state_dict[key], key)
        if a.shape != shape:
            raise ValueError(f"state_dict[{key!r}] has shape {a.shape}, expected {shape}")
        arrays[key] = a
    return arrays


class GRU:
    """A multi-layer GRU with PyTorch's semantics and parameter names.

    ``reset_after=True`` is PyTorch's GRU; ``reset_after=False`` is the original
    GRU of Cho et al. (2014).  See the README for the equations.

    ``activations`` (default sigmoid for the gates, tanh for the candidate) and
    ``clip`` are those of ONNX's GRU, e.g. ``activations=("HardSigmoid", "Relu")``
    or ``(("HardSigmoid", 0.25, 0.5), ("Tanh", None, None))``, or one such pair per
    direction; ``clip=c`` clips every activation's input to [-c, c].  See
    docs/conversion.md.

    ``weights`` (float32 models): ``"float16"``, ``"bfloat16"`` or ``"int8"``
    stores the weight matrices in that format (state, gates and sums stay
    float32); see ``with_weights`` and docs/weights.md.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, *, bias=True,
                 batch_first=False, bidirectional=False, reset_after=True,
                 dtype=np.float32, activations=None, clip=None, seed=None, weights=None):
        self._input_size = V.as_size(input_size, "input_size")
        self._hidden_size = V.as_size(hidden_size, "hidden_size")
        self._num_layers = V.as_size(num_layers, "num_layers")
        self._bias = _flag("bias", bias)
        self.batch_first = batch_first           # a layout flag: may be changed later
        self._bidirectional = _flag("bidirectional", bidirectional)
        self._reset_after = _flag("reset_after", reset_after)
        self._dtype = V.as_dtype(dtype)
        self._weights = W.as_weights(weights, self._dtype)
        self._scales = {}          # int8: per weight matrix, its (rows,) float32 scales
        D = self.num_directions
        # activation kinds per direction and the clip (ONNX / Keras models); see cgru.kernels
        self._activations = _activations.parse(activations, D)
        self._clip = _activations.check_clip(clip)
        # ONNX direction="reverse": the one direction runs back to front
        self._reverse_only = False
        self._check_memory()
        # PyTorch's initialisation: every parameter uniform in [-1/sqrt(H), 1/sqrt(H)]
        # (seed: an int or a numpy Generator, for the same weights every time)
        k = 1.0 / math.sqrt(self.hidden_size)
        rng = V.as_rng(seed)
        self._params = {name: rng.uniform(-k, k, size=shape).astype(self.dtype)
                        for name, shape in self._param_shapes().items()}
        self._compile()

    def _check_memory(self):
        """MemoryError / ValueError unless this machine can hold the model."""
        D = self.num_directions
        H = self.hidden_size
        if 3 * H * max(self.input_size, D * H) > V.MAX_DIM * 64:
            raise ValueError(f"hidden_size={H} with input_size={self.input_size} is too large "
                             f"for memory")
        # What the model will hold: the parameters (3H*in + 3H*H + 6H per layer and
        # direction) twice (the state_dict and the kernel form), the kernels' packed
        # copies of W_ih and W_hh (H padded to a whole 64-byte panel), plus the
        # float64 draw of the largest weight while initialising.
        itemsize = self.dtype.itemsize
        Hp = -(-H // (64 // itemsize)) * (64 // itemsize)
        params = lambda n_in: 3 * H * n_in + 3 * H * H + (6 * H if self.bias else 0)
        packed = lambda n_in: 3 * Hp * (n_in + H)
        # (in closed form: listing 10**8 layers' sizes would itself take 800 MB)
        I, later = self.input_size, self.num_layers - 1
        count = D * (2 * params(I) + packed(I) + later * (2 * params(D * H) + packed(D * H)))
        V.check_memory(count * itemsize + 3 * H * max(I, H, D * H if later else 0) * 8,
                       f"GRU({self.input_size}, {H}, num_layers={self.num_layers})")

    # ------------------------------------------------------------ structure
    # The configuration that fixes the weights' shapes and maths is read-only:
    # make a new model (or load_state_dict) to change it.
    input_size = property(lambda self: self._input_size, doc="I, features per step")
    hidden_size = property(lambda self: self._hidden_size, doc="H, the state size")
    num_layers = property(lambda self: self._num_layers, doc="stacked layers")
    bias = property(lambda self: self._bias, doc="whether the model has biases")
    bidirectional = property(lambda self: self._bidirectional, doc="two directions")
    reset_after = property(lambda self: self._reset_after,
                           doc="True: PyTorch's GRU; False: Cho et al. (2014)")
    dtype = property(lambda self: self._dtype, doc="float32 or float64")
    weights = property(lambda self: self._weights,
                       doc="how the weight matrices are stored: the dtype's name "
                           "('float32', 'float64'), or 'float16', 'bfloat16', 'int8'")

    @property
    def batch_first(self):
        """x and y are (N, T, ...) when True, (T, N, ...) when False: a layout
        flag that may be changed on a built model."""
        return self._batch_first

    @batch_first.setter
    def batch_first(self, value):
        self._batch_first = _flag("batch_first", value)

    @property
    def num_directions(self):
        """D: 2 for a bidirectional model, else 1."""
        return 2 if self.bidirectional else 1

    def _param_shapes(self):
        return _param_shapes(self.input_size, self.hidden_size, self.num_layers,
                             self.num_directions, self.bias)

    def _configure(self, *, reverse_only=False, activations=None, clip=None):
        """Set what only converters and ``load`` give a model besides its weights:
        one direction run back to front (ONNX "reverse", Keras ``go_backwards``),
        the activations (``_activations.parse`` forms or kernel 6-tuples) and clip;
        then recompile."""
        if reverse_only and self.bidirectional:
            raise ValueError("reverse_only: a bidirectional GRU runs both directions")
        self._reverse_only = bool(reverse_only)
        self._activations = _activations.parse(activations, self.num_directions)
        self._clip = _activations.check_clip(clip)
        self._compile()

    def _compile(self):
        """Build the kernel form of the weights (folded biases, layer structs)."""
        D = self.num_directions
        weights, cells = [], []
        clip = 0.0 if self._clip is None else float(self._clip)
        for layer in range(self.num_layers):
            for d, suffix in enumerate(("", "_reverse")[:D]):
                p = self._params
                weights.append((p[f"weight_ih_l{layer}{suffix}"], p[f"weight_hh_l{layer}{suffix}"],
                                p.get(f"bias_ih_l{layer}{suffix}"), p.get(f"bias_hh_l{layer}{suffix}")))
                cells.append(tuple(self._activations[d]) + (clip,))
        fmt = self._weights
        scales = None
        if fmt == "int8" and self._scales:
            scales = [(self._scales[f"weight_ih_l{layer}{suffix}"],
                       self._scales[f"weight_hh_l{layer}{suffix}"])
                      for layer in range(self.num_layers) for suffix in ("", "_reverse")[:D]]
        self._net = _Net(weights, self.input_size, self.hidden_size, self.num_layers, D,
                         self.reset_after, self.dtype, cells, self._reverse_only,
                         weight_format=W.CODES[fmt], scales=scales)
        if W.is_reduced(fmt):
            # the model holds the values the kernels multiply by (and their scales):
            # state_dict, save, pickling and exports see exactly those
            k = 0
            for layer in range(self.num_layers):
                for suffix in ("", "_reverse")[:D]:
                    w_ih, w_hh, s_ih, s_hh = self._net.stored_weights(k)
                    self._params[f"weight_ih_l{layer}{suffix}"] = w_ih
                    self._params[f"weight_hh_l{layer}{suffix}"] = w_hh
                    if fmt == "int8":
                        self._scales[f"weight_ih_l{layer}{suffix}"] = s_ih
                        self._scales[f"weight_hh_l{layer}{suffix}"] = s_hh
                    k += 1

    def with_weights(self, weights):
        """A new model whose weight matrices are stored as ``weights``
        ('float16', 'bfloat16', 'int8', or the dtype's own name); this model is
        left untouched.  From a reduced-precision model the new one starts from
        its stored values (the float32 originals are not kept)."""
        fmt = W.as_weights(weights, self.dtype)
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._params = {k: v.copy() for k, v in self._params.items()}
        new._scales = {k: v.copy() for k, v in self._scales.items()} if fmt == self._weights \
            else {}
        new._weights = fmt
        new._compile()
        return new

    @property
    def activations(self):
        """Per direction, ((gate function, alpha, beta), (candidate function, alpha,
        beta)) with ONNX's names; alpha/beta are None where the function has none."""
        return _activations.describe(self._activations)

    @property
    def clip(self):
        """None, or c: every activation's input is clipped to [-c, c]."""
        return self._clip

    def _has_default_activations(self):
        return self._clip is None and all(tuple(a) == DEFAULT_ACTIVATIONS for a in self._activations)

    def _config(self):
        return {"input_size": self.input_size, "hidden_size": self.hidden_size,
                "num_layers": self.num_layers, "bias": self.bias,
                "batch_first": self.batch_first, "bidirectional": self.bidirectional,
                "reset_after": self.reset_after, "dtype": self.dtype.name}

    def __repr__(self):
        c = self._config()
        args = ", ".join(f"{k}={v!r}" for k, v in c.items() if k not in ("input_size", "hidden_size"))
        if self._weights != self.dtype.name:
            args += f", weights={self._weights!r}"
        if not self._has_default_activations():
            args += f", activations={self.activations!r}, clip={self._clip!r}"
        if self._reverse_only:
            args += ", <reverse direction only>"
        return f"cgru.GRU({self.input_size}, {self.hidden_size}, {args})"

    # ---------------------------------------------------------- parameters
    def state_dict(self):
        """Copies of the parameters, PyTorch's names and shapes (gate order r, z, n).
        With reduced-precision weights: the float32 values the model computes with."""
        return {name: a.copy() for name, a in self._params.items()}

    def load_state_dict(self, state_dict):
        """Load parameters (NumPy arrays or torch tensors).  Every name and shape is
        checked before anything changes."""
        arrays = _check_state_dict(self._param_shapes(), state_dict)
        self._params = {key: np.array(a, dtype=self.dtype, order="C", copy=True)
                        for key, a in arrays.items()}
        self._scales = {}         # reduced-precision models round the new values afresh
        self._compile()

    # ------------------------------------------------------------- running
    def _check_input(self, x):
        a = V.as_real_array(x, "x", self.dtype)
        if a.ndim not in (2, 3):
            raise ValueError(f"x must be 3-D ({'N, T' if self.batch_first else 'T, N'}, "
                             f"input_size) or 2-D (T, input_size), got shape {a.shape}")
        if a.shape[-1] != self.input_size:
            raise ValueError(f"x must have input_size={self.input_size} features in its last "
                             f"dimension, got shape {a.shape}")
        return a

    def __call__(self, x, h0=None, lengths=None, return_gates=False, *, hx=None):
        """Run the GRU.  x: (T, N, I), (N, T, I) with batch_first, or unbatched (T, I).
        Returns y (T, N, D*H) (batch_first: (N, T, D*H); unbatched (T, D*H)) and
        h_n (num_layers*D, N, H) (unbatched: (num_layers*D, H)); with
        ``return_gates=True`` also the ``Gates`` r, z, n of every layer and step,
        each (num_layers, *y.shape), computed by the same kernels as y.  ``hx`` is
        PyTorch's name for ``h0``."""
        h0 = V.one_of(h0, hx, "h0")
        a = self._check_input(x)
        unbatched = a.ndim == 2
        bf = self.batch_first and not unbatched
        if unbatched:
            a = a[:, None, :]
        T, N = (a.shape[1], a.shape[0]) if bf else (a.shape[0], a.shape[1])
        if T * N > V.MAX_DIM:
            raise ValueError(f"x has {T * N} rows (T*N); at most {V.MAX_DIM} are supported")
        LD, H = self.num_layers * self.num_directions, self.hidden_size
        if h0 is None:
            h = np.zeros((LD, N, H), dtype=self.dtype)
        else:
            h = V.as_real_array(h0, "h0", self.dtype)
            want = (LD, H) if unbatched else (LD, N, H)
            if h.shape != want:
                raise ValueError(f"h0 must have shape {want} (num_layers*num_directions, "
                                 f"{'' if unbatched else 'batch, '}hidden_size), got {h.shape}")
            h = np.array(h.reshape(LD, N, H), dtype=self.dtype, order="C", copy=True)
        if lengths is not None:
            if unbatched:
                raise ValueError("lengths is only supported for batched (3-D) x")
            lengths = V.as_lengths(lengths, N, T)
        if not isinstance(return_gates, (bool, np.bool_)):
            raise TypeError(f"return_gates must be True or False, got {return_gates!r}")
        gates = None
        if return_gates:
            shape = (N, T) if bf else (T, N)
            nbytes = 3 * self.num_layers * T * N * self.num_directions * H * self.dtype.itemsize
            if nbytes > 2**26:          # the check reads the system's free memory: big ones only
                V.check_memory(nbytes, f"return_gates for x of shape {a.shape}")
            gates = np.empty((3, self.num_layers) + shape + (self.num_directions * H,),
                             dtype=self.dtype)
        y = self._net.forward(np.ascontiguousarray(a), h, lengths, bf, gates)
        if unbatched:
            y, h = y[:, 0, :], h[:, 0, :]
            gates = None if gates is None else gates[:, :, :, 0, :]
        if return_gates:
            return y, h, Gates(*gates)
        return y, h

    forward = __call__

    def stream(self, batch_size=1, h0=None):
        """A stateful stream for step-by-step inference (unidirectional models)."""
        if self.bidirectional or self._reverse_only:
            raise ValueError("stream: a bidirectional or reverse GRU cannot be streamed "
                             "(the reverse direction needs the whole sequence)")
        N = V.as_size(batch_size, "batch_size")
        # (the memory the stream needs is checked by the Stream itself)
        if h0 is not None:
            h0 = V.as_real_array(h0, "h0", self.dtype)
            want = (self.num_layers, N, self.hidden_size)
            if h0.shape != want:
                if N == 1 and h0.shape == (self.num_layers, self.hidden_size):
                    h0 = h0[:, None, :]
                else:
                    raise ValueError(f"h0 must have shape {want}, got {h0.shape}")
        return Stream(self._net, N, h0, self.batch_first)

    # ------------------------------------------------------------- pickling
    def __getstate__(self):
        """Configuration, activations, clip and the weights as ONE flat array of
        the model's dtype; the compiled ``_net`` is left out and rebuilt on
        unpickling.  The pickle is the weights' bytes plus a few hundred bytes,
        and under pickle protocol 5 (Dask, Ray) the array travels out of band."""
        state = self.__dict__.copy()
        state.pop("_net", None)
        params = state.pop("_params")
        state["_param_names"] = list(params)
        state["_param_data"] = np.concatenate([a.ravel() for a in params.values()])
        return state

    def __setstate__(self, state):
        """Every field is checked as the constructor checks its argument, and the
        declared sizes against the weights the pickle really holds, before
        anything is built from them (a pickle is as hostile as a file)."""
        where = "unpickling cgru.GRU"
        if not isinstance(state, dict):
            raise TypeError(f"{where}: the state must be a dict, got {type(state).__name__}")
        state = dict(state)
        state.setdefault("_weights", None)    # pickles from before weight formats:
        state.setdefault("_scales", {})       # the dtype's own, no scales
        if "batch_first" in state and "_batch_first" not in state:
            state["_batch_first"] = state.pop("batch_first")    # pickles of cgru <= 0.1.0
        if set(state) != _STATE_KEYS:
            raise ValueError(f"{where}: the state must have the keys {sorted(_STATE_KEYS)}, "
                             f"got {sorted(map(str, state))}")
        try:
            checked = {k: V.as_size(state[k], k[1:])
                       for k in ("_input_size", "_hidden_size", "_num_layers")}
            checked.update({k: _flag(k[1:], state[k]) for k in
                            ("_bias", "_batch_first", "_bidirectional", "_reset_after",
                             "_reverse_only")})
            checked["_dtype"] = V.as_dtype(state["_dtype"])
            D = 2 if checked["_bidirectional"] else 1
            checked["_activations"] = _activations.parse(state["_activations"], D)
            checked["_clip"] = _activations.check_clip(state["_clip"])
            checked["_weights"] = W.as_weights(state["_weights"], checked["_dtype"])
        except (TypeError, ValueError) as e:
            raise type(e)(f"{where}: {e}") from None
        if checked["_reverse_only"] and D == 2:
            raise ValueError(f"{where}: reverse_only with bidirectional")
        names, flat = state["_param_names"], state["_param_data"]
        if not isinstance(flat, np.ndarray) or flat.ndim != 1 or flat.dtype != checked["_dtype"]:
            raise TypeError(f"{where}: the weights must be a 1-D {checked['_dtype']} ndarray, "
                            f"got {getattr(flat, 'dtype', type(flat).__name__)} "
                            f"{getattr(flat, 'shape', '')}")
        sizes = (checked["_input_size"], checked["_hidden_size"], checked["_num_layers"], D,
                 checked["_bias"])
        per_layer = D * (4 if checked["_bias"] else 2)
        if flat.size != _param_count(*sizes) or not isinstance(names, list) or \
                len(names) != checked["_num_layers"] * per_layer:
            raise ValueError(f"{where}: the weights do not match the configuration (it "
                             f"declares {_param_count(*sizes)} values, the pickle holds "
                             f"{flat.size})")
        shapes = _param_shapes(*sizes)            # as many names as the pickle holds
        if sorted(map(str, names)) != sorted(shapes) or len(set(names)) != len(names):
            raise ValueError(f"{where}: the weights do not match the configuration "
                             f"(parameter names)")
        scales = state["_scales"]       # int8: per weight matrix, its (rows,) float32 scales
        if not isinstance(scales, dict) or any(
                k not in shapes or not W.is_matrix(k) or not isinstance(v, np.ndarray) or
                v.dtype != np.float32 or v.shape != shapes[k][:1]
                for k, v in scales.items()):
            raise ValueError(f"{where}: the int8 scales must map weight matrices to their "
                             f"(rows,) float32 scales")
        checked["_scales"] = {k: np.array(v, copy=True) for k, v in scales.items()}
        self.__dict__.update(checked)
        self._check_memory()
        # own the weights: under protocol 5 the array may be a view of the
        # caller's (out-of-band) buffer, which the caller is free to reuse
        flat = np.array(flat, copy=True)
        self._params, offset = {}, 0
        for name in names:
            n = math.prod(shapes[name])
            self._params[name] = flat[offset:offset + n].reshape(shapes[name])
            offset += n
        self._compile()

    # ------------------------------------------------------------ save/load
    def save(self, path):
        """Save configuration and weights in .npz format (no pickled objects) to
        ``path`` (exactly that name) or a writable binary file object."""
        config = self._config()
        config["format_version"] = FORMAT_VERSION
        config["activations"] = [list(a) for a in self._activations]
        config["clip"] = self._clip
        if self._reverse_only:
            config["reverse"] = True
        if W.is_reduced(self._weights):
            config["weights"] = self._weights
        _write_npz(path, config, W.encode(self._weights, self._params, self._scales))

    # ------------------------------------------------------------- interop
    @classmethod
    def from_torch(cls, module_or_state_dict, *, dtype=None, prefix=None):
        """A GRU from a torch.nn.GRU (or a module holding one), a state_dict, or a
        torch.save path of one.  ``prefix`` ("encoder.gru" or "encoder.gru.")
        takes the GRU's keys out of a larger state_dict; without it, a
        state_dict holding one GRU's keys under some prefix converts as is."""
        from cgru.convert.torch import gru_from_torch
        return gru_from_torch(cls, module_or_state_dict, dtype=dtype, prefix=prefix)

    def to_torch(self):
        """A torch.nn.GRU with this model's weights (reset_after=True models)."""
        from cgru.convert.torch import gru_to_torch
        return gru_to_torch(self)

    @classmethod
    def from_keras(cls, layer_or_model, *, dtype=None, layer=None):
        """A GRU (batch_first=True) from a ``keras.layers.GRU`` or
        ``keras.layers.Bidirectional(GRU)`` (Keras 3), or from a Keras model: its
        GRU layer, its GRU layers stacked into one multi-layer GRU when each reads
        the one below's output, or the GRU layer named ``layer``; see
        docs/conversion.md."""
        from cgru.convert.keras import gru_from_keras
        return gru_from_keras(cls, layer_or_model, dtype=dtype, name=layer)

    @classmethod
    def from_keras_all(cls, model, *, dtype=None):
        """Every GRU layer of a Keras model as its own one-layer GRU: a dict from
        layer name to GRU."""
        from cgru.convert.keras import grus_from_keras
        return grus_from_keras(cls, model, dtype=dtype)

    def to_keras(self):
        """A built Keras 3 ``GRU`` (``Bidirectional(GRU)`` when bidirectional) with
        this model's weights, return_sequences=True and return_state=True (one-layer
        models; Keras is batch-major whatever batch_first is)."""
        from cgru.convert.keras import gru_to_keras
        return gru_to_keras(self)

    @classmethod
    def from_onnx(cls, model_or_path, node=None, *, dtype=None):
        """A GRU from an ONNX model (an onnx.ModelProto or a path): its GRU node,
        or its GRU nodes stacked into one multi-layer GRU when each reads the one
        below's output (as torch.onnx.export and ``to_onnx`` write them);
        ``node`` takes one node by name (or by one of its output names)."""
        from cgru.convert.onnx import gru_from_onnx
        return gru_from_onnx(cls, model_or_path, node, dtype=dtype)

    @classmethod
    def from_onnx_all(cls, model_or_path, *, dtype=None):
        """Every GRU node of an ONNX model as its own one-layer GRU: a dict from
        node name (an unnamed node: its first output's name) to GRU."""
        from cgru.convert.onnx import grus_from_onnx
        return grus_from_onnx(cls, model_or_path, dtype=dtype)

    def to_onnx(self, path=None, *, opset=14, h0=False, lengths=False):
        """This model as an onnx.ModelProto (saved to ``path`` when given): one
        ONNX GRU node per layer; inputs x (and h0, lengths when asked for),
        outputs y and h_n shaped like this model's."""
        from cgru.convert.onnx import gru_to_onnx
        return gru_to_onnx(self, path, opset=opset, h0=h0, lengths=lengths)


def _not_a_model(path):
    """What the file at ``path`` is when it cannot be a cgru .npz ("" when it may
    be one, or ``path`` is a file object); FileNotFoundError when it is missing."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        return ""
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: {os.fsdecode(path)!r}")
    if os.path.isdir(path):
        return "a folder"
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError:                  # unreadable: np.load says why
        return ""
    if head.startswith(b"PK"):
        return ""
    if head == b"\x93NUMPY":
        return "a single .npy array"
    return "empty" if not head else "another kind of file"


def load(path):
    """Load a model saved with ``GRU.save`` or ``GRUCell.save`` (never unpickles).
    A missing path raises FileNotFoundError; a file that is no cgru model,
    ValueError.  The declared sizes are checked against the members the file
    really holds (zip directory, .npy headers) before anything is decompressed
    or built."""
    what = _not_a_model(path)
    if what:
        raise ValueError(f"load: {path!r} is not a readable cgru .npz file: it is {what}, "
                         f"not an .npz archive written by GRU.save")
    with _filecheck.open_npz(path) as z:
        infos = _filecheck.members(path, z)
        config = _filecheck.read_config(path, z, infos)
        kind = config.pop("kind", "GRU")
        version = config.pop("format_version", 1)    # files of cgru 0.1.0 dev have none
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ValueError(f"load: {path!r} has a corrupted __config__: format_version="
                             f"{version!r}")
        if version > FORMAT_VERSION:
            raise ValueError(f"load: {path!r} has format_version {version}; this cgru reads "
                             f"format_version 1 to {FORMAT_VERSION}: upgrade cgru to load it")
        weights = config.pop("weights", None)   # absent in files from before weight formats
        if weights is not None and weights not in W.FORMATS:
            raise ValueError(f"load: {path!r} has a corrupted __config__: weights={weights!r}")
        activations = config.pop("activations", None)
        clip = config.pop("clip", None)
        reverse = config.pop("reverse", False)
        if not isinstance(reverse, bool) or (reverse and kind != "GRU"):
            raise ValueError(f"load: {path!r} has a corrupted __config__: reverse={reverse!r}")
        expected = {"input_size", "hidden_size", "num_layers", "bias", "batch_first",
                    "bidirectional", "reset_after", "dtype"}
        if kind == "GRUCell":
            expected = {"input_size", "hidden_size", "bias", "reset_after", "dtype"}
        elif kind != "GRU":
            raise ValueError(f"load: unknown model kind {kind!r}")
        if set(config) != expected:
            raise ValueError(f"load: {path!r} __config__ must have keys {sorted(expected)}, "
                             f"got {sorted(config)}")
        # the sizes as the constructor will check them, then the weights they
        # declare against the file's members, before listing or reading any
        I = V.as_size(config["input_size"], "input_size")
        H = V.as_size(config["hidden_size"], "hidden_size")
        L = 1 if kind == "GRUCell" else V.as_size(config["num_layers"], "num_layers")
        bias = _flag("bias", config["bias"])
        D = 2 if kind == "GRU" and _flag("bidirectional", config["bidirectional"]) else 1
        _filecheck.check_count(path, infos, L * D * (4 if bias else 2),
                               f"{L} layer(s) of {D} direction(s)")
        shapes = _param_shapes(I, H, L, D, bias)
        if kind == "GRUCell":
            shapes = {k.replace("_l0", ""): v for k, v in shapes.items()}
        if weights == "int8":      # each weight matrix also stores its row scales
            shapes.update({k + ".scale": (v[0],) for k, v in list(shapes.items())
                           if W.is_matrix(k)})
        arrays = _filecheck.read_weights(path, z, infos, shapes)
    arrays, scales = W.decode(weights, arrays, path)
    if weights is not None:
        config["weights"] = weights
    if kind == "GRUCell":
        model = GRUCell(config.pop("input_size"), config.pop("hidden_size"), **config)
        inner = model._gru
    else:
        model = GRU(config.pop("input_size"), config.pop("hidden_size"),
                    config.pop("num_layers"), **config)
        inner = model
    if reverse and inner.bidirectional:
        raise ValueError(f"load: {path!r} has a corrupted __config__: reverse with "
                         f"bidirectional")
    if reverse or activations is not None or clip is not None:
        inner._configure(reverse_only=reverse, activations=activations, clip=clip)
    model.load_state_dict(arrays)
    if scales:
        # the stored int8 scales: packing the stored values with them gives the
        # saved q exactly
        names = {k + "_l0": v for k, v in scales.items()} if kind == "GRUCell" else scales
        if set(names) != {k for k in inner._params if W.is_matrix(k)}:
            raise ValueError(f"load: {path!r}: int8 scales for {sorted(names)} do not match "
                             f"the weight matrices")
        inner._scales = names
        inner._compile()
    return model


class GRUCell:
    """One GRU cell (PyTorch's GRUCell names: weight_ih, weight_hh, bias_ih, bias_hh)."""

    def __init__(self, input_size, hidden_size, *, bias=True, reset_after=True,
                 dtype=np.float32, seed=None, weights=None):
        self._gru = GRU(input_size, hidden_size, 1, bias=bias, reset_after=reset_after,
                        dtype=dtype, seed=seed, weights=weights)

    input_size = property(lambda self: self._gru.input_size, doc="I, features per step")
    hidden_size = property(lambda self: self._gru.hidden_size, doc="H, the state size")
    bias = property(lambda self: self._gru.bias, doc="whether the cell has biases")
    reset_after = property(lambda self: self._gru.reset_after,
                           doc="True: PyTorch's GRUCell; False: Cho et al. (2014)")
    dtype = property(lambda self: self._gru.dtype, doc="float32 or float64")
    weights = property(lambda self: self._gru.weights, doc=GRU.weights.__doc__)

    def with_weights(self, weights):
        """A new cell with its weight matrices stored as ``weights`` (see GRU.with_weights)."""
        new = object.__new__(GRUCell)
        new._gru = self._gru.with_weights(weights)
        return new

    def __setstate__(self, state):
        """A pickled GRUCell is one GRU layer: checked, like every unpickled field."""
        g = state.get("_gru") if isinstance(state, dict) else None
        if not isinstance(state, dict) or set(state) != {"_gru"} or not isinstance(g, GRU) or \
                g.num_layers != 1 or g.bidirectional or g._reverse_only or g.batch_first:
            raise ValueError("unpickling cgru.GRUCell: the state must be {'_gru': a one-layer, "
                             "one-direction cgru.GRU}")
        self._gru = g

    def __repr__(self):
        w = f", weights={self.weights!r}" if self.weights != self.dtype.name else ""
        return (f"cgru.GRUCell({self.input_size}, {self.hidden_size}, bias={self.bias}, "
                f"reset_after={self.reset_after}, dtype={self.dtype.name!r}{w})")

    def state_dict(self):
        """Copies of the parameters, PyTorch's GRUCell names and shapes."""
        return {k.replace("_l0", ""): v for k, v in self._gru.state_dict().items()}

    def load_state_dict(self, state_dict):
        """Load parameters (NumPy arrays or torch tensors), every name and shape
        checked before anything changes."""
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
        allowed = {k.replace("_l0", "") for k in self._gru._param_shapes()}
        unexpected = [k for k in state_dict.keys() if k not in allowed]
        if unexpected:
            raise ValueError(f"state_dict: unexpected key(s) {unexpected}")
        missing = [k for k in sorted(allowed) if k not in state_dict]
        if missing:
            raise ValueError(f"state_dict: missing key(s) {missing}")
        self._gru.load_state_dict({k + "_l0": v for k, v in state_dict.items()})

    def __call__(self, x, h=None, *, hx=None):
        """x (N, I) or (I,); h (N, H) or (H,) -> h' of the same batch shape.
        ``hx`` is PyTorch's name for ``h``."""
        h = V.one_of(h, hx, "h")
        g = self._gru
        a = V.as_real_array(x, "x", g.dtype)
        if a.ndim not in (1, 2) or a.shape[-1] != g.input_size:
            raise ValueError(f"x must have shape (batch, {g.input_size}) or ({g.input_size},), "
                             f"got {a.shape}")
        unbatched = a.ndim == 1
        a2 = a[None, :] if unbatched else a
        N = a2.shape[0]
        if h is None:
            h3 = np.zeros((1, N, g.hidden_size), dtype=g.dtype)
        else:
            hh = V.as_real_array(h, "h", g.dtype)
            want = (g.hidden_size,) if unbatched else (N, g.hidden_size)
            if hh.shape != want:
                raise ValueError(f"h must have shape {want}, got {hh.shape}")
            h3 = np.array(hh.reshape(1, N, g.hidden_size), dtype=g.dtype, order="C", copy=True)
        g._net.forward(np.ascontiguousarray(a2[None]), h3, None, False)
        return h3[0, 0] if unbatched else h3[0]

    forward = __call__

    def save(self, path):
        """Save configuration and weights in .npz format (see GRU.save)."""
        config = {"kind": "GRUCell", "format_version": FORMAT_VERSION,
                  "input_size": self.input_size, "hidden_size": self.hidden_size,
                  "bias": self.bias, "reset_after": self.reset_after, "dtype": self.dtype.name}
        g = self._gru
        if W.is_reduced(g.weights):
            config["weights"] = g.weights
        arrays = W.encode(g.weights, g._params, g._scales)
        _write_npz(path, config, {k.replace("_l0", ""): v for k, v in arrays.items()})

    @classmethod
    def from_torch(cls, module_or_state_dict, *, dtype=None, prefix=None):
        """A GRUCell from a torch.nn.GRUCell, its state_dict or a torch.save path;
        ``prefix`` takes the cell's keys out of a larger state_dict."""
        from cgru.convert.torch import cell_from_torch
        return cell_from_torch(cls, module_or_state_dict, dtype=dtype, prefix=prefix)

    def to_torch(self):
        """A torch.nn.GRUCell with this cell's weights (reset_after=True cells)."""
        from cgru.convert.torch import cell_to_torch
        return cell_to_torch(self)
