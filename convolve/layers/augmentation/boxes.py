"""`MaxNumBoundingBoxes`: pads or truncates each image's bounding boxes to a fixed count.

It takes Keras's dict input, `{"images": ..., "bounding_boxes": {"boxes": (batch, n, 4),
"labels": (batch, n)}}`, optionally with `"labels"` and `"segmentation_masks"`, which pass
through. The other image layers move boxes and masks with their images (see `_image.py`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from convolve.layers import _conv_utils as cu
from convolve.layers.augmentation import _image as im

_BOX_KEYS = ("boxes", "labels")


class _BoxLayer(im.ImageLayer):
    """Takes the arguments Keras's image layers take besides their own (the model files
    read them from here)."""

    def __init__(
        self, bounding_box_format: str | None = None, data_format: str | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.bounding_box_format, self.data_format = bounding_box_format, "channels_last"


class MaxNumBoundingBoxes(_BoxLayer):
    """Gives every image exactly `max_number` bounding boxes, in training and at inference.

    Boxes beyond `max_number` are dropped; missing ones are added with every coordinate
    and the label set to `fill_value`. Images (and labels, segmentation masks) pass
    through unchanged, dtype included. A plain tensor input is returned as it is.

    Args:
        max_number: the number of boxes per image, a positive integer.
        fill_value: the value of the boxes and labels added, an integer.
        **kwargs: base layer arguments, and `bounding_box_format` (e.g. `"xyxy"`), which,
            as in Keras, must be given for inputs with bounding boxes.

    Example:
        >>> import torch
        >>> from convolve.layers import MaxNumBoundingBoxes
        >>> layer = MaxNumBoundingBoxes(max_number=3, bounding_box_format="xyxy")
        >>> data = {
        ...     "images": torch.zeros(1, 8, 8, 3),
        ...     "bounding_boxes": {"boxes": torch.tensor([[[0, 0, 4, 4]]]),
        ...                        "labels": torch.tensor([[2]])},
        ... }
        >>> out = layer(data)["bounding_boxes"]
        >>> out["boxes"].tolist(), out["labels"].tolist()
        ([[[0, 0, 4, 4], [-1, -1, -1, -1], [-1, -1, -1, -1]]], [[2, -1, -1]])
    """

    _engine_layout = False  # boxes are not images: they stay in the user's layout
    _float_images = False

    def __init__(self, max_number: int, fill_value: int = -1, **kwargs: Any) -> None:
        bounding_box_format = kwargs.get("bounding_box_format")
        check = cu.ArgumentErrors(type(self).__name__)
        check.positive_int("max_number", max_number)
        if not cu.is_int(fill_value):
            check.add(f"fill_value must be an integer, received fill_value={fill_value!r}")
        if bounding_box_format is not None and not isinstance(bounding_box_format, str):
            check.add(
                "bounding_box_format must be a string such as 'xyxy', received "
                f"bounding_box_format={bounding_box_format!r}"
            )
        check.data_format(kwargs.get("data_format"))
        check.raise_if_any()
        super().__init__(**kwargs)
        self.max_number, self.fill_value = int(max_number), int(fill_value)

    def _image_shape(self, input_shape: Any) -> Any:
        if not isinstance(input_shape, dict):
            return input_shape
        unknown = sorted(set(input_shape) - set(im.DICT_KEYS))
        if "images" not in input_shape or unknown:
            raise ValueError(
                f"Layer '{self.name}' (MaxNumBoundingBoxes): a dict input holds 'images' and "
                "optionally 'bounding_boxes', 'labels' and 'segmentation_masks'; received "
                f"keys {sorted(input_shape)}"
            )
        boxes = input_shape.get("bounding_boxes")
        if boxes is not None and (
            not isinstance(boxes, dict) or sorted(boxes) != sorted(_BOX_KEYS)
        ):
            received = sorted(boxes) if isinstance(boxes, dict) else type(boxes).__name__
            raise ValueError(
                f"Layer '{self.name}' (MaxNumBoundingBoxes): 'bounding_boxes' must be a dict "
                f"with the keys 'boxes' and 'labels'; received {received}"
            )
        return input_shape["images"]

    def call(self, inputs: Any, training: bool = False) -> Any:
        if not isinstance(inputs, dict) or "bounding_boxes" not in inputs:
            return inputs
        self._require_box_format()
        given = inputs["bounding_boxes"]
        boxes, labels = given["boxes"], given["labels"]
        if boxes.ndim != 3 or boxes.shape[-1] != 4 or tuple(labels.shape) != boxes.shape[:2]:
            raise ValueError(
                f"Layer '{self.name}' (MaxNumBoundingBoxes) expects boxes of shape (batch, n, "
                f"4) and labels of shape (batch, n); received boxes of shape "
                f"{tuple(boxes.shape)} and labels of shape {tuple(labels.shape)}"
            )
        out = dict(inputs)
        out["bounding_boxes"] = {
            **given,
            "boxes": self._fit(boxes, (0, 0)),
            "labels": self._fit(labels, ()),
        }
        return out

    def _fit(self, values: torch.Tensor, inner_padding: tuple[int, ...]) -> torch.Tensor:
        """Keeps the first `max_number` entries along axis 1, padding with `fill_value`."""
        missing = max(self.max_number - values.shape[1], 0)
        values = values[:, : self.max_number]
        if missing:
            values = F.pad(values, (*inner_padding, 0, missing), value=self.fill_value)
        return values

    def compute_output_shape(self, input_shape: Any) -> Any:
        if not isinstance(input_shape, dict) or "bounding_boxes" not in input_shape:
            return input_shape
        self._image_shape(input_shape)
        boxes = input_shape["bounding_boxes"]
        out = dict(input_shape)
        out["bounding_boxes"] = {
            "boxes": (boxes["boxes"][0], self.max_number, *tuple(boxes["boxes"])[2:]),
            "labels": (boxes["labels"][0], self.max_number),
        }
        return out

    def get_config(self) -> dict[str, Any]:
        # Keras's config leaves out fill_value and bounding_box_format, so that a rebuilt
        # layer loses them; this one keeps them.
        return {
            **super().get_config(),
            "max_number": self.max_number,
            "fill_value": self.fill_value,
            "bounding_box_format": self.bounding_box_format,
        }
