"""CIFAR-10 small colour images."""

from convolve.data.builtin import load_cifar10 as load_data

__all__ = ["load_data"]
