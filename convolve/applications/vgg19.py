"""`convolve.applications.vgg19`, as `keras.applications.vgg19`."""

from convolve.applications.vgg import VGG19, decode_predictions, preprocess_input

__all__ = ["VGG19", "decode_predictions", "preprocess_input"]
