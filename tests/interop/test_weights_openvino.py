"""bfloat16 weights against OpenVINO's bf16 inference on the same model: on the
benchmark models (cgru bench's seeds and shapes), cgru's max and mean error
against torch float32 are no larger than OpenVINO's (issue 11).  The margin is
a max-error statistic, not a law: on other draws the two max errors can be
within a few percent of each other either way (docs/weights.md), so the models
here are fixed.  Skipped where OpenVINO does not run bf16 (it then runs float32
and there is nothing to compare with)."""

import numpy as np
import pytest

import cgru
from conftest import need


@pytest.mark.parametrize("I,H,N,T", ((64, 128, 1, 1000), (256, 256, 16, 100)))
def test_bfloat16_error_within_openvino_bf16(I, H, N, T, torch):
    need("onnx")
    need("openvino")
    from cgru._bench import _onnx_gru_model, _openvino_model
    torch.manual_seed(0)
    tgru = torch.nn.GRU(I, H).eval()
    x = np.random.default_rng(0).standard_normal((T, N, I)).astype(np.float32)
    with torch.inference_mode():
        ref = tgru(torch.from_numpy(x))[0].numpy()
    model, precision = _openvino_model(_onnx_gru_model(tgru, np.float32, step=False),
                                       precision=None)   # its default
    if precision != "bf16":
        pytest.skip(f"OpenVINO runs {precision} on this CPU, not bf16")
    ov = np.abs(model({"X": x})[model.outputs[0]] - ref)
    q = cgru.GRU.from_torch(tgru).with_weights("bfloat16")
    err = np.abs(q(x)[0] - ref)
    assert 0 < err.max() <= ov.max(), (err.max(), ov.max())
    assert err.mean() <= ov.mean(), (err.mean(), ov.mean())
