"""A training script that the SIGKILL tests run, kill and run again (not a test module).

    python backup_child.py WORK_DIR [--no-backup]

Trains a small convnet with shuffling, Dropout and random augmentation for a few epochs
with `BackupAndRestore(save_freq=1)`. Every finished batch appends `epoch step ids` to
WORK_DIR/batches.log; the final weights go to WORK_DIR/final.npz. Writes are slowed down
so that kills often land inside a backup write.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import torch

import convolve
from convolve import callbacks, layers, models, utils
from convolve.saving import atomic

torch.set_num_threads(1)
_write = atomic._copy_into


def _slow_copy_into(f, data):  # a slow disk: the write is spread over a few milliseconds
    for start in range(0, len(data), 4096):
        _write(f, data[start : start + 4096])
        f.flush()
        time.sleep(0.001)


atomic._copy_into = _slow_copy_into


class RecordIds(layers.Layer):
    """Passes its input through; in training, remembers the sample ids of the batch."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = None

    def call(self, inputs, training=False):
        if training:
            self.seen = torch.round(inputs[:, 0, 0, 0] * 1000).to(torch.int64).tolist()
        return inputs


class LogBatches(callbacks.Callback):
    def __init__(self, path, recorder):
        super().__init__()
        self.path, self.recorder, self.epoch = path, recorder, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        with open(self.path, "a") as f:
            f.write(f"{self.epoch} {batch} {' '.join(map(str, self.recorder.seen))}\n")
            f.flush()


def main() -> None:
    work = sys.argv[1]
    rng = np.random.default_rng(0)
    x = rng.random((96, 10, 10, 1)).astype("float32")
    x[:, 0, 0, 0] = np.arange(96) / 1000.0  # the sample id rides in one pixel
    y = rng.integers(0, 4, 96)
    utils.set_random_seed(3)
    recorder = RecordIds()
    model = models.Sequential(
        [
            layers.Input((10, 10, 1)),
            recorder,
            layers.RandomFlip("horizontal"),
            layers.Conv2D(4, 3, activation="relu"),
            layers.Flatten(),
            layers.Dropout(0.25),
            layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    cbs = [LogBatches(os.path.join(work, "batches.log"), recorder)]
    if "--no-backup" not in sys.argv:
        cbs.append(callbacks.BackupAndRestore(os.path.join(work, "backup"), save_freq=1))
    cbs.append(callbacks.EarlyStopping(monitor="loss", patience=10))
    history = model.fit(x, y, epochs=4, batch_size=8, verbose=0, callbacks=cbs)
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    arrays["loss"] = np.array(history.history["loss"])
    np.savez(os.path.join(work, "final.npz"), **arrays)
    print("convolve", convolve.__version__, "done")


if __name__ == "__main__":
    main()
