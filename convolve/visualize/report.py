"""A self-contained HTML report: sections of text, tables and figures (PNGs embedded)."""

from __future__ import annotations

import base64
import datetime
import html
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convolve.visualize._figures import offscreen, png_bytes

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } .meta { color: #666; margin-top: 0; }
nav a { margin-right: 1em; } section { margin-top: 2.5em; }
img { max-width: 100%; border: 1px solid #ddd; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; font-size: 12px; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 4px 10px; }
th { background: #f0f0f0; } .caption { color: #555; font-size: 0.9em; }
"""


@dataclass
class Section:
    """One part of a report: an anchor id, a heading and its HTML body."""

    id: str
    title: str
    body: str


class Report:
    """Collects sections and writes them as one HTML file with the images inside it.

    Example:
        >>> import os, tempfile
        >>> from convolve.visualize.report import Report
        >>> report = Report("Run 1")
        >>> report.add_text("notes", "Notes", "Trained on 200 images.")
        >>> report.add_table("results", "Results", ["metric", "value"], [["accuracy", 0.97]])
        >>> path = report.save(os.path.join(tempfile.mkdtemp(), "report.html"))
        >>> "Trained on 200 images." in path.read_text()
        True
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self.sections: list[Section] = []

    def _add(self, section_id: str, title: str, body: str) -> None:
        if any(s.id == section_id for s in self.sections):
            raise ValueError(f"Report: a section with id {section_id!r} already exists.")
        self.sections.append(Section(section_id, title, body))

    def add_text(self, section_id: str, title: str, text: str, preformatted: bool = False):
        """A paragraph, or a preformatted block (for tables printed as text)."""
        escaped = html.escape(text)
        self._add(
            section_id, title, f"<pre>{escaped}</pre>" if preformatted else f"<p>{escaped}</p>"
        )

    def add_table(
        self, section_id: str, title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """A table of `rows` under `header`; floats are shown with 4 decimals."""

        def cell(value: Any) -> str:
            if isinstance(value, float | np.floating):
                value = f"{value:.4f}"
            return html.escape(str(value))

        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
        self._add(section_id, title, f"<table><tr>{head}</tr>{body}</table>")

    def add_figure(self, section_id: str, title: str, fig: Any, caption: str | None = None):
        """A matplotlib figure, embedded as a PNG (the figure is closed)."""
        data = base64.b64encode(png_bytes(fig)).decode("ascii")
        body = f'<img src="data:image/png;base64,{data}" alt="{html.escape(title)}">'
        if caption:
            body += f'<p class="caption">{html.escape(caption)}</p>'
        self._add(section_id, title, body)

    def to_html(self) -> str:
        nav = " ".join(
            f'<a href="#{html.escape(s.id)}">{html.escape(s.title)}</a>' for s in self.sections
        )
        sections = "\n".join(
            f'<section id="{html.escape(s.id)}">\n<h2>{html.escape(s.title)}</h2>\n{s.body}\n'
            "</section>"
            for s in self.sections
        )
        created = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<link rel="icon" href="data:,">\n'  # no favicon request: the file is self-contained
            f"<title>{html.escape(self.title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
            f"<body>\n<h1>{html.escape(self.title)}</h1>\n"
            f'<p class="meta">Written by convolve on {created}</p>\n<nav>{nav}</nav>\n'
            f"{sections}\n</body>\n</html>\n"
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Writes the report atomically; returns its path."""
        from convolve.saving.atomic import atomic_write

        path = Path(path)
        if path.suffix.lower() not in (".html", ".htm"):
            raise ValueError(f"A report is an .html file; received path={str(path)!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as f:
            f.write(self.to_html().encode("utf-8"))
        return path


def _gradcam_examples(y: np.ndarray, count: int) -> np.ndarray:
    """Up to `count` image indices, taking classes in turn so that each class shows."""
    by_class = [np.flatnonzero(y == c) for c in np.unique(y)]
    chosen: list[int] = []
    for rank in range(max((len(ids) for ids in by_class), default=0)):
        for ids in by_class:
            if rank < len(ids) and len(chosen) < count:
                chosen.append(int(ids[rank]))
    return np.asarray(chosen, dtype=np.int64)


def training_report(
    path: str | os.PathLike,
    model: Any,
    history: Any = None,
    data: Any = None,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
    notes: Sequence[tuple[str, str]] = (),
    gradcam_images: int = 4,
    top_losses: int = 9,
) -> Path:
    """Writes the report of a trained image classifier.

    Sections, in order: `run` (the `notes`, when given), `summary` (the model summary),
    `training-curves` (with `history`), `confusion-matrix`, `top-losses` and `grad-cam` (with
    `data`; Grad-CAM when the model has a convolution layer).

    Args:
        path: the .html file to write.
        model: the trained classifier.
        history: the History returned by `fit` (or its dict).
        data: held-out `(images, labels)` arrays or a dataset of batches.
        class_names: names of the classes; the dataset's by default.
        title: the report's title.
        notes: `(label, value)` pairs shown with the summary (data, settings, results).
        gradcam_images: how many images get a Grad-CAM panel.
        top_losses: how many of the worst images are shown.

    Returns:
        The path written.
    """
    with offscreen():  # no pyplot: reports are written by scripts and servers
        report = _training_sections(
            model, history, data, class_names, title, notes, gradcam_images, top_losses
        )
    return report.save(path)


def _training_sections(
    model: Any,
    history: Any,
    data: Any,
    class_names: Sequence[str] | None,
    title: str | None,
    notes: Sequence[tuple[str, str]],
    gradcam_images: int,
    top_losses: int,
) -> Report:
    from convolve.visualize._model import collect, conv_layers
    from convolve.visualize.evaluation import plot_confusion_matrix, plot_top_losses
    from convolve.visualize.gradcam import plot_gradcam
    from convolve.visualize.history import plot_history

    report = Report(title or f'Training report: "{model.name}"')
    lines: list[str] = []
    model.summary(line_length=100, print_fn=lines.append)
    if notes:
        report.add_table("run", "Run", ["", ""], [list(pair) for pair in notes])
    report.add_text("summary", "Model summary", "\n".join(lines), preformatted=True)
    if history is not None:
        report.add_figure(
            "training-curves",
            "Training curves",
            plot_history(history),
            "Training against validation per epoch; the dotted line marks the best epoch.",
        )
    if data is not None:
        x, y, data_names = collect(data, "training_report")
        names = list(class_names) if class_names is not None else data_names
        labelled = (x, y)
        report.add_figure(
            "confusion-matrix",
            "Confusion matrix",
            plot_confusion_matrix(model, labelled, names),
            f"Rows are true classes, columns predicted classes, over {len(y)} held-out images.",
        )
        report.add_figure(
            "top-losses",
            "Top losses",
            plot_top_losses(model, labelled, k=min(top_losses, len(y)), class_names=names),
            "The held-out images with the highest loss; red titles are mistakes.",
        )
        if conv_layers(model) and gradcam_images > 0:
            chosen = _gradcam_examples(y, gradcam_images)
            report.add_figure(
                "grad-cam",
                "Grad-CAM",
                plot_gradcam(model, x[chosen], class_names=names),
                "Where the last convolution layer found the evidence for the predicted class.",
            )
    return report
