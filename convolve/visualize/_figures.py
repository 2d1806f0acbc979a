"""Shared figure handling: return a Figure, or save it (PNG/SVG) and close it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def finish(fig: Any, path: str | os.PathLike | None) -> Any:
    """Saves `fig` atomically to `path` when given (and closes it); returns the figure."""
    if path is None:
        return fig
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ValueError(f"Plots are saved as .png, .svg or .pdf; received path={str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    try:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        plt.close(fig)
    return fig
