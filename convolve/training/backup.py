"""`BackupAndRestore`: an interrupted `fit` resumes at the exact batch where it stopped.

A backup is one file, `backup-<serial>.safetensors`, written atomically: the model's
state (weights and buffers, bit for bit), the optimizer's variables, the running metric
totals of the current epoch, every random-number state training draws from (torch's,
NumPy's and Python's global generators, seeded augmentation layers, the data order's),
the current epoch's sample order, the callbacks' state (EarlyStopping's counters and best
weights, ...) and the History. The newest two generations are kept; when the newest
cannot be read (truncated, corrupt: each file carries a SHA-256 of its contents), the
previous one is used, with a warning.

The training loop (`Trainer.fit`) restores a backup after `on_train_begin` and
`on_epoch_begin` of the interrupted epoch, so that whatever those hooks reset is put back,
and then starts the data at the next batch. A run killed at any moment and started again
continues as if it had never stopped: the same weights at the end, bit for bit, every
sample seen once per epoch.
"""

from __future__ import annotations

import glob
import json
import os
import random
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from convolve.random import layer_seed_generators
from convolve.saving import safetensors_format
from convolve.saving.atomic import write_bytes_atomic
from convolve.training.callback import Callback
from convolve.training.checkpoint import has_nonfinite_weights

__all__ = ["BackupAndRestore", "FitContext", "ResumePoint", "find_resume_point"]

_FORMAT = "convolve.backup"
_GENERATIONS = 2
_NAME = re.compile(r"^backup-(\d{8})\.safetensors$")


class BackupAndRestore(Callback):
    """Backs up the whole training state, so that a killed `fit` resumes where it was.

    Run the same script again after an interruption: `fit` finds the newest backup in
    `backup_dir` and continues from the batch after it, with the weights, optimizer
    state, epoch, position in the epoch, data order, random-number state, callback state
    and history the interrupted run had. (Keras replays the whole interrupted epoch; here
    nothing is repeated or skipped.)

    Args:
        backup_dir: Folder for the backups; only this callback's files go there.
        save_freq: `"epoch"` to back up after each epoch, or an integer number of
            batches between backups.
        double_checkpoint: Accepted for Keras compatibility; the previous generation is
            always kept, so a damaged newest backup falls back to it.
        delete_checkpoint: Whether to delete the backups when training finishes.

    Raises:
        ValueError: For an empty `backup_dir` or an invalid `save_freq`.

    Example:
        >>> import tempfile
        >>> backup = BackupAndRestore(tempfile.mkdtemp(), save_freq=100)
        >>> # model.fit(x, y, epochs=10, callbacks=[backup])   # rerun after a crash
    """

    takes_tensor_logs = True  # reads batch values itself, only when it needs them

    _backup_attributes = ("_batches_seen_since_last_saving", "_last_batch_seen")

    def __init__(
        self,
        backup_dir: str | os.PathLike,
        save_freq: str | int = "epoch",
        double_checkpoint: bool = False,
        delete_checkpoint: bool = True,
    ) -> None:
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1
        ):
            raise ValueError(
                "Invalid value for argument `save_freq`. "
                f"Received: save_freq={save_freq!r}. "
                "Expected either 'epoch' or a positive integer value."
            )
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.double_checkpoint = double_checkpoint
        self.delete_checkpoint = delete_checkpoint
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = -1
        self._epoch = 0

    # ------------------------------------------------------------------ writing
    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches_seen_since_last_saving += batch - self._last_batch_seen
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            self._save(self._epoch, batch + 1)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._last_batch_seen = -1
        if self.save_freq == "epoch":
            self._save(epoch + 1, 0)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.delete_checkpoint:
            for path in _generations(self.backup_dir):
                os.remove(path)
            _remove_stale_temporaries(self.backup_dir)
            if os.path.isdir(self.backup_dir) and not os.listdir(self.backup_dir):
                os.rmdir(self.backup_dir)

    def _save(self, epoch: int, step: int) -> None:
        from convolve.distribute import is_chief

        context = getattr(self.model, "_fit_context", None)
        if context is None or not is_chief():
            return
        if has_nonfinite_weights(self.model):
            warnings.warn(
                f"BackupAndRestore: not backing up epoch {epoch}, batch {step}: the model's "
                f"weights contain NaN or infinity; '{self.backup_dir}' keeps the last "
                "finite backup.",
                stacklevel=2,
            )
            return
        tensors, meta = capture(self.model, context, epoch, step)
        os.makedirs(self.backup_dir, exist_ok=True)
        existing = _generations(self.backup_dir)
        serial = _serial(existing[-1]) + 1 if existing else 0
        data = safetensors_format.dumps(tensors, {"format": _FORMAT, "state": json.dumps(meta)})
        path = os.path.join(self.backup_dir, f"backup-{serial:08d}.safetensors")
        write_bytes_atomic(path, data)
        for old in existing[: max(0, len(existing) + 1 - _GENERATIONS)]:
            os.remove(old)

    # ------------------------------------------------------------------ reading
    def load_resume_point(self) -> ResumePoint | None:
        """The newest readable backup, or None when there is none."""
        _remove_stale_temporaries(self.backup_dir)
        failures = []
        for path in reversed(_generations(self.backup_dir)):
            try:
                point = _read(path)
            except (OSError, ValueError) as error:
                failures.append(f"{path}: {error}")
                continue
            if failures:
                warnings.warn(
                    "BackupAndRestore: the newest backup could not be read and an earlier "
                    f"generation is used instead ({path}). " + "; ".join(failures),
                    stacklevel=2,
                )
            return point
        if failures:
            raise ValueError(
                f"BackupAndRestore: no backup in '{self.backup_dir}' can be read: "
                + "; ".join(failures)
                + ". Remove the folder to start training from the beginning."
            )
        return None


def find_resume_point(callbacks: list[Callback]) -> ResumePoint | None:
    """The backup to resume from, if a `BackupAndRestore` among `callbacks` has one."""
    for cb in callbacks:
        if isinstance(cb, BackupAndRestore):
            return cb.load_resume_point()
    return None


# ---------------------------------------------------------------------- state
@dataclass
class FitContext:
    """What `fit` shares with its backups: the data, the callbacks, the arguments."""

    batches: Any
    callbacks: list[Callback]
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass
class ResumePoint:
    """A backup read back: where to resume and everything to put back first."""

    path: str
    epoch: int
    step: int
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]

    def check_arguments(self, arguments: dict[str, Any]) -> None:
        """Reports training arguments that changed since the backup was written."""
        saved = self.meta.get("arguments", {})
        changed = {
            k: (saved.get(k), arguments.get(k))
            for k in sorted(set(saved) | set(arguments))
            if saved.get(k) != arguments.get(k)
        }
        if not changed:
            return
        listing = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
        fatal = {"batch_size", "samples", "shuffle", "weights", "steps_per_epoch"} & set(changed)
        if fatal and self.step > 0:
            raise ValueError(
                f"Cannot resume from '{self.path}' (epoch {self.epoch + 1}, batch "
                f"{self.step}): training arguments changed since the backup ({listing}). "
                "Run with the original arguments, or remove the backup folder to start over."
            )
        warnings.warn(
            f"Resuming from '{self.path}' with changed training arguments: {listing}.",
            stacklevel=3,
        )

    def restore(self, model: Any, context: FitContext) -> None:
        """Puts the saved state back into the model, optimizer, metrics, data, callbacks."""
        t = self.tensors
        with torch.no_grad():
            state = model.state_dict()
            missing = [k for k in state if f"model/{k}" not in t]
            if missing or len(state) != sum(k.startswith("model/") for k in t):
                raise ValueError(
                    f"The backup '{self.path}' was written for a different model: its "
                    f"weights do not match this model's (first missing: {missing[:3]})."
                )
            for name, value in state.items():
                value.copy_(t[f"model/{name}"])
            model.optimizer.set_weights(_numbered(t, "optimizer/"))
            if self.step > 0:
                _restore_metrics(model, context, t)
        _restore_rng(model, context, t, self.meta["rng"])
        # Callbacks are matched by class and rank among those of their class, so that
        # adding or removing a callback of another class does not shift the others.
        saved = _by_class_rank([(entry["class"], entry) for entry in self.meta["callbacks"]])
        for key, cb in _by_class_rank(
            [(type(cb).__name__, cb) for cb in context.callbacks]
        ).items():
            if key in saved:
                _load_callback_state(cb, saved[key]["state"], t, saved[key]["index"])
        if self.step > 0 or "data/starts" in t:
            _resume_data(context.batches, t, self.step)


def capture(model: Any, context: FitContext, epoch: int, step: int) -> tuple[dict, dict]:
    """The tensors and metadata of a backup taken before (`epoch`, `step`)."""
    tensors: dict[str, torch.Tensor] = {}
    for name, value in model.state_dict().items():
        tensors[f"model/{name}"] = value.detach().cpu().clone()
    for i, value in enumerate(model.optimizer.variables):
        tensors[f"optimizer/{i:05d}"] = value.detach().cpu().clone()
    if step > 0:
        for i, metric in enumerate(model.metrics):
            for j, value in enumerate(metric.variables):
                tensors[f"metrics/{i:03d}/{j:03d}"] = value.detach().cpu().clone()
    # Mid-epoch: the epoch's pass; between epochs: the pass the next epoch goes on with.
    plan = getattr(context.batches, "epoch_plan" if step > 0 else "carried_plan", None)
    if plan is not None:
        tensors["data/starts"] = torch.tensor(plan.starts, dtype=torch.int64)
        tensors["data/offset"] = torch.tensor(plan.offset, dtype=torch.int64)
        if plan.order is not None:
            tensors["data/order"] = plan.order.detach().cpu().to(torch.int64)
    rng = _capture_rng(model, context, tensors)
    callbacks = []
    for index, cb in enumerate(context.callbacks):
        state = _callback_state(cb, tensors, index)
        callbacks.append({"class": type(cb).__name__, "index": index, "state": state})
    meta = {
        "epoch": epoch,
        "step": step,
        "rng": rng,
        "callbacks": callbacks,
        "arguments": context.arguments,
    }
    return tensors, meta


def _read(path: str) -> ResumePoint:
    with open(path, "rb") as f:
        data = f.read()
    st = safetensors_format.SafetensorsFile(data, path)  # checks the SHA-256 it carries
    if st.metadata.get("format") != _FORMAT or "sha256" not in st.metadata:
        raise ValueError(f"not a convolve backup (format {st.metadata.get('format')!r:.40})")
    meta = json.loads(st.metadata["state"])
    tensors = {name: st.tensor(name) for name in st.entries}
    return ResumePoint(path, int(meta["epoch"]), int(meta["step"]), tensors, meta)


def _by_class_rank(items: list[tuple[str, Any]]) -> dict[tuple[str, int], Any]:
    seen: dict[str, int] = {}
    keyed = {}
    for name, item in items:
        keyed[(name, seen.get(name, 0))] = item
        seen[name] = seen.get(name, 0) + 1
    return keyed


def _numbered(tensors: dict[str, torch.Tensor], prefix: str) -> list[torch.Tensor]:
    return [tensors[k] for k in sorted(k for k in tensors if k.startswith(prefix))]


def _restore_metrics(model: Any, context: FitContext, t: dict[str, torch.Tensor]) -> None:
    """Running totals of the interrupted epoch (metrics are built from a first batch)."""
    if model._compiled_metrics is not None and model._compiled_metrics._metrics is None:
        x, y, _ = context.batches.peek()
        model._build_metrics_for(x, y)
    for i, metric in enumerate(model.metrics):
        for j, value in enumerate(metric.variables):
            value.copy_(t[f"metrics/{i:03d}/{j:03d}"])


def _resume_data(batches: Any, t: dict[str, torch.Tensor], step: int) -> None:
    from convolve.training.data_adapter import ArrayBatches, EpochPlan

    if isinstance(batches, ArrayBatches):
        starts = t["data/starts"].tolist()
        offset = int(t["data/offset"]) if "data/offset" in t else 0
        batches.resume(EpochPlan(t.get("data/order"), starts, step, offset))
    else:
        batches.resume(step)


# ---------------------------------------------------------------------- random state
def _seeded_layers(model: Any) -> list[tuple[str, Any]]:
    return [(n, m) for n, m in model.named_modules() if getattr(m, "_generators", None)]


def _capture_rng(model: Any, context: FitContext, tensors: dict[str, torch.Tensor]) -> dict:
    tensors["rng/torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = state
    for name, layer in _seeded_layers(model):
        for device, generator in layer._generators.items():
            tensors[f"rng/layer/{name}/{device}"] = generator.get_state()
    # A layer's SeedGenerator draws from its seed plus its count of draws: the count is
    # its whole state.
    for name, _, generator in layer_seed_generators(model):
        tensors[f"rng/draws/{name}"] = torch.tensor(generator._draws, dtype=torch.int64)
    shared = getattr(context.batches, "_generator", None)
    if shared is not None:
        tensors["rng/data"] = shared.get_state()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["rng/numpy"] = torch.from_numpy(keys.astype(np.int64))
    version, internal, gauss_next = random.getstate()
    tensors["rng/python"] = torch.tensor(internal, dtype=torch.int64)
    return {
        "numpy": [kind, int(pos), int(has_gauss), float(cached)],
        "python": [version, gauss_next],
    }


def _restore_rng(model: Any, context: FitContext, t: dict[str, torch.Tensor], meta: dict):
    torch.set_rng_state(t["rng/torch"])
    cuda = _numbered(t, "rng/cuda/")
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    modules = dict(model.named_modules())
    for key in [k for k in t if k.startswith("rng/layer/")]:
        # `generator()` also creates one that this process has not needed yet.
        name, device = key.removeprefix("rng/layer/").rsplit("/", 1)
        layer = modules.get(name)
        if layer is not None:
            layer.generator(torch.device(device)).set_state(t[key])
    for name, _, generator in layer_seed_generators(model):
        if f"rng/draws/{name}" in t:
            generator._draws = int(t[f"rng/draws/{name}"])
    if "rng/data" in t and getattr(context.batches, "_shared", None) is not None:
        context.batches._shared().set_state(t["rng/data"])
    kind, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, t["rng/numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, gauss_next = meta["python"]
    random.setstate((version, tuple(t["rng/python"].tolist()), gauss_next))


# ---------------------------------------------------------------------- callbacks
def _callback_state(cb: Callback, tensors: dict[str, torch.Tensor], index: int) -> dict:
    """A callback's `_backup_attributes`: JSON values, lists of arrays as tensors."""
    state: dict[str, Any] = {}
    for attr in getattr(cb, "_backup_attributes", ()):
        value = getattr(cb, attr, None)
        if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
            for j, array in enumerate(value):
                tensors[f"callbacks/{index:03d}/{attr}/{j:05d}"] = torch.from_numpy(array.copy())
            state[attr] = {"arrays": len(value)}
        else:
            state[attr] = {"value": _jsonable(value)}
    extra = getattr(cb, "_backup_extra", None)
    if extra is not None:
        state["_extra"] = {"value": extra()}
    return state


def _load_callback_state(cb: Callback, state: dict, t: dict[str, torch.Tensor], index: int):
    for attr, entry in state.items():
        if attr == "_extra":
            cb._restore_extra(entry["value"])  # type: ignore[attr-defined]
        elif "arrays" in entry:
            prefix = f"callbacks/{index:03d}/{attr}/"
            setattr(cb, attr, [a.numpy() for a in _numbered(t, prefix)])
        else:
            setattr(cb, attr, entry["value"])


def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor | np.ndarray | np.generic):
        return np.asarray(value.cpu() if isinstance(value, torch.Tensor) else value).tolist()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# ---------------------------------------------------------------------- files
def _generations(directory: str) -> list[str]:
    if not os.path.isdir(directory):
        return []
    names = sorted(n for n in os.listdir(directory) if _NAME.match(n))
    return [os.path.join(directory, n) for n in names]


def _serial(path: str) -> int:
    return int(_NAME.match(os.path.basename(path)).group(1))  # type: ignore[union-attr]


def _remove_stale_temporaries(directory: str) -> None:
    """Temporary files of writes that a kill interrupted (never a finished backup)."""
    for path in glob.glob(os.path.join(glob.escape(directory), ".backup-*.tmp")):
        os.remove(path)
