"""Checks ``cgru.load`` makes on a file before it decompresses or builds anything.

A saved model is a zip of .npy members: ``__config__`` (JSON declaring the
sizes) and one member per weight.  Nothing may cost more than the file really
holds: a few bytes of hostile JSON (``"num_layers": 10000000``), an .npy header
declaring ``(2**62,)``, or a junk member deflated 1000:1 must be refused from
the zip directory and the .npy headers alone, before any data is read.
"""

import json
import math
import os
import zipfile

import numpy as np

from cgru import _validate as V

# __config__ is a few hundred bytes; a 100,000-deep nested JSON is 400 KB
CONFIG_LIMIT = 16 * 2**20


def _fail(path, what):
    return ValueError(f"load: {path!r} {what}")


def open_npz(path):
    """The zip of a saved model (a path or a binary file object)."""
    try:
        return zipfile.ZipFile(os.fsdecode(path) if isinstance(path, (bytes, os.PathLike))
                               else path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise _fail(path, f"is not a readable cgru .npz file: {e}") from None
    except Exception as e:   # zipfile's other complaints about corrupted files
        raise _fail(path, f"is not a readable cgru .npz file: {type(e).__name__}: {e}") from None


def members(path, z):
    """{name without .npy: ZipInfo}; anything that is not a single .npy member is refused."""
    out = {}
    for info in z.infolist():
        name = info.filename
        if not name.endswith(".npy") or name[:-4] in out:
            raise _fail(path, f"has an unexpected member {name!r}; not a cgru model")
        out[name[:-4]] = info
    return out


def _header(path, z, info, name):
    """(shape, dtype, header bytes) of an .npy member, read from its first bytes."""
    fmt = np.lib.format
    try:
        with z.open(info) as m:
            version = fmt.read_magic(m)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(m)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(m)
            else:
                raise ValueError(f"unsupported .npy version {version}")
            return shape, dtype, m.tell()
    except Exception as e:
        raise _fail(path, f"member {name!r} has a corrupted .npy header: "
                          f"{type(e).__name__}: {e}") from None


def _check_holds(path, info, name, shape, dtype, offset, limit=None):
    """The data the header declares fits in what the member holds (and in memory)."""
    if dtype.hasobject:
        raise _fail(path, f"member {name!r} holds pickled objects; cgru never unpickles")
    nbytes = math.prod(shape) * dtype.itemsize
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        raise _fail(path, f"member {name!r} is corrupted (stored {info.compress_size} bytes, "
                          f"declares {info.file_size})")
    if nbytes > info.file_size - offset or (limit is not None and nbytes > limit):
        raise _fail(path, f"member {name!r} declares shape {shape} ({nbytes} bytes) but holds "
                          f"{info.file_size - offset} bytes: a corrupted or hostile file")
    return nbytes


def read_config(path, z, infos):
    """The JSON object in ``__config__``."""
    if "__config__" not in infos:
        raise _fail(path, "has no __config__ entry; not a cgru model")
    info = infos["__config__"]
    shape, dtype, offset = _header(path, z, info, "__config__")
    _check_holds(path, info, "__config__", shape, dtype, offset, CONFIG_LIMIT)
    if shape != () or dtype.kind != "U":
        raise _fail(path, f"has a corrupted __config__: a {dtype} array of shape {shape}, "
                          f"expected a JSON string")
    try:
        with z.open(info) as m:
            text = str(np.lib.format.read_array(m, allow_pickle=False))
        config = json.loads(text)
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except (ValueError, RecursionError, EOFError, OSError, zipfile.BadZipFile) as e:
        raise _fail(path, f"has a corrupted __config__: {e}") from None
    return config


def check_count(path, infos, declared, what):
    """Refuse a configuration that names far more weights than the file has
    members, before anything lists them (a few missing are named later)."""
    held = len(infos) - 1
    if declared > held + 64:
        raise _fail(path, f"declares {what} ({declared} weight arrays) but holds {held}: a "
                          f"corrupted or hostile file")


def read_weights(path, z, infos, shapes):
    """The weight members, each checked (name, header shape, size) before any is read."""
    unexpected = sorted(k for k in infos if k != "__config__" and k not in shapes)
    missing = [k for k in shapes if k not in infos]
    if unexpected:
        raise _fail(path, f"has unexpected member(s) {unexpected} for its configuration")
    if missing:
        raise ValueError(f"load: {path!r}: state_dict: missing key(s) {missing}")
    total = 0
    for name, want in shapes.items():
        shape, dtype, offset = _header(path, z, infos[name], name)
        if dtype.kind not in "fiu":
            raise _fail(path, f"member {name!r} has dtype {dtype}, expected a real number type")
        if shape != want:
            raise _fail(path, f"member {name!r} has shape {shape}; its configuration declares "
                              f"{want}: a corrupted or hostile file")
        total += _check_holds(path, infos[name], name, shape, dtype, offset)
    V.check_memory(total, f"load: {path!r}")
    arrays = {}
    try:
        for name in shapes:
            with z.open(infos[name]) as m:
                arrays[name] = np.lib.format.read_array(m, allow_pickle=False)
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as e:
        raise _fail(path, f"is not a readable cgru .npz file: {type(e).__name__}: {e}") from None
    return arrays
