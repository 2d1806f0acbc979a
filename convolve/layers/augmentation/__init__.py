"""Augmentation layers: random in training (`fit`), identity at inference (`predict`).

Each image of a batch gets its own random draw, computed on the images' device with batched
torch operations. Called directly without `training`, a layer augments, as Keras's do.
"""

from convolve.layers.augmentation._image import ImageLayer, RandomImageLayer
from convolve.layers.augmentation.boxes import MaxNumBoundingBoxes
from convolve.layers.augmentation.clahe import ContrastLimitedAdaptiveHistogramEqualization
from convolve.layers.augmentation.color import (
    RandomBrightness,
    RandomColorDegeneration,
    RandomColorJitter,
    RandomContrast,
    RandomHue,
    RandomSaturation,
)
from convolve.layers.augmentation.elastic import RandomElasticTransform
from convolve.layers.augmentation.filters import (
    RandomErasing,
    RandomGaussianBlur,
    RandomSharpness,
)
from convolve.layers.augmentation.geometric import (
    RandomCrop,
    RandomFlip,
    RandomResizedCrop,
    RandomRotation,
    RandomShear,
    RandomTranslation,
    RandomZoom,
)
from convolve.layers.augmentation.mixing import CutMix, MixUp
from convolve.layers.augmentation.perspective import RandomPerspective
from convolve.layers.augmentation.policies import AugMix, Pipeline, RandAugment
from convolve.layers.augmentation.tone import (
    AutoContrast,
    Equalization,
    RandomGrayscale,
    RandomInvert,
    RandomPosterization,
    Solarization,
)

__all__ = [
    "AugMix",
    "AutoContrast",
    "ContrastLimitedAdaptiveHistogramEqualization",
    "CutMix",
    "Equalization",
    "ImageLayer",
    "MaxNumBoundingBoxes",
    "MixUp",
    "Pipeline",
    "RandAugment",
    "RandomBrightness",
    "RandomColorDegeneration",
    "RandomColorJitter",
    "RandomContrast",
    "RandomCrop",
    "RandomElasticTransform",
    "RandomErasing",
    "RandomFlip",
    "RandomGaussianBlur",
    "RandomGrayscale",
    "RandomHue",
    "RandomImageLayer",
    "RandomInvert",
    "RandomPerspective",
    "RandomPosterization",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomSaturation",
    "RandomSharpness",
    "RandomShear",
    "RandomTranslation",
    "RandomZoom",
    "Solarization",
]
