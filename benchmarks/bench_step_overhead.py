"""Per-step cost of convolve's `fit`, `evaluate` and `predict` against hand-written PyTorch.

For a tiny model, a step's arithmetic takes a few microseconds and everything else is
framework bookkeeping: this measures that bookkeeping. Two models, each built once with
convolve and once as plain `torch.nn` (same weights copied across):

- `tiny`: Dense(8 -> 4, softmax) on 8,192 random samples;
- `convnet`: the tutorials' MNIST network (`convolve.demo.seed_convnet`) on 2,048 digits.

Training is Adam, sparse categorical cross-entropy, `metrics=["accuracy"]`, batch 32;
the PyTorch loop does the forward pass, `F.cross_entropy`, backward, `torch.optim.Adam`'s
step and an argmax accuracy, with the running loss and accuracy kept as tensors (no host
read per step, as in convolve). Evaluation is the same without the update, and
prediction the forward pass collected into one array. Both contenders run in one
process, taking turns in alternating order after a warm-up, because the speed of a
shared machine drifts; each repeat times one epoch of each, and the report gives the
median and the best microseconds per step over the repeats, and the median of the
per-repeat ratios convolve / PyTorch.

    python benchmarks/bench_step_overhead.py [--models tiny convnet] [--repeats 7]
        [--batch-size 32] [--threads 1] [--profile tiny]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch import nn


def _data(model: str) -> tuple[np.ndarray, np.ndarray]:
    if model == "tiny":
        rng = np.random.default_rng(0)
        x = rng.standard_normal((8192, 8)).astype("float32")
        return x, rng.integers(0, 4, 8192).astype("int64")
    from convolve.datasets import mnist_digits

    (x, y), _ = mnist_digits()
    x = x[:2048].reshape(-1, 28, 28, 1).astype("float32") / 255.0
    return x, y[:2048].astype("int64")


def _convolve_model(model: str):
    import convolve as keras

    if model == "tiny":
        net = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="softmax")])
    else:
        from convolve.demo import seed_convnet

        net = seed_convnet(keras)
    net.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return net


def _torch_model(model: str, weights: list[np.ndarray]) -> nn.Module:
    """The same network written by hand, with the convolve model's weights (NCHW inputs)."""
    if model == "tiny":
        net = nn.Sequential(nn.Linear(8, 4))
    else:
        net = nn.Sequential(
            nn.Conv2d(1, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10),
        )  # fmt: skip
    params = [p for p in net.parameters()]
    with torch.no_grad():
        for p, w in zip(params, weights, strict=True):
            w = torch.from_numpy(w)
            if w.ndim == 4:  # Keras's HWIO -> torch's OIHW
                w = w.permute(3, 2, 0, 1)
            elif w.ndim == 2:
                w = w.T
                if p.shape[1] == 1600:  # Keras flattens H, W, C; torch C, H, W
                    w = w.reshape(-1, 5, 5, 64).permute(0, 3, 1, 2).reshape(-1, 1600)
            p.copy_(w)
    return net


def contenders(model: str, batch: int) -> dict[str, dict[str, object]]:
    """For each contender, an epoch of `fit`, of `evaluate` and of `predict`."""
    x, y = _data(model)
    net = _convolve_model(model)
    net.fit(x[:batch], y[:batch], batch_size=batch, epochs=1, verbose=0)  # builds
    mine = {
        "fit": lambda: net.fit(x, y, batch_size=batch, epochs=1, verbose=0),
        "evaluate": lambda: net.evaluate(x, y, batch_size=batch, verbose=0),
        "predict": lambda: net.predict(x, batch_size=batch, verbose=0),
    }

    torch_net = _torch_model(model, net.get_weights())
    xt = torch.from_numpy(x)
    if xt.ndim == 4:
        xt = xt.permute(0, 3, 1, 2).contiguous()
    yt = torch.from_numpy(y)
    opt = torch.optim.Adam(torch_net.parameters(), lr=1e-3, eps=1e-7)
    n = len(xt)

    def train_epoch():
        torch_net.train()
        order = torch.randperm(n)
        loss_sum, hits = torch.zeros(()), torch.zeros(())
        for i in range(0, n, batch):
            idx = order[i : i + batch]
            xb, yb = xt[idx], yt[idx]
            logits = torch_net(xb)
            loss = nn.functional.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                loss_sum += loss.detach() * len(yb)
                hits += (logits.argmax(-1) == yb).sum()
        return float(loss_sum) / n, float(hits) / n

    @torch.no_grad()
    def eval_epoch():
        torch_net.eval()
        loss_sum, hits = torch.zeros(()), torch.zeros(())
        for i in range(0, n, batch):
            xb, yb = xt[i : i + batch], yt[i : i + batch]
            logits = torch_net(xb)
            loss_sum += nn.functional.cross_entropy(logits, yb) * len(yb)
            hits += (logits.argmax(-1) == yb).sum()
        return float(loss_sum) / n, float(hits) / n

    @torch.no_grad()
    def predict_epoch():
        torch_net.eval()
        outs = [torch.softmax(torch_net(xt[i : i + batch]), -1) for i in range(0, n, batch)]
        return torch.cat(outs).numpy()

    theirs = {"fit": train_epoch, "evaluate": eval_epoch, "predict": predict_epoch}
    return {"convolve": mine, "torch": theirs}, -(-n // batch)


def measure(model: str, batch: int, repeats: int) -> None:
    runs, steps = contenders(model, batch)
    print(f"\n{model}, batch {batch}, {steps} steps per epoch: microseconds per step")
    print(f"{'':10}{'convolve':>20}{'torch':>20}{'ratio':>10}")
    print(f"{'':10}{'median':>10}{'best':>10}{'median':>10}{'best':>10}{'median':>10}")
    for kind in ("fit", "evaluate", "predict"):
        for name in runs:  # warm-up
            runs[name][kind]()
        times: dict[str, list[float]] = {name: [] for name in runs}
        ratios = []
        for i in range(repeats):
            order = list(runs) if i % 2 == 0 else list(reversed(runs))
            for name in order:
                start = time.perf_counter()
                runs[name][kind]()
                times[name].append((time.perf_counter() - start) / steps * 1e6)
            ratios.append(times["convolve"][-1] / times["torch"][-1])
        cells = []
        for name in runs:
            cells += [statistics.median(times[name]), min(times[name])]
        print(
            f"{kind:10}" + "".join(f"{c:>10.0f}" for c in cells)
            + f"{statistics.median(ratios):>9.2f}x"
        )  # fmt: skip


def profile(model: str, batch: int) -> None:
    """cProfile of convolve's fit epochs, sorted by own time."""
    import cProfile
    import pstats

    runs, _ = contenders(model, batch)
    runs["convolve"]["fit"]()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(3):
        runs["convolve"]["fit"]()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tiny", "convnet"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, help="torch's intra-op threads")
    parser.add_argument("--profile", choices=["tiny", "convnet"])
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    if args.profile:
        profile(args.profile, args.batch_size)
        return
    for model in args.models:
        measure(model, args.batch_size, args.repeats)


if __name__ == "__main__":
    main()
