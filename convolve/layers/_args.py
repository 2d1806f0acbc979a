"""Argument checks shared by layers: one ValueError that names layer, argument and value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from convolve import activations


def fail(owner: str, argument: str, value: Any, expected: str) -> ValueError:
    return ValueError(f"{owner}: `{argument}` must be {expected}, received {argument}={value!r}")


def positive_int(owner: str, argument: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise fail(owner, argument, value, "a positive integer")
    return value


def rate(owner: str, argument: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise fail(owner, argument, value, "a number in [0, 1]")
    return float(value)


def int_tuple(owner: str, argument: str, value: Any, rank: int, minimum: int = 1) -> tuple:
    """Normalises an int or a tuple of `rank` ints, each at least `minimum`."""
    values = (value,) * rank if isinstance(value, int) and not isinstance(value, bool) else value
    try:
        values = tuple(values)
    except TypeError:
        raise fail(owner, argument, value, f"an int or a tuple of {rank} ints") from None
    if len(values) != rank or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in values
    ):
        raise fail(owner, argument, value, f"an int or a tuple of {rank} ints >= {minimum}")
    return values


def choice(owner: str, argument: str, value: Any, options: tuple[str, ...]) -> str:
    normalized = value.lower() if isinstance(value, str) else value
    if normalized not in options:
        raise fail(owner, argument, value, f"one of {', '.join(map(repr, options))}")
    return normalized


def activation(owner: str, value: Any) -> Callable:
    try:
        return activations.get(value)
    except ValueError as err:
        raise ValueError(f"{owner}: {err} Received activation={value!r}") from None


def data_format(owner: str, value: Any) -> str:
    if value in (None, "channels_last"):
        return "channels_last"
    if value == "channels_first":
        raise ValueError(
            f"{owner}: data_format='channels_first' is not supported; convolve takes "
            "channels-last inputs and runs channels-first internally on its own. "
            f"Received data_format={value!r}"
        )
    raise fail(owner, "data_format", value, "'channels_last' or None")
