"""Plots that show what a network learned."""

from convolve.visualize.history import plot_history

__all__ = ["plot_history"]
