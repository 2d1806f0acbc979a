"""BackupAndRestore: resuming an interrupted fit at the exact batch, bit for bit.

The oracle is the same training run without interruption: the resumed run must end with
identical weights (np.array_equal, no tolerance) and an identical History.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import torch

from convolve import callbacks, layers, models, utils
from convolve.training import backup

RNG = np.random.default_rng(5)
X = RNG.normal(size=(44, 6, 6, 1)).astype("float32")
Y = RNG.integers(0, 3, 44)
CHILD = os.path.join(os.path.dirname(__file__), "backup_child.py")


def _model():
    utils.set_random_seed(11)
    model = models.Sequential(
        [
            layers.Input((6, 6, 1)),
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(0.1, seed=4),
            layers.Conv2D(3, 3, activation="relu"),
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.GaussianNoise(0.1, seed=5),  # a SeedGenerator: its draw count resumes
            layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class Interrupt(callbacks.Callback):
    """Raises after `at` training batches in total: a crash at that point."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.count = at, 0

    def on_train_batch_end(self, batch, logs=None):
        self.count += 1
        if self.count == self.at:
            raise KeyboardInterrupt


def _fit(model, extra=(), **kwargs):
    args = {"epochs": 3, "batch_size": 8, "verbose": 0, **kwargs}
    # Patience 2: all 3 epochs run (so each crash point is reached) whatever the losses.
    early = callbacks.EarlyStopping(monitor="loss", patience=2, restore_best_weights=True)
    return model.fit(X, Y, callbacks=[*extra, early], **args)


def _same_weights(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights(), strict=True))


@pytest.mark.parametrize(
    "shuffle,save_freq,crash_at,steps",
    [
        (True, 1, 8, None), (True, 3, 13, None), (True, "epoch", 9, None), (False, 2, 7, None),
        ("batch", 1, 4, None), (True, 1, 6, None),
        # Epochs of 2 of the 6 batches: each epoch goes on with the pass the last one began.
        (True, "epoch", 3, 2), (True, 1, 4, 2), (False, "epoch", 5, 2),
    ],
)  # fmt: skip
def test_interrupted_fit_resumes_bit_for_bit(tmp_path, shuffle, save_freq, crash_at, steps):
    reference = _model()
    ref_history = _fit(reference, shuffle=shuffle, steps_per_epoch=steps)
    backup_dir = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        _fit(
            _model(),
            [callbacks.BackupAndRestore(backup_dir, save_freq=save_freq), Interrupt(crash_at)],
            shuffle=shuffle,
            steps_per_epoch=steps,
        )
    resumed = _model()
    history = _fit(
        resumed,
        [callbacks.BackupAndRestore(backup_dir, save_freq)],
        shuffle=shuffle,
        steps_per_epoch=steps,
    )
    assert _same_weights(resumed, reference)
    assert history.history == ref_history.history
    assert not backup_dir.exists()  # delete_checkpoint=True: removed once training ended


def test_two_generations_are_kept_and_a_damaged_newest_falls_back(tmp_path):
    reference = _model()
    _fit(reference)
    backup_dir = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), [callbacks.BackupAndRestore(backup_dir, save_freq=1), Interrupt(10)])
    files = sorted(os.listdir(backup_dir))
    assert files == ["backup-00000007.safetensors", "backup-00000008.safetensors"]
    newest = backup_dir / files[-1]
    newest.write_bytes(newest.read_bytes()[:-100])  # truncated
    resumed = _model()
    with pytest.warns(UserWarning, match="earlier generation.*backup-00000007"):
        _fit(resumed, [callbacks.BackupAndRestore(backup_dir, save_freq=1)])
    assert _same_weights(resumed, reference)  # replayed from one batch earlier: still exact


def test_no_readable_backup_is_one_clear_error(tmp_path):
    backup_dir = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), [callbacks.BackupAndRestore(backup_dir, save_freq=1), Interrupt(3)])
    for name in os.listdir(backup_dir):
        data = bytearray((backup_dir / name).read_bytes())
        data[len(data) // 2] ^= 0xFF  # one flipped byte in each
        (backup_dir / name).write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"no backup in '.*backup' can be read.*integrity"):
        _fit(_model(), [callbacks.BackupAndRestore(backup_dir, save_freq=1)])


def test_changed_training_arguments_are_reported(tmp_path):
    backup_dir = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), [callbacks.BackupAndRestore(backup_dir, save_freq=1), Interrupt(3)])
    with pytest.raises(ValueError, match=r"arguments changed.*batch_size: 8 -> 4"):
        _fit(_model(), [callbacks.BackupAndRestore(backup_dir, save_freq=1)], batch_size=4)
    with pytest.warns(UserWarning, match=r"changed training arguments: epochs: 3 -> 4"):
        _fit(_model(), [callbacks.BackupAndRestore(backup_dir, save_freq=1)], epochs=4)


def test_stale_temporary_files_of_a_killed_write_are_cleared(tmp_path):
    backup_dir = tmp_path / "backup"
    backup_dir.mkdir()
    (backup_dir / ".backup-00000003.safetensors.abc123.tmp").write_bytes(b"half a file")
    cb = callbacks.BackupAndRestore(backup_dir)
    assert cb.load_resume_point() is None
    assert os.listdir(backup_dir) == []


def test_csv_log_of_a_resumed_run_equals_the_uninterrupted_one(tmp_path):
    _fit(_model(), [callbacks.CSVLogger(tmp_path / "ref.csv")])
    log = tmp_path / "run.csv"
    backup_dir = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        _fit(
            _model(),
            [callbacks.CSVLogger(log), callbacks.BackupAndRestore(backup_dir), Interrupt(14)],
        )
    _fit(_model(), [callbacks.CSVLogger(log), callbacks.BackupAndRestore(backup_dir)])
    assert log.read_text() == (tmp_path / "ref.csv").read_text()


def test_backup_arguments_are_checked():
    with pytest.raises(ValueError, match="Empty `backup_dir`"):
        callbacks.BackupAndRestore("")
    with pytest.raises(ValueError, match="save_freq=0"):
        callbacks.BackupAndRestore("somewhere", save_freq=0)


# ---------------------------------------------------------------------- non-finite
def _poison_after(batches: int):
    """A callback that puts NaN into the first kernel after `batches` batches."""

    class Poison(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch + 1 == batches:
                with torch.no_grad():
                    next(iter(self.model.parameters())).fill_(float("nan"))

    return Poison()


def test_on_nonfinite_raise_stops_before_the_update():
    model = _model()
    x = X.copy()
    x[20] = np.nan  # sample 20 is in the third batch of an unshuffled epoch
    with pytest.raises(FloatingPointError, match=r"loss became nan at epoch 1, batch 3"):
        model.fit(x, Y, epochs=1, batch_size=8, shuffle=False, verbose=0, on_nonfinite="raise")
    assert all(np.isfinite(w).all() for w in model.get_weights())
    with pytest.raises(ValueError, match=r"on_nonfinite.*received 'stop'"):
        model.fit(X, Y, on_nonfinite="stop", verbose=0)


def test_on_nonfinite_raise_catches_gradients_with_a_finite_loss():
    model = _model()
    model.optimizer.build(model.trainable_weights)

    class InfGrad(callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 1:
                self.model.layers[-1].bias.register_hook(lambda g: g * float("inf"))

    with pytest.raises(FloatingPointError, match=r"Gradients .* at epoch 1, batch 2 .*bias"):
        model.fit(X, Y, epochs=1, batch_size=8, verbose=0, on_nonfinite="raise",
                  callbacks=[InfGrad()])  # fmt: skip
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_non_finite_weights_never_reach_a_checkpoint(tmp_path):
    backup_dir = tmp_path / "backup"
    ckpt = tmp_path / "ckpt-{batch}.weights.h5"
    with pytest.warns(UserWarning, match="NaN or infinity"):
        _fit(
            _model(),
            [
                _poison_after(3),
                callbacks.ModelCheckpoint(ckpt, save_weights_only=True, save_freq=1),
                callbacks.BackupAndRestore(backup_dir, save_freq=1, delete_checkpoint=False),
                callbacks.TerminateOnNaN(),
            ],
            epochs=1,
        )
    assert sorted(os.listdir(tmp_path / "backup")) == [
        "backup-00000000.safetensors",
        "backup-00000001.safetensors",
    ]
    assert sorted(p.name for p in tmp_path.glob("ckpt-*")) == [
        "ckpt-1.weights.h5",
        "ckpt-2.weights.h5",
    ]
    point = callbacks.BackupAndRestore(backup_dir).load_resume_point()
    assert (point.epoch, point.step) == (0, 2)
    assert all(torch.isfinite(t).all() for k, t in point.tensors.items() if k.startswith("model/"))


# ---------------------------------------------------------------------- SIGKILL
def _launch(work, *flags):
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.Popen(
        [sys.executable, CHILD, str(work), *flags],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _lines(path):
    return path.read_text().splitlines() if path.exists() else []


def _kill_during_training(proc, work, mode, rng) -> bool:
    """SIGKILLs the child once it trains: at a random moment, or inside a backup write."""
    log, backup_dir = work / "batches.log", work / "backup"
    start = len(_lines(log))
    deadline = time.monotonic() + 60
    while len(_lines(log)) <= start:  # wait for this run's first finished batch
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    if mode == "step":
        time.sleep(rng.uniform(0.0, 0.4))
    else:
        deadline = time.monotonic() + 5
        while not backup_dir.exists() or not any(
            n.endswith(".tmp") for n in os.listdir(backup_dir)
        ):
            if proc.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.0005)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def _check_every_backup_reads(backup_dir):
    if not backup_dir.exists():  # killed before the first backup
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback to an older generation would warn
        point = callbacks.BackupAndRestore(backup_dir).load_resume_point()
    for name in os.listdir(backup_dir):
        assert not name.endswith(".tmp")  # stale temporaries were cleared
        backup._read(str(backup_dir / name))  # each generation passes its SHA-256 check
    return point


def _sigkill_runs(tmp_path, kills: int, seed: int):
    rng = np.random.default_rng(seed)
    ref = tmp_path / "reference"
    ref.mkdir()
    out = _launch(ref, "--no-backup").communicate(timeout=300)
    assert (ref / "final.npz").exists(), out[1][-2000:]
    work = tmp_path / "killed"
    work.mkdir()
    done_kills = 0
    while True:
        proc = _launch(work)
        if done_kills < kills:
            mode = "write" if done_kills % 2 else "step"
            if _kill_during_training(proc, work, mode, rng):
                done_kills += 1
                _check_every_backup_reads(work / "backup")
                continue
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        break
    final, expected = np.load(work / "final.npz"), np.load(ref / "final.npz")
    assert sorted(final.files) == sorted(expected.files)
    for key in expected.files:
        assert np.array_equal(final[key], expected[key]), key  # bit for bit, history too
    # Every finished batch was logged; a batch run again after a kill must be the same
    # batch, and the batches of each epoch must cover every sample exactly once.
    by_position: dict[tuple[int, int], list[int]] = {}
    for line in _lines(work / "batches.log"):
        epoch, step, *ids = map(int, line.split())
        assert by_position.setdefault((epoch, step), ids) == ids
    reference_log = {
        (int(e), int(s)): list(map(int, ids))
        for e, s, *ids in (line.split() for line in _lines(ref / "batches.log"))
    }
    assert by_position == reference_log
    for epoch in {e for e, _ in by_position}:
        ids = [i for (e, _), batch in sorted(by_position.items()) if e == epoch for i in batch]
        assert sorted(ids) == list(range(96))
    return done_kills


def test_sigkill_at_random_moments_then_resume_matches_uninterrupted(tmp_path):
    assert _sigkill_runs(tmp_path, kills=3, seed=1) == 3


@pytest.mark.slow
def test_twenty_sigkills_then_resume_matches_uninterrupted(tmp_path):
    assert _sigkill_runs(tmp_path, kills=20, seed=2) == 20
