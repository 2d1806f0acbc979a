"""`keras.preprocessing` names: `image_dataset_from_directory` and the image utilities."""

from convolve.data.directory import image_dataset_from_directory, text_dataset_from_directory
from convolve.preprocessing import image, sequence
from convolve.preprocessing.image import (
    array_to_img,
    img_to_array,
    load_img,
    save_img,
    smart_resize,
)
from convolve.utils.timeseries import timeseries_dataset_from_array

__all__ = [
    "array_to_img",
    "image",
    "image_dataset_from_directory",
    "img_to_array",
    "load_img",
    "save_img",
    "sequence",
    "smart_resize",
    "text_dataset_from_directory",
    "timeseries_dataset_from_array",
]
