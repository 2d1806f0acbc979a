"""The same files in the same splits as Keras's `image_dataset_from_directory`.

The oracle is Keras's own function on its tf.data path when TensorFlow is installed;
otherwise Keras's `index_directory` and `get_training_or_validation_split`, which that
function calls to list, shuffle and split the files.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convolve.data import image_dataset_from_directory

HAS_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None

pytestmark = pytest.mark.parity

KERAS_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


@pytest.fixture(scope="module")
def nested_folder(tmp_path_factory) -> Path:
    """4 classes, sub-folders two deep, mixed extensions and case, 300 tiny images."""
    root = tmp_path_factory.mktemp("parity")
    rng = np.random.default_rng(0)
    kinds = [(".png", "PNG"), (".jpg", "JPEG"), (".JPEG", "JPEG"), (".bmp", "BMP"),
             (".gif", "GIF"), (".PNG", "PNG")]  # fmt: skip
    classes = ["zebra", "Ant", "cat_2", "cat_10"]
    for i in range(300):
        cls = classes[int(rng.integers(len(classes)))]
        depth = int(rng.integers(3))
        folder = root.joinpath(cls, *[f"sub{int(rng.integers(3))}" for _ in range(depth)])
        folder.mkdir(parents=True, exist_ok=True)
        ext, fmt = kinds[i % len(kinds)]
        pixels = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img_{int(rng.integers(10_000))}_{i}{ext}", fmt)
    (root / "zebra" / "notes.txt").write_text("not an image")
    (root / "empty_class").mkdir()
    return root


def keras_split(root, **kwargs):
    """(class_names, file_paths, labels) per subset, from Keras."""
    if HAS_TENSORFLOW:
        import keras

        out = keras.utils.image_dataset_from_directory(
            str(root), image_size=(4, 5), verbose=False, **kwargs
        )
        datasets = out if isinstance(out, list | tuple) else [out]
        return [(ds.class_names, list(ds.file_paths)) for ds in datasets]
    from keras.src.utils import dataset_utils

    seed = kwargs.get("seed")
    labels = kwargs.get("labels", "inferred")
    if kwargs.get("label_mode", "int") is None:
        labels = None
    paths, labels, names = dataset_utils.index_directory(
        str(root), labels, formats=KERAS_FORMATS, class_names=kwargs.get("class_names"),
        shuffle=kwargs.get("shuffle", True), seed=seed, verbose=False,
    )  # fmt: skip
    subset = kwargs.get("subset")
    subsets = ["training", "validation"] if subset == "both" else [subset]
    result = []
    for s in subsets:
        part, _ = dataset_utils.get_training_or_validation_split(
            paths, labels, kwargs.get("validation_split"), s
        )
        result.append((names, list(part)))
    return result


def ours_split(root, **kwargs):
    out = image_dataset_from_directory(
        str(root), image_size=(4, 5), verbose=False, num_workers=0, **kwargs
    )
    datasets = out if isinstance(out, list) else [out]
    return [(ds.class_names, list(ds.file_paths)) for ds in datasets]


def test_oracle_in_use():
    # Recorded in the test log: which Keras path produced the expected splits.
    print("oracle:", "keras tf.data" if HAS_TENSORFLOW else "keras index_directory")


@pytest.mark.parametrize("seed", [0, 7, 1337, 123456])
@pytest.mark.parametrize("subset", ["training", "validation", "both"])
def test_same_files_in_each_subset(nested_folder, seed, subset):
    kwargs = {"seed": seed, "validation_split": 0.23, "subset": subset}
    expected = keras_split(nested_folder, **kwargs)
    got = ours_split(nested_folder, **kwargs)
    assert got == expected
    assert len(expected[0][1]) > 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"shuffle": False},
        {"seed": 11},
        {"seed": 11, "label_mode": None},
        {
            "seed": 5,
            "class_names": ["cat_2", "zebra"],
            "validation_split": 0.5,
            "subset": "validation",
        },  # fmt: skip
    ],
)
def test_same_order_without_split(nested_folder, kwargs):
    assert ours_split(nested_folder, **kwargs) == keras_split(nested_folder, **kwargs)


def test_labels_follow_the_class_folder(nested_folder):
    ds = image_dataset_from_directory(
        str(nested_folder), image_size=(4, 5), verbose=False, num_workers=0, seed=3,
        shuffle=True, batch_size=None,
    )  # fmt: skip
    # Labels are shuffled with the same seeded permutation as the paths.
    paths = ds.file_paths
    labels = ds._labels.tolist()
    for path, label in zip(paths, labels, strict=True):
        top = os.path.relpath(path, nested_folder).split(os.sep)[0]
        assert ds.class_names[label] == top


def test_explicit_label_list_is_shuffled_like_keras(nested_folder):
    n = len(ours_split(nested_folder, shuffle=False)[0][1])
    labels = [i % 3 for i in range(n)]
    ours = image_dataset_from_directory(
        str(nested_folder), labels=labels, image_size=(4, 5), verbose=False, seed=21,
        num_workers=0, batch_size=None,
    )  # fmt: skip
    from keras.src.utils import dataset_utils

    paths, keras_labels, names = dataset_utils.index_directory(
        str(nested_folder), list(labels), formats=KERAS_FORMATS, seed=21, verbose=False
    )
    assert ours.file_paths == paths
    assert ours._labels.tolist() == list(keras_labels)
    assert ours.class_names == names
