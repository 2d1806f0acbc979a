"""Seeding every random number generator a training run touches."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def set_random_seed(seed: int) -> None:
    """Seeds Python, NumPy and torch (CPU and CUDA) so a run repeats on the same machine.

    Weight initialisation, shuffling in `fit`, dropout and augmentation all draw from these
    generators.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"set_random_seed: `seed` must be a non-negative int, received {seed!r}")
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
