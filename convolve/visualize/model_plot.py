"""`plot_model`: the architecture as boxes and arrows, drawn with matplotlib alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from convolve.visualize._figures import PathLike, finish, new_figure
from convolve.visualize._model import model_inputs

# Box colours by layer family, matched on the class name (first match wins).
_PALETTE = (
    ("InputLayer", "#e0e0e0"),
    ("Conv", "#bcd7f5"),
    ("Pool", "#c8e6c9"),
    ("Dense", "#ffe0b2"),
    ("Normalization", "#fff59d"),
    ("Dropout", "#f5f5f5"),
    ("Random", "#b2dfdb"),
    ("Rescaling", "#b2dfdb"),
    ("Resizing", "#b2dfdb"),
    ("Functional", "#f8bbd0"),
    ("Sequential", "#f8bbd0"),
)
_MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot")
_MERGE_COLOUR = "#d1c4e9"

# Sizes in inches.
_FONT = 7  # points
_CHAR_W = _FONT * 0.62 / 72  # a monospace character's advance
_LINE_H = _FONT * 1.25 / 72
_MARGIN = 0.3  # on each side
_TITLE_H = 0.45


@dataclass(eq=False)
class _Box:
    """A layer's box, or (layer None) a waypoint of an arrow that skips rows."""

    layer: Any
    depth: int = 0
    x: float = 0.0
    parents: list[_Box] = field(default_factory=list)  # the layers feeding this one
    above: list[_Box] = field(default_factory=list)  # what arrives from the row above


@dataclass(eq=False)
class _Edge:
    source: _Box
    target: _Box
    waypoints: list[_Box]


def _colour(type_name: str) -> str:
    if type_name in _MERGES:
        return _MERGE_COLOUR
    for key, colour in _PALETTE:
        if key in type_name:
            return colour
    return "#ffffff"


def _graph(model: Any) -> tuple[list[_Box], list[_Edge]]:
    """One box per layer (inputs included), with depth and parents, and the arrows.

    An arrow that skips rows gets a waypoint in each row it crosses (as in Sugiyama's
    layered drawing), so that it has a lane of its own instead of crossing boxes.
    """
    from convolve.models.functional import topological_nodes

    inputs = model_inputs(model, "plot_model")
    nodes, _ = topological_nodes(inputs, list(model.outputs))
    boxes: dict[int, _Box] = {}
    for node in nodes:
        box = boxes.setdefault(id(node.layer), _Box(node.layer))
        for parent in node.parent_nodes:
            parent_box = boxes[id(parent.layer)]
            if parent_box is not box and all(p is not parent_box for p in box.parents):
                box.parents.append(parent_box)
            box.depth = max(box.depth, parent_box.depth + 1)
    edges = []
    for box in boxes.values():
        for parent in box.parents:
            waypoints, previous = [], parent
            for depth in range(parent.depth + 1, box.depth):
                previous = _Box(None, depth, above=[previous])
                waypoints.append(previous)
            box.above.append(previous)
            edges.append(_Edge(parent, box, waypoints))
    return list(boxes.values()), edges


def _place(items: list[_Box]) -> None:
    """Sets each box's and waypoint's column, row by row from the top.

    Each item wants the mean column of what arrives from above (the barycentre heuristic,
    which keeps a chain in one column, branches side by side and a merge between its
    sources); items are ordered by that wish, pushed apart to one column each, and the row
    shifted back so that on average it sits where it wanted to be.
    """
    rows: dict[int, list[_Box]] = {}
    for item in items:
        rows.setdefault(item.depth, []).append(item)
    for depth in sorted(rows):
        row = rows[depth]
        wish = {id(b): sum(a.x for a in b.above) / len(b.above) if b.above else 0.0 for b in row}
        order = {id(b): i for i, b in enumerate(row)}
        row.sort(key=lambda b: (wish[id(b)], order[id(b)]))
        columns: list[float] = []
        for item in row:
            want = wish[id(item)]
            columns.append(max(want, columns[-1] + 1.0) if columns else want)
        shift = sum(wish.values()) / len(row) - sum(columns) / len(row)
        for item, column in zip(row, columns, strict=True):
            item.x = column + shift


def _label(layer: Any, show_shapes: bool, show_params: bool, show_names: bool, show_act: bool):
    type_name = type(layer).__name__
    lines = [f"{layer.name} ({type_name})" if show_names else type_name]
    if show_act and getattr(layer, "activation", None) is not None:
        from convolve import activations

        lines[0] += f" [{activations.serialize(layer.activation)}]"
    if show_shapes:
        shapes = [t.shape for t in layer._inbound_nodes[0].output_tensors]
        lines.append("output: " + ", ".join(str(tuple(s)) for s in shapes))
    if show_params:
        count = layer.count_params() if layer.built else 0
        lines.append(f"params: {count:,}")
    return "\n".join(lines)


def plot_model(
    model: Any,
    path: PathLike = None,
    show_shapes: bool = True,
    show_params: bool = True,
    show_layer_names: bool = True,
    show_layer_activations: bool = False,
    title: str | None = None,
    to_file: PathLike = None,
    dpi: float = 110,
) -> Any:
    """Draws a model's layers as boxes joined by arrows along the graph.

    Each box shows the layer's name and type, its output shape and its parameter count.
    Branches sit side by side and merges below their sources; an arrow that skips rows
    (a residual connection) runs in a lane of its own. No graphviz is needed.

    Args:
        model: a Sequential or functional model (built, with a known input).
        path: where to save the figure (.png, .svg or .pdf); None returns the Figure.
        show_shapes: show each layer's output shape.
        show_params: show each layer's parameter count.
        show_layer_names: show names (else only the layer types).
        show_layer_activations: add the activation of layers that have one.
        title: a title over the diagram (the model's name by default).
        to_file: Keras's name for `path`.
        dpi: resolution of a saved .png.

    Returns:
        The matplotlib Figure. Each layer's box is a patch whose `gid` is `"layer:<name>"`,
        each arrow one whose `gid` is `"edge:<source>-><target>"`.

    Example:
        >>> from convolve import layers, models
        >>> from convolve.visualize import plot_model
        >>> model = models.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(4, 3),
        ...                            layers.Flatten(), layers.Dense(2)])
        >>> fig = plot_model(model)
        >>> sum(1 for p in fig.axes[0].patches if str(p.get_gid()).startswith("layer:"))
        4
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path as MplPath

    if path is not None and to_file is not None:
        raise ValueError(f"Pass path or to_file, not both; received {path!r} and {to_file!r}")
    path = path if path is not None else to_file
    boxes, edges = _graph(model)
    _place(boxes + [w for edge in edges for w in edge.waypoints])
    depth = max(box.depth for box in boxes) + 1
    labels = [
        _label(box.layer, show_shapes, show_params, show_layer_names, show_layer_activations)
        for box in boxes
    ]
    # The axes fill the figure and their units are inches, so text and boxes agree in size.
    chars = max(len(line) for label in labels for line in label.splitlines())
    box_w = max(1.6, _CHAR_W * chars + 0.4)
    box_h = _LINE_H * labels[0].count("\n") + 0.34
    col, row = box_w + 0.45, box_h + 0.35
    columns = [item.x for item in boxes] + [w.x for edge in edges for w in edge.waypoints]
    left, right = min(columns), max(columns)
    width, height = (right - left + 1) * col + 2 * _MARGIN, depth * row + _TITLE_H
    fig, _ = new_figure(path, 0, 0, figsize=(width, height))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0.0, width)
    ax.set_ylim(0.0, height)
    ax.axis("off")

    def centre(box: _Box) -> tuple[float, float]:
        x = _MARGIN + (box.x - left + 0.5) * col
        return x, height - _TITLE_H - (box.depth + 0.5) * row

    for box, text in zip(boxes, labels, strict=True):
        x, y = centre(box)
        patch = FancyBboxPatch(
            (x - box_w / 2, y - box_h / 2),
            box_w,
            box_h,
            boxstyle="round,pad=0.0,rounding_size=0.08",
            facecolor=_colour(type(box.layer).__name__),
            edgecolor="#455a64",
            linewidth=0.9,
            gid=f"layer:{box.layer.name}",
        )
        ax.add_patch(patch)
        ax.text(x, y, text, ha="center", va="center", fontsize=_FONT, family="monospace")
    for edge in edges:
        sx, sy = centre(edge.source)
        tx, ty = centre(edge.target)
        points = [(sx, sy - box_h / 2)]
        for waypoint in edge.waypoints:  # straight down its lane, beside the boxes
            wx, wy = centre(waypoint)
            points += [(wx, wy + box_h / 2), (wx, wy - box_h / 2)]
        points.append((tx, ty + box_h / 2))
        arrow = FancyArrowPatch(
            path=MplPath(points),
            arrowstyle="-|>",
            mutation_scale=10,
            color="#37474f",
            linewidth=0.9,
            gid=f"edge:{edge.source.layer.name}->{edge.target.layer.name}",
        )
        ax.add_patch(arrow)
    name = title if title is not None else f'Model: "{model.name}"'
    ax.text(width / 2, height - _TITLE_H / 2, name, ha="center", va="center", fontsize=10)
    return finish(fig, path, dpi)
