"""Weight initializers with Keras's names, defaults and fan rules.

An initializer is called with a Keras-layout shape (e.g. conv kernels as
`(*kernel_size, in, out)`) and returns a tensor in that layout; layers permute it into
torch's layout once, at build time.
"""

from __future__ import annotations

import math
import random as python_random
from typing import Any

import numpy as np
import torch


def compute_fans(
    shape: tuple[int, ...], input_axes: Any = None, output_axes: Any = None
) -> tuple[int, int]:
    """Keras's fan-in and fan-out: the receptive field multiplies the last two axes, or,
    with both `input_axes` and `output_axes` given, the products of those axes."""
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: `initializer(shape, dtype)` returns a new tensor."""

    def __call__(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        return cls(**config)


class _Seeded(Initializer):
    def __init__(self, seed: int | None = None) -> None:
        if seed is not None and not isinstance(seed, int):
            raise ValueError(f"{type(self).__name__}: `seed` must be an int or None, got {seed!r}")
        self._init_seed = seed
        # Without a seed, one is drawn now from Python's `random`, as Keras draws it when
        # the initializer is made: after `set_random_seed`, a model built in the same
        # order starts from Keras's weights. Every call then gives the same values.
        self.seed = python_random.randint(1, int(1e9)) if seed is None else seed

    def _generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self._init_seed}


class Zeros(Initializer):
    def __call__(self, shape, dtype=torch.float32):
        return torch.zeros(shape, dtype=dtype)


class Ones(Initializer):
    def __call__(self, shape, dtype=torch.float32):
        return torch.ones(shape, dtype=dtype)


class Constant(Initializer):
    """A constant: a scalar, or an array broadcast to the requested shape (as Keras).

    Args:
        value: A Python number, or an array-like (list, NumPy array, tensor) broadcastable
            to the shapes it is asked for.
    """

    def __init__(self, value: Any = 0.0) -> None:
        self.value = value

    def __call__(self, shape, dtype=torch.float32):
        value = self.value
        if isinstance(value, (int, float, bool)):
            return torch.full(shape, float(value), dtype=dtype)
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu()
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise ValueError(
                f"Constant: `value` must be a number or an array of numbers; received "
                f"value={self.value!r}"
            )
        tensor = torch.as_tensor(array, dtype=dtype)
        try:
            return tensor * torch.ones(shape, dtype=dtype)
        except RuntimeError:
            raise ValueError(
                f"Constant: `value` of shape {tuple(tensor.shape)} cannot be broadcast to "
                f"the requested shape {tuple(shape)}; received value={self.value!r}"
            ) from None

    def get_config(self):
        value = self.value
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        if isinstance(value, np.ndarray):
            # Keras writes arrays as a `__numpy__` entry; `from_config` unwraps it.
            value = {
                "class_name": "__numpy__",
                "config": {"value": value.tolist(), "dtype": str(value.dtype)},
            }
        elif isinstance(value, np.generic):
            value = value.item()
        return {"value": value}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Constant:
        value = config.get("value", 0.0)
        if isinstance(value, dict) and value.get("class_name") in ("__numpy__", "__tensor__"):
            inner = value.get("config", {})
            value = np.asarray(inner.get("value"), dtype=inner.get("dtype"))
        return cls(value)


class RandomNormal(_Seeded):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=torch.float32):
        t = torch.empty(shape, dtype=torch.float32)
        t.normal_(self.mean, self.stddev, generator=self._generator())
        return t.to(dtype)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class RandomUniform(_Seeded):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype=torch.float32):
        t = torch.empty(shape, dtype=torch.float32)
        t.uniform_(self.minval, self.maxval, generator=self._generator())
        return t.to(dtype)

    def get_config(self):
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


def _truncated_normal(shape, mean, stddev, generator, device=None) -> torch.Tensor:
    """Normal values truncated at two standard deviations, drawn as Keras's torch backend
    draws them (so a seed gives Keras's values): four standard normals per value, of which
    the first inside (-2, 2) is kept (the first of the four when none is). float32, on
    `device` (the CPU by default).
    """
    draws = torch.normal(
        0.0, 1.0, size=(*shape, 4), generator=generator, dtype=torch.float32, device=device
    )
    first_inside = ((draws > -2) & (draws < 2)).max(-1, keepdim=True)[1]
    return draws.gather(-1, first_inside).squeeze(-1).mul_(stddev).add_(mean)


class TruncatedNormal(RandomNormal):
    def __call__(self, shape, dtype=torch.float32):
        return _truncated_normal(shape, self.mean, self.stddev, self._generator()).to(dtype)


class VarianceScaling(_Seeded):
    """Keras's variance scaling: the family behind Glorot, He and LeCun."""

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
        input_axes: Any = None,
        output_axes: Any = None,
    ) -> None:
        super().__init__(seed)
        self.input_axes, self.output_axes = input_axes, output_axes
        if scale <= 0.0:
            raise ValueError(f"VarianceScaling: `scale` must be positive, got scale={scale!r}")
        if mode not in self._MODES:
            raise ValueError(f"VarianceScaling: `mode` must be one of {self._MODES}, got {mode!r}")
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(
                f"VarianceScaling: `distribution` must be one of {self._DISTRIBUTIONS}, "
                f"got {distribution!r}"
            )
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype=torch.float32):
        fan_in, fan_out = compute_fans(tuple(shape), self.input_axes, self.output_axes)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}
        scale = self.scale / max(1.0, fan[self.mode])
        gen = self._generator()
        if self.distribution == "truncated_normal":
            # Standard deviation of a unit normal truncated to [-2, 2].
            stddev = math.sqrt(scale) / 0.87962566103423978
            return _truncated_normal(shape, 0.0, stddev, gen).to(dtype)
        t = torch.empty(shape, dtype=torch.float32)
        if self.distribution == "untruncated_normal":
            return t.normal_(0.0, math.sqrt(scale), generator=gen).to(dtype)
        limit = math.sqrt(3.0 * scale)
        return t.uniform_(-limit, limit, generator=gen).to(dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


def _variance_preset(name: str, scale: float, mode: str, distribution: str) -> type:
    def __init__(
        self, seed: int | None = None, input_axes: Any = None, output_axes: Any = None
    ) -> None:
        VarianceScaling.__init__(self, scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self):
        return {
            "seed": self._init_seed,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config})


GlorotUniform = _variance_preset("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variance_preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _variance_preset("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _variance_preset("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _variance_preset("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _variance_preset("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(_Seeded):
    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape, dtype=torch.float32):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: needs a shape of rank >= 2, got shape={tuple(shape)}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        flat = torch.empty(max(rows, cols), min(rows, cols)).normal_(generator=self._generator())
        q, r = torch.linalg.qr(flat)
        q = q * torch.sign(torch.diagonal(r))
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).to(dtype)

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


class Identity(Initializer):
    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def __call__(self, shape, dtype=torch.float32):
        if len(shape) != 2:
            raise ValueError(f"Identity: needs a 2D shape, got shape={tuple(shape)}")
        return self.gain * torch.eye(*shape, dtype=dtype)

    def get_config(self):
        return {"gain": self.gain}


_CLASSES = {
    cls.__name__: cls
    for cls in (
        Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling,
        GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal,
        Orthogonal, Identity,
    )
}  # fmt: skip
_ALIASES = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
    "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal, "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal, "orthogonal": Orthogonal,
    "identity": Identity,
    # Keras's short aliases
    "normal": RandomNormal, "uniform": RandomUniform, "one": Ones, "zero": Zeros,
}  # fmt: skip

# Keras's lowercase names, bound to the classes: `initializers.he_normal()` is a HeNormal.
zeros, ones, constant = Zeros, Ones, Constant
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, orthogonal, identity = VarianceScaling, Orthogonal, Identity
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_uniform, he_normal = HeUniform, HeNormal
lecun_uniform, lecun_normal = LecunUniform, LecunNormal
OrthogonalInitializer, IdentityInitializer = Orthogonal, Identity  # Keras's longer names


def get(identifier: Any) -> Initializer:
    """Resolves an initializer given by name, config dict, class or instance."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(
                f"Unknown initializer {identifier!r}. Known names: {', '.join(sorted(_ALIASES))}."
            )
        return cls()
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name", ""))
        if cls is None:
            raise ValueError(f"Unknown initializer config: {identifier!r}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return _CallableInitializer(identifier)
    raise ValueError(f"Could not interpret initializer: {identifier!r}")


class _CallableInitializer(Initializer):
    """Wraps a plain function `fn(shape, dtype=None)` returning an array or tensor."""

    def __init__(self, fn) -> None:
        self.fn = fn

    def __call__(self, shape, dtype=torch.float32):
        return torch.as_tensor(self.fn(tuple(shape), dtype=dtype), dtype=dtype)


def serialize(initializer: Initializer) -> dict[str, Any]:
    """Keras's entry for an initializer: module, class name, config and registered name."""
    from convolve.saving.objects import serialize_object  # the saving package imports this

    return serialize_object(initializer, "keras.initializers")


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None):
    """Rebuilds an initializer from `serialize`'s (or Keras's) `{"class_name", "config"}`.

    Args:
        config: The serialised initializer (Keras's `module`/`registered_name` keys are
            ignored), or a name such as `"he_normal"`.
        custom_objects: Extra names to initializer classes.

    Returns:
        An `Initializer`.
    """
    custom = dict(custom_objects or {})
    if isinstance(config, str):
        if config in custom:
            return get(custom[config])
        return get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            "Cannot deserialize initializer: expected a name or a dict with 'class_name'; "
            f"received config={config!r}"
        )
    name = config["class_name"]
    cls = custom.get(config.get("registered_name") or name) or custom.get(name)
    cls = cls or _CLASSES.get(name) or _ALIASES.get(name)
    if cls is None:
        raise ValueError(
            f"Unknown initializer class_name={name!r}; known: {sorted(_CLASSES)}. Pass "
            "custom classes with `custom_objects`."
        )
    return cls.from_config(dict(config.get("config") or {}))
