"""Random generators of layers that draw (augmentation, noise), seeded per layer."""

from __future__ import annotations

import torch


class SeededDraws:
    """Gives a layer `generator(device)`: its own `torch.Generator` per device, seeded with
    `self.seed`, or None (torch's global generator) when the layer has no seed. The layer
    sets `self.seed` and `self._generators = {}`; `BackupAndRestore` saves the generators'
    states, so a resumed run draws what an uninterrupted one would."""

    seed: int | None
    _generators: dict[str, torch.Generator]

    def generator(self, device: torch.device) -> torch.Generator | None:
        """This layer's generator on `device`, or None to use torch's global one."""
        if self.seed is None:
            return None
        key = str(device)
        found = self._generators.get(key)
        if found is None:
            found = torch.Generator(device=device)
            found.manual_seed(self.seed % 2**63)
            self._generators[key] = found
        return found
