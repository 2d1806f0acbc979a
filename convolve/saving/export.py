"""Exporting a model as plain PyTorch: `to_torch`, TorchScript, `torch.export` and ONNX.

`to_torch` traces the model with `torch.export` in inference mode and returns the result
as an ordinary `nn.Module`: channels-last inputs in, channels-last outputs out, a forward
made only of torch operators (the layout conversions included), weights copied, so it runs
without convolve installed. The batch dimension stays dynamic where the model allows.
"""

from __future__ import annotations

import importlib.util
import io
import os
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from convolve.saving.atomic import atomic_path, write_bytes_atomic

FORMATS = ("torch_export", "torchscript", "onnx")


class _Inference(nn.Module):
    """Calls a convolve model in inference mode on positional inputs."""

    def __init__(self, model: nn.Module, n_inputs: int) -> None:
        super().__init__()
        self.model = model
        self.n_inputs = n_inputs

    def forward(self, *inputs: torch.Tensor) -> Any:
        return self.model(inputs[0] if self.n_inputs == 1 else list(inputs), training=False)


def _example_inputs(model: Any, input_signature: Any) -> tuple[torch.Tensor, ...]:
    device = next(iter(model.parameters()), torch.zeros(())).device
    if input_signature is not None:
        items = input_signature if isinstance(input_signature, list | tuple) else [input_signature]
        if items and all(isinstance(d, int) or d is None for d in items):
            items = [items]  # one shape
        examples = []
        for item in items:
            if isinstance(item, torch.Tensor):
                examples.append(item.to(device))
            elif hasattr(item, "shape") and hasattr(item, "dtype"):
                examples.append(torch.as_tensor(item, device=device))
            else:
                shape = [2 if d is None else int(d) for d in item]
                examples.append(torch.zeros(shape, device=device))
        return tuple(examples)
    try:
        shapes = [t.shape for t in model.inputs]
    except AttributeError:
        raise ValueError(
            f"Model '{model.name}' has no known input shape; pass input_signature "
            "(shapes or example arrays)."
        ) from None
    if any(d is None for shape in shapes for d in shape[1:]):
        raise ValueError(
            f"Model '{model.name}' has inputs with unknown dimensions {shapes}; pass "
            "input_signature with example shapes."
        )
    dtypes = [getattr(t, "dtype", "float32") for t in model.inputs]
    return tuple(
        torch.zeros((2, *shape[1:]), dtype=getattr(torch, dtype, torch.float32), device=device)
        for shape, dtype in zip(shapes, dtypes, strict=True)
    )


def export_program(
    model: Any, input_signature: Any = None, dynamic_batch: bool = True
) -> tuple[Any, tuple[torch.Tensor, ...]]:
    """`torch.export` of the model in inference mode, with a dynamic batch when possible."""
    examples = _example_inputs(model, input_signature)
    wrapper = _Inference(model, len(examples))
    was_training = model.training
    model.eval()
    try:
        if dynamic_batch:
            batch = torch.export.Dim("batch", min=1)
            dynamic = (tuple({0: batch} for _ in examples),)  # for the *inputs argument
            try:
                return torch.export.export(wrapper, examples, dynamic_shapes=dynamic), examples
            except Exception as err:  # a layer fixes the batch size; export it as given
                warnings.warn(
                    f"Model '{model.name}' could not be exported with a dynamic batch size "
                    f"({type(err).__name__}); exporting for batches of {examples[0].shape[0]}.",
                    stacklevel=3,
                )
        return torch.export.export(wrapper, examples), examples
    finally:
        model.train(was_training)


def to_torch(model: Any, input_signature: Any = None, dynamic_batch: bool = True) -> nn.Module:
    """The model as a plain `nn.Module` whose forward uses only torch operators.

    Args:
        model: a convolve model with known input shapes (else pass `input_signature`).
        input_signature: example input shapes or arrays, one per model input.
        dynamic_batch: keep the batch dimension dynamic.

    Returns:
        An `nn.Module` taking the model's inputs channels-last (as positional arguments)
        and returning its outputs channels-last, with its own copy of the weights. Its
        graph is fixed in inference mode (Dropout off, BatchNormalization on its moving
        statistics) whatever `train()`/`eval()` say.

    Example:
        >>> import torch
        >>> from convolve import layers, models
        >>> model = models.Sequential([layers.Input((8, 8, 3)), layers.Conv2D(4, 3)])
        >>> module = to_torch(model)
        >>> module(torch.zeros(5, 8, 8, 3)).shape
        torch.Size([5, 6, 6, 4])
    """
    program, _ = export_program(model, input_signature, dynamic_batch)
    module = program.module()
    for sub in module.modules():  # its own copy of the weights, detached from the model
        for name, param in list(sub._parameters.items()):
            if param is not None:
                sub._parameters[name] = nn.Parameter(param.detach().clone(), param.requires_grad)
        for name, buffer in list(sub._buffers.items()):
            if buffer is not None:
                sub._buffers[name] = buffer.detach().clone()
    # torch.export forbids train()/eval() on the result; the graph is fixed in inference
    # mode, so restoring nn.Module's methods (which only set flags) is harmless.
    for attr in ("train", "eval"):
        module.__dict__.pop(attr, None)
    module.eval()
    return module


def export_model(
    model: Any,
    filepath: str | os.PathLike,
    format: str = "torch_export",
    verbose: bool | None = None,
    input_signature: Sequence[Any] | None = None,
    dynamic_batch: bool = True,
) -> None:
    """Writes the model for inference without convolve, atomically.

    Args:
        model: the model.
        filepath: the destination file.
        format: `"torch_export"` (a `.pt2` file for `torch.export.load`), `"torchscript"`
            (for `torch.jit.load`) or `"onnx"` (needs the `onnx` package).
        verbose: print where the file went.
        input_signature: example input shapes or arrays, when the model's inputs have
            unknown dimensions.
        dynamic_batch: keep the batch dimension dynamic.
    """
    path = os.fspath(filepath)
    if format not in FORMATS:
        raise ValueError(f"export: format must be one of {FORMATS}, received format={format!r}")
    if format == "onnx":
        _export_onnx(model, path, input_signature, dynamic_batch)
    else:
        buffer = io.BytesIO()
        if format == "torch_export":
            program, _ = export_program(model, input_signature, dynamic_batch)
            torch.export.save(program, buffer)
        else:
            torch.jit.save(_trace(model, _example_inputs(model, input_signature)), buffer)
        write_bytes_atomic(path, buffer.getvalue())
    if verbose:
        print(f"Saved the model as {format} to {path}")


def _trace(model: Any, examples: tuple[torch.Tensor, ...]) -> Any:
    """TorchScript by tracing, which keeps the batch size dynamic through size() calls."""
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*torch.jit.*", DeprecationWarning)
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            return torch.jit.trace(_Inference(model, len(examples)), examples, check_trace=False)
    finally:
        model.train(was_training)


def _export_onnx(model: Any, path: str, input_signature: Any, dynamic_batch: bool) -> None:
    if importlib.util.find_spec("onnx") is None:
        raise ImportError(
            "export(format='onnx') needs the `onnx` package (and `onnxscript` for "
            "torch's current exporter), which is not installed. Install them with "
            "`pip install onnx onnxscript`, or export with format='torch_export' or "
            "'torchscript', which need nothing beyond torch."
        )
    module = to_torch(model, input_signature, dynamic_batch)
    examples = _example_inputs(model, input_signature)
    names = [f"input_{i}" for i in range(len(examples))]
    use_dynamo = importlib.util.find_spec("onnxscript") is not None
    with atomic_path(path) as tmp:
        if use_dynamo:
            shapes = None
            if dynamic_batch:
                batch = torch.export.Dim("batch")
                shapes = tuple({0: batch} for _ in examples)
            program = torch.onnx.export(
                module, tuple(examples), dynamo=True, input_names=names, dynamic_shapes=shapes
            )
            program.save(tmp)
        else:
            axes = {name: {0: "batch"} for name in names} if dynamic_batch else None
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=DeprecationWarning)
                torch.onnx.export(
                    module, examples, tmp, dynamo=False, input_names=names, dynamic_axes=axes
                )
