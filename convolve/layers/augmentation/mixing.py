"""Augmentations that mix pairs of images, and their labels: MixUp and CutMix.

Both follow Keras 3's call convention: pass a dict `{"images": images, "labels": labels}`
with one-hot (or soft) labels of shape `(batch, classes)` and get the same dict back, images
and labels mixed with the same weights. Passing images alone mixes the images only. They
belong where labels are at hand, before the model, e.g. on each batch of a dataset:

    mix = layers.MixUp(alpha=0.2)
    train = train.map(lambda x, y: tuple(mix({"images": x, "labels": y}).values()))

Each image `i` is mixed with image `perm[i]` of the same batch, for one random permutation
per batch, with its own weight. At inference both layers return their inputs (as floats).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from convolve.layers import _conv_utils as cu
from convolve.layers.augmentation import _image as im


class _MixLayer(im.RandomImageLayer):
    def _check_labels(self, labels: torch.Tensor, images: torch.Tensor) -> None:
        if labels.ndim != 2 or labels.shape[0] != images.shape[0]:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) mixes one-hot or soft labels "
                f"of shape (batch, classes) with batch {images.shape[0]}; received labels of "
                f"shape {tuple(labels.shape)}. Convert class indices with "
                "convolve.utils.to_categorical first."
            )

    def call(self, inputs, training=False):
        if isinstance(inputs, dict) and "labels" in inputs:
            self._check_labels(inputs["labels"], inputs["images"])
        return super().call(inputs, training=training)

    def transform_labels(self, labels, transformation, training=True):
        if not training or transformation is None:
            return labels
        labels = self._to_float(labels)
        weight = transformation["mix_weight"].to(labels.dtype)[:, None]
        return weight * labels + (1.0 - weight) * labels[transformation["permutation_order"]]


class MixUp(_MixLayer):
    """MixUp: blends each image (and label) with another image of the batch.

    Image `i` becomes `w * x[i] + (1 - w) * x[perm[i]]`, and its label likewise, with `w`
    drawn per image from Beta(alpha, alpha).

    Args:
        alpha: the Beta distribution's parameter, positive; small values mix little.
        seed: makes the draws repeatable.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import MixUp
        >>> images = torch.stack([torch.zeros(4, 4, 3), torch.ones(4, 4, 3)])
        >>> labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> out = MixUp(alpha=0.2, seed=3)({"images": images, "labels": labels})
        >>> torch.allclose(out["images"][:, 0, 0, 0], out["labels"][:, 1])  # same weights
        True
    """

    def __init__(
        self, alpha: float = 0.2, data_format: str | None = None, seed: int | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        alpha_value = im.number(check, "alpha", alpha)
        if im.is_number(alpha) and not alpha_value > 0:
            check.add(f"alpha must be positive, received alpha={alpha!r}")
        seed = im.seed_value(check, seed)
        self.data_format = check.data_format(data_format)
        check.raise_if_any()
        super().__init__(seed=seed, **kwargs)
        self.alpha = alpha

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        batch, device = images.shape[0], images.device
        return {
            "mix_weight": self._beta(float(self.alpha), batch, device),
            "permutation_order": self._permutation(batch, device),
        }

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        weight = transformation["mix_weight"].to(images.dtype).reshape(-1, 1, 1, 1)
        partner = images[transformation["permutation_order"]]
        return weight * images + (1.0 - weight) * partner

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True, **kwargs):
        """Each image keeps its boxes and gains its partner's, as in Keras. (Keras joins
        the box labels along the batch axis, which leaves them unpaired with the boxes;
        here boxes and labels both join along the box axis.)"""
        if not training or transformation is None:
            return dict(bounding_boxes)
        order = transformation["permutation_order"]
        boxes, labels = (torch.as_tensor(bounding_boxes[k]) for k in ("boxes", "labels"))
        joined = {"boxes": torch.cat([boxes, boxes[order]], 1)}
        return {**bounding_boxes, **joined, "labels": torch.cat([labels, labels[order]], 1)}

    def _transform_masks(self, masks, transformation, training):
        # Keras blends the masks with the images' weights (float masks out).
        return self.transform_images(masks.to(torch.float32), transformation, training)

    def get_config(self):
        return im.keras_key_order({**super().get_config(), "alpha": self.alpha}, ("seed",))


class CutMix(_MixLayer):
    """CutMix: pastes a random box of another image of the batch into each image.

    For image `i`, a weight `w` is drawn from Beta(a, a) (`a` drawn once per batch, uniform
    in `factor`); a box of `sqrt(1 - w)` times the height and the width, at a uniform
    position, is copied from image `perm[i]`, and the labels are mixed by the area that
    stayed: `(1 - box_area / image_area) * y[i] + box_area / image_area * y[perm[i]]`.

    Args:
        factor: `f` (meaning `(0, f)`) or `(lower, upper)`, each in [0, 1]: the range of
            the Beta parameter `a`; larger values give more varied boxes.
        seed: makes the draws repeatable.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import CutMix
        >>> images = torch.stack([torch.zeros(8, 8, 1), torch.ones(8, 8, 1)])
        >>> labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> out = CutMix(seed=0)({"images": images, "labels": labels})
        >>> sorted(set(out["images"].flatten().tolist())) in ([0.0], [1.0], [0.0, 1.0])
        True
    """

    def __init__(
        self, factor: float | Sequence[float] = 1.0, seed: int | None = None,
        data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        factor = im.factor_range(check, "factor", factor, 0.0, 1.0)
        seed = im.seed_value(check, seed)
        self.data_format = check.data_format(data_format)
        check.raise_if_any()
        super().__init__(seed=seed, **kwargs)
        self.factor = factor

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        batch, _, height, width = images.shape
        device = images.device
        alpha = self._uniform((), self.factor[0], self.factor[1], device) + 1e-6
        weight = self._beta(alpha, batch, device)
        ratio = torch.sqrt(1.0 - weight)
        box_w, box_h = ratio * width, ratio * height
        x0 = self._rand((batch,), device) * (width - box_w)
        y0 = self._rand((batch,), device) * (height - box_h)
        x1, y1 = x0 + box_w, y0 + box_h
        return {
            "permutation_order": self._permutation(batch, device),
            "batch_masks": im.box_masks(x0, x1, y0, y1, height, width),
            "mix_weight": 1.0 - (x1 - x0) * (y1 - y0) / (width * height),
        }

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        partner = images[transformation["permutation_order"]]
        return torch.where(transformation["batch_masks"], partner, images)

    def get_config(self):
        return im.keras_key_order({**super().get_config(), "factor": self.factor}, ("seed",))
