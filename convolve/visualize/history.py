"""`plot_history`: training against validation for the loss and every metric."""

from __future__ import annotations

import os
from typing import Any

from convolve.visualize._figures import finish, new_figure


def _history_dict(history: Any) -> dict[str, list[float]]:
    values = getattr(history, "history", history)
    if not isinstance(values, dict) or not values:
        raise ValueError(
            "plot_history takes the History returned by fit() (or its .history dict); "
            f"received {type(history).__name__} with no recorded epochs."
        )
    return values


def best_epoch(values: list[float], mode: str = "min") -> int:
    """The 0-based index of the best value (lowest for `mode="min"`)."""
    pick = min if mode == "min" else max
    return values.index(pick(values))


def overfitting_epoch(train_loss: list[float], val_loss: list[float]) -> int | None:
    """Where overfitting starts: the 0-based index of the first epoch after the best
    validation loss, when the training loss kept falling after it; None otherwise."""
    best = best_epoch(val_loss)
    if best >= len(val_loss) - 1 or train_loss[-1] >= train_loss[best]:
        return None
    return best + 1


def plot_history(
    history: Any, path: str | os.PathLike | None = None, title: str | None = None
) -> Any:
    """Plots loss and each metric per epoch, training against validation.

    The best validation epoch is marked, and so is the epoch where overfitting starts (the
    validation loss turns up while the training loss still falls).

    Args:
        history: the History returned by `fit`, or its `.history` dict.
        path: where to save the figure (.png, .svg or .pdf); None returns the Figure.
        title: an optional title over the panels.

    Returns:
        The matplotlib Figure: one panel per quantity (loss, then each metric).

    Example:
        >>> from convolve.visualize import plot_history
        >>> fig = plot_history({"loss": [0.9, 0.5, 0.4], "val_loss": [1.0, 0.7, 0.8]})
        >>> len(fig.axes)
        1
    """
    values = _history_dict(history)
    names = [k for k in values if not k.startswith("val_") and k != "learning_rate"]
    names += [k[4:] for k in values if k.startswith("val_") and k[4:] not in values]
    fig, axes = new_figure(path, 1, len(names), figsize=(5 * len(names), 3.8))
    for ax, name in zip(axes[0], names, strict=True):
        train = values.get(name, [])
        if train:
            ax.plot(range(1, len(train) + 1), train, "o-", label=f"training {name}")
        val = values.get(f"val_{name}")
        if val:
            ax.plot(range(1, len(val) + 1), val, "s-", label=f"validation {name}")
            mode = "min" if "loss" in name or "error" in name else "max"
            best = best_epoch(val, mode)
            ax.axvline(best + 1, color="green", linestyle=":", label=f"best epoch ({best + 1})")
        if name == "loss" and val and len(train) == len(val):
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
