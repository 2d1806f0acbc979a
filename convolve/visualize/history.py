"""`plot_history`: training against validation for the loss and every metric."""

from __future__ import annotations

import os
from typing import Any

from convolve.visualize._figures import finish


def _history_dict(history: Any) -> dict[str, list[float]]:
    values = getattr(history, "history", history)
    if not isinstance(values, dict) or not values:
        raise ValueError(
            "plot_history takes the History returned by fit() (or its .history dict); "
            f"received {type(history).__name__} with no recorded epochs."
        )
    return values


def best_epoch(values: list[float], mode: str = "min") -> int:
    pick = min if mode == "min" else max
    return values.index(pick(values))


def overfitting_epoch(train_loss: list[float], val_loss: list[float]) -> int | None:
    """The epoch after which validation loss rises while training loss keeps falling."""
    best = best_epoch(val_loss)
    if best >= len(val_loss) - 1 or train_loss[-1] >= train_loss[best]:
        return None
    return best + 1


def plot_history(history: Any, path: str | os.PathLike | None = None, title: str | None = None):
    """Plots loss and each metric per epoch, training against validation.

    The best validation epoch is marked, and so is the epoch where overfitting starts (the
    validation loss turns up while the training loss still falls).

    Args:
        history: the History returned by `fit`, or its `.history` dict.
        path: where to save the figure (.png, .svg or .pdf); None returns the Figure.
        title: an optional title over the panels.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    values = _history_dict(history)
    names = [k for k in values if not k.startswith("val_") and k != "learning_rate"]
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        train = values[name]
        epochs = range(1, len(train) + 1)
        ax.plot(epochs, train, "o-", label=f"training {name}")
        val = values.get(f"val_{name}")
        if val:
            ax.plot(range(1, len(val) + 1), val, "s-", label=f"validation {name}")
            mode = "min" if "loss" in name or "error" in name else "max"
            best = best_epoch(val, mode)
            ax.axvline(best + 1, color="green", linestyle=":", label=f"best epoch ({best + 1})")
        if name == "loss" and val:
            start = overfitting_epoch(train, val)
            if start is not None:
                ax.axvspan(start + 0.5, len(val) + 0.5, color="red", alpha=0.08,
                           label=f"overfitting from epoch {start + 1}")  # fmt: skip
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return finish(fig, path)
