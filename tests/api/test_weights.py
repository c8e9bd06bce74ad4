"""Reduced-precision weights (GRU(..., weights=...), with_weights): every path,
per-format error bounds against the float32 model and tests/reference.py, and
everywhere a model goes (save/load, pickle, exports, repr, bad input)."""

import io
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import cgru
import reference
from cgru import kernels

FORMATS = ("float16", "bfloat16", "int8")
# max |y - y_float32| on unit-scale inputs with PyTorch's initialisation
# (docs/weights.md has the measured values; float16's bound is the issue's)
VS_FLOAT32 = {"float16": 1e-3, "bfloat16": 1e-2, "int8": 3e-2}
# max |y - reference(stored weights)|: float16 multiplies float32 operands (float32
# rounding only); bfloat16 and int8 also round the operands (x, h) they multiply
VS_STORED = {"float16": 2e-5, "bfloat16": 1e-2, "int8": 3e-2}


def _model(rng, I=24, H=40, L=1, bidirectional=False, reset_after=True, **kw):
    """PyTorch's initialisation (uniform in +-1/sqrt(H)), drawn from the test's rng."""
    g = cgru.GRU(I, H, L, bidirectional=bidirectional, reset_after=reset_after, **kw)
    k = 1.0 / np.sqrt(H)
    g.load_state_dict({n: rng.uniform(-k, k, v.shape) for n, v in g.state_dict().items()})
    return g


def _x(rng, T, N, I):
    return rng.standard_normal((T, N, I)).astype(np.float32)


def _err(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)),
                        initial=0.0))


def _ref(g, x, h0=None, lengths=None, activations=None):
    return reference.gru(x, g.state_dict(), g.num_layers, g.hidden_size,
                         bidirectional=g.bidirectional, reset_after=g.reset_after, h0=h0,
                         lengths=lengths, batch_first=g.batch_first, activations=activations)


# ------------------------------------------------------------------ accuracy

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("reset_after", (True, False))
@pytest.mark.parametrize("L,bidirectional", ((1, False), (2, False), (2, True)))
def test_sequence_error_bounds(fmt, reset_after, L, bidirectional, rng):
    g = _model(rng, L=L, bidirectional=bidirectional, reset_after=reset_after)
    q = g.with_weights(fmt)
    x = _x(rng, 30, 5, g.input_size)
    y32, h32 = g(x)
    y, h = q(x)
    assert y.dtype == np.float32 and y.shape == y32.shape and h.shape == h32.shape
    assert _err(y, y32) <= VS_FLOAT32[fmt] and _err(h, h32) <= VS_FLOAT32[fmt]
    yr, hr = _ref(q, x)
    assert _err(y, yr) <= VS_STORED[fmt] and _err(h, hr) <= VS_STORED[fmt]
    assert _err(y, y32) > 0    # the format really is used


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("N", (1, 3, 6))
def test_stream_matches_sequence(fmt, N, rng):
    g = _model(rng, L=2).with_weights(fmt)
    x = _x(rng, 12, N, g.input_size)
    y, h = g(x)
    s = g.stream(N)
    out = np.stack([s.step(x[t] if N > 1 else x[t, 0]) for t in range(12)])
    assert _err(out.reshape(y.shape), y) <= 1e-5
    assert _err(s.state, h) <= 1e-5
    y32, _ = g.with_weights("float32")(x)      # the stored values, float32 maths
    assert _err(out.reshape(y.shape), y32) <= VS_STORED[fmt]


@pytest.mark.parametrize("fmt", FORMATS)
def test_lengths_and_h0(fmt, rng):
    g = _model(rng, L=2, bidirectional=True)
    q = g.with_weights(fmt)
    x = _x(rng, 9, 4, g.input_size)
    h0 = rng.uniform(-0.5, 0.5, (4, 4, g.hidden_size)).astype(np.float32)
    lengths = np.array([9, 0, 4, 7])
    y, h = q(x, h0, lengths=lengths)
    yr, hr = _ref(q, x, h0, lengths)
    assert _err(y, yr) <= VS_STORED[fmt] and _err(h, hr) <= VS_STORED[fmt]
    assert np.all(y[4:, 2] == 0) and np.all(y[:, 1] == 0)
    y32, h32 = g(x, h0, lengths=lengths)
    assert _err(y, y32) <= VS_FLOAT32[fmt]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("acts,clip", ((("HardSigmoid", "Relu"), None), (None, 2.0),
                                       (("Sigmoid", "Softsign"), None)))
def test_every_activation(fmt, acts, clip, rng):
    g = cgru.GRU(16, 24, activations=acts, clip=clip)
    g.load_state_dict(_model(rng, 16, 24).state_dict())
    q = g.with_weights(fmt)
    assert q.activations == g.activations and q.clip == g.clip
    x = _x(rng, 10, 3, 16)
    assert _err(q(x)[0], g(x)[0]) <= VS_FLOAT32[fmt]


def test_float16_within_1e3_on_larger_models(rng):
    for I, H, N, T in ((64, 128, 1, 200), (256, 256, 4, 40)):
        g = _model(rng, I, H)
        x = _x(rng, T, N, I)
        assert _err(g.with_weights("float16")(x)[0], g(x)[0]) <= 1e-3


@pytest.mark.parametrize("fmt", FORMATS)
def test_isa_paths_agree(fmt, rng):
    """The portable path (CGRU_ISA=baseline) and the SIMD paths give the same maths."""
    g = _model(rng, I=70, H=50).with_weights(fmt)
    x = _x(rng, 8, 5, 70)
    old = kernels.isa()
    outs = {}
    try:
        for isa in ("baseline", "avx2", "avx512"):
            try:
                kernels._set_isa(isa)
            except ValueError:
                continue
            outs[isa] = g(x)[0]
    finally:
        kernels._set_isa(old)
    base = outs.pop("baseline")
    for isa, y in outs.items():
        assert _err(y, base) <= 2e-5, isa


def test_int8_nan_input_gives_nan(rng):
    g = _model(rng).with_weights("int8")
    x = _x(rng, 3, 2, g.input_size)
    x[1, 0, 5] = np.nan
    y, _ = g(x)
    assert np.all(np.isnan(y[1:, 0])) and np.all(np.isfinite(y[:, 1]))


# ------------------------------------------------------------------- the API

@pytest.mark.parametrize("fmt", FORMATS)
def test_with_weights_leaves_the_original_untouched(fmt, rng):
    g = _model(rng)
    sd = g.state_dict()
    x = _x(rng, 5, 2, g.input_size)
    y0, _ = g(x)
    q = g.with_weights(fmt)
    assert g.weights == "float32" and q.weights == fmt and q is not g
    assert all(np.array_equal(sd[k], v) for k, v in g.state_dict().items())
    assert np.array_equal(g(x)[0], y0)
    assert f"weights={fmt!r}" in repr(q) and "weights" not in repr(g)
    # the stored values: within the format's rounding of the originals
    for k, v in q.state_dict().items():
        assert v.dtype == np.float32
        if k.startswith("weight"):
            assert _err(v, sd[k]) <= {"float16": 1e-3, "bfloat16": 4e-3, "int8": 5e-3}[fmt]
        else:
            assert np.array_equal(v, sd[k])      # biases stay float32
    # back to float32: the stored values, float32 maths
    back = q.with_weights("float32")
    assert back.weights == "float32"
    assert all(np.array_equal(v, q.state_dict()[k]) for k, v in back.state_dict().items())
    # the same format again: the same stored values
    again = q.with_weights(fmt)
    assert np.array_equal(again(x)[0], q(x)[0])


@pytest.mark.parametrize("fmt", FORMATS)
def test_constructor_and_cell(fmt, rng):
    g = cgru.GRU(8, 16, 2, weights=fmt)
    assert g.weights == fmt
    c = cgru.GRUCell(8, 16, weights=fmt)
    assert c.weights == fmt and f"weights={fmt!r}" in repr(c)
    x = rng.standard_normal((3, 8)).astype(np.float32)
    h = c(x)
    ref = reference.cell(x, np.zeros((3, 16)), **{k: v for k, v in zip(
        ("w_ih", "w_hh", "b_ih", "b_hh"),
        (c.state_dict()[n] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")))})
    assert _err(h, ref) <= VS_STORED[fmt]
    c32 = cgru.GRUCell(8, 16)
    assert c32.with_weights(fmt).weights == fmt and c32.weights == "float32"


def test_bad_weight_formats():
    with pytest.raises(ValueError, match="weights must be one of"):
        cgru.GRU(4, 4, weights="int4")
    with pytest.raises(TypeError, match="weights must be a string"):
        cgru.GRU(4, 4, weights=8)
    with pytest.raises(ValueError, match="needs a float32 model"):
        cgru.GRU(4, 4, dtype=np.float64, weights="bfloat16")
    with pytest.raises(ValueError, match="needs a float32 model"):
        cgru.GRU(4, 4, dtype=np.float64).with_weights("int8")
    assert cgru.GRU(4, 4, dtype=np.float64).weights == "float64"
    g = cgru.GRU(4, 4)
    with pytest.raises(ValueError, match="weights must be one of"):
        g.with_weights("fp8")


def test_float16_refuses_values_it_cannot_hold(rng):
    g = cgru.GRU(3, 4)
    sd = g.state_dict()
    sd["weight_hh_l0"][2, 1] = 1e5
    g.load_state_dict(sd)
    with pytest.raises(ValueError, match="float16"):
        g.with_weights("float16")
    q = g.with_weights("bfloat16")        # bfloat16 has float32's range
    assert abs(q.state_dict()["weight_hh_l0"][2, 1] - 1e5) <= 1e5 / 256


# ------------------------------------------------------ everywhere it goes

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("cell", (False, True))
def test_save_load_keeps_the_format(fmt, cell, rng, tmp_path):
    m = cgru.GRUCell(20, 33) if cell else cgru.GRU(20, 33, 2, bidirectional=True)
    q = m.with_weights(fmt)
    path = tmp_path / "m.npz"
    q.save(path)
    r = cgru.load(path)
    assert type(r) is type(q) and r.weights == fmt
    x = rng.standard_normal((4, 20)).astype(np.float32) if cell else _x(rng, 6, 2, 20)
    a, b = q(x), r(x)
    a, b = (a, b) if cell else (a[0], b[0])
    assert np.array_equal(a, b)
    # the compact form: smaller files than float32 (int8 about a quarter)
    f32 = tmp_path / "f32.npz"
    m.save(f32)
    ratio = {"float16": 0.6, "bfloat16": 0.6, "int8": 0.4}[fmt]
    assert path.stat().st_size < ratio * f32.stat().st_size


def test_older_files_still_load(tmp_path, rng):
    g = cgru.GRU(5, 6)
    g.save(tmp_path / "old.npz")
    with np.load(tmp_path / "old.npz") as f:
        assert "weights" not in str(f["__config__"])      # float32 files are unchanged
    assert cgru.load(tmp_path / "old.npz").weights == "float32"


def test_corrupted_format_entries_are_refused(tmp_path, rng):
    q = cgru.GRU(5, 6).with_weights("int8")
    buf = io.BytesIO()
    q.save(buf)
    buf.seek(0)
    with np.load(buf) as f:
        arrays = {k: f[k] for k in f.files}
    bad = dict(arrays)
    bad["weight_hh_l0.scale"] = -bad["weight_hh_l0.scale"]
    np.savez(tmp_path / "neg.npz", **bad)
    with pytest.raises(ValueError, match="scale"):
        cgru.load(tmp_path / "neg.npz")
    bad = dict(arrays)
    del bad["weight_ih_l0.scale"]
    np.savez(tmp_path / "noscale.npz", **bad)
    with pytest.raises(ValueError, match="scale"):
        cgru.load(tmp_path / "noscale.npz")
    bad = dict(arrays)
    bad["__config__"] = np.array(str(arrays["__config__"]).replace('"int8"', '"int3"'))
    np.savez(tmp_path / "fmt.npz", **bad)
    with pytest.raises(ValueError, match="weights"):
        cgru.load(tmp_path / "fmt.npz")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("protocol", (4, pickle.HIGHEST_PROTOCOL))
def test_pickle_keeps_the_format(fmt, protocol, rng):
    q = _model(rng, L=2).with_weights(fmt)
    if protocol >= 5:
        buffers = []
        data = pickle.dumps(q, protocol=protocol, buffer_callback=buffers.append)
        assert buffers and len(data) < 4096         # the weights travel out of band
        r = pickle.loads(data, buffers=buffers)
    else:
        r = pickle.loads(pickle.dumps(q, protocol=protocol))
    assert r.weights == fmt
    x = _x(rng, 5, 3, q.input_size)
    assert np.array_equal(r(x)[0], q(x)[0])
    s = q.stream(2)
    s.step(x[0, :2])
    s2 = pickle.loads(pickle.dumps(s))
    assert np.array_equal(s2.step(x[1, :2]), s.step(x[1, :2]))


@pytest.mark.parametrize("fmt", FORMATS)
def test_torch_export_is_float32(fmt, torch, rng):
    q = _model(rng).with_weights(fmt)
    t = q.to_torch()
    for k, v in t.state_dict().items():
        assert v.dtype == torch.float32
        assert np.array_equal(v.numpy(), q.state_dict()[k])
    x = _x(rng, 6, 2, q.input_size)
    with torch.inference_mode():
        yt, _ = t(torch.from_numpy(x))
    assert _err(q(x)[0], yt.numpy()) <= VS_STORED[fmt]


# ------------------------------------------------------------- properties

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fmt=st.sampled_from(FORMATS), I=st.integers(1, 40), H=st.integers(1, 40),
       N=st.integers(1, 6), T=st.integers(1, 6), L=st.integers(1, 2),
       bidirectional=st.booleans(), reset_after=st.booleans(), seed=st.integers(0, 2**31))
def test_shapes_and_formats(fmt, I, H, N, T, L, bidirectional, reset_after, seed):
    rng = np.random.default_rng(seed)
    g = cgru.GRU(I, H, L, bidirectional=bidirectional, reset_after=reset_after)
    # unit-scale pre-activations whatever the shape (PyTorch's 1/sqrt(H) is not,
    # for H much smaller than I): the bounds are for those
    k = 1.0 / np.sqrt(max(I, H) + H)
    g.load_state_dict({n: rng.uniform(-k, k, v.shape) for n, v in g.state_dict().items()})
    q = g.with_weights(fmt)
    x = _x(rng, T, N, I)
    y, h = q(x)
    yr, hr = _ref(q, x)
    assert _err(y, yr) <= VS_STORED[fmt] and _err(h, hr) <= VS_STORED[fmt]
    assert _err(y, g(x)[0]) <= VS_FLOAT32[fmt]


@pytest.mark.parametrize("fmt", FORMATS)
def test_dask_runs_the_stored_format(fmt, rng):
    """cgru.dask ships the model (pickled) to its tasks: they run the same format."""
    from conftest import need
    dask = need("dask")
    da = need("dask.array")
    import cgru.dask
    q = _model(rng).with_weights(fmt)
    xn = _x(rng, 6, 8, q.input_size)
    y, h = cgru.dask.apply(q, da.from_array(xn, chunks=(6, 3, q.input_size)))
    cy, ch = dask.compute(y, h, scheduler="processes", num_workers=2)
    per_chunk = np.concatenate([q(xn[:, i:i + 3])[0] for i in range(0, 8, 3)], axis=1)
    assert np.array_equal(cy, per_chunk)


@pytest.mark.parametrize("fmt", ("bfloat16", "int8"))
def test_onnx_export_is_float32(fmt, rng):
    """to_onnx exports the stored values as float32: onnxruntime runs the model
    the stored weights make, in float32 (the operand rounding is not exported)."""
    from conftest import need
    need("onnx")
    ort = need("onnxruntime")
    q = _model(rng, L=2).with_weights(fmt)
    proto = q.to_onnx()
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = _x(rng, 7, 3, q.input_size)
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    y32, _ = q.with_weights("float32")(x)
    assert y.dtype == np.float32 and _err(y, y32) <= 1e-5


@pytest.mark.parametrize("fmt", FORMATS)
def test_threads_give_the_same_bits(fmt, rng):
    """cgru.threads(n): a reduced-precision model's outputs do not depend on n
    (its projections are split by rows, each row computed as alone)."""
    q = _model(rng, I=256, H=256, L=2, bidirectional=True).with_weights(fmt)
    x = _x(rng, 60, 16, 256)
    with cgru.threads(1):
        y1, h1 = q(x)
    for n in (2, 3):
        with cgru.threads(n):
            y, h = q(x)
        assert np.array_equal(y, y1) and np.array_equal(h, h1), n
    u = _model(rng, I=256, H=256, L=2).with_weights(fmt)
    s1, s2 = u.stream(8), u.stream(8)
    with cgru.threads(2):
        a = [s2.step(x[t, :8]) for t in range(5)]
    b = [s1.step(x[t, :8]) for t in range(5)]
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
