"""What each hostile input costs: time, peak resident memory and address space
of one fresh process per case, and how the case ended.

    PYTHONPATH=src python benchmarks/hostile_figures.py [--json out.json]

Run it against two builds (PYTHONPATH pointing at each) to compare; the
figures in docs/robustness.md were made this way.  Every case runs in its own
child process under an address-space limit (RLIMIT_AS) of 6 GiB above what it
had after building the input (but the stream case, which touches nothing), so a case that
would exhaust the machine ends in a MemoryError there instead.  Memory is the
growth of the child's peak RSS (ru_maxrss) and of its peak address space
(VmPeak) over what it had after building the input.
"""

import argparse
import json
import os
import subprocess
import sys
import textwrap

SETUP = r'''
import io, os, pickle, resource, struct, sys, time, zipfile
import numpy as np
import cgru
tmp = sys.argv[1]

def npy_header(shape, descr="<f4"):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %r, }" % (descr, tuple(shape))
    h += " " * ((64 - (10 + len(h) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode("latin1")

def members(g):
    b = io.BytesIO(); g.save(b); b.seek(0)
    with zipfile.ZipFile(b) as z:
        return {n: z.read(n) for n in z.namelist()}

def vm(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

vm_peak, vm_size = (lambda: vm("VmPeak")), (lambda: vm("VmSize"))
'''

CASES = {
    "torch .pt naming weight_ih_l30000 (3 KB): GRU.from_torch": '''
import torch
sd = dict(torch.nn.GRU(3, 4).state_dict()); sd["weight_ih_l30000"] = torch.zeros(12, 4)
p = os.path.join(tmp, "far.pt"); torch.save(sd, p)
run = lambda: cgru.GRU.from_torch(p)
''',
    "same file: cgru convert": '''
import torch
from cgru import cli
sd = dict(torch.nn.GRU(3, 4).state_dict()); sd["weight_ih_l30000"] = torch.zeros(12, 4)
p = os.path.join(tmp, "far.pt"); torch.save(sd, p)
def run():
    if cli.main(["convert", p, "-o", os.path.join(tmp, "o.npz")]) != 0:
        raise ValueError("cgru convert: exit code 1")
''',
    "torch zeros(1).expand(4500, 1500) weights (2 KB): GRU.from_torch": '''
import torch
p = os.path.join(tmp, "zs.pt")
torch.save({"weight_ih_l0": torch.zeros(1).expand(4500, 1500),
            "weight_hh_l0": torch.zeros(1).expand(4500, 1500)}, p)
run = lambda: cgru.GRU.from_torch(p)
''',
    "torch arange(6000).as_strided((4500, 1500), (1, 1)) (26 KB)": '''
import torch
p = os.path.join(tmp, "ovl.pt"); b = torch.arange(6000.0)
torch.save({"weight_ih_l0": b.as_strided((4500, 1500), (1, 1)),
            "weight_hh_l0": b.as_strided((4500, 1500), (1, 1))}, p)
run = lambda: cgru.GRU.from_torch(p)
''',
    ".npz with a 256 MB junk member deflated to 256 KB: cgru.load": '''
p = os.path.join(tmp, "bomb.npz")
with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as z:
    for n, d in members(cgru.GRU(2, 3)).items():
        z.writestr(n, d)
    with z.open("junk.npy", "w", force_zip64=True) as m:
        m.write(npy_header((64 * 2**20,)))
        for _ in range(256):
            m.write(bytes(2**20))
run = lambda: cgru.load(p)
''',
    ".npz weight header declaring (3*10**8,) over 64 bytes: cgru.load": '''
p = os.path.join(tmp, "hdr.npz"); ms = members(cgru.GRU(2, 3))
ms["weight_ih_l0.npy"] = npy_header((3 * 10**8,)) + bytes(64)
with zipfile.ZipFile(p, "w") as z:
    for n, d in ms.items():
        z.writestr(n, d)
run = lambda: cgru.load(p)
''',
    "pickle of GRU(3, 4) declaring _num_layers=10**6": '''
state = cgru.GRU(3, 4).__getstate__(); state["_num_layers"] = 10**6
class C:
    def __reduce__(self):
        return (object.__new__, (cgru.GRU,), state)
data = pickle.dumps(C())
run = lambda: pickle.loads(data)
''',
    "GRU(4, 5, 2).stream(10**8) (no step taken; no address-space limit)": '''
g = cgru.GRU(4, 5, 2)
run = lambda: g.stream(10**8)
NO_LIMIT = True
''',
    "GRU(1, 1000)(x) with x of shape (2*10**7, 1, 1) (80 MB)": '''
g = cgru.GRU(1, 1000); x = np.zeros((2 * 10**7, 1, 1), np.float32)
run = lambda: g(x)
''',
}

MEASURE = r'''
limit = vm_size() + 6 * 2**30
if not globals().get("NO_LIMIT"):
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
rss0, vm0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, vm_peak()
t = time.perf_counter()
try:
    run()
    outcome = "returned"
except BaseException as e:
    outcome = f"{type(e).__name__}: {str(e)[:110]}"
dt = time.perf_counter() - t
rss1, vm1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, vm_peak()
print("RESULT", json.dumps(dict(seconds=dt, peak_rss_growth=rss1 - rss0,
                                address_space_growth=vm1 - vm0, outcome=outcome)))
'''


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--json")
    args = p.parse_args()
    import tempfile
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, body in CASES.items():
            code = SETUP + "import json\n" + textwrap.dedent(body) + MEASURE
            r = subprocess.run([sys.executable, "-c", code, tmp], capture_output=True,
                               text=True, timeout=600, env=dict(os.environ))
            line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
            res = json.loads(line[0][7:]) if line else {"outcome": f"child failed: "
                                                                   f"{r.stderr[-300:]}"}
            results[name] = res
            if "seconds" in res:
                print(f"{name}\n    {res['seconds']:8.3f} s  peak RSS +{res['peak_rss_growth'] / 2**20:8.1f} MiB"
                      f"  address space +{res['address_space_growth'] / 2**20:9.1f} MiB  {res['outcome']}")
            else:
                print(f"{name}\n    {res['outcome']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
