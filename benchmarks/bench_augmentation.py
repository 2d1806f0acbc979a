"""What an augmentation stack at the front of a model adds to a training step.

Two copies of the small convnet of Keras's image-classification tutorial (180x180x3 images,
five classes) train side by side in one run, one of them with `RandomFlip("horizontal")`,
`RandomRotation(0.1)` and `RandomZoom(0.1)` in front. Steps of the two alternate, one at a
time, so that both see the same machine; each is timed on its own, and the fastest of each
kind is kept (other work on a busy machine only ever adds time), with the median beside it.
Reported: milliseconds per training step, the augmentation stack alone (forward, in
training mode), the overhead ratio `augmented / plain - 1` of the best steps, the median
of that ratio over adjacent pairs of steps (which see the same load), and the stack's own
time as a fraction of a plain step (the same cost, less exposed to a busy machine's noise).

    python benchmarks/bench_augmentation.py [--batch-size 32] [--steps 20] [--device cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import convolve
from convolve import layers, models
from convolve.layers import layout
from convolve.layers.augmentation import RandomFlip, RandomRotation, RandomZoom


def _convnet(augment: bool) -> models.Sequential:
    stack = (
        [
            RandomFlip("horizontal"),
            RandomRotation(0.1),
            RandomZoom(0.1),
        ]
        if augment
        else []
    )
    model = models.Sequential(
        [
            layers.Input((180, 180, 3)),
            *stack,
            layers.Rescaling(1.0 / 255),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(5),
        ]
    )
    model.compile(
        optimizer="adam",
        loss=convolve.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _ms(fn, device: torch.device) -> float:
    _synchronize(device)
    start = time.perf_counter()
    fn()
    _synchronize(device)
    return (time.perf_counter() - start) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20, help="timed steps of each kind")
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    parser.add_argument("--device", default=default_device)
    args = parser.parse_args()

    device = torch.device(args.device)
    convolve.utils.set_random_seed(0)
    plain, augmented = _convnet(False), _convnet(True)
    plain.to(device)
    augmented.to(device)
    x = torch.rand(args.batch_size, 180, 180, 3, device=device) * 255.0
    y = torch.randint(0, 5, (args.batch_size,), device=device)
    stack = augmented.layers[:3]
    engine_x = layout.engine_memory_format(layout.to_engine(x))

    def augment_only() -> None:
        out = engine_x
        for layer in stack:
            out = layer.engine_call(out, training=True)

    runs = {
        "plain step": lambda: plain.train_on_batch(x, y),
        "augmented step": lambda: augmented.train_on_batch(x, y),
        "augmentation alone": augment_only,
    }
    for fn in runs.values():  # warm-up: allocations, kernel selection, lazy state
        fn()
        fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for step in range(args.steps):
        # Alternate the order, so that neither kind always runs first after the other.
        for name in names if step % 2 == 0 else names[::-1]:
            times[name].append(_ms(runs[name], device))

    threads = torch.get_num_threads()
    print(f"device: {device} (torch {torch.__version__}, {threads} CPU threads)")
    print(f"batch {args.batch_size} of 180x180x3, {args.steps} timed steps of each")
    print(f"  {'':<20} {'best ms':>9} {'median ms':>10}")
    for name, values in times.items():
        print(f"  {name:<20} {min(values):9.2f} {statistics.median(values):10.2f}")
    best = {name: min(values) for name, values in times.items()}
    overhead = best["augmented step"] / best["plain step"] - 1.0
    print(f"overhead ratio: {overhead:+.1%} (best augmented / best plain - 1; the bar is +15%)")
    paired = statistics.median(
        a / p - 1.0 for a, p in zip(times["augmented step"], times["plain step"], strict=True)
    )
    print(f"overhead, median of adjacent step pairs: {paired:+.1%}")
    alone = best["augmentation alone"] / best["plain step"]
    print(f"augmentation alone / plain step: {alone:+.1%} (the same cost, timed on its own)")


if __name__ == "__main__":
    main()
