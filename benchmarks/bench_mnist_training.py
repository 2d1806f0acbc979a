"""Throughput of the tutorials' MNIST convnet: convolve against its peers, in one run.

Each contender runs in its own subprocess (Keras picks its backend at import), on the same
real digits, with the same network, optimizer (Adam) and batch size. Reported: training
samples per second, inference (forward) samples per second, and ratios to hand-written
PyTorch and to the best Keras backend.

    python benchmarks/bench_mnist_training.py [--batch-sizes 64 256] [--epochs 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CONTENDERS = ["convolve", "torch", "keras-torch", "keras-tensorflow"]


def _digits():
    from convolve.datasets import mnist_digits

    (x, y), _ = mnist_digits()
    return x.reshape(-1, 28, 28, 1).astype("float32") / 255.0, y.astype("int64")


def _timed_epochs(run_epoch, epochs: int) -> float:
    run_epoch()  # warm-up: allocations, kernel selection, lazy builds
    start = time.perf_counter()
    for _ in range(epochs):
        run_epoch()
    return time.perf_counter() - start


def bench_keras_api(keras, batch: int, epochs: int) -> dict:
    """convolve and Keras share this code path: the same user program for both."""
    x, y = _digits()
    from convolve.demo import seed_convnet

    model = seed_convnet(keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    train = _timed_epochs(lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0), epochs)
    infer = _timed_epochs(lambda: _forward_epoch(model, x, batch, channels_last=True), epochs)
    return {"train": epochs * len(x) / train, "infer": epochs * len(x) / infer}


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


def bench_torch(batch: int, epochs: int) -> dict:
    """The same network as a PyTorch user writes it by hand."""
    import torch
    from torch import nn

    x, y = _digits()
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

    train = _timed_epochs(train_epoch, epochs)
    model.eval()
    infer = _timed_epochs(lambda: _forward_epoch(model, x, batch, channels_last=False), epochs)
    return {"train": epochs * n / train, "infer": epochs * n / infer}


def run_one(name: str, batch: int, epochs: int) -> dict:
    if name == "convolve":
        import convolve as keras

        return bench_keras_api(keras, batch, epochs)
    if name == "torch":
        return bench_torch(batch, epochs)
    import keras

    return bench_keras_api(keras, batch, epochs)


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
        for _ in range(args.repeats):  # interleaved repeats; keep each contender's best
            for name in args.contenders:
                result = _spawn(name, batch, args.epochs)
                if result is None:
                    continue
                for kind, value in result.items():
                    slot = best.setdefault(name, {})
                    slot[kind] = max(slot.get(kind, 0.0), value)
        _report(batch, best)


def _report(batch: int, best: dict[str, dict]) -> None:
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
    if "convolve" in best and "torch" in best:
        ratio = best["convolve"]["infer"] / best["torch"]["infer"]
        print(f"forward pass, convolve / plain torch.nn: {ratio:.2f}x")


if __name__ == "__main__":
    main()
