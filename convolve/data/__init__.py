"""Data for images: folders of image files, image utilities and built-in datasets."""

from convolve.data.decode import BadImageError, BadImageWarning
from convolve.data.directory import image_dataset_from_directory
from convolve.data.image_folder import ImageFolderDataset
from convolve.data.pipeline import AUTOTUNE, Dataset

__all__ = [
    "AUTOTUNE",
    "BadImageError",
    "BadImageWarning",
    "Dataset",
    "ImageFolderDataset",
    "image_dataset_from_directory",
]
