"""Callbacks: the `CallbackList` the training loop drives, and the small built-in callbacks.

This module also re-exports every callback, so `convolve.training.callbacks` (and the public
`convolve.callbacks`) is the one place to import them from.
"""

from __future__ import annotations

import collections.abc
import csv
import inspect
import math
import os
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from convolve.training.backup import BackupAndRestore
from convolve.training.callback import Callback
from convolve.training.checkpoint import ModelCheckpoint
from convolve.training.console import print_msg
from convolve.training.history import History
from convolve.training.logs import flatten_logs, pythonify_logs, to_float
from convolve.training.monitor import EarlyStopping, MonitorCallback, ReduceLROnPlateau
from convolve.training.progbar import Progbar, ProgbarLogger
from convolve.training.tensorboard import TensorBoard

__all__ = [
    "BackupAndRestore",
    "Callback",
    "CallbackList",
    "CSVLogger",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "MonitorCallback",
    "OrbaxCheckpoint",
    "Progbar",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "RemoteMonitor",
    "TensorBoard",
    "TerminateOnNaN",
]

_HOOKS = (
    "on_batch_begin",
    "on_batch_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
    "on_train_begin",
    "on_train_end",
    "on_test_begin",
    "on_test_end",
    "on_predict_begin",
    "on_predict_end",
)


def _flatten_callbacks(callbacks: Any) -> list[Any]:
    if callbacks is None:
        return []
    if isinstance(callbacks, list | tuple):
        return [cb for item in callbacks for cb in _flatten_callbacks(item)]
    return [callbacks]


class CallbackList(Callback):
    """Calls a list of callbacks together; the training loop talks only to this.

    Logs are flattened, sorted and converted to Python floats. Batch-level logs are
    converted only when a callback that has a batch hook and is not `takes_tensor_logs`
    is in the list; otherwise their tensors are passed on untouched, so that there is no
    host synchronisation per step. Every callback of one call receives the same
    dict, so a callback may add entries (as `ReduceLROnPlateau` adds `"learning_rate"`)
    that the ones after it see. `History` and `ProgbarLogger`, when added, come last.

    In a multi-process job, callbacks that print or write files run on process 0 only:
    `ProgbarLogger`, `ModelCheckpoint`, `CSVLogger`, `TensorBoard`, and any callback
    whose `rank_zero_only` attribute is True (set it to False to run one everywhere).

    Args:
        callbacks: Callback instances (nested lists are flattened).
        add_history: Add a `History` if the list has none.
        add_progbar: Add a `ProgbarLogger` if the list has none.
        model: The model the callbacks act on; its `history` attribute is set to the
            `History` callback.
        **params: Training parameters (`verbose`, `epochs`, `steps`) passed to every
            callback's `set_params`.

    Raises:
        TypeError: If an entry is not a callback instance.

    Example:
        >>> callbacks = CallbackList([EarlyStopping(monitor="loss")], add_history=True,
        ...                          verbose=0, epochs=2, steps=10)
        >>> [type(cb).__name__ for cb in callbacks.callbacks]
        ['EarlyStopping', 'History']
    """

    def __init__(
        self,
        callbacks: Iterable[Callback] | Callback | None = None,
        add_history: bool = False,
        add_progbar: bool = False,
        model: Any = None,
        **params: Any,
    ) -> None:
        super().__init__()
        self.callbacks: list[Callback] = _flatten_callbacks(
            list(callbacks) if isinstance(callbacks, Iterable) else callbacks
        )
        for index, cb in enumerate(self.callbacks):
            if isinstance(cb, type):
                raise TypeError(
                    f"callbacks[{index}] is the class {cb.__name__}, not an instance: "
                    f"write {cb.__name__}(...)."
                )
            if not all(callable(getattr(cb, name, None)) for name in ("set_model", *_HOOKS)):
                raise TypeError(
                    f"callbacks[{index}] must be a Callback instance, received "
                    f"{type(cb).__name__}: {cb!r}"
                )
        self._add_default_callbacks(add_history, add_progbar)
        self._batch_logs = (
            pythonify_logs
            if any(_needs_float_batch_logs(cb) for cb in self.callbacks)
            else flatten_logs
        )
        self._drop_rank_zero_only()
        self.set_model(model)
        self.set_params(params)

    def _add_default_callbacks(self, add_history: bool, add_progbar: bool) -> None:
        self._history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        self._progbar = next((cb for cb in self.callbacks if isinstance(cb, ProgbarLogger)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        # Backups come last, so that they hold every other callback's state for the step.
        backups = [cb for cb in self.callbacks if isinstance(cb, BackupAndRestore)]
        self.callbacks = [cb for cb in self.callbacks if cb not in backups] + backups

    def _drop_rank_zero_only(self) -> None:
        from convolve.distribute import is_chief

        if is_chief():
            return
        self.callbacks = [cb for cb in self.callbacks if not _rank_zero_only(cb)]
        if self._progbar not in self.callbacks:
            self._progbar = None

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params
        if params:
            for cb in self.callbacks:
                cb.set_params(params)

    def set_model(self, model: Any) -> None:
        # `is None`, not truthiness: an empty container module has `len() == 0`.
        if model is None:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for cb in self.callbacks:
            cb.set_model(model)

    # The calling conventions (positional `logs` for epoch and begin/end hooks, keyword
    # `logs=` for batch hooks) are Keras's, which `LambdaCallback` functions rely on.

    def on_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        logs = self._batch_logs(logs)
        for cb in self.callbacks:
            cb.on_batch_begin(batch, logs=logs)

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        logs = self._batch_logs(logs)
        for cb in self.callbacks:
            cb.on_batch_end(batch, logs=logs)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = pythonify_logs(logs)
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = pythonify_logs(logs)
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        logs = self._batch_logs(logs)
        for cb in self.callbacks:
            cb.on_train_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        logs = self._batch_logs(logs)
        for cb in self.callbacks:
            cb.on_train_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        logs = self._batch_logs(logs)
        for cb in self.callbacks:
            cb.on_test_batch_begin(batch, logs=logs)

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        logs = self._batch_logs(logs)
        for cb in self.callbacks:
            cb.on_test_batch_end(batch, logs=logs)

    def on_predict_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        logs = self._batch_logs(logs)
        for cb in self.callbacks:
            cb.on_predict_batch_begin(batch, logs=logs)

    def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        logs = flatten_logs(logs)  # the batch's outputs, as arrays
        for cb in self.callbacks:
            cb.on_predict_batch_end(batch, logs=logs)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        logs = pythonify_logs(logs)
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        logs = pythonify_logs(logs)
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        logs = pythonify_logs(logs)
        for cb in self.callbacks:
            cb.on_test_begin(logs)

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        logs = pythonify_logs(logs)
        for cb in self.callbacks:
            cb.on_test_end(logs)

    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None:
        logs = pythonify_logs(logs)
        for cb in self.callbacks:
            cb.on_predict_begin(logs)

    def on_predict_end(self, logs: dict[str, Any] | None = None) -> None:
        logs = pythonify_logs(logs)
        for cb in self.callbacks:
            cb.on_predict_end(logs)

    def listens_to_batches(self, mode: str) -> bool:
        """Whether a callback of the list acts in the batch hooks of `mode` ("train",
        "test" or "predict") at this point. When none does, the loop skips those calls,
        as Keras does, and no step's logs are read: the results are read once at the end.

        A hook counts as acting unless it is `Callback`'s empty one, or `ProgbarLogger`'s
        test-batch hook during `fit` (validation draws no bar of its own).
        """
        hooks = _MODE_BATCH_HOOKS[mode]
        return any(_acts_in(cb, name) for cb in self.callbacks for name in hooks)


_BATCH_HOOKS = tuple(h for h in _HOOKS if "batch" in h)

# The hooks a loop calls per batch, with those that `Callback`'s defaults call in turn.
_MODE_BATCH_HOOKS = {
    "train": ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end"),
    "test": ("on_test_batch_begin", "on_test_batch_end"),
    "predict": ("on_predict_batch_begin", "on_predict_batch_end"),
}


def _acts_in(callback: Any, name: str) -> bool:
    """Whether `callback`'s hook `name` may do something (see `listens_to_batches`)."""
    if name in vars(callback):
        return True  # set on the instance (LambdaCallback's functions)
    owner = next((k for k in type(callback).__mro__ if name in vars(k)), None)
    if owner is None:  # provided otherwise (a `__getattr__`): assume it acts
        return True
    if owner is Callback:
        return False
    if owner is ProgbarLogger and name == "on_test_batch_end":
        return not callback._called_in_fit
    return True


def _needs_float_batch_logs(callback: Any) -> bool:
    """Whether one of `callback`'s batch hooks may read log values as numbers: a hook set
    on the instance (LambdaCallback's functions) or defined by a class that does not
    itself declare `takes_tensor_logs = True` (a user's override of a built-in's hook)."""
    for name in _BATCH_HOOKS:
        if name in vars(callback):
            return True
        owner = next((k for k in type(callback).__mro__ if name in vars(k)), Callback)
        if owner is not Callback and not vars(owner).get("takes_tensor_logs", False):
            return True
    return False


def _rank_zero_only(callback: Any) -> bool:
    flag = getattr(callback, "rank_zero_only", None)
    if flag is not None:
        return bool(flag)
    return isinstance(callback, CSVLogger | ModelCheckpoint | ProgbarLogger | TensorBoard)


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of every epoch from a schedule function.

    Args:
        schedule: Function `schedule(epoch, lr) -> new_lr` taking the epoch index (from 0)
            and the current learning rate as a float, returning a float. A function of
            the epoch alone, `schedule(epoch)`, is accepted too.
        verbose: 0 is quiet; 1 prints the new rate at each epoch.

    Example:
        >>> def scheduler(epoch, lr):
        ...     return lr if epoch < 10 else lr * math.exp(-0.1)
        >>> callback = LearningRateScheduler(scheduler)
        >>> # model.fit(x, y, epochs=15, callbacks=[callback])
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def _call_schedule(self, epoch: int, lr: float) -> Any:
        try:
            return self.schedule(epoch, lr)
        except TypeError:
            # Only fall back to the one-argument form when the function has that form;
            # a TypeError raised inside a two-argument schedule is the user's to see.
            if not _accepts_one_positional(self.schedule):
                raise
            return self.schedule(epoch)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        learning_rate = self._call_schedule(epoch, to_float(optimizer.learning_rate))
        if not isinstance(learning_rate, float | np.float32 | np.float64):
            raise ValueError(
                f"The output of the `schedule` function should be a float. Got: {learning_rate}"
            )
        optimizer.learning_rate = float(learning_rate)
        if self.verbose > 0:
            print_msg(
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                f"{learning_rate}."
            )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = to_float(self.model.optimizer.learning_rate)


def _accepts_one_positional(fn: Callable[..., Any]) -> bool:
    try:
        inspect.signature(fn).bind(0)
    except (TypeError, ValueError):
        return False
    return True


class CSVLogger(Callback):
    """Streams the epoch results to a CSV file.

    The columns are `epoch` (from 0) then the log names in alphabetical order. When the
    first epoch has no validation results, `val_` columns are added anyway and hold `NA`,
    as in Keras, so that files from runs with and without validation line up.

    Args:
        filename: Path of the CSV file, e.g. `"run/log.csv"`.
        separator: Separator between fields.
        append: Append to an existing file (no second header) instead of overwriting it.

    Example:
        >>> csv_logger = CSVLogger("training.log")
        >>> # model.fit(x, y, callbacks=[csv_logger])
    """

    def __init__(
        self, filename: str | os.PathLike, separator: str = ",", append: bool = False
    ) -> None:
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer: csv.DictWriter | None = None
        self.keys: list[str] | None = None
        self.append_header = True
        self.csv_file: Any = None

    _backup_attributes = ("keys",)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # A run resuming from a backup continues the file (see `_restore_extra`).
        if self.append or getattr(self.model, "_resuming", False):
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        # newline="" lets the csv module write its own "\r\n" row endings unchanged.
        self.csv_file = open(self.filename, mode, newline="")  # noqa: SIM115
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs.keys())
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys.extend([f"val_{key}" for key in self.keys])
        if self.writer is None:

            class _Dialect(csv.excel):
                delimiter = self.sep

            self.writer = csv.DictWriter(
                self.csv_file, fieldnames=["epoch", *self.keys], dialect=_Dialect
            )
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, _csv_value(logs.get(key, "NA"))) for key in self.keys)
        try:
            self.writer.writerow(row)
            self.csv_file.flush()
        except OSError as err:
            raise type(err)(
                err.errno, f"CSVLogger cannot write epoch {epoch}: {err.strerror}", self.filename
            ) from err

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None

    def _backup_extra(self) -> int:
        """The file's length when a backup is taken."""
        return os.path.getsize(self.filename) if os.path.exists(self.filename) else 0

    def _restore_extra(self, size: int) -> None:
        """Drops rows written after the backup: those epochs run again."""
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.flush()
            self.csv_file.truncate(min(size, os.path.getsize(self.filename)))
        self.append_header = size == 0
        self.writer = None


def _csv_value(value: Any) -> Any:
    if isinstance(value, str):
        return value
    is_scalar_array = isinstance(value, np.ndarray) and value.ndim == 0
    if isinstance(value, collections.abc.Iterable) and not is_scalar_array:
        return f'"[{", ".join(map(str, value))}]"'
    return value


class TerminateOnNaN(Callback):
    """Stops training when the loss becomes NaN or infinite.

    The loss is read at every training batch, which waits for the device once per step;
    add this callback only when that check is wanted.

    Args:
        raise_error: If `False`, stop gracefully by setting `model.stop_training` (other
            callbacks still run `on_train_end`). If `True`, raise a `RuntimeError` at once.
    """

    takes_tensor_logs = True  # reads batch values itself, only when it needs them

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        value = to_float(loss)
        if math.isnan(value) or math.isinf(value):
            if self.raise_error:
                raise RuntimeError(
                    f"NaN or Inf loss encountered at batch {batch}. Loss value: {value}. "
                    "Terminating training immediately."
                )
            print_msg(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """Builds a callback from plain functions.

    Functions are called the way the hooks are: `on_epoch_begin(epoch, logs)`,
    `on_epoch_end(epoch, logs)`, `on_train_begin(logs)`, `on_train_end(logs)`,
    `on_train_batch_begin(batch, logs)`, `on_train_batch_end(batch, logs)`; any other hook
    can be given by name as a keyword argument.

    Args:
        on_epoch_begin: Called at the start of every epoch.
        on_epoch_end: Called at the end of every epoch.
        on_train_begin: Called at the start of training.
        on_train_end: Called at the end of training.
        on_train_batch_begin: Called before every training batch.
        on_train_batch_end: Called after every training batch.
        **kwargs: Other hooks, e.g. `on_test_end=fn`.

    Raises:
        TypeError: If a keyword argument is not the name of a hook.

    Example:
        >>> losses = []
        >>> cb = LambdaCallback(on_epoch_end=lambda epoch, logs: losses.append(logs["loss"]))
        >>> cb.on_epoch_end(0, {"loss": 0.5})
        >>> losses
        [0.5]
    """

    def __init__(
        self,
        on_epoch_begin: Callable[..., Any] | None = None,
        on_epoch_end: Callable[..., Any] | None = None,
        on_train_begin: Callable[..., Any] | None = None,
        on_train_end: Callable[..., Any] | None = None,
        on_train_batch_begin: Callable[..., Any] | None = None,
        on_train_batch_end: Callable[..., Any] | None = None,
        **kwargs: Callable[..., Any],
    ) -> None:
        super().__init__()
        unknown = sorted(set(kwargs) - set(_HOOKS))
        if unknown:
            raise TypeError(
                f"LambdaCallback received {', '.join(unknown)}, which "
                f"{'is not a hook' if len(unknown) == 1 else 'are not hooks'}. "
                f"Hooks are: {', '.join(_HOOKS)}."
            )
        hooks = dict(kwargs)
        hooks.update(
            on_epoch_begin=on_epoch_begin,
            on_epoch_end=on_epoch_end,
            on_train_begin=on_train_begin,
            on_train_end=on_train_end,
            on_train_batch_begin=on_train_batch_begin,
            on_train_batch_end=on_train_batch_end,
        )
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)


class OrbaxCheckpoint(Callback):
    """Keras's Orbax checkpointing callback, which convolve does not provide.

    Orbax checkpoints are a JAX format. Constructing this callback raises, so that a
    program written for it fails at once instead of training without checkpoints; use
    `ModelCheckpoint` (model or weights files) or `BackupAndRestore` (resumable training).

    Raises:
        NotImplementedError: Always.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
        max_to_keep: int = 1,
        save_on_background: bool = True,
        save_weights_only: bool = False,
    ) -> None:
        raise NotImplementedError(
            f"OrbaxCheckpoint is not supported (received directory={directory!r}): Orbax "
            "checkpoints are a JAX format. Use ModelCheckpoint to save the model or its "
            "weights, or BackupAndRestore to resume interrupted training."
        )


class RemoteMonitor(Callback):
    """Posts each epoch's logs to a server over HTTP, as Keras's `RemoteMonitor` does.

    At the end of every epoch it sends `{"epoch": epoch, **logs}`: as a form field
    `field` holding the JSON text (`send_as_json=False`, Keras's default), or as a JSON
    body. An unreachable server gives a warning, not an error.

    Args:
        root: The server's root URL.
        path: Path appended to `root` for the requests.
        field: Name of the form field holding the JSON text.
        headers: Optional dict of extra HTTP headers.
        send_as_json: Send the logs as the JSON body instead of a form field.

    Example:
        >>> from convolve import callbacks
        >>> monitor = callbacks.RemoteMonitor(root="http://localhost:9000")
    """

    def __init__(
        self,
        root: str = "http://localhost:9000",
        path: str = "/publish/epoch/end/",
        field: str = "data",
        headers: dict[str, str] | None = None,
        send_as_json: bool = False,
    ) -> None:
        super().__init__()
        self.root = root
        self.path = path
        self.field = field
        self.headers = headers
        self.send_as_json = send_as_json

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        import json
        import urllib.error
        import urllib.parse
        import urllib.request
        import warnings

        send: dict[str, Any] = {"epoch": epoch}
        for key, value in (logs or {}).items():
            if isinstance(value, np.ndarray | np.generic):
                value = value.item()
            elif hasattr(value, "item") and getattr(value, "ndim", None) == 0:
                value = value.item()  # a 0-d tensor
            send[key] = value
        headers = dict(self.headers or {})
        if self.send_as_json:
            body = json.dumps(send).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode("utf-8")
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        request = urllib.request.Request(
            self.root + self.path, data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
        except (urllib.error.URLError, OSError, ValueError):
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}", stacklevel=2)
