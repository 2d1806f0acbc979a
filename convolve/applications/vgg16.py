"""`convolve.applications.vgg16`, as `keras.applications.vgg16`."""

from convolve.applications.vgg import VGG16, decode_predictions, preprocess_input

__all__ = ["VGG16", "decode_predictions", "preprocess_input"]
