"""plot_history: one panel per quantity, best epoch and the start of overfitting marked."""

from __future__ import annotations

import pytest
from visualize_helpers import png_pixels

from convolve.visualize import plot_history
from convolve.visualize.history import overfitting_epoch


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_trained_history_saved_as_png(trained, tmp_path):
    import matplotlib.pyplot as plt

    path = tmp_path / "curves.png"
    plt.close("all")
    fig = plot_history(trained.history, path, title="squares")
    png_pixels(path, min_size=(400, 200))
    assert plt.get_fignums() == []  # a saved figure never enters pyplot's state
    assert plt.fignum_exists(plot_history(trained.history).number)  # a returned one does
    assert [ax.get_title() for ax in fig.axes] == ["accuracy", "loss"]
    epochs = len(trained.history.history["loss"])
    for ax in fig.axes:  # training and validation curves, both with every epoch
        lines = [line for line in ax.get_lines() if len(line.get_xdata()) == epochs]
        assert len(lines) == 2


def test_best_epoch_and_overfitting_marked():
    history = {
        "loss": [1.0, 0.8, 0.6, 0.5, 0.4],
        "val_loss": [1.0, 0.8, 0.7, 0.75, 0.9],
        "accuracy": [0.5, 0.6, 0.7, 0.8, 0.9],
        "val_accuracy": [0.5, 0.7, 0.65, 0.8, 0.75],
    }
    fig = plot_history(history)
    loss_ax = next(ax for ax in fig.axes if ax.get_title() == "loss")
    accuracy_ax = next(ax for ax in fig.axes if ax.get_title() == "accuracy")
    assert "best epoch (3)" in legend_texts(loss_ax)
    assert "overfitting from epoch 4" in legend_texts(loss_ax)
    assert "best epoch (4)" in legend_texts(accuracy_ax)  # accuracy: highest is best
    assert overfitting_epoch(history["loss"], history["val_loss"]) == 3  # 0-based


def test_no_overfitting_when_validation_keeps_improving():
    history = {"loss": [1.0, 0.8, 0.6], "val_loss": [1.1, 0.9, 0.7]}
    fig = plot_history(history)
    assert not any("overfitting" in t for t in legend_texts(fig.axes[0]))
    assert overfitting_epoch(history["loss"], history["val_loss"]) is None


@pytest.mark.parametrize("bad", [{}, None, [1, 2]])
def test_rejects_empty_history(bad):
    with pytest.raises(ValueError, match="plot_history takes the History"):
        plot_history(bad)


def test_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError, match=r"\.png, \.svg or \.pdf; received path=.*curves\.jpg"):
        plot_history({"loss": [1.0]}, tmp_path / "curves.jpg")
    assert not (tmp_path / "curves.jpg").exists()


def test_svg_output(tmp_path):
    path = tmp_path / "curves.svg"
    plot_history({"loss": [1.0, 0.5], "val_loss": [1.2, 0.7]}, path)
    assert path.read_text().lstrip().startswith("<?xml")
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
