"""Hostile input costs no more than it really holds.

Every path that allocates from a file, a pickle or an argument compares the
size the input declares with what it really holds (and with the memory this
machine has) before it allocates: torch files naming layers whose weights are
missing, zero-stride or overlapping tensors, .npz files with junk members or
.npy headers declaring more than the member holds, pickles declaring huge
layer counts, streams of absurd batch sizes.  Each case must end in a clean
ValueError / TypeError / MemoryError, and the peak of the memory Python and
NumPy allocate meanwhile (tracemalloc) must stay far below what today's code
allocated for the same file (the figures are in docs/robustness.md)."""

import io
import os
import pickle
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

import cgru
from cgru import cli
from cgru._validate import physical_memory

CLEAN = (ValueError, TypeError, MemoryError)
MiB = 2**20


def peak_of(fn, exc=CLEAN):
    """(exception, peak bytes traced) of fn(), which must raise ``exc``."""
    tracemalloc.start()
    try:
        with pytest.raises(exc) as e:
            fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(e.value)
    return e.value, peak


# ------------------------------------------------------------------ torch files
def test_torch_file_naming_far_layers_builds_nothing(tmp_path, torch):
    """A 3 KB file naming weight_ih_l30000: today 0.8 s and 180 MB, building
    30001 layers before noticing that layers 1..29999 have no weights."""
    m = torch.nn.GRU(3, 4)
    sd = dict(m.state_dict())
    sd["weight_ih_l30000"] = torch.zeros(12, 4)
    torch.save(sd, tmp_path / "far.pt")
    assert os.path.getsize(tmp_path / "far.pt") < 8000
    e, peak = peak_of(lambda: cgru.GRU.from_torch(str(tmp_path / "far.pt")), ValueError)
    assert "weight_ih_l1" in str(e) or "weight_hh_l1" in str(e), str(e)
    assert peak < 4 * MiB, f"from_torch traced {peak / MiB:.0f} MiB for a 3 KB file"
    # the same through the command line
    rc = cli.main(["convert", str(tmp_path / "far.pt"), "-o", str(tmp_path / "o.npz")])
    assert rc == 1 and not (tmp_path / "o.npz").exists()


def test_torch_file_with_wrong_shape_in_a_later_layer_builds_nothing(tmp_path, torch):
    m = torch.nn.GRU(3, 400, 3)
    sd = dict(m.state_dict())
    sd["weight_hh_l2"] = torch.zeros(12, 4)
    torch.save(sd, tmp_path / "shape.pt")
    e, peak = peak_of(lambda: cgru.GRU.from_torch(str(tmp_path / "shape.pt")), ValueError)
    assert "weight_hh_l2" in str(e), str(e)
    # the file holds ~8 MB of weights (numpy's copies of them count); building
    # the model first, as today, costs three times that
    assert peak < 12 * MiB, f"{peak / MiB:.0f} MiB"


@pytest.mark.parametrize("how", ["expand", "as_strided", "shared"])
def test_torch_file_with_overlapping_tensors_is_refused(tmp_path, torch, how):
    """torch.zeros(1).expand(4500, 1500) is 2 KB on disk: today it became a
    150 MB model.  Tensors whose elements share memory hold fewer values than
    they claim: refused (save .contiguous() tensors)."""
    H = I = 1500
    if how == "expand":
        sd = {"weight_ih_l0": torch.zeros(1).expand(3 * H, I),
              "weight_hh_l0": torch.zeros(1).expand(3 * H, H)}
    elif how == "as_strided":
        base = torch.arange(6000.0)      # 6000 values claiming 13.5 million
        sd = {"weight_ih_l0": base.as_strided((3 * H, I), (1, 1)),
              "weight_hh_l0": base.as_strided((3 * H, H), (1, 1))}
    else:   # each a whole view of one storage: together 4 times what it holds
        H, I = 40, 40
        flat = torch.zeros(3 * H * I)
        sd = {"weight_ih_l0": flat.view(3 * H, I), "weight_hh_l0": flat.view(3 * H, H),
              "weight_ih_l1": flat.view(3 * H, H), "weight_hh_l1": flat.view(3 * H, H)}
    torch.save(sd, tmp_path / "ovl.pt")
    assert os.path.getsize(tmp_path / "ovl.pt") < 30000
    e, peak = peak_of(lambda: cgru.GRU.from_torch(str(tmp_path / "ovl.pt")), ValueError)
    assert "holds" in str(e), str(e)
    assert peak < 4 * MiB, f"{peak / MiB:.0f} MiB"
    e, _ = peak_of(lambda: cgru.GRUCell.from_torch(str(tmp_path / "ovl.pt")), ValueError)


def test_torch_file_with_views_of_one_buffer_still_loads(tmp_path, torch, rng):
    """Non-overlapping views of one storage (what flatten_parameters makes) are
    real weights: they load and compute like the module."""
    m = torch.nn.GRU(3, 4, 2, dtype=torch.float64)
    params = list(m.state_dict().items())
    flat = torch.cat([v.reshape(-1) for _, v in params])
    sd, offset = {}, 0
    for k, v in params:
        sd[k] = flat[offset:offset + v.numel()].view(v.shape)
        offset += v.numel()
    torch.save(sd, tmp_path / "flat.pt")
    g = cgru.GRU.from_torch(str(tmp_path / "flat.pt"))
    x = rng.standard_normal((5, 2, 3))
    np.testing.assert_allclose(g(x)[0], m(torch.from_numpy(x))[0].detach().numpy(),
                               rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------- cgru.load
def _npy_header(shape, descr="<f4"):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %r, }" % (descr, tuple(shape))
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1")


def _saved_members(g):
    buf = io.BytesIO()
    g.save(buf)
    buf.seek(0)
    with zipfile.ZipFile(buf) as z:
        return {n: z.read(n) for n in z.namelist()}


def _zip(path, members, extra=None):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
        if extra:
            extra(z)
    return path


def test_load_never_decompresses_unknown_members(tmp_path):
    """A 256 MB junk member (256 KB deflated) beside a good model: today load
    decompressed it whole before rejecting the name."""
    members = _saved_members(cgru.GRU(2, 3))

    def bomb(z):
        with z.open("junk.npy", "w", force_zip64=True) as m:
            m.write(_npy_header((64 * MiB,)))
            block = bytes(MiB)
            for _ in range(256):
                m.write(block)

    # ZipFile.writestr/open take the compression from the ZipFile; deflate the bomb
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
        bomb(z)
    assert os.path.getsize(path) < 2 * MiB
    e, peak = peak_of(lambda: cgru.load(path), ValueError)
    assert "junk" in str(e), str(e)
    assert peak < 8 * MiB, f"load traced {peak / MiB:.0f} MiB"


@pytest.mark.parametrize("shape", [(3 * 10**8,), (10**9, 10**9), (2**62,)])
def test_load_checks_npy_headers_before_allocating(tmp_path, shape):
    """A weight member whose header declares far more than the member holds
    (64 bytes): today NumPy allocated the declared size before reading."""
    members = _saved_members(cgru.GRU(2, 3))
    members["weight_ih_l0.npy"] = _npy_header(shape) + b"\0" * 64
    path = _zip(tmp_path / "hdr.npz", members)
    e, peak = peak_of(lambda: cgru.load(path), ValueError)
    assert "weight_ih_l0" in str(e), str(e)
    assert peak < 4 * MiB, f"{peak / MiB:.0f} MiB"


def test_load_refuses_a_member_whose_header_disagrees_with_the_config(tmp_path):
    members = _saved_members(cgru.GRU(2, 3))
    members["weight_hh_l0.npy"] = _npy_header((9, 4)) + b"\0" * 144
    e, _ = peak_of(lambda: cgru.load(_zip(tmp_path / "s.npz", members)), ValueError)
    assert "weight_hh_l0" in str(e) and "(9, 3)" in str(e), str(e)


def test_load_refuses_an_oversized_config_member(tmp_path):
    members = _saved_members(cgru.GRU(2, 3))
    members["__config__.npy"] = _npy_header((1,), "<U%d" % (64 * MiB)) + b" " * 1024
    e, peak = peak_of(lambda: cgru.load(_zip(tmp_path / "c.npz", members)), ValueError)
    assert "__config__" in str(e), str(e)
    assert peak < 4 * MiB


def test_good_saved_models_still_load(tmp_path, rng):
    for g in (cgru.GRU(2, 3, 2, bidirectional=True, dtype=np.float64), cgru.GRUCell(3, 4),
              cgru.GRU(3, 5, bias=False, activations=("HardSigmoid", "Relu"), clip=2.0)):
        g.save(tmp_path / "m.npz")
        h = cgru.load(tmp_path / "m.npz")
        assert type(h) is type(g)
        for k, v in g.state_dict().items():
            np.testing.assert_array_equal(h.state_dict()[k], v)


# ---------------------------------------------------------------------- pickles
def test_pickle_with_a_huge_layer_count_builds_nothing():
    """Today __setstate__ listed every declared layer's parameter names first
    (10**5 layers: ~60 MB and 0.3 s; 10**8: minutes) before comparing them."""
    state = cgru.GRU(3, 4).__getstate__()
    state["_num_layers"] = 10**5
    g = cgru.GRU.__new__(cgru.GRU)
    e, peak = peak_of(lambda: g.__setstate__(state), ValueError)
    assert "unpickling" in str(e)
    assert peak < 2 * MiB, f"{peak / MiB:.0f} MiB"


class Crafted:
    """Pickles as a cgru.GRU with the given state (what a hostile pickle holds)."""

    def __init__(self, cls, state):
        self.cls, self.state = cls, state

    def __reduce__(self):
        return (object.__new__, (self.cls,), self.state)


def test_crafted_pickle_bytes_with_a_huge_layer_count():
    state = cgru.GRU(3, 4, 2).__getstate__()
    state["_num_layers"] = 10**5
    data = pickle.dumps(Crafted(cgru.GRU, state))
    e, peak = peak_of(lambda: pickle.loads(data), ValueError)
    assert "unpickling" in str(e)
    assert peak < 2 * MiB, f"{peak / MiB:.0f} MiB"


# ---------------------------------------------------------------------- streams
def test_stream_batch_size_is_checked_against_memory():
    """GRU(4, 5, 2).stream(10**8) reserved 18 GB (its first step would kill
    the process); like GRU(), stream() refuses what the machine cannot hold."""
    phys = physical_memory()
    if not phys:
        pytest.skip("the platform does not say how much memory it has")
    g = cgru.GRU(4, 5, 2)
    # state + step workspace + output: at least (2 + 7 + 1) * 5 floats per sample
    n = min(phys // (10 * 5 * 4) * 4, 7 * 10**8)
    e, peak = peak_of(lambda: g.stream(n), MemoryError)
    assert "of memory available" in str(e) and "stream" in str(e), str(e)
    assert peak < MiB
    g.stream(1000).step(np.zeros((1000, 4), np.float32))      # a real size still works


def test_stream_made_directly_or_unpickled_is_checked_against_memory():
    """cgru.Stream(...) and a crafted stream pickle take the same check as
    g.stream(): the Stream checks its own size before it allocates."""
    import pickle
    phys = physical_memory()
    if not phys:
        pytest.skip("the platform does not say how much memory it has")
    g = cgru.GRU(4, 5, 2)
    n = min(phys // (10 * 5 * 4) * 4, 7 * 10**8)
    e, peak = peak_of(lambda: cgru.Stream(g._net, n, None, False), MemoryError)
    assert "stream(batch_size=" in str(e) and peak < MiB, str(e)
    fn, args = g.stream(3).__reduce__()

    class Crafted:                       # pickles as the stream with a huge batch size
        def __reduce__(self):
            return fn, (args[0], n, None, args[3])

    blob = pickle.dumps(Crafted())
    assert len(blob) < 10**5
    e, peak = peak_of(lambda: pickle.loads(blob), MemoryError)
    assert "stream(batch_size=" in str(e) and peak < MiB, str(e)
