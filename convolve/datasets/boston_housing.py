"""Boston housing prices."""

from convolve.data.builtin import load_boston_housing as load_data

__all__ = ["load_data"]
