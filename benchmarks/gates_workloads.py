"""The normal-path workloads of docs/performance.md ("return_gates: the normal path
   is unchanged"), one per process, for callgrind instruction counts:

    valgrind --tool=callgrind --collect-atstart=no \
        --toggle-collect=__pyx_f_4cgru_7kernels_cgru_model_sequence_f32 ... \
        python benchmarks/gates_workloads.py NAME [repeats]
"""
import sys
import numpy as np
import cgru

def make(I, H, L=1, dtype=np.float32, **kw):
    g = cgru.GRU(I, H, L, dtype=dtype, **kw)
    rng = np.random.default_rng(0)
    g.load_state_dict({k: rng.uniform(-0.3, 0.3, v.shape) for k, v in g.state_dict().items()})
    return g

def seq(g, T, N):
    x = np.random.default_rng(1).standard_normal((T, N, g.input_size)).astype(g.dtype)
    h0 = np.zeros((g.num_layers * g.num_directions, N, g.hidden_size), g.dtype)
    return lambda: g(x, h0)

def step(g, T):
    s = g.stream()
    xs = np.random.default_rng(1).standard_normal((T, g.input_size)).astype(g.dtype)
    out = np.empty(g.hidden_size, g.dtype)
    def run():
        for x in xs:
            s.step(x, out=out)
    return run

WORK = {
    "seq-64x128-N1-T1000": lambda: seq(make(64, 128), 1000, 1),
    "seq-256-N16-T100": lambda: seq(make(256, 256), 100, 16),
    "seq-cho-64x128-N4-T200": lambda: seq(make(64, 128, reset_after=False), 200, 4),
    "f64-seq-bi2-64x128-N1-T200": lambda: seq(make(64, 128, 2, np.float64, bidirectional=True), 200, 1),
    "seq-generic-32x64-N4-T200": lambda: seq(make(32, 64, activations=("HardSigmoid", "Softsign")), 200, 4),
    "step-64x128": lambda: step(make(64, 128), 1000),
    "step-tick-8x32": lambda: step(make(8, 32), 1000),
    "step-rnnoise-3x256": lambda: step(make(256, 256, 3), 100),
}

if __name__ == "__main__":
    fn = WORK[sys.argv[1]]()
    for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 1):
        fn()
