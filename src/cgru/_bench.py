"""cgru's benchmark suite: cgru against PyTorch, onnxruntime and OpenVINO.

Run it as ``cgru bench`` or ``python -m cgru._bench`` (``--help`` for options).
Every contender runs with the same number of threads, ``--threads N`` (default
1): ``cgru.threads(N)`` (which also limits BLAS), ``torch.set_num_threads(N)``,
onnxruntime with N intra-op threads and one inter-op thread, OpenVINO with
``INFERENCE_NUM_THREADS=N`` and float32 inference precision.  All run in this
process, interleaved round by round; the best round counts.  Before timing,
every scenario checks that cgru's outputs agree with PyTorch's (and the other
contenders' with PyTorch's): a fast wrong answer is worthless.  OpenVINO is
optional: without the package it is left out; with it, it runs twice, at float32
(``openvino-f32``) and at its default precision (``openvino``: bf16 on CPUs with
AVX512-BF16 or AMX; the table prints which).  Every contender's error against
torch float32 is reported; scenarios with reduced-precision weights
(``weights``) and OpenVINO's default precision are checked against per-format
bounds (FORMAT_TOLERANCE).

``quick=True`` runs every scenario with tiny repeat counts: it checks the
agreement and that every contender runs, not speed.

PyTorch, onnx and onnxruntime are imported here only, inside functions; ``import
cgru`` never imports this module.
"""

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

__all__ = ["SCENARIOS", "run", "main"]


class Scenario:
    """One benchmark case: (I, H, N, T), layers, dtype; ``step`` = streaming;
    ``weights``: cgru's weight format (``GRU.with_weights``), None = the dtype's own."""

    def __init__(self, name, I, H, N, T, layers=1, dtype="float32", step=False, note="",
                 weights=None):
        self.name, self.I, self.H, self.N, self.T = name, I, H, N, T
        self.layers, self.dtype, self.step, self.note = layers, np.dtype(dtype), step, note
        self.weights = weights

    def flops(self):
        """Multiply-adds x 2 of the input and recurrent products of one call."""
        total, in_size = 0, self.I
        for _ in range(self.layers):
            total += 2 * 3 * self.H * (in_size + self.H)
            in_size = self.H
        return total * self.N * self.T

    def label(self):
        s = f"{self.I},{self.H},{self.N},{self.T}"
        if self.layers > 1:
            s += f" L{self.layers}"
        return s


SCENARIOS = [
    # streaming single steps: stream.step(x, out=buf) vs GRUCell / ORT per step
    Scenario("step-tick", 8, 32, 1, 1, step=True, note="tick data"),
    Scenario("step-kws", 40, 128, 1, 1, step=True, note="keyword spotting"),
    Scenario("step-64x128", 64, 128, 1, 1, step=True),
    Scenario("step-256", 256, 256, 1, 1, step=True),
    Scenario("step-rnnoise", 256, 256, 1, 1, layers=3, step=True, note="RNNoise-like, 3 layers"),
    Scenario("step-speech", 257, 512, 1, 1, step=True, note="speech enhancement"),
    Scenario("step-server64", 256, 256, 64, 1, step=True, note="server, 64 streams"),
    # whole sequences
    Scenario("seq-64x128-T1000", 64, 128, 1, 1000),
    Scenario("seq-256-N1", 256, 256, 1, 100),
    Scenario("seq-256-N16", 256, 256, 16, 100),
    Scenario("seq-256-N32", 256, 256, 32, 100),
    Scenario("seq-512-N64", 512, 512, 64, 50),
    Scenario("seq-1024-N1", 1024, 1024, 1, 20),
    # float64 (onnxruntime has no float64 GRU)
    Scenario("f64-step-64x128", 64, 128, 1, 1, dtype="float64", step=True),
    Scenario("f64-seq-64x128-T1000", 64, 128, 1, 1000, dtype="float64"),
    Scenario("f64-seq-256-N16", 256, 256, 16, 100, dtype="float64"),
]
# reduced-precision weights: the scenarios once per format
for _fmt, _tag in (("bfloat16", "bf16"), ("int8", "int8"), ("float16", "f16")):
    SCENARIOS += [
        Scenario(f"{_tag}-step-64x128", 64, 128, 1, 1, step=True, weights=_fmt),
        Scenario(f"{_tag}-step-256", 256, 256, 1, 1, step=True, weights=_fmt),
        Scenario(f"{_tag}-step-rnnoise", 256, 256, 1, 1, layers=3, step=True, weights=_fmt,
                 note="RNNoise-like, 3 layers"),
        Scenario(f"{_tag}-seq-64x128-T1000", 64, 128, 1, 1000, weights=_fmt),
        Scenario(f"{_tag}-seq-256-N16", 256, 256, 16, 100, weights=_fmt),
        Scenario(f"{_tag}-seq-512-N64", 512, 512, 64, 50, weights=_fmt),
        Scenario(f"{_tag}-seq-1024-N1", 1024, 1024, 1, 20, weights=_fmt),
    ]
del _fmt, _tag

# Largest deviation from torch float32 accepted per weight format (cgru) and for
# OpenVINO's default precision (bf16 inference): the same bounds as the tests
# (docs/weights.md has the measured values).
FORMAT_TOLERANCE = {"float16": 2e-3, "bfloat16": 1.5e-2, "int8": 3e-2}



# ------------------------------------------------------------------ helpers

def _tol(dtype, T, weights=None):
    # rounding differences of two correct implementations grow slowly with T
    if weights in FORMAT_TOLERANCE:
        return FORMAT_TOLERANCE[weights]
    if dtype == np.float32:
        return 2e-5 * max(1.0, np.sqrt(T)) + 1e-5
    return 1e-12 * max(1.0, np.sqrt(T))


def _openblas_info():
    from threadpoolctl import threadpool_info
    return [{k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads",
                                   "filepath")} for d in threadpool_info()
            if d.get("user_api") == "blas"]


def measure_peak(dtype, n=2048, repeats=5):
    """This core's GEMM throughput (GFLOP/s): best of ``repeats`` n x n x n
    products through scipy's BLAS (the BLAS cgru calls), one thread, timed
    with this thread's CPU time."""
    from scipy.linalg import blas
    rng = np.random.default_rng(0)
    a = np.asfortranarray(rng.standard_normal((n, n)).astype(dtype))
    b = np.asfortranarray(rng.standard_normal((n, n)).astype(dtype))
    c = np.asfortranarray(np.zeros((n, n), dtype=dtype))
    gemm = blas.sgemm if np.dtype(dtype) == np.float32 else blas.dgemm
    gemm(1.0, a[:64, :64], b[:64, :64])   # warm up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.thread_time()
        gemm(1.0, a, b, c=c, overwrite_c=True)
        best = min(best, time.thread_time() - t0)
    return 2.0 * n ** 3 / best / 1e9


def _onnx_gru_model(torch_gru, dtype, step):
    """An ONNX graph of ``torch_gru`` (unidirectional, any number of layers):
    one ONNX GRU node per layer, linear_before_reset=1, gates reordered from
    PyTorch's (r, z, n) to ONNX's (z, r, h).  Inputs X (T, N, I) and, when
    ``step``, initial_h (L, N, H); outputs Y of the top layer and Y_h (L, N, H)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    H, L = torch_gru.hidden_size, torch_gru.num_layers
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    sd = {k: v.detach().cpu().numpy().astype(dtype) for k, v in torch_gru.state_dict().items()}

    def zrn(w):   # (3H, ...) r, z, n -> z, r, n
        return np.concatenate([w[H:2 * H], w[:H], w[2 * H:]], axis=0)

    inits, nodes = [], []
    inputs = [helper.make_tensor_value_info("X", elem, ["T", "N", torch_gru.input_size])]
    if step:
        inputs.append(helper.make_tensor_value_info("initial_h", elem, [L, "N", H]))
        nodes.append(helper.make_node("Split", ["initial_h"], [f"h0_{k}" for k in range(L)],
                                      axis=0, num_outputs=L) if L > 1 else
                     helper.make_node("Identity", ["initial_h"], ["h0_0"]))
    x = "X"
    hs = []
    for k in range(L):
        W = zrn(sd[f"weight_ih_l{k}"])[None]
        R = zrn(sd[f"weight_hh_l{k}"])[None]
        B = np.concatenate([zrn(sd[f"bias_ih_l{k}"]), zrn(sd[f"bias_hh_l{k}"])])[None]
        for name, arr in ((f"W{k}", W), (f"R{k}", R), (f"B{k}", B)):
            inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        gru_in = [x, f"W{k}", f"R{k}", f"B{k}", "", f"h0_{k}" if step else ""]
        nodes.append(helper.make_node("GRU", gru_in, [f"Y{k}", f"Yh{k}"], hidden_size=H,
                                      linear_before_reset=1))
        # Y (T, 1, N, H) -> (T, N, H) for the next layer / the output
        nodes.append(helper.make_node("Squeeze", [f"Y{k}", "axis1"], [f"y{k}"]))
        x = f"y{k}"
        hs.append(f"Yh{k}")
    inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"))
    nodes.append(helper.make_node("Concat", hs, ["Y_h"], axis=0) if L > 1 else
                 helper.make_node("Identity", hs, ["Y_h"]))
    outputs = [helper.make_tensor_value_info(x, elem, ["T", "N", H]),
               helper.make_tensor_value_info("Y_h", elem, [L, "N", H])]
    graph = helper.make_graph(nodes, "cgru_bench_gru", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _ort_session(model_bytes, threads=1):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def _openvino_model(model_bytes, threads=1, precision="f32"):
    """OpenVINO's CPU plugin on the ONNX graph (N threads, latency hint);
    precision "f32", or None for its default (bf16 on CPUs with AVX512-BF16 or
    AMX).  Returns (compiled model, the inference precision it runs), or
    (None, None) when openvino is not installed."""
    try:
        import openvino as ov
    except ImportError:
        return None, None
    core = ov.Core()
    cfg = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    if precision:
        cfg["INFERENCE_PRECISION_HINT"] = precision
    compiled = core.compile_model(core.read_model(model_bytes), "CPU", cfg)
    used = compiled.get_property("INFERENCE_PRECISION_HINT")
    return compiled, getattr(used, "get_type_name", lambda: str(used))()


def _openvino_request(model_bytes, threads=1, precision="f32"):
    """(an infer request of _openvino_model, its precision), or (None, None)."""
    compiled, used = _openvino_model(model_bytes, threads, precision)
    return (None, None) if compiled is None else (compiled.create_infer_request(), used)


OPENVINO_CONTENDERS = (("openvino-f32", "f32"), ("openvino", None))   # name, precision


# --------------------------------------------------------------- contenders

def _make_contenders(sc, seed=0, threads=1):
    """Callables (one call = one step or one sequence) for cgru, torch, ORT and
    OpenVINO, plus the agreement checks.  Returns (contenders: dict name -> fn,
    checks, tolerance).  ``threads``: for the ORT and OpenVINO sessions (cgru and
    torch take theirs from the caller's settings)."""
    import torch
    import cgru
    torch.manual_seed(seed)
    tdtype = torch.float32 if sc.dtype == np.float32 else torch.float64
    I, H, N, T, L = sc.I, sc.H, sc.N, sc.T, sc.layers
    tgru = torch.nn.GRU(I, H, L).to(tdtype).eval()
    sd = {k: v.detach().numpy() for k, v in tgru.state_dict().items()}
    model = cgru.GRU(I, H, L, dtype=sc.dtype)
    model.load_state_dict(sd)
    if sc.weights:
        model = model.with_weights(sc.weights)
    rng = np.random.default_rng(seed)
    checks = {}
    contenders = {}
    precisions, ov_reqs = {}, {}
    ort_ok = sc.dtype == np.float32

    if sc.step:
        # a short stream of inputs, cycled through while timing
        K = 16
        xs = rng.standard_normal((K, N, I)).astype(sc.dtype)
        xs_c = [xs[k, 0] if N == 1 else xs[k] for k in range(K)]   # 1-D for one stream
        xs_t = [torch.from_numpy(xs[k]) for k in range(K)]
        stream = model.stream(N)
        out = np.empty((H,) if N == 1 else (N, H), dtype=sc.dtype)
        step = stream.step

        def run_cgru(reps):
            for i in range(reps):
                step(xs_c[i % K], out)

        with torch.inference_mode():
            if L == 1:
                cell = torch.nn.GRUCell(I, H).to(tdtype).eval()
                cell.load_state_dict({k.replace("_l0", ""): v for k, v in tgru.state_dict().items()})
                th = [torch.zeros(N, H, dtype=tdtype)]

                def run_torch(reps):
                    with torch.inference_mode():
                        h = th[0]
                        for i in range(reps):
                            h = cell(xs_t[i % K], h)
                        th[0] = h
            else:
                th = [torch.zeros(L, N, H, dtype=tdtype)]
                xs_t3 = [x[None] for x in xs_t]

                def run_torch(reps):
                    with torch.inference_mode():
                        h = th[0]
                        for i in range(reps):
                            _, h = tgru(xs_t3[i % K], h)
                        th[0] = h
        contenders["cgru"] = run_cgru
        contenders["torch"] = run_torch
        if ort_ok:
            onnx_model = _onnx_gru_model(tgru, sc.dtype, step=True)
            sess = _ort_session(onnx_model, threads)
            oh = [np.zeros((L, N, H), dtype=sc.dtype)]
            xs_o = [xs[k][None] for k in range(K)]
            run = sess.run

            def run_ort(reps):
                h = oh[0]
                for i in range(reps):
                    h = run(["Y_h"], {"X": xs_o[i % K], "initial_h": h})[0]
                oh[0] = h
            contenders["onnxruntime"] = run_ort
            for cname, prec in OPENVINO_CONTENDERS:
                ov_req, used = _openvino_request(onnx_model, threads, prec)
                if ov_req is None:
                    break
                ov_reqs[cname], precisions[cname] = ov_req, used
                contenders[cname] = _ov_step_runner(ov_req, xs_o, L, N, H, sc.dtype)

        # agreement: K steps from zero state, compare the final top-layer state
        stream.reset()
        for k in range(K):
            step(xs_c[k], out)
        with torch.inference_mode():
            _, href = tgru(torch.from_numpy(xs), torch.zeros(L, N, H, dtype=tdtype))
        ref = href[-1].numpy().reshape(out.shape)
        checks["cgru-vs-torch"] = float(np.max(np.abs(out - ref)))
        if ort_ok:
            yo = sess.run(["Y_h"], {"X": xs, "initial_h": np.zeros((L, N, H), sc.dtype)})[0]
            checks["onnxruntime-vs-torch"] = float(np.max(np.abs(yo[-1].reshape(out.shape) - ref)))
            for cname, ov_req in ov_reqs.items():
                ov_req.infer({"X": xs, "initial_h": np.zeros((L, N, H), sc.dtype)})
                yv = ov_req.get_tensor("Y_h").data
                checks[f"{cname}-vs-torch"] = float(np.max(np.abs(yv[-1].reshape(out.shape) - ref)))
        # then time from a fresh state (the state stays bounded: GRU states are in (-1, 1))
        stream.reset()
        tol_T = K
    else:
        x = rng.standard_normal((T, N, I)).astype(sc.dtype)
        xt = torch.from_numpy(x)

        def run_cgru(reps):
            for _ in range(reps):
                model(x)

        def run_torch(reps):
            with torch.inference_mode():
                for _ in range(reps):
                    tgru(xt)
        contenders["cgru"] = run_cgru
        contenders["torch"] = run_torch
        y, hn = model(x)
        with torch.inference_mode():
            yr, hr = tgru(xt)
        checks["cgru-vs-torch"] = float(max(np.max(np.abs(y - yr.numpy())),
                                            np.max(np.abs(hn - hr.numpy()))))
        if ort_ok:
            onnx_model = _onnx_gru_model(tgru, sc.dtype, step=False)
            sess = _ort_session(onnx_model, threads)
            run = sess.run

            def run_ort(reps):
                for _ in range(reps):
                    run(None, {"X": x})
            contenders["onnxruntime"] = run_ort
            yo, _ = sess.run(None, {"X": x})
            checks["onnxruntime-vs-torch"] = float(np.max(np.abs(yo - yr.numpy())))
            for cname, prec in OPENVINO_CONTENDERS:
                ov_req, used = _openvino_request(onnx_model, threads, prec)
                if ov_req is None:
                    break
                precisions[cname] = used
                contenders[cname] = _ov_sequence_runner(ov_req, x)
                ov_req.infer({"X": x})
                yv = ov_req.get_tensor(ov_req.model_outputs[0]).data
                checks[f"{cname}-vs-torch"] = float(np.max(np.abs(yv - yr.numpy())))
        tol_T = T
    if threads > 1:
        # cgru on one thread too, interleaved with the rest: the speed-up of the threads
        one = contenders["cgru"]

        def run_cgru_1(reps):
            with cgru.threads(1):
                one(reps)
        contenders["cgru-1thread"] = run_cgru_1
    tol = _tol(sc.dtype, tol_T * L, sc.weights)
    # each check against its own bound: OpenVINO's default precision may be bf16
    tols = {k: (FORMAT_TOLERANCE["bfloat16"] if k == "openvino-vs-torch"
                and precisions.get("openvino") != "f32" else
                tol if k.startswith("cgru") else _tol(sc.dtype, tol_T * L))
            for k in checks}
    return contenders, checks, tols, precisions


def _ov_step_runner(ov_req, xs_o, L, N, H, dtype):
    K = len(xs_o)
    state = [np.zeros((L, N, H), dtype=dtype)]

    def run_ov(reps):
        h = state[0]
        for i in range(reps):
            ov_req.infer({"X": xs_o[i % K], "initial_h": h})
            h = ov_req.get_tensor("Y_h").data.copy()
        state[0] = h
    return run_ov


def _ov_sequence_runner(ov_req, x):
    def run_ov(reps):
        for _ in range(reps):
            ov_req.infer({"X": x})
    return run_ov


CLOCKS = {
    # CPU time of this thread: every contender runs on the calling thread (one
    # thread each), and time spent preempted by other processes is not counted
    "cpu": time.thread_time,
    "wall": time.perf_counter,
}


def _time_interleaved(contenders, rounds, min_time, quick, clock="cpu"):
    """Best time per call of each contender; rounds interleave the contenders."""
    now = CLOCKS[clock]
    reps = {}
    for name, fn in contenders.items():
        fn(1)   # warm up (and first-call allocations)
        if quick:
            reps[name] = 1
            continue
        n = 1
        while True:   # calibrate: a block of n calls takes >= min_time
            t0 = now()
            fn(n)
            dt = now() - t0
            if dt >= min_time or n >= 1 << 20:
                break
            n = n * 2 if dt <= 0 else max(n * 2, int(n * min_time / dt * 1.2))
        reps[name] = n
    best = {name: float("inf") for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            n = reps[name]
            t0 = now()
            fn(n)
            best[name] = min(best[name], (now() - t0) / n)
    return best


def run(quick=False, json_path=None, scenarios=None, rounds=None, min_time=None, out=None,
        clock=None, threads=1):
    """Run the suite; returns the results as a dict (also written to ``json_path``).

    scenarios: names (or name prefixes) to run, default all.  quick: tiny repeats
    (agreement and smoke test, timings meaningless).  out: a text stream for the
    table (default sys.stdout; False prints nothing).  threads: the thread count
    of every contender.  clock: 'cpu' (this thread's CPU time, robust on a shared
    machine; the default with one thread) or 'wall' (the default, and the only
    meaningful clock, with several threads)."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    if clock is None:
        clock = "cpu" if threads == 1 else "wall"
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {list(CLOCKS)}, got {clock!r}")
    if clock == "cpu" and threads > 1:
        raise ValueError("clock 'cpu' counts the calling thread only: use clock='wall' "
                         f"with threads={threads}")
    import torch
    import cgru

    if out is None:
        out = sys.stdout
    rounds = (1 if quick else 7) if rounds is None else rounds
    min_time = (0.0 if quick else 0.02) if min_time is None else min_time
    chosen = SCENARIOS
    if scenarios:
        chosen = [s for s in SCENARIOS if any(s.name == p or s.name.startswith(p)
                                              for p in scenarios)]
        if not chosen:
            raise ValueError(f"scenarios: no scenario matches {list(scenarios)}; "
                             f"known: {[s.name for s in SCENARIOS]}")
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass   # already set in this process
    results = {
        "cgru_version": cgru.__version__, "quick": bool(quick), "rounds": rounds,
        "clock": clock, "isa": _cgru_isa(), "threads": threads,
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": sys.version.split()[0], "numpy": np.__version__, "torch": torch.__version__,
        "platform": platform.platform(), "machine": platform.machine(),
        "cpu": _cpu_name(), "env": {k: os.environ.get(k) for k in
                                    ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
        "scenarios": [],
    }
    try:
        import onnxruntime
        results["onnxruntime"] = onnxruntime.__version__
    except ImportError:   # pragma: no cover - bench still runs cgru vs torch
        results["onnxruntime"] = None
    try:
        import openvino
        results["openvino"] = openvino.__version__
    except ImportError:
        results["openvino"] = None
    results["weight_paths"] = _weight_paths()
    with cgru.threads(1):       # the peak: one core (BLAS limited to one thread too)
        results["openblas"] = _openblas_info()
        if not quick:
            results["peak_gflops"] = {"float32": measure_peak(np.float32),
                                      "float64": measure_peak(np.float64)}
        else:
            results["peak_gflops"] = {"float32": None, "float64": None}
    with cgru.threads(threads):
        results["openblas_in_run"] = _openblas_info()
        for sc in chosen:
            contenders, checks, tol, precisions = _make_contenders(sc, threads=threads)
            best = _time_interleaved(contenders, rounds, min_time, quick, clock)
            peak = results["peak_gflops"][sc.dtype.name]
            peak = peak * threads if peak else peak     # share of N cores' peak
            gflops = {k: sc.flops() / t / 1e9 for k, t in best.items()}
            row = {
                "name": sc.name, "I": sc.I, "H": sc.H, "N": sc.N, "T": sc.T,
                "layers": sc.layers, "dtype": sc.dtype.name, "streaming": sc.step,
                "weights": sc.weights or sc.dtype.name, "precisions": precisions,
                "note": sc.note, "flops_per_call": sc.flops(),
                "seconds_per_call": best,
                "speedup": {k: best[k] / best["cgru"] for k in best if k != "cgru"},
                "gflops": gflops,
                "peak_share": {k: (g / peak if peak else None) for k, g in gflops.items()},
                "max_abs_diff": checks, "tolerance": tol,
                "agree": all(v <= tol[k] for k, v in checks.items()),
            }
            results["scenarios"].append(row)
            if out:
                _print_row(row, out, header=len(results["scenarios"]) == 1, results=results)
    results["all_agree"] = all(r["agree"] for r in results["scenarios"])
    if json_path:
        with open(json_path, "w") as f:
            json.dump(results, f, indent=1)
    return results


def _weight_paths():
    """The kernel path cgru runs for each reduced-precision weight format."""
    from cgru import kernels
    fn = getattr(kernels, "weight_paths", None)
    return fn() if fn else {}


def _cgru_isa():
    from cgru import kernels
    return kernels.isa() if hasattr(kernels, "isa") else "baseline"


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _fmt_t(t):
    if t is None or t != t or t == float("inf"):
        return "-"
    if t < 1e-3:
        return f"{t * 1e6:.2f} us"
    return f"{t * 1e3:.3f} ms"


def _print_row(row, out, header, results):
    if header:
        ob = results["openblas"]
        print(f"cgru {results['cgru_version']}  torch {results['torch']}  onnxruntime "
              f"{results['onnxruntime']}  openvino {results.get('openvino')}  numpy "
              f"{results['numpy']}", file=out)
        print(f"CPU: {results['cpu']} ({results['cpus']} usable)  cgru kernels: {results['isa']}"
              f"  clock: {results['clock']}  rounds: {results['rounds']} (best)  threads per "
              f"contender: {results['threads']}", file=out)
        if results.get("weight_paths"):
            print("cgru weight formats: " + ", ".join(f"{k} {v}" for k, v in
                                                       results["weight_paths"].items()), file=out)
        for d in results["openblas_in_run"]:
            print(f"BLAS: {d['internal_api']} {d['version']} kernel={d['architecture']} "
                  f"threads={d['num_threads']} ({os.path.basename(d['filepath'] or '')})", file=out)
        pk = results["peak_gflops"]
        if pk["float32"]:
            print(f"peak (1-thread GEMM): float32 {pk['float32']:.1f} GFLOP/s, "
                  f"float64 {pk['float64']:.1f} GFLOP/s", file=out)
        if results["quick"]:
            print("QUICK MODE: agreement check only, timings are meaningless", file=out)
        print("OV: OpenVINO at its default precision (printed after its time), OV32: "
              "OpenVINO float32; x NAME = NAME's time / cgru's; err: max |y - torch float32|",
              file=out)
        print(f"{'scenario':<24}{'I,H,N,T':<18}{'weights':<9}{'cgru':>11}{'torch':>11}"
              f"{'ORT':>11}{'OV32':>11}{'OV':>16}{'x torch':>9}{'x ORT':>8}{'x OV32':>8}"
              f"{'x OV':>8}{'GFLOP/s':>9}{'%peak':>7}"
              f"{'  x 1 thread' if results['threads'] > 1 else ''}  agree  err cgru/ORT/OV",
              file=out)
    t = row["seconds_per_call"]
    sp = row["speedup"]
    share = row["peak_share"]["cgru"]
    prec = row.get("precisions", {}).get("openvino")
    ov = _fmt_t(t.get("openvino")) + (f" {prec}" if prec else "")
    d = row["max_abs_diff"]

    def ratio(name):
        return (format(sp[name], "7.2f") + "x") if name in sp else "      -"

    def err(name):
        return format(d[name], ".1e") if name in d else "-"
    print(f"{row['name']:<24}{_label(row):<18}{row['weights']:<9}{_fmt_t(t['cgru']):>11}"
          f"{_fmt_t(t.get('torch')):>11}{_fmt_t(t.get('onnxruntime')):>11}"
          f"{_fmt_t(t.get('openvino-f32')):>11}{ov:>16}"
          f"{sp.get('torch', float('nan')):>8.2f}x{ratio('onnxruntime'):>8}"
          f"{ratio('openvino-f32'):>8}{ratio('openvino'):>8}"
          f"{row['gflops']['cgru']:>9.2f}"
          f"{(format(share * 100, '6.1f')) if share else '     -':>7}"
          f"{format(sp['cgru-1thread'], '11.2f') + 'x' if 'cgru-1thread' in sp else ''}  "
          f"{'yes' if row['agree'] else 'NO ':<5}  {err('cgru-vs-torch')}/"
          f"{err('onnxruntime-vs-torch')}/{err('openvino-vs-torch')}",
          file=out, flush=True)


def plot(results, path):
    """A bar chart of cgru's speed-up over each contender per scenario (needs
    matplotlib: ``pip install cgru[plot]``), written to ``path``."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError(f"--plot needs matplotlib (pip install 'cgru[plot]'): {e}") from None
    rows = results["scenarios"]
    names = [n for n in ("torch", "onnxruntime", "openvino-f32", "openvino", "cgru-1thread")
             if any(n in r["speedup"] for r in rows)]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(rows) * max(1, len(names))), 4.5))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        xs = [j + i * width for j, r in enumerate(rows) if name in r["speedup"]]
        ys = [r["speedup"][name] for r in rows if name in r["speedup"]]
        ax.bar(xs, ys, width, label=f"vs {name}")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(rows))])
    ax.set_xticklabels([r["name"] for r in rows], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("speed-up (contender time / cgru time)")
    ax.set_title(f"cgru {results['cgru_version']} on {results['cpu']}, "
                 f"{results['threads']} thread(s) per contender")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _label(row):
    s = f"{row['I']},{row['H']},{row['N']},{row['T']}"
    return s + (f" L{row['layers']}" if row["layers"] > 1 else "")


def main(argv=None):
    p = argparse.ArgumentParser(prog="cgru bench", description=(
        "Benchmark cgru against torch.nn.GRU/GRUCell, onnxruntime's GRU and OpenVINO, the "
        "same number of threads each, interleaved in one process. For meaningful numbers "
        "run on an idle machine."))
    p.add_argument("--quick", action="store_true",
                   help="tiny repeats: check agreement and that everything runs, not speed")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    p.add_argument("--scenario", action="append", metavar="NAME",
                   help="run only scenarios whose name starts with NAME (repeatable); "
                        "--list shows them")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 7)")
    p.add_argument("--min-time", type=float, default=None,
                   help="seconds per timed block (default 0.02)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="threads per contender (default 1): cgru.threads(N), "
                        "torch.set_num_threads(N), onnxruntime intra_op_num_threads=N, "
                        "OpenVINO INFERENCE_NUM_THREADS=N")
    p.add_argument("--clock", choices=sorted(CLOCKS), default=None,
                   help="cpu: this thread's CPU time (the default with --threads 1); wall: "
                        "elapsed time (the default, and required, with more threads)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--plot", metavar="FILE",
                   help="also draw the speed-ups as a bar chart to FILE (.png, .svg, .pdf; "
                        "needs matplotlib: pip install 'cgru[plot]')")
    a = p.parse_args(argv)
    if a.list:
        for s in SCENARIOS:
            print(f"{s.name:<24} (I,H,N,T)=({s.label()}) {s.dtype.name}"
                  f"{(' weights=' + s.weights) if s.weights else ''}"
                  f"{'  streaming step' if s.step else ''}  {s.note}")
        return 0
    if a.plot:
        try:
            import matplotlib  # noqa: F401  (fail before the long run, not after)
        except ImportError:
            print("cgru bench --plot needs matplotlib (pip install 'cgru[plot]')",
                  file=sys.stderr)
            return 2
    try:
        res = run(quick=a.quick, json_path=a.json, scenarios=a.scenario, rounds=a.rounds,
                  min_time=a.min_time, clock=a.clock, threads=a.threads)
    except ImportError as e:
        print(f"cgru bench needs torch, onnx, onnxruntime and threadpoolctl: {e}", file=sys.stderr)
        return 2
    except ValueError as e:                   # --threads, --clock, --scenario
        print(f"cgru bench: {e}", file=sys.stderr)
        return 2
    if a.plot:
        plot(res, a.plot)
    if not res["all_agree"]:
        print("ERROR: cgru's outputs disagree with torch's in some scenario", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
