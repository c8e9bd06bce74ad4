"""The benchmark suite in quick mode: every scenario runs for every contender
and cgru agrees with PyTorch (and onnxruntime with PyTorch).  Timings are not
checked here (they are meaningless in quick mode)."""

import importlib.util
import json
import subprocess
import sys

from conftest import need


def test_quick_run_agrees_everywhere(tmp_path):
    need("torch")
    need("onnx")
    need("onnxruntime")
    need("threadpoolctl")
    from cgru import _bench
    path = tmp_path / "bench.json"
    res = _bench.run(quick=True, json_path=str(path), out=False)
    assert res["all_agree"], [(r["name"], r["max_abs_diff"]) for r in res["scenarios"]
                              if not r["agree"]]
    assert [r["name"] for r in res["scenarios"]] == [s.name for s in _bench.SCENARIOS]
    has_ov = importlib.util.find_spec("openvino") is not None
    ov = {"openvino-f32", "openvino"} if has_ov else set()
    for r in res["scenarios"]:
        f32 = r["dtype"] == "float32"
        want = {"cgru", "torch"} | ({"onnxruntime"} | ov if f32 else set())
        assert set(r["seconds_per_call"]) == want, r["name"]
        assert r["weights"] == (_bench_weights(r["name"]) or r["dtype"]), r["name"]
        if ov and r["dtype"] == "float32":
            assert r["precisions"]["openvino-f32"] == "f32"
            assert r["precisions"]["openvino"] in ("bf16", "f32", "f16"), r["precisions"]
            assert "openvino-vs-torch" in r["max_abs_diff"]
        assert all(t > 0 for t in r["seconds_per_call"].values())
        assert "cgru-vs-torch" in r["max_abs_diff"]
    saved = json.loads(path.read_text())
    assert saved["scenarios"][0]["name"] == res["scenarios"][0]["name"]
    assert saved["openblas"], "threadpoolctl found no BLAS"


def _bench_weights(name):
    from cgru import _bench
    return {s.name: s.weights for s in _bench.SCENARIOS}[name]


def test_scenario_filter_and_cli(capsys):
    need("torch")
    need("onnx")
    need("onnxruntime")
    need("threadpoolctl")
    from cgru import _bench
    assert _bench.main(["--quick", "--scenario", "step-tick", "--clock", "wall"]) == 0
    out = capsys.readouterr().out
    assert "step-tick" in out and "QUICK MODE" in out and "seq-" not in out
    assert _bench.main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert "seq-512-N64" in listed and "int8-seq-512-N64" in listed and "weights=bfloat16" in listed


def test_plot(tmp_path, capsys):
    need("torch")
    need("onnx")
    need("onnxruntime")
    need("threadpoolctl")
    need("matplotlib")
    from cgru import _bench
    path = tmp_path / "ratios.png"
    assert _bench.main(["--quick", "--scenario", "int8-step-64x128", "--plot", str(path)]) == 0
    assert path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    assert "int8" in out and "err cgru/ORT/OV" in out


def test_threads_option_sets_every_contender(capsys):
    need("torch")
    need("onnx")
    need("onnxruntime")
    need("threadpoolctl")
    from cgru import _bench
    res = _bench.run(quick=True, scenarios=["step-64x128", "seq-256-N16"], threads=2, out=False)
    assert res["threads"] == 2 and res["clock"] == "wall" and res["all_agree"]
    for r in res["scenarios"]:          # cgru on one thread, interleaved, for the ratio
        assert "cgru-1thread" in r["speedup"], r["name"]
    assert all(d["num_threads"] == 2 for d in res["openblas_in_run"])
    assert _bench.main(["--quick", "--scenario", "step-tick", "--threads", "2"]) == 0
    assert "threads per contender: 2" in capsys.readouterr().out
    # the calling thread's CPU time cannot time several threads
    assert _bench.main(["--quick", "--threads", "2", "--clock", "cpu"]) == 2
    assert "clock='wall'" in capsys.readouterr().err
    assert _bench.main(["--quick", "--threads", "0"]) == 2


def test_unknown_scenario_is_a_clear_error():
    need("torch")
    need("threadpoolctl")
    import pytest
    from cgru import _bench
    with pytest.raises(ValueError, match="no scenario matches"):
        _bench.run(quick=True, scenarios=["nope"], out=False)


def test_import_cgru_imports_no_bench_or_torch():
    code = ("import sys, cgru; bad = [m for m in ('cgru._bench', 'torch', 'onnx', "
            "'onnxruntime') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
