"""Data: folders of image and text files, image utilities, datasets and pipelines."""

from convolve.data.decode import BadImageError, BadImageWarning
from convolve.data.directory import image_dataset_from_directory, text_dataset_from_directory
from convolve.data.image_folder import ImageFolderDataset
from convolve.data.pipeline import AUTOTUNE, Dataset

__all__ = [
    "AUTOTUNE",
    "BadImageError",
    "BadImageWarning",
    "Dataset",
    "ImageFolderDataset",
    "image_dataset_from_directory",
    "text_dataset_from_directory",
]
