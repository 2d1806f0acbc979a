"""Plots that show what a network learned, and an HTML report that gathers them.

Every `plot_*` function returns the matplotlib Figure, or, given `path=` (.png, .svg or
.pdf), writes the file atomically, closes the figure and returns it.
"""

from convolve.visualize.augmentations import augment, plot_augmentations
from convolve.visualize.evaluation import (
    confusion_matrix,
    plot_confusion_matrix,
    plot_predictions,
    plot_top_losses,
)
from convolve.visualize.feature_maps import feature_maps, plot_feature_maps
from convolve.visualize.filters import filter_patterns, plot_filters
from convolve.visualize.gradcam import gradcam, plot_gradcam
from convolve.visualize.history import plot_history
from convolve.visualize.model_plot import plot_model
from convolve.visualize.report import Report, training_report

__all__ = [
    "Report",
    "augment",
    "confusion_matrix",
    "feature_maps",
    "filter_patterns",
    "gradcam",
    "plot_augmentations",
    "plot_confusion_matrix",
    "plot_feature_maps",
    "plot_filters",
    "plot_gradcam",
    "plot_history",
    "plot_model",
    "plot_predictions",
    "plot_top_losses",
    "training_report",
]
