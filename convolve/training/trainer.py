"""compile / fit / evaluate / predict, mixed into `Model` with Keras 3's semantics.

`fit` only orchestrates epochs, batches, callbacks and validation. The work of one batch
is `train_step`, which users may override as in Keras. Nothing here synchronises host and
device per step: logs are tensors until a callback (the progress bar at its refresh rate,
or the end of the epoch) asks for numbers. (A float16 step is the exception: its loss
scaling reads one flag to decide whether to skip the update.)

Placement: at the start of `fit`, `evaluate` and `predict` the model moves to
`convolve.config.device()` (CUDA when available), with convolution kernels in channels_last
memory format (see `convolve.layers.layout`), and the data follows. A direct call
`model(x)` runs wherever the model's weights are.

Precision: the model's dtype policy (the global policy when the model was created) runs
the forward pass under `torch.autocast`; outputs, the loss and metrics are float32.

Compilation: `compile(jit_compile=True)` runs the train, test and predict steps through
`torch.compile` (options from `convolve.config.set_jit_compile_options`), compiled once
for the batch size of the first batch; a batch of another size (an epoch's final partial
batch) runs eagerly rather than compiling again. The optimizer's update stays eager.

Scale: in a `torchrun` job, or inside a `convolve.distribute.DataParallel` scope, `fit`
and `evaluate` are data-parallel (see `convolve.distribute`).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from convolve import _tree, config, distribute, mixed_precision
from convolve.layers import layout
from convolve.layers.base import stateless
from convolve.layers.symbolic import is_symbolic
from convolve.training import backup, data_adapter, host_memory
from convolve.training.compile_utils import (
    CompiledLoss,
    CompiledStep,
    CompileMetrics,
    _as_list,
    result_tensor,
)
from convolve.training.logs import flatten_logs


class NotCompiledError(ValueError, RuntimeError):
    """`fit` and the like before `compile()`: a ValueError as in Keras (and a
    RuntimeError, as convolve raised before)."""


class Trainer:
    """Keras's training API; mixed into `Model`."""

    # Set by `evaluate` while no callback reads a step's logs and the loop reads the
    # results once at the end: the built-in `test_step` then skips computing them.
    _step_logs_unused = False

    def __init__(self) -> None:
        self.compiled = False
        self.optimizer: Any = None
        self.loss: Any = None
        self.stop_training = False  # set by a callback: fit, evaluate, predict stop
        self.stop_evaluating = False
        self.stop_predicting = False
        self.history: Any = None
        self.jit_compile = False
        self.run_eagerly = False
        self._compiled_loss: CompiledLoss | None = None
        self._users_apply = False  # whether the optimizer is a user subclass with its own apply()
        self._compiled_metrics: CompileMetrics | None = None
        self._loss_tracker: Any = None
        self._compile_config: dict[str, Any] | None = None
        self._dtype_policy = mixed_precision.global_policy()
        self._step_functions: dict[str, Any] = {}
        self._gradient_sync: distribute.GradientSync | None = None
        self._fit_context: backup.FitContext | None = None
        self._nonfinite_raise = False
        self._position = (0, 0)
        self._resuming = False  # True during a fit that continues from a backup
        self._attribute_metrics: list[Any] = []

    # ------------------------------------------------------------------ precision
    @property
    def dtype_policy(self) -> mixed_precision.DTypePolicy:
        """The model's dtype policy: the global policy when the model was created."""
        return self._dtype_policy

    @property
    def compute_dtype(self) -> str:
        return self._dtype_policy.compute_dtype

    def forward(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """Calls the model; under a mixed policy, in half precision with float32 outputs."""
        call = super().forward  # type: ignore[misc]
        policy = getattr(self, "_dtype_policy", None)
        if policy is None or not policy.is_mixed or is_symbolic(inputs):
            return call(inputs, *args, **kwargs)
        return mixed_precision.call_mixed(
            policy, self._device(), functools.partial(call, inputs, *args, **kwargs)
        )

    # ------------------------------------------------------------------ compile
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        loss_weights: Any = None,
        metrics: Any = None,
        weighted_metrics: Any = None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile: bool | str = "auto",
        auto_scale_loss: bool = True,
    ) -> None:
        """Configures the model for training (Keras's `compile`)."""
        from convolve import metrics as metrics_module
        from convolve import optimizers

        if steps_per_execution != 1:
            raise ValueError(
                f"compile: steps_per_execution must be 1, received {steps_per_execution!r}"
            )
        if jit_compile not in (True, False, "auto"):
            raise ValueError(
                f"compile: jit_compile must be True, False or 'auto', received {jit_compile!r}"
            )
        if jit_compile is True and run_eagerly:
            warnings.warn(
                "If `run_eagerly` is True, then `jit_compile` cannot also be True. "
                "Disabling `jit_compile`.",
                stacklevel=2,
            )
            jit_compile = False
        self.optimizer = optimizers.get(optimizer)
        if (
            auto_scale_loss
            and self._dtype_policy.name == "mixed_float16"
            and self.optimizer is not None
            and not isinstance(self.optimizer, mixed_precision.LossScaleOptimizer)
        ):
            self.optimizer = mixed_precision.LossScaleOptimizer(
                self.optimizer, name="loss_scale_optimizer"
            )
        # Decided here, once, rather than in the (possibly compiled) step.
        self._users_apply = _overrides_apply(self.optimizer)
        output_names = self._output_names()
        # As in Keras, compiling again without a loss (or without metrics) keeps those
        # of the previous compile, trackers and all.
        if loss is not None or self._compiled_loss is None:
            self.loss = loss
            self._compiled_loss = CompiledLoss(
                loss, loss_weights, output_names, dict_outputs=self._dict_outputs()
            )
        if metrics is not None or weighted_metrics is not None or self._compiled_metrics is None:
            self._compiled_metrics = CompileMetrics(
                metrics, weighted_metrics, output_names, self._compiled_loss
            )
        self._loss_tracker = metrics_module.Mean(name="loss")
        self.jit_compile = jit_compile is True
        self.run_eagerly = bool(run_eagerly)
        self.stop_training = False
        self.compiled = True
        # Keras builds a loss or metrics given here at the next fit or evaluate, reading a
        # batch (random draws); one given earlier and not yet built stays due.
        self._build_draws_due = (
            self.__dict__.get("_build_draws_due", False)
            or loss is not None
            or metrics is not None
            or weighted_metrics is not None
        )
        self._step_functions = {}
        self._compile_config = {
            "loss": loss,
            "loss_weights": loss_weights,
            "metrics": metrics,
            "weighted_metrics": weighted_metrics,
            "run_eagerly": run_eagerly,
            "jit_compile": jit_compile,
        }

    def _output_names(self) -> list[str]:
        """Names for the outputs' losses and metrics: the layers' names, or, for a dict
        of outputs, its keys (in the order the outputs are flattened), as Keras names them."""
        if self._dict_outputs():
            return sorted(self._outputs_struct)  # type: ignore[attr-defined]
        try:
            outputs = self.outputs  # type: ignore[attr-defined]
        except AttributeError:
            return ["output"]
        return [t._keras_history.layer.name for t in outputs]

    def _dict_outputs(self) -> bool:
        struct = getattr(self, "_outputs_struct", None)
        return isinstance(struct, dict) and len(_tree.flatten(struct)) == len(struct)

    def _assert_compiled(self, what: str) -> None:
        if not self.compiled:
            raise NotCompiledError(
                f"You must call compile() on model '{self.name}' before {what}()."  # type: ignore[attr-defined]
            )

    # ------------------------------------------------------------------ metrics
    @property
    def metrics(self) -> list[Any]:
        """Keras's order: the loss tracker, the compiled metrics (one "compile_metrics"
        entry, whose result is a dict), the per-output loss trackers, then the metrics
        held as attributes of the model and of its layers (nested models excepted)."""
        found = []
        if self.compiled:
            found.append(self._loss_tracker)
            if self._compiled_metrics.given:  # type: ignore[union-attr]
                found.append(self._compiled_metrics)
            found.extend(self._compiled_loss.metrics)  # type: ignore[union-attr]
        self._attribute_metrics = _attribute_metrics(self, exclude=self._loss_tracker)
        return found + self._attribute_metrics

    @property
    def metrics_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def reset_metrics(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    def get_metrics_result(self) -> dict[str, torch.Tensor]:
        """Current metric values as 0-dim tensors (no host synchronisation)."""
        results = {}
        if type(self).metrics is not Trainer.metrics:  # a subclass lists its own: Keras's rule
            for metric in self.metrics:
                value = metric.result()
                if isinstance(value, dict):
                    results.update(value)
                else:
                    results[metric.name] = value
            return results
        if self.compiled:
            results["loss"] = self._loss_tracker.result()  # in `metrics` order, as Keras
            results.update(self._compiled_metrics.result())  # type: ignore[union-attr]
            results.update(self._compiled_loss.results())  # type: ignore[union-attr]
        for metric in self._attribute_metrics:  # as found when `metrics` was last read
            results[metric.name] = metric.result()
        return results

    # ------------------------------------------------------------------ steps
    def _metrics_result_or(self, step_logs: Any) -> Any:
        """The metrics' results, or, when a custom step returned other names, what its
        last call returned (Keras's rule). With no step run here (an epoch resumed after
        its last step), the results: the steps before the interruption fed them."""
        results = self.get_metrics_result()
        if not step_logs or (isinstance(step_logs, dict) and set(step_logs) == set(results)):
            return results
        return step_logs

    def compute_loss(
        self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
        training: bool = True,
    ) -> torch.Tensor:  # fmt: skip
        """The compiled loss plus every regularization penalty."""
        total = None
        if self._compiled_loss is not None and self._compiled_loss.has_loss:
            total = self._compiled_loss(y, y_pred, sample_weight)
        penalties = self.losses  # type: ignore[attr-defined]
        if penalties:
            extra = torch.stack([p.to(torch.float32).sum() for p in penalties]).sum()
            total = extra if total is None else total + extra
        if total is None:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        if training and self._nonfinite_raise and not bool(torch.isfinite(total.detach())):
            raise FloatingPointError(
                f"The loss became {float(total.detach()):g} {self._where()}; the weights were not "
                "updated (fit(on_nonfinite='raise'))."
            )
        if training and self._gradient_sync is not None:
            # Data-parallel: this process's share of the global batch scales its gradient.
            total = self._gradient_sync.weight_loss(total)
        return total

    def _compute_loss(
        self, x: Any, y: Any, y_pred: Any, sample_weight: Any, training: bool
    ) -> torch.Tensor:
        """`compute_loss`, also when a subclass overrides it without the `training`
        argument (as Keras's guides written before Keras 3.3 do)."""
        if _takes_training(type(self)):
            return self.compute_loss(x, y, y_pred, sample_weight, training=training)
        return self.compute_loss(x, y, y_pred, sample_weight)

    def compute_metrics(
        self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None
    ) -> dict[str, torch.Tensor]:
        if self._compiled_metrics is not None:
            self._compiled_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def train_step(self, data: Any) -> dict[str, torch.Tensor]:
        """One optimisation step on a batch: forward, loss, backward, update, metrics."""
        x, y, sample_weight = data_adapter.unpack(data)
        # As Keras: a model whose call() takes no `training` is called without it, so the
        # layers inside run as they do by default (BatchNormalization in inference mode).
        y_pred = self(x, training=True) if self._call_takes_training else self(x)  # type: ignore[attr-defined]
        self.zero_grad(set_to_none=True)  # type: ignore[attr-defined]
        loss = self._compute_loss(x, y, y_pred, sample_weight, training=True)
        self._loss_tracker.update_state(loss.detach(), sample_weight=_batch_size(x))
        # As on Keras's torch backend, `trainable` is read at every step. A frozen weight has
        # requires_grad off, so a loss without a graph means nothing to train; only then are
        # the trainable weights listed (trainable ones that the loss does not reach get
        # torch's error from backward, as in Keras). A frozen model has none, even where a
        # layer inside was unfrozen afterwards.
        trains = self.trainable and (loss.requires_grad or self.trainable_weights)  # type: ignore[attr-defined]
        if trains:
            self.optimizer.scale_loss(loss).backward()
            if self._nonfinite_raise:
                self._check_finite_gradients()
            if self._users_apply:  # a user's apply(), which Keras's step calls
                weights = self.trainable_weights  # type: ignore[attr-defined]
                with torch.no_grad():
                    self.optimizer.apply([w.grad for w in weights], weights)
            else:
                self.optimizer.step()
        else:  # Keras: the loss and metrics are logged; no update, no iteration counted
            warnings.warn("The model does not have any trainable weights.", stacklevel=2)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def _check_finite_gradients(self) -> None:
        """Raises before the update when a gradient holds NaN or infinity (one host read)."""
        named = [(n, p.grad) for n, p in self.named_parameters() if p.grad is not None]  # type: ignore[attr-defined]
        if not named:
            return
        finite = torch.stack([torch.isfinite(g).all() for _, g in named])
        if bool(finite.all()):
            return
        bad = [name for (name, _), ok in zip(named, finite.tolist(), strict=True) if not ok]
        raise FloatingPointError(
            f"Gradients became NaN or infinite {self._where()} (for {', '.join(bad[:5])}); "
            "the weights were not updated (fit(on_nonfinite='raise'))."
        )

    def _where(self) -> str:
        epoch, step = self._position
        return f"at epoch {epoch + 1}, batch {step + 1}"

    def test_step(self, data: Any) -> dict[str, torch.Tensor]:
        x, y, sample_weight = data_adapter.unpack(data)
        y_pred = self._inference_call(x)
        loss = self._compute_loss(x, y, y_pred, sample_weight, training=False)
        self._loss_tracker.update_state(loss.detach(), sample_weight=_batch_size(x))
        if self._step_logs_unused:  # only the state: `compute_metrics` without its results
            if self._compiled_metrics is not None:
                self._compiled_metrics.update_state(y, y_pred, sample_weight)
            return {}
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data: Any) -> Any:
        x, _, _ = data_adapter.unpack(data)
        return self._inference_call(x)

    def _inference_call(self, x: Any) -> Any:
        """`self(x, training=False)`; a model whose `call` takes no `training` is called
        without it, as Keras calls it."""
        return self(x, training=False) if self._call_takes_training else self(x)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: Any = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool | str = True,
        class_weight: dict[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int | list[int] = 1,
        on_nonfinite: str = "ignore",
    ) -> Any:
        """Trains for `epochs` epochs and returns the History (Keras's `fit`).

        In a data-parallel job `batch_size` is the global batch size.

        `on_nonfinite="raise"` (not in Keras) stops at the first step whose loss or
        gradients hold NaN or infinity, before the weights are updated, with a
        `FloatingPointError` naming the epoch and batch. It reads the loss on the host at
        every step, so it costs a little speed; the default, `"ignore"`, does not check.
        """
        from convolve.training.callbacks import CallbackList

        self._assert_compiled("fit")
        _check_fit_args(epochs, initial_epoch, validation_split, validation_freq)
        epochs = _capped_epochs(epochs)
        if on_nonfinite not in ("ignore", "raise"):
            raise ValueError(
                f"`on_nonfinite` must be 'ignore' or 'raise', received {on_nonfinite!r}"
            )
        strategy = _start_distribution()
        device = self._place_model()
        shard = None if strategy is None else strategy.shard(shuffle_seed=bool(shuffle))
        train = data_adapter.make_batches(
            x, y, sample_weight, batch_size, shuffle, device, steps_per_epoch, shard,
            class_weight=class_weight,
        )  # fmt: skip
        val = None
        if validation_data is not None:
            vx, vy, vsw = data_adapter.unpack(validation_data)
            val = data_adapter.make_batches(
                vx, vy, vsw, validation_batch_size or batch_size, False, device,
                validation_steps, None if strategy is None else strategy.shard(),
            )  # fmt: skip
        elif validation_split:
            if not isinstance(train, data_adapter.ArrayBatches):
                raise ValueError(
                    "validation_split is only supported for NumPy arrays or tensors; for a "
                    "dataset or DataLoader pass validation_data instead (received "
                    f"validation_split={validation_split} with {_describe(train)})."
                )
            train, val = train.split(validation_split)
            val.shuffle, val.steps = False, data_adapter.capped_steps(validation_steps)
        self._prepare_reading_to_build(train, strategy=strategy)
        if isinstance(train, data_adapter.IterableBatches):
            train.start_over()  # Keras resets its epoch iterator before the first epoch
        callback_list = CallbackList(
            callbacks,
            add_history=True,
            add_progbar=verbose != 0,
            model=self,
            verbose=_checked_verbose(verbose),
            epochs=epochs,
            steps=_steps_param(train),
        )
        context = backup.FitContext(
            train, callback_list.callbacks, _fit_arguments(self, train, epochs, shuffle)
        )
        resume = backup.find_resume_point(callback_list.callbacks)
        if resume is not None:
            resume.check_arguments(context.arguments)
        self.stop_training = False
        self._nonfinite_raise = on_nonfinite == "raise"
        step_fn = self._make_step("train_step")
        self._fit_context, self._resuming = context, resume is not None
        try:
            with self._summing_gradients(strategy):
                callback_list.on_train_begin()
                epoch_logs: dict[str, Any] = {}
                first_epoch = initial_epoch if resume is None else resume.epoch
                if resume is not None and first_epoch >= epochs:
                    resume.restore(self, context)  # it had finished: just the state
                for epoch in range(first_epoch, epochs):
                    self.reset_metrics()
                    if isinstance(train, data_adapter.IterableBatches):
                        train.set_epoch(epoch)
                    callback_list.on_epoch_begin(epoch)
                    first_step = 0
                    if resume is not None:  # after the hooks, so that it has the last word
                        resume.restore(self, context)
                        first_step, resume = resume.step, None
                    self.train()  # type: ignore[attr-defined]
                    logs = {}
                    hooks = callback_list.listens_to_batches("train")  # as Keras, else none
                    for step, batch in enumerate(train, start=first_step):
                        self._position = (epoch, step)
                        if hooks:
                            callback_list.on_train_batch_begin(step)
                        logs = self._run_step(step_fn, batch, train, strategy)
                        if hooks:
                            callback_list.on_train_batch_end(step, logs)
                        # Processes stop together, at the end of the epoch (see below).
                        if self.stop_training and strategy is None:
                            break
                    if strategy is not None:
                        strategy.end_epoch(self)
                    epoch_logs = _pythonify(self._metrics_result_or(logs), keep_nesting=True)
                    if val is not None and _validates_after(epoch, validation_freq):
                        val_logs = self._evaluate_batches(val, callback_list, strategy)
                        epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                    callback_list.on_epoch_end(epoch, epoch_logs)
                    if strategy is not None:
                        self.stop_training = strategy.any(self.stop_training)
                    if self.stop_training:
                        break
                if epochs > 0:  # with use_ema: the moving averages become the weights
                    self.optimizer.finalize_variable_values()  # type: ignore[attr-defined]
                callback_list.on_train_end(epoch_logs)
        finally:
            self._fit_context, self._resuming, self._nonfinite_raise = None, False, False
        return self.history

    @contextlib.contextmanager
    def _summing_gradients(self, strategy: Any) -> Iterator[None]:
        """In a data-parallel job, sums gradients over processes after each backward."""
        if strategy is not None:
            self._gradient_sync = strategy.attach(self)
        try:
            yield
        finally:
            if self._gradient_sync is not None:
                self._gradient_sync.close()
                self._gradient_sync = None

    def _make_step(self, name: str) -> Any:
        """The step method `name`, through `torch.compile` when `jit_compile` is set.

        Compiled steps are kept until the next `compile()`; eager ones are looked up each
        time, so a step replaced on the instance takes effect at once.
        """
        if not self.jit_compile:
            return getattr(self, name)
        step_fn = self._step_functions.get(name)
        if step_fn is None:
            step_fn = CompiledStep(getattr(self, name), config.jit_compile_options())
            self._step_functions[name] = step_fn
        return step_fn

    def _run_step(self, step_fn: Any, batch: Any, batches: Any, strategy: Any) -> Any:
        """One step; in a data-parallel job, weighted by this process's share of the batch."""
        if strategy is None:
            return step_fn(data_adapter.pack(*batch))
        padding = batches.padding
        saved = None
        if padding:  # a stand-in sample: its metric updates are undone below
            saved = [v.clone() for m in self.metrics for v in m.variables]
        sync = self._gradient_sync
        if sync is not None:
            local = _batch_size(batch[0])
            sync.weight = strategy.local_weight(local, batches.global_size, padding)
            sync.active = True
        try:
            logs = step_fn(data_adapter.pack(*batch))
        finally:
            if sync is not None:
                sync.active = False
        if saved is not None:
            with torch.no_grad():
                current = [v for m in self.metrics for v in m.variables]
                torch._foreach_copy_(current, saved)
        return logs

    def _place_model(self) -> torch.device:
        """Moves the model to the configured device, with kernels in channels_last format."""
        device = config.device()
        if device.type == "cpu" and config.host_memory_reuse():
            host_memory.reuse_freed_memory()
        if any(t.device != device for t in self._tensors()):
            self._move_to(device)
        with torch.no_grad():  # in place: the optimizer keeps its hold on each weight
            for t in self._tensors():
                t.data = layout.engine_memory_format(t.data)
        return device

    def _tensors(self) -> list[torch.Tensor]:
        return [*self.parameters(), *self.buffers()]  # type: ignore[attr-defined]

    def _move_to(self, device: torch.device) -> None:
        if self.optimizer is not None and self.optimizer.built:
            raise ValueError(
                f"Model '{self.name}' must move to {device}, but its optimizer was already "  # type: ignore[attr-defined]
                "built on the weights where they are now. Call compile() again after "
                "changing the device."
            )
        self.to(device)  # type: ignore[attr-defined]

    def _prepare_for(
        self, batches: Any, check_targets: bool = True, strategy: Any = None, what: str = "fit"
    ) -> None:
        """Builds the model and optimizer and checks data against the model, before step 1."""
        first = batches.peek()
        if first is None:
            raise ValueError(
                f"The data passed to {what}() contains no batches: {_describe(batches)}."
            )
        x, y, _ = first
        self._ready_for(x)
        if y is None and check_targets and self._needs_targets(what):
            raise ValueError(
                f"{what}(): model '{self.name}' was compiled with loss={self.loss!r}, which "  # type: ignore[attr-defined]
                "needs targets, but the data holds inputs only (y is None). Pass `y`, or "
                "batches of (x, y)."
            )
        # Only the built-in step is known to compute the compiled loss on (x, y); a custom
        # step (a GAN's, say, on a model with no `call`) may use the batch otherwise.
        if check_targets and y is not None and self._needs_targets(what):
            y_pred = self._output_stand_in(x)
            if y_pred is None:
                with _checking_only(self):
                    y_pred = self(x, training=False)
            self._compiled_loss.check_targets(y, y_pred)
        if strategy is not None:
            strategy.prepare(self)
        self.optimizer.build(self.trainable_weights)  # type: ignore[attr-defined]

    def _needs_targets(self, what: str) -> bool:
        """A compiled loss, computed by the built-in step (an overridden one may not need y)."""
        step = "test_step" if what in ("evaluate", "test_on_batch") else "train_step"
        builtin = getattr(type(self), step) is getattr(Trainer, step)
        return builtin and self._compiled_loss is not None and self._compiled_loss.has_loss

    def _ready_for(self, x: Any) -> None:
        """Checks the first batch's inputs against the model, building and placing it."""
        self._check_input_structure(x)
        self._ensure_built_for(x)
        self._place_model()  # weights built just now are on the CPU
        self._check_input_shapes(x)

    def _check_input_structure(self, x: Any) -> None:
        """One input means one array: a dict or list around it is refused by name."""
        try:
            count = len(self.inputs)  # type: ignore[attr-defined]
        except AttributeError:
            return
        single = isinstance(x, list | tuple) and len(x) == 1
        if single and isinstance(x[0], torch.Tensor | np.ndarray):
            return
        if count == 1 and isinstance(x, dict) and list(x) == [self.inputs[0].name]:  # type: ignore[attr-defined]
            return  # keyed by the input's name, as Keras accepts
        if count == 1 and isinstance(x, dict | list | tuple):
            shown = sorted(x) if isinstance(x, dict) else f"{len(x)} items"
            raise ValueError(
                f"Model '{self.name}' has one input and expects a single array; received "  # type: ignore[attr-defined]
                f"a {type(x).__name__} ({shown})."
            )

    def _output_stand_in(self, x: Any) -> torch.Tensor | None:
        """Zeros shaped like the model's single output for batch `x`, when the graph knows
        that shape: target checks need only the shape, and a forward pass would cost as
        much as a training step's."""
        try:
            outputs = self.outputs  # type: ignore[attr-defined]
        except AttributeError:
            return None
        if len(outputs) != 1 or any(d is None for d in outputs[0].shape[1:]):
            return None
        return torch.zeros((_batch_size(x), *outputs[0].shape[1:]))

    def _build_metrics_for(self, x: Any, y: Any) -> None:
        """Resolves the compiled metrics from a batch, as the first step would."""
        with _checking_only(self):
            y_pred = self(x, training=False)
        cm = self._compiled_metrics
        cm._build(_as_list(y, cm.output_names), _as_list(y_pred, cm.output_names))

    def _ensure_built_for(self, x: Any) -> None:
        """Builds the model for batch `x`'s shapes, as its first call would, without
        calling it on `x`: Keras builds on symbolic tensors, changing no state."""
        if not self.built:  # type: ignore[attr-defined]
            with torch.no_grad():
                self.build_for(_tree.map_structure(_keras_shape, x))  # type: ignore[attr-defined]

    def _check_input_shapes(self, x: Any) -> None:
        try:
            expected = [t.shape for t in self.inputs]  # type: ignore[attr-defined]
        except AttributeError:
            return
        standardize = getattr(self, "_standardize_inputs", _tree.flatten)
        received = [tuple(t.shape) for t in standardize(x)]  # dicts by input name, as a call
        if len(received) != len(expected):
            raise ValueError(
                f"Model '{self.name}' expects {len(expected)} input(s) but received "  # type: ignore[attr-defined]
                f"{len(received)}."
            )
        for i, (want, got) in enumerate(zip(expected, received, strict=True)):
            compatible = len(want) == len(got) and all(
                w is None or w == g for w, g in zip(want[1:], got[1:], strict=True)
            )
            if not compatible:
                raise ValueError(
                    f"Input {i} of model '{self.name}' is incompatible with the model: "  # type: ignore[attr-defined]
                    f"expected shape={want}, found shape={(None, *got[1:])} "
                    f"(a batch of shape {got})."
                )

    # ------------------------------------------------------------------ evaluate
    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: Any = None,
        return_dict: bool = False,
    ) -> Any:
        """Loss and metrics on data (Keras's `evaluate`); over all processes in a job."""
        from convolve.training.callbacks import CallbackList

        self._assert_compiled("evaluate")
        strategy = _start_distribution()
        batches = data_adapter.make_batches(
            x, y, sample_weight, batch_size, False, self._place_model(), steps,
            None if strategy is None else strategy.shard(),
        )  # fmt: skip
        self._prepare_reading_to_build(batches, strategy=strategy, what="evaluate")
        callback_list = CallbackList(
            callbacks,
            add_progbar=verbose != 0,
            model=self,
            verbose=_checked_verbose(verbose),
            epochs=1,
            steps=_steps_param(batches),
        )
        logs = self._evaluate_batches(batches, callback_list, strategy)
        return self._format_results(logs, return_dict)

    def _evaluate_batches(
        self, batches: Any, callback_list: Any, strategy: Any = None
    ) -> dict[str, float]:
        batches.start_over()
        self.reset_metrics()
        self.stop_evaluating = False
        callback_list.on_test_begin()
        self.eval()  # type: ignore[attr-defined]
        step_fn = self._make_step("test_step")
        logs = {}
        hooks = callback_list.listens_to_batches("test")  # as Keras, else none are called
        # Nobody reads a step's logs then: the built-in step may skip computing them.
        self._step_logs_unused = (
            not hooks and strategy is None and self._builtin_steps_logs(step_fn)
        )
        try:
            with torch.no_grad():
                for step, batch in enumerate(batches):
                    if hooks:
                        callback_list.on_test_batch_begin(step)
                    logs = self._run_step(step_fn, batch, batches, strategy)
                    if hooks:
                        callback_list.on_test_batch_end(step, logs)
                    if self.stop_evaluating and strategy is None:
                        break
        finally:
            self._step_logs_unused = False
        if strategy is not None:
            strategy.reduce_metrics(self.metrics)
        logs = _pythonify(self._metrics_result_or(logs))
        callback_list.on_test_end(logs)
        return logs

    def _every_layer_built(self) -> bool:
        """Whether the model and every layer in it are built (Keras then reads no batch to
        build them)."""
        return all(getattr(m, "built", True) for m in self.modules())  # type: ignore[attr-defined]

    def _prepare_reading_to_build(self, batches: Any, **prepare: Any) -> None:
        """`_prepare_for`, with the batch Keras reads first when the model is not built or
        the losses and metrics of the last `compile` are not: an iterable's comes from a
        pass of its own; over arrays, that read's random draws are taken."""
        due = self.__dict__.get("_build_draws_due", False) or not self._every_layer_built()
        if isinstance(batches, data_adapter.IterableBatches):
            batches.build_read = due
        self._prepare_for(batches, **prepare)
        self.__dict__.pop("_build_draws_due", None)
        if due and isinstance(batches, data_adapter.ArrayBatches):
            batches.take_build_draws()

    def _builtin_steps_logs(self, step_fn: Any) -> bool:
        """Whether `step_fn` is the built-in, eager `test_step`, whose logs are the metrics'
        results (`compute_metrics` and `get_metrics_result` being the built-in ones too):
        then the results read at the end are what its last step would have returned."""
        return (
            all(
                getattr(getattr(self, name), "__func__", None) is getattr(Trainer, name)
                for name in ("compute_metrics", "get_metrics_result")
            )
            and getattr(step_fn, "__func__", None) is Trainer.test_step
        )

    def _format_results(self, logs: dict[str, Any], return_dict: bool) -> Any:
        """Keras's forms: a dict sorted by name, or a list in `metrics` order (the loss,
        the compiled metrics, the per-output losses) and then the other names sorted."""
        if return_dict:  # already flat and sorted, nested results by their group's key
            return dict(logs)
        order = []
        for metric in self.metrics:
            inner = metric.metrics if isinstance(metric, CompileMetrics) else [metric]
            order.extend(m.name for m in inner)
        # As in Keras, a name listed twice (a metric also weighted) gives its value twice.
        names = [n for n in order if n in logs] + sorted(k for k in logs if k not in order)
        values = [logs[n] for n in names]
        return values[0] if len(values) == 1 else values

    # ------------------------------------------------------------------ predict
    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        steps: int | None = None,
        callbacks: Any = None,
    ) -> Any:
        """Model outputs for `x` as NumPy arrays, batch by batch (Keras's `predict`).

        In a data-parallel job every process predicts all of `x`.
        """
        batches = data_adapter.make_batches(
            x, None, None, batch_size, False, self._place_model(), steps
        )
        return self._predict_batches(batches, verbose, callbacks)

    def _predict_batches(self, batches: Any, verbose: int | str, callbacks: Any) -> Any:
        from convolve.training.callbacks import CallbackList

        callback_list = CallbackList(
            callbacks,
            add_progbar=verbose != 0,
            model=self,
            verbose=_checked_verbose(verbose),
            epochs=1,
            steps=_steps_param(batches),
        )
        outputs: list[Any] = []
        self.stop_predicting = False
        callback_list.on_predict_begin()
        self.eval()  # type: ignore[attr-defined]
        step_fn = None
        listening = callback_list.listens_to_batches("predict")
        with torch.no_grad():
            for step, batch in enumerate(batches):
                if step_fn is None:
                    self._ready_for(batch[0])
                    step_fn = self._make_step("predict_step")
                if listening:
                    callback_list.on_predict_batch_begin(step)
                out = step_fn(data_adapter.pack(*batch))
                if type(out) is torch.Tensor:
                    out = out.detach().cpu()
                else:
                    out = _tree.map_structure(lambda t: t.detach().cpu(), out)
                outputs.append(out)
                if listening:
                    arrays = _tree.map_structure(lambda t: t.numpy(), out)
                    callback_list.on_predict_batch_end(step, {"outputs": arrays})
                if self.stop_predicting:
                    break
        callback_list.on_predict_end()
        if not outputs:
            raise ValueError(
                f"The data passed to predict() contains no batches: {_describe(batches)}."
            )
        return _concatenate(outputs)

    # ------------------------------------------------------------------ one batch
    def _one_batch(
        self, x: Any, y: Any, sample_weight: Any, what: str, class_weight: Any = None
    ) -> tuple[Any, Any]:
        """The batches of a `*_on_batch` call (one, or this rank's shard), checked."""
        strategy = _start_distribution()
        batches = data_adapter.make_batches(
            x, y, sample_weight, _len(x), False, self._place_model(), None,
            None if strategy is None else strategy.shard(), class_weight=class_weight,
            loader_draws=False,
        )  # fmt: skip
        self._prepare_for(batches, check_targets=False, strategy=strategy, what=what)
        self.__dict__.pop("_build_draws_due", None)  # built from this batch, drawing nothing
        return batches, strategy

    def train_on_batch(
        self, x: Any, y: Any = None, sample_weight: Any = None, class_weight: Any = None,
        return_dict: bool = False,
    ) -> Any:  # fmt: skip
        """One training step on one (global) batch; returns the loss and metrics."""
        self._assert_compiled("train_on_batch")
        batches, strategy = self._one_batch(x, y, sample_weight, "train_on_batch", class_weight)
        self.reset_metrics()
        self.train()  # type: ignore[attr-defined]
        step_fn = self._make_step("train_step")
        with self._summing_gradients(strategy):
            for batch in batches:
                logs = self._run_step(step_fn, batch, batches, strategy)
        if strategy is not None:
            strategy.reduce_metrics(self.metrics)
        return self._format_results(_pythonify(self._metrics_result_or(logs)), return_dict)

    def test_on_batch(
        self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False
    ) -> Any:
        """Loss and metrics on one (global) batch."""
        self._assert_compiled("test_on_batch")
        batches, strategy = self._one_batch(x, y, sample_weight, "test_on_batch")
        self.reset_metrics()
        self.eval()  # type: ignore[attr-defined]
        step_fn = self._make_step("test_step")
        with torch.no_grad():
            for batch in batches:
                logs = self._run_step(step_fn, batch, batches, strategy)
        if strategy is not None:
            strategy.reduce_metrics(self.metrics)
        return self._format_results(_pythonify(self._metrics_result_or(logs)), return_dict)

    def predict_on_batch(self, x: Any) -> Any:
        batches = data_adapter.make_batches(
            x, None, None, _len(x), False, self._place_model(), None, loader_draws=False
        )
        return self._predict_batches(batches, 0, None)

    # ------------------------------------------------------------------ misc
    def _device(self) -> torch.device:
        for tensor in self.parameters():  # type: ignore[attr-defined]
            return tensor.device
        return torch.device("cpu")

    def get_compile_config(self) -> dict[str, Any]:
        """What `compile()` received, serialised as Keras writes it ({} before compile)."""
        if not self.compiled or self._compile_config is None:
            return {}
        from convolve.saving.serialization import compile_config

        return compile_config(self)

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Compiles the model as `get_compile_config()` (or a Keras file) describes.

        As in Keras, a model that overrides `compile` is left as it is, with a warning."""
        if type(self).compile is not Trainer.compile:
            warnings.warn(
                "`compile()` was not called as part of model loading because the model's "
                "`compile()` method is custom. All subclassed Models that have custom "
                "`compile()` must also override `compile_from_config(config)`. "
                "Alternatively, you can call `compile()` manually after loading.",
                stacklevel=2,
            )
            return
        from convolve.saving.objects import Context
        from convolve.saving.serialization import compile_from_config

        compile_from_config(self, config, Context(), "compile_config")
        if self.built and self.optimizer is not None:  # type: ignore[attr-defined]
            self.optimizer.build(self.trainable_weights)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- helpers
def _start_distribution() -> distribute.DataParallel | None:
    """The data-parallel strategy in effect, with its process group ready."""
    strategy = distribute.active()
    if strategy is not None:
        strategy.setup()
    return strategy


def _describe(batches: Any) -> str:
    """What the user passed, for a message: its type and size."""
    data = getattr(batches, "data", None)
    if data is None:
        return f"{getattr(batches, 'num_samples', 0)} samples"
    try:
        size = f" of length {len(data)}"
    except TypeError:
        size = ""
    return f"x is a {type(data).__name__}{size}"


def _attribute_metrics(model: Any, exclude: Any) -> list[Any]:
    """Metrics held as attributes (alone or in a list) of `model` and of its layers, in
    the order they were set, as Keras tracks them; nested models keep theirs."""
    from convolve.metrics import Metric

    found: list[Any] = []
    seen = {id(exclude)}

    def visit(module: Any) -> None:
        for value in vars(module).values():
            for item in value if isinstance(value, list | tuple) else (value,):
                if isinstance(item, Metric) and id(item) not in seen:
                    seen.add(id(item))
                    found.append(item)
        for child in module.children():
            if not isinstance(child, Trainer):
                visit(child)

    visit(model)
    return found


@contextlib.contextmanager
def _checking_only(model: Any) -> Iterator[None]:
    """A forward pass that only checks shapes leaves the model's state as it found it, as
    Keras's check on symbolic tensors changes nothing: no gradients, no weight assignments
    or random draws (`stateless`), and the weights made non-trainable and the buffers
    (counters, moving statistics) restored."""
    state = {id(t): t for _, spec, t in model._weight_entries() if not spec.trainable}
    state.update((id(t), t) for t in model.buffers())
    saved = [(tensor, tensor.detach().clone()) for tensor in state.values()]
    try:
        with torch.no_grad(), stateless():
            yield
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)


_TAKES_TRAINING: dict[type, bool] = {}


def _takes_training(cls: type) -> bool:
    """Whether `cls.compute_loss` accepts `training` (looked up once per class)."""
    found = _TAKES_TRAINING.get(cls)
    if found is None:
        params = inspect.signature(cls.compute_loss).parameters
        found = "training" in params or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
        )
        _TAKES_TRAINING[cls] = found
    return found


def _keras_shape(x: Any) -> tuple:
    """The Keras shape of a batch of an array or tensor: its batch axis unknown."""
    return (None, *(int(d) for d in np.shape(x)[1:]))


def _batch_size(x: Any) -> int:
    return int(_tree.flatten(x)[0].shape[0])


def _len(x: Any) -> int:
    return int(np.shape(_tree.flatten(x)[0])[0])


def _steps_param(batches: Any) -> int | None:
    """The callbacks' `params["steps"]`: as in Keras, the steps asked for (`steps_per_epoch`,
    `validation_steps`, `steps`) even beyond the data's batches, else the data's length."""
    steps = getattr(batches, "steps", None)
    return steps if steps is not None else _known_length(batches)


def _known_length(batches: Any) -> int | None:
    try:
        return len(batches)
    except TypeError:
        return None


def _checked_verbose(verbose: int | str | None) -> int | str | None:
    """`verbose` as given, for the callbacks' params, as in Keras: "auto", a number or a
    bool (1 and True draw the bar, 2 writes a line per epoch, other values no bar; None
    and 0 are silent). Other strings and other types are refused."""
    if verbose is None or verbose == "auto" or isinstance(verbose, int):
        return verbose
    raise ValueError(f"`verbose` must be 0, 1, 2 or 'auto', received verbose={verbose!r}")


def _pythonify(logs: dict[str, Any], keep_nesting: bool = False) -> dict[str, Any]:
    """One host synchronisation for all values: the end of an epoch or evaluation.

    Scalars become Python floats; a metric with several values (for example Precision
    with several thresholds) becomes a NumPy array, as in Keras.

    A custom step may return nested results ({"compile_metrics": {...}}): they are
    flattened with the keys sorted, or, with `keep_nesting` (an epoch's logs, which the
    callbacks flatten), kept nested, so that the names come in Keras's order."""
    flat = flatten_logs(logs)
    tensors = {k: result_tensor(v).detach() for k, v in flat.items()}
    scalars = [k for k, t in tensors.items() if t.numel() == 1]
    floats = {}
    if scalars:
        stacked = torch.stack([tensors[k].reshape(()).to(torch.float64) for k in scalars])
        floats = dict(zip(scalars, stacked.cpu().tolist(), strict=True))
    values = {k: floats[k] if k in floats else t.cpu().numpy() for k, t in tensors.items()}
    if not keep_nesting or not any(isinstance(v, dict) for v in logs.values()):
        return values

    def rebuild(nested: dict[str, Any]) -> dict[str, Any]:
        return {k: rebuild(v) if isinstance(v, dict) else values[k] for k, v in nested.items()}

    return rebuild(logs)


def _concatenate(outputs: list[Any]) -> Any:
    """The batches' outputs joined along the samples, in the structure of one batch's
    (a tensor, or lists, tuples and dicts of them, nested as the model's outputs are)."""
    leaves = [_tree.flatten(o) for o in outputs]
    joined = [torch.cat([batch[i] for batch in leaves]).numpy() for i in range(len(leaves[0]))]
    return _tree.pack_like(outputs[0], joined)


def _fit_arguments(model: Any, train: Any, epochs: int, shuffle: Any) -> dict[str, Any]:
    """What a backup records of a `fit` call, to detect changes on resume."""
    return {
        "epochs": epochs,
        "batch_size": getattr(train, "batch_size", None),
        "samples": getattr(train, "num_samples", None),
        "steps_per_epoch": _known_length(train),
        "shuffle": shuffle,
        "weights": [list(w.shape) for w in model.state_dict().values()],
        "optimizer": type(model.optimizer).__name__,
    }


def _check_fit_args(epochs: Any, initial_epoch: Any, validation_split: Any, freq: Any) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"`epochs` must be a non-negative integer, received epochs={epochs!r}")
    if not isinstance(initial_epoch, int) or initial_epoch < 0:
        raise ValueError(
            f"`initial_epoch` must be a non-negative integer, received {initial_epoch!r}"
        )
    if not isinstance(validation_split, int | float) or not 0 <= validation_split < 1:
        raise ValueError(
            f"`validation_split` must be in [0, 1), received validation_split={validation_split!r}"
        )
    epochs_listed = isinstance(freq, list | tuple) and all(
        isinstance(e, int) and not isinstance(e, bool) and e >= 1 for e in freq
    )
    if not epochs_listed and (isinstance(freq, bool) or not isinstance(freq, int) or freq < 1):
        raise ValueError(
            "`validation_freq` must be a positive integer (validate every that many epochs) "
            f"or a list of epoch numbers counted from 1; received {freq!r}"
        )


def _capped_epochs(epochs: int) -> int:
    """`epochs` within `convolve.config.max_epochs()`, warning when cut, as Keras."""
    cap = config.max_epochs()
    if cap is None or epochs <= cap:
        return epochs
    warnings.warn(f"Limiting epochs to {cap}", stacklevel=3)
    return cap


def _validates_after(epoch: int, freq: int | list[int]) -> bool:
    """Keras's rule: every `freq` epochs, or after the listed epochs (counted from 1)."""
    return epoch + 1 in freq if isinstance(freq, list | tuple) else (epoch + 1) % freq == 0


def _overrides_apply(optimizer: Any) -> bool:
    """Whether `optimizer`'s class (a user's subclass) defines its own `apply()`: Keras's
    training step calls `apply`, so such an override must see every update."""
    for cls in type(optimizer).__mro__:
        if "apply" in cls.__dict__:
            return not cls.__module__.startswith("convolve.")
    return False
