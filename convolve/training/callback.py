"""The `Callback` base class: hooks into `fit`, `evaluate` and `predict`."""

from __future__ import annotations

from typing import Any

from torch.nn.parallel import DistributedDataParallel

__all__ = ["Callback"]


class Callback:
    """Base class for objects that hook into training, evaluation and prediction.

    Subclass it and override the hooks you need. The training loop calls them in this
    order::

        on_train_begin
          on_epoch_begin(epoch)
            on_train_batch_begin(batch) / on_train_batch_end(batch, logs)   per step
            on_test_begin ... on_test_end(logs)                             validation
          on_epoch_end(epoch, logs)
        on_train_end(logs)

    `evaluate` calls `on_test_begin`, `on_test_batch_begin/end` and `on_test_end`;
    `predict` calls the `on_predict_*` hooks.

    Logs map names (`"loss"`, metric names, `"val_"` + name) to Python floats, as in
    Keras. Reading a number from the device at every step makes training wait for it, so
    the loop does that for batch-level logs only when a callback with a batch hook needs
    it: a callback whose `takes_tensor_logs` is True receives batch-level values as 0-dim
    tensors instead and converts one with `convolve.training.logs.to_float` only when it
    needs the number (the built-in callbacks do this).

    Attributes:
        params: Training parameters set by the loop: `{"verbose", "epochs", "steps"}`.
        model: The model being trained (the wrapped module when it is wrapped in
            `DistributedDataParallel`).

    Example:
        >>> class CountBatches(Callback):
        ...     def on_train_begin(self, logs=None):
        ...         self.count = 0
        ...     def on_train_batch_end(self, batch, logs=None):
        ...         self.count += 1
        >>> cb = CountBatches()
        >>> cb.on_train_begin()
        >>> cb.on_train_batch_end(0, {"loss": 0.3})
        >>> cb.count
        1
    """

    takes_tensor_logs = False  # batch-level log values may stay tensors for this one

    def __init__(self) -> None:
        self.params: dict[str, Any] | None = None
        self._model: Any = None

    def set_params(self, params: dict[str, Any]) -> None:
        """Stores the training parameters (`verbose`, `epochs`, `steps`)."""
        self.params = params

    def set_model(self, model: Any) -> None:
        """Stores the model that the callback acts on."""
        self._model = model

    @property
    def model(self) -> Any:
        """The model being trained."""
        # Callbacks call model-level methods (`get_weights`, `save`), which the DDP
        # wrapper does not forward, so hand back the wrapped model.
        if isinstance(self._model, DistributedDataParallel):
            return self._model.module
        return self._model

    def on_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Legacy alias of `on_train_batch_begin`, called by its default implementation."""

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Legacy alias of `on_train_batch_end`, called by its default implementation."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Called at the start of an epoch of `fit`.

        Args:
            epoch: Index of the epoch, from 0.
            logs: Currently empty.
        """

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Called at the end of an epoch of `fit`, after validation.

        Args:
            epoch: Index of the epoch, from 0.
            logs: Metric results of the epoch as floats, validation ones prefixed with
                `"val_"`, e.g. `{"loss": 0.2, "accuracy": 0.7, "val_loss": 0.3}`.
        """

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called before a training step.

        Args:
            batch: Index of the batch within the epoch.
            logs: Currently empty.
        """
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called after a training step.

        Args:
            batch: Index of the batch within the epoch.
            logs: Running metric results for the epoch so far (values may be tensors).
        """
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called before a batch of `evaluate` or of validation in `fit`."""

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called after a batch of `evaluate` or of validation in `fit`."""

    def on_predict_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called before a batch of `predict`."""

    def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called after a batch of `predict`; `logs` holds `{"outputs": ...}`."""

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Called once at the start of `fit`."""

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Called once at the end of `fit`; `logs` holds the last epoch's logs."""

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Called at the start of `evaluate` or of validation."""

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        """Called at the end of `evaluate` or of validation with the final results."""

    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Called at the start of `predict`."""

    def on_predict_end(self, logs: dict[str, Any] | None = None) -> None:
        """Called at the end of `predict`."""
