"""Images per second: decode JPEGs, resize to 180x180, batch by 32, as float32 tensors.

Compares, in one run on the same files:

* convolve: `convolve.utils.image_dataset_from_directory` (default worker processes);
* keras: `keras.utils.image_dataset_from_directory` (tf.data; needs tensorflow);
* plain: a hand-written PIL + `torch.utils.data.DataLoader` reader, the usual PyTorch way.

Each loader runs in its own fresh process (no shared thread pools or forked state), and the
loaders take turns over several rounds so that background load on the machine hits all of
them alike. A pass over the folder is timed after one warm-up pass; the table shows the
median rate, its ratio to the faster of keras and plain, and the CPU time spent per image
(all threads and worker processes), which varies less with background load than the rate.

Run: python benchmarks/bench_image_loading.py [--images 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZE = (180, 180)
BATCH = 32
CLASSES = 5


def make_jpegs(folder: Path, count: int, seed: int = 0) -> None:
    """Photo-like JPEGs (smooth shapes, texture and sensor noise) of sizes around 400x300."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(count):
        w, h = int(rng.integers(320, 481)), int(rng.integers(240, 361))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        image = np.zeros((h, w, 3), np.float32)
        for _ in range(4):  # a few soft blobs of colour
            cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(30, 150)
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
            image += blob[:, :, None] * rng.uniform(40, 200, 3).astype(np.float32)
        image += 20 * np.sin(xx / rng.uniform(3, 12))[:, :, None]  # texture
        image += rng.normal(0, 6, (h, w, 3)).astype(np.float32)  # sensor noise
        folder_i = folder / f"class_{i % CLASSES}"
        folder_i.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(
            folder_i / f"img_{i:05d}.jpg", quality=int(rng.integers(80, 96))
        )


def _plain_loader(folder: str, workers: int):
    """The usual hand-written PyTorch reader: PIL decode + resize in DataLoader workers."""
    import torch
    from PIL import Image

    paths = sorted(str(p) for p in Path(folder).rglob("*.jpg"))
    labels = [int(Path(p).parent.name.split("_")[1]) for p in paths]

    class Files(torch.utils.data.Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, i):
            with Image.open(paths[i]) as img:
                img = img.convert("RGB").resize((SIZE[1], SIZE[0]), Image.Resampling.BILINEAR)
                return torch.from_numpy(np.array(img)), labels[i]

    return torch.utils.data.DataLoader(
        Files(), batch_size=BATCH, shuffle=True, num_workers=workers, persistent_workers=workers > 0
    )


def run_one(name: str, folder: str, passes: int, workers: int | None) -> list[float]:
    """Runs in a child process: times `passes` passes after a warm-up; returns images/s."""
    if name == "convolve":
        from convolve.utils import image_dataset_from_directory

        ds = image_dataset_from_directory(
            folder, image_size=SIZE, batch_size=BATCH, seed=1, verbose=False, num_workers=workers
        )

        def one_pass():
            return iter(ds)
    elif name == "keras":
        os.environ.setdefault("KERAS_BACKEND", "torch")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras

        ds = keras.utils.image_dataset_from_directory(
            folder, image_size=SIZE, batch_size=BATCH, seed=1, verbose=False
        )

        def one_pass():
            return iter(ds)
    else:
        loader = _plain_loader(folder, workers if workers is not None else _default_workers())

        def one_pass():
            return ((x.float(), y) for x, y in loader)  # float32, as the others yield

    rates, cpu = [], []
    for i in range(passes + 1):
        start, start_cpu, n = time.perf_counter(), _tree_cpu_seconds(), 0
        for x, _ in one_pass():
            n += int(x.shape[0])
            assert tuple(x.shape[1:3]) == SIZE
        if i > 0:  # the first pass starts workers and warms caches
            rates.append(n / (time.perf_counter() - start))
            cpu.append((_tree_cpu_seconds() - start_cpu) / n * 1e3)
    return rates, cpu


def _tree_cpu_seconds() -> float:
    """CPU seconds used by this process (all threads) and its live child processes."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    total = usage.ru_utime + usage.ru_stime
    if not os.path.isdir("/proc"):
        return total  # worker processes are not counted where /proc is missing
    me, tick = str(os.getpid()), os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:  # parent pid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _default_workers() -> int:
    from convolve.data.image_folder import default_num_workers

    return default_num_workers()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="turns each loader takes")
    parser.add_argument("--passes", type=int, default=2, help="timed passes per turn")
    parser.add_argument("--workers", type=int, default=None, help="convolve/plain workers")
    parser.add_argument("--data-dir", type=Path, default=None, help="reuse/keep the JPEGs here")
    parser.add_argument("--child", nargs=2, metavar=("LOADER", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        rates, cpu = run_one(args.child[0], args.child[1], args.passes, args.workers)
        print(json.dumps({"rates": rates, "cpu_ms": cpu}))
        return

    folder = args.data_dir or Path(tempfile.mkdtemp(prefix="bench_jpegs_"))
    if not any(folder.rglob("*.jpg")):
        print(f"Writing {args.images} JPEGs to {folder} ...", flush=True)
        make_jpegs(folder, args.images)
    files = list(folder.rglob("*.jpg"))
    for f in files:  # into the page cache, so no loader pays for the disk
        f.read_bytes()

    loaders = ["convolve", "plain"]
    if importlib.util.find_spec("tensorflow") is not None:
        loaders.insert(1, "keras")
    else:
        print("tensorflow is not installed: the keras (tf.data) column is skipped.")
    rates: dict[str, list[float]] = {name: [] for name in loaders}
    cpu_ms: dict[str, list[float]] = {name: [] for name in loaders}
    repo = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": repo + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for r in range(args.rounds):
        for name in loaders:
            cmd = [sys.executable, __file__, "--child", name, str(folder)]
            cmd += ["--passes", str(args.passes)]
            if args.workers is not None:
                cmd += ["--workers", str(args.workers)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            rates[name] += got["rates"]
            cpu_ms[name] += got["cpu_ms"]
            shown = " ".join(f"{v:7.0f}" for v in got["rates"])
            print(f"round {r + 1}: {name:9s} {shown}  images/s", flush=True)

    medians = {name: statistics.median(v) for name, v in rates.items()}
    baseline = max(v for k, v in medians.items() if k != "convolve")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print()
    print(f"{len(files)} JPEGs ~400x300 -> {SIZE[0]}x{SIZE[1]}, batch {BATCH}, {cores} cores,")
    print(f"load average {load:.1f} at the end (other processes compete for the cores)")
    print(f"{'loader':10s} {'images/s':>9s} {'vs faster baseline':>19s} {'CPU ms/image':>13s}")
    for name, value in medians.items():
        cpu = statistics.median(cpu_ms[name])
        print(f"{name:10s} {value:9.0f} {value / baseline:18.2f}x {cpu:13.2f}")


if __name__ == "__main__":
    main()
