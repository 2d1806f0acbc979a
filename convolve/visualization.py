"""Keras's `keras.visualization` names: drawing boxes and masks on images, and galleries.

`import convolve as keras; keras.visualization.plot_image_gallery(images)` works as in
Keras. convolve's own plots of what a network learned are in `convolve.visualize`.
"""

from convolve.visualize.drawing import draw_bounding_boxes, draw_segmentation_masks
from convolve.visualize.galleries import (
    plot_bounding_box_gallery,
    plot_image_gallery,
    plot_segmentation_mask_gallery,
)

__all__ = [
    "draw_bounding_boxes",
    "draw_segmentation_masks",
    "plot_bounding_box_gallery",
    "plot_image_gallery",
    "plot_segmentation_mask_gallery",
]
