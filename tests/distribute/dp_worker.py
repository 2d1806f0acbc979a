"""Data-parallel training runs shared by the tests: one process of a torchrun job, or the
single-process reference (the same code, a job of one).

    python -m torch.distributed.run --nproc_per_node=2 tests/distribute/dp_worker.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

import convolve
from convolve import callbacks, distribute, layers, utils

SAMPLES = {"bn": 37, "padded": 33}  # global batch 8: last batches of 5 (3 + 2) and 1 (1 + 0)
BATCH = 8


def data(name: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    n = SAMPLES[name]
    x = rng.normal(size=(n, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 3, size=(n,))
    return x, y


def model(name: str) -> convolve.Model:
    utils.set_random_seed(3)
    # A bias before BatchNormalization has no gradient; Adam would amplify rounding noise.
    stack = [layers.Input((8, 8, 1)), layers.Conv2D(4, 3, use_bias=name != "bn")]
    if name == "bn":
        stack.append(layers.BatchNormalization(momentum=0.5))
    stack += [
        layers.Activation("relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ]
    return convolve.Sequential(stack)


def run(name: str, epochs: int = 3, jit: bool = False) -> dict:
    """Trains one scenario; returns weights, history and the sample ids each step saw.

    With `jit`, the steps go through torch.compile (AOTAutograd, no code generation).
    """
    x, y = data(name)
    x_val, y_val = x[:11] * 0.5, y[:11]
    net = model(name)
    net.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=jit,
    )
    seen: list[list[int]] = []
    train_step = net.train_step

    def recording_step(batch):
        rows = batch[0].detach().cpu().numpy().reshape(len(batch[0]), -1)
        flat = x.reshape(len(x), -1)
        ids = [int(np.flatnonzero((flat == row).all(axis=1))[0]) for row in rows]
        seen[-1].append(ids if not net_batches_padding() else [])
        return train_step(batch)

    def net_batches_padding() -> bool:
        sync = net._gradient_sync
        return sync is not None and sync.weight == 0.0

    net.train_step = recording_step
    new_epoch = callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append([]))
    convolve.config.set_jit_compile_options(backend="aot_eager")
    try:
        with distribute.DataParallel(sync_batch_norm=name == "bn", seed=5):
            history = net.fit(
                x,
                y,
                batch_size=BATCH,
                epochs=epochs,
                validation_data=(x_val, y_val),
                callbacks=[new_epoch],
                verbose=0,
            )
            evaluated = net.evaluate(x_val, y_val, batch_size=4, verbose=0, return_dict=True)
    finally:
        convolve.config.set_jit_compile_options()
    return {
        "weights": [w.tolist() for w in net.get_weights()],
        "history": history.history,
        "evaluate": evaluated,
        "seen": seen,
        "synchronized": [
            m.synchronized for m in net.modules() if isinstance(m, layers.BatchNormalization)
        ],
    }


def main(out_dir: str) -> None:
    results = {name: run(name) for name in SAMPLES}
    results["bn-jit"] = run("bn", jit=True)
    results["world_size"] = distribute.world_size()
    results["backend"] = torch.distributed.get_backend()
    path = Path(out_dir) / f"rank{distribute.rank()}.json"
    path.write_text(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
