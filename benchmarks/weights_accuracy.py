"""Accuracy of the reduced-precision weight formats (docs/weights.md).

Per format, the max and mean |y - y_ref| over all outputs y of a sequence, where
y_ref is torch float32 (the cgru float32 model agrees with it to ~1e-6), on
  * the benchmark models (PyTorch initialisation, seed 0, standard normal x),
  * the shipped demo model (cgru/data/demo_sine.npz) on its test signal,
  * a torch-trained model (a 2-layer GRU trained here for a few hundred steps
    to forecast a noisy sine from its past, as the demo task),
and OpenVINO's default precision (bf16 on this CPU) on the same models.

    python benchmarks/weights_accuracy.py [--no-openvino]
"""

import argparse
import importlib.resources
import sys

import numpy as np


def _err(a, b):
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    return float(d.max()), float(d.mean())


def _torch_ref(tgru, x):
    import torch
    with torch.inference_mode():
        return tgru(torch.from_numpy(x))[0].numpy()


def _openvino(tgru, x):
    from cgru._bench import _onnx_gru_model, _openvino_model
    model, prec = _openvino_model(_onnx_gru_model(tgru, np.float32, step=False), precision=None)
    return model({"X": x})[model.outputs[0]], prec


def _trained_torch_gru(seed=0, steps=300):
    import torch
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gru = torch.nn.GRU(1, 64, 2)
    head = torch.nn.Linear(64, 1)
    opt = torch.optim.Adam(list(gru.parameters()) + list(head.parameters()), lr=1e-2)
    for _ in range(steps):
        T, N = 60, 16
        f = rng.uniform(0.01, 0.08, N)
        ph = rng.uniform(0, 2 * np.pi, N)
        s = np.sin(2 * np.pi * f[None] * np.arange(T + 1)[:, None] + ph[None])
        x = torch.from_numpy((s[:-1] + rng.normal(0, 0.05, (T, N))).astype(np.float32)[..., None])
        y = torch.from_numpy(s[1:].astype(np.float32)[..., None])
        loss = torch.mean((head(gru(x)[0]) - y) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return gru.eval(), float(loss.detach())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-openvino", action="store_true")
    a = p.parse_args(argv)
    import torch
    import cgru
    torch.set_num_threads(1)
    rows = []

    def measure(name, tgru, x):
        g = cgru.GRU.from_torch(tgru)
        ref = _torch_ref(tgru, x)
        row = {"model": name, "float32": _err(g(x)[0], ref)}
        for fmt in ("float16", "bfloat16", "int8"):
            row[fmt] = _err(g.with_weights(fmt)(x)[0], ref)
        if not a.no_openvino:
            y, prec = _openvino(tgru, x)
            row[f"OpenVINO {prec}"] = _err(y, ref)
        rows.append(row)
        print(" | ".join([name] + [f"{k} {v[0]:.1e} / {v[1]:.1e}" for k, v in row.items()
                                   if k != "model"]), flush=True)

    for I, H, N, T in ((64, 128, 1, 1000), (256, 256, 16, 100), (512, 512, 64, 50),
                       (1024, 1024, 1, 20)):
        torch.manual_seed(0)
        tgru = torch.nn.GRU(I, H).eval()
        x = np.random.default_rng(0).standard_normal((T, N, I)).astype(np.float32)
        measure(f"bench ({I},{H},{N},{T})", tgru, x)

    demo = importlib.resources.files("cgru") / "data" / "demo_sine.npz"
    with importlib.resources.as_file(demo) as path:
        d = cgru.load(path)
    rng = np.random.default_rng(0)
    t = np.arange(400)
    x = (0.8 * np.sin(2 * np.pi * 0.03 * t) + rng.normal(0, 0.05, 400)).astype(np.float32)
    measure("demo_sine.npz (400 steps)", d.to_torch(), x[:, None, None])

    tgru, loss = _trained_torch_gru()
    t = np.arange(500)
    x = (np.sin(2 * np.pi * 0.05 * t) + rng.normal(0, 0.05, 500)).astype(np.float32)
    measure(f"torch-trained 2x64 (loss {loss:.1e}, 500 steps)", tgru, x[:, None, None])
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
