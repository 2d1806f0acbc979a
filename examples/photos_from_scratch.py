"""A small convnet trained from scratch on a folder of two classes of photographs.

In the spirit of the tutorials' Dogs vs Cats: images are read from class sub-folders with
`image_dataset_from_directory`, augmented (flip, rotation, zoom) inside the model, rescaled to
[0, 1], and classified by a convnet with Dropout.

The photographs are the two real photos that scikit-learn ships (a Chinese temple and a
flower, installed with `mlxtend`, the demo dependency). The example cuts each into many
random crops and writes them as JPEG files into `<out>/temple/` and `<out>/flower/`, so the
folder looks like any folder of photos a user would have.

    python examples/photos_from_scratch.py [--out photos] [--per-class 200] [--epochs 10]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

import convolve as keras
from convolve import layers


def write_photo_folder(out: Path, per_class: int, seed: int = 0) -> list[str]:
    """Writes `per_class` random crops of each sample photograph as JPEGs; returns classes."""
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    photos = load_sample_images()
    names = {"china.jpg": "temple", "flower.jpg": "flower"}
    for path in photos.filenames:
        image = Image.open(path).convert("RGB")
        folder = out / names[Path(path).name]
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            side = int(rng.integers(120, 320))
            left = int(rng.integers(0, image.width - side))
            top = int(rng.integers(0, image.height - side))
            crop = image.crop((left, top, left + side, top + side))
            crop.save(folder / f"{i:04d}.jpg", quality=90)
    return sorted(names.values())


def build_model(image_size: int) -> keras.Model:
    augmentation = keras.Sequential(
        [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1), layers.RandomZoom(0.1)],
        name="augmentation",
    )
    return keras.Sequential(
        [
            keras.Input((image_size, image_size, 3)),
            augmentation,
            layers.Rescaling(1.0 / 255),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(1, activation="sigmoid"),
        ]
    )


def run(out: Path, per_class: int, epochs: int, image_size: int = 96, verbose: int = 1) -> dict:
    keras.utils.set_random_seed(1337)
    write_photo_folder(out, per_class)
    train_ds, val_ds = keras.utils.image_dataset_from_directory(
        out,
        validation_split=0.2,
        subset="both",
        seed=1337,
        image_size=(image_size, image_size),
        batch_size=32,
        label_mode="binary",
    )
    print("classes:", train_ds.class_names)
    model = build_model(image_size)
    model.summary()
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=verbose)
    val_accuracy = history.history["val_accuracy"][-1]
    print(f"validation accuracy: {val_accuracy:.3f}")
    return {"val_accuracy": val_accuracy, "history": history.history}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("photos"))
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=96)
    args = parser.parse_args()
    run(args.out, args.per_class, args.epochs, args.image_size)


if __name__ == "__main__":
    main()
