"""`keras.preprocessing.image` names: image files to arrays and back, and `smart_resize`."""

from convolve.data.image_utils import (
    array_to_img,
    img_to_array,
    load_img,
    save_img,
    smart_resize,
)

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img", "smart_resize"]
