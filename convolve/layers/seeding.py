"""Random generators of layers that draw (augmentation, noise), seeded per layer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch


class SeededDraws:
    """Gives a layer `generator(device)`: its own `torch.Generator` per device, seeded with
    `self.seed` (else with `self._drawn_seed`, a seed the layer drew when it was made), or
    None (torch's global generator) when it has neither. The layer
    sets `self.seed` and `self._generators = {}`; `BackupAndRestore` saves the generators'
    states, so a resumed run draws what an uninterrupted one would."""

    seed: int | None
    _generators: dict[str, torch.Generator]

    def generator(self, device: torch.device) -> torch.Generator | None:
        """This layer's generator on `device`, or None to use torch's global one."""
        seed = self.seed
        if seed is None:
            # An unseeded layer draws from its drawn seed's generator, except in compiled
            # code, where a generator object would break the graph: the global one then.
            seed = None if torch.compiler.is_compiling() else self.__dict__.get("_drawn_seed")
        if seed is None:
            return None
        key = str(device)
        found = self._generators.get(key)
        if found is None:
            found = torch.Generator(device=device)
            found.manual_seed(seed % 2**63)
            self._generators[key] = found
        return found


@contextlib.contextmanager
def reseeded(module: Any, seed: int) -> Iterator[None]:
    """Within the block, the unseeded drawing layers in `module` draw from generators
    seeded from `seed` (the i-th such layer with `seed + i`); afterwards their own
    generators, with their states, are back."""
    saved = []
    for i, layer in enumerate(
        m for m in module.modules() if isinstance(m, SeededDraws) and m.seed is None
    ):
        saved.append((layer, layer.__dict__.get("_drawn_seed"), layer._generators))
        layer.__dict__["_drawn_seed"], layer._generators = seed + i, {}
    try:
        yield
    finally:
        for layer, drawn, generators in saved:
            layer.__dict__["_drawn_seed"], layer._generators = drawn, generators
