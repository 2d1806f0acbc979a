"""Export to plain PyTorch: `to_torch`, TorchScript and `torch.export` files, ONNX."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from saving_models import build, inputs_for, predict

from convolve import saving


def _torch_outputs(module, data):
    with torch.no_grad():
        out = module(*[torch.from_numpy(x) for x in data])
    out = list(out) if isinstance(out, list | tuple) else [out]
    return [o.numpy() for o in out]


@pytest.mark.parametrize("name", ["conv2d", "functional", "conv1d"])
def test_to_torch_matches_predict_for_any_batch(name):
    model = build(name)
    module = model.to_torch()
    assert isinstance(module, torch.nn.Module)
    for batch in (1, 5):
        data = inputs_for(model, batch=batch)
        for a, b in zip(predict(model, data), _torch_outputs(module, data), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_to_torch_is_plain_torch_with_its_own_weights():
    model = build("conv2d")
    module = model.to_torch()
    assert not any(type(m).__module__.startswith("convolve") for m in module.modules())
    assert "convolve" not in module.code
    data = inputs_for(model)
    before = _torch_outputs(module, data)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    np.testing.assert_array_equal(before[0], _torch_outputs(module, data)[0])
    module.eval()  # allowed, and changes nothing: the graph is fixed in inference mode
    np.testing.assert_array_equal(before[0], _torch_outputs(module, data)[0])


def test_exported_files_run_without_convolve(tmp_path):
    model = build("conv2d")
    model.export(tmp_path / "model.pt", format="torchscript")
    model.export(tmp_path / "model.pt2", format="torch_export")
    data = inputs_for(model, batch=4)
    np.save(tmp_path / "x.npy", data[0])
    np.save(tmp_path / "expected.npy", predict(model, data)[0])
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["convolve"] = None  # importing convolve now fails
        import numpy as np, torch
        root = {str(tmp_path)!r}
        x = torch.from_numpy(np.load(root + "/x.npy"))
        expected = np.load(root + "/expected.npy")
        for module in (torch.jit.load(root + "/model.pt"),
                       torch.export.load(root + "/model.pt2").module()):
            out = module(x).detach().numpy()
            assert np.allclose(out, expected, rtol=1e-6, atol=1e-6), abs(out - expected).max()
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("name", ["mlp", "conv2d", "functional", "merging"])
def test_onnx_export_runs_in_onnxruntime_like_predict(tmp_path, name):
    import onnxruntime

    model = build(name)
    path = tmp_path / "model.onnx"
    model.export(path, format="onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    data = inputs_for(model, batch=3)
    feeds = {i.name: x for i, x in zip(session.get_inputs(), data, strict=True)}
    got = session.run(None, feeds)
    expected = predict(model, data)
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_export_arguments_are_checked(tmp_path):
    model = build("mlp")
    with pytest.raises(ValueError, match="format"):
        model.export(tmp_path / "m.x", format="tf_saved_model")
    unknown = build("functional")
    with pytest.raises(ValueError, match="input_signature"):
        saving.to_torch(_no_shape_model())
    module = saving.to_torch(unknown, input_signature=[(2, 10, 10, 3), (2, 4)])
    data = inputs_for(unknown, batch=2)
    np.testing.assert_allclose(
        predict(unknown, data)[0], _torch_outputs(module, data)[0], rtol=1e-6, atol=1e-6
    )


def _no_shape_model():
    from convolve import layers
    from convolve.models import Sequential

    model = Sequential([layers.Input((None, None, 3)), layers.Conv2D(2, 3)])
    return model
