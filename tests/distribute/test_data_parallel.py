"""Data parallelism: a real two-process torchrun job against the single-process run, and the
pieces (sharding, callbacks on process 0, the strategy's scope) one by one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from convolve import callbacks, distribute, layers, models, utils
from convolve.training import data_adapter
from convolve.training.callbacks import CallbackList

sys.path.insert(0, str(Path(__file__).parent))
import dp_worker  # noqa: E402


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("dp")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    worker = Path(__file__).parent / "dp_worker.py"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = subprocess.run(
        [*cmd, str(worker), str(out)], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]


@pytest.fixture(scope="module")
def reference_results():
    """The same runs in this one process: a DataParallel job of one."""
    return {name: dp_worker.run(name) for name in dp_worker.SAMPLES}


def _max_difference(a: list, b: list) -> float:
    return max(float(np.max(np.abs(np.array(p) - np.array(q)))) for p, q in zip(a, b, strict=True))


@pytest.mark.parametrize("name", sorted(dp_worker.SAMPLES))
def test_two_processes_match_one_process_with_the_global_batch(
    name, two_process_results, reference_results
):
    rank0, rank1 = (r[name] for r in two_process_results)
    reference = reference_results[name]
    assert two_process_results[0]["world_size"] == 2
    assert two_process_results[0]["backend"] == "gloo"
    # Both processes end with the same weights, equal to the single-process run's.
    assert _max_difference(rank0["weights"], rank1["weights"]) == 0.0
    assert _max_difference(rank0["weights"], reference["weights"]) < 1e-5
    # The History is the global one, the same on both processes.
    assert rank0["history"] == rank1["history"]
    for key, values in reference["history"].items():
        np.testing.assert_allclose(rank0["history"][key], values, rtol=0, atol=1e-5)
    assert rank0["evaluate"] == rank1["evaluate"]
    np.testing.assert_allclose(
        list(rank0["evaluate"].values()), list(reference["evaluate"].values()), atol=1e-5
    )


@pytest.mark.parametrize("name", sorted(dp_worker.SAMPLES))
def test_each_sample_is_seen_once_per_epoch_in_the_shared_order(
    name, two_process_results, reference_results
):
    rank0, rank1 = (r[name] for r in two_process_results)
    reference = reference_results[name]
    n = dp_worker.SAMPLES[name]
    for epoch, (steps0, steps1) in enumerate(zip(rank0["seen"], rank1["seen"], strict=True)):
        seen = sorted(i for step in steps0 + steps1 for i in step)
        assert seen == list(range(n)), f"epoch {epoch}"
        # Each global batch is the single-process batch, split between the processes.
        for a, b, whole in zip(steps0, steps1, reference["seen"][epoch], strict=True):
            assert a + b == whole
    # Epochs draw new orders.
    assert reference["seen"][0] != reference["seen"][1]


def test_compiled_steps_train_data_parallel_like_eager_ones(two_process_results):
    rank0, rank1 = (r["bn-jit"] for r in two_process_results)
    assert _max_difference(rank0["weights"], rank1["weights"]) == 0.0
    assert _max_difference(rank0["weights"], two_process_results[0]["bn"]["weights"]) < 1e-5
    assert rank0["seen"] == two_process_results[0]["bn"]["seen"]


def test_uneven_last_batches_are_split_as_expected(two_process_results):
    rank0, rank1 = (r for r in two_process_results)
    # 37 samples, global batch 8: the last batch of 5 splits 3 + 2.
    assert [len(s) for s in rank0["bn"]["seen"][0]] == [4, 4, 4, 4, 3]
    assert [len(s) for s in rank1["bn"]["seen"][0]] == [4, 4, 4, 4, 2]
    # 33 samples: the last batch of 1 leaves process 1 a stand-in sample of weight zero.
    assert [len(s) for s in rank0["padded"]["seen"][0]] == [4, 4, 4, 4, 1]
    assert [len(s) for s in rank1["padded"]["seen"][0]] == [4, 4, 4, 4, 0]
    assert rank0["bn"]["synchronized"] == [True]


# ------------------------------------------------------------------ sharding
@pytest.mark.parametrize("world", [1, 2, 3, 5])
def test_shard_parts_cover_each_global_batch_once(world):
    for size in range(1, 12):
        parts = [distribute.Shard(r, world).part(10, 10 + size) for r in range(world)]
        real = [range(lo, hi) for lo, hi, padding in parts if not padding]
        assert sorted(i for r in real for i in r) == list(range(10, 10 + size))
        sizes = [len(r) for r in real]
        assert max(sizes) - min(sizes) <= 1
        assert not parts[0][2]  # process 0 always has real samples
        for lo, hi, padding in parts:
            if padding:
                assert (lo, hi) == (10, 11) and size < world


def test_array_batches_share_one_order_and_record_global_sizes():
    x = np.arange(11, dtype="float32").reshape(11, 1)
    parts = []
    for rank in (0, 1):
        shard = distribute.Shard(rank, 2, seed=7)
        batches = data_adapter.make_batches(x, None, None, 4, True, "cpu", shard=shard)
        epoch = []
        for bx, _, _ in batches:
            epoch.append((bx[:, 0].int().tolist(), batches.global_size))
        parts.append(epoch)
    assert [size for _, size in parts[0]] == [4, 4, 3]
    merged = [a + b for (a, _), (b, _) in zip(*parts, strict=True)]
    assert sorted(i for batch in merged for i in batch) == list(range(11))
    generator = torch.Generator().manual_seed(7)
    order = torch.randperm(11, generator=generator).tolist()
    assert merged == [order[0:4], order[4:8], order[8:11]]


class _Batches:
    """A re-iterable source of batches, as a user's own loader would be."""

    def __init__(self, items):
        self.items = items

    def __iter__(self):
        return iter(self.items)


def test_iterable_batches_take_their_part_and_dataloader_samplers_are_respected():
    x = torch.arange(10, dtype=torch.float32).reshape(10, 1)
    y = torch.arange(10)
    shard = distribute.Shard(1, 2)
    loader = _Batches([(x[i : i + 5], y[i : i + 5]) for i in (0, 5)])
    batches = data_adapter.make_batches(loader, shard=shard)
    got = [(bx[:, 0].int().tolist(), by.tolist()) for bx, by, _ in batches]
    assert got == [([3, 4], [3, 4]), ([8, 9], [8, 9])]
    assert batches.global_size == 5

    dataset = torch.utils.data.TensorDataset(x, y)
    sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=2, rank=1, shuffle=False)
    sharded_loader = torch.utils.data.DataLoader(dataset, batch_size=5, sampler=sampler)
    batches = data_adapter.make_batches(sharded_loader, shard=shard)
    got = [by.tolist() for _, by, _ in batches]
    assert got == [[1, 3, 5, 7, 9]]  # as the sampler gives them, not split again
    batches.set_epoch(3)  # what fit does at each epoch, for the sampler's shuffling
    assert sampler.epoch == 3


# ------------------------------------------------------------------ process 0 only
def test_writing_callbacks_run_on_process_zero_only(monkeypatch, tmp_path):
    def make():
        stop = callbacks.EarlyStopping(monitor="loss")
        kept_everywhere = callbacks.LambdaCallback()
        chief_lambda = callbacks.LambdaCallback()
        chief_lambda.rank_zero_only = True
        csv = callbacks.CSVLogger(str(tmp_path / "log.csv"))
        checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "m.keras"))
        board = callbacks.TensorBoard(str(tmp_path / "tb"))
        csv_everywhere = callbacks.CSVLogger(str(tmp_path / "mine.csv"))
        csv_everywhere.rank_zero_only = False
        given = [stop, kept_everywhere, chief_lambda, csv, checkpoint, board, csv_everywhere]
        return given, CallbackList(given, add_history=True, add_progbar=True)

    given, on_chief = make()
    assert on_chief.callbacks[: len(given)] == given
    assert [type(c).__name__ for c in on_chief.callbacks[len(given) :]] == [
        "History",
        "ProgbarLogger",
    ]

    monkeypatch.setenv("RANK", "1")
    assert not distribute.is_chief()
    given, elsewhere = make()
    stop, kept_everywhere, _, _, _, _, csv_everywhere = given
    names = [type(c).__name__ for c in elsewhere.callbacks]
    assert elsewhere.callbacks[:3] == [stop, kept_everywhere, csv_everywhere]
    assert names[3:] == ["History"]


def test_rank_zero_only_decorator(monkeypatch):
    calls = []

    @distribute.rank_zero_only
    def save(value):
        calls.append(value)
        return value

    assert save(1) == 1
    monkeypatch.setenv("RANK", "2")
    assert save(2) is None
    assert calls == [1]


# ------------------------------------------------------------------ the strategy
def test_scope_set_distribution_and_the_implicit_job_strategy(monkeypatch):
    assert distribute.distribution() is None
    assert distribute.active() is None
    outer, inner = distribute.DataParallel(), distribute.DataParallel(seed=1)
    with outer.scope():
        with inner:
            assert distribute.distribution() is inner
        assert distribute.active() is outer
    assert distribute.distribution() is None
    distribute.set_distribution(outer)
    try:
        assert distribute.active() is outer
    finally:
        distribute.set_distribution(None)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setattr(distribute, "_implicit", None)
    found = distribute.active()
    assert isinstance(found, distribute.DataParallel) and found.world_size == 4
    assert distribute.active() is found


def test_arguments_are_validated_at_once():
    with pytest.raises(ValueError) as info:
        distribute.DataParallel(sync_batch_norm="yes", seed=-1, backend="tcp")
    message = str(info.value)
    for part in ("sync_batch_norm", "'yes'", "seed", "-1", "backend", "'tcp'"):
        assert part in message
    with pytest.raises(ValueError, match="DataParallel or None"):
        distribute.set_distribution("ddp")


def test_convert_sync_batchnorm_reaches_nested_models():
    inner = models.Sequential([layers.Input((4, 4, 2)), layers.BatchNormalization()])
    outer = models.Sequential([layers.Input((4, 4, 2)), inner, layers.BatchNormalization()])
    assert distribute.convert_sync_batchnorm(outer) is outer
    found = [m.synchronized for m in outer.modules() if isinstance(m, layers.BatchNormalization)]
    assert found == [True, True]
    assert outer.layers[1].get_config()["synchronized"] is True


def test_single_process_scope_trains_like_plain_fit_without_shuffling():
    x = np.random.default_rng(0).normal(size=(21, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("int64")

    def train(scope):
        utils.set_random_seed(0)  # the same initial weights in both
        model = models.Sequential([layers.Input((4,)), layers.Dense(2, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        with scope:
            model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        return model.get_weights()

    import contextlib

    plain = train(contextlib.nullcontext())
    scoped = train(distribute.DataParallel())
    for a, b in zip(plain, scoped, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)
