"""What a PyTorch user types first: seed= for reproducible weights (int or numpy
Generator, GRU and GRUCell), hx= for the initial state, torch dtypes as dtype=,
a callable Stream with a readable repr, and a docstring on every public method."""

import inspect
import pickle

import numpy as np
import pytest

import cgru


def test_seed_gives_the_same_weights_every_time():
    for make in (lambda s: cgru.GRU(3, 5, 2, bidirectional=True, seed=s),
                 lambda s: cgru.GRUCell(3, 5, seed=s)):
        a, b, c = make(0).state_dict(), make(0).state_dict(), make(1).state_dict()
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
        assert any(not np.array_equal(a[k], c[k]) for k in a)
        g1 = make(np.random.default_rng(7)).state_dict()
        g2 = make(np.random.default_rng(7)).state_dict()
        for k in g1:
            np.testing.assert_array_equal(g1[k], g2[k])
    # still PyTorch's initialisation: uniform in +-1/sqrt(H)
    w = cgru.GRU(3, 16, seed=3).state_dict()["weight_hh_l0"]
    assert np.abs(w).max() <= 0.25 and np.abs(w).max() > 0.2
    # a generator is used (and advanced), not copied
    rng = np.random.default_rng(5)
    first, second = cgru.GRU(3, 4, seed=rng), cgru.GRU(3, 4, seed=rng)
    assert not np.array_equal(first.state_dict()["weight_ih_l0"],
                              second.state_dict()["weight_ih_l0"])


@pytest.mark.parametrize("seed,error", [(-1, ValueError), (1.5, TypeError), (True, TypeError),
                                        ("0", TypeError)])
def test_bad_seed(seed, error):
    with pytest.raises(error, match="seed"):
        cgru.GRU(3, 4, seed=seed)


def test_hx_is_h0(rng):
    g = cgru.GRU(3, 4, 2, seed=0)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    h0 = rng.standard_normal((2, 2, 4)).astype(np.float32)
    for a, b in zip(g(x, hx=h0), g(x, h0)):
        np.testing.assert_array_equal(a, b)
    c = cgru.GRUCell(3, 4, seed=0)
    np.testing.assert_array_equal(c(x[0], hx=h0[0]), c(x[0], h0[0]))
    with pytest.raises(TypeError, match="not both"):
        g(x, h0, hx=h0)
    with pytest.raises(TypeError, match="not both"):
        c(x[0], h0[0], hx=h0[0])


def test_torch_dtypes(torch):
    assert cgru.GRU(3, 4, dtype=torch.float64).dtype == np.float64
    assert cgru.GRU(3, 4, dtype=torch.float32).dtype == np.float32
    assert cgru.GRUCell(3, 4, dtype=torch.double).dtype == np.float64
    m = torch.nn.GRU(3, 4)
    assert cgru.GRU.from_torch(m, dtype=torch.float64).dtype == np.float64
    with pytest.raises(TypeError, match="float32 or float64"):
        cgru.GRU(3, 4, dtype=torch.float16)


def test_stream_is_callable_and_has_a_repr(rng):
    g = cgru.GRU(3, 4, 2, seed=0)
    s1, s2 = g.stream(batch_size=2), g.stream(batch_size=2)
    x = rng.standard_normal((6, 2, 3)).astype(np.float32)
    for t in range(6):
        np.testing.assert_array_equal(s1(x[t]), s2.step(x[t]))
    out = np.empty((2, 4), np.float32)
    assert s1(x[0], out=out) is out
    assert repr(s1) == ("cgru.Stream(input_size=3, hidden_size=4, num_layers=2, batch_size=2, "
                        "batch_first=False, dtype='float32')")
    assert isinstance(s1, cgru.Stream)
    back = pickle.loads(pickle.dumps(s2))
    assert type(back) is type(s2) and repr(back) == repr(s2)
    np.testing.assert_array_equal(back(x[0]), s2(x[0]))


def public_methods(cls):
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") and name not in ("__call__", "__init__"):
            continue
        if callable(member) or isinstance(inspect.getattr_static(cls, name), property):
            yield name, member


@pytest.mark.parametrize("cls", [cgru.GRU, cgru.GRUCell, cgru.Stream])
def test_every_public_method_has_a_docstring(cls):
    missing = []
    for name, member in public_methods(cls):
        doc = inspect.getattr_static(cls, name).__doc__ if name not in ("__init__",) else None
        if name == "__init__":
            continue                       # the class docstring documents the constructor
        if not (doc or "").strip() or doc is type(member).__doc__:
            missing.append(name)
    assert not missing, f"{cls.__name__}: no docstring on {missing}"
    assert (cls.__doc__ or "").strip()
    for fn in (cgru.load, cgru.threads, cgru.get_include):
        assert (fn.__doc__ or "").strip(), fn
