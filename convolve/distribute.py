"""Data-parallel training on `torch.distributed`, with no change to the training script.

Launch the same script once per GPU (or CPU process) with `torchrun`::

    torchrun --nproc_per_node=4 train.py

`fit` sees the job's environment (`WORLD_SIZE` > 1), initialises the process group if the
script did not (NCCL on CUDA, gloo on CPU) and trains data-parallel:

- `batch_size` is the global batch size, as in Keras's `DataParallel`: every process
  takes its share of each global batch of one permutation that all processes agree on, so
  each sample is seen once per epoch;
- each process weights its gradient by its share of the global batch before one
  all-reduce (sum) per step, so the update equals single-process training on the global
  batch, uneven last batches included;
- metrics are summed over processes before each result is read, so the History holds the
  global numbers, identical on every process;
- weights start from process 0's values; moving statistics (non-trainable weights) are
  copied from process 0 at the end of every epoch;
- only process 0 draws the progress bar and runs the callbacks that write
  (`ModelCheckpoint`, `CSVLogger`, `TensorBoard`, or any callback whose
  `rank_zero_only` attribute is True);
- a request to stop (`model.stop_training = True`) made during an epoch takes effect on
  every process at the end of that epoch, so that they stay in step.

Every process must call `fit` (and `evaluate`) with the same arguments. `predict` does
not communicate: each process predicts all of its input.

`DataParallel()` makes the same thing explicit and adds options (synchronised batch
normalisation, the shuffling seed); in a single process it is a no-op apart from seeding
the shuffle.

Example:
    >>> from convolve import distribute
    >>> distribute.world_size(), distribute.rank(), distribute.is_chief()
    (1, 0, True)
    >>> with distribute.DataParallel(seed=0) as strategy:
    ...     strategy.world_size
    1
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

__all__ = [
    "DataParallel",
    "convert_sync_batchnorm",
    "distribution",
    "initialize",
    "is_chief",
    "local_rank",
    "rank",
    "rank_zero_only",
    "set_distribution",
    "world_size",
]

F = TypeVar("F", bound=Callable[..., Any])


# --------------------------------------------------------------------- the job
def _initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Number of processes in the job (1 outside `torchrun` / a process group)."""
    if _initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's index in the job, from 0."""
    if _initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    """This process's index on its machine (which GPU it uses)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_chief() -> bool:
    """Whether this is process 0, the one that prints and writes files."""
    return rank() == 0


def rank_zero_only(fn: F) -> F:
    """Makes `fn` run on process 0 only; elsewhere it does nothing and returns None.

    Example:
        >>> @rank_zero_only
        ... def report(message):
        ...     return message
        >>> report("written once")
        'written once'
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs) if is_chief() else None

    return wrapper  # type: ignore[return-value]


def initialize(backend: str | None = None) -> None:
    """Joins the job's process group from the `torchrun` environment, if not done yet.

    Does nothing in a single process or when the group exists. On CUDA it also selects
    the process's GPU (`LOCAL_RANK`).

    Args:
        backend: `"nccl"` or `"gloo"`; by default NCCL when the device is CUDA, else gloo.
    """
    if _initialized() or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return
    from convolve import config

    device = config.device()
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend or ("nccl" if device.type == "cuda" else "gloo"))


def convert_sync_batchnorm(model: Any) -> Any:
    """Makes every `BatchNormalization` in `model` use the statistics of the global batch.

    Args:
        model: A layer or model.

    Returns:
        The same model, changed in place.
    """
    from convolve.layers.normalization import BatchNormalization

    for module in model.modules():
        if isinstance(module, BatchNormalization):
            module.synchronized = True
    return model


# --------------------------------------------------------------------- the strategy
_scopes: list[DataParallel] = []  # scopes entered, innermost last
_global: DataParallel | None = None  # set with set_distribution
_implicit: DataParallel | None = None  # created when a torchrun job calls fit


class DataParallel:
    """Data-parallel training over the processes of a `torch.distributed` job.

    Enter it as a context manager (or call `set_distribution`) around `fit`, `evaluate`
    and `predict`. Without it, a job launched with more than one process gets a default
    `DataParallel()` anyway.

    Args:
        sync_batch_norm: Convert the model's `BatchNormalization` layers to synchronised
            ones (statistics over the global batch), as `convert_sync_batchnorm` does.
        seed: Seed of the shared shuffling order; by default process 0 draws one from
            torch's generator at each `fit` and sends it to the others.
        backend: Process-group backend when `fit` has to create the group.

    Example:
        >>> strategy = DataParallel(sync_batch_norm=True)
        >>> with strategy.scope():
        ...     distribution() is strategy
        True
    """

    def __init__(
        self, sync_batch_norm: bool = False, seed: int | None = None, backend: str | None = None
    ) -> None:
        problems = []
        if not isinstance(sync_batch_norm, bool):
            problems.append(f"sync_batch_norm must be a bool, received {sync_batch_norm!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            problems.append(f"seed must be a non-negative int or None, received {seed!r}")
        if backend is not None and backend not in ("nccl", "gloo", "mpi", "ucc"):
            problems.append(f"backend must be 'nccl', 'gloo', 'mpi' or 'ucc', received {backend!r}")
        if problems:
            raise ValueError("DataParallel: " + "; ".join(problems) + ".")
        self.sync_batch_norm = sync_batch_norm
        self.seed = seed
        self.backend = backend

    # ------------------------------------------------------------- scope
    def scope(self) -> DataParallel:
        """The strategy itself, as a context manager (Keras's `with strategy.scope():`)."""
        return self

    def __enter__(self) -> DataParallel:
        _scopes.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _scopes.pop()

    @property
    def world_size(self) -> int:
        return world_size()

    @property
    def rank(self) -> int:
        return rank()

    @property
    def distributed(self) -> bool:
        """Whether there is more than one process to talk to."""
        return world_size() > 1

    def __repr__(self) -> str:
        return (
            f"<DataParallel world_size={self.world_size} rank={self.rank} "
            f"sync_batch_norm={self.sync_batch_norm}>"
        )

    # ------------------------------------------------------------- used by the loop
    def setup(self) -> None:
        """Creates the process group when the environment asks for one."""
        initialize(self.backend)

    def _comm_device(self) -> torch.device:
        if _initialized() and dist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")

    def shard(self, shuffle_seed: bool = False) -> Shard:
        """This process's place in the job, and the shared shuffling seed when asked."""
        return Shard(rank(), world_size(), self._shared_seed() if shuffle_seed else None)

    def _shared_seed(self) -> int:
        seed = self.seed
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        if self.distributed:  # everyone takes process 0's seed
            value = torch.tensor([seed], dtype=torch.int64, device=self._comm_device())
            dist.broadcast(value, src=0)
            seed = int(value.item())
        return seed

    def prepare(self, model: Any) -> None:
        """Before training: synchronised BN if asked, and process 0's weights everywhere."""
        if self.sync_batch_norm:
            convert_sync_batchnorm(model)
        if self.distributed:
            self._broadcast([*model.parameters(), *model.buffers()])

    def end_epoch(self, model: Any) -> None:
        """Sums the metrics over processes and copies process 0's moving statistics."""
        self.reduce_metrics(model.metrics)
        if self.distributed:
            self._broadcast(list(model.buffers()))

    def reduce_metrics(self, metrics: Iterable[Any]) -> None:
        """Sums every metric's state over processes (each state is a sum by design)."""
        if self.distributed:
            _all_reduce([v for m in metrics for v in m.variables], self._comm_device())

    def any(self, flag: bool) -> bool:
        """Whether `flag` is True on any process (e.g. a stop request)."""
        if not self.distributed:
            return flag
        value = torch.tensor([int(flag)], device=self._comm_device())
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def local_weight(self, local_size: int, global_size: int | None, padding: bool) -> Any:
        """This process's share of the global batch: its weight in the gradient sum."""
        if padding:
            return 0.0
        if global_size is not None:
            return local_size / global_size
        if not self.distributed:
            return 1.0
        # Batches sharded by the user's own sampler: count them (no host synchronisation).
        count = torch.tensor([float(local_size)], device=self._comm_device())
        total = count.clone()
        dist.all_reduce(total)
        return (count / total).reshape(())

    def attach(self, model: Any) -> GradientSync:
        """Starts summing the gradients of `model` over processes after each backward."""
        return GradientSync(
            [p for p in model.parameters() if p.requires_grad],
            self._comm_device(),
            self.distributed,
        )

    def _broadcast(self, tensors: list[torch.Tensor]) -> None:
        with torch.no_grad():
            _flat_collective(tensors, self._comm_device(), lambda t: dist.broadcast(t, src=0))


def distribution() -> DataParallel | None:
    """The distribution of the innermost entered scope, else the one set globally, if any."""
    return _scopes[-1] if _scopes else _global


def set_distribution(value: DataParallel | None) -> None:
    """Sets the distribution used outside any scope (None: the default again)."""
    global _global
    if value is not None and not isinstance(value, DataParallel):
        raise ValueError(f"set_distribution expects a DataParallel or None; received {value!r}.")
    _global = value


def active() -> DataParallel | None:
    """The distribution `fit` uses: an explicit one, else a default one in a job."""
    global _implicit
    chosen = distribution()
    if chosen is not None:
        return chosen
    if world_size() > 1:
        if _implicit is None:
            _implicit = DataParallel()
        return _implicit
    return None


@dataclass(frozen=True)
class Shard:
    """Which part of each global batch this process takes.

    Attributes:
        rank: This process's index.
        world: Number of processes.
        seed: Seed of the shuffling order shared by all processes (None: not shuffled
            with a shared seed).
    """

    rank: int
    world: int
    seed: int | None = None

    def part(self, start: int, stop: int) -> tuple[int, int, bool]:
        """The local range of global batch `[start, stop)` and whether it is padding.

        The first `size % world` processes take one sample more. A process left with
        nothing (a final batch smaller than the job) repeats the batch's first sample
        with weight zero, so that every process still runs the step.
        """
        size = stop - start
        share, extra = divmod(size, self.world)
        first = start + self.rank * share + min(self.rank, extra)
        count = share + (1 if self.rank < extra else 0)
        if count == 0:
            return start, start + 1, True
        return first, first + count, False


# --------------------------------------------------------------------- gradients
class _WeightGradient(torch.autograd.Function):
    """Identity on the loss; scales its gradient by this process's share of the batch."""

    @staticmethod
    def forward(ctx: Any, loss: torch.Tensor, weight: Any, sync: GradientSync) -> torch.Tensor:
        ctx.weight = weight
        ctx.sync = sync
        return loss.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, None, None]:
        ctx.sync.loss_weighted = True
        return grad * ctx.weight, None, None


class GradientSync:
    """Sums gradients over processes once per backward pass, in one flat all-reduce.

    Each parameter's gradient hook queues one callback that runs when the backward pass
    ends; it all-reduces every gradient at once. The loss is weighted by the process's
    share of the global batch before the backward (`weight_loss`), so that layers whose
    forward pass communicates (synchronised batch normalisation) receive exact gradients
    too; a loss computed another way is weighted on the gradients instead.

    Attributes:
        weight: This process's share of the current global batch.
        active: Whether a training step is running (gradients elsewhere are left alone).
    """

    def __init__(self, params: list[torch.Tensor], device: torch.device, reduce: bool) -> None:
        self.params = params
        self.device = device
        self.reduce = reduce
        self.weight: Any = 1.0
        self.active = False
        self.loss_weighted = False
        self._queued = False
        self._handles = [p.register_post_accumulate_grad_hook(self._on_grad) for p in params]

    @torch.compiler.disable
    def weight_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """The loss, with its gradient scaled by `weight`."""
        if not self.active:
            return loss
        return _WeightGradient.apply(loss, self.weight, self)

    def _on_grad(self, _param: torch.Tensor) -> None:
        if self.active and not self._queued:
            self._queued = True
            torch.autograd.Variable._execution_engine.queue_callback(self._finish)

    def _finish(self) -> None:
        self._queued = False
        grads = [p.grad for p in self.params if p.grad is not None]
        unit = isinstance(self.weight, float) and self.weight == 1.0
        if not self.loss_weighted and grads and not unit:
            torch._foreach_mul_(grads, self.weight)
        self.loss_weighted = False
        if self.reduce and grads:
            with torch.no_grad():
                _all_reduce(grads, self.device)

    def close(self) -> None:
        """Removes the gradient hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles = []


# --------------------------------------------------------------------- flat collectives
def _all_reduce(tensors: list[torch.Tensor], device: torch.device) -> None:
    _flat_collective(tensors, device, dist.all_reduce)


def _flat_collective(
    tensors: list[torch.Tensor], device: torch.device, op: Callable[[torch.Tensor], Any]
) -> None:
    """Runs `op` on one flat buffer per dtype holding all `tensors`, then writes back."""
    groups: dict[torch.dtype, list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault(t.dtype, []).append(t)
    for group in groups.values():
        flat = torch.cat([t.reshape(-1).to(device) for t in group])
        op(flat)
        for t, part in zip(group, flat.split([t.numel() for t in group]), strict=True):
            t.copy_(part.view(t.shape))
