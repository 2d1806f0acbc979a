"""Keras's progress bar: `Progbar`, and the `ProgbarLogger` callback that drives it."""

from __future__ import annotations

import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from convolve.training.callback import Callback
from convolve.training.console import print_msg
from convolve.training.logs import to_float

__all__ = ["Progbar", "ProgbarLogger"]

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def _is_dynamic_display() -> bool:
    """Whether standard output can redraw a line in place (a terminal or a notebook)."""
    stdout = sys.stdout
    return bool(
        (hasattr(stdout, "isatty") and stdout.isatty())
        or "ipykernel" in sys.modules
        or "PYCHARM_HOSTED" in os.environ
    )


def _format_value(value: float, signed: bool = True) -> str:
    # Keras's verbose=2 line compares the signed value, so a negative metric is shown in
    # scientific notation there; `signed=False` keeps that quirk.
    magnitude = abs(value) if signed else value
    return f" {value:.4f}" if magnitude > 1e-3 else f" {value:.4e}"


def _format_time(time_per_unit: float, unit_name: str) -> str:
    if time_per_unit >= 1 or time_per_unit == 0:
        return f" {time_per_unit:.0f}s/{unit_name}"
    if time_per_unit >= 1e-3:
        return f" {time_per_unit * 1000.0:.0f}ms/{unit_name}"
    return f" {time_per_unit * 1000000.0:.0f}us/{unit_name}"


def _format_eta(eta: float) -> str:
    if eta > 3600:
        return f"{int(eta // 3600)}:{int((eta % 3600) // 60):02d}:{int(eta % 60):02d}"
    if eta > 60:
        return f"{int(eta // 60)}:{int(eta % 60):02d}"
    return f"{int(eta)}s"


def _count(current: int, target: int) -> str:
    """`current/target` with `current` right-aligned to the width of `target`."""
    numdigits = int(math.log10(target)) + 1
    return f"{int(current):{numdigits}d}/{target}"


class Progbar:
    """Displays a progress bar, as `keras.utils.Progbar` does.

    With `verbose=1` on a terminal or in a notebook the bar is redrawn in place at most
    every `interval` seconds::

        312/469 ━━━━━━━━━━━━━━━━━━━━ 1s 10ms/step - accuracy: 0.9790 - loss: 0.0690

    When standard output is not interactive (a file, a pipe, a CI log) only the final
    line of each bar is written, without colour codes, so that logs hold one line per
    epoch. With `verbose=2` one plain line is written when the bar is finalised::

        469/469 - 5s - 10ms/step - accuracy: 0.9812 - loss: 0.0601

    Metric values may be tensors; they are read (synchronising with the device) only when
    a line is drawn.

    Args:
        target: Total number of steps expected, or `None` if unknown.
        width: Width of the bar in characters.
        verbose: 0 (silent), 1 (bar), 2 (one line when finished).
        interval: Minimum time in seconds between two redraws.
        stateful_metrics: Names of metrics shown as given. All others are averaged over
            the steps seen. Do not combine with `stateless_metrics`.
        stateless_metrics: Names of metrics that are averaged; all others are shown as
            given. Do not combine with `stateful_metrics`.
        unit_name: Name of one step in the time-per-step display.
        clock: Function returning the current time in seconds (default `time.monotonic`).
        dynamic_display: Whether to redraw in place; detected from `sys.stdout` by default.

    Raises:
        ValueError: If both `stateful_metrics` and `stateless_metrics` are given.

    Example:
        >>> bar = Progbar(3, verbose=2, dynamic_display=False)
        >>> for step in range(1, 4):
        ...     bar.update(step, [("loss", 1.0 / step)])  # doctest: +ELLIPSIS
        3/3 - ...
    """

    def __init__(
        self,
        target: int | None,
        width: int = 20,
        verbose: int = 1,
        interval: float = 0.05,
        stateful_metrics: Iterable[str] | None = None,
        stateless_metrics: Iterable[str] | None = None,
        unit_name: str = "step",
        *,
        clock: Callable[[], float] | None = None,
        dynamic_display: bool | None = None,
    ) -> None:
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError(
                "Only one of `stateful_metrics` or `stateless_metrics` can be provided: "
                "`stateful_metrics` lists the metrics shown as given (all others are "
                "averaged), `stateless_metrics` lists the metrics that are averaged (all "
                f"others are shown as given). Received stateful_metrics={stateful_metrics!r} "
                f"and stateless_metrics={stateless_metrics!r}."
            )
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        if stateful_metrics is not None:
            self.stateful_metrics: set[str] | None = set(stateful_metrics)
            self.stateless_metrics: set[str] | None = None
        elif stateless_metrics is not None:
            self.stateful_metrics = None
            self.stateless_metrics = set(stateless_metrics)
        else:
            self.stateful_metrics = set()
            self.stateless_metrics = None
        self._clock = clock if clock is not None else time.monotonic
        self._dynamic_display = (
            _is_dynamic_display() if dynamic_display is None else bool(dynamic_display)
        )
        self._seen_so_far = 0
        # name -> [sum of value * steps, steps]; values may stay tensors until drawn.
        self._values: dict[str, list[Any]] = {}
        self._values_order: list[str] = []
        self._start = self._clock()
        self._last_update: float | None = None
        self._time_after_first_step: float | None = None
        self._prev_total_width = 0

    def update(
        self,
        current: int,
        values: Iterable[tuple[str, Any]] | None = None,
        finalize: bool | None = None,
    ) -> None:
        """Moves the bar to step `current` and records metric values.

        Args:
            current: Number of steps done.
            values: `(name, value)` pairs for the last step. Values of stateless metrics
                are averaged over steps; others are shown as given.
            finalize: Whether this is the last update. Defaults to
                `current >= target` when the target is known.
        """
        if finalize is None:
            finalize = False if self.target is None else current >= self.target

        for name, value in values or []:
            if name not in self._values_order:
                self._values_order.append(name)
            if self.stateful_metrics is not None:
                stateless = name not in self.stateful_metrics
            else:
                stateless = name in self.stateless_metrics
            if stateless and not finalize:
                # Weight each value by the steps it covers; at least 1 so that a repeated
                # `current` (no target in the first epoch) still counts.
                steps = max(current - self._seen_so_far, 1)
                if name in self._values:
                    total, count = self._values[name]
                    self._values[name] = [total + value * steps, count + steps]
                else:
                    self._values[name] = [value * steps, steps]
            else:
                self._values[name] = [value, 1]
        self._seen_so_far = current

        now = self._clock()
        time_per_unit = self._estimate_step_duration(current, now)

        if self.verbose == 1:
            if (
                self._last_update is not None
                and now - self._last_update < self.interval
                and not finalize
            ):
                return
            if self._dynamic_display:
                self._draw_dynamic(current, now, time_per_unit, finalize)
            elif finalize:
                line = self._bar_line(current, now, time_per_unit, finalize)[0]
                print_msg(_ANSI_ESCAPE.sub("", line))
        elif self.verbose == 2 and finalize and self.target is not None and self.target > 0:
            info = _count(current, self.target)
            info += f" - {now - self._start:.0f}s"
            info += f" -{_format_time(time_per_unit, self.unit_name)}"
            for name in self._values_order:
                info += f" - {name}:" + _format_value(self._average(name), signed=False)
            print_msg(info)
        self._last_update = now

    def add(self, n: int, values: Iterable[tuple[str, Any]] | None = None) -> None:
        """Advances the bar by `n` steps (see `update`)."""
        self.update(self._seen_so_far + n, values)

    def _average(self, name: str) -> float:
        total, count = self._values[name]
        return to_float(total) / max(1, count)

    def _bar_line(
        self, current: int, now: float, time_per_unit: float, finalize: bool
    ) -> tuple[str, int]:
        """Returns the bar line and the number of invisible (colour code) characters."""
        special_chars = 0
        if self.target is not None and self.target > 0:
            bar = f"\x1b[1m{_count(current, self.target)}\x1b[0m "
            special_chars += 8
            prog_width = int(self.width * float(current) / self.target)
            if prog_width > 0:
                bar += f"\x1b[32m{'━' * prog_width}\x1b[0m"
                special_chars += 9
            bar += f"\x1b[37m{'━' * (self.width - prog_width)}\x1b[0m"
            special_chars += 9
        else:
            bar = f"{int(current):7d}/Unknown"

        if self.target is not None and self.target > 0 and not finalize:
            info = f" \x1b[1m{_format_eta(time_per_unit * (self.target - current))}\x1b[0m"
        else:
            info = f" \x1b[1m{now - self._start:.0f}s\x1b[0m"
        special_chars += 8
        info += _format_time(time_per_unit, self.unit_name)
        for name in self._values_order:
            info += f" - {name}:" + _format_value(self._average(name))
        return bar + info, special_chars

    def _draw_dynamic(self, current: int, now: float, time_per_unit: float, finalize: bool) -> None:
        line, special_chars = self._bar_line(current, now, time_per_unit, finalize)
        # Back over the previous line, then pad with spaces if the new one is shorter.
        message = "\b" * self._prev_total_width + "\r" + line
        total_width = len(line) - special_chars
        if self._prev_total_width > total_width:
            message += " " * (self._prev_total_width - total_width)
        if finalize:
            message += "\n"
        print_msg(message, line_break=False)
        self._prev_total_width = total_width

    def _estimate_step_duration(self, current: int, now: float) -> float:
        """Seconds per step, leaving out the first step (compilation, warm-up) once possible."""
        if not current:
            return 0
        if self._time_after_first_step is not None and current > 1:
            time_per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            time_per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return time_per_unit


class ProgbarLogger(Callback):
    """Prints the progress bar and metrics during `fit`, `evaluate` and `predict`.

    `fit` adds one when `verbose` is not 0. Each epoch starts with an `Epoch 3/10` line
    (when there is more than one epoch); validation inside `fit` draws no bar of its own,
    its results appear on the epoch's final line.
    """

    takes_tensor_logs = True  # reads batch values itself, only when it needs them

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0
        self.progbar: Progbar | None = None
        self.target: int | None = None
        self.verbose: int = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._called_in_fit = True

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self._called_in_fit:
            self._reset_progbar()
            self._maybe_init_progbar()

    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._reset_progbar()
        self._maybe_init_progbar()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._reset_progbar()
        self._maybe_init_progbar()
        if self.verbose and self.epochs > 1:
            print_msg(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._update_progbar(batch, logs)

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        # Predictions are not metrics: only the step count is shown.
        self._update_progbar(batch, None)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._finalize_progbar(logs)

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_end(self, logs: dict[str, Any] | None = None) -> None:
        self._finalize_progbar(logs)

    def _reset_progbar(self) -> None:
        self.seen = 0
        self.progbar = None

    def _maybe_init_progbar(self) -> None:
        if self.progbar is None:
            # The loop logs running results, so every value is shown as given.
            self.progbar = Progbar(
                target=self.target,
                verbose=self.verbose,
                unit_name="step",
                stateless_metrics=set(),
            )

    def _update_progbar(self, batch: int, logs: dict[str, Any] | None) -> None:
        self._maybe_init_progbar()
        self.seen = batch + 1
        if self.verbose == 1:
            self.progbar.update(self.seen, list((logs or {}).items()), finalize=False)

    def _finalize_progbar(self, logs: dict[str, Any] | None) -> None:
        self._maybe_init_progbar()
        if self.target is None:
            # Unknown length: the first epoch teaches it.
            self.target = self.seen
            self.progbar.target = self.target
        self.progbar.update(self.target, list((logs or {}).items()), finalize=True)
