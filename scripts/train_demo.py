"""Train the model behind ``cgru demo`` and write it into the package.

Task (one line): given noisy samples of a sine wave, forecast the next clean sample.

Each training sequence is  x_t = A sin(2 pi f t + phi) + noise,  with the
frequency f uniform in [0.01, 0.08] cycles/sample, the amplitude A uniform in
[0.5, 1.0], the phase uniform and Gaussian noise of standard deviation 0.1;
the target at step t is the clean value A sin(2 pi f (t+1) + phi).

The model is a 2-layer cgru-compatible GRU (PyTorch's nn.GRU, input 1,
hidden 32) followed by a linear read-out (32 -> 1).  The GRU is converted with
``cgru.GRU.from_torch`` and saved with ``GRU.save`` to
``src/cgru/data/demo_sine.npz``; the read-out (plain arrays, no pickle) goes to
``src/cgru/data/demo_sine_head.npz`` together with the data parameters, which
``cgru demo`` reads to generate its test signal.

Run from the repository root after building cgru in place (about a minute on
one CPU core):

    python setup.py -q build_ext --inplace
    PYTHONPATH=src python scripts/train_demo.py
"""

import argparse
import os
import sys
import time

import numpy as np
import torch

import cgru

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, os.pardir, "src", "cgru", "data")

FREQ = (0.01, 0.08)
AMP = (0.5, 1.0)
NOISE = 0.1
HIDDEN, LAYERS = 32, 2


def make_batch(rng, n, t):
    """(x, target): both (t, n, 1) float32; target is the next clean sample."""
    f = rng.uniform(*FREQ, size=n)
    a = rng.uniform(*AMP, size=n)
    phi = rng.uniform(0, 2 * np.pi, size=n)
    steps = np.arange(t + 1)[:, None]
    clean = a * np.sin(2 * np.pi * f * steps + phi)
    x = clean[:-1] + rng.normal(0, NOISE, size=(t, n))
    return (x[..., None].astype(np.float32), clean[1:, :, None].astype(np.float32))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=OUT)
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    gru = torch.nn.GRU(1, HIDDEN, LAYERS)
    head = torch.nn.Linear(HIDDEN, 1)
    params = list(gru.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps)
    t0 = time.perf_counter()
    for step in range(args.steps):
        x, y = make_batch(rng, 64, 120)
        out, _ = gru(torch.from_numpy(x))
        loss = torch.mean((head(out)[20:] - torch.from_numpy(y)[20:]) ** 2)  # skip warm-up
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 250 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  rmse {loss.item() ** 0.5:.4f}  "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)

    # held-out check, computed with cgru itself: model RMSE vs the naive forecast
    g = cgru.GRU.from_torch(gru)
    w = head.weight.detach().numpy().astype(np.float32)
    b = head.bias.detach().numpy().astype(np.float32)
    x, y = make_batch(np.random.default_rng(12345), 256, 400)
    h, _ = g(x)
    with torch.no_grad():
        ref = gru(torch.from_numpy(x))[0].numpy()
    print(f"cgru vs torch max |diff|: {np.abs(h - ref).max():.2e}")
    pred = h @ w.T + b
    rmse = float(np.sqrt(np.mean((pred[20:] - y[20:]) ** 2)))
    naive = float(np.sqrt(np.mean((x[20:] - y[20:]) ** 2)))
    print(f"held-out RMSE: model {rmse:.4f}, naive (repeat last noisy sample) {naive:.4f}")

    os.makedirs(args.out, exist_ok=True)
    g.save(os.path.join(args.out, "demo_sine.npz"))
    np.savez(os.path.join(args.out, "demo_sine_head.npz"), weight=w, bias=b,
             freq=np.array(FREQ), amp=np.array(AMP), noise=np.array(NOISE),
             task=np.array("forecast the next clean sample of a noisy sine wave"))
    for name in ("demo_sine.npz", "demo_sine_head.npz"):
        path = os.path.join(args.out, name)
        print(f"wrote {os.path.normpath(path)} ({os.path.getsize(path)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
