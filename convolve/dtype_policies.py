"""Dtype policies under `keras.dtype_policies`'s names.

The policy class itself lives in `convolve.mixed_precision`; this module adds Keras's
`FloatDTypePolicy` name and the `get`/`serialize`/`deserialize` helpers. Quantized policies
(`"int8"`, `"float8"`, ...) are refused.

Example:
    >>> from convolve import dtype_policies
    >>> policy = dtype_policies.get("mixed_bfloat16")
    >>> policy.compute_dtype, policy.variable_dtype
    ('bfloat16', 'float32')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from convolve.layers.base import policy_config
from convolve.mixed_precision import DTypePolicy, global_policy

__all__ = ["DTypePolicy", "FloatDTypePolicy", "deserialize", "get", "serialize"]

_QUANTIZATION_MODES = ("int8", "float8", "int4", "gptq", "awq")


class FloatDTypePolicy(DTypePolicy):
    """Keras's former name of a float `DTypePolicy`; the same policy in every respect."""


_CLASSES = {"DTypePolicy": DTypePolicy, "FloatDTypePolicy": FloatDTypePolicy}


def serialize(dtype_policy: DTypePolicy) -> dict[str, Any]:
    """A policy's serialized form, as `keras.dtype_policies.serialize` writes it."""
    if not isinstance(dtype_policy, DTypePolicy):
        raise ValueError(
            f"serialize: expected a DTypePolicy; received dtype_policy={dtype_policy!r}."
        )
    return policy_config(dtype_policy.name, type(dtype_policy).__name__)


def deserialize(config: Mapping[str, Any], custom_objects: Any = None) -> DTypePolicy:
    """Rebuilds a policy from `serialize`'s dict (or a bare `{"name": ...}` config)."""
    del custom_objects
    if not isinstance(config, Mapping):
        raise ValueError(f"deserialize: expected a dict; received config={config!r}.")
    class_name = config.get("class_name", "DTypePolicy")
    cls = _CLASSES.get(class_name)
    if cls is None:
        raise ValueError(
            f"deserialize: unknown dtype policy class {class_name!r}; supported: "
            f"{sorted(_CLASSES)}."
        )
    return cls.from_config(dict(config.get("config", config)))


def get(identifier: Any) -> DTypePolicy:
    """A policy from `None` (the global one), a name, a serialized dict or a policy."""
    if identifier is None:
        return global_policy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, Mapping):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier.startswith(_QUANTIZATION_MODES):
            raise NotImplementedError(
                f"Quantized dtype policies are not supported; received {identifier!r}."
            )
        return DTypePolicy(identifier)
    if isinstance(identifier, torch.dtype):
        return DTypePolicy(str(identifier).removeprefix("torch."))
    raise ValueError(
        "Cannot interpret `dtype` argument. Expected a string or an instance of "
        f"DTypePolicy. Received: dtype={identifier!r}"
    )
