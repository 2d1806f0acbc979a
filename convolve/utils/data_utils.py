"""Dataset utilities, as in `keras.utils`: image folders, splits and label encodings."""

from convolve.data.directory import image_dataset_from_directory
from convolve.data.numerical import normalize, to_categorical
from convolve.data.split import split_dataset

__all__ = ["image_dataset_from_directory", "normalize", "split_dataset", "to_categorical"]
