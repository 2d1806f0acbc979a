"""Listing image files and splitting them, in exactly Keras's order.

Keras (`keras.utils.image_dataset_from_directory`) walks each class folder with `os.walk`,
sorts folders and file names, concatenates the classes in class order, then shuffles the
list with `numpy.random.RandomState(seed)` and takes the validation split from its end.
Reproducing those steps gives the same training and validation files for the same seed.

One deliberate difference: names starting with "." (hidden files and folders such as
`.ipynb_checkpoints`) are never indexed, at any depth. Keras skips hidden class folders
but indexes hidden files and hidden sub-folders inside a class.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from convolve.training.console import print_msg

KERAS_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
"""The extensions Keras indexes."""

IMAGE_FORMATS = KERAS_FORMATS + (".webp", ".tif", ".tiff")
"""The extensions convolve indexes by default: Keras's plus WebP and TIFF."""


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _walk_files(directory: str, follow_links: bool, formats: tuple[str, ...]):
    """Yields `(root, file_name)` pairs in Keras's order, without hidden entries."""
    walked = []
    seen: set[tuple[int, int]] = set()
    for root, dirs, files in os.walk(directory, followlinks=follow_links):
        if follow_links:
            # A link back up the tree would make the walk endless; visit each folder once.
            try:
                st = os.stat(root)
                key = (st.st_dev, st.st_ino)
            except OSError:
                key = None
            if key is not None and key in seen:
                dirs[:] = []
                continue
            if key is not None:
                seen.add(key)
        dirs[:] = [d for d in dirs if not _is_hidden(d)]
        walked.append((root, files))
    for root, files in sorted(walked, key=lambda item: item[0]):
        for name in sorted(files):
            if not _is_hidden(name) and name.lower().endswith(formats):
                yield root, name


def list_class_folders(directory: str) -> list[str]:
    """The non-hidden sub-folders of `directory`, sorted (Keras's inferred classes)."""
    return [
        name
        for name in sorted(os.listdir(directory))
        if os.path.isdir(os.path.join(directory, name)) and not _is_hidden(name)
    ]


def index_directory(
    directory: str,
    labels: str | Sequence[int] | None,
    formats: tuple[str, ...],
    class_names: Sequence[str] | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    follow_links: bool = False,
    verbose: bool = True,
) -> tuple[list[str], np.ndarray | None, list[str] | None]:
    """Lists the files under `directory` with their labels, in Keras's (seeded) order.

    Args:
        directory: The folder to index.
        labels: "inferred" (one class per sub-folder), None, or one integer label per file
            in the sorted file order.
        formats: Lower-case extensions to index, e.g. `(".jpg", ".png")`.
        class_names: With inferred labels, the classes to use and their order.
        shuffle: Shuffle with `numpy.random.RandomState(seed)`, as Keras does.
        seed: The shuffle seed.
        follow_links: Whether to descend into symbolic links to folders.
        verbose: Print "Found N files belonging to M classes.".

    Returns:
        `(file_paths, labels, class_names)`: labels as an int array (None without labels).
    """
    if labels == "inferred":
        subdirs = list_class_folders(directory)
        if class_names is not None:
            if not set(class_names).issubset(set(subdirs)):
                raise ValueError(
                    "The `class_names` passed did not match the names of the sub-folders of "
                    f"the target directory. Expected: {subdirs} (or a subset of it), but "
                    f"received: class_names={list(class_names)}"
                )
            subdirs = list(class_names)
    else:
        subdirs = [""]

    filenames: list[str] = []
    file_labels: list[int] = []
    for index, subdir in enumerate(subdirs):
        class_dir = os.path.join(directory, subdir)
        dirname = os.path.basename(class_dir)
        for root, name in _walk_files(class_dir, follow_links, formats):
            relative = os.path.relpath(os.path.join(root, name), class_dir)
            filenames.append(os.path.join(dirname, relative))
            file_labels.append(index)

    names: list[str] | None
    if labels == "inferred":
        label_array: np.ndarray | None = np.asarray(file_labels, dtype="int32")
        names = list(subdirs)
    elif labels is None:
        label_array, names = None, None
    else:
        if len(labels) != len(filenames):
            raise ValueError(
                "Expected the lengths of `labels` to match the number of files in the target "
                f"directory. len(labels) is {len(labels)} while we found {len(filenames)} "
                f"files in directory {directory}."
            )
        label_array = np.asarray(labels, dtype="int32")
        names = [str(label) for label in sorted(set(int(v) for v in labels))]

    if verbose:
        if label_array is None:
            print_msg(f"Found {len(filenames)} files.")
        else:
            print_msg(f"Found {len(filenames)} files belonging to {len(names)} classes.")

    file_paths = [os.path.join(directory, name) for name in filenames]
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)
        # The same two RandomState draws as Keras: one for the paths, one for the labels.
        np.random.RandomState(seed).shuffle(file_paths)
        if label_array is not None:
            np.random.RandomState(seed).shuffle(label_array)
    return file_paths, label_array, names


def split_subset(
    samples: list[str],
    labels: np.ndarray | None,
    validation_split: float | None,
    subset: str | None,
) -> tuple[list[str], np.ndarray | None]:
    """Keras's training/validation split: validation is the last `int(split * n)` files."""
    if not validation_split:
        return samples, labels
    num_val = int(validation_split * len(samples))
    if subset == "training":
        print_msg(f"Using {len(samples) - num_val} files for training.")
        # `[:-0]` is empty: with no validation files Keras trains on nothing, and so do we.
        samples = samples[:-num_val]
        labels = None if labels is None else labels[:-num_val]
    elif subset == "validation":
        print_msg(f"Using {num_val} files for validation.")
        samples = samples[-num_val:]
        labels = None if labels is None else labels[-num_val:]
    else:
        raise ValueError(f'`subset` must be "training" or "validation"; received {subset!r}')
    return samples, labels
