"""Training throughput on the accelerator: convolve against hand-written PyTorch and Keras.

Three workloads, each contender in its own subprocess, on the same data and settings:

- `mnist`: the tutorials' convnet on the real digits, Adam, float32;
- `resnet18`: a ResNet-18-sized network (11M parameters) on random 32x32 images, Adam;
- `cifar`: a ResNet-9-class network on random data of CIFAR-10's size (50,000 32x32x3
  images), SGD with Nesterov momentum, bfloat16 mixed precision and compilation. The
  PyTorch contender is the hand-tuned script (channels_last, bf16 autocast,
  `torch.compile`); convolve runs the user's Keras code with
  `mixed_precision.set_global_policy("mixed_bfloat16")` and `jit_compile=True`.

Reported: training samples per second after one warm-up epoch (which holds compilation),
and each contender's ratio to hand-written PyTorch, with the device named.

    python benchmarks/bench_gpu.py [--workloads mnist resnet18 cifar] [--epochs 3]
    python benchmarks/bench_gpu.py --smoke     # tiny sizes, any device: checks it works

`--smoke` shrinks every size; on a CPU it compiles with the `aot_eager` backend (tracing
without code generation) and runs Keras eagerly, so that it finishes in minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np

CONTENDERS = ["convolve", "torch", "keras-torch"]
WORKLOADS = ["mnist", "resnet18", "cifar"]


# ---------------------------------------------------------------------- settings
def settings(workload: str, smoke: bool) -> dict[str, Any]:
    """Sizes and training settings of one workload."""
    if workload == "mnist":
        base = {"shape": (28, 28, 1), "classes": 10, "samples": 5000, "batch": 128}
        base.update(optimizer="adam", mixed=False, compile=False)
    elif workload == "resnet18":
        base = {"shape": (32, 32, 3), "classes": 10, "samples": 10000, "batch": 128}
        base.update(optimizer="adam", mixed=False, compile=False)
    else:
        base = {"shape": (32, 32, 3), "classes": 10, "samples": 50000, "batch": 512}
        base.update(optimizer="sgd", mixed=True, compile=True)
    if smoke:
        base.update(samples=128, batch=32)
    return base


def data(workload: str, spec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    if workload == "mnist":
        from convolve.datasets import mnist_digits

        (x, y), _ = mnist_digits()
        x = x.reshape(-1, 28, 28, 1).astype("float32") / 255.0
        return x[: spec["samples"]], y[: spec["samples"]].astype("int64")
    rng = np.random.default_rng(0)
    x = rng.random((spec["samples"], *spec["shape"]), dtype=np.float32)
    return x, rng.integers(0, spec["classes"], spec["samples"]).astype("int64")


# ---------------------------------------------------------------------- Keras-API networks
def keras_network(api: Any, workload: str, spec: dict[str, Any]) -> Any:
    """The network in Keras's API; `api` is convolve or keras."""
    L = api.layers
    if workload == "mnist":
        from convolve.demo import seed_convnet

        return seed_convnet(api)

    def conv_bn(x: Any, filters: int, strides: int = 1) -> Any:
        x = L.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
        x = L.BatchNormalization(momentum=0.9, epsilon=1e-5)(x)
        return L.ReLU()(x)

    inputs = api.Input(spec["shape"])
    if workload == "resnet18":
        x = conv_bn(inputs, 64)
        for stage, filters in enumerate((64, 128, 256, 512)):
            for block in range(2):
                strides = 2 if stage > 0 and block == 0 else 1
                shortcut = x
                y = conv_bn(x, filters, strides)
                y = L.Conv2D(filters, 3, padding="same", use_bias=False)(y)
                y = L.BatchNormalization(momentum=0.9, epsilon=1e-5)(y)
                if strides != 1 or shortcut.shape[-1] != filters:
                    shortcut = L.Conv2D(filters, 1, strides=strides, use_bias=False)(shortcut)
                    shortcut = L.BatchNormalization(momentum=0.9, epsilon=1e-5)(shortcut)
                x = L.ReLU()(L.Add()([y, shortcut]))
        x = L.GlobalAveragePooling2D()(x)
    else:  # ResNet-9
        x = conv_bn(inputs, 64)
        x = L.MaxPooling2D(2)(conv_bn(x, 128))
        x = L.Add()([x, conv_bn(conv_bn(x, 128), 128)])
        x = L.MaxPooling2D(2)(conv_bn(x, 256))
        x = L.MaxPooling2D(2)(conv_bn(x, 512))
        x = L.Add()([x, conv_bn(conv_bn(x, 512), 512)])
        x = L.GlobalMaxPooling2D()(x)
    outputs = L.Dense(spec["classes"])(x)
    return api.Model(inputs, outputs)


# ---------------------------------------------------------------------- PyTorch networks
def torch_network(workload: str, spec: dict[str, Any]) -> Any:
    """The same network as a PyTorch user writes it (channels-first)."""
    from torch import nn

    if workload == "mnist":
        return nn.Sequential(
            nn.Conv2d(1, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10), nn.Softmax(-1),
        )  # fmt: skip

    def conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
            nn.BatchNorm2d(c_out, eps=1e-5, momentum=0.1),
            nn.ReLU(inplace=True),
        )

    class Residual(nn.Module):
        def __init__(self, body: nn.Module, shortcut: nn.Module | None = None, relu=False):
            super().__init__()
            self.body, self.shortcut = body, shortcut or nn.Identity()
            self.relu = nn.ReLU(inplace=True) if relu else nn.Identity()

        def forward(self, x):
            return self.relu(self.body(x) + self.shortcut(x))

    classes = spec["classes"]
    if workload == "resnet18":
        blocks: list[nn.Module] = [conv_bn(3, 64)]
        c_in = 64
        for stage, c_out in enumerate((64, 128, 256, 512)):
            for block in range(2):
                stride = 2 if stage > 0 and block == 0 else 1
                body = nn.Sequential(
                    conv_bn(c_in, c_out, stride),
                    nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
                    nn.BatchNorm2d(c_out, eps=1e-5),
                )
                shortcut = None
                if stride != 1 or c_in != c_out:
                    shortcut = nn.Sequential(
                        nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
                    )
                blocks.append(Residual(body, shortcut, relu=True))
                c_in = c_out
        return nn.Sequential(
            *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes)
        )
    return nn.Sequential(
        conv_bn(3, 64),
        conv_bn(64, 128), nn.MaxPool2d(2),
        Residual(nn.Sequential(conv_bn(128, 128), conv_bn(128, 128))),
        conv_bn(128, 256), nn.MaxPool2d(2),
        conv_bn(256, 512), nn.MaxPool2d(2),
        Residual(nn.Sequential(conv_bn(512, 512), conv_bn(512, 512))),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(512, classes),
    )  # fmt: skip


# ---------------------------------------------------------------------- contenders
def _synchronize() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _epoch_clock(callback_base: type) -> Any:
    """A callback class that records the time at the end of every epoch."""

    class EpochClock(callback_base):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []

        def on_epoch_end(self, epoch, logs=None):
            _synchronize()
            self.times.append(time.perf_counter())

    return EpochClock()


def run_keras_api(name: str, workload: str, epochs: int, smoke: bool) -> dict[str, Any]:
    """convolve and Keras run the same user program."""
    spec = settings(workload, smoke)
    x, y = data(workload, spec)
    if name == "convolve":
        import convolve as api
        from convolve import config

        if smoke and not _on_gpu():
            config.set_jit_compile_options(backend="aot_eager")
        callback_base = api.callbacks.Callback
    else:
        import keras as api

        callback_base = api.callbacks.Callback
    if spec["mixed"]:
        api.mixed_precision.set_global_policy("mixed_bfloat16")
    api.utils.set_random_seed(0)
    model = keras_network(api, workload, spec)
    if spec["optimizer"] == "sgd":
        optimizer = api.optimizers.SGD(0.05, momentum=0.9, nesterov=True)
    else:
        optimizer = api.optimizers.Adam(1e-3)
    # Keras's own jit_compile on a CPU smoke run would wait on inductor for many minutes.
    jit = spec["compile"] and (name == "convolve" or _on_gpu() or not smoke)
    model.compile(
        optimizer=optimizer,
        loss=api.losses.SparseCategoricalCrossentropy(from_logits=workload != "mnist"),
        metrics=["accuracy"],
        jit_compile=jit,
    )
    clock = _epoch_clock(callback_base)
    start = time.perf_counter()
    model.fit(x, y, batch_size=spec["batch"], epochs=epochs + 1, callbacks=[clock], verbose=0)
    return _result(clock.times, start, epochs, len(x))


def run_torch(workload: str, epochs: int, smoke: bool) -> dict[str, Any]:
    """Hand-written PyTorch with the same settings; for `cifar`, the hand-tuned script."""
    import torch
    from torch import nn

    spec = settings(workload, smoke)
    x, y = data(workload, spec)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    model = torch_network(workload, spec).to(device)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().to(device)
    yt = torch.from_numpy(y).to(device)
    tuned = spec["compile"]
    if tuned:
        model = model.to(memory_format=torch.channels_last)
        xt = xt.contiguous(memory_format=torch.channels_last)
    if spec["optimizer"] == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    if workload == "mnist":
        loss_fn = lambda p, t: nn.functional.nll_loss(torch.log(p.clamp_min(1e-7)), t)  # noqa: E731
    else:
        loss_fn = nn.functional.cross_entropy

    def step(xb, yb):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=spec["mixed"]):
            out = model(xb)
        loss = loss_fn(out.float(), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    if tuned:
        backend = "aot_eager" if smoke and device.type == "cpu" else "inductor"
        step = torch.compile(step, backend=backend)
    n, batch = len(xt), spec["batch"]
    times: list[float] = []
    start = time.perf_counter()
    model.train()
    for _ in range(epochs + 1):
        order = torch.randperm(n, device=device)
        for i in range(0, n - batch + 1 if tuned else n, batch):  # tuned: static shapes
            idx = order[i : i + batch]
            step(xt[idx], yt[idx])
        _synchronize()
        times.append(time.perf_counter())
    samples = (n // batch) * batch if tuned else n
    return _result(times, start, epochs, samples)


def _result(times: list[float], start: float, epochs: int, samples: int) -> dict[str, Any]:
    return {
        "samples_per_s": epochs * samples / (times[-1] - times[0]),
        "first_epoch_s": times[0] - start,
    }


def _on_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def run_one(name: str, workload: str, epochs: int, smoke: bool) -> dict[str, Any]:
    if name == "torch":
        return run_torch(workload, epochs, smoke)
    return run_keras_api(name, workload, epochs, smoke)


# ---------------------------------------------------------------------- driver
def _spawn(name: str, workload: str, epochs: int, smoke: bool) -> dict[str, Any] | None:
    env = dict(os.environ)
    if name.startswith("keras-"):
        env["KERAS_BACKEND"] = name.removeprefix("keras-")
    cmd = [sys.executable, __file__, "--child", name, "--workload", workload]
    cmd += ["--epochs", str(epochs)] + (["--smoke"] if smoke else [])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"  {name}: failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (CUDA {torch.version.cuda})"
    return f"CPU, {torch.get_num_threads()} threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=WORKLOADS, choices=WORKLOADS)
    parser.add_argument("--contenders", nargs="+", default=CONTENDERS, choices=CONTENDERS)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after a warm-up")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that it runs")
    parser.add_argument("--child")
    parser.add_argument("--workload")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, args.workload, args.epochs, args.smoke)))
        return

    import torch

    epochs = 1 if args.smoke else args.epochs
    print(f"torch {torch.__version__} on {_device_name()}" + (" [smoke]" if args.smoke else ""))
    failed = False
    for workload in args.workloads:
        spec = settings(workload, args.smoke)
        print(
            f"\n{workload}: {spec['samples']} samples, batch {spec['batch']}, "
            f"{spec['optimizer']}, {'bf16 + compile' if spec['mixed'] else 'float32'}"
        )
        results = {name: _spawn(name, workload, epochs, args.smoke) for name in args.contenders}
        failed |= any(r is None for r in results.values())
        base = (results.get("torch") or {}).get("samples_per_s")
        for name, result in results.items():
            if result is None:
                continue
            speed = result["samples_per_s"]
            ratio = f"{speed / base:5.2f}x torch" if base else ""
            print(
                f"  {name:12s} {speed:10.0f} samples/s  {ratio}  "
                f"(first epoch {result['first_epoch_s']:.1f}s)"
            )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
