"""The `TensorBoard` callback, writing event files without TensorFlow."""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

from convolve.training.callback import Callback
from convolve.training.event_file import EventFileWriter, string_value
from convolve.training.logs import to_float

__all__ = ["TensorBoard"]


class TensorBoard(Callback):
    """Logs metrics for TensorBoard (`tensorboard --logdir logs`).

    Written, as Keras writes them:

    * at each epoch end, `epoch_<name>` scalars at step `epoch`: training values (and
      `epoch_learning_rate`) under `<log_dir>/train`, validation values (without their
      `val_` prefix) under `<log_dir>/validation`;
    * with `update_freq="batch"` or an integer `N`, `batch_<name>` scalars every `N`
      training batches, at step = number of batches since training began;
    * at the end of each evaluation, `evaluation_<name>_vs_iterations` scalars under
      `validation`, at step = optimizer iterations (or, when the optimizer does not
      count them, training batches seen by this callback);
    * with `write_steps_per_second=True`, `epoch_steps_per_second` (and
      `batch_steps_per_second` at batch frequency);
    * with `write_graph=True`, the model's configuration under the `keras` tag (the
      conceptual graph) when the model provides `to_json()`.

    Not built: weight histograms and images (`histogram_freq`, `write_images`), embedding
    projector data (`embeddings_freq`, `embeddings_metadata`), profiling
    (`profile_batch`), and TensorFlow op graphs. Setting any of them to a non-default
    value raises `NotImplementedError`.

    Args:
        log_dir: Directory for the event files. Do not share it with other callbacks.
        histogram_freq: Must be 0 (weight histograms are not built).
        write_graph: Write the model's configuration for TensorBoard's graph view.
        write_images: Must be `False` (weight images are not built).
        write_steps_per_second: Log training steps per second.
        update_freq: `"epoch"`, `"batch"` (same as 1) or an integer number of batches
            between batch-level summaries.
        profile_batch: Must be 0 (profiling is not built).
        embeddings_freq: Must be 0 (embedding projector data is not built).
        embeddings_metadata: Must be `None`.

    Raises:
        NotImplementedError: If an option that is not built is set.
        ValueError: If `update_freq` is not `"epoch"`, `"batch"` or a positive integer.

    Example:
        >>> tensorboard = TensorBoard(log_dir="./logs")
        >>> # model.fit(x, y, epochs=2, callbacks=[tensorboard])
    """

    takes_tensor_logs = True  # reads batch values itself, only when it needs them

    def __init__(
        self,
        log_dir: str | os.PathLike = "logs",
        histogram_freq: int = 0,
        write_graph: bool = True,
        write_images: bool = False,
        write_steps_per_second: bool = False,
        update_freq: str | int = "epoch",
        profile_batch: int | tuple[int, int] | str = 0,
        embeddings_freq: int = 0,
        embeddings_metadata: str | dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        # (name, value, default, whether the value leaves the feature off)
        unsupported = (
            ("histogram_freq", histogram_freq, 0, histogram_freq == 0),
            ("write_images", write_images, False, not write_images),
            # Keras also accepts "0", "0,0" and (0, 0) to leave profiling off.
            ("profile_batch", profile_batch, 0, profile_batch in (0, "0", "0,0", (0, 0), [0, 0])),
            ("embeddings_freq", embeddings_freq, 0, embeddings_freq == 0),
            ("embeddings_metadata", embeddings_metadata, None, embeddings_metadata is None),
        )
        for name, value, default, is_off in unsupported:
            if not is_off:
                raise NotImplementedError(
                    f"TensorBoard({name}={value!r}) is not supported: weight histograms and "
                    "images, embeddings and profiling are not written by this callback. "
                    f"Leave {name} at its default ({default!r})."
                )
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (
            not isinstance(update_freq, int) or isinstance(update_freq, bool) or update_freq < 1
        ):
            raise ValueError(
                "update_freq must be 'epoch', 'batch' or a positive integer. "
                f"Received: update_freq={update_freq!r}"
            )
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = update_freq
        self.embeddings_freq = embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self._train_dir = os.path.join(self.log_dir, "train")
        self._val_dir = os.path.join(self.log_dir, "validation")
        self._global_train_batch = 0
        self._epoch_train_batches = 0
        self._epoch_start_time = 0.0
        self._batch_start_time = 0.0
        # Created on first use, so that no empty event file appears for unused folders.
        self._writers: dict[str, EventFileWriter] = {}

    def set_model(self, model: Any) -> None:
        """Sets the model and writes its configuration if `write_graph` is set."""
        previous, self._model = self._model, model
        self._close_writers()
        # `evaluate` and `predict` set the model again; describe each model only once.
        if self.write_graph and model is not previous:
            self._write_model_config()

    def _writer(self, name: str) -> EventFileWriter:
        writer = self._writers.get(name)
        if writer is None or writer.closed:
            writer = EventFileWriter(self._train_dir if name == "train" else self._val_dir)
            self._writers[name] = writer
        return writer

    def _close_writers(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def _write_model_config(self) -> None:
        to_json = getattr(self.model, "to_json", None)
        if to_json is None:
            return
        try:
            config = to_json()
        except Exception as exc:  # A model that cannot be described must not stop training.
            warnings.warn(f"Model failed to serialize as JSON. Ignoring... {exc}", stacklevel=2)
            return
        # The tag, plugin name and content are the ones TensorBoard's graph plugin reads.
        writer = self._writer("train")
        writer.add_summary_value(string_value("keras", config, "graph_keras_model", b"1"), 0)
        writer.flush()

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._global_train_batch = 0

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._close_writers()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_train_batches = 0
        self._epoch_start_time = time.perf_counter()

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._global_train_batch += 1
        self._epoch_train_batches += 1
        if self.write_steps_per_second:
            self._batch_start_time = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq:
            return
        # Values are read from the device only for the batches that are recorded.
        scalars = {}
        if self.write_steps_per_second:
            elapsed = time.perf_counter() - self._batch_start_time
            scalars["batch_steps_per_second"] = 1.0 / elapsed if elapsed > 0 else 0.0
        scalars.update(_numeric("batch_", logs or {}))
        self._writer("train").add_scalars(scalars, self._global_train_batch)

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None or not logs:
            return
        iterations = getattr(optimizer, "iterations", None)
        step = self._global_train_batch if iterations is None else int(to_float(iterations))
        scalars = {
            f"evaluation_{name}_vs_iterations": value for name, value in _numeric("", logs).items()
        }
        writer = self._writer("validation")
        writer.add_scalars(scalars, step)
        writer.flush()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not logs:
            return
        train_logs = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val_logs = {k.removeprefix("val_"): v for k, v in logs.items() if k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "learning_rate"):
            train_logs["learning_rate"] = to_float(optimizer.learning_rate)
        if self.write_steps_per_second:
            elapsed = time.perf_counter() - self._epoch_start_time
            train_logs["steps_per_second"] = self._epoch_train_batches / elapsed if elapsed else 0.0
        for name, values in (("train", train_logs), ("validation", val_logs)):
            if values:
                writer = self._writer(name)
                writer.add_scalars(_numeric("epoch_", values), epoch)
                writer.flush()


def _numeric(prefix: str, logs: dict[str, Any]) -> dict[str, float]:
    """Prefixed names and float values of the numeric entries of `logs`."""
    result = {}
    for name, value in logs.items():
        try:
            result[prefix + name] = to_float(value)
        except TypeError:
            continue  # Not a number (e.g. a string): nothing to plot.
    return result
