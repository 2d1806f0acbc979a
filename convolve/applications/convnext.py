"""ConvNeXtTiny, Small, Base, Large and XLarge (Liu et al., CVPR 2022), as
`keras.applications` builds them: 7x7 depthwise convolutions, layer normalization, an
inverted MLP with GELU, and learned per-channel scaling of each residual branch."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from convolve.applications import _builder, imagenet_utils
from convolve.applications.weights import KERAS_APPLICATIONS, WeightFile
from convolve.initializers import Constant
from convolve.layers.base import Layer
from convolve.layers.convolution import Conv2D
from convolve.layers.core import Activation, Dense
from convolve.layers.normalization import LayerNormalization
from convolve.layers.pooling import GlobalAveragePooling2D, GlobalMaxPooling2D
from convolve.layers.preprocessing import Normalization
from convolve.layers.symbolic import KerasTensor
from convolve.models.model import Model
from convolve.models.sequential import Sequential

__all__ = [
    "ConvNeXtBase",
    "ConvNeXtLarge",
    "ConvNeXtSmall",
    "ConvNeXtTiny",
    "ConvNeXtXLarge",
    "LayerScale",
    "StochasticDepth",
    "decode_predictions",
    "preprocess_input",
]

# Keras's pinned SHA-256 hashes of the weight files: (with top, without).
WEIGHTS_HASHES = {
    "convnext_tiny": (
        "8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff",
        "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1",
    ),
    "convnext_small": (
        "ce1277d8f1ee5a0ef0e171469089c18f5233860ceaf9b168049cb9263fd7483c",
        "6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab",
    ),
    "convnext_base": (
        "52cbb006d3dadd03f6e095a8ca1aca47aecdd75acb4bc74bce1f5c695d0086e6",
        "40a20c5548a5e9202f69735ecc06c990e6b7c9d2de39f0361e27baeb24cb7c45",
    ),
    "convnext_large": (
        "070c5ed9ed289581e477741d3b34beffa920db8cf590899d6d2c67fba2a198a6",
        "96f02b6f0753d4f543261bc9d09bed650f24dd6bc02ddde3066135b63d23a1cd",
    ),
    "convnext_xlarge": (
        "c1f5ccab661354fc3a79a10fa99af82f0fbf10ec65cb894a3ae0815f17a889ee",
        "de3f8a54174130e0cecdc71583354753d557fcf1f4487331558e2a16ba0cfe05",
    ),
}

MODEL_CONFIGS = {
    "tiny": {"depths": [3, 3, 9, 3], "projection_dims": [96, 192, 384, 768]},
    "small": {"depths": [3, 3, 27, 3], "projection_dims": [96, 192, 384, 768]},
    "base": {"depths": [3, 3, 27, 3], "projection_dims": [128, 256, 512, 1024]},
    "large": {"depths": [3, 3, 27, 3], "projection_dims": [192, 384, 768, 1536]},
    "xlarge": {"depths": [3, 3, 27, 3], "projection_dims": [256, 512, 1024, 2048]},
}

_IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
_IMAGENET_VARIANCE = ((0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2)


def weight_file(name: str, weights_name: str, include_top: bool) -> WeightFile:
    """The published ImageNet weights, named after the model (`convnext_tiny.h5`), as Keras
    names them."""
    fname = name + (".h5" if include_top else "_notop.h5")
    file_hash = WEIGHTS_HASHES[weights_name][0 if include_top else 1]
    return WeightFile(fname, f"{KERAS_APPLICATIONS}convnext/{fname}", file_hash)


def _channel_view(weight: torch.Tensor, ndim: int) -> torch.Tensor:
    """A per-channel vector shaped to broadcast on an engine-layout tensor of rank `ndim`."""
    return weight.view(-1, *([1] * (ndim - 2))) if ndim >= 3 else weight


class StochasticDepth(Layer):
    """Drops the whole residual branch of a sample with probability `drop_path_rate` in
    training (scaling the kept ones by `1 / (1 - drop_path_rate)`); the identity otherwise.

    Args:
        drop_path_rate: the probability of dropping a sample's branch.

    Example:
        >>> import torch
        >>> StochasticDepth(0.5)(torch.ones(2, 3)).tolist()
        [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """

    _engine_layout = True

    def __init__(self, drop_path_rate: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if (
            isinstance(drop_path_rate, bool)
            or not isinstance(drop_path_rate, int | float)
            or not 0 <= drop_path_rate < 1
        ):
            raise ValueError(
                f"Layer '{self.name}' (StochasticDepth): `drop_path_rate` must be a number "
                f"in [0, 1). Received: drop_path_rate={drop_path_rate!r}"
            )
        self.drop_path_rate = drop_path_rate

    def call(self, x: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        if training:
            keep_prob = 1 - self.drop_path_rate
            shape = (x.shape[0],) + (1,) * (x.ndim - 1)
            random_tensor = torch.floor(
                keep_prob + torch.rand(shape, dtype=x.dtype, device=x.device)
            )
            return (x / keep_prob) * random_tensor
        return x

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "drop_path_rate": self.drop_path_rate}


class LayerScale(Layer):
    """Multiplies the last (channel) axis by a learned vector `gamma`, which starts at
    `init_values` (Touvron et al., 2021).

    Args:
        init_values: the initial value of every entry of `gamma`.
        projection_dim: the number of channels (the size of `gamma`).

    Example:
        >>> import torch
        >>> LayerScale(0.5, 3)(torch.ones(1, 2, 2, 3))[0, 0, 0].tolist()
        [0.5, 0.5, 0.5]
    """

    _engine_layout = True

    def __init__(self, init_values: float, projection_dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(init_values, bool) or not isinstance(init_values, int | float):
            raise ValueError(
                f"Layer '{self.name}' (LayerScale): `init_values` must be a number. "
                f"Received: init_values={init_values!r}"
            )
        if (
            isinstance(projection_dim, bool)
            or not isinstance(projection_dim, int)
            or (projection_dim < 1)
        ):
            raise ValueError(
                f"Layer '{self.name}' (LayerScale): `projection_dim` must be a positive "
                f"integer. Received: projection_dim={projection_dim!r}"
            )
        self.init_values = init_values
        self.projection_dim = projection_dim

    def build(self, input_shape: Any) -> None:
        self.gamma = self.add_weight(
            shape=(self.projection_dim,), initializer=Constant(self.init_values), name="gamma"
        )

    def call(self, x: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        gamma = self.gamma if self.gamma.dtype == x.dtype else self.gamma.to(x.dtype)
        return x * _channel_view(gamma, x.ndim)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "init_values": self.init_values,
            "projection_dim": self.projection_dim,
        }


_builder.register_application_layer(StochasticDepth)
_builder.register_application_layer(LayerScale)


def convnext_block(
    x: KerasTensor,
    projection_dim: int,
    drop_path_rate: float = 0.0,
    layer_scale_init_value: float | None = 1e-6,
    name: str = "convnext_block",
) -> KerasTensor:
    """Depthwise 7x7, LayerNorm, Dense to 4x, GELU, Dense back, LayerScale, residual add."""
    inputs = x
    x = Conv2D(
        filters=projection_dim, kernel_size=7, padding="same", groups=projection_dim,
        name=f"{name}_depthwise_conv",
    )(x)  # fmt: skip
    x = LayerNormalization(epsilon=1e-6, name=f"{name}_layernorm")(x)
    x = Dense(4 * projection_dim, name=f"{name}_pointwise_conv_1")(x)
    x = Activation("gelu", name=f"{name}_gelu")(x)
    x = Dense(projection_dim, name=f"{name}_pointwise_conv_2")(x)
    if layer_scale_init_value is not None:
        x = LayerScale(layer_scale_init_value, projection_dim, name=f"{name}_layer_scale")(x)
    if drop_path_rate:
        layer: Layer = StochasticDepth(drop_path_rate, name=f"{name}_stochastic_depth")
    else:
        layer = Activation("linear", name=f"{name}_identity")
    return inputs + layer(x)


def ConvNeXt(  # noqa: N802 - Keras's public name
    depths: list[int],
    projection_dims: list[int],
    drop_path_rate: float = 0.0,
    layer_scale_init_value: float | None = 1e-6,
    default_size: int = 224,
    name: str = "convnext",
    include_preprocessing: bool = True,
    include_top: bool = True,
    weights: Any = None,
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    weights_name: str | None = None,
) -> Model:
    """A ConvNeXt with `depths[i]` blocks of width `projection_dims[i]` in stage `i`.

    Args:
        depths: the number of blocks of each of the four stages.
        projection_dims: the channels of each stage.
        drop_path_rate: the stochastic depth rate of the last block (linearly less before).
        layer_scale_init_value: the initial LayerScale value; None leaves LayerScale out.
        default_size: the default input height and width.
        name: the model's name (and the prefix of its layers' names).
        include_preprocessing: normalize the input with ImageNet statistics in the model.
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation: as for `ConvNeXtTiny`.
        weights_name: which published weights `weights="imagenet"` loads
            (`"convnext_tiny"` ...).
    """
    if not (weights in ("imagenet", None) or _builder._is_file(weights)):
        raise ValueError(
            "The `weights` argument should be either `None` (random initialization), "
            "`imagenet` (pre-training on ImageNet), or the path to the weights file to be "
            f"loaded. Received: weights={weights}"
        )
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(
            'If using `weights="imagenet"` with `include_top=True`, `classes` should be '
            f"1000. Received classes={classes}"
        )
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=default_size, min_size=32, require_flatten=include_top,
        weights=weights,
    )  # fmt: skip
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
    if weights == "imagenet":
        variant = MODEL_CONFIGS.get(str(weights_name).split("convnext_")[-1])
        if variant is None:
            raise ValueError(
                f"No ImageNet weights are published for weights_name={weights_name!r}; "
                f"available: {', '.join(WEIGHTS_HASHES)}"
            )
        if (
            list(depths) != variant["depths"]
            or list(projection_dims) != (variant["projection_dims"])
        ):
            raise ValueError(
                f"Architecture configuration does not match {weights_name} variant. When "
                "using pre-trained weights, the model architecture must match the "
                f"pre-trained configuration exactly. Expected depths: {variant['depths']}, "
                f"got: {depths}. Expected projection_dims: {variant['projection_dims']}, "
                f"got: {projection_dims}."
            )
        if weights_name not in name:
            raise ValueError(
                f'Model name "{name}" does not match weights variant "{weights_name}". When '
                "using imagenet weights, model name must contain the weights variant (e.g., "
                f'"convnext_{weights_name.split("convnext_")[-1]}").'
            )
    img_input = _builder.image_input(input_tensor, input_shape)
    x = img_input
    if include_preprocessing and input_shape[2] == 3:
        x = Normalization(
            mean=list(_IMAGENET_MEAN), variance=list(_IMAGENET_VARIANCE),
            name=f"{name}_prestem_normalization",
        )(x)  # fmt: skip
    stem = Sequential(
        [
            Conv2D(projection_dims[0], kernel_size=4, strides=4, name=f"{name}_stem_conv"),
            LayerNormalization(epsilon=1e-6, name=f"{name}_stem_layernorm"),
        ],
        name=f"{name}_stem",
    )
    downsample_layers = [stem]
    for i in range(3):
        downsample_layers.append(
            Sequential(
                [
                    LayerNormalization(epsilon=1e-6, name=f"{name}_downsampling_layernorm_{i}"),
                    Conv2D(
                        projection_dims[i + 1],
                        kernel_size=2,
                        strides=2,
                        name=f"{name}_downsampling_conv_{i}",
                    ),  # fmt: skip
                ],
                name=f"{name}_downsampling_block_{i}",
            )
        )
    depth_drop_rates = [float(r) for r in np.linspace(0.0, drop_path_rate, sum(depths))]
    cur = 0
    for i in range(4):
        x = downsample_layers[i](x)
        for j in range(depths[i]):
            x = convnext_block(
                x, projection_dims[i], depth_drop_rates[cur + j], layer_scale_init_value,
                name=f"{name}_stage_{i}_block_{j}",
            )  # fmt: skip
        cur += depths[i]
    if include_top:
        x = GlobalAveragePooling2D(name=f"{name}_head_gap")(x)
        x = LayerNormalization(epsilon=1e-6, name=f"{name}_head_layernorm")(x)
        x = Dense(classes, activation=classifier_activation, name=f"{name}_head_dense")(x)
    else:
        if pooling == "avg":
            x = GlobalAveragePooling2D()(x)
        elif pooling == "max":
            x = GlobalMaxPooling2D()(x)
        x = LayerNormalization(epsilon=1e-6)(x)
    file = weight_file(name, weights_name, include_top) if weights == "imagenet" else None
    return _builder.finish(img_input, input_tensor, x, name, weights, file, in_order=True)


def _variant(
    size: str,
    name: str,
    include_top: bool,
    include_preprocessing: bool,
    weights: Any,
    input_tensor: Any,
    input_shape: tuple | None,
    pooling: str | None,
    classes: int,
    classifier_activation: Any,
) -> Model:
    config = MODEL_CONFIGS[size]
    return ConvNeXt(
        config["depths"], config["projection_dims"], drop_path_rate=0.0,
        layer_scale_init_value=1e-6, default_size=224, name=name,
        include_preprocessing=include_preprocessing, include_top=include_top, weights=weights,
        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, weights_name=f"convnext_{size}",
    )  # fmt: skip


def ConvNeXtTiny(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    include_preprocessing: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "convnext_tiny",
) -> Model:
    return _variant(
        "tiny", name, include_top, include_preprocessing, weights, input_tensor, input_shape,
        pooling, classes, classifier_activation,
    )  # fmt: skip


def ConvNeXtSmall(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    include_preprocessing: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "convnext_small",
) -> Model:
    return _variant(
        "small", name, include_top, include_preprocessing, weights, input_tensor, input_shape,
        pooling, classes, classifier_activation,
    )  # fmt: skip


def ConvNeXtBase(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    include_preprocessing: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "convnext_base",
) -> Model:
    return _variant(
        "base", name, include_top, include_preprocessing, weights, input_tensor, input_shape,
        pooling, classes, classifier_activation,
    )  # fmt: skip


def ConvNeXtLarge(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    include_preprocessing: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "convnext_large",
) -> Model:
    return _variant(
        "large", name, include_top, include_preprocessing, weights, input_tensor, input_shape,
        pooling, classes, classifier_activation,
    )  # fmt: skip


def ConvNeXtXLarge(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    include_preprocessing: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "convnext_xlarge",
) -> Model:
    return _variant(
        "xlarge", name, include_top, include_preprocessing, weights, input_tensor, input_shape,
        pooling, classes, classifier_activation,
    )  # fmt: skip


_DOC = """The ConvNeXt{size} network: stages of {depths} blocks, {dims} channels.

    The model normalizes its input itself (with ImageNet statistics, unless
    `include_preprocessing=False`): give it float images with values in [0, 255];
    `convnext.preprocess_input` passes them through.

    Args:
        include_top: include the classifier (pooling, layer normalization, dense).
        include_preprocessing: whether the model normalizes its input itself.
        weights: None (random initialization), `"imagenet"` (download Keras's ImageNet
            weights into the cache, see `convolve.applications.weights`), or the path of a
            Keras `.h5` weights file.
        input_tensor: a symbolic tensor (output of `convolve.Input()`) to use as the input.
        input_shape: the input shape, `(height, width, 3)`, at least 32x32. With
            `include_top=True` and ImageNet weights it must be `(224, 224, 3)`.
        pooling: for `include_top=False`: None (4D output), `"avg"` or `"max"`; a layer
            normalization follows in every case, as in Keras.
        classes: the number of classes of the classifier; 1000 with ImageNet weights.
        classifier_activation: the activation of the classifier; None gives logits. With
            pretrained weights only None or `"softmax"`.
        name: the model's name, which prefixes its layers' names (and must contain
            `convnext_{lower}` with ImageNet weights).

    Returns:
        A functional `Model`.
{example}"""
for _fn, _size in (
    (ConvNeXtTiny, "tiny"),
    (ConvNeXtSmall, "small"),
    (ConvNeXtBase, "base"),
    (ConvNeXtLarge, "large"),
    (ConvNeXtXLarge, "xlarge"),
):
    _config = MODEL_CONFIGS[_size]
    _fn.__doc__ = _DOC.format(
        size=_fn.__name__[len("ConvNeXt") :],
        depths=", ".join(map(str, _config["depths"])),
        dims=", ".join(map(str, _config["projection_dims"])),
        lower=_size,
        example=""
        if _size != "tiny"
        else """
    Example:
        >>> from convolve.applications import ConvNeXtTiny
        >>> model = ConvNeXtTiny(weights=None, include_top=False, input_shape=(32, 32, 3))
        >>> model.output_shape, model.count_params()
        ((None, 1, 1, 768), 27820128)
""",
    )


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """Returns `x` unchanged: ConvNeXt normalizes its input inside the model.

    Example:
        >>> from convolve.applications import convnext
        >>> convnext.preprocess_input([255.0])
        [255.0]
    """
    return x


decode_predictions = imagenet_utils.decode_predictions
