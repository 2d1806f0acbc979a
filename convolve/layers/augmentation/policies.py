"""Augmentation policies: RandAugment and AugMix, which apply randomly chosen operations
drawn from a fixed list, and `Pipeline`, which applies layers in order.

RandAugment and AugMix compose the layers of this package (`RandomShear`,
`RandomTranslation`, `RandomRotation`, `RandomBrightness`, ...), built with the arguments
Keras gives them, and drawing from the policy's own seed. As in Keras, the choice of
operations is made once per batch, while each operation draws its parameters per image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from convolve.layers import _conv_utils as cu
from convolve.layers.augmentation import _image as im
from convolve.layers.augmentation.color import (
    RandomBrightness,
    RandomColorDegeneration,
    RandomContrast,
)
from convolve.layers.augmentation.filters import RandomSharpness
from convolve.layers.augmentation.geometric import RandomRotation, RandomShear, RandomTranslation
from convolve.layers.augmentation.tone import (
    AutoContrast,
    Equalization,
    RandomPosterization,
    Solarization,
)
from convolve.layers.base import Layer
from convolve.layers.layer_serialization import deserialize_child


def _operations(
    names: Sequence[str], factor: tuple[float, float], value_range: Any, interpolation: str,
    dtype: Any,
) -> dict[str, im.ImageLayer]:  # fmt: skip
    """The operation layers of a policy, with the arguments Keras gives them: geometric
    ones take `factor` as their range, colour ones `factor` and `value_range`."""
    geometric = {"interpolation": interpolation, "dtype": dtype}
    tonal = {"value_range": value_range, "dtype": dtype}
    makers = {
        "random_shear": lambda: RandomShear(x_factor=factor, y_factor=factor, **geometric),
        "random_translation": lambda: RandomTranslation(factor, factor, **geometric),
        "random_rotation": lambda: RandomRotation(factor, **geometric),
        "random_brightness": lambda: RandomBrightness(factor, **tonal),
        "random_color_degeneration": lambda: RandomColorDegeneration(factor, **tonal),
        "random_contrast": lambda: RandomContrast(factor, **tonal),
        "random_sharpness": lambda: RandomSharpness(factor, **tonal),
        "random_posterization": lambda: RandomPosterization(max(1, int(8 * factor[1])), **tonal),
        "solarization": lambda: Solarization(
            addition_factor=factor, threshold_factor=factor, **tonal
        ),
        "auto_contrast": lambda: AutoContrast(**tonal),
        "equalization": lambda: Equalization(**tonal),
    }
    return {name: makers[name]() for name in names}


class _Policy(im.RandomImageLayer):
    """Holds the operation layers under Keras's attribute names (`random_shear`, ...),
    each drawing from this layer's generators."""

    _operation_names: tuple[str, ...] = ()

    def _add_operations(self) -> None:
        ops = _operations(
            self._operation_names, self.factor, self.value_range, self.interpolation, self._dtype
        )
        for name, layer in ops.items():
            if isinstance(layer, im.RandomImageLayer):
                layer._draw_with(self)
            setattr(self, name, layer)

    def _draw_operation(self, name: str, images: torch.Tensor) -> Any:
        return getattr(self, name).get_random_transformation(images, training=True)

    def _apply_operation(self, name: str, images: torch.Tensor, drawn: Any) -> torch.Tensor:
        return getattr(self, name).transform_images(images, drawn, training=True)

    def _choices(self, shape: tuple[int, ...], count: int, device: torch.device) -> torch.Tensor:
        """Integers uniform in `[0, count)`."""
        picks = torch.floor(self._rand(shape, device) * count).long()
        return torch.clamp(picks, max=count - 1)


def _check_policy(
    check: cu.ArgumentErrors, value_range: Any, factor: Any, interpolation: Any, seed: Any,
    data_format: Any,
) -> dict[str, Any]:  # fmt: skip
    return {
        "range": im.value_range(check, value_range),
        "factor": im.factor_range(check, "factor", factor, 0.0, 1.0),
        "interpolation": im.choice(check, "interpolation", interpolation, im.INTERPOLATIONS),
        "seed": im.seed_value(check, seed),
        "data_format": check.data_format(data_format),
    }


class RandAugment(_Policy):
    """RandAugment: applies `num_ops` operations, chosen at random, to the images in training.

    The operations are those of Keras's RandAugment, in its order: shear, translation,
    rotation, brightness, colour degeneration, contrast, sharpness, posterization,
    solarization, auto-contrast and equalization. Each batch draws `num_ops` of them
    (uniformly, with repetition), as Keras does, and applies them in turn to every image;
    each operation draws its own magnitude per image. `factor` is the range of every
    operation's magnitude, passed to each as its Keras layer takes it: a number `f` means
    `(0, f)`, so for example rotations reach `f * 360` degrees, translations `f` of the
    image size, and posterization keeps `max(1, int(8 * f))` bits or fewer. An operation
    drawn twice in a batch applies the same parameters twice, as in Keras.

    Args:
        value_range: the `(low, high)` range of the input values, e.g. `(0, 255)` or `(0, 1)`.
        num_ops: how many operations to apply, a non-negative integer.
        factor: `f` (meaning `(0, f)`) or `(lower, upper)`, each in [0, 1]: the strength.
        interpolation: `"bilinear"` or `"nearest"`, for the geometric operations.
        seed: makes the draws repeatable.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandAugment
        >>> x = torch.randint(0, 256, (2, 16, 16, 3)).float()
        >>> out = RandAugment(num_ops=2, factor=0.5, seed=0)(x, training=True)
        >>> out.shape, bool(out.min() >= 0), bool(out.max() <= 255)
        (torch.Size([2, 16, 16, 3]), True, True)
        >>> torch.equal(RandAugment()(x, training=False), x)
        True
    """

    _operation_names = (
        "random_shear",
        "random_translation",
        "random_rotation",
        "random_brightness",
        "random_color_degeneration",
        "random_contrast",
        "random_sharpness",
        "random_posterization",
        "solarization",
        "auto_contrast",
        "equalization",
    )

    def __init__(
        self, value_range: Sequence[float] = (0, 255), num_ops: int = 2,
        factor: float | Sequence[float] = 0.5, interpolation: str = "bilinear",
        seed: int | None = None, data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        args = _check_policy(check, value_range, factor, interpolation, seed, data_format)
        if not (cu.is_int(num_ops) and num_ops >= 0):
            check.add(f"num_ops must be a non-negative integer, received num_ops={num_ops!r}")
        check.raise_if_any()
        super().__init__(seed=args["seed"], **kwargs)
        self.value_range, self.num_ops = value_range, int(num_ops)
        self.factor, self.interpolation = args["factor"], args["interpolation"]
        self.data_format = args["data_format"]
        self._add_operations()

    def get_random_transformation(self, images, training=True):
        """Keras's layout: `{"transforms": {name: drawn}, "layer_idxes": (num_ops,)}`, the
        parameters of every operation and the indices of those to apply."""
        if not training:
            return None
        chosen = self._choices((self.num_ops,), len(self._operation_names), images.device)
        return {
            "transforms": {
                name: self._draw_operation(name, images) for name in self._operation_names
            },
            "layer_idxes": chosen,
        }

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        transforms = transformation["transforms"]
        for index in transformation["layer_idxes"].tolist():
            name = self._operation_names[int(index)]
            images = self._apply_operation(name, images, transforms[name])
        return images

    def get_config(self):
        config = {
            **super().get_config(),
            "value_range": self.value_range,
            "num_ops": self.num_ops,
            "factor": self.factor,
            "interpolation": self.interpolation,
        }
        return im.keras_key_order(config, ("seed",))


_AUGMIX_OPS = (
    "random_shear",
    "random_translation",
    "random_rotation",
    "random_posterization",
    "solarization",
    "auto_contrast",
    "equalization",
)
_AUGMIX_COLOUR_OPS = (
    "random_brightness",
    "random_color_degeneration",
    "random_contrast",
    "random_sharpness",
)


class AugMix(_Policy):
    """AugMix: mixes each image with several randomly augmented versions of it, in training.

    Each of `num_chains` chains takes `chain_depth` steps; each step applies one operation
    drawn uniformly from the list, or none (one more equally likely outcome), so a chain
    applies between 0 and `chain_depth` operations. As in Keras, the operations of the
    chains and the mixing weights are drawn once per batch (the chains' weights from a
    Dirichlet distribution of parameter `alpha`, the weight `m` of the original image from
    Beta(alpha, alpha)), while every operation draws its magnitude per image. An image
    becomes `m * x + (1 - m) * sum_k w_k * chain_k(x)`, clipped to `value_range`.

    The operations: shear, translation, rotation, posterization, solarization,
    auto-contrast and equalization, and with `all_ops` also brightness, colour
    degeneration, contrast and sharpness; their strength is `factor`, passed to each as
    in `RandAugment`. Keras draws the operations with Python's global `random` module;
    this layer draws them from its own generator, so a `seed` makes it repeatable.

    Args:
        value_range: the `(low, high)` range of the input values.
        num_chains: how many augmentation chains to mix, a positive integer.
        chain_depth: the most operations in a chain, a positive integer.
        factor: `f` (meaning `(0, f)`) or `(lower, upper)`, each in [0, 1]: the strength.
        alpha: the positive parameter of the Dirichlet and Beta distributions.
        all_ops: whether to add the brightness, colour, contrast and sharpness operations.
        interpolation: `"bilinear"` or `"nearest"`, for the geometric operations.
        seed: makes the draws repeatable.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import AugMix
        >>> x = torch.randint(0, 256, (2, 16, 16, 3)).float()
        >>> out = AugMix(seed=0)(x, training=True)
        >>> out.shape, bool(out.min() >= 0), bool(out.max() <= 255)
        (torch.Size([2, 16, 16, 3]), True, True)
    """

    def __init__(
        self, value_range: Sequence[float] = (0, 255), num_chains: int = 3, chain_depth: int = 3,
        factor: float | Sequence[float] = 0.3, alpha: float = 1.0, all_ops: bool = True,
        interpolation: str = "bilinear", seed: int | None = None,
        data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        args = _check_policy(check, value_range, factor, interpolation, seed, data_format)
        check.positive_int("num_chains", num_chains)
        check.positive_int("chain_depth", chain_depth)
        alpha_value = im.number(check, "alpha", alpha)
        if im.is_number(alpha) and not alpha_value > 0:
            check.add(f"alpha must be positive, received alpha={alpha!r}")
        check.boolean("all_ops", all_ops)
        check.raise_if_any()
        super().__init__(seed=args["seed"], **kwargs)
        self.value_range, self.num_chains, self.chain_depth = value_range, num_chains, chain_depth
        self.factor, self.alpha, self.all_ops = args["factor"], alpha, bool(all_ops)
        self.interpolation, self.data_format = args["interpolation"], args["data_format"]
        self._range = args["range"]
        self._operation_names = _AUGMIX_OPS + (_AUGMIX_COLOUR_OPS if self.all_ops else ())
        self._add_operations()

    def get_random_transformation(self, images, training=True):
        """Keras's layout: `chain_mixing_weights` `(num_chains,)`, `weight_sample` (a
        scalar) and `chain_transforms`, per chain a list of `{"layer_name",
        "transformation"}` steps."""
        if not training:
            return None
        device = images.device
        concentration = torch.full((self.num_chains,), float(self.alpha), device=device)
        weights = torch._sample_dirichlet(concentration, generator=self.generator(device))
        weight_sample = self._beta(float(self.alpha), 1, device)[0]
        count = len(self._operation_names)
        # Outcome `count` skips the step, as Keras's choice among the operations and None.
        picks = self._choices((self.num_chains, self.chain_depth), count + 1, device).tolist()
        chains = [
            [
                {"layer_name": name, "transformation": self._draw_operation(name, images)}
                for name in (self._operation_names[i] for i in chain if i < count)
            ]
            for chain in picks
        ]
        return {
            "chain_mixing_weights": weights,
            "weight_sample": weight_sample,
            "chain_transforms": chains,
        }

    def transform_bounding_boxes(
        self, bounding_boxes, transformation, training=True, image_size=None
    ):
        # Keras's AugMix returns the boxes as they are (its chains do not move them).
        return dict(bounding_boxes)

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        weights = transformation["chain_mixing_weights"].to(images.dtype)
        weight_sample = transformation["weight_sample"].to(images.dtype)
        mixed = torch.zeros_like(images)
        for k, chain in enumerate(transformation["chain_transforms"]):
            augmented = images
            for step in chain:
                augmented = self._apply_operation(
                    step["layer_name"], augmented, step["transformation"]
                )
            mixed = mixed + augmented * weights[k]
        out = weight_sample * images + (1.0 - weight_sample) * mixed
        return torch.clamp(out, *self._range)

    def get_config(self):
        config = {
            **super().get_config(),
            "value_range": self.value_range,
            "num_chains": self.num_chains,
            "chain_depth": self.chain_depth,
            "factor": self.factor,
            "alpha": self.alpha,
            "all_ops": self.all_ops,
            "interpolation": self.interpolation,
        }
        return im.keras_key_order(config, ("seed",))


class Pipeline(Layer):
    """Applies a list of layers in order, as a single layer.

    Like a `Sequential` model without being a model: the natural home of an augmentation
    pipeline, inside a model or on each batch of a dataset. Each layer receives the
    previous one's output (a tensor, or a dict `{"images": ..., "labels": ...}` for the
    layers that take one) and the pipeline's `training` flag. Called directly without
    `training`, the pipeline runs in training mode (its layers augment), as Keras's does;
    inside a model it follows the model (`fit` augments, `predict` does not).

    Args:
        layers: a list of layers.
        name: the layer's name.

    Example:
        >>> import torch
        >>> from convolve.layers import Pipeline, RandomFlip, Rescaling
        >>> pipeline = Pipeline([Rescaling(1 / 255), RandomFlip("horizontal", seed=0)])
        >>> x = torch.full((1, 2, 2, 1), 255.0)
        >>> pipeline(x).flatten().tolist()
        [1.0, 1.0, 1.0, 1.0]
        >>> [type(layer).__name__ for layer in pipeline.layers]
        ['Rescaling', 'RandomFlip']
    """

    def __init__(self, layers: Sequence[Layer], name: str | None = None) -> None:
        ok = isinstance(layers, Sequence) and not isinstance(layers, str)
        if not ok or not all(isinstance(layer, Layer) for layer in layers):
            raise ValueError(
                f"Pipeline: layers must be a list of layers, received layers={layers!r}"
            )
        super().__init__(name=name)
        self._pipeline_layers = nn.ModuleList(layers)

    @property
    def layers(self) -> list[Layer]:
        return list(self._pipeline_layers)

    def build(self, input_shape: Any) -> None:
        for layer in self._pipeline_layers:
            layer.build_for(input_shape)
            input_shape = layer.compute_output_shape(input_shape)

    def call(self, inputs: Any, training: bool = True) -> Any:
        for layer in self._pipeline_layers:
            if layer._call_takes_training:
                inputs = layer(inputs, training=training)
            else:
                inputs = layer(inputs)
        return inputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        for layer in self._pipeline_layers:
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    def get_config(self) -> dict[str, Any]:
        from convolve.saving.keras_objects import serialize_keras_object

        return {"layers": serialize_keras_object(self.layers), "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Pipeline:
        layers = config.get("layers")
        if not isinstance(layers, list | tuple):
            raise ValueError(
                "Pipeline: the config must hold a list of serialized layers under 'layers'; "
                f"received layers={layers!r}"
            )
        return cls([deserialize_child(entry) for entry in layers], name=config.get("name"))
