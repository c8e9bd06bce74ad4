"""Checks ``cgru.load`` makes on a file before building anything from it.

A saved model declares its sizes in ``__config__`` and holds its weights as
arrays.  The declared sizes must not ask for more weights than the file
actually holds: otherwise a few bytes of hostile JSON (``"num_layers":
10000000`` or ``"hidden_size": 50000``) would make ``load`` allocate and
initialise gigabytes before the weights are found to be missing.
"""


def check_declared_sizes(path, config, kind, arrays):
    """Raise ValueError when the configuration declares more weights than
    ``arrays`` hold.  Malformed values are left to the constructor's checks."""
    stored = sum(int(a.size) for a in arrays.values())
    try:
        I, H = int(config["input_size"]), int(config["hidden_size"])
        L = 1 if kind == "GRUCell" else int(config["num_layers"])
        D = 2 if config.get("bidirectional") is True else 1
    except (KeyError, TypeError, ValueError, OverflowError):
        return
    if min(I, H, L) < 1:
        return
    # weight matrices alone (biases not counted): a lower bound on the parameters
    first = D * (3 * H * I + 3 * H * H)
    later = (L - 1) * D * (3 * H * D * H + 3 * H * H)
    declared = first + later
    if declared > stored:
        raise ValueError(f"load: {path!r} declares a model with at least {declared} weights "
                         f"but holds {stored} values: a corrupted or hostile file")
