"""Augmentation layers: random in training (`fit`), identity at inference (`predict`).

Each image of a batch gets its own random draw, computed on the images' device with batched
torch operations. Called directly without `training`, a layer augments, as Keras's do.
"""

from convolve.layers.augmentation._image import ImageLayer, RandomImageLayer
from convolve.layers.augmentation.color import RandomBrightness, RandomContrast
from convolve.layers.augmentation.geometric import (
    RandomCrop,
    RandomFlip,
    RandomResizedCrop,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from convolve.layers.augmentation.mixing import CutMix, MixUp

__all__ = [
    "CutMix",
    "ImageLayer",
    "MixUp",
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomImageLayer",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
]
