"""Throughput of the tutorials' MNIST convnet: convolve against its peers, in one run.

Each Keras backend runs in its own subprocess (Keras picks its backend at import); convolve
and the hand-written PyTorch loop share one, taking turns epoch by epoch, because on a
shared machine the speed of a whole process varies by as much as 2x from one process to
the next, and only contenders in the same process see the same conditions. All use the
same real digits, network, optimizer (Adam) and batch size. convolve's `fit` on the CPU
keeps freed memory for reuse (`convolve.training.host_memory`), which the PyTorch loop in
its process then enjoys too; `torch-alone` runs the same loop in a process of its own with
the allocator's defaults, as a plain PyTorch script runs. Reported: training and
inference (forward) samples per second (best of the repeats), ratios to hand-written
PyTorch and to the best Keras backend, and the median of the same-process ratios of
convolve to PyTorch.

    python benchmarks/bench_mnist_training.py [--batch-sizes 64 256] [--epochs 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CONTENDERS = ["convolve+torch", "torch-alone", "keras-torch", "keras-tensorflow"]


def _digits():
    from convolve.datasets import mnist_digits

    (x, y), _ = mnist_digits()
    return x.reshape(-1, 28, 28, 1).astype("float32") / 255.0, y.astype("int64")


def _timed(epoch_functions: dict, epochs: int) -> dict:
    """Seconds per contender for `epochs` epochs, run in turns (one epoch each, in
    alternating order), so that contenders in one process see the same machine."""
    names = list(epoch_functions)
    for name in names:
        epoch_functions[name]()  # warm-up: allocations, kernel selection, lazy builds
    seconds = dict.fromkeys(names, 0.0)
    for i in range(epochs):
        for name in names if i % 2 == 0 else reversed(names):
            start = time.perf_counter()
            epoch_functions[name]()
            seconds[name] += time.perf_counter() - start
    return seconds


def keras_api_epochs(keras, batch: int, x, y) -> tuple:
    """convolve and Keras share this code path: the same user program for both."""
    from convolve.demo import seed_convnet

    model = seed_convnet(keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return (
        lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0),
        lambda: _forward_epoch(model, x, batch, channels_last=True),
    )


def _forward_epoch(model, x, batch: int, channels_last: bool) -> None:
    """Direct forward calls on ready arrays: the model's own cost, no data pipeline."""
    import torch

    if not channels_last:
        x = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        for i in range(0, len(x), batch):
            if channels_last:
                model(x[i : i + batch], training=False)
            else:
                model(x[i : i + batch])


def torch_epochs(batch: int, x, y) -> tuple:
    """The same network as a PyTorch user writes it by hand."""
    import torch
    from torch import nn

    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    yt = torch.from_numpy(y)
    model = nn.Sequential(
        nn.Conv2d(1, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    n = len(xt)

    def train_epoch():
        model.train()
        order = torch.randperm(n)
        for i in range(0, n, batch):
            idx = order[i : i + batch]
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()

    def infer_epoch():
        model.eval()
        _forward_epoch(model, x, batch, channels_last=False)

    return train_epoch, infer_epoch


def run_one(name: str, batch: int, epochs: int) -> dict:
    """Samples/s of each contender that `name` runs (`convolve+torch`: both, in turns)."""
    x, y = _digits()
    if name == "convolve+torch":
        import convolve as keras

        pairs = {
            "convolve": keras_api_epochs(keras, batch, x, y),
            "torch": torch_epochs(batch, x, y),
        }
    elif name == "torch-alone":  # glibc's allocator defaults, as a plain script runs
        pairs = {name: torch_epochs(batch, x, y)}
    else:
        import keras

        pairs = {name: keras_api_epochs(keras, batch, x, y)}
    train = _timed({k: v[0] for k, v in pairs.items()}, epochs)
    infer = _timed({k: v[1] for k, v in pairs.items()}, epochs)
    rate = epochs * len(x)
    return {k: {"train": rate / train[k], "infer": rate / infer[k]} for k in pairs}


def _spawn(name: str, batch: int, epochs: int) -> dict | None:
    env = dict(os.environ)
    if name.startswith("keras-"):
        env["KERAS_BACKEND"] = name.removeprefix("keras-")
        env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    cmd = [
        sys.executable,
        __file__,
        "--child",
        name,
        "--batch",
        str(batch),
        "--epochs",
        str(epochs),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"  {name}: failed ({proc.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--contenders", nargs="+", default=CONTENDERS)
    parser.add_argument("--child")
    parser.add_argument("--batch", type=int)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, args.batch, args.epochs)))
        return

    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    for batch in args.batch_sizes:
        best: dict[str, dict] = {}
        paired: dict[str, list[float]] = {"train": [], "infer": []}
        for _ in range(args.repeats):  # interleaved repeats; keep each contender's best
            for name in args.contenders:
                results = _spawn(name, batch, args.epochs)
                for contender, result in (results or {}).items():
                    for kind, value in result.items():
                        slot = best.setdefault(contender, {})
                        slot[kind] = max(slot.get(kind, 0.0), value)
                if results and {"convolve", "torch"} <= set(results):
                    for kind in paired:
                        paired[kind].append(results["convolve"][kind] / results["torch"][kind])
        _report(batch, best, paired)


def _report(batch: int, best: dict[str, dict], paired: dict[str, list[float]]) -> None:
    print(f"\nbatch {batch}: samples/s (best of repeats)")
    print(f"{'':18}{'train':>10}{'forward':>10}{'train vs torch':>16}{'train vs best Keras':>21}")
    torch_train = best.get("torch", {}).get("train")
    keras_trains = [best[k]["train"] for k in best if k.startswith("keras-")]
    keras_best = max(keras_trains) if keras_trains else None
    for name, values in best.items():
        vs_torch = f"{values['train'] / torch_train:.2f}x" if torch_train else "-"
        vs_keras = f"{values['train'] / keras_best:.2f}x" if keras_best else "-"
        print(
            f"{name:18}{values['train']:>10.0f}{values['infer']:>10.0f}{vs_torch:>16}{vs_keras:>21}"
        )
    for kind, label in (("train", "training"), ("infer", "forward pass")):
        if paired[kind]:
            ratios = ", ".join(f"{r:.2f}" for r in paired[kind])
            print(
                f"{label}, convolve / hand-written PyTorch in the same process: median "
                f"{statistics.median(paired[kind]):.2f}x (runs: {ratios})"
            )


if __name__ == "__main__":
    main()
