"""ImageNet helpers shared by the applications: input preprocessing, decoding predictions,
and the input-shape rules every architecture applies.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from convolve import activations
from convolve.applications.weights import get_file

__all__ = ["decode_predictions", "obtain_input_shape", "preprocess_input"]

CLASS_INDEX: dict[str, list[str]] | None = None
CLASS_INDEX_PATH = (
    "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
)
CLASS_INDEX_HASH = "c2c37ea517e94d9795004a39431a14cb"  # Keras's pin (MD5)

_MODES = ("caffe", "tf", "torch")
_CAFFE_MEAN = (103.939, 116.779, 123.68)  # BGR
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)


def preprocess_input(x: Any, data_format: str | None = None, mode: str = "caffe") -> Any:
    """Preprocesses a batch of images (pixel values in [0, 255]) the way a network expects.

    Args:
        x: a 3D or 4D NumPy array or torch tensor with 3 colour channels. A float NumPy
            array is modified in place, as in Keras (pass `np.copy(x)` to keep it); a tensor
            is not.
        data_format: `"channels_last"` (the default, also for None) or `"channels_first"`.
        mode: `"caffe"`: RGB to BGR, then subtract the ImageNet mean of each channel;
            `"tf"`: scale to [-1, 1]; `"torch"`: scale to [0, 1], then subtract the ImageNet
            mean and divide by its standard deviation, per channel.

    Returns:
        The preprocessed array (float32 if `x` was an integer array) or tensor.

    Example:
        >>> import numpy as np
        >>> from convolve.applications import imagenet_utils
        >>> x = np.full((1, 2, 2, 3), 255.0, dtype="float32")
        >>> imagenet_utils.preprocess_input(x, mode="tf")[0, 0, 0].tolist()
        [1.0, 1.0, 1.0]
    """
    if mode not in _MODES:
        raise ValueError(
            f"Expected mode to be one of `caffe`, `tf` or `torch`. Received: mode={mode}"
        )
    if data_format is None:
        data_format = "channels_last"
    elif data_format not in ("channels_first", "channels_last"):
        raise ValueError(
            "Expected data_format to be one of `channels_first` or `channels_last`. "
            f"Received: data_format={data_format}"
        )
    if isinstance(x, torch.Tensor):
        return _preprocess_tensor(x, data_format, mode)
    if not isinstance(x, np.ndarray):
        if hasattr(x, "_keras_history"):
            raise TypeError(
                "preprocess_input takes arrays or tensors, not symbolic model inputs; inside a "
                "model use layers such as Rescaling instead."
            )
        x = np.asarray(x)
    return _preprocess_numpy(x, data_format, mode)


def preprocess_caffe(x: Any, data_format: str | None = None) -> Any:
    """RGB images in [0, 255] to BGR, minus the ImageNet mean pixel (VGG, ResNet).

    Example:
        >>> import numpy as np
        >>> from convolve.applications import vgg16
        >>> vgg16.preprocess_input(np.zeros((1, 1, 1, 3), "float32"))[0, 0, 0].tolist()
        [-103.93900299072266, -116.77899932861328, -123.68000030517578]
    """
    return preprocess_input(x, data_format=data_format, mode="caffe")


def preprocess_tf(x: Any, data_format: str | None = None) -> Any:
    """Images in [0, 255] scaled to [-1, 1] (MobileNetV2)."""
    return preprocess_input(x, data_format=data_format, mode="tf")


def preprocess_torch(x: Any, data_format: str | None = None) -> Any:
    """Images in [0, 255] scaled to [0, 1], then standardized per channel (DenseNet)."""
    return preprocess_input(x, data_format=data_format, mode="torch")


def _channel_view(x: Any, data_format: str) -> tuple[int, tuple[int, ...]]:
    """The channel axis of `x` and the shape a per-channel constant broadcasts with."""
    if data_format == "channels_first":
        axis = 0 if x.ndim == 3 else 1
    else:
        axis = x.ndim - 1
    shape = [1] * x.ndim
    shape[axis] = -1
    return axis, tuple(shape)


def _preprocess_numpy(x: np.ndarray, data_format: str, mode: str) -> np.ndarray:
    if not issubclass(x.dtype.type, np.floating):
        x = x.astype("float32", copy=False)
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    axis, shape = _channel_view(x, data_format)
    if mode == "torch":
        x /= 255.0
        x -= np.reshape(np.asarray(_TORCH_MEAN, x.dtype), shape)
        x /= np.reshape(np.asarray(_TORCH_STD, x.dtype), shape)
        return x
    x = np.flip(x, axis=axis)  # RGB -> BGR, a view as in Keras
    x -= np.reshape(np.asarray(_CAFFE_MEAN, x.dtype), shape)
    return x


def _preprocess_tensor(x: torch.Tensor, data_format: str, mode: str) -> torch.Tensor:
    if not x.is_floating_point():
        x = x.to(torch.float32)
    if mode == "tf":
        return x / 127.5 - 1.0
    axis, shape = _channel_view(x, data_format)
    if mode == "torch":
        mean = torch.tensor(_TORCH_MEAN, dtype=x.dtype, device=x.device).reshape(shape)
        std = torch.tensor(_TORCH_STD, dtype=x.dtype, device=x.device).reshape(shape)
        return (x / 255.0 - mean) / std
    mean = torch.tensor(_CAFFE_MEAN, dtype=x.dtype, device=x.device).reshape(shape)
    return torch.flip(x, dims=(axis,)) - mean


def _class_index() -> dict[str, list[str]]:
    global CLASS_INDEX
    if CLASS_INDEX is None:
        path = get_file("imagenet_class_index.json", CLASS_INDEX_PATH, file_hash=CLASS_INDEX_HASH)
        with open(path, encoding="utf8") as f:
            CLASS_INDEX = json.load(f)
    return CLASS_INDEX


def decode_predictions(preds: Any, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """The `top` ImageNet classes of each prediction, best first.

    The class index (`imagenet_class_index.json`) is downloaded into the weights cache the
    first time, like the weight files (see `convolve.applications.weights`).

    Args:
        preds: predictions of shape `(samples, 1000)` (array or tensor).
        top: how many classes to return per sample.

    Returns:
        One list per sample of `(class_name, class_description, score)` tuples.

    Raises:
        ValueError: `preds` is not of shape `(samples, 1000)`.
    """
    if isinstance(preds, torch.Tensor):
        preds = preds.detach().cpu().numpy()
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError(
            "`decode_predictions` expects a batch of predictions (i.e. a 2D array of shape "
            f"(samples, 1000)). Received array with shape: {preds.shape}"
        )
    index = _class_index()
    results = []
    for pred in preds:
        top_indices = pred.argsort()[-top:][::-1]
        result = [(*index[str(i)], pred[i]) for i in top_indices]
        result.sort(key=lambda r: r[2], reverse=True)
        results.append(result)
    return results


def obtain_input_shape(
    input_shape: Sequence[int | None] | None,
    default_size: int,
    min_size: int,
    require_flatten: bool,
    weights: Any = None,
) -> tuple[int | None, ...]:
    """The (channels-last) input shape of an application, validated as Keras does.

    Args:
        input_shape: the shape the user asked for, or None.
        default_size: the network's default height and width.
        min_size: the smallest height and width it accepts.
        require_flatten: whether the classifier is included (then the shape must be static,
            and exactly the default one with ImageNet weights).
        weights: `"imagenet"`, None or a path.

    Example:
        >>> obtain_input_shape(None, 224, 32, require_flatten=False)
        (None, None, 3)
    """
    if input_shape is not None:
        input_shape = tuple(input_shape)
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        if input_shape[-1] not in {1, 3}:
            warnings.warn(
                "This model usually expects 1 or 3 input channels. However, it was passed an "
                f"input_shape with {input_shape[-1]} input channels.",
                stacklevel=3,
            )
        default_shape = (default_size, default_size, input_shape[-1])
    else:
        default_shape = (default_size, default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and input_shape != default_shape:
            raise ValueError(
                "When setting `include_top=True` and loading `imagenet` weights, "
                f"`input_shape` should be {default_shape}.  Received: input_shape={input_shape}"
            )
        return default_shape
    if input_shape:
        if len(input_shape) != 3:
            raise ValueError(
                f"`input_shape` must be a tuple of three integers. Received: {input_shape}"
            )
        if input_shape[-1] != 3 and weights == "imagenet":
            raise ValueError(
                f"The input must have 3 channels; Received `input_shape={input_shape}`"
            )
        if any(d is not None and d < min_size for d in input_shape[:2]):
            raise ValueError(
                f"Input size must be at least {min_size}x{min_size}; Received: "
                f"input_shape={input_shape}"
            )
    elif require_flatten:
        input_shape = default_shape
    else:
        input_shape = (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError(
            "If `include_top` is True, you should specify a static `input_shape`. "
            f"Received: input_shape={input_shape}"
        )
    return input_shape


def correct_pad(inputs: Any, kernel_size: int | tuple[int, int]) -> tuple:
    """Zero padding that makes a strided 'valid' convolution match TensorFlow's 'same'."""
    input_size = inputs.shape[1:3]
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    if input_size[0] is None:
        adjust = (1, 1)
    else:
        adjust = (1 - input_size[0] % 2, 1 - input_size[1] % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))


def validate_activation(classifier_activation: Any, weights: Any) -> None:
    """Pretrained classifiers take only `softmax` or no activation (logits)."""
    if weights is None:
        return
    fn = activations.get(classifier_activation)
    if fn not in (activations.get("softmax"), activations.get(None)):
        raise ValueError(
            "Only `None` and `softmax` activations are allowed for the `classifier_activation` "
            "argument when using pretrained weights, with `include_top=True`; Received: "
            f"classifier_activation={classifier_activation}"
        )
