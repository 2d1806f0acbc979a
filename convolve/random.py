"""Random tensors, as `keras.random`: normal, uniform, dropout, shuffle, ...

Every function takes `seed`, as Keras's do:

- an int: the same values at every call (a fresh generator seeded with it);
- a `SeedGenerator`: different values at every call, in a sequence that repeats when the
  `SeedGenerator` is created again with the same seed;
- None (the default): the global `SeedGenerator`, as in Keras. It is made at the first
  unseeded draw after `convolve.utils.set_random_seed` or `clear_session` (taking its seed
  from Python's `random`, which `set_random_seed` seeds).

The values are those of Keras's torch backend: each call seeds a fresh `torch.Generator`
as Keras does and samples with the same torch functions (in compiled code an unseeded call
draws from torch's global generator instead, as a generator object would break the
graph). Results are torch tensors on `convolve.config.device()` (those that
transform a tensor: on that tensor's device). Float results default to
`convolve.config.floatx()`.

Example:
    >>> from convolve import random
    >>> x = random.normal((2, 3), seed=1)
    >>> bool((x == random.normal((2, 3), seed=1)).all()), x.dtype
    (True, torch.float32)
    >>> gen = random.SeedGenerator(7)
    >>> bool((random.uniform((3,), seed=gen) == random.uniform((3,), seed=gen)).all())
    False
"""

from __future__ import annotations

import functools
import random as python_random
from collections.abc import Sequence
from typing import Any

import rich.style  # noqa: F401  (see below)
import torch

from convolve import config
from convolve.initializers import _truncated_normal
from convolve.layers.naming import unique_name
from convolve.ops._dtypes import standardize_dtype, to_torch_dtype
from convolve.ops.core import as_tensor

# Keras loads `rich` when it is imported, and `rich` takes one number from Python's `random`
# as it loads. Loading it with this module puts that draw before any `set_random_seed`, as in
# Keras, so that a `summary()` printed between two models leaves the initializer seeds of the
# second (drawn from Python's `random`) equal to Keras's.

__all__ = [
    "SeedGenerator",
    "beta",
    "binomial",
    "categorical",
    "dropout",
    "gamma",
    "normal",
    "randint",
    "shuffle",
    "truncated_normal",
    "uniform",
]


class SeedGenerator:
    """A seed whose draws differ at each call, as `keras.random.SeedGenerator`.

    Passed as `seed=` to the functions of `convolve.random`, it gives each call a fresh
    `torch.Generator` seeded with the seed plus the number of calls so far, as Keras's torch
    backend does: the same seeds draw Keras's values.

    Args:
        seed: The initial seed. None picks one from Python's `random` module (as Keras
            does), which `convolve.utils.set_random_seed` seeds.
        name: The generator's name; unique by default (`seed_generator`, ...).

    Raises:
        ValueError: If `seed` is not an int or None, or for an unknown keyword.

    Example:
        >>> from convolve import random
        >>> a = random.normal((2,), seed=random.SeedGenerator(42))
        >>> b = random.normal((2,), seed=random.SeedGenerator(42))
        >>> bool((a == b).all())
        True
    """

    def __init__(self, seed: int | None = None, name: str | None = None, **kwargs: Any) -> None:
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments: {kwargs}")
        self.name = name or unique_name("seed_generator")
        self._initial_seed = seed
        if seed is None:
            seed = python_random.randint(1, int(1e9))
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"Argument `seed` must be an integer. Received: seed={seed}")
        self.seed = seed
        self._draws = 0

    # How the draws of `generator` move the state (see `_advance`).
    _ordered_draws = True

    @property
    def state(self) -> torch.Tensor:
        """Keras's state: the seed and the number of draws so far."""
        return torch.tensor([self.seed, self._draws])

    def next(self, ordered: bool = True) -> torch.Tensor:
        """The state for one draw, then moves on (Keras's `SeedGenerator.next`)."""
        state = self.state
        self._advance(ordered)
        return state

    def generator(self, device: torch.device) -> torch.Generator:
        """A fresh generator for one draw, seeded as Keras's torch backend seeds it (the
        two numbers of the state summed), so a sequence of draws repeats Keras's."""
        found = torch.Generator(device=device)
        found.manual_seed((self.seed + self._draws) & 0xFFFFFFFF)
        self._advance(self._ordered_draws)
        return found

    def _advance(self, ordered: bool) -> None:
        """Keras's step of the state: counts a draw, or (unordered) moves both numbers by
        `(v + 1) * 5387 % 933199` in int32 arithmetic. A tracing pass does not count."""
        if _tracing():
            return
        if ordered:
            self._draws += 1
        else:
            self.seed, self._draws = _unordered_step(self.seed), _unordered_step(self._draws)

    def get_config(self) -> dict[str, Any]:
        """`{"seed": ..., "name": ...}`, the arguments it was created with."""
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SeedGenerator:
        """A new generator from `get_config()`: it draws the same sequence again."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<SeedGenerator name={self.name!r} seed={self.seed}>"


Seed = int | SeedGenerator | None


class _GlobalSeedGenerator(SeedGenerator):
    """Keras's global generator, whose draws step its state unordered, as Keras's
    `draw_seed(None)` does."""

    _ordered_draws = False


def _unordered_step(value: int) -> int:
    product = (value + 1) * 5387
    wrapped = (product + 2**31) % 2**32 - 2**31  # as the int32 tensor product wraps
    return wrapped % 933199


def layer_seed_generators(module: Any) -> list[tuple[str, Any, SeedGenerator]]:
    """`(name, layer, generator)` for each layer in `module` (a torch module tree) that
    holds a `SeedGenerator` as `seed_generator`: dropout, noise, attention, augmentation."""
    return [
        (name, layer, layer.__dict__["seed_generator"])
        for name, layer in module.named_modules()
        if isinstance(layer.__dict__.get("seed_generator"), SeedGenerator)
    ]


_global_seed_generator: SeedGenerator | None = None


def global_seed_generator() -> SeedGenerator:
    """The `SeedGenerator` that unseeded random functions draw from (Keras's global one),
    made at the first such draw after `set_random_seed` or `clear_session`."""
    global _global_seed_generator
    if _global_seed_generator is None:
        _global_seed_generator = _GlobalSeedGenerator()
    return _global_seed_generator


def reset_global_seed_generator() -> None:
    """Drops the global `SeedGenerator`; the next unseeded draw makes a new one."""
    global _global_seed_generator
    _global_seed_generator = None


def _tracing() -> bool:
    """Whether a layer or model runs only to find its shapes or build its weights (the
    `stateless` pass). Keras runs those on symbolic tensors, where a random function draws
    no seed: the seed generators keep their state, and no global one is made (making it
    would take a number from Python's `random`, moving the seeds of later initializers)."""
    from convolve.layers.base import _STATELESS  # here: the layers import this module

    return _STATELESS.get()


def _generator(seed: Seed, device: torch.device) -> torch.Generator | None:
    """The generator a `seed` argument stands for on `device` (None: torch's global one,
    in compiled code only)."""
    if seed is None:
        if torch.compiler.is_compiling():
            return None
        if _tracing():
            return torch.Generator(device=device)  # values that nothing keeps
        return global_seed_generator().generator(device)
    if isinstance(seed, SeedGenerator):
        return seed.generator(device)
    if isinstance(seed, int) and not isinstance(seed, bool):
        return SeedGenerator(seed, name="int_seed").generator(device)  # new: same draws
    raise ValueError(
        "Argument `seed` must be either an integer or an instance of `SeedGenerator`. "
        f"Received: seed={seed} (of type {type(seed)})"
    )


def _shape(shape: int | Sequence[int], function: str) -> tuple[int, ...]:
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in dims):
        raise ValueError(
            f"{function}: `shape` must hold non-negative ints; received shape={shape!r}"
        )
    return dims


def _dtype(dtype: Any, kind: str | None, function: str) -> torch.dtype:
    """`dtype` (floatx when None) as a torch dtype, checked to be of `kind` ("float", "int")."""
    name = standardize_dtype(config.floatx() if dtype is None else dtype)
    if kind == "float" and "float" not in name:
        raise ValueError(
            f"`random.{function}` requires a floating point `dtype`. Received: dtype={dtype}"
        )
    if kind == "int" and "int" not in name:
        raise ValueError(
            f"`random.{function}` requires an integer `dtype`. Received: dtype={dtype}"
        )
    return to_torch_dtype(name)


def _parameter(value: Any, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """A distribution parameter broadcast to `shape`, on the default device."""
    return as_tensor(value).to(config.device(), dtype).broadcast_to(shape)


def _sampling_dtype(dtype: torch.dtype) -> torch.dtype:
    # Samplers run in float32 (float64 when asked for); half types are cast afterwards.
    return torch.float64 if dtype == torch.float64 else torch.float32


def _draw(
    sampler: Any, shape: Any, dtype: Any, kind: str, seed: Seed, function: str
) -> torch.Tensor:
    """`sampler(dims, generator=, dtype=, device=)` (a torch factory) on the default device."""
    dims, torch_dtype = _shape(shape, function), _dtype(dtype, kind, function)
    device = config.device()
    return sampler(dims, generator=_generator(seed, device), dtype=torch_dtype, device=device)


def normal(
    shape: Sequence[int],
    mean: float = 0.0,
    stddev: float = 1.0,
    dtype: Any = None,
    seed: Seed = None,
) -> torch.Tensor:
    """Samples of a normal distribution with mean `mean` and standard deviation `stddev`."""
    return _draw(torch.randn, shape, dtype, "float", seed, "normal") * stddev + mean


def uniform(
    shape: Sequence[int],
    minval: float = 0.0,
    maxval: float = 1.0,
    dtype: Any = None,
    seed: Seed = None,
) -> torch.Tensor:
    """Samples of a uniform distribution on `[minval, maxval)`; `dtype` must be a float type."""
    unit = _draw(torch.rand, shape, dtype, "float", seed, "uniform")
    return (maxval - minval) * unit + minval


def truncated_normal(
    shape: Sequence[int],
    mean: float = 0.0,
    stddev: float = 1.0,
    dtype: Any = None,
    seed: Seed = None,
) -> torch.Tensor:
    """Samples of a normal distribution cut at two standard deviations from the mean."""
    torch_dtype = _dtype(dtype, "float", "truncated_normal")
    dims, device = _shape(shape, "truncated_normal"), config.device()
    values = _truncated_normal(dims, mean, stddev, _generator(seed, device), device)
    return values.to(torch_dtype)


def randint(
    shape: Sequence[int],
    minval: int,
    maxval: int,
    dtype: Any = "int32",
    seed: Seed = None,
) -> torch.Tensor:
    """Integers drawn uniformly from `[minval, maxval)`; `dtype` must be an integer type."""
    sampler = functools.partial(torch.randint, minval, maxval)
    return _draw(sampler, shape, dtype, "int", seed, "randint")


def categorical(
    logits: Any, num_samples: int, dtype: Any = "int32", seed: Seed = None
) -> torch.Tensor:
    """Class indices drawn from the softmax of each row of `logits`.

    Args:
        logits: `(batch_size, num_classes)` unnormalised log-probabilities.
        num_samples: Draws per row (with replacement).
        dtype: The integer dtype of the result.
        seed: See the module's docstring.

    Returns:
        A `(batch_size, num_samples)` tensor of class indices.
    """
    logits = as_tensor(logits)
    if logits.ndim != 2:
        raise ValueError(
            "`logits` should be a 2-D tensor with shape [batch_size, num_classes]. "
            f"Received: logits={logits}"
        )
    probabilities = torch.softmax(logits.to(_sampling_dtype(logits.dtype)), dim=-1)
    samples = torch.multinomial(
        probabilities, num_samples, replacement=True, generator=_generator(seed, logits.device)
    )
    return samples.to(_dtype(dtype, "int", "categorical"))


def dropout(
    inputs: Any, rate: float, noise_shape: Sequence[int | None] | None = None, seed: Seed = None
) -> torch.Tensor:
    """Zeroes each element with probability `rate` and scales the rest by `1 / (1 - rate)`.

    Args:
        inputs: The tensor.
        rate: The probability of dropping an element, in `[0, 1]`.
        noise_shape: The shape of the keep/drop mask, broadcast over `inputs` (None entries
            take the size of `inputs`); by default, `inputs`'s shape.
        seed: See the module's docstring.
    """
    x = as_tensor(inputs)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"dropout: `rate` must be in [0, 1]; received rate={rate!r}")
    if rate == 1.0:
        return torch.zeros_like(x)
    if rate == 0.0:
        return x
    if noise_shape is None and (
        seed is None or (isinstance(seed, SeedGenerator) and seed._initial_seed is None)
    ):
        # Unseeded: torch's own dropout on its global generator, as Keras's torch backend
        # does (its "fast path"), so the global random stream advances as in Keras.
        return torch.nn.functional.dropout(x, rate, training=True)
    keep = 1.0 - rate
    shape = x.shape if noise_shape is None else noise_shape
    shape = [x.shape[i] if size is None else size for i, size in enumerate(shape)]
    probabilities = torch.full(shape, keep, device=x.device)
    kept = torch.bernoulli(probabilities, generator=_generator(seed, x.device)).bool()
    return torch.where(kept, x / keep, torch.zeros_like(x))


def shuffle(x: Any, axis: int = 0, seed: Seed = None) -> torch.Tensor:
    """`x` with its entries along `axis` in random order.

    As on Keras's torch backend, slices along later axes move together, and each position
    along earlier axes gets its own order.
    """
    x = as_tensor(x)
    axis = axis % x.ndim
    keys = torch.rand(x.shape[: axis + 1], generator=_generator(seed, x.device), device=x.device)
    order = keys.argsort(dim=axis)
    order = order.reshape(order.shape + (1,) * (x.ndim - axis - 1)).expand(x.shape)
    return x.gather(axis, order)


def gamma(shape: Sequence[int], alpha: Any, dtype: Any = None, seed: Seed = None) -> torch.Tensor:
    """Samples of a Gamma distribution with concentration `alpha` and rate 1."""
    dims, torch_dtype = _shape(shape, "gamma"), _dtype(dtype, "float", "gamma")
    concentration = _parameter(alpha, dims, _sampling_dtype(torch_dtype))
    # torch's own sampler, as torch.distributions.Gamma uses, but with a generator.
    generator = _generator(seed, concentration.device)
    return torch._standard_gamma(concentration, generator=generator).to(torch_dtype)


def binomial(
    shape: Sequence[int], counts: Any, probabilities: Any, dtype: Any = None, seed: Seed = None
) -> torch.Tensor:
    """Successes in `counts` trials of probability `probabilities` (broadcast to `shape`)."""
    dims, torch_dtype = _shape(shape, "binomial"), _dtype(dtype, None, "binomial")
    sampling = _sampling_dtype(torch_dtype)
    count = _parameter(counts, dims, sampling)
    probability = _parameter(probabilities, dims, sampling)
    generator = _generator(seed, count.device)
    return torch.binomial(count, probability, generator=generator).to(torch_dtype)


def beta(
    shape: Sequence[int], alpha: Any, beta: Any, dtype: Any = None, seed: Seed = None
) -> torch.Tensor:
    """Samples of a Beta distribution with parameters `alpha` and `beta`."""
    dims, torch_dtype = _shape(shape, "beta"), _dtype(dtype, "float", "beta")
    sampling = _sampling_dtype(torch_dtype)
    pair = torch.stack([_parameter(alpha, dims, sampling), _parameter(beta, dims, sampling)], -1)
    # A two-class Dirichlet draw, as torch.distributions.Beta samples, but with a generator.
    generator = _generator(seed, pair.device)
    return torch._sample_dirichlet(pair, generator=generator)[..., 0].to(torch_dtype)
