"""CIFAR-100 small colour images."""

from convolve.data.builtin import load_cifar100 as load_data

__all__ = ["load_data"]
