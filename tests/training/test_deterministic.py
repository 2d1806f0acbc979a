"""set_random_seed + enable_deterministic: the same script gives the same weights, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import convolve
from convolve import config, layers, models, utils


@pytest.fixture
def deterministic():
    config.enable_deterministic()
    yield
    config.enable_deterministic(False)


def _model(image_size):
    model = models.Sequential(
        [
            layers.Input((*image_size, 3)),
            layers.Rescaling(1 / 255),
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(0.1),
            layers.Conv2D(4, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.BatchNormalization(),
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _image_folder(root):
    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        (root / label).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 256, (20 + i, 18, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    return root


def _train_on_folder(root, workers):
    utils.set_random_seed(7)
    ds = utils.image_dataset_from_directory(
        root, image_size=(16, 16), batch_size=5, num_workers=workers
    )
    noise = lambda x, y: (x + torch.rand(x.shape) * 4.0, y)  # noqa: E731 - random in map
    ds = ds.map(noise).prefetch(2)
    model = _model((16, 16))
    history = model.fit(ds, epochs=3, verbose=0)
    return model.get_weights(), history.history


def test_runs_repeat_bit_for_bit_with_and_without_loader_workers(tmp_path, deterministic):
    root = _image_folder(tmp_path / "photos")
    first, history = _train_on_folder(root, workers=2)
    for workers in (2, 0):
        again, history_again = _train_on_folder(root, workers)
        assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True)), workers
        assert history_again == history


def test_array_runs_repeat_bit_for_bit(deterministic):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (40, 12, 12, 3)).astype("float32")
    y = rng.integers(0, 2, 40)

    def run():
        utils.set_random_seed(3)
        model = _model((12, 12))
        model.fit(x, y, epochs=2, batch_size=8, validation_split=0.2, verbose=0)
        return model.get_weights()

    assert all(np.array_equal(a, b) for a, b in zip(run(), run(), strict=True))


def test_enable_deterministic_switches_torch_and_back():
    config.enable_deterministic()
    try:
        assert torch.are_deterministic_algorithms_enabled() and config.is_deterministic()
    finally:
        config.enable_deterministic(False)
    assert not torch.are_deterministic_algorithms_enabled() and not config.is_deterministic()
    with pytest.raises(ValueError, match="received 'yes'"):
        convolve.config.enable_deterministic("yes")
