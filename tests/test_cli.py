"""The `convolve` command: help, one-line errors, and train -> predict/evaluate/summary."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from convolve import cli

COMMANDS = ["train", "predict", "evaluate", "summary", "demo"]


@contextlib.contextmanager
def one_thread():
    """A tiny convnet trains fastest on one thread (and far faster on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def draw_shapes(root: Path, per_class: int = 100, size: int = 48, seed: int = 0) -> Path:
    """`root/circle/*.png` and `root/square/*.png`: one bright filled shape on a dark field."""
    rng = np.random.default_rng(seed)
    for shape in ("circle", "square"):
        (root / shape).mkdir(parents=True)
        for i in range(per_class):
            background = tuple(int(v) for v in rng.integers(0, 80, 3))
            image = Image.new("RGB", (size, size), background)
            radius = rng.uniform(0.18, 0.32) * size
            cx, cy = rng.uniform(radius + 2, size - radius - 2, 2)
            box = [cx - radius, cy - radius, cx + radius, cy + radius]
            fill = tuple(int(v) for v in rng.integers(150, 256, 3))
            draw = ImageDraw.Draw(image)
            (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=fill)
            image.save(root / shape / f"{i:03d}.png")
    return root


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.mark.parametrize("command", COMMANDS)
def test_help_everywhere(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: convolve {command}" in capsys.readouterr().out


def test_top_level_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert all(command in out for command in COMMANDS)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["train", "d", "--image-size", "0"], "argument --image-size"),
        (["train", "d", "--validation-split", "1.5"], "argument --validation-split"),
        (["train", "d", "--epochs", "-1"], "argument --epochs"),
        (["train", "d", "--model", "alexnet"], "argument --model: invalid choice: 'alexnet'"),
        (["predict", "m.keras"], "the following arguments are required: IMAGE"),
    ],
)
def test_bad_arguments_are_one_line(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    one_line_error(capsys.readouterr().err, fragment)


def test_missing_and_bad_files(tmp_path, capsys):
    missing = tmp_path / "nope"
    code, _, err = run(capsys, "train", str(missing))
    assert code == 1
    one_line_error(err, "convolve train: error:", f"DIR '{missing}' does not exist")
    code, _, err = run(capsys, "summary", str(tmp_path / "m.keras"))
    assert code == 1
    one_line_error(err, f"model file '{tmp_path / 'm.keras'}' does not exist")
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip file")
    code, _, err = run(capsys, "predict", str(broken), "x.png")
    assert code == 1
    one_line_error(err, f"cannot load model file '{broken}'")
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "train", str(tmp_path / "empty"))
    assert code == 1
    one_line_error(err, str(tmp_path / "empty"))


@pytest.mark.slow  # a fresh interpreter importing torch; the in-process tests cover the rest
def test_error_from_the_installed_command_has_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "convolve.cli", "summary", str(tmp_path / "none.keras")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    one_line_error(result.stderr, "none.keras' does not exist")


def test_demo_is_unchanged(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr("convolve.demo.run", lambda **kw: calls.append(kw))
    assert cli.main(["demo"]) == 0
    assert cli.main(["demo", "--epochs", "3", "--output-dir", "out"]) == 0
    assert calls == [
        {"epochs": 12, "output_dir": "demo-output"},
        {"epochs": 3, "output_dir": "out"},
    ]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--epochs", "0"])
    assert exit_info.value.code == 2
    one_line_error(capsys.readouterr().err, "--epochs must be positive, received 0")


class SectionIds(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self.ids.append(dict(attrs)["id"])


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> tuple[Path, Path, str]:
    """`convolve train` on 100 circles and 100 squares, 32x32 pixels."""
    root = tmp_path_factory.mktemp("cli")
    shapes = draw_shapes(root / "shapes")
    output = root / "out"
    argv = ["train", str(shapes), "--image-size", "32", "--epochs", "12", "--batch-size", "16"]
    argv += ["--learning-rate", "0.003", "--seed", "1", "--quiet", "--output", str(output)]
    stdout = []
    with one_thread(), contextlib.redirect_stdout(Writer(stdout)):
        code = cli.main(argv)
    assert code == 0
    return shapes, output, "".join(stdout)


class Writer:
    def __init__(self, parts: list[str]) -> None:
        self.parts = parts

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_train_writes_model_report_and_reaches_90_percent(trained_run):
    _, output, stdout = trained_run
    accuracy = float(re.search(r"validation accuracy: ([\d.]+)", stdout).group(1))
    print(f"convolve train: validation accuracy {accuracy:.3f}")
    assert accuracy >= 0.9
    assert {p.name for p in output.iterdir()} >= {
        "model.keras",
        "class_names.json",
        "history.csv",
        "report.html",
    }
    meta = json.loads((output / "class_names.json").read_text())
    assert meta == {
        "class_names": ["circle", "square"],
        "image_size": [32, 32],
        "color_mode": "rgb",
    }
    parser = SectionIds()
    parser.feed((output / "report.html").read_text(encoding="utf-8"))
    assert parser.ids == [
        "run",
        "summary",
        "training-curves",
        "confusion-matrix",
        "top-losses",
        "grad-cam",
    ]
    header = (output / "history.csv").read_text().splitlines()[0]
    assert header.split(",") == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]


def test_predict_evaluate_summary_on_the_saved_model(trained_run, capsys):
    shapes, output, _ = trained_run
    model = str(output / "model.keras")
    images = [shapes / "circle" / "000.png", shapes / "square" / "000.png"]
    with one_thread():
        code, out, _ = run(capsys, "predict", model, *map(str, images), "--top", "2")
    assert code == 0
    rows = [line.split("\t") for line in out.strip().splitlines()]
    assert [row[0] for row in rows] == [str(p) for p in images]
    for row, expected in zip(rows, ["circle", "square"], strict=True):
        assert row[1] == expected and {row[1], row[3]} == {"circle", "square"}
        assert float(row[2]) + float(row[4]) == pytest.approx(1.0, abs=1e-3)
        assert float(row[2]) >= 0.5

    with one_thread():
        code, out, _ = run(capsys, "evaluate", model, str(shapes))
    assert code == 0
    accuracy = float(re.search(r"200 images - loss: [\d.]+ - accuracy: ([\d.]+)", out).group(1))
    assert accuracy >= 0.9
    assert re.search(r"circle: \d+/100 correct", out) and re.search(r"square: \d+/100", out)

    code, out, _ = run(capsys, "summary", model)
    assert code == 0
    assert 'Model: "small_cnn"' in out and "conv2d" in out and "Total params" in out

    not_an_image = output / "history.csv"
    code, _, err = run(capsys, "predict", model, str(not_an_image))
    assert code == 1
    one_line_error(err, f"convolve predict: error: cannot read image '{not_an_image}'")


@pytest.mark.parametrize(
    "architecture",
    [
        pytest.param(name, marks=pytest.mark.slow) if name in ("resnet50", "efficientnetb0")
        else name
        for name in sorted(cli.ARCHITECTURES)
    ],
)  # fmt: skip
def test_every_architecture_builds_with_a_reachable_last_conv(architecture):
    from convolve.visualize import gradcam

    model = cli.build_classifier(architecture, (32, 32), 3, 3, augment=True, weights=None)
    assert model.output_shape == (None, 3)
    assert {"random_flip", "random_rotation", "random_zoom"} <= {x.name for x in model.layers}
    image = np.random.default_rng(0).uniform(0, 255, (32, 32, 3)).astype("float32")
    with one_thread():
        probs = model.predict(image[None], verbose=0)
        heatmap = gradcam(model, image)  # the base's convolutions are in the model's graph
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert heatmap.shape == (32, 32)


@pytest.mark.parametrize("mode", ["caffe", "tf"])
def test_preprocessing_layers_match_keras_preprocess_input(mode):
    import convolve
    from convolve.applications import imagenet_utils

    inputs = convolve.Input((8, 8, 3))
    model = convolve.Model(inputs, cli._preprocessing(mode, inputs))
    x = np.random.default_rng(1).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    expected = imagenet_utils.preprocess_input(x.copy(), mode=mode)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-3)
    assert model.trainable_weights == []


def test_imagenet_weights_need_rgb():
    with pytest.raises(cli.CommandError, match="--weights imagenet needs --color-mode rgb"):
        cli.build_classifier("resnet50", (32, 32), 1, 2, weights="imagenet")
