"""MNIST handwritten digits."""

from convolve.data.builtin import load_mnist as load_data

__all__ = ["load_data"]
