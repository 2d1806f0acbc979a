"""Seeding every random number generator a training run touches."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from convolve import random as convolve_random


def set_random_seed(seed: int) -> None:
    """Seeds Python, NumPy and torch (CPU and CUDA) so a run repeats on the same machine.

    Weight initialisation, shuffling in `fit`, dropout, augmentation and the unseeded
    `convolve.random` functions all draw from these generators, as in Keras.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"set_random_seed: `seed` must be a non-negative int, received {seed!r}")
    os.environ["PYTHONHASHSEED"] = str(seed)
    # As Keras: the global SeedGenerator is made again, from the seeded Python `random`.
    convolve_random.reset_global_seed_generator()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
