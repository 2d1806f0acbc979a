"""`plot_model` with Keras's signature, drawn by `convolve.visualize.plot_model`.

Keras draws the diagram with pydot and graphviz and raises ImportError where they are
missing; this one needs neither.
"""

from __future__ import annotations

import os
from typing import Any

from convolve.visualize.model_plot import plot_model as _draw

_RANKDIRS = ("TB", "LR")


def plot_model(
    model: Any,
    to_file: str | os.PathLike = "model.png",
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = False,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: float = 200,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
    **kwargs: Any,
) -> Any:
    """Saves a diagram of `model`'s layers to `to_file`, as `keras.utils.plot_model` does.

    Each layer is a box (its type, and its name with `show_layer_names`, its output shape
    with `show_shapes`, its activation with `show_layer_activations`), joined by arrows
    along the graph. The diagram always runs top to bottom with nested models as one box:
    `rankdir`, `expand_nested`, `show_dtype`, `show_trainable` and graphviz's options
    (`splines`, ...) are accepted and do not change it.

    Args:
        model: a built Sequential or functional model.
        to_file: the file to write: .png, .svg or .pdf.
        show_shapes: show output shapes.
        show_dtype: accepted for compatibility.
        show_layer_names: show layer names.
        rankdir: "TB" or "LR" (accepted; the diagram runs top to bottom).
        expand_nested: accepted for compatibility.
        dpi: resolution of a .png.
        show_layer_activations: show the activations of layers that have one.
        show_trainable: accepted for compatibility.

    Returns:
        An `IPython.display.Image` of the file where IPython is installed and the file is
        not a PDF (as Keras returns, for notebooks), else None.
    """
    if rankdir not in _RANKDIRS:
        raise ValueError(f"`rankdir` must be 'TB' or 'LR'; received rankdir={rankdir!r}")
    _draw(
        model,
        to_file=to_file,
        show_shapes=show_shapes,
        show_params=False,
        show_layer_names=show_layer_names,
        show_layer_activations=show_layer_activations,
        title="",
        dpi=dpi,
    )
    if str(to_file).lower().endswith(".pdf"):
        return None
    try:
        from IPython import display
    except ImportError:
        return None
    return display.Image(filename=os.fspath(to_file))
