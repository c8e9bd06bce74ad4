"""A plain NumPy transcription of the GRU equations (float64 or float128-free,
computed in float64 throughout), both variants, multi-layer, bidirectional,
lengths, and the gates r, z, n of every step (return_gates).  Slow and obvious
on purpose: the kernels are tested against this.

    r  = f(W_ir x + b_ir + W_hr h + b_hr)
    z  = f(W_iz x + b_iz + W_hz h + b_hz)
    n  = g(W_in x + b_in + r * (W_hn h + b_hn))     reset_after=True
    n  = g(W_in x + b_in + W_hn (r * h) + b_hn)     reset_after=False
    h' = (1 - z) * n + z * h
"""

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ONNX's activation functions by (lower-case) name, f(x, alpha, beta)
ACTIVATIONS = {
    "sigmoid": lambda x, a, b: sigmoid(x),
    "tanh": lambda x, a, b: np.tanh(x),
    "relu": lambda x, a, b: np.maximum(x, 0),
    "affine": lambda x, a, b: a * x + b,
    "leakyrelu": lambda x, a, b: np.where(x >= 0, x, a * x),
    "thresholdedrelu": lambda x, a, b: np.where(x > a, x, 0.0),
    "scaledtanh": lambda x, a, b: a * np.tanh(b * x),
    "hardsigmoid": lambda x, a, b: np.clip(a * x + b, 0, 1),
    "elu": lambda x, a, b: np.where(x >= 0, x, a * np.expm1(np.minimum(x, 0))),
    "softsign": lambda x, a, b: x / (1 + np.abs(x)),
    "softplus": lambda x, a, b: np.logaddexp(0, x),
}


def activation(name, alpha=None, beta=None):
    """The function ``x -> f(x)`` of an ONNX activation name (any case)."""
    f = ACTIVATIONS[name.lower()]
    return lambda x: f(x, alpha, beta)


def cell(x, h, w_ih, w_hh, b_ih, b_hh, reset_after=True, f=sigmoid, g=np.tanh, clip=None):
    """One step for a batch: x (N, I), h (N, H) -> h' (N, H)."""
    return cell_gates(x, h, w_ih, w_hh, b_ih, b_hh, reset_after, f, g, clip)[0]


def cell_gates(x, h, w_ih, w_hh, b_ih, b_hh, reset_after=True, f=sigmoid, g=np.tanh,
               clip=None):
    """One step for a batch: x (N, I), h (N, H) -> h', r, z, n (each (N, H))."""
    H = h.shape[-1]
    c = (lambda a: np.clip(a, -clip, clip)) if clip else (lambda a: a)
    W_ir, W_iz, W_in = w_ih[:H], w_ih[H:2 * H], w_ih[2 * H:]
    W_hr, W_hz, W_hn = w_hh[:H], w_hh[H:2 * H], w_hh[2 * H:]
    b_ir, b_iz, b_in = b_ih[:H], b_ih[H:2 * H], b_ih[2 * H:]
    b_hr, b_hz, b_hn = b_hh[:H], b_hh[H:2 * H], b_hh[2 * H:]
    r = f(c(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr))
    z = f(c(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz))
    if reset_after:
        n = g(c(x @ W_in.T + b_in + r * (h @ W_hn.T + b_hn)))
    else:
        n = g(c(x @ W_in.T + b_in + (r * h) @ W_hn.T + b_hn))
    return (1 - z) * n + z * h, r, z, n


def gru(x, params, num_layers, hidden_size, *, bidirectional=False, reset_after=True,
        h0=None, lengths=None, batch_first=False, activations=None, clip=None,
        return_gates=False):
    """Full GRU forward in float64.  x (T, N, I) (or (N, T, I) when batch_first);
    params: PyTorch state_dict names (missing biases = zeros);
    activations: per direction (f, g) callables.  Returns y, h_n like torch, and
    with return_gates a dict of r, z, n, each (num_layers, *y.shape): the gates of
    every layer, step and direction, laid out like y; zeros past a sample's length."""
    x = np.asarray(x, np.float64)
    if batch_first:
        x = x.transpose(1, 0, 2)
    T, N, _ = x.shape
    H, D = hidden_size, 2 if bidirectional else 1
    lengths = np.full(N, T) if lengths is None else np.asarray(lengths)
    h0 = np.zeros((num_layers * D, N, H)) if h0 is None else np.asarray(h0, np.float64)
    h_n = np.zeros((num_layers * D, N, H))
    gates = {k: np.zeros((num_layers, T, N, D * H)) for k in "rzn"}
    inp = x
    for layer in range(num_layers):
        out = np.zeros((T, N, D * H))
        for d in range(D):
            sfx = "_reverse" if d else ""
            p = {k: np.asarray(params.get(f"{k}_l{layer}{sfx}", np.zeros(3 * H)), np.float64)
                 for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
            f, g = (activations[d] if activations else (sigmoid, np.tanh))
            for b in range(N):
                h = h0[layer * D + d, b][None]
                L = int(lengths[b])
                steps = range(L - 1, -1, -1) if d else range(L)
                for t in steps:
                    h, *rzn = cell_gates(inp[t, b][None], h, p["weight_ih"], p["weight_hh"],
                                         p["bias_ih"], p["bias_hh"], reset_after, f, g, clip)
                    out[t, b, d * H:(d + 1) * H] = h[0]
                    for k, v in zip("rzn", rzn):
                        gates[k][layer, t, b, d * H:(d + 1) * H] = v[0]
                h_n[layer * D + d, b] = h[0]
        inp = out
    y = inp.transpose(1, 0, 2) if batch_first else inp
    if return_gates:
        return y, h_n, {k: v.transpose(0, 2, 1, 3) if batch_first else v
                        for k, v in gates.items()}
    return y, h_n
