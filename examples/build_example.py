"""Build one of the example extensions in a scratch folder and import it.

Used by tests/capi/test_downstream.py and benchmarks/bench_capi.py:

    mod = build("c_consumer", "cgru_c_consumer", Path("/tmp/somewhere"))

The example's setup.py runs in a subprocess against the cgru that this Python
imports (the installed wheel, or the source tree on PYTHONPATH).
"""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent


def build(name, module, dest):
    """Copy examples/<name> into ``dest``, ``setup.py build_ext --inplace`` it,
    import and return the extension ``module``.  RuntimeError with the compiler
    output when the build fails."""
    import cgru
    cgru_parent = str(Path(cgru.__file__).resolve().parent.parent)
    src = Path(dest) / name
    shutil.copytree(EXAMPLES / name, src)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [cgru_parent] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
                          cwd=src, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"building examples/{name} failed:\n{proc.stdout}\n{proc.stderr}")
    [path] = [p for p in src.iterdir()
              if p.name.startswith(module + ".") and p.suffix in (".so", ".pyd")]
    spec = importlib.util.spec_from_file_location(module, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
