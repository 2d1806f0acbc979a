"""Fashion-MNIST clothing images."""

from convolve.data.builtin import load_fashion_mnist as load_data

__all__ = ["load_data"]
