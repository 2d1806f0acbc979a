"""Transfer learning with a pretrained MobileNetV2: train a new head, then fine-tune.

The two steps of Keras's transfer-learning recipe, on a small two-class image set drawn
with Pillow (circles and squares), so that it runs offline in about a minute:

1. Freeze the base (`base.trainable = False`: its BatchNormalization layers then run in
   inference mode), put a new classifier on top and train it.
2. Unfreeze the top blocks of the base and train again with a low learning rate.

ImageNet weights cannot be downloaded without network access. Pass a file Keras publishes
for the chosen width, e.g. `mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5`,
with `--weights` (convolutions do not depend on the image size, so any size's file fits).
Without it the base starts from random weights: the recipe runs the same, but a random
base extracts no useful features, so expect accuracy near chance.

    python examples/transfer_learning.py [--weights PATH] [--alpha 0.35] [--size 64]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image, ImageDraw

import convolve
from convolve import applications, layers, optimizers


def draw_shapes(count: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` RGB images of a circle (label 0) or a square (label 1) on a noisy background."""
    rng = np.random.default_rng(seed)
    images = np.empty((count, size, size, 3), dtype="float32")
    labels = rng.integers(0, 2, size=count)
    for i, label in enumerate(labels):
        background = tuple(int(c) for c in rng.integers(0, 120, size=3))
        image = Image.new("RGB", (size, size), background)
        draw = ImageDraw.Draw(image)
        side = int(rng.integers(size // 3, size // 2))
        x, y = (int(v) for v in rng.integers(2, size - side - 2, size=2))
        colour = tuple(int(c) for c in rng.integers(140, 256, size=3))
        if label == 0:
            draw.ellipse((x, y, x + side, y + side), fill=colour)
        else:
            draw.rectangle((x, y, x + side, y + side), fill=colour)
        noise = rng.normal(0.0, 12.0, size=(size, size, 3))
        images[i] = np.clip(np.asarray(image, dtype="float32") + noise, 0.0, 255.0)
    return images, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", help="a Keras MobileNetV2 no-top .h5 weights file")
    parser.add_argument("--alpha", type=float, default=0.35, help="MobileNetV2 width")
    parser.add_argument("--size", type=int, default=64, help="image height and width")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of each step")
    args = parser.parse_args()
    convolve.utils.set_random_seed(0)
    start = time.perf_counter()

    x_train, y_train = draw_shapes(192, args.size, seed=1)
    x_val, y_val = draw_shapes(64, args.size, seed=2)
    if args.weights is None:
        print(
            "Note: no --weights file given, so the base network starts from random weights "
            "(ImageNet weights cannot be downloaded offline), so expect accuracy near chance. "
            "Pass Keras's file, e.g. mobilenet_v2_weights_tf_dim_ordering_tf_kernels_"
            f"{float(args.alpha)}_96_no_top.h5, with --weights to start from ImageNet features."
        )
    base = applications.MobileNetV2(
        input_shape=(args.size, args.size, 3),
        alpha=args.alpha,
        include_top=False,
        weights=args.weights,
    )

    # Step 1: a frozen base and a new classifier.
    base.trainable = False
    inputs = convolve.Input((args.size, args.size, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)  # mobilenet_v2.preprocess_input
    x = base(x, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    model = convolve.Model(inputs, outputs)
    model.compile(
        optimizer=optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.summary()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, validation_data=(x_val, y_val))
    _, head_accuracy = model.evaluate(x_val, y_val, verbose=0)

    # Step 2: fine-tune the top blocks with a low learning rate. BatchNormalization layers
    # stay frozen, so they keep normalizing with their learned statistics.
    base.trainable = True
    fine_tune_at = base.layers.index(base.get_layer("block_13_expand"))
    for index, layer in enumerate(base.layers):
        if index < fine_tune_at or isinstance(layer, layers.BatchNormalization):
            layer.trainable = False
    model.compile(
        optimizer=optimizers.Adam(1e-5),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    print(f"Fine-tuning {len(model.trainable_weights)} weight tensors.")
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, validation_data=(x_val, y_val))
    _, tuned_accuracy = model.evaluate(x_val, y_val, verbose=0)
    print(
        f"Validation accuracy: {head_accuracy:.3f} with the new head, {tuned_accuracy:.3f} "
        f"after fine-tuning ({time.perf_counter() - start:.0f} s)."
    )


if __name__ == "__main__":
    main()
