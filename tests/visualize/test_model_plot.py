"""plot_model: one box per layer with name, type, shape and parameters; arrows along the graph."""

from __future__ import annotations

import pytest
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from visualize_helpers import png_pixels

import convolve
from convolve.visualize import plot_model


def boxes(fig) -> dict[str, FancyBboxPatch]:
    return {
        p.get_gid()[len("layer:") :]: p
        for p in fig.axes[0].patches
        if isinstance(p, FancyBboxPatch) and str(p.get_gid()).startswith("layer:")
    }


def edges(fig) -> set[tuple[str, str]]:
    found = set()
    for p in fig.axes[0].patches:
        if isinstance(p, FancyArrowPatch) and str(p.get_gid()).startswith("edge:"):
            source, target = p.get_gid()[len("edge:") :].split("->")
            found.add((source, target))
    return found


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def centre(patch) -> tuple[float, float]:
    return patch.get_x() + patch.get_width() / 2, patch.get_y() + patch.get_height() / 2


def test_sequential_chain(trained, tmp_path):
    model = trained.model
    path = tmp_path / "model.png"
    fig = plot_model(model, path)
    png_pixels(path, min_size=(150, 400))
    input_name = model.inputs[0]._keras_history.layer.name
    names = [input_name] + [layer.name for layer in model.layers]
    assert list(boxes(fig)) == names
    assert edges(fig) == set(zip(names, names[1:], strict=False))
    labels = texts(fig)
    # Exact values: conv_a is 3x3x1 -> 8 filters, 3*3*1*8 + 8 = 80 parameters.
    assert "conv_a (Conv2D)\noutput: (None, 32, 32, 8)\nparams: 80" in labels
    for layer in model.layers:
        assert any(t.startswith(f"{layer.name} (") and f"{layer.count_params():,}" in t
                   for t in labels)  # fmt: skip
    ys = [centre(b)[1] for b in boxes(fig).values()]
    assert ys == sorted(ys, reverse=True)  # top to bottom in graph order


def test_branches_and_merges(branched, tmp_path):
    fig = plot_model(branched, tmp_path / "branched.svg", show_params=False)
    found = boxes(fig)
    assert set(found) == {"image"} | {layer.name for layer in branched.layers}
    assert edges(fig) == {
        ("image", "stem"),
        ("stem", "res_conv1"),
        ("res_conv1", "res_bn"),
        ("res_bn", "res_conv2"),
        ("stem", "res_add"),
        ("res_conv2", "res_add"),
        ("res_add", "left"),
        ("res_add", "right"),
        ("left", "join"),
        ("right", "join"),
        ("join", "gap"),
        ("gap", "head"),
    }
    (lx, ly), (rx, ry) = centre(found["left"]), centre(found["right"])
    assert ly == ry and lx != rx  # parallel branches side by side
    jx, jy = centre(found["join"])
    assert jy < ly and min(lx, rx) < jx < max(lx, rx)  # the merge sits below, between them
    assert not any("params" in t for t in texts(fig))
    assert "join (Concatenate)\noutput: (None, 32, 32, 12)" in texts(fig)
    # No arrow passes through a box it does not connect: the residual one has its own lane.
    for arrow in fig.axes[0].patches:
        if not isinstance(arrow, FancyArrowPatch):
            continue
        source, target = arrow.get_gid()[len("edge:") :].split("->")
        vertices = arrow.get_path().vertices
        if (source, target) == ("stem", "res_add"):
            assert len(vertices) > 2 + 3  # waypoints besides the two ends and the head
        for name, box in found.items():
            if name in (source, target):
                continue
            (x0, y0), (x1, y1) = box.get_bbox().get_points()
            inside = (x0 <= vertices[:, 0]) & (vertices[:, 0] <= x1)
            inside &= (y0 <= vertices[:, 1]) & (vertices[:, 1] <= y1)
            assert not inside.any(), (source, target, name)


def test_keras_to_file_alias(trained, tmp_path):
    plot_model(trained.model, to_file=tmp_path / "m.png", show_shapes=False)
    png_pixels(tmp_path / "m.png", min_size=(100, 300))


def test_subclassed_model_is_refused():
    class Net(convolve.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="needs a Sequential or functional model"):
        plot_model(Net())


def test_keras_utils_signature_and_file(trained, tmp_path, monkeypatch):
    import inspect

    import keras
    from PIL import Image

    from convolve.utils import plot_model as utils_plot_model

    theirs = inspect.signature(keras.utils.plot_model).parameters
    ours = inspect.signature(utils_plot_model).parameters
    shared = [name for name in theirs if name != "splines"]  # graphviz's, taken by **kwargs
    assert [(n, ours[n].default) for n in shared] == [(n, theirs[n].default) for n in shared]
    monkeypatch.chdir(tmp_path)
    utils_plot_model(trained.model, splines="ortho")  # Keras's default file name
    utils_plot_model(trained.model, to_file="low.png", dpi=100)
    with Image.open("model.png") as high, Image.open("low.png") as low:
        assert high.width == pytest.approx(2 * low.width, rel=0.05)  # dpi 200 against 100
    with pytest.raises(ValueError, match="rankdir='BT'"):
        utils_plot_model(trained.model, to_file="x.png", rankdir="BT")
    with pytest.raises(ValueError, match=r"\.png, \.svg or \.pdf"):
        utils_plot_model(trained.model, to_file="model.gif")
