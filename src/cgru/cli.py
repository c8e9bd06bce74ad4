"""The ``cgru`` command.

    cgru [demo]                        run the built-in model (streaming and whole-sequence)
    cgru convert SRC -o model.npz      from .onnx, Keras .keras or a torch.save state_dict
    cgru run model.npz x.npy -o y.npy  run a saved model over an .npy array
    cgru info model.npz                describe a saved model
    cgru bench [ARGS]                  the benchmark suite (cgru._bench)

Exit codes: 0 success, 1 failure (bad file, conversion error, ...), 2 bad usage.
Only NumPy, SciPy and cgru are needed, except by ``convert`` (the source's framework).
"""

import argparse
import importlib
import importlib.resources
import importlib.util
import json
import os
import re
import sys
import time
import zipfile

import numpy as np

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class CLIError(Exception):
    """A failure to report as ``cgru: error: ...`` with exit code 1."""


# ------------------------------------------------------------------ helpers
class Progress:
    """A one-line progress report on stderr, shown only once a job has run for
    more than ``delay`` seconds, updated at most every ``every`` seconds."""

    def __init__(self, label, total, stream=None, delay=1.0, every=0.25):
        self.label, self.total = label, total
        self.stream = sys.stderr if stream is None else stream
        self.delay, self.every = delay, every
        self.start = time.perf_counter()
        self.last = None
        self.shown = None

    def update(self, done):
        now = time.perf_counter()
        if now - self.start < self.delay or (self.last is not None and now - self.last < self.every):
            return
        self.last = now
        self._write(done, now)

    def _write(self, done, now):
        pct = 100.0 * done / self.total if self.total else 100.0
        self.stream.write(f"\r{self.label}: {done}/{self.total} ({pct:.0f}%), "
                          f"{now - self.start:.1f} s")
        self.stream.flush()
        self.shown = done

    def close(self, done):
        if self.last is not None:           # something was shown: finish the line
            if self.shown != done:
                self._write(done, time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()


def _load_npy(path, what):
    try:
        a = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CLIError(f"{what}: no such file: {path}") from None
    except (OSError, ValueError, EOFError) as e:
        raise CLIError(f"{what}: {path} is not a readable .npy array: {e}") from None
    if isinstance(a, np.lib.npyio.NpzFile):     # an .npz archive, not one array
        with a:
            names = list(a.files)
        if "__config__" in names:
            raise CLIError(f"{what}: {path} is a cgru model, not an input array (cgru run "
                           f"MODEL INPUT: the model comes first)")
        raise CLIError(f"{what}: {path} is an .npz archive (arrays {names}); give one .npy "
                       f"array (np.save), e.g. python -c \"import numpy as np; "
                       f"np.save('x.npy', np.load('{path}')['{names[0] if names else 'x'}'])\"")
    return a


def _check_writable(path, what):
    """Fail before computing when ``path`` cannot be written (missing folder, ...)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CLIError(f"{what}: cannot write {path}: the folder {folder} does not exist")
    if os.path.isdir(path):
        raise CLIError(f"{what}: cannot write {path}: it is a folder")
    if not os.access(folder, os.W_OK):
        raise CLIError(f"{what}: cannot write {path}: the folder {folder} is not writable")


def _load_model(path):
    import cgru
    if not os.path.exists(path):
        raise CLIError(f"no such model file: {path}")
    try:
        return cgru.load(path)
    except (ValueError, TypeError) as e:
        raise CLIError(str(e)) from None


def _save_npy(path, array, what):
    try:
        with open(path, "wb") as f:
            np.save(f, array, allow_pickle=False)
    except OSError as e:
        raise CLIError(f"{what}: cannot write {path}: {e}") from None


def _inner(model):
    """The GRU behind a GRU or GRUCell."""
    return getattr(model, "_gru", model)


# --------------------------------------------------------------------- demo
def _demo_files():
    data = importlib.resources.files("cgru") / "data"
    return data / "demo_sine.npz", data / "demo_sine_head.npz"


def cmd_demo(args, out):
    import cgru
    model_res, head_res = _demo_files()
    with importlib.resources.as_file(model_res) as model_path, \
            importlib.resources.as_file(head_res) as head_path:
        if not os.path.exists(model_path) or not os.path.exists(head_path):
            raise CLIError(f"the demo model is missing from this installation ({model_path})")
        g = cgru.load(model_path)
        size = os.path.getsize(model_path)
        with np.load(head_path, allow_pickle=False) as f:
            w, b = f["weight"], f["bias"]
            freq_range, amp_range = f["freq"], f["amp"]
            noise, task = float(f["noise"]), str(f["task"])
        model_name = os.path.basename(model_path)

    # a fresh test signal from the training distribution
    rng = np.random.default_rng(args.seed)
    T = args.length
    freq, amp = rng.uniform(*freq_range), rng.uniform(*amp_range)
    phase = rng.uniform(0, 2 * np.pi)
    clean = amp * np.sin(2 * np.pi * freq * np.arange(T + 1) + phase)
    x = (clean[:-1] + rng.normal(0, noise, T)).astype(g.dtype)[:, None]   # (T, 1)
    truth = clean[1:]

    print(f"cgru demo: {task}", file=out)
    print(f"model: {g!r} + linear read-out ({w.shape[1]} -> 1), "
          f"{model_name} ({size / 1024:.0f} KB)", file=out)
    print(f"signal: {T} samples, frequency {freq:.4f} cycles/sample, amplitude {amp:.2f}, "
          f"noise sd {noise} (seed {args.seed})", file=out)

    # streaming: one Stream.step per sample, the read-out applied to each output
    s = g.stream()
    h_t = np.empty(g.hidden_size, dtype=g.dtype)
    pred_stream = np.empty(T)
    for t in range(T):
        s.step(x[t], out=h_t)
        pred_stream[t] = float(h_t @ w[0] + b[0])
    # whole sequence: one call
    y, _ = g(x)
    pred_whole = (y @ w.T + b)[:, 0].astype(np.float64)

    warm = min(20, T // 2)
    print(f"\nstreaming (Stream.step, one sample at a time), the last {args.show} steps:", file=out)
    print(f"{'t':>6} {'noisy input':>12} {'forecast t+1':>13} {'true t+1':>10} {'error':>8}",
          file=out)
    for t in range(max(0, T - args.show), T):
        print(f"{t:6d} {x[t, 0]:12.4f} {pred_stream[t]:13.4f} {truth[t]:10.4f} "
              f"{pred_stream[t] - truth[t]:8.4f}", file=out)
    rmse = float(np.sqrt(np.mean((pred_stream[warm:] - truth[warm:]) ** 2)))
    naive = float(np.sqrt(np.mean((x[warm:, 0] - truth[warm:]) ** 2)))
    print(f"\nRMSE over steps {warm}..{T - 1}: model {rmse:.4f}, naive forecast (repeat the last "
          f"noisy sample) {naive:.4f}, {naive / rmse:.1f}x lower", file=out)
    diff = float(np.max(np.abs(pred_whole - pred_stream)))
    print(f"whole-sequence mode (one GRU call over all {T} steps): same forecasts, "
          f"max |difference| {diff:.1e}", file=out)

    # timing: best of several passes, each over all T steps
    best_step = best_whole = float("inf")
    for _ in range(args.repeat):
        s.reset()
        t0 = time.perf_counter()
        for t in range(T):
            s.step(x[t], out=h_t)
        best_step = min(best_step, (time.perf_counter() - t0) / T)
        t0 = time.perf_counter()
        g(x)
        best_whole = min(best_whole, time.perf_counter() - t0)
    print(f"\ntime per step: {best_step * 1e6:.2f} µs (Stream.step with out=, measured, best of "
          f"{args.repeat} passes over {T} steps, Python call included)", file=out)
    print(f"whole sequence: {best_whole * 1e3:.3f} ms for {T} steps "
          f"({best_whole / T * 1e6:.2f} µs per step)", file=out)
    return EXIT_OK


# ------------------------------------------------------------------ convert
def _keras_model(path):
    """Load a .keras file (safe mode: no arbitrary code)."""
    if "KERAS_BACKEND" not in os.environ and importlib.util.find_spec("tensorflow") is None:
        for backend in ("torch", "jax"):
            if importlib.util.find_spec(backend) is not None:
                os.environ["KERAS_BACKEND"] = backend
                break
    try:
        import keras
    except ImportError as e:
        raise CLIError(f"converting a .keras file needs Keras 3 and a backend "
                       f"(pip install 'cgru[keras]' torch): {e}") from None
    if not zipfile.is_zipfile(path):
        raise CLIError(f"{path} is not a .keras file (a zip archive); only Keras 3's "
                       f".keras format is read")
    try:
        km = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:
        raise CLIError(f"cannot load {path} as a Keras model: {type(e).__name__}: {e}") from None
    return km


def _torch_state_dict(path, prefix):
    """A state_dict from torch.save and the prefix its GRU (or GRUCell) keys were
    under: ``prefix`` (with or without the trailing dot), or the one prefix that
    holds GRU keys."""
    from cgru.convert import torch as ct
    try:
        sd = ct._load_path(path)            # torch.load(weights_only=True), checked
        if prefix is None:
            cell = not ct.gru_prefixes(sd) and ct.gru_prefixes(sd, ct._CELL_KEY)
        else:                               # a GRUCell's keys under that prefix
            under = [k[len(ct._normal_prefix(prefix)):] for k in sd if isinstance(k, str)
                     and k.startswith(ct._normal_prefix(prefix))]
            cell = not any(ct._GRU_KEY.match(k) for k in under) and \
                any(ct._CELL_KEY.match(k) for k in under)
        if cell:
            return ct.take_prefix(sd, prefix, ct._CELL_KEY, "GRUCell")
        return ct.take_prefix(sd, prefix)
    except (ImportError, OSError, ValueError, TypeError) as e:
        raise CLIError(str(e).removeprefix("from_torch: ").replace("prefix=...", "--prefix")
                       .replace(" (cgru convert: --prefix)", "")) from None


def cmd_convert(args, out):
    import cgru
    src, kind = args.src, args.format
    if not os.path.exists(src):
        raise CLIError(f"no such file: {src}")
    if kind == "auto":
        ext = os.path.splitext(src)[1].lower()
        kind = {".onnx": "onnx", ".keras": "keras"}.get(ext, "torch")
    kw = {} if args.dtype is None else {"dtype": np.dtype(args.dtype)}
    _check_writable(args.output, "-o")
    if args.format == "auto" and kind == "torch" and zipfile.is_zipfile(src):
        with zipfile.ZipFile(src) as z:     # torch.save files are zip archives too
            if "__config__.npy" in z.namelist():
                raise CLIError(f"{src} is a cgru model already (GRU.save): cgru run and cgru "
                               f"info take it as is (cgru run --batch-first sets the layout)")
    try:
        if kind == "onnx":
            from cgru.convert.onnx import gru_from_onnx
            model = gru_from_onnx(cgru.GRU, src, args.layer, option="--layer", **kw)
        elif kind == "keras":
            from cgru.convert.keras import gru_from_keras
            model = gru_from_keras(cgru.GRU, _keras_model(src), name=args.layer,
                                   option="--layer", **kw)
        else:
            source, taken = _torch_state_dict(src, args.prefix)
            if taken and args.prefix is None:
                print(f"{src}: took the GRU keys under the prefix {taken!r}", file=out)
            try:
                model = cgru.GRU.from_torch(source, **kw)
            except ValueError as e:
                # maybe a GRUCell state_dict (weight_ih, weight_hh, bias_ih, bias_hh)
                try:
                    model = cgru.GRUCell.from_torch(source, **kw)
                except (ValueError, TypeError):
                    raise e from None
    except CLIError:
        raise
    except ImportError as e:
        raise CLIError(f"converting {src} needs a package that is not installed: {e}") from None
    except (ValueError, TypeError, KeyError, OSError, NotImplementedError) as e:
        raise CLIError(f"cannot convert {src}: {e}") from None
    if args.batch_first is not None:
        if isinstance(model, cgru.GRUCell):
            raise CLIError("--batch-first / --no-batch-first apply to GRU models; this is a "
                           "GRUCell")
        model.batch_first = args.batch_first
    if args.weights is not None:
        try:
            model = model.with_weights(args.weights)
        except ValueError as e:
            raise CLIError(f"cannot store {src}'s weights as {args.weights}: {e}") from None
    try:
        model.save(args.output)
    except OSError as e:
        raise CLIError(f"cannot write {args.output}: {e}") from None
    print(f"{src} ({kind}) -> {args.output}: {model!r}", file=out)
    return EXIT_OK


# ---------------------------------------------------------------------- run
def _layout(g):
    return "(N, T, I) batch-first" if g.batch_first else "(T, N, I) time-first"


def _check_layout(g, x, h0, lengths, how):
    """Refuse a 3-D x whose batch size, as --h0 / --lengths give it, fits only the
    other layout: the run would be silently wrong."""
    if np.ndim(x) != 3:
        return
    sizes = []
    if h0 is not None and np.ndim(h0) == 3:
        sizes.append(("--h0", np.shape(h0)[1]))
    if lengths is not None and np.ndim(lengths) == 1:
        sizes.append(("--lengths", np.shape(lengths)[0]))
    n_here, n_other = (x.shape[0], x.shape[1]) if g.batch_first else (x.shape[1], x.shape[0])
    for what, n in sizes:
        if n != n_here and n == n_other:
            other = "--no-batch-first" if g.batch_first else "--batch-first"
            raise CLIError(f"input {x.shape} read as {_layout(g)} ({how}) has batch size "
                           f"{n_here}, but {what} is for {n} sequences, which fits the other "
                           f"layout: pass {other} if the input is "
                           f"{'(T, N, I)' if g.batch_first else '(N, T, I)'}")


def cmd_run(args, out):
    import cgru
    model = _load_model(args.model)
    x = _load_npy(args.input, "input")
    h0 = None if args.h0 is None else _load_npy(args.h0, "--h0")
    lengths = None if args.lengths is None else _load_npy(args.lengths, "--lengths")
    _check_writable(args.output, "-o")
    if args.hn is not None:
        _check_writable(args.hn, "--hn")
    layout = None
    t0 = time.perf_counter()
    try:
        if isinstance(model, cgru.GRUCell):
            if lengths is not None or args.batch_first is not None:
                raise CLIError("--lengths and --batch-first apply to GRU models; this is a GRUCell")
            y = model(x, h0)
            h_n = y
        else:
            if args.batch_first is not None:
                how = "--batch-first" if args.batch_first else "--no-batch-first"
                model.batch_first = args.batch_first
            else:
                how = f"the model's batch_first={model.batch_first}"
            layout = _layout(model) if np.ndim(x) == 3 else "(T, I) one sequence"
            _check_layout(model, x, h0, lengths, how)
            y, h_n = _run_gru(model, x, h0, lengths, args.chunk)
    except (ValueError, TypeError) as e:
        raise CLIError(str(e)) from None
    except MemoryError:
        raise CLIError(f"not enough memory to run {args.input} {x.shape}") from None
    seconds = time.perf_counter() - t0
    _save_npy(args.output, y, "output")
    if args.hn is not None:
        _save_npy(args.hn, h_n, "--hn")
    if args.json:
        report = {"model": args.model, "input": args.input, "input_shape": list(x.shape),
                  "layout": layout, "output": args.output, "output_shape": list(y.shape),
                  "dtype": y.dtype.name, "hn": args.hn, "hn_shape": list(np.shape(h_n)),
                  "seconds": seconds}
        print(json.dumps(report, indent=2), file=out)
    elif not args.quiet:
        as_ = f" as {layout}" if layout else ""
        print(f"{args.input} {x.shape}{as_} -> {args.output} {y.shape} {y.dtype}", file=out)
    return EXIT_OK


def _run_gru(g, x, h0, lengths, chunk):
    """g(x, h0, lengths), in chunks of ``chunk`` sequences (each sequence is
    independent), or for a few long sequences of a unidirectional model in
    chunks of steps (the state carried over), with a progress line when it
    takes more than a second."""
    if np.ndim(x) == 2 and chunk > 0 and lengths is None and (h0 is None or np.ndim(h0) == 2):
        if h0 is not None and np.ndim(h0) == 2:
            h0 = np.asarray(h0)[:, None, :]
        y, h = _run_gru(g, np.asarray(x)[:, None, :] if not g.batch_first else
                        np.asarray(x)[None], h0, lengths, chunk)
        return (y[:, 0] if not g.batch_first else y[0]), h[:, 0]
    if np.ndim(x) != 3 or chunk <= 0:
        return g(x, h0, lengths)
    bdim = 0 if g.batch_first else 1
    N, T = x.shape[bdim], x.shape[1 - bdim]
    LD = g.num_layers * g.num_directions
    if (h0 is not None and np.shape(h0) != (LD, N, g.hidden_size)) \
            or (lengths is not None and np.shape(lengths) != (N,)):
        return g(x, h0, lengths)      # one call (and the library's message for a bad shape)
    g._check_input(x)   # fail on a bad x before any work
    if N <= chunk:
        steps = max(1, (chunk * 64) // max(N, 1))
        if T <= steps or g.bidirectional or g._reverse_only or lengths is not None:
            return g(x, h0, lengths)
        return _run_steps(g, x, h0, steps)
    ys, hs = [], []
    progress = Progress("run: sequences", N)
    for start in range(0, N, chunk):
        sl = slice(start, min(start + chunk, N))
        xs = x[sl] if bdim == 0 else x[:, sl]
        y, h = g(xs, None if h0 is None else np.asarray(h0)[:, sl],
                 None if lengths is None else np.asarray(lengths)[sl])
        ys.append(y)
        hs.append(h)
        progress.update(sl.stop)
    progress.close(N)
    return np.concatenate(ys, axis=bdim), np.concatenate(hs, axis=1)


def _run_steps(g, x, h, steps):
    """A unidirectional g over long sequences, ``steps`` time steps per call, the
    state carried from one call to the next: the same maths as one call, with
    a progress line in steps."""
    tdim = 1 if g.batch_first else 0
    T = x.shape[tdim]
    ys = []
    progress = Progress("run: steps", T)
    for start in range(0, T, steps):
        sl = slice(start, min(start + steps, T))
        y, h = g(x[:, sl] if tdim else x[sl], h)
        ys.append(y)
        progress.update(sl.stop)
    progress.close(T)
    return np.concatenate(ys, axis=tdim), h


# --------------------------------------------------------------------- info
def model_info(model):
    """A JSON-ready description of a loaded model."""
    import cgru
    from cgru.kernels import cgru_activation
    g = _inner(model)
    params = model.state_dict()
    info = {"kind": "GRUCell" if isinstance(model, cgru.GRUCell) else "GRU"}
    info.update(g._config())
    if info["kind"] == "GRUCell":
        for k in ("num_layers", "batch_first", "bidirectional"):
            info.pop(k)
    info["parameters"] = int(sum(a.size for a in params.values()))
    info["shapes"] = {k: list(a.shape) for k, a in params.items()}
    names = {int(a): a.name.removeprefix("CGRU_").lower() for a in cgru_activation}
    info["activations"] = [
        {"gates": [names.get(int(a[0]), a[0]), a[1], a[2]],
         "candidate": [names.get(int(a[3]), a[3]), a[4], a[5]]} for a in g._activations]
    info["clip"] = g._clip
    info["weights"] = g.weights
    return info


def cmd_info(args, out):
    model = _load_model(args.model)
    info = model_info(model)
    info["file"] = args.model
    info["file_bytes"] = os.path.getsize(args.model)
    if args.json:
        print(json.dumps(info, indent=2), file=out)
        return EXIT_OK
    print(f"{args.model}: {model!r}", file=out)
    print(f"  {info['parameters']} parameters ({info['dtype']}), file {info['file_bytes']} bytes",
          file=out)
    if info["weights"] != info["dtype"]:
        print(f"  weights: {info['weights']} (state and sums {info['dtype']})", file=out)
    variant = "reset_after=True (PyTorch / cuDNN)" if info["reset_after"] else \
        "reset_after=False (Cho et al. 2014)"
    print(f"  variant: {variant}", file=out)
    if "batch_first" in info:
        print(f"  layout: batch_first={info['batch_first']}: cgru run reads x as "
              f"{'(N, T, I)' if info['batch_first'] else '(T, N, I)'}", file=out)
    for d, a in enumerate(info["activations"]):
        gates, cand = a["gates"], a["candidate"]
        print(f"  direction {d}: gates {gates[0]}, candidate {cand[0]}", file=out)
    if info["clip"] is not None:
        print(f"  clip: {info['clip']}", file=out)
    for k, shape in info["shapes"].items():
        print(f"  {k:24s} {tuple(shape)}", file=out)
    return EXIT_OK


# -------------------------------------------------------------------- bench
BENCH_NEEDS = ("torch", "onnx", "onnxruntime", "threadpoolctl")


def cmd_bench(rest):
    try:
        bench = importlib.import_module("cgru._bench")
    except ImportError as e:
        if getattr(e, "name", None) != "cgru._bench":
            raise
        raise CLIError("this cgru has no benchmark suite (cgru._bench is missing)") from None
    rest = list(rest)
    if not {"-h", "--help", "--list"} & set(rest):
        missing = [m for m in BENCH_NEEDS if importlib.util.find_spec(m) is None]
        if missing:
            raise CLIError(f"cgru bench needs {', '.join(BENCH_NEEDS)}; missing: "
                           f"{', '.join(missing)} (pip install 'cgru[torch,onnx]' threadpoolctl)")
    try:
        rc = bench.main(rest)
    except SystemExit as e:              # its argparse: --help (0) or a usage error (2)
        rc = e.code if isinstance(e.code, int) or e.code is None else EXIT_FAILURE
    return EXIT_OK if rc is None else int(rc)


# --------------------------------------------------------------------- main
def build_parser():
    p = argparse.ArgumentParser(
        prog="cgru", description="Fast GRU inference on the CPU. Without a command: cgru demo.",
        epilog="Exit codes: 0 success, 1 failure, 2 bad usage.")
    p.add_argument("--version", action="version",
                   version=f"cgru {importlib.import_module('cgru').__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser("demo", help="run the built-in noisy-sine forecaster (the default)",
                       description="Run the built-in model: a 2-layer GRU that forecasts the next "
                                   "clean sample of a noisy sine wave, in streaming and "
                                   "whole-sequence mode, and time a step.")
    d.add_argument("--seed", type=int, default=0, help="seed of the test signal (default 0)")
    d.add_argument("--length", type=_positive, default=400, help="samples (default 400)")
    d.add_argument("--show", type=_nonnegative, default=8, help="rows to print (default 8)")
    d.add_argument("--repeat", type=_positive, default=5, help="timing passes (default 5)")

    c = sub.add_parser("convert", help="convert an ONNX / Keras / PyTorch GRU to a cgru .npz",
                       description="Convert a GRU to cgru's .npz format. The source kind is taken "
                                   "from the extension: .onnx, .keras, anything else is a "
                                   "torch.save state_dict (of nn.GRU or nn.GRUCell).")
    c.add_argument("src", help="model.onnx, model.keras or a torch.save file (.pt, .pth)")
    c.add_argument("-o", "--output", required=True, help="the .npz to write")
    c.add_argument("--format", choices=["auto", "onnx", "keras", "torch"], default="auto",
                   help="source kind (default: from the extension)")
    c.add_argument("--dtype", choices=["float32", "float64"], default=None,
                   help="model dtype (default: the source's)")
    c.add_argument("--layer", default=None,
                   help="the GRU to take when there are several: Keras layer or ONNX node name")
    c.add_argument("--prefix", default=None,
                   help="torch: take the keys starting with PREFIX (e.g. 'encoder.gru.') from "
                        "a larger state_dict (default: the one GRU's prefix, found)")
    c.add_argument("--batch-first", action=argparse.BooleanOptionalAction, default=None,
                   help="save the model as batch_first (its input (N, T, I)), or not "
                        "(--no-batch-first: (T, N, I)); default: the source's layout (a torch "
                        "state_dict carries none: time-first)")
    c.add_argument("--weights", choices=["float32", "float16", "bfloat16", "int8"], default=None,
                   help="store the weight matrices in this format (float32 models; "
                        "docs/weights.md); default: the model's dtype")

    r = sub.add_parser("run", help="run a saved model over an .npy array",
                       description="Run a saved model over input.npy and save the outputs.")
    r.add_argument("model", help="a model saved by GRU.save / cgru convert")
    r.add_argument("input", help=".npy input: (T, N, I), (N, T, I) with --batch-first, or (T, I)")
    r.add_argument("-o", "--output", required=True, help=".npy file for the outputs y")
    r.add_argument("--lengths", default=None, help=".npy of N integer sequence lengths")
    r.add_argument("--batch-first", action=argparse.BooleanOptionalAction, default=None,
                   help="input and output are (N, T, I); --no-batch-first: (T, N, I) "
                        "(default: the model's batch_first, as cgru info shows)")
    r.add_argument("--h0", default=None, help=".npy initial state (num_layers*D, N, H)")
    r.add_argument("--hn", default=None, help=".npy file for the final state h_n")
    r.add_argument("--chunk", type=_nonnegative, default=256,
                   help="sequences per call (progress is shown between calls; a few long "
                        "sequences go in chunks of steps; 0: one call)")
    r.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    r.add_argument("--json", action="store_true",
                   help="print what was run as JSON (shapes, layout, dtype, seconds)")

    i = sub.add_parser("info", help="describe a saved model")
    i.add_argument("model")
    i.add_argument("--json", action="store_true", help="print JSON")

    sub.add_parser("bench", help="run the benchmarks (arguments go to cgru._bench)", add_help=False)
    return p


def _positive(text):
    v = _nonnegative(text)
    if v == 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return v


def _nonnegative(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return v


COMMANDS = {"demo": cmd_demo, "convert": cmd_convert, "run": cmd_run, "info": cmd_info}


def _one_line(message):
    """An error message as one line without terminal escapes (some libraries'
    messages span lines or carry colour codes)."""
    message = re.sub(r"\x1b\[[0-9;]*m", "", message)
    return " ".join(message.split())


def main(argv=None):
    """The console script.  Returns the exit code (0 ok, 1 failure, 2 usage)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv and argv[0] == "bench":
            return cmd_bench(argv[1:])
        parser = build_parser()
        try:
            args = parser.parse_args(argv or ["demo"])
        except SystemExit as e:          # --help / --version (0) or a usage error (2)
            return e.code if isinstance(e.code, int) else EXIT_USAGE
        return COMMANDS[args.command](args, sys.stdout)
    except CLIError as e:
        print(f"cgru: error: {_one_line(str(e))}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("cgru: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:              # e.g. cgru info ... | head
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
