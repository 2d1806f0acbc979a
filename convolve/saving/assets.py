"""Layer assets in `.keras` files: files a layer keeps beside its weights, as Keras does.

A layer (or model) that defines `save_assets(dir_path)` writes files into the directory it
is given; `load_assets(dir_path)` reads them back. In the archive they live under
`assets/<layer path>/`, with the same layer paths as the weights (`layers/string_lookup`,
...): a lookup layer's learned vocabulary is `assets/layers/string_lookup/vocabulary.txt`.
Files Keras writes this way load here, and the reverse.

Reading goes through the archive's checks first (no `..`, no links, no zip bombs); the
files are written into a fresh temporary directory, each under its checked member name,
and only regular files are taken from what a layer writes.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from convolve.saving import weights
from convolve.saving.archive import ArchiveReader
from convolve.saving.errors import ModelFileError

ASSETS = "assets"
_ASSET_LIMIT = 1 << 34  # per file; the archive's own checks bound the total


def _layers_with(model: Any, hook: str, config: Any = None) -> list[tuple[str, Any]]:
    return [
        (path, layer)
        for path, layer in weights.saveables(model, config)
        if callable(getattr(layer, hook, None))
    ]


def _layer_directory(root: str, path: str) -> str:
    """The directory of the layer at weight path `path` (the model itself: "") under `root`."""
    return os.path.join(root, *path.split("/")) if path else root


def asset_members(model: Any) -> list[tuple[str, bytes]]:
    """`(member name, bytes)` for every file the model's layers write with `save_assets`."""
    savers = _layers_with(model, "save_assets")
    if not savers:
        return []
    members: list[tuple[str, bytes]] = []
    with tempfile.TemporaryDirectory(prefix="convolve-assets-") as tmp:
        root = os.path.join(tmp, ASSETS)
        os.makedirs(root)
        for path, layer in savers:
            directory = _layer_directory(root, path)
            os.makedirs(directory, exist_ok=True)
            layer.save_assets(directory)
        for current, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(current, name)
                relative = os.path.relpath(full, tmp).replace(os.sep, "/")
                if os.path.islink(full) or not os.path.isfile(full):
                    raise ValueError(
                        f"save_assets wrote {relative}, which is not a regular file; a model "
                        "file holds regular files only."
                    )
                with open(full, "rb") as f:
                    members.append((relative, f.read()))
    return members


def load_assets(model: Any, reader: ArchiveReader, config: Any = None) -> None:
    """Calls `load_assets(dir)` on each layer that has it, when the archive holds assets.

    As in Keras, each such layer gets the directory of its own path under `assets/`, or
    None where the archive has nothing for it.
    """
    names = [info.filename for info in reader.infos if info.filename.startswith(ASSETS + "/")]
    if not names:
        return
    loaders = _layers_with(model, "load_assets", config)
    if not loaders:
        return
    with tempfile.TemporaryDirectory(prefix="convolve-assets-") as tmp:
        for name in names:
            target = os.path.join(tmp, *name.split("/"))
            if name.endswith("/"):
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(reader.read(name, _ASSET_LIMIT))
        root = os.path.join(tmp, ASSETS)
        for path, layer in loaders:
            directory = _layer_directory(root, path)
            try:
                layer.load_assets(directory if os.path.isdir(directory) else None)
            except ModelFileError:
                raise
            except Exception as err:
                where = f"{ASSETS}/{path}" if path else ASSETS
                raise ModelFileError(
                    reader.path,
                    where,
                    f"layer '{layer.name}' ({type(layer).__name__}) cannot load its assets: "
                    f"{type(err).__name__}: {err}",
                ) from err
